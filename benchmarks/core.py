"""The pair runner, the results file and BENCHMARKS.md."""
from __future__ import annotations

import datetime as _dt
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from picseq_utils.metrics import jsonable, write_json_atomic
from .tables import BENCHMARK_COLUMNS, GPU_NOT_MEASURED, benchmark_row, gpu_measured, load_benchmark_results
from picseq_utils.runtime import device_kind, environment_info

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MARKDOWN = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


@dataclass
class Side:
    """One way of doing the work. ``run()`` returns at least ``value`` (higher is better unless the
    benchmark says otherwise), ``samples`` (how much work was done) and ``loss`` (finite if it trained)."""

    name: str
    run: Callable[[], dict]


def compare(benchmark: str, metric: str, a: Side, b: Side, *, repetitions: int = 3, warmup: int = 1,
            higher_is_better: bool = True, target: dict | None = None, notes: str = "") -> dict:
    """Run ``a`` and ``b`` alternately (a-b, then b-a, ...) and report medians and the ratio a/b."""
    for _ in range(warmup):
        a.run()
        b.run()
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
    samples = {name: {r["samples"] for r in rs} for name, rs in runs.items()}
    if samples[a.name] != samples[b.name] or len(samples[a.name]) != 1:
        problems.append(f"the two sides processed different amounts of work: {samples}")
    models = {name: {r.get("model") for r in rs} for name, rs in runs.items()}
    if models[a.name] != models[b.name]:
        problems.append(f"the two sides used different models: {models}")
    summary = {}
    for name, rs in runs.items():
        summary[name] = {"median": statistics.median(r["value"] for r in rs),
                         "values": [r["value"] for r in rs],
                         **{k: statistics.median(r[k] for r in rs) for k in rs[0] if k.startswith("median_")
                            or k in ("data_wait", "gflops", "peak_share")},
                         **({"dtype": rs[0]["dtype"]} if "dtype" in rs[0] else {})}
    ratio = summary[a.name]["median"] / summary[b.name]["median"]
    if not higher_is_better:  # times: the ratio still says how many times faster the first side is
        ratio = 1 / ratio
    result = {"benchmark": benchmark, "metric": metric, "a": a.name, "b": b.name, "sides": summary,
              "ratio": ratio if not problems else None, "repetitions": repetitions,
              "checks": "ok" if not problems else problems, "target": target or {}, "notes": notes,
              "samples": next(iter(samples[a.name])) if len(samples[a.name]) == 1 else None}
    if target:
        result["target_met"] = evaluate_target(result, target) if not problems else False
    return result


def evaluate_target(result: dict, target: dict) -> bool:
    ok = True
    a = result["sides"][result["a"]]
    if "min_ratio" in target:
        fast_enough = result["ratio"] is not None and result["ratio"] >= target["min_ratio"]
        if "or_min_peak_share" in target:  # or so close to the machine's peak that little is left to win
            fast_enough |= a.get("peak_share", 0.0) >= target["or_min_peak_share"]
        ok &= fast_enough
    if "min_value" in target:
        ok &= a["median"] >= target["min_value"]
    if "max_data_wait" in target:
        ok &= a.get("data_wait", 1.0) <= target["max_data_wait"]
    return bool(ok)


def save_results(device: torch.device, results: list[dict], settings: dict) -> Path:
    """Write ``results/<device-kind>.json``. Each row is stamped with its commit and time; rows of
    benchmarks not re-run this time (``--only``) are kept from the earlier file, not lost."""
    path = RESULTS_DIR / f"{device_kind(device)}.json"
    env = environment_info(device)
    finished = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    for result in results:
        result.setdefault("commit", env.get("git_commit"))
        result.setdefault("finished", finished)
    kept = []
    if path.is_file():
        earlier = json.loads(path.read_text())
        fresh = {r["benchmark"] for r in results}
        for old in earlier.get("results", []):
            if old["benchmark"] not in fresh:
                old.setdefault("commit", earlier["environment"].get("git_commit"))
                old.setdefault("finished", earlier.get("finished"))
                kept.append(old)
    content = {"device_kind": device_kind(device), "environment": env, "settings": settings, "finished": finished,
               "results": kept + results}
    write_json_atomic(path, jsonable(content))
    return path


def render_markdown() -> str:
    """BENCHMARKS.md from every results file; a GPU row says "not measured" when no GPU file exists."""
    contents = load_benchmark_results(RESULTS_DIR)
    lines = ["# Benchmarks", "",
             "Measured by `make bench` (`python -m benchmarks`): each row runs both sides in one process, "
             "alternating, and reports medians and the ratio (how many times faster the first side is). Both sides are checked "
             "to do the same work (same model, same samples, finite loss) before a ratio is shown. "
             "Regenerate this file with `python -m benchmarks --render`; the report (`99_report`) shows the same table.", ""]
    if not gpu_measured(contents):
        lines += [GPU_NOT_MEASURED, ""]
    for content in contents:
        env = content["environment"]
        commits = sorted({r.get("commit", env.get("git_commit")) for r in content["results"]} - {None})
        lines += [f"## {content['device_kind']}", "",
                  f"{env.get('device_name', '?')}; torch {env.get('torch')}, torchvision {env.get('torchvision')}, "
                  f"commit{'s' if len(commits) > 1 else ''} {', '.join(f'`{c}`' for c in commits)} (last run "
                  f"finished {content['finished']}; each row keeps the commit it was measured at). Settings: "
                  + ", ".join(f"{k}={v}" for k, v in content["settings"].items()), "",
                  "| " + " | ".join(c.strip() for c in BENCHMARK_COLUMNS) + " |", "|" + "---|" * len(BENCHMARK_COLUMNS)]
        tables = [r for r in content["results"] if r.get("kind") == "table"]
        for r in content["results"]:
            if r.get("kind") != "table":
                row = benchmark_row(r)
                row["met"] = "**no**" if row["met"] == "no" else row["met"]
                lines.append("| " + " | ".join(str(row[c]) for c in BENCHMARK_COLUMNS) + " |")
        lines.append("")
        for table in tables:
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
