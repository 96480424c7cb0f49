"""The training engine: schedules, losses, history, determinism, checkpoints, resume, failures."""
import math
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn
from torchvision.transforms import v2

from picseq_utils.checkpoint import Checkpointer
from picseq_utils.data import DeviceLoader, ImageSplit, eval_loader
from picseq_utils.models import build_model
from picseq_utils.runtime import seed_everything
from picseq_utils.train import FitConfig, TrainingError, evaluate, fit, lr_factor

ROOT = Path(__file__).resolve().parents[1]
COMPARED = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]


def toy_split(n=64, size=8, seed=0):
    """Learnable toy images: class k has a bright k-th column band."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = (torch.rand(n, 3, size, size, generator=gen) * 60).to(torch.uint8)
    for i, k in enumerate(labels.tolist()):
        images[i, :, :, 2 * k:2 * k + 2] = 230
    return ImageSplit(images, labels)


def tiny(family):
    if family == "resnet":
        return build_model("resnet18_cifar", 4, width=4)
    return build_model("vit_cifar", 4, image_size=8, patch_size=4, dim=16, depth=1, heads=2, drop_path=0.1)


def quick_fit(family="resnet", epochs=3, **kw):
    seed_everything(0)
    model = tiny(family)
    train = DeviceLoader(toy_split(), 16, flip=False, crop_padding=1, seed=0)
    val = eval_loader(toy_split(32, seed=1), 16, device="cpu")
    kw.setdefault("progress", False)
    return fit(model, train, val, epochs=epochs, lr=3e-3, **kw)


def test_schedules_have_the_expected_shape():
    cosine = FitConfig(epochs=10, lr=1.0, warmup_epochs=1)
    values = [lr_factor(s, 100, cosine, 10) for s in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert values[10] == pytest.approx(1.0) and values[-1] < 0.001
    assert values[55] == pytest.approx(0.5, abs=0.03)
    onecycle = FitConfig(epochs=10, lr=1.0, schedule="onecycle")
    assert lr_factor(0, 100, onecycle, 10) == 1.0 and lr_factor(99, 100, onecycle, 10) == pytest.approx(0.0, abs=0.02)
    step = FitConfig(epochs=10, lr=1.0, schedule="multistep", milestones=(5,), gamma=0.1)
    assert lr_factor(49, 100, step, 10) == 1.0 and lr_factor(50, 100, step, 10) == pytest.approx(0.1)
    floor = FitConfig(epochs=10, lr=1.0, min_lr_ratio=0.1)
    assert lr_factor(99, 100, floor, 10) == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize("bad, needle", [
    (dict(epochs=0), "epochs must be an integer >= 1"),
    (dict(lr=-1.0), "lr must be a positive number"),
    (dict(optimizer="lion"), "valid: adamw, adam, sgd"),
    (dict(schedule="poly"), "valid: cosine, onecycle, multistep, constant"),
    (dict(label_smoothing=1.0), "label_smoothing must be in [0, 1)"),
    (dict(warmup_epochs=20), "warmup_epochs must be in [0, epochs=3]"),
])
def test_bad_configuration_is_rejected(bad, needle):
    with pytest.raises(ValueError) as err:
        FitConfig(**{"epochs": 3, "lr": 0.1, **bad})
    assert needle in str(err.value)


@pytest.mark.parametrize("family", ["resnet", "vit"])
def test_fit_learns_and_reports_a_history_frame(family):
    result = quick_fit(family, epochs=4)
    hist = result.history
    assert list(hist.columns) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds",
                                  "images_per_s", "data_wait", "elapsed"]
    assert hist["epoch"].tolist() == [1, 2, 3, 4]
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]
    assert hist["elapsed"].is_monotonic_increasing and (hist["images_per_s"] > 0).all()
    assert ((hist["data_wait"] >= 0) & (hist["data_wait"] < 1)).all()
    assert result.train_seconds == pytest.approx(hist["seconds"].sum())


@pytest.mark.parametrize("family", ["resnet", "vit"])
def test_same_seed_gives_identical_metrics_twice(family):
    a, b = quick_fit(family), quick_fit(family)
    pd.testing.assert_frame_equal(a.history[COMPARED], b.history[COMPARED])


def test_soft_targets_have_no_train_accuracy_and_evaluate_is_honest():
    cutmix = v2.CutMix(alpha=1.0, num_classes=4)
    seed_everything(0)
    model = tiny("resnet")
    train = DeviceLoader(toy_split(), 16, batch_transform=lambda x, y: cutmix(x, y))
    result = fit(model, train, epochs=1, lr=1e-3, label_smoothing=0.1, progress=False)
    assert math.isnan(result.history["train_acc"].iloc[0])
    metrics = evaluate(model, eval_loader(toy_split(), 64, device="cpu"))
    assert set(metrics) == {"loss", "accuracy", "n"} and metrics["n"] == 64


def test_evaluate_known_values():
    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.zeros(1))

        def forward(self, x):  # predicts class 0 for every input
            return torch.tensor([[2.0, 0.0, 0.0, 0.0]]).repeat(len(x), 1) + self.p

    metrics = evaluate(Fixed(), eval_loader(toy_split(40), 8, device="cpu"))
    assert metrics["accuracy"] == pytest.approx(0.25)
    expected = -torch.log_softmax(torch.tensor([2.0, 0, 0, 0]), 0)
    assert metrics["loss"] == pytest.approx((expected[0] + 3 * expected[1]).item() / 4, rel=1e-5)


def test_time_to_accuracy():
    result = quick_fit(epochs=2)
    result.history.loc[:, "val_acc"] = [0.5, 0.9]
    assert result.time_to_accuracy(0.8) == pytest.approx(result.history["elapsed"].iloc[1])
    assert result.time_to_accuracy(0.95) is None


def test_resume_after_an_interruption_reproduces_the_uninterrupted_history(tmp_path):
    full = quick_fit(epochs=4)

    def stop_after_two(epoch, row, model):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        quick_fit(epochs=4, checkpoint_dir=tmp_path, on_epoch_end=stop_after_two)
    resumed = quick_fit(epochs=4, checkpoint_dir=tmp_path)
    assert resumed.resumed_from == 2
    pd.testing.assert_frame_equal(full.history[COMPARED], resumed.history[COMPARED])
    again = quick_fit(epochs=4, checkpoint_dir=tmp_path)  # a finished run returns at once
    assert again.resumed_from == 4
    pd.testing.assert_frame_equal(full.history[COMPARED], again.history[COMPARED])


def test_a_finished_run_says_so_in_one_line_instead_of_a_full_bar(tmp_path, capsys):
    quick_fit(epochs=2, checkpoint_dir=tmp_path)
    capsys.readouterr()
    again = quick_fit(epochs=2, checkpoint_dir=tmp_path, progress=True, desc="done-run")
    assert again.resumed_from == 2
    err = capsys.readouterr().err
    assert err.count("done-run") == 1 and "already trained" in err and "%|" not in err


def test_checkpoints_keep_the_last_two_and_a_truncated_one_falls_back(tmp_path):
    full = quick_fit(epochs=3)
    quick_fit(epochs=3, checkpoint_dir=tmp_path)
    files = Checkpointer(tmp_path).files()
    assert [f.name for f in files] == ["epoch_00003.pt", "epoch_00002.pt"]
    files[0].write_bytes(files[0].read_bytes()[:200])  # a write cut short
    with pytest.warns(RuntimeWarning, match="epoch_00003.pt is unreadable"):
        resumed = quick_fit(epochs=3, checkpoint_dir=tmp_path)
    assert resumed.resumed_from == 2
    pd.testing.assert_frame_equal(full.history[COMPARED], resumed.history[COMPARED])
    assert not list(tmp_path.glob(".tmp_*")), "no temporary files are left behind"


def test_a_different_configuration_never_resumes_from_old_checkpoints(tmp_path):
    quick_fit(epochs=2, checkpoint_dir=tmp_path)
    with pytest.warns(RuntimeWarning, match="different configuration"):
        other = quick_fit(epochs=3, checkpoint_dir=tmp_path)
    assert other.resumed_from == 0 and len(other.history) == 3
    assert sorted(p.name for p in (tmp_path / "stale").iterdir()) == ["epoch_00001.pt", "epoch_00002.pt"]


def test_resume_false_starts_again(tmp_path):
    quick_fit(epochs=2, checkpoint_dir=tmp_path)
    fresh = quick_fit(epochs=2, checkpoint_dir=tmp_path, resume=False)
    assert fresh.resumed_from == 0


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from tests.test_train import quick_fit

    class KillingLoader:
        '''Wraps the loader; in kill mode it SIGKILLs the process in the middle of epoch 3.'''
        def __init__(self, inner, kill):
            self.inner, self.kill, self.epoch = inner, kill, 0
            self.num_samples, self.batch_size = inner.num_samples, inner.batch_size
        def set_epoch(self, epoch):
            self.epoch = epoch
            self.inner.set_epoch(epoch)
        def __len__(self):
            return len(self.inner)
        def __iter__(self):
            for i, batch in enumerate(self.inner):
                if self.kill and self.epoch == 2 and i == 2:
                    os.kill(os.getpid(), signal.SIGKILL)
                yield batch

    import picseq_utils.data as data
    original = data.DeviceLoader
    kill = sys.argv[1] == "kill"
    import tests.test_train as tt
    tt.DeviceLoader = lambda *a, **k: KillingLoader(original(*a, **k), kill)
    result = quick_fit(epochs=4, checkpoint_dir=sys.argv[2])
    result.history.to_csv(sys.argv[3], index=False)
    print("resumed_from", result.resumed_from)
""")


def test_sigkill_mid_epoch_then_rerun_ends_with_the_uninterrupted_history(tmp_path):
    script = tmp_path / "kill_run.py"
    script.write_text(KILL_SCRIPT.format(root=str(ROOT)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(mode, ckpt, out):
        return subprocess.run([sys.executable, str(script), mode, str(ckpt), str(out)], capture_output=True,
                              text=True, env=env, timeout=300)

    reference = run("normal", tmp_path / "ref_ckpt", tmp_path / "ref.csv")
    assert reference.returncode == 0, reference.stderr
    killed = run("kill", tmp_path / "ckpt", tmp_path / "killed.csv")
    assert killed.returncode == -signal.SIGKILL and not (tmp_path / "killed.csv").exists()
    assert [p.name for p in Checkpointer(tmp_path / "ckpt").files()] == ["epoch_00002.pt", "epoch_00001.pt"]
    resumed = run("normal", tmp_path / "ckpt", tmp_path / "resumed.csv")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed_from 2" in resumed.stdout
    a, b = pd.read_csv(tmp_path / "ref.csv"), pd.read_csv(tmp_path / "resumed.csv")
    pd.testing.assert_frame_equal(a[COMPARED], b[COMPARED])


def test_cuda_out_of_memory_names_the_batch_size_and_suggests_a_smaller_one():
    class Exploding(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1, 1)

        def forward(self, x):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    with pytest.raises(TrainingError) as err:
        fit(Exploding(), DeviceLoader(toy_split(), 16), epochs=1, lr=0.1, progress=False)
    text = str(err.value)
    assert "batch size 16" in text and "batch_size=8" in text and "Tried to allocate" in text
    with pytest.raises(TrainingError, match="batch size 16 does not fit in device memory during evaluation"):
        evaluate(Exploding(), eval_loader(toy_split(), 16, device="cpu"))


def test_a_diverging_loss_stops_with_advice():
    seed_everything(0)
    model = tiny("resnet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TrainingError, match="lower the learning rate"):
            fit(model, DeviceLoader(toy_split(), 16), epochs=2, lr=1e12, optimizer="sgd", weight_decay=0.0,
                progress=False)


def test_empty_loader_is_rejected():
    class Empty:
        def __len__(self):
            return 0

        def __iter__(self):
            return iter(())

    with pytest.raises(TrainingError, match="yields no batches"):
        fit(tiny("resnet"), Empty(), epochs=1, lr=0.1, progress=False)
