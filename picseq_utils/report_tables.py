"""Tables for ``99_report``: every metric with its provenance, and our numbers beside the seeds'."""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from .metrics import load_metrics
from .paths import reports_dir

def _format(value, unit) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if unit == "accuracy":
            return f"{value:.2%}"
        if unit == "parameters":
            return f"{value / 1e6:.2f}M"
        if unit == "s":
            return f"{value:,.1f} s"
        return f"{value:.4g}" if isinstance(value, float) else f"{value:,}"
    return str(value)


def _with_std(value, context: dict, unit) -> str:
    return _format(value, unit) + (f" ± {_format(context['std'], unit)}" if context.get("std") is not None else "")


def _provenance_label(entry: dict) -> str:
    return ", ".join("stand-in" if k == "standin" else k for k in entry.get("provenance") or []) or "-"


def metrics_table(runs: list[dict]) -> pd.DataFrame:
    rows = []
    for run in runs:
        for entry in run.get("metrics", []):
            context = entry.get("context") or {}
            rows.append({"notebook": run["notebook"], "metric": entry["name"],
                         "value": _format(entry.get("value"), entry.get("unit")),
                         "± std": _format(context.get("std"), entry.get("unit")) if "std" in context else "",
                         "provenance": _provenance_label(entry), "data": ", ".join(entry.get("data") or []) or "-",
                         "context": ", ".join(f"{k}={v}" for k, v in context.items() if k != "std")[:160]})
    return pd.DataFrame(rows, columns=["notebook", "metric", "value", "± std", "provenance", "data", "context"])


def seed_comparison(runs: list[dict]) -> pd.DataFrame:
    """Each source document's claim (``notebooks/<notebook>.seeds.yaml``) beside the run of its own recipe, with
    what that run used and what still differs (computed when it ran); a claim without such a run says so."""
    from .recipes import all_claims

    latest = {(run["notebook"], entry["name"]): (entry, run) for run in runs for entry in run.get("metrics", [])}
    rows = []
    for claim in all_claims():
        entry, run = latest.get((claim["notebook"], claim["metric"]), ({}, None))
        context = entry.get("context") or {}
        ours = ("no comparable run in this profile" if not entry
                else f"not measured: {context.get('note', 'see the notebook')}" if entry["value"] is None
                else _with_std(entry["value"], context, entry.get("unit")))
        rows.append({
            "seed": claim["seed"], "notebook": claim["notebook"],
            "claim": f"{claim['kind']} {_format(claim['value'], claim['unit'])} ({claim['section']})",
            "the seed's recipe": claim["conditions"], "our run of that recipe": ours,
            "provenance": _provenance_label(entry), "what still differs": str(context.get("differs", "-")),
            "profile / device": f"{run['profile']} / {run.get('environment', {}).get('device_name', '?')}" if run else "-",
        })
    return pd.DataFrame(rows)


def accuracy_and_time_table(runs: list[dict]) -> pd.DataFrame:
    """Every model whose run recorded both its test accuracy (``test_acc_<key>``) and its training time
    (``train_seconds_<key>``): the accuracy beside its time to the target validation accuracy, training seconds and
    images/s (what "better than the seeds" means for speed)."""
    rows = []
    for run in runs:
        by_name = {m["name"]: m for m in run.get("metrics", [])}
        for name, entry in by_name.items():
            key = name.removeprefix("test_acc_")
            if key == name or f"train_seconds_{key}" not in by_name:
                continue
            tta = next((m for n, m in by_name.items() if n.startswith("seconds_to_val_") and n.endswith(f"pct_{key}")),
                       None)
            target = (tta or {}).get("context", {}).get("target")
            context = entry.get("context") or {}
            rows.append({
                "notebook": run["notebook"], "model": key,
                "test accuracy": _with_std(entry.get("value"), context, "accuracy"),
                "seeds": context.get("n"),
                "time to target": "-" if tta is None else (
                    f"{tta['value']:.1f} s to {target:.0%}" if tta.get("value") is not None
                    else f"not reached ({target:.0%})"),
                "train s": _format(by_name[f"train_seconds_{key}"].get("value"), "s"),
                "images/s": _format((by_name.get(f"images_per_s_{key}") or {}).get("value"), None),
                "provenance": _provenance_label(entry),
                "device": run.get("environment", {}).get("device_name", "-"),
            })
    return pd.DataFrame(rows, columns=["notebook", "model", "test accuracy", "seeds", "time to target", "train s",
                                       "images/s", "provenance", "device"])


def findings_markdown(runs: list[dict]) -> str:
    """Every notebook's computed conclusions (its "What this run shows"), with their provenance caveat."""
    parts = []
    for run in runs:
        findings = run.get("findings") or {}
        if findings.get("lines"):
            parts.append(f"### {run['notebook']}\n\n" + (f"*{findings['caveat']}*\n\n" if findings.get("caveat") else "")
                         + "\n".join(f"- {line}" for line in findings["lines"]))
    return "\n\n".join(parts) or "No notebook has recorded findings in this profile yet."


def provenance_table(runs: list[dict]) -> pd.DataFrame:
    """Which data sets and weights each notebook used, and which run its numbers came from."""
    rows = []
    for run in runs:
        env = run.get("environment", {})
        rows.append({
            "notebook": run["notebook"] + (f" @ {run['variant']}" if run.get("variant") else ""),
            "run": f"{run.get('started', '?')} -> {run.get('finished', '?')}", "profile": run.get("profile"),
            "data": "; ".join(str(d.get("label", name)) for name, d in run.get("data", {}).items()) or "-",
            "weights": "; ".join(f"{k}: {v.get('weights', v) if isinstance(v, dict) else v}"
                                 for k, v in run.get("weights", {}).items()) or "-",
            "device": env.get("device_name", "-"), "torch": env.get("torch", "-"), "commit": env.get("git_commit", "-"),
            "wall s": run.get("wall_seconds"), "error": run.get("error", "")})
    return pd.DataFrame(rows)


def figure_list(runs: list[dict]) -> list[tuple[str, Path, str]]:
    return [(run["notebook"], Path(fig["path"]), fig.get("caption", "")) for run in runs
            for fig in run.get("figures", []) if Path(fig["path"]).is_file()]


def notebook_timings(profile: str) -> pd.DataFrame:
    """Wall time per notebook of the last report run (written by ``picseq_utils.report``)."""
    path = reports_dir(profile) / "run_state.json"
    if not path.is_file():
        return pd.DataFrame(columns=["notebook", "status", "seconds"])
    return pd.DataFrame([{"notebook": k, "status": v.get("status"), "seconds": v.get("seconds")}
                         for k, v in json.loads(path.read_text()).get("notebooks", {}).items()])


def out_of_date(record: dict) -> list[str]:
    """What changed since a record was made ([] = it is what ``make report`` would produce now)."""
    from .sources import current_source, stale_parts

    if record.get("error") or record.get("status") != "complete":
        return ["no complete run"]
    try:
        return stale_parts(record.get("source"), current_source(record["notebook"], record["profile"],
                                                                record.get("data") or {}))
    except Exception as err:  # noqa: BLE001 - a notebook or profile that no longer exists, say
        return [f"cannot be checked ({type(err).__name__}: {err})"]


def load(profile: str) -> list[dict]:
    """The records the report stands on: each notebook's own run, current in every input (notebook, parameters,
    package, lessons, data). Runs on other data, experiments and out-of-date runs are ``kept_apart``."""
    return [r for r in load_metrics(profile) if r.get("notebook") != "99_report" and not out_of_date(r)]


def kept_apart(profile: str) -> list[dict]:
    """Records that are not the report's: runs on other data, experiments (an edited or interactive run) and
    out-of-date runs, each with ``why``."""
    rows = []
    for r in load_metrics(profile, variants=True):
        if r.get("notebook") == "99_report":
            continue
        if r.get("variant") or (r.get("key") or r["notebook"]) != r["notebook"]:
            why = (f"run on other data ({r['variant']})" if r.get("variant")
                   else f"experiment: {(r.get('source') or {}).get('why') or 'not the notebook as make report runs it'}")
        elif stale := out_of_date(r):
            why = "out of date: " + ", ".join(stale) + " changed since it ran"
        else:
            continue
        rows.append({**r, "why": why})
    return rows


def figure_heading(notebook: str, caption: str) -> str:
    """HTML heading of a figure in the report. Captions can carry text from data (a user's clip ids,
    file names), so both parts are escaped: a caption is shown as text, never run as markup."""
    return f"<p><b>{html.escape(str(notebook))}</b> &mdash; {html.escape(str(caption))}</p>"
