"""Nothing lost on interruption: resume after an exception or a SIGKILL mid-epoch reproduces the
uninterrupted history; checkpoints are atomic, the last two kept, a truncated newest one falls back;
another configuration never resumes from old files. (Notebook-level resume of ``make report``:
tests/test_report.py.) Interruptions tried: 6 - an exception after epoch 2, a finished run re-run,
a truncated newest checkpoint, a changed configuration, resume=False, SIGKILL in the middle of epoch 3."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from picseq_utils.checkpoint import Checkpointer
from training_helpers import COMPARED, quick_fit

ROOT = Path(__file__).resolve().parents[1]


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
    out = capsys.readouterr()
    assert out.out.count("done-run") == 1 and "already trained" in out.out and "%|" not in out.out + out.err


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
    from tests.training_helpers import quick_fit

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
    import tests.training_helpers as tt
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
