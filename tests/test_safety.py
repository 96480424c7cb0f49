"""Untrusted files: no code runs from checkpoints, no eval/exec/shell strings in the package.

Also in this area: a '<script>' notebook error is escaped in index.html (test_report.py), a '<script>'
figure caption in the report page (test_report_tables.py), and seven path-escaping names ('../x', 'a/b',
...) are refused before they become file names (test_metrics.py, test_runtime.py)."""
import pickle
import re
import warnings
from pathlib import Path

import pytest

from picseq_utils.checkpoint import Checkpointer

PACKAGE = Path(__file__).resolve().parents[1] / "picseq_utils"
SOURCES = sorted(PACKAGE.rglob("*.py"))


class Payload:
    def __reduce__(self):  # what a malicious pickle does: run a command on load
        import os

        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp/picseq_pickle_payload_ran")


def test_a_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path):
    MARKER.unlink(missing_ok=True)
    (tmp_path / "epoch_00001.pt").write_bytes(pickle.dumps({"model": Payload()}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert Checkpointer(tmp_path).load_latest() is None
    assert any("unreadable" in str(w.message) for w in caught)
    assert not MARKER.exists(), "torch.load(weights_only=True) must not execute the payload"


def test_every_torch_load_uses_weights_only():
    for path in SOURCES:
        for line in path.read_text().splitlines():
            if "torch.load(" in line and not line.strip().startswith("#"):
                assert "weights_only=True" in line, f"{path.name}: {line.strip()}"


@pytest.mark.parametrize("pattern", [r"(?<![\w.])eval\(", r"(?<![\w.])exec\(", r"shell\s*=\s*True", r"os\.system\("])
def test_no_eval_exec_or_shell_strings(pattern):
    offenders = [f"{p.name}:{i + 1}" for p in SOURCES for i, line in enumerate(p.read_text().splitlines())
                 if re.search(pattern, line) and (p.name, line.strip()) not in RUNS_NOTEBOOK_CELLS]
    assert offenders == []


#: The one exec the package has: a notebook's own code cells run in-process, as a kernel runs them (the cost
#: planner and the notebook tests); never anything read from data, checkpoints or parameters.
RUNS_NOTEBOOK_CELLS = {("inprocess.py", 'exec(compile(source, f"<{name} cell {tags or \'\'}>", "exec"), namespace)  '
                                        "# noqa: S102 - our own notebooks")}


def test_pickles_are_only_read_by_torchvision_parsers():
    for path in SOURCES:
        text = path.read_text()
        assert "pickle.load(" not in text, f"{path.name} reads a pickle itself"
