"""The training engine: schedules, losses, soft targets, the history frame, evaluation, time to accuracy.
(Interruption and resume: test_interruption.py; failures: test_failures.py; determinism: test_determinism.py.)"""
import math

import pytest
import torch
from torch import nn
from torchvision.transforms import v2

from picseq_utils.data import DeviceLoader, eval_loader
from picseq_utils.runtime import seed_everything
from picseq_utils.train import FitConfig, evaluate, fit, lr_factor
from training_helpers import quick_fit, tiny, toy_split


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
                                  "images_per_s", "data_wait", "elapsed", "fp32_redone_steps"]
    assert hist["epoch"].tolist() == [1, 2, 3, 4]
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]
    assert hist["elapsed"].is_monotonic_increasing and (hist["images_per_s"] > 0).all()
    assert ((hist["data_wait"] >= 0) & (hist["data_wait"] < 1)).all()
    assert result.train_seconds == pytest.approx(hist["seconds"].sum())


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
