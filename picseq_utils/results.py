"""Committed records: ``results/<profile>/<notebook>.json``, one small file per notebook run of the cpu, gpu and full
profiles, written by ``Run.finish`` when the run was the notebook as ``make report`` runs it. Every number the README
shows comes from one of these (``make docs`` renders them; ``tests/test_docs.py`` checks it).

``python -m picseq_utils.results compare A.json B.json`` says whether two records of the same notebook agree in
every metric that is not a time (a rerun on the same machine must reproduce them exactly)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .metrics import write_json_atomic
from .paths import project_root, safe_name

#: Profiles whose canonical runs are committed (smoke and the rehearsal are pipeline checks on stand-ins).
RESULT_PROFILES = ("cpu", "gpu", "full")
#: Units and context keys that measure time or speed: they vary between runs and are not compared.
TIME_UNITS = ("s", "images/s", "clips/s", "x", "s/epoch")
_TIME_WORDS = ("second", "per_s", "speedup", "elapsed", "time")


#: ``results/`` holds one folder of notebook records per profile, and this one of GPU cost estimates.
COST_FOLDER = "cost"


def results_dir(profile: str) -> Path:
    return project_root() / "results" / safe_name(profile, "profile")


def cost_path(profile: str) -> Path:
    """Where ``python -m benchmarks.cost --write`` keeps a profile's GPU cost estimate."""
    return project_root() / "results" / COST_FOLDER / f"{safe_name(profile, 'profile')}.json"


def _relative(path: str) -> str:
    """A path inside the project as a project-relative one (records travel between machines)."""
    try:
        return Path(path).resolve().relative_to(project_root().resolve()).as_posix()
    except (ValueError, OSError):
        return path


def compact(record: dict) -> dict:
    """What a committed record keeps: the source, environment, data, weights, every metric with its conditions,
    the findings and what each fit trained; figures by name (the images themselves are generated)."""
    data = {name: {**info, "path": _relative(str(info.get("path", "")))} for name, info in record["data"].items()}
    return {
        "notebook": record["notebook"], "profile": record["profile"], "started": record["started"],
        "finished": record.get("finished"), "wall_seconds": record["wall_seconds"], "source": record.get("source"),
        "environment": record["environment"], "parameters": record["parameters"], "data": data,
        "weights": record["weights"], "findings": record["findings"],
        "metrics": [{k: m[k] for k in ("name", "value", "unit", "data", "provenance", "context")}
                    for m in record["metrics"]],
        "fits": record.get("fits", []),
        "figures": [{"name": Path(f["path"]).stem, "caption": f.get("caption", "")} for f in record["figures"]]}


def write_result(record: dict) -> Path:
    path = results_dir(record["profile"]) / f"{safe_name(record['notebook'], 'notebook')}.json"
    write_json_atomic(path, compact(record))
    return path


def load_results(profile: str | None = None) -> list[dict]:
    """Every committed notebook record (of one profile, or all), in notebook order; cost estimates are not."""
    root = project_root() / "results"
    every = sorted(p for p in root.iterdir() if p.is_dir() and p.name != COST_FOLDER) if root.is_dir() else []
    folders = [root / profile] if profile else every
    return [json.loads(p.read_text()) for folder in folders for p in sorted(folder.glob("*.json"))]


def is_time(name: str, unit: str | None = None) -> bool:
    return unit in TIME_UNITS or any(word in name.lower() for word in _TIME_WORDS)


def _comparable(value):
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if not is_time(k)}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def differences(a: dict, b: dict) -> list[str]:
    """Metrics (and their conditions) that differ between two records of one notebook, times left out."""
    ma = {m["name"]: m for m in a["metrics"] if not is_time(m["name"], m.get("unit"))}
    mb = {m["name"]: m for m in b["metrics"] if not is_time(m["name"], m.get("unit"))}
    found = [f"only in the first: {n}" for n in sorted(set(ma) - set(mb))]
    found += [f"only in the second: {n}" for n in sorted(set(mb) - set(ma))]
    for name in sorted(set(ma) & set(mb)):
        x, y = ma[name], mb[name]
        if x["value"] != y["value"]:
            found.append(f"{name}: {x['value']!r} vs {y['value']!r}")
        elif _comparable(x.get("context")) != _comparable(y.get("context")):
            found.append(f"{name}: same value, other conditions")
    claims = [(c["a"], c["b"], c["mean"], c["low"], c["high"], c["verdict"]) for c in a["findings"].get("claims", [])]
    others = [(c["a"], c["b"], c["mean"], c["low"], c["high"], c["verdict"]) for c in b["findings"].get("claims", [])]
    if claims != others:
        found.append("the findings' comparisons differ")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m picseq_utils.results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cmp = sub.add_parser("compare", help="compare two records of one notebook (times left out)")
    cmp.add_argument("first", type=Path)
    cmp.add_argument("second", type=Path)
    args = parser.parse_args(argv)
    a, b = (json.loads(p.read_text()) for p in (args.first, args.second))
    found = differences(a, b)
    n = sum(not is_time(m["name"], m.get("unit")) for m in a["metrics"])
    if found:
        print(f"{args.first} and {args.second} differ in {len(found)} of {n} metrics (times left out):")
        print("\n".join(f"  {line}" for line in found))
        return 1
    print(f"{args.first} and {args.second}: all {n} metrics that are not times are equal, and so are the findings' "
          f"comparisons")
    return 0


if __name__ == "__main__":
    sys.exit(main())
