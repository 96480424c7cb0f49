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
                            or k in ("data_wait",)}}
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
        ok &= result["ratio"] is not None and result["ratio"] >= target["min_ratio"]
    if "min_value" in target:
        ok &= a["median"] >= target["min_value"]
    if "max_data_wait" in target:
        ok &= a.get("data_wait", 1.0) <= target["max_data_wait"]
    return bool(ok)


def save_results(device: torch.device, results: list[dict], settings: dict) -> Path:
    path = RESULTS_DIR / f"{device_kind(device)}.json"
    content = {"device_kind": device_kind(device), "environment": environment_info(device), "settings": settings,
               "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "results": results}
    write_json_atomic(path, jsonable(content))
    return path


def _fmt(value, metric: str) -> str:
    if value is None:
        return "-"
    if "fraction" in metric:
        return f"{value:.1%}"
    return f"{value:,.1f}" if value >= 10 else f"{value:.3g}"


def render_markdown() -> str:
    """BENCHMARKS.md from every results file; a GPU row says "not measured" when no GPU file exists."""
    files = sorted(RESULTS_DIR.glob("*.json"))
    lines = ["# Benchmarks", "",
             "Measured by `make bench` (`python -m benchmarks`): each row runs both sides in one process, "
             "alternating, and reports medians and the ratio (how many times faster the first side is). Both sides are checked "
             "to do the same work (same model, same samples, finite loss) before a ratio is shown. "
             "Regenerate this file with `python -m benchmarks --render`.", ""]
    if not any(json.loads(f.read_text())["device_kind"].startswith("cuda") for f in files):
        lines += ["**GPU: not measured** — no CUDA results file in `benchmarks/results/` yet; run `make bench` on a "
                  "GPU machine (targets for one H100: ResNet-18 32-px training >= 30,000 images/s with < 5% data "
                  "wait; ViT (patch 4, ~11M) >= 15,000 images/s; seed-000 cached-embedding path >= 50x end-to-end).",
                  ""]
    for path in files:
        content = json.loads(path.read_text())
        env = content["environment"]
        lines += [f"## {content['device_kind']}", "",
                  f"{env.get('device_name', '?')}; torch {env.get('torch')}, torchvision {env.get('torchvision')}, "
                  f"commit `{env.get('git_commit')}`, finished {content['finished']}. Settings: "
                  + ", ".join(f"{k}={v}" for k, v in content["settings"].items()), "",
                  "| benchmark | metric | first side | median | second side | median | ratio | data wait (first / second) "
                  "| target | met | checks |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        tables = [r for r in content["results"] if r.get("kind") == "table"]
        for r in content["results"]:
            if r.get("kind") == "table":
                continue
            a, b = r["sides"][r["a"]], r["sides"][r["b"]]
            wait = (f"{a['data_wait']:.1%} / {b['data_wait']:.1%}" if "data_wait" in a and "data_wait" in b else "")
            target = ", ".join(f"{k}={v}" for k, v in (r.get("target") or {}).items())
            met = {True: "yes", False: "**no**"}.get(r.get("target_met"), "")
            ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
            checks = r["checks"] if isinstance(r["checks"], str) else "; ".join(r["checks"])
            lines.append(f"| {r['benchmark']} | {r['metric']} | {r['a']} | {_fmt(a['median'], r['metric'])} | {r['b']} | "
                         f"{_fmt(b['median'], r['metric'])} | {ratio} | "
                         f"{wait} | {target} | {met} | {checks} |")
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
