"""The pair runner, the check against the measured peak, the results file, BENCHMARKS.md and the README's block."""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from picseq_utils.metrics import jsonable, write_json_atomic
from .tables import (BENCHMARK_COLUMNS, gpu_not_measured, benchmark_row, gpu_measured, is_paired,
                     load_benchmark_results)
from picseq_utils.runtime import cpu_capability, cpu_has_native_bf16, device_kind, environment_info

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MARKDOWN = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
#: The variables that choose the CPU kernels; each is read once, when the process starts.
ISA_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")
#: A 1-minute load average at or above this before a run means another program shared the CPU.
BUSY_LOAD = 0.5
#: Other programs' share of the CPU during a run at or above this means the machine was busy.
BUSY_SHARE = 0.05


@dataclass
class Side:
    """One way of doing the work. ``run()`` returns at least ``value`` (higher is better unless the
    benchmark says otherwise), ``samples`` (how much work was done) and ``loss`` (finite if it trained);
    optionally ``dtype``, and ``gflops`` with the ``peak_gflops`` it is measured against. ``warmup()``, when
    given, replaces the untimed warm-up calls of ``run()``."""

    name: str
    run: Callable[[], dict]
    warmup: Callable[[], object] | None = None


def peak_violations(result: dict) -> list[str]:
    """Sides of a paired result whose achieved GFLOP/s (any repetition) exceeds the peak they are measured
    against: a workload cannot run faster than the machine, so the peak is wrong and no ratio stands."""
    problems = []
    for name, side in (result.get("sides") or {}).items():
        peak = side.get("peak_gflops")
        achieved = side.get("gflops_values") or ([side["gflops"]] if side.get("gflops") is not None else [])
        if peak and achieved and max(achieved) > peak:
            problems.append(f"{name}: achieved {max(achieved):.1f} GFLOP/s exceeds the measured {side.get('dtype', '')} "
                            f"peak of {peak:.1f} GFLOP/s (the peak is wrong; no ratio)")
    return problems


def compare(benchmark: str, metric: str, a: Side, b: Side, *, repetitions: int = 3, warmup: int = 1,
            higher_is_better: bool = True, target: dict | None = None, notes: str = "") -> dict:
    """Run ``a`` and ``b`` alternately (a-b, then b-a, ...) and report medians and the ratio a/b."""
    for _ in range(warmup):
        for side in (a, b):
            (side.warmup or side.run)()
    runs: dict[str, list[dict]] = {a.name: [], b.name: []}
    for rep in range(repetitions):
        order = (a, b) if rep % 2 == 0 else (b, a)
        for side in order:
            runs[side.name].append(side.run())
    problems = []
    for side in (a, b):
        for r in runs[side.name]:
            if "loss" in r and not math.isfinite(r["loss"]):
                problems.append(f"{side.name}: non-finite loss {r['loss']}")
        redone = sum(r.get("fp32_redone_steps", 0) for r in runs[side.name])
        if redone:
            problems.append(f"{side.name}: {redone} steps redone in fp32, not all in its dtype")
    samples = {name: {r["samples"] for r in rs} for name, rs in runs.items()}
    if samples[a.name] != samples[b.name] or len(samples[a.name]) != 1:
        problems.append(f"the two sides processed different amounts of work: {samples}")
    models = {name: {r.get("model") for r in rs} for name, rs in runs.items()}
    if models[a.name] != models[b.name]:
        problems.append(f"the two sides used different models: {models}")
    dtypes = {name: {r.get("dtype") for r in rs} for name, rs in runs.items()}
    if dtypes[a.name] != dtypes[b.name] or len(dtypes[a.name]) != 1:
        problems.append(f"the two sides computed in different dtypes: {dtypes}")
    summary = {}
    for name, rs in runs.items():
        summary[name] = {"median": statistics.median(r["value"] for r in rs),
                         "values": [r["value"] for r in rs],
                         **{k: statistics.median(r[k] for r in rs) for k in rs[0] if k.startswith("median_")
                            or k in ("data_wait", "gflops", "peak_share")},
                         **({"gflops_values": [r["gflops"] for r in rs]} if "gflops" in rs[0] else {}),
                         **{k: rs[0][k] for k in ("dtype", "peak_gflops", "flops_per_image") if k in rs[0]}}
    result = {"benchmark": benchmark, "metric": metric, "a": a.name, "b": b.name, "sides": summary,
              "repetitions": repetitions, "target": target or {}, "notes": notes,
              "samples": next(iter(samples[a.name])) if len(samples[a.name]) == 1 else None}
    problems += peak_violations(result)
    ratio = summary[a.name]["median"] / summary[b.name]["median"]
    if not higher_is_better:  # times: the ratio still says how many times faster the first side is
        ratio = 1 / ratio
    result.update(ratio=ratio if not problems else None, checks="ok" if not problems else problems)
    if target:
        result["target_met"] = evaluate_target(result, target) if not problems else False
    return result


def evaluate_target(result: dict, target: dict) -> bool:
    """``min_ratio`` (the first side at least this many times faster), ``min_value`` (its median at least this),
    ``max_data_wait`` (its share of time waiting for data at most this). The share of peak is shown beside the
    target, never used to meet it."""
    ok = True
    a = result["sides"][result["a"]]
    if "min_ratio" in target:
        ok &= result["ratio"] is not None and result["ratio"] >= target["min_ratio"]
    if "min_value" in target:
        ok &= a["median"] >= target["min_value"]
    if "max_data_wait" in target:
        ok &= a.get("data_wait", 1.0) <= target["max_data_wait"]
    return bool(ok)


# --------------------------------------------------------------------------- the results file
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            line = next((ln for ln in handle if ln.startswith("model name")), "")
        return line.split(":", 1)[1].strip() if line else "unknown"
    except OSError:
        return "unknown"


def _onednn_isa() -> str:
    """The ISA oneDNN reports in a fresh process with this process's environment (``ONEDNN_VERBOSE``)."""
    code = "import torch; torch.nn.functional.conv2d(torch.randn(2, 64, 8, 8), torch.randn(64, 64, 3, 3), padding=1)"
    try:
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ONEDNN_VERBOSE": "1"},
                             capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    line = next((ln for ln in out.splitlines() if ",cpu,isa:" in ln), "")
    return line.split("isa:", 1)[1].strip() if line else "unknown"


def isa_setting(device: torch.device) -> dict:
    """The instruction-set setting of this process: the three variables as set (empty: unset), ATen's capability,
    oneDNN's reported ISA, whether bf16 is native, and a label (``native`` or ``AVX2-capped``)."""
    values = {name: os.environ.get(name, "") for name in ISA_VARIABLES}
    setting = {**values, "cpu_capability": cpu_capability()}
    if device.type == "cpu":
        setting.update(onednn_isa=_onednn_isa(), cpu_native_bf16=cpu_has_native_bf16())
    capped = [name for name, value in values.items() if value]
    setting["label"] = ("native" if not capped else
                        f"{'/'.join(sorted({v.upper() for v in values.values() if v}))}-capped"
                        + ("" if len(capped) == len(ISA_VARIABLES) else f" (only {', '.join(capped)})"))
    return setting


def load_average() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


class CpuMeter:
    """How much of the CPU other programs took while this process ran: the machine's busy time (``/proc/stat``)
    minus this process's and its reaped children's (loader workers) CPU time, as a share of wall time x cores;
    and the share the hypervisor stole. A load average cannot say this for the second line of ``make bench``,
    whose 1-minute figure still holds the first line's own load."""

    def __init__(self):
        self.start = self._read()

    @staticmethod
    def _read() -> dict | None:
        try:
            with open("/proc/stat") as handle:
                fields = [int(v) for v in handle.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        tick = os.sysconf("SC_CLK_TCK")
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        times = os.times()
        return {"busy": (sum(fields[:8]) - idle) / tick, "steal": (fields[7] if len(fields) > 7 else 0) / tick,
                "own": times.user + times.system + times.children_user + times.children_system,
                "wall": time.monotonic()}

    def shares(self) -> dict:
        import gc

        gc.collect()  # shut down and reap the loaders' worker processes, so their CPU time counts as ours
        end = self._read()
        if self.start is None or end is None:
            return {}
        capacity = (end["wall"] - self.start["wall"]) * (os.cpu_count() or 1)
        other = (end["busy"] - self.start["busy"]) - (end["own"] - self.start["own"])
        return {"run_seconds": round(end["wall"] - self.start["wall"], 1),
                "cpu_share_other_programs": round(max(0.0, other) / capacity, 4),
                "cpu_share_stolen": round((end["steal"] - self.start["steal"]) / capacity, 4)}


def run_environment(device: torch.device, load_before: float) -> dict:
    """``environment_info`` plus what a speed figure needs: the instruction-set setting, the CPU model, threads,
    whether the tree was dirty, and the 1-minute load average before the run (``save_results`` adds after)."""
    env = environment_info(device)
    env.update(isa=isa_setting(device), cpu_model=_cpu_model(), torch_threads=torch.get_num_threads(),
               git_dirty=str(env.get("git_commit", "")).endswith("+dirty"), load_1min_before=load_before)
    return env


def save_results(device: torch.device, results: list[dict], settings: dict, environment: dict | None = None,
                 meter: CpuMeter | None = None) -> Path:
    """Write ``results/<device-kind>.json``. Each row is stamped with its commit, time and the run's load; rows of
    benchmarks not re-run this time (``--only``) are kept from the earlier file if it was measured in the same
    instruction-set setting, else dropped."""
    path = RESULTS_DIR / f"{device_kind(device)}.json"
    env = dict(environment or run_environment(device, load_average()))
    env["load_1min_after"] = load_average()
    if meter is not None:
        env.update(meter.shares())
    finished = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    for result in results:
        result.setdefault("commit", env.get("git_commit"))
        result.setdefault("finished", finished)
        result.setdefault("load_1min", [env.get("load_1min_before"), env["load_1min_after"]])
    kept = []
    if path.is_file():
        earlier = json.loads(path.read_text())
        same_setting = all((earlier["environment"].get("isa") or {}).get(k) == (env.get("isa") or {}).get(k)
                           for k in (*ISA_VARIABLES, "cpu_capability"))
        fresh = {r["benchmark"] for r in results}
        for old in earlier.get("results", []) if same_setting else []:
            if old["benchmark"] not in fresh:
                old.setdefault("commit", earlier["environment"].get("git_commit"))
                old.setdefault("finished", earlier.get("finished"))
                kept.append(old)
    content = {"device_kind": device_kind(device), "environment": env, "settings": settings, "finished": finished,
               "results": kept + results}
    write_json_atomic(path, jsonable(content))
    return path


# --------------------------------------------------------------------------- BENCHMARKS.md and the README
def _ordered(contents: list[dict]) -> list[dict]:
    """Native settings first, then capped ones; by device kind within each."""
    return sorted(contents, key=lambda c: (_setting(c) != "native", c["device_kind"]))


def _setting(content: dict) -> str:
    return (content["environment"].get("isa") or {}).get("label", "?")


def _peak_entry(content: dict) -> dict | None:
    return next((r for r in content["results"] if r.get("kind") == "peak"), None)


def committed_peak_violations(content: dict) -> list[str]:
    """Every achieved figure of a results file above the peak of its dtype in that file's peak table (or above the
    peak its side names): what the tests check in every committed file."""
    peak = _peak_entry(content)
    table = {}
    for row in (peak or {}).get("rows", []):
        table[row["dtype"]] = max(table.get(row["dtype"], 0.0), row["gflops"])
    problems = []
    for result in content["results"]:
        if not is_paired(result):
            continue
        problems += [f"{content['device_kind']}, {result['benchmark']}: {p}" for p in peak_violations(result)]
        for name, side in result["sides"].items():
            achieved = side.get("gflops_values") or ([side["gflops"]] if side.get("gflops") is not None else [])
            if not achieved:
                continue
            dtype = side.get("dtype")
            if dtype not in table:
                problems.append(f"{content['device_kind']}, {result['benchmark']}, {name}: no {dtype} peak measured")
            elif max(achieved) > table[dtype]:
                problems.append(f"{content['device_kind']}, {result['benchmark']}, {name}: achieved "
                                f"{max(achieved):.1f} GFLOP/s above the measured {dtype} peak {table[dtype]:.1f}")
    return problems


def _fmt_env(content: dict) -> list[str]:
    env = content["environment"]
    isa = env.get("isa") or {}
    commits = sorted({r.get("commit", env.get("git_commit")) for r in content["results"]} - {None})
    variables = ", ".join(f"`{k}={isa[k]}`" if isa.get(k) else f"`{k}` unset" for k in ISA_VARIABLES)
    dirty = (" — the tree was **dirty** (uncommitted changes) when measured" if env.get("git_dirty")
             else "" if "git_dirty" not in env else " (clean tree)")
    before, after = env.get("load_1min_before"), env.get("load_1min_after")
    lines = [f"CPU: {env.get('cpu_model', env.get('device_name', '?'))}, {env.get('cpu_count', '?')} cores, "
             f"{env.get('torch_threads', '?')} torch threads; torch {env.get('torch')}, torchvision "
             f"{env.get('torchvision')}.",
             f"Instruction-set setting: **{isa.get('label', '?')}** ({variables}; ATen capability "
             f"`{isa.get('cpu_capability', env.get('cpu_capability', '?'))}`; oneDNN reports "
             f"`{isa.get('onednn_isa', '?')}`; native bf16: {isa.get('cpu_native_bf16', env.get('cpu_native_bf16'))}).",
             f"Commit{'s' if len(commits) > 1 else ''} {', '.join(f'`{c}`' for c in commits)}{dirty}; last run "
             f"finished {content['finished']}; each row keeps the commit it was measured at.",
             f"1-minute load average: {before} before the run, {after} after it (the figure after includes the "
             f"benchmark's own {env.get('torch_threads', '?')} threads and loader workers; the figure before "
             f"includes whatever ran in the minute before, such as the first line of `make bench`)."]
    other, stolen = env.get("cpu_share_other_programs"), env.get("cpu_share_stolen")
    if other is not None:
        lines.append(f"During the run ({env.get('run_seconds')} s), other programs used {other:.1%} of the CPU "
                     f"and the hypervisor stole {stolen:.1%} (`/proc/stat` less this process and its workers).")
    loaded_before = isinstance(before, (int, float)) and before >= BUSY_LOAD
    if (other >= BUSY_SHARE) if other is not None else loaded_before:
        lines.append("**The machine was busy**: another program shared the CPU during this run, and its speeds "
                     "may be low.")
    elif loaded_before:
        lines.append(f"The load before ({before}) did not come from another program during the run (they used "
                     f"{other:.1%} of the CPU): it is the minute before, e.g. the first line of `make bench`.")
    lines.append("Settings: " + ", ".join(f"{k}={v}" for k, v in content["settings"].items()) + ".")
    return lines


def render_markdown() -> str:
    """BENCHMARKS.md, entirely from the results files; a GPU row says "not measured" when no GPU file exists."""
    contents = _ordered(load_benchmark_results(RESULTS_DIR))
    lines = ["# Benchmarks", "",
             "Measured by `make bench` (`python -m benchmarks`), once natively and once with the CPU capped to AVX2 "
             "(`ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2`: oneDNN, ATen and "
             "MKL each have their own switch, read when the process starts). Each row runs both sides in one "
             "process, alternating, after a warm-up, and reports medians and the ratio (how many times faster the "
             "first side is). Both sides of a row compute in the same dtype, named in the row. Both are checked "
             "to do the same work (same model, same samples, same dtype, finite loss) before a ratio is shown.", "",
             "**Share of peak**: achieved FLOP/s (the training step's FLOPs, counted by "
             "`torch.utils.flop_counter`, times images/s) over the peak that same process measured in that "
             "side's dtype: the best of several matmul and convolution sizes, each the best of several trials "
             "(the peak table under each setting lists every measurement). An achieved figure above its peak "
             "would mean the peak is wrong: such a row is flagged and gets no ratio, and the tests fail on it. "
             "The target is the ratio (picseq >= 1.3x the conventional pipeline, data wait <= 10 %); the share "
             "of peak stands beside it and never meets it.", "",
             "Regenerate this file from `benchmarks/results/*.json` with `python -m benchmarks --render`; "
             "the report (`99_report`) shows the same rows.", ""]
    if not gpu_measured(contents):
        lines += [gpu_not_measured(), ""]
    for content in contents:
        lines += [f"## {content['device_kind']} — {_setting(content)}", "", *(f"- {line}" for line in _fmt_env(content)),
                  "", "| " + " | ".join(c.strip() for c in BENCHMARK_COLUMNS) + " |",
                  "|" + "---|" * len(BENCHMARK_COLUMNS)]
        for r in content["results"]:
            if is_paired(r):
                row = benchmark_row(r)
                row["met"] = "**no**" if row["met"] == "no" else row["met"]
                lines.append("| " + " | ".join(str(row[c]).replace("|", "/") for c in BENCHMARK_COLUMNS) + " |")
        lines.append("")
        peak = _peak_entry(content)
        if peak:
            lines += [f"### Peak ({_setting(content)}, measured in the benchmark's own process)", "",
                      peak.get("notes", ""), "",
                      "| dtype | operation | library | best GFLOP/s | trials (GFLOP/s) | the dtype's peak |",
                      "|---|---|---|---|---|---|"]
            for row in peak["rows"]:
                best = row["gflops"] == peak["peaks"].get(row["dtype"])
                lines.append(f"| {row['dtype']} | {row['operation']} | {row['library']} | {row['gflops']:.1f} | "
                             + ", ".join(f"{v:.1f}" for v in row["trials"]) + f" | {'**peak**' if best else ''} |")
            lines.append("")
        for table in (r for r in content["results"] if r.get("kind") == "table"):
            lines += [f"### {table['benchmark']}", "", table.get("notes", ""), ""]
            if table["rows"]:
                keys = list(table["rows"][0])
                lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
                lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in table["rows"]]
                lines.append("")
    return "\n".join(lines) + "\n"


def write_markdown() -> Path:
    MARKDOWN.write_text(render_markdown())
    return MARKDOWN


def readme_speed_block(folder: Path | None = None) -> str:
    """A short markdown block for the README: every training-throughput row of every CPU setting (ratio with its
    dtype, the 1.3x target met or not, each side's share of its peak with the peak), with the commit and the CPU;
    every number read from the results files."""
    contents = _ordered(load_benchmark_results(folder or RESULTS_DIR))
    lines = ["**Speed** (`make bench`; [BENCHMARKS.md](BENCHMARKS.md), generated from `benchmarks/results/`): picseq's "
             "training path against the conventional pipeline (DataLoader + PIL), both sides in the same dtype, "
             "alternating in one process. The target is 1.3x; the share of peak (achieved FLOP/s over the peak "
             "measured in the same process, setting and dtype) stands beside it.", "",
             "| setting | model | dtype | picseq / conventional | 1.3x target | picseq: share of peak "
             "| conventional: share of peak | CPU | commit |", "|---|---|---|---|---|---|---|---|---|"]
    rows = 0
    for content in contents:
        env = content["environment"]
        for r in content["results"]:
            if not is_paired(r) or not r["benchmark"].startswith("train "):
                continue
            a, b = r["sides"][r["a"]], r["sides"][r["b"]]
            ratio = "- (" + "; ".join(r["checks"]) + ")" if r["ratio"] is None else f"{r['ratio']:.2f}x"
            met = {True: "met", False: "**not met**"}.get(r.get("target_met"), "-")

            def share(side):
                if side.get("peak_share") is None or not side.get("peak_gflops"):
                    return "-"
                return f"{side['peak_share']:.0%} of {side['peak_gflops']:.0f} GFLOP/s"

            lines.append(f"| {content['device_kind']} ({_setting(content)}) | {r['benchmark'].split()[1]} | "
                         f"{a.get('dtype', '?')} vs {b.get('dtype', '?')} | {ratio} | {met} | {share(a)} | {share(b)} | "
                         f"{env.get('cpu_model', env.get('device_name', '?'))}, {env.get('torch_threads', '?')} "
                         f"threads | `{r.get('commit', env.get('git_commit'))}` |")
            rows += 1
    if not rows:
        return "**Speed**: not measured yet (`make bench`).\n"
    return "\n".join(lines) + "\n"
