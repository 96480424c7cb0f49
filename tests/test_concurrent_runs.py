"""Two runs of one notebook at once (issue 24): the second finds the notebook's lock held and writes apart, both
finish, and the record of the run that held the notebook equals a run made alone."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from picseq_utils import paths
from picseq_utils.results import differences

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from picseq_utils import paths
    paths.ROOT_OVERRIDE = Path({project!r})
    from notebook_runner import run_notebook
    ns = run_notebook("04_vit_vs_resnet_cifar10", params={params!r})
    print(ns["run"].writer.path)
""")


def start(project: Path, params: dict) -> subprocess.Popen:
    code = SCRIPT.format(tests=str(ROOT / "tests"), project=str(project), params=params)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.timeout(600)
def test_two_runs_at_once_both_finish_apart_and_the_first_equals_a_run_alone(tmp_project, small_cifar_root):
    import shutil

    for path in [ROOT / "notebooks" / "04_vit_vs_resnet_cifar10.ipynb", *(ROOT / "notebooks").glob("*.seeds.yaml")]:
        shutil.copy(path, tmp_project / "notebooks")
    shutil.copytree(ROOT / "params", tmp_project / "params", dirs_exist_ok=True)
    params = dict(device="cpu", data_source="standin", data_root=str(small_cifar_root), train_limit=200,
                  test_limit=100, resnet_width=4, vit_dim=16, vit_depth=1, vit_heads=2, vit_patch=8, epochs=1,
                  sweep_epochs=1, seeds=1, data_fractions=[1.0], seed003_recipe=False, imagenet_stem_control=False)
    pair = [start(tmp_project, params) for _ in range(2)]
    outputs = [p.communicate(timeout=500) for p in pair]
    assert all(p.returncode == 0 for p in pair), [err[-2000:] for _, err in outputs]
    written = sorted(Path(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert len(set(written)) == 2, "the two runs wrote two records"
    apart = [w for w in written if "concurrent-" in w.stem.split("@")[-1]]
    assert len(apart) == 1, written
    first = next(w for w in written if w not in apart)
    assert any("is being run by process" in out for out, _ in outputs), "the second run says why it is apart"
    shutil.rmtree(tmp_project / "checkpoints")
    solo = start(tmp_project, params)
    out, err = solo.communicate(timeout=500)
    assert solo.returncode == 0, err[-2000:]
    alone = json.loads(Path(out.strip().splitlines()[-1]).read_text())
    assert differences(json.loads(first.read_text()), alone) == []
    assert differences(json.loads(apart[0].read_text()), alone) == [], "the run kept apart trained the same"
    assert not list((tmp_project / "reports" / "smoke" / "metrics" / ".partial").glob("*.json")), "no half records"


def test_a_held_run_key_is_refused_to_another_process_and_released_with_it(tmp_project):
    assert paths.claim_run("smoke", "04_x") is None and paths.claim_run("smoke", "04_x") is None, "ours, again"
    code = ("from picseq_utils import paths; from pathlib import Path; "
            f"paths.ROOT_OVERRIDE = Path({str(tmp_project)!r}); print(paths.claim_run('smoke', '04_x'))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert other.stdout.strip().startswith("process ") and "since" in other.stdout
    paths.release_run("smoke", "04_x")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert other.stdout.strip() == "None"


HOLD = textwrap.dedent("""
    import os, sys, time, torch
    from picseq_utils.runtime import cpu_turn
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    with cpu_turn("cpu"):
        print("holding", flush=True)
        time.sleep(float(sys.argv[1]))
""")


@pytest.mark.timeout(120)
def test_a_process_waits_for_the_cores_another_holds_and_takes_them_when_released(tmp_path, monkeypatch):
    import os
    import time

    import torch

    from picseq_utils.runtime import cpu_turn

    monkeypatch.setenv("PICSEQ_TURNS_DIR", str(tmp_path))
    monkeypatch.delenv("PICSEQ_CPU_TURNS", raising=False)
    other = subprocess.Popen([sys.executable, "-c", HOLD, "3"], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PICSEQ_TURNS_DIR": str(tmp_path)})
    assert other.stdout.readline().strip() == "holding"
    threads = torch.get_num_threads()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    try:
        start = time.perf_counter()
        with cpu_turn("cpu") as turn:
            waited = time.perf_counter() - start
            assert turn.held, "this process holds cores now"
            with cpu_turn("cpu") as inner:  # a turn inside a turn (evaluation inside a step) takes nothing more
                assert not inner.held
        assert other.wait(timeout=60) == 0
        assert waited > 1.0, f"took the cores after {waited:.2f} s although the other process held them for 3 s"
        start = time.perf_counter()
        with cpu_turn("cpu"):
            pass
        assert time.perf_counter() - start < 0.5, "alone, a turn is taken at once"
        with cpu_turn("cuda") as gpu, cpu_turn("cpu") as cpu:
            assert not gpu.held and cpu.held, "no turns off the CPU"
    finally:
        torch.set_num_threads(threads)
        other.kill()


SLOW_HOLDER = textwrap.dedent("""
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)
    print("locked", flush=True)
    time.sleep(0.3)  # the moment between taking the lock and writing one's name
    os.pwrite(fd, f"process {os.getpid()}, since now".encode(), 0)
    time.sleep(5)
""")


def test_a_run_key_taken_a_moment_ago_names_its_holder_not_an_empty_file(tmp_project):
    lock = paths.metrics_dir("smoke") / ".locks" / "04_y.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("process 999999999, since yesterday")  # a left-over name of a process long gone
    holder = subprocess.Popen([sys.executable, "-c", SLOW_HOLDER, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert paths.claim_run("smoke", "04_y") == f"process {holder.pid}, since now"
    finally:
        holder.kill()
