"""The benchmark tables: read ``benchmarks/results/<device-kind>.json`` (written by ``make bench``) and show
one row per paired benchmark; BENCHMARKS.md and the report (``99_report``) both render through here."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd



def gpu_not_measured() -> str:
    """What one H100 should do (the targets the GPU rows are held to), shown where no CUDA results file exists."""
    from .clips import GPU_TARGET
    from .training import GPU_TARGETS

    resnet, vit = GPU_TARGETS["resnet18"], GPU_TARGETS["vit"]
    return ("**GPU: not measured** — no CUDA results file in `benchmarks/results/` yet; run `make bench` on a GPU "
            f"machine (targets for one H100, bf16: ResNet-18 32-px training >= {resnet['min_value']:,} images/s "
            f"with < {resnet['max_data_wait']:.0%} data wait; ViT (patch 4, ~11M) >= {vit['min_value']:,} "
            f"images/s; seed-000 cached-embedding path >= {GPU_TARGET['min_ratio']}x end-to-end).")


BENCHMARK_COLUMNS = ["benchmark", "metric", "first side", "median", "second side", "median ", "ratio",
                     "data wait (first / second)", "share of peak (first / second)", "target", "met", "checks"]


def benchmark_results_dir() -> Path:
    return Path(__file__).resolve().parent / "results"


#: Written by ``make bench-concurrency`` beside the speed results; README's concurrency block reads it.
CONCURRENCY_RESULTS = "concurrency.json"


def speed_result_paths(folder: Path | None = None) -> list[Path]:
    """Every ``benchmarks/results/<device-kind>.json`` written by ``make bench`` (not the concurrency results)."""
    return [p for p in sorted(Path(folder or benchmark_results_dir()).glob("*.json")) if p.name != CONCURRENCY_RESULTS]


def load_benchmark_results(folder: Path | None = None) -> list[dict]:
    """The speed results, by device kind."""
    return [json.loads(path.read_text()) for path in speed_result_paths(folder)]


def is_paired(result: dict) -> bool:
    """A two-sided benchmark row (not a table such as the peak measurements)."""
    return "sides" in result and result.get("kind") not in ("table", "peak")


def gpu_measured(contents: list[dict]) -> bool:
    return any(c["device_kind"].startswith("cuda") for c in contents)


def _fmt_speed(value, metric: str) -> str:
    if value is None:
        return "-"
    if "fraction" in metric:
        return f"{value:.1%}"
    return f"{value:,.1f}" if value >= 10 else f"{value:.3g}"


def _fmt_share(side: dict) -> str:
    """``41% of 230 GFLOP/s float32``: the side's share of the peak measured in its own dtype and setting."""
    peak = f" {side['peak_gflops']:.0f} GFLOP/s" if side.get("peak_gflops") else ""
    return f"{side['peak_share']:.0%} of{peak} {side.get('dtype', '')} peak".replace("  ", " ")


def _fmt_side(name: str, side: dict) -> str:
    """The side's name, with its dtype where the name does not already say it."""
    dtype = side.get("dtype")
    return name if not dtype or dtype in name else f"{name} [{dtype}]"


def benchmark_row(result: dict) -> dict:
    """One paired benchmark as display strings (the columns of ``BENCHMARK_COLUMNS``)."""
    a, b = result["sides"][result["a"]], result["sides"][result["b"]]
    return {
        "benchmark": result["benchmark"], "metric": result["metric"],
        "first side": _fmt_side(result["a"], a), "median": _fmt_speed(a["median"], result["metric"]),
        "second side": _fmt_side(result["b"], b), "median ": _fmt_speed(b["median"], result["metric"]),
        "ratio": "-" if result["ratio"] is None else f"{result['ratio']:.2f}x",
        "data wait (first / second)": (f"{a['data_wait']:.1%} / {b['data_wait']:.1%}"
                                       if "data_wait" in a and "data_wait" in b else ""),
        "share of peak (first / second)": (f"{_fmt_share(a)} / {_fmt_share(b)}"
                                           if "peak_share" in a and "peak_share" in b else ""),
        "target": ", ".join(f"{k}={v}" for k, v in (result.get("target") or {}).items()),
        "met": {True: "yes", False: "no"}.get(result.get("target_met"), ""),
        "checks": result["checks"] if isinstance(result["checks"], str) else "; ".join(result["checks"]),
    }


def benchmark_table(folder: Path | None = None) -> pd.DataFrame:
    """Every paired benchmark of every device kind measured so far, one row each (the report's speed table)."""
    rows = []
    for content in load_benchmark_results(folder):
        env = content["environment"]
        for result in content["results"]:
            if is_paired(result):
                rows.append({"device": f"{content['device_kind']} ({env.get('device_name', '?')})",
                             **benchmark_row(result), "commit": result.get("commit", env.get("git_commit")),
                             "measured": result.get("finished", content["finished"])})
    return pd.DataFrame(rows, columns=["device", *BENCHMARK_COLUMNS, "commit", "measured"])
