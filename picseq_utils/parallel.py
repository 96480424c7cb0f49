"""Independent fits spread over workers: ``run.map(train_one, grid)`` is the list comprehension
``[train_one(p) for p in grid]`` with three promises, whether it runs here or on a cluster:

* each item starts from its own seed (the run's seed, the map's number, the item's place), and the notebook's
  random state after the map is the one before it: a map gives the same results in-process and on workers;
* results come back in the items' order, and so do the fits they logged (``train.FIT_LOG``) and the metrics
  they recorded (``run.record`` in a worker is replayed here, in order);
* a worker that dies (killed, preempted, out of host memory) is retried by the engine, and its fit resumes from
  its last checkpoint (``run.checkpoint_dir``), so a map's results equal an uninterrupted run's.

With ``PICSEQ_WORKERS`` unset, 0 or 1 (the smoke and cpu profiles, JupyterLab) every item runs in this process
and nothing else starts. With ``PICSEQ_WORKERS=N`` (``make report WORKERS=N``) the items become Ray tasks: one
GPU each when the run is on CUDA, else one of N local CPU slots. ``ray.init()`` starts a local cluster on this
machine; ``RAY_ADDRESS`` (or a running ``ray start`` head) joins an existing one, e.g. on Slurm. Functions and
models defined in notebook cells travel by value (cloudpickle pickles ``__main__`` by value); the package and the
lessons are imported on the workers, which must share this environment and the project folder.

Why Ray and not a scheduler of our own, nor Dask: see CONTRIBUTING.md ("Several GPUs")."""
from __future__ import annotations

import contextlib
import hashlib
import os
import random
import sys
from typing import Any, Callable, Iterable

import numpy as np
import torch

WORKERS_ENV = "PICSEQ_WORKERS"
#: Engine-level retries of a task whose worker died (a Python exception in the task is not retried: it is a bug).
MAX_RETRIES = 3
#: Environment the workers need to compute what this process computes (read when torch starts there).
_PASSED_ENV = ("GOMP_SPINCOUNT", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS",
               "PICSEQ_CPU_TURNS", "PICSEQ_TURNS_DIR", "TORCH_HOME", "HF_HOME", "HF_HUB_OFFLINE", "MPLBACKEND")

#: In a worker: what the mapped function recorded through ``run`` (replayed by the notebook's process).
WORKER_CALLS: list[tuple[str, tuple, dict]] = []
_IN_WORKER = False


def workers() -> int:
    """How many workers a map may use (``PICSEQ_WORKERS``; 0 or 1: in this process)."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"{WORKERS_ENV}={text!r} is not a number of workers: use a whole number such as 4 "
                         f"(0 or 1 run every fit in this process)")
    return int(text)


def in_worker() -> bool:
    return _IN_WORKER


def item_seed(run_seed: int, map_number: int, index: int) -> int:
    """The seed an item starts from: the same wherever it runs, different for every item of every map."""
    digest = hashlib.sha256(f"{run_seed}/{map_number}/{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@contextlib.contextmanager
def own_random_state(seed: int):
    """Seed Python, NumPy and torch for one item; put the caller's random state back afterwards."""
    from .runtime import seed_everything

    py, npy = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        seed_everything(seed)
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


def map_items(run, fn: Callable[[Any], Any], items: Iterable, desc: str = "fits") -> list:
    """``[fn(item) for item in items]`` with the promises above (``Run.map`` calls this)."""
    from . import planning

    items = list(items)
    number = run._maps = getattr(run, "_maps", 0) + 1
    seeds = [item_seed(run.params["seed"], number, i) for i in range(len(items))]
    n = workers()
    if planning.ACTIVE is not None:  # a cost plan: the items are counted as independent work
        return planning.ACTIVE.stage(list(zip(items, seeds)), lambda pair: _here(fn, *pair))
    if n <= 1 or len(items) <= 1 or in_worker():
        return [_here(fn, item, seed) for item, seed in zip(items, seeds)]
    return _on_workers(run, fn, items, seeds, n, desc)


def _here(fn, item, seed):
    with own_random_state(seed):
        return fn(item)


# --------------------------------------------------------------------------- Ray

def engine(n: int, device: torch.device):
    """Ray, started once per process: a local cluster of ``n`` slots, or the cluster at ``RAY_ADDRESS``."""
    try:
        import ray
    except ImportError as err:
        raise RuntimeError(f"{WORKERS_ENV}={n} needs Ray: pip install 'ray>=2.9' (it is in picseq's [cluster] "
                           f"extra), or unset {WORKERS_ENV} to run every fit in this process") from err
    if not ray.is_initialized():
        env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
        env.setdefault("GOMP_SPINCOUNT", "30000")
        options = dict(include_dashboard=False, log_to_driver=False, configure_logging=False,
                       runtime_env={"env_vars": env})
        if os.environ.get("RAY_ADDRESS"):
            ray.init(address=os.environ["RAY_ADDRESS"], **options)
        elif device.type == "cuda":
            ray.init(num_gpus=min(n, torch.cuda.device_count()), num_cpus=max(n, os.cpu_count() or 1), **options)
        else:
            ray.init(num_cpus=n, num_gpus=0, **options)
    return ray


def shutdown() -> None:
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        sys.modules["ray"].shutdown()


def become_worker(setup: dict) -> None:
    """This process set up as the notebook's: its project root, import path and threads; nothing logged yet."""
    global _IN_WORKER
    from . import paths
    from .train import FIT_LOG

    _IN_WORKER = True
    paths.ROOT_OVERRIDE = paths.Path(setup["root"])
    for folder in reversed(setup["sys_path"]):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    torch.set_num_threads(setup["threads"])
    FIT_LOG.clear()
    WORKER_CALLS.clear()


def replay(run, fits: list, calls: list) -> None:
    """A worker's fits and ``run`` calls, taken up by the notebook's process."""
    from .train import FIT_LOG

    FIT_LOG.extend(fits)
    for method, args, kwargs in calls:
        getattr(run, method)(*args, **kwargs)


def _worker_task(setup: dict, fn, item, seed: int):
    """One item on a worker: this process set up as the notebook's, the item run, what it logged returned."""
    from .train import FIT_LOG

    become_worker(setup)
    with own_random_state(seed):
        result = fn(item)
    return result, list(FIT_LOG), list(WORKER_CALLS), os.getpid()


def _on_workers(run, fn, items: list, seeds: list, n: int, desc: str) -> list:
    from . import paths
    from .train import progress_bar

    ray = engine(n, run.device)
    resources = {"num_gpus": 1, "num_cpus": 1} if run.device.type == "cuda" else {"num_cpus": 1}
    task = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False, **resources)(_worker_task)
    setup = {"root": str(paths.project_root()), "threads": torch.get_num_threads(),
             "sys_path": [p for p in sys.path if p and os.path.isdir(p)]}
    setup_ref, fn_ref = ray.put(setup), ray.put(fn)  # sent once, however many items
    pending = {task.remote(setup_ref, fn_ref, item, seed): i for i, (item, seed) in enumerate(zip(items, seeds))}
    done: dict[int, tuple] = {}
    bar = progress_bar(len(items), f"{desc} on {n} workers")
    try:
        with bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    index = pending.pop(ref)
                    try:
                        done[index] = ray.get(ref)
                    except ray.exceptions.RayTaskError as err:  # the function raised: show its own error
                        raise err.as_instanceof_cause() from None
                    bar.update(1)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
    results = []
    for index in range(len(items)):
        result, fits, calls, _ = done[index]
        replay(run, fits, calls)
        results.append(result)
    return results
