"""Seeding, device choice, environment description."""
import random

import numpy as np
import pytest
import torch

from picseq_utils.paths import safe_name
from picseq_utils.runtime import environment_info, seed_everything, select_device


def test_seed_everything_makes_all_generators_repeat():
    seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(2))
    seed_everything(7)
    second = (random.random(), np.random.rand(), torch.rand(2))
    assert first[0] == second[0] and first[1] == second[1] and torch.equal(first[2], second[2])
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(-1)


def test_device_choice():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="choose one of auto, cpu, cuda, cuda:N, mps"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


def test_environment_info_names_versions_and_device():
    info = environment_info(torch.device("cpu"))
    assert info["torch"] == torch.__version__ and "device_name" in info and info["git_commit"]


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "x" * 200])
def test_unsafe_names_cannot_become_paths(bad):
    with pytest.raises(ValueError, match="invalid"):
        safe_name(bad)


def test_the_commit_is_read_per_project_root_not_once_per_process(tmp_path, monkeypatch):
    # A planning run answers git_commit() under a scratch root (no git) first; the checkout's own
    # commit must still be read afterwards (cost records said "unknown" before).
    from picseq_utils import paths, runtime
    monkeypatch.setattr(paths, "ROOT_OVERRIDE", tmp_path)
    assert runtime.git_commit() == "unknown"
    monkeypatch.setattr(paths, "ROOT_OVERRIDE", None)
    assert runtime.git_commit() not in ("", "unknown")


def test_a_changed_record_leaves_the_commit_clean_and_a_changed_source_does_not(tmp_path):
    import subprocess
    from picseq_utils import runtime
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    for d in ("results/cpu", "benchmarks/results", "pkg"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "results/cpu/03.json").write_text("{}")
    (tmp_path / "benchmarks/results/cpu.json").write_text("{}")
    (tmp_path / "pkg/code.py").write_text("x = 1")
    (tmp_path / "BENCHMARKS.md").write_text("# numbers")
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    (tmp_path / "results/cpu/03.json").write_text('{"a": 1}')
    (tmp_path / "benchmarks/results/cpu.json").write_text('{"a": 1}')
    (tmp_path / "BENCHMARKS.md").write_text("# new numbers")
    assert not runtime._git_commit(str(tmp_path)).endswith("+dirty")
    (tmp_path / "pkg/code.py").write_text("x = 2")
    assert runtime._git_commit.__wrapped__(str(tmp_path)).endswith("+dirty")
