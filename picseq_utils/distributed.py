"""One fit on several GPUs: ``run.distributed(train, processes=4)`` runs ``train()`` in 4 processes that torchrun
starts (``python -m torch.distributed.run``), one GPU each, joined in a process group (NCCL on GPUs, gloo on the
CPU). ``fit`` sees the group and trains with DistributedDataParallel:

* every process draws the same global batch (the loaders are seeded alike) and trains on its slice of it; the
  gradients are averaged, each process's loss weighted by its share of the batch, so a step is the step of the
  global batch in one process (BatchNorm synchronised on GPUs);
* process 0 alone writes the checkpoints, and every process resumes from the newest one;
* ``train()``'s result, its fits and its records come back from process 0, as from a ``run.map`` worker.

What differs from one process: random draws inside the model (dropout, stochastic depth) come per process, and
BatchNorm on the CPU (gloo) keeps per-process statistics. The kernel is never forked: torchrun starts fresh
interpreters, so CUDA may already run in the notebook. ``train`` travels by value (cloudpickle), like a map's.

``python -m picseq_utils.distributed JOB`` is what each process runs."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch


def launch(run, train: Callable[[], Any], processes: int, timeout: float | None = None) -> Any:
    """``train()`` in ``processes`` torchrun processes; process 0's result (``Run.distributed`` calls this)."""
    import cloudpickle

    from . import paths
    from .parallel import item_seed, replay
    from .train import progress_bar

    if not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes must be a whole number >= 1, got {processes!r}")
    if run.device.type == "cuda" and processes > torch.cuda.device_count():
        raise ValueError(f"{processes} processes asked for, but this machine has {torch.cuda.device_count()} GPU(s)")
    number = run._maps = getattr(run, "_maps", 0) + 1
    with tempfile.TemporaryDirectory(prefix="picseq-ddp-") as folder:
        job, out = Path(folder) / "job.pkl", Path(folder) / "result.pkl"
        setup = {"root": str(paths.project_root()), "sys_path": [p for p in sys.path if p and os.path.isdir(p)],
                 "threads": max(1, torch.get_num_threads() // processes), "result": str(out),
                 "seed": item_seed(run.params["seed"], number, 0), "cuda": run.device.type == "cuda"}
        job.write_bytes(cloudpickle.dumps({"train": train, "setup": setup}))
        env = {**os.environ, "PICSEQ_CPU_TURNS": "0"}  # processes of one group wait for each other, not in turns
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                   "-m", "picseq_utils.distributed", str(job)]
        with progress_bar(1, f"one fit on {processes} processes") as bar:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
            bar.update(1)
        if done.returncode != 0 or not out.is_file():
            errors = [line for line in done.stderr.splitlines() if line.startswith("[rank") and "Error" in line]
            raise RuntimeError(f"the distributed fit failed (torchrun exit {done.returncode}): "
                               f"{errors[0] if errors else 'see below'}\n{done.stderr[-4000:]}")
        result, fits, calls = cloudpickle.loads(out.read_bytes())
    replay(run, fits, calls)
    return result


def main(job_path: str) -> None:
    """One process of the group: set up as the notebook's process, run ``train()``, process 0 returns."""
    import cloudpickle
    from torch import distributed as dist

    from .parallel import WORKER_CALLS, become_worker, own_random_state
    from .train import FIT_LOG

    job = cloudpickle.loads(Path(job_path).read_bytes())
    setup = job["setup"]
    local = int(os.environ.get("LOCAL_RANK", 0))
    if setup["cuda"]:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if setup["cuda"] else "gloo")
    try:
        become_worker(setup)
        with own_random_state(setup["seed"]):
            result = job["train"]()
        if dist.get_rank() == 0:
            Path(setup["result"]).write_bytes(cloudpickle.dumps((result, list(FIT_LOG), list(WORKER_CALLS))))
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
