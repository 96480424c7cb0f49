"""The numbers in README.md and BENCHMARKS.md, generated from committed records (``make docs``).

README.md holds blocks between ``<!-- generated: NAME -->`` and ``<!-- end generated -->``; ``render`` fills each
from the committed records (``results/<profile>/<notebook>.json``, ``results/cost/<profile>.json``,
``benchmarks/results/*.json``) and BENCHMARKS.md is written whole by the benchmarks. ``--check`` exits 1 when a
file differs from what the records give. ``record_numbers`` is every number the committed records hold (values,
and numbers inside their texts): ``tests/test_docs.py`` fails when a number written by hand in either file, outside
a generated block, is not one of them.

    python -m tools.docs            # rewrite the generated blocks and BENCHMARKS.md
    python -m tools.docs --check    # exit 1 if either is out of date
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _metric_value(entry: dict) -> str:
    value, context = entry["value"], entry.get("context") or {}
    if value is None:
        return "not measured"
    if entry.get("unit") == "accuracy":
        std = context.get("std")
        return f"{value:.2%}" + (f" ± {100 * std:.2f}" if std is not None else "")
    return f"{value:,.4g}" if isinstance(value, float) else f"{value:,}"


def results_block(profile: str) -> str:
    """Every committed record of a profile: how it was made, its findings verbatim, its test accuracies."""
    from picseq_utils.results import load_results

    parts = []
    for record in load_results(profile):
        env, source = record["environment"], record.get("source") or {}
        precisions = sorted({f.get("precision", "?") for f in record.get("fits", [])})
        data = "; ".join(f"{d['label']} ({d['n_train']:,} train / {d['n_test']:,} test)"
                         for d in record["data"].values())
        parts += [f"#### {record['notebook']}", "",
                  f"`make report PROFILE={profile} ONLY={record['notebook'][:2]}` — {_duration(record['wall_seconds'])} "
                  f"wall time, commit `{env.get('git_commit')}`, {env.get('cpu_model')} ({env.get('torch_threads')} "
                  f"threads, {env.get('cpu_capability')}"
                  + (f", capped: {env['onednn_max_cpu_isa']}" if env.get("onednn_max_cpu_isa") else "")
                  + f"), torch {env.get('torch')}, training in {', '.join(precisions) or '-'}. Data: {data or '-'}. "
                  f"Record: [`results/{profile}/{record['notebook']}.json`](results/{profile}/{record['notebook']}.json)"
                  f"{'' if source.get('as_notebook') else ' (not the notebook as make report runs it!)'}.", ""]
        findings = record.get("findings") or {}
        if findings.get("caveat"):
            parts += [f"*{findings['caveat']}*", ""]
        parts += [f"- {line}" for line in findings.get("lines", [])] + [""]
        rows = [m for m in record["metrics"] if m.get("unit") == "accuracy" and m["name"].startswith("test_acc")
                and "ci_low" not in (m.get("context") or {})]
        if rows:
            parts += ["| test accuracy | mean ± std (points) | n |", "|---|---|---|"]
            parts += [f"| `{m['name']}` | {_metric_value(m)} | {(m.get('context') or {}).get('n', 1)} |" for m in rows]
            parts.append("")
    return "\n".join(parts) if parts else f"No committed record of the {profile} profile yet.\n"


def cost_block() -> str:
    """The GPU cost estimate of the gpu and full profiles, from ``results/cost/<profile>.json`` (``make cost``)."""
    from picseq_utils.results import cost_path

    rows, totals, basis = {}, {}, ""
    for profile in ("gpu", "full"):
        path = cost_path(profile)
        if not path.is_file():
            continue
        content = json.loads(path.read_text())
        basis = content["throughput"]
        totals[profile] = content
        for row in content["notebooks"]:
            rows.setdefault(row["notebook"], {})[profile] = row
    if not rows:
        return "No committed cost estimate yet: run `make cost PROFILE=full` and `make cost PROFILE=gpu`.\n"
    lines = [f"Estimated on one H100 from {basis}.", "",
             "| notebook | full: fits | full: PFLOP | full: H100 | gpu: fits | gpu: PFLOP | gpu: H100 |",
             "|---|---|---|---|---|---|---|"]
    for name, by_profile in rows.items():
        cells = []
        for profile in ("full", "gpu"):
            row = by_profile.get(profile)
            cells += ([str(row["fits"]), f"{row['flops'] / 1e15:,.1f}", _duration(row["seconds"])] if row
                      else ["-", "-", "-"])
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for profile in ("full", "gpu"):
        t = totals.get(profile)
        cells += ([str(t["fits"]), f"{t['flops'] / 1e15:,.1f}", f"**{_duration(t['seconds'])}**"] if t
                  else ["-", "-", "-"])
    lines.append("| **total** | " + " | ".join(cells) + " |")
    return "\n".join(lines + wall_lines(totals)) + "\n"


def wall_lines(totals: dict) -> list[str]:
    """Wall time with WORKERS=N GPUs, from the same records (``benchmarks.cost.wall_seconds``)."""
    walls = {profile: t["wall_seconds"] for profile, t in totals.items() if t.get("wall_seconds")}
    if not walls:
        return []
    counts = sorted({int(n) for w in walls.values() for n in w})
    lines = ["", "Wall time with `WORKERS=N`, one H100 each (the fits of a `run.map` at once, in the order "
             "submitted; the notebooks one after another):", "",
             "| profile | " + " | ".join(f"{n} GPU" + "s" * (n > 1) for n in counts) + " |",
             "|---|" + "---|" * len(counts)]
    for profile, wall in walls.items():
        lines.append(f"| {profile} | " + " | ".join(_duration(wall[str(n)]) if str(n) in wall else "-"
                                                   for n in counts) + " |")
    return lines


def speed_block() -> str:
    from benchmarks.core import readme_speed_block

    return readme_speed_block().rstrip("\n") + "\n"


def concurrency_block() -> str:
    """Two runs at once against one alone, from ``benchmarks/results/concurrency.json`` (``make bench-concurrency``)."""
    from benchmarks.tables import CONCURRENCY_RESULTS, benchmark_results_dir

    path = benchmark_results_dir() / CONCURRENCY_RESULTS
    if not path.is_file():
        return "Not measured yet: `make bench-concurrency`.\n"
    content = json.loads(path.read_text())
    env = content.get("environment", {})
    lines = [f"Measured by `make bench-concurrency` ([{path.name}](benchmarks/results/{path.name}); "
             f"{env.get('cpu_model', 'CPU')}, {env.get('torch_threads', '?')} threads per process, commit "
             f"`{str(env.get('git_commit', '?'))[:8]}`):", "",
             "| workload | cores shared | alone | two at once (each) | slowest / alone |", "|---|---|---|---|---|"]
    for row in content["results"]:
        together = ", ".join("stopped" if t is None else f"{t:.1f} s" for t in row["together_s"])
        slowdown = f"{row['slowdown']:.1f}x" if row["slowdown"] else f"> {row['cap']:g}x (stopped)"
        shared = {"before": "no (before)", "after": "turns (picseq now)"}[row["setting"]]
        lines.append(f"| {row['label']} | {shared} | {row['alone_s']:.1f} s | {together} | {slowdown} |")
    return "\n".join(lines) + "\n"


BLOCKS = {"results-cpu": lambda: results_block("cpu"), "results-gpu": lambda: results_block("gpu"),
          "results-full": lambda: results_block("full"), "cost": cost_block, "speed": speed_block,
          "concurrency": concurrency_block}


def render(text: str) -> str:
    """``text`` with every generated block filled from the committed records."""
    def fill(match):
        name = match["name"]
        if name not in BLOCKS:
            raise KeyError(f"README.md names an unknown generated block {name!r}; known: {', '.join(BLOCKS)}")
        return match.group(1) + BLOCKS[name]() + match.group(4)

    return BLOCK.sub(fill, text)


def handwritten(text: str) -> str:
    """What a person wrote: generated blocks, code, links' targets and HTML comments taken out."""
    text = BLOCK.sub("", text)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return re.sub(r"https?://\S+", "", text)


#: A number as prose writes it: not part of a name such as ResNet-18, CIFAR-10, ViT-B/16 or x32.
NUMBER = re.compile(r"(?<![\w/.\-])(\d[\d,]*(?:\.\d+)?)(?![\w])")


def numbers_in(text: str) -> list[str]:
    return [n.rstrip(".,").replace(",", "") for n in NUMBER.findall(text) if n.rstrip(".,")]


def _renderings(value: float) -> set[str]:
    out = set()
    for x in (abs(value), abs(value) * 100):
        for digits in range(4):
            out.add(f"{x:.{digits}f}")
        if float(x).is_integer():
            out.add(str(int(x)))
    return out


def record_numbers() -> set[str]:
    """Every number the committed records hold: values in every rendering prose uses (as is and x100, 0-3
    decimals), and the numbers written inside their texts (findings, conditions, sections)."""
    found: set[str] = set()

    def walk(value):
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, (int, float)):
            found.update(_renderings(float(value)))
        elif isinstance(value, str):
            found.update(numbers_in(value))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for path in [*(ROOT / "results").rglob("*.json"), *(ROOT / "benchmarks" / "results").glob("*.json")]:
        walk(json.loads(path.read_text()))
    for path in [*(ROOT / "notebooks").glob("*.seeds.yaml"), *(ROOT / "params").glob("*.yaml")]:
        walk(yaml.safe_load(path.read_text()))
    found.update(path.name[:2] for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))  # "notebook 04"
    return found


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from benchmarks.core import MARKDOWN, render_markdown

    readme = README.read_text()
    wanted = {README: render(readme), MARKDOWN: render_markdown()}
    stale = [path for path, text in wanted.items() if path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path.name} is not what the committed records give: run `make docs`")
        return 1 if stale else 0
    for path, text in wanted.items():
        path.write_text(text)
    print("wrote " + ", ".join(p.name for p in wanted) + " from the committed records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
