"""Two picseq runs on one machine: how much slower each gets than alone, before picseq shared the cores (every
process runs its thread pool over all cores whenever it likes, libgomp's default spinning) and after (processes
take turns at the cores one step at a time, ``runtime.cpu_turn``; waiting threads spin 30,000 rounds, then sleep).
``python -m benchmarks.concurrency`` (``make bench-concurrency``).

Two workloads, each run alone, then twice at once (separate processes started together), in both settings:

- a 15-step ResNet-18 training loop (batch 16, 32 px): the kernels of the smoke notebooks, in seconds;
- notebook 04 at its smoke defaults through papermill, from no checkpoints: the copy started second finds the
  notebook's lock held and writes apart (``04_...@concurrent-<pid>``), so both train everything.

A copy that has not finished after ``--cap`` times the time alone is stopped and reported as "> cap"."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.tables import CONCURRENCY_RESULTS, benchmark_results_dir

ROOT = Path(__file__).resolve().parents[1]

LOOP = """
import time, torch
from picseq_utils.models import build_model
from picseq_utils.runtime import cpu_turn
torch.manual_seed(0)
model = build_model("resnet18_cifar", 10, width=16)
opt = torch.optim.AdamW(model.parameters(), 1e-3)
x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
t0 = time.perf_counter()
for _ in range(15):
    with cpu_turn("cpu"):  # as fit takes its steps
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
print(time.perf_counter() - t0)
"""


#: What each setting puts in a process's environment (None: taken out, so libraries use their defaults).
SETTINGS = {"before": {"PICSEQ_CPU_TURNS": "0", "GOMP_SPINCOUNT": None, "OMP_WAIT_POLICY": None},
            "after": {"PICSEQ_CPU_TURNS": "1", "GOMP_SPINCOUNT": "30000", "OMP_WAIT_POLICY": None}}


def _env(setting: str, scratch: Path | None = None) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    for key, value in SETTINGS[setting].items():
        env.pop(key, None) if value is None else env.__setitem__(key, value)
    if scratch is not None:  # a kernel spec of the setting's own: the project's sets GOMP_SPINCOUNT
        spec = scratch / "kernels" / "picseq-bench"
        spec.mkdir(parents=True, exist_ok=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "picseq benchmark", "language": "python",
            "env": {k: v for k, v in SETTINGS[setting].items() if v is not None}}))
        env["JUPYTER_PATH"] = str(scratch)
    return env


def _notebook_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "04_vit_vs_resnet_cifar10.ipynb"), str(out),
            "-k", "picseq-bench", "--cwd", str(ROOT / "notebooks"), "--log-level", "ERROR"]


def _fresh(aside: Path) -> None:
    """No checkpoint of notebook 04's smoke runs is left to resume (both copies must train): this checkout's are
    moved to ``aside`` the first time (and back by ``_restore``), the benchmark's own deleted."""
    for folder in (ROOT / "checkpoints" / "smoke").glob("04_vit_vs_resnet_cifar10*"):
        if not (aside / folder.name).exists() and not aside.joinpath(".taken").exists():
            aside.mkdir(parents=True, exist_ok=True)
            shutil.move(str(folder), aside / folder.name)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    aside.mkdir(parents=True, exist_ok=True)
    (aside / ".taken").touch()


def _restore(aside: Path) -> None:
    for folder in aside.glob("04_vit_vs_resnet_cifar10*"):
        target = ROOT / "checkpoints" / "smoke" / folder.name
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(folder), target)


def _time(commands: list[list[str]], env: dict, cap: float | None, cwd: Path | None = None) -> list[float | None]:
    """Start the commands together; each one's wall seconds (None: stopped at ``cap``)."""
    start = time.perf_counter()
    logs = [tempfile.TemporaryFile("w+") for _ in commands]
    # each in a session of its own, so that stopping one stops its kernel too (an orphaned kernel would go on
    # training and slow the next measurement down)
    procs = [subprocess.Popen(c, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log, text=True,
                              start_new_session=True) for c, log in zip(commands, logs)]
    done: list[float | None] = [None] * len(procs)
    while any(p.poll() is None for p in procs):
        now = time.perf_counter() - start
        for i, p in enumerate(procs):
            if p.poll() is not None and done[i] is None:
                done[i] = now
        if cap is not None and now > cap:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
            break
        time.sleep(0.05)
    for i, p in enumerate(procs):
        if done[i] is None and p.returncode == 0:
            done[i] = time.perf_counter() - start
        if p.returncode not in (0, -9):  # a failure is not a time (-9: stopped at the cap)
            logs[i].seek(0)
            raise RuntimeError(f"{' '.join(commands[i][:4])} failed:\n{logs[i].read()[-3000:]}")
    return done


def measure(workload: str, setting: str, cap_factor: float) -> dict:
    if workload == "loop":
        env = _env(setting)
        command = [sys.executable, "-c", LOOP]
        alone = _time([command], env, None)[0]
        together = _time([command, command], env, cap_factor * alone)
    else:
        scratch = Path(tempfile.mkdtemp(prefix="picseq-concurrency-"))
        env = _env(setting, scratch)
        try:
            _fresh(scratch / "aside")
            alone = _time([_notebook_command(scratch / "solo.ipynb")], env, None)[0]
            _fresh(scratch / "aside")
            together = _time([_notebook_command(scratch / f"copy{i}.ipynb") for i in range(2)], env,
                             cap_factor * alone)
        finally:
            _fresh(scratch / "aside")
            _restore(scratch / "aside")
            shutil.rmtree(scratch, ignore_errors=True)
    worst = None if None in together else max(together)
    label = {"loop": "15-step ResNet-18 training loop (batch 16, 32 px)",
             "notebook04": "notebook 04, smoke defaults, papermill, no checkpoints"}[workload]
    return {"workload": workload, "label": label, "setting": setting, "alone_s": alone, "together_s": together,
            "slowdown": None if worst is None else worst / alone, "cap": cap_factor}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.concurrency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="*", default=["loop", "notebook04"], choices=["loop", "notebook04"])
    parser.add_argument("--cap", type=float, default=2.5, help="stop a pair after this many times the solo time (the target)")
    parser.add_argument("--out", type=Path, default=benchmark_results_dir() / CONCURRENCY_RESULTS)
    args = parser.parse_args(argv)
    from picseq_utils.runtime import environment_info

    rows = []
    for workload in args.workloads:
        for setting in SETTINGS:
            row = measure(workload, setting, args.cap)
            rows.append(row)
            shown = ", ".join("stopped" if t is None else f"{t:.1f} s" for t in row["together_s"])
            print(f"{workload:<11} {setting:<7} alone {row['alone_s']:.1f} s; two at once: {shown}"
                  + (f" ({row['slowdown']:.1f}x)" if row["slowdown"] else f" (> {args.cap:g}x)"), flush=True)
    env = environment_info()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"environment": env, "results": rows}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
