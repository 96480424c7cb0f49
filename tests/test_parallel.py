"""run.map (issue 23): the same results in this process and on Ray workers, and a killed worker's fit resumed."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from picseq_utils import parallel

SCRIPT = Path(__file__).with_name("map_script.py")


def test_each_item_starts_from_its_own_seed_and_the_callers_random_state_is_kept(monkeypatch):
    monkeypatch.delenv(parallel.WORKERS_ENV, raising=False)
    run = SimpleNamespace(params={"seed": 0})
    torch.manual_seed(5)
    state = torch.get_rng_state()
    first = parallel.map_items(run, lambda _: torch.rand(2).tolist(), range(3))
    assert torch.equal(torch.get_rng_state(), state), "the notebook's random state is the one before the map"
    assert len({tuple(x) for x in first}) == 3, "every item draws its own numbers"
    run._maps = 0
    assert parallel.map_items(run, lambda _: torch.rand(2).tolist(), range(3)) == first, "and the same again"
    assert parallel.map_items(run, lambda _: torch.rand(2).tolist(), range(3)) != first, "another map, other seeds"


def test_a_bad_number_of_workers_says_what_to_write(monkeypatch):
    monkeypatch.setenv(parallel.WORKERS_ENV, "four")
    with pytest.raises(ValueError, match="whole number such as 4"):
        parallel.workers()


def start(project: Path, out: Path, workers: int, epochs: int = 3, pause: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, parallel.WORKERS_ENV: str(workers)}
    return subprocess.Popen([sys.executable, str(SCRIPT), str(project), str(out), str(epochs), str(pause)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, out: Path) -> dict:
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.read_text())


def twin(tmp_project: Path, name: str) -> Path:
    """A second project folder beside the fixture's (its own checkpoints), with the same notebooks."""
    import shutil

    other = tmp_project.parent / name
    shutil.copytree(tmp_project / "notebooks", other / "notebooks")
    (other / "params").mkdir()
    return other


@pytest.mark.timeout(600)
def test_two_ray_workers_give_what_this_process_gives(tmp_project):
    here = finish(start(tmp_project, tmp_project / "here.json", 0), tmp_project / "here.json")
    other = twin(tmp_project, "workers")
    there = finish(start(other, other / "there.json", 2), other / "there.json")
    pids = {p.name for item in (other / "attempts").iterdir() for p in item.iterdir()}
    assert str(there["pid"]) not in pids and len(pids) == 2, f"the fits ran in two other processes: {pids}"
    for part in ("results", "metrics", "fits", "before", "after"):  # metrics: recorded there, replayed here
        assert there[part] == here[part], part


@pytest.mark.timeout(600)
def test_a_killed_worker_is_retried_and_its_fit_resumes_from_the_checkpoint(tmp_project):
    epochs, pause = 6, 1.0
    here = finish(start(tmp_project, tmp_project / "here.json", 0, epochs), tmp_project / "here.json")
    other = twin(tmp_project, "killed")
    process = start(other, other / "there.json", 2, epochs, pause)
    attempts = other / "attempts" / "0.03"
    deadline = time.monotonic() + 240
    victim = None
    while victim is None and time.monotonic() < deadline and process.poll() is None:
        checkpoints = list((other / "checkpoints").glob("smoke/*/lr0.03/epoch_00002.pt"))
        pids = list(attempts.iterdir()) if attempts.is_dir() else []
        if checkpoints and pids:
            victim = int(pids[0].name)
        time.sleep(0.1)
    assert victim is not None, "the fit of lr 0.03 reached its second checkpoint on a worker"
    os.kill(victim, signal.SIGKILL)
    there = finish(process, other / "there.json")
    assert len(list(attempts.iterdir())) == 2, "the engine ran the killed item again, in a new worker"
    killed = there["results"][1]
    assert 2 <= killed["resumed_from"] < epochs, "and its fit went on from a checkpoint, not from the start"
    for part in ("metrics", "fits", "after"):
        assert there[part] == here[part], part
    for mine, theirs in zip(here["results"], there["results"]):
        assert {**theirs, "resumed_from": 0} == mine, "every result equals the uninterrupted run's"


def test_a_run_sent_to_a_worker_notes_its_records_for_the_notebook_and_refuses_figures(tmp_project):
    import pickle

    from picseq_utils import notebook as nb
    from picseq_utils.params import notebook_defaults

    namespace = {}
    nb.begin(namespace)
    namespace.update(notebook_defaults(tmp_project / "notebooks" / "04_vit_vs_resnet_cifar10.ipynb"), device="cpu")
    run = nb.setup("04_vit_vs_resnet_cifar10", namespace, quiet=True)
    worker = pickle.loads(pickle.dumps(run))
    assert worker.namespace is None and worker.writer is None, "the notebook's namespace and file stay here"
    assert worker.key() == run.key() and worker.checkpoint_dir("a") == run.checkpoint_dir("a")
    parallel.WORKER_CALLS.clear()
    worker.record("accuracy", 0.5, seed=1)
    assert parallel.WORKER_CALLS == [("record", ("accuracy", 0.5), {"data": None, "recipe": None, "used": None,
                                                                    "seed": 1})]
    parallel.replay(run, [], parallel.WORKER_CALLS)
    assert [(m["name"], m["value"]) for m in run.writer.content["metrics"]] == [("accuracy", 0.5)]
    with pytest.raises(RuntimeError, match="draw it in the notebook after the map"):
        worker.save_figure(None, "x")
    parallel.WORKER_CALLS.clear()
