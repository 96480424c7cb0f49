"""What a profile costs on a GPU, before the run: ``python -m benchmarks.cost --profile full`` (``make cost``).

The plan comes from the notebooks themselves (``picseq_utils.planning``): each notebook runs in this process with
the profile's parameters while ``fit``, ``evaluate`` and ``infer`` count instead of compute — the training images
x epochs of every fit, the images read forward (validation after every epoch, test reads, cached embeddings,
frozen features) and their FLOPs per image, counted on PyTorch's meta device. A loop a learner adds to a notebook is
costed with no second copy of it to update. The time on one H100 comes from a measured GPU benchmark file when one
exists (``benchmarks/results/*.json``), else from the assumption printed with the table.

``--write`` also saves the estimate as a committed record, ``results/cost/<profile>.json`` (the README's table).
``--check PROFILE`` plans each notebook with the parameters and weights a finished run recorded and compares the
plan with what that run trained (the ``fits`` of ``reports/<profile>/metrics/<notebook>.json``): exit 1 when
planned and logged training images x epochs differ by more than 1 %.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from picseq_utils.params import PROFILES, notebook_names
from picseq_utils.paths import project_root

ROOT = project_root()
RESULTS = Path(__file__).resolve().parent / "results"

#: Without a measured GPU results file: the effective training throughput assumed for one H100.
#: 100 TFLOP/s is the benchmarks' own CUDA floor for ResNet-18 at 32 px (30,000 images/s x 3.33 GFLOP per training
#: image, benchmarks/training.py), ~10 % of the H100 SXM's dense bf16 peak of 989 TFLOP/s: small models at 32 px
#: are launch- and memory-bound; the few large ones (ViT-B/16 at 224 px) would run faster, so this errs long.
ASSUMED_FLOPS = 100e12
H100_PEAK_BF16 = 989e12
#: Fixed costs FLOPs do not show (assumed): per epoch of a fit (checkpoint write, validation set-up, host syncs),
#: and per fit that torch.compile's (compilation; later fits of the same shapes hit the inductor cache).
EPOCH_OVERHEAD_S = 0.2
COMPILE_OVERHEAD_S = 30.0
TOLERANCE = 0.01
REPORT_NOTEBOOK = "99_report"


def plan(profile: str, only: list[str] | None = None, records: dict | None = None) -> dict:
    """{notebook: [Work]} for a profile, every notebook planned in the report's order (a notebook that reads
    another's checkpoint finds the planned one). ``records``: finished runs whose parameters and missing weights
    the plan takes (``--check``)."""
    from picseq_utils.params import notebook_defaults, profile_parameters, schema_for
    from picseq_utils.planning import plan_notebook, scratch_project
    from picseq_utils.report import in_dependency_order, notebook_paths

    paths = [p for p in notebook_paths(project_root() / "notebooks") if p.stem != REPORT_NOTEBOOK]
    order = [p.stem for p in in_dependency_order(paths, profile)]
    if only:  # what was asked, and the notebooks whose checkpoints those read (planned first)
        needed, todo = set(), list(only)
        while todo:
            name = todo.pop()
            if name not in needed:
                needed.add(name)
                values = {**notebook_defaults(project_root() / "notebooks" / f"{name}.ipynb"),
                          **profile_parameters(profile, name)}
                todo.extend(schema_for(name).after(values))
        order = [n for n in order if n in needed]
    plans = {}
    with scratch_project():
        for notebook in order:
            record = (records or {}).get(notebook)
            if records is not None and record is None:
                continue
            parameters = profile_parameters(profile, notebook) if record is None else record["parameters"]
            missing = {w.get("requested") for w in (record or {}).get("weights", {}).values()
                       if isinstance(w, dict) and w.get("fallback")}
            plans[notebook] = plan_notebook(notebook, profile, parameters, missing_weights=missing)
    return {n: plans[n] for n in notebook_names() if n in plans and (not only or n in only)}


# --------------------------------------------------------------------------- throughput

def throughput() -> tuple[float, str]:
    """(effective FLOP/s on one H100, where the number comes from): the median achieved training FLOP/s of picseq's
    side in a measured GPU results file (an H100 preferred), else ``ASSUMED_FLOPS``."""
    found = []
    for path in sorted(RESULTS.glob("*.json")):
        try:
            content = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        env = content.get("environment", {})
        name = f"{content.get('device_kind', '')} {env.get('device_name', '')}"
        if not (env.get("cuda_available") and env.get("device", "").startswith("cuda")) and "h100" not in name.lower():
            continue
        achieved = [side["gflops"] * 1e9 for result in content.get("results", [])
                    if str(result.get("benchmark", "")).startswith("train ")
                    for side_name, side in result.get("sides", {}).items()
                    if side_name.startswith("picseq") and side.get("gflops")]
        if achieved:
            found.append(("h100" in name.lower(), path, name.strip(), sorted(achieved)[len(achieved) // 2]))
    if found:
        _, path, name, rate = max(found, key=lambda f: (f[0], f[1].stat().st_mtime))
        return rate, (f"measured: {rate / 1e12:.0f} TFLOP/s achieved in training ({path.name}, {name}; "
                      f"{rate / H100_PEAK_BF16:.0%} of H100 dense bf16 peak)")
    return ASSUMED_FLOPS, (f"assumed {ASSUMED_FLOPS / 1e12:.0f} TFLOP/s effective bf16 = "
                           f"~{ASSUMED_FLOPS / H100_PEAK_BF16:.0%} of H100 dense bf16 peak "
                           f"{H100_PEAK_BF16 / 1e12:.0f} TFLOP/s (the benchmarks' CUDA floor for ResNet-18 at 32 px: "
                           f"30,000 img/s x 3.33 GFLOP; no GPU results file in benchmarks/results yet)")


# --------------------------------------------------------------------------- the table

@dataclass
class Row:
    notebook: str
    kind: str
    fits: int = 0
    images: int = 0
    forward: int = 0
    train_flops: float = 0.0
    forward_flops: float = 0.0
    epochs: int = 0
    compiled: int = 0

    def seconds(self, rate: float) -> float:
        return ((self.train_flops + self.forward_flops) / rate + self.epochs * EPOCH_OVERHEAD_S
                + self.compiled * COMPILE_OVERHEAD_S)

    def add(self, other: "Row") -> "Row":
        for name in ("fits", "images", "forward", "train_flops", "forward_flops", "epochs", "compiled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


def rows(notebook: str, works: list) -> list[Row]:
    """The plan summed per model kind."""
    out: dict[str, Row] = {}
    for w in works:
        out.setdefault(w.model, Row(notebook, w.model)).add(
            Row(notebook, w.model, int(w.fit), w.train_images, w.forward_images, w.train_flops, w.forward_flops,
                w.epochs, int(w.compiled)))
    return list(out.values())


def wall_seconds(works: list, rate: float, gpus: int) -> float:
    """A notebook's wall time on ``gpus`` GPUs: its works in order, where the items of one ``run.map`` (tagged
    by the plan) run at once, each on the first GPU free, in the order submitted (as Ray hands them out); work
    outside a map, and the next map, wait for the map before them. The longest chain, not total / gpus."""
    import heapq

    total, items = 0.0, {}

    def close():
        nonlocal total, items
        free = [0.0] * max(1, gpus)
        for seconds in items.values():
            heapq.heappush(free, heapq.heappop(free) + seconds)
        total += max(free)
        items = {}

    current = None
    for w in works:
        seconds = Row("", "", int(w.fit), w.train_images, w.forward_images, w.train_flops, w.forward_flops,
                      w.epochs, int(w.compiled)).seconds(rate)
        stage = w.stage[0] if w.stage else None
        if stage != current and items:
            close()
        current = stage
        if stage is None:
            total += seconds
        else:
            items[w.stage[1]] = items.get(w.stage[1], 0.0) + seconds
    if items:
        close()
    return total


#: GPU counts whose wall time the committed estimate keeps (the README's table).
GPU_COUNTS = (1, 4, 8)


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def estimate(profile: str) -> tuple[list[Row], float, str, dict]:
    """(rows per notebook and model kind, FLOP/s, where that comes from, {notebook: [Work]})."""
    rate, source = throughput()
    plans = plan(profile)
    return [row for notebook, works in plans.items() for row in rows(notebook, works)], rate, source, plans


def render_wall(plans: dict, rate: float, counts) -> str:
    """Wall time of every notebook on 1 and on ``counts`` GPUs (the notebooks one after another)."""
    counts = sorted({1, *counts})
    lines = [f"wall time with WORKERS=N (one GPU each; the fits of a run.map at once, the notebooks one after "
             f"another):", f"{'notebook':<34} " + " ".join(f"{f'{n} GPU' + 's' * (n > 1):>10}" for n in counts)]
    totals = dict.fromkeys(counts, 0.0)
    for notebook, works in plans.items():
        walls = {n: wall_seconds(works, rate, n) for n in counts}
        lines.append(f"{notebook:<34} " + " ".join(f"{duration(walls[n]):>10}" for n in counts))
        totals = {n: totals[n] + walls[n] for n in counts}
    lines.append(f"{'TOTAL':<34} " + " ".join(f"{duration(totals[n]):>10}" for n in counts))
    return "\n".join(lines)


def render(table: list[Row], rate: float, source: str, profile: str) -> str:
    lines = [f"GPU cost of profile '{profile}' on one H100 — a fresh run of every notebook, planned by the notebooks",
             f"throughput: {source}",
             f"overheads (assumed): {EPOCH_OVERHEAD_S:g} s per epoch of a fit, {COMPILE_OVERHEAD_S:g} s per "
             f"torch.compile'd fit; FLOPs: matmul/conv/attention as FlopCounterMode counts them (meta device)",
             "images: training images x epochs; fwd: forward-only images (validation each epoch, test reads, caches, "
             "features)"]
    head = f"{'notebook':<10} {'model kind':<46} {'fits':>5} {'train img x ep':>15} {'fwd img':>13} " \
           f"{'GFLOP/img':>10} {'fwd GFLOP':>10} {'PFLOP':>9} {'H100 time':>10}"
    lines += [head, "-" * len(head)]
    grand = Row("", "")
    for notebook in dict.fromkeys(r.notebook for r in table):
        total = Row(notebook, "")
        for r in (r for r in table if r.notebook == notebook):
            total.add(r)
            lines.append(f"{notebook[:2]:<10} {r.kind[:46]:<46} {r.fits:>5} {r.images:>15,} {r.forward:>13,} "
                         f"{r.train_flops / r.images / 1e9 if r.images else 0:>10.3f} "
                         f"{r.forward_flops / r.forward / 1e9 if r.forward else 0:>10.3f} "
                         f"{(r.train_flops + r.forward_flops) / 1e15:>9.2f} {duration(r.seconds(rate)):>10}")
        lines.append(f"{notebook[:2] + ' total':<10} {'':<46} {total.fits:>5} {total.images:>15,} {total.forward:>13,} "
                     f"{'':>10} {'':>10} {(total.train_flops + total.forward_flops) / 1e15:>9.2f} "
                     f"{duration(total.seconds(rate)):>10}")
        grand.add(total)
    lines += ["-" * len(head),
              f"{'TOTAL':<10} {'':<46} {grand.fits:>5} {grand.images:>15,} {grand.forward:>13,} {'':>10} {'':>10} "
              f"{(grand.train_flops + grand.forward_flops) / 1e15:>9.2f} {duration(grand.seconds(rate)):>10}  "
              f"(= {grand.seconds(rate) / 3600:.2f} H100-hours)"]
    return "\n".join(lines)


def record(table: list[Row], rate: float, source: str, profile: str, plans: dict) -> Path:
    """The estimate as a committed record, ``results/cost/<profile>.json`` (the README's cost table reads it)."""
    from picseq_utils.metrics import write_json_atomic
    from picseq_utils.results import cost_path
    from picseq_utils.runtime import git_commit

    notebooks = []
    for notebook in dict.fromkeys(r.notebook for r in table):
        total = Row(notebook, "")
        for r in (r for r in table if r.notebook == notebook):
            total.add(r)
        notebooks.append({"notebook": notebook, "fits": total.fits, "images": total.images, "forward": total.forward,
                          "flops": total.train_flops + total.forward_flops, "seconds": total.seconds(rate),
                          "wall_seconds": {str(n): wall_seconds(plans[notebook], rate, n) for n in GPU_COUNTS}})
    path = cost_path(profile)
    write_json_atomic(path, {"profile": profile, "commit": git_commit(), "throughput": source, "rate": rate,
                             "fits": sum(n["fits"] for n in notebooks), "flops": sum(n["flops"] for n in notebooks),
                             "seconds": sum(n["seconds"] for n in notebooks),
                             "wall_seconds": {str(g): sum(n["wall_seconds"][str(g)] for n in notebooks)
                                              for g in GPU_COUNTS}, "notebooks": notebooks})
    return path


# --------------------------------------------------------------------------- --check

def metrics_path(profile: str, notebook: str, reports: Path | None = None) -> Path:
    return (reports or ROOT / "reports") / profile / "metrics" / f"{notebook}.json"


def check(profile: str, out=sys.stdout, reports: Path | None = None) -> int:
    """Planned vs logged training images x epochs per notebook of a finished run of ``profile`` (``reports``: the
    folder holding ``<profile>/metrics``); 1 when any differs by more than TOLERANCE, 2 when nothing has run."""
    records = {}
    for notebook in notebook_names():
        path = metrics_path(profile, notebook, reports)
        if path.is_file() and notebook != REPORT_NOTEBOOK:
            records[notebook] = json.loads(path.read_text())
    if not records:
        print(f"nothing to check: no metrics in {metrics_path(profile, '', reports).parent}", file=out)
        return 2
    return compare_runs(profile, records, out)


def compare_runs(profile: str, records: dict, out=sys.stdout) -> int:
    """Each recorded run against the plan its notebook makes with the parameters and weights the run recorded."""
    print(f"plan vs run, profile '{profile}' (training images x epochs; the plan made by each notebook with the "
          f"parameters and weights the run recorded)", file=out)
    planned = plan(profile, records=records)
    print(f"{'notebook':<34} {'fits plan/run':>14} {'planned':>14} {'logged':>14} {'diff':>8}", file=out)
    failed = []
    for notebook, record in records.items():
        works = [w for w in planned[notebook] if w.fit]
        fits = record.get("fits") or []
        logged = sum(int(f["samples_per_epoch"]) * int(f["epochs"]) for f in fits)
        total = sum(w.train_images for w in works)
        diff = abs(total - logged) / max(total, logged) if max(total, logged) else 0.0
        bad = diff > TOLERANCE or len(works) != len(fits)
        failed += [notebook] if bad else []
        print(f"{notebook:<34} {len(works):>6}/{len(fits):<7} {total:>14,} {logged:>14,} {diff:>7.1%}"
              f"{'  DIFFERS' if bad else ''}", file=out)
    if failed:
        print(f"the plan differs from the run in: {', '.join(failed)}", file=out)
        return 1
    print(f"every plan matches its run within {TOLERANCE:.0%}", file=out)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--profile", default="full", choices=PROFILES, help="print the cost estimate of a profile")
    group.add_argument("--check", metavar="PROFILE", choices=PROFILES,
                       help="compare the plan with reports/PROFILE/metrics (exit 1 when they differ by > 1 %%)")
    parser.add_argument("--write", action="store_true", help="also write the estimate to results/cost/PROFILE.json")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="also the wall time on N GPUs (default: PICSEQ_WORKERS, else 4 and 8)")
    args = parser.parse_args(argv)
    if args.check:
        return check(args.check)
    from picseq_utils.parallel import workers

    counts = [args.workers] if args.workers else [workers()] if workers() > 1 else [4, 8]
    table, rate, source, plans = estimate(args.profile)
    print(render(table, rate, source, args.profile))
    print(render_wall(plans, rate, counts))
    if args.write:
        print(f"wrote {record(table, rate, source, args.profile, plans)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
