"""Regenerate the report: ``python -m picseq_utils.report --profile smoke|cpu|full [--only 01 04] [--force]``.

Runs ``notebooks/NN_*.ipynb`` in order with papermill (kernel ``python3``, parameters from
``params/<profile>.yaml``), writes executed notebooks to ``reports/<profile>/``, keeps going when
one fails, then runs ``99_report.ipynb`` and renders ``reports/<profile>/index.html`` linking
every executed notebook as HTML. Exits non-zero naming the notebooks that failed.

A notebook whose source, parameters and ``picseq_utils`` code are unchanged since its last
successful run is not re-run (``--force`` re-runs it).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import html
import json
import sys
import time
from pathlib import Path

from .metrics import write_json_atomic
from .nbtools import notebook_defaults
from .params import PROFILES, NOTEBOOK_SCHEMAS, ParameterError, profile_parameters, validate
from .paths import project_root, reports_dir

REPORT_NOTEBOOK = "99_report"


def notebook_paths(notebooks_dir: Path) -> list[Path]:
    """``NN_*.ipynb`` in order, the report notebook last."""
    found = sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    return [p for p in found if p.stem != REPORT_NOTEBOOK] + [p for p in found if p.stem == REPORT_NOTEBOOK]


def _matches(path: Path, wanted: str) -> bool:
    """``04``, ``04_vit`` and ``04_vit_vs_resnet_cifar10`` all name notebook 04."""
    return path.stem == wanted or path.stem[:2] == wanted or path.stem.startswith(f"{wanted}_")


def select(paths: list[Path], only: list[str] | None) -> list[Path]:
    if not only:
        return paths
    chosen = [p for p in paths if any(_matches(p, o) for o in only)]
    unknown = [o for o in only if not any(_matches(p, o) for p in paths)]
    if unknown:
        raise SystemExit(f"--only: unknown notebook(s) {unknown}; available: {', '.join(p.stem for p in paths)}")
    return chosen


def code_fingerprint(notebook: Path, parameters: dict) -> str:
    """Hash of the notebook, its parameters and the helper package's source."""
    digest = hashlib.sha256(notebook.read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True, default=str).encode())
    for src in sorted((project_root() / "picseq_utils").rglob("*.py")):
        digest.update(src.name.encode())
        digest.update(src.read_bytes())
    return digest.hexdigest()[:20]


def _check_kernel() -> None:
    """Warn when the ``python3`` kernel would start a different interpreter than this one."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        argv = KernelSpecManager().get_kernel_spec("python3").argv
        exe = argv[0] if argv else ""
        if exe not in ("python", "python3", "{python}", sys.executable) and Path(exe).resolve() != Path(sys.executable).resolve():
            print(f"[picseq.report] warning: kernel 'python3' runs {exe}, not {sys.executable}; "
                  f"notebooks may not see picseq_utils. Run `python -m ipykernel install --sys-prefix`.", file=sys.stderr)
    except Exception as err:  # noqa: BLE001 - a diagnostic only
        print(f"[picseq.report] could not inspect the python3 kernel: {err}", file=sys.stderr)


def execute(notebook: Path, output: Path, parameters: dict, timeout: int | None) -> tuple[bool, str]:
    """Run one notebook with papermill; (ok, error summary)."""
    import papermill

    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name="python3",
                                   cwd=str(notebook.parent), progress_bar=False, log_output=False,
                                   execution_timeout=timeout)
        return True, ""
    except Exception as err:  # noqa: BLE001 - every failure is reported, the run goes on
        lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        return False, f"{type(err).__name__}: " + " | ".join(lines[-3:])[:600]


def to_html(executed: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.read(str(executed), as_version=4))
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def render_index(profile: str, state: dict, out_dir: Path) -> Path:
    """``index.html``: one row per notebook (status, wall time, links); all text escaped."""
    rows = []
    for name, info in state["notebooks"].items():
        status = info.get("status", "?")
        links = []
        for key, label in (("html", "HTML"), ("output", "notebook")):
            if info.get(key):
                links.append(f'<a href="{html.escape(Path(info[key]).name, quote=True)}">{label}</a>')
        seconds = info.get("seconds")
        rows.append(
            f"<tr class='{html.escape(status)}'><td>{html.escape(name)}</td><td>{html.escape(status)}</td>"
            f"<td>{'' if seconds is None else f'{seconds:.1f}'}</td><td>{' '.join(links)}</td>"
            f"<td>{html.escape(info.get('error', ''))}</td></tr>")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>picseq report ({html.escape(profile)})</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}} tr.failed td{{background:#fdd}} tr.skipped td{{color:#777}}</style></head>
<body><h1>picseq report &mdash; profile <code>{html.escape(profile)}</code></h1>
<p>Generated {html.escape(state['finished'])} at commit <code>{html.escape(state.get('commit', '?'))}</code>.
Start with <a href="{REPORT_NOTEBOOK}.html">the summary ({REPORT_NOTEBOOK})</a>: every metric with its provenance
(real / bundled / stand-in) beside the numbers the source documents reported.</p>
<table><tr><th>notebook</th><th>status</th><th>wall s</th><th>open</th><th>error</th></tr>
{''.join(rows)}
</table></body></html>
"""
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def run_report(profile: str, only: list[str] | None = None, force: bool = False, timeout: int | None = None,
               notebooks_dir: Path | None = None) -> int:
    if profile not in PROFILES:
        raise SystemExit(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    from .runtime import git_commit

    notebooks_dir = notebooks_dir or project_root() / "notebooks"
    out_dir = reports_dir(profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / "run_state.json"
    previous = json.loads(state_path.read_text()).get("notebooks", {}) if state_path.is_file() else {}
    _check_kernel()
    paths = notebook_paths(notebooks_dir)
    chosen = select(paths, only)
    if chosen and chosen[-1].stem != REPORT_NOTEBOOK and any(p.stem == REPORT_NOTEBOOK for p in paths):
        chosen.append(next(p for p in paths if p.stem == REPORT_NOTEBOOK))  # the summary is always refreshed
    state = {"profile": profile, "commit": git_commit(), "notebooks": dict(previous)}
    failures = []
    for path in chosen:
        name = path.stem
        output = out_dir / path.name
        try:
            parameters = profile_parameters(profile, name) if name in NOTEBOOK_SCHEMAS else {"profile": profile}
            if name in NOTEBOOK_SCHEMAS:
                validate(name, {**notebook_defaults(path), **parameters})
        except ParameterError as err:
            failures.append(name)
            problems = [ln.strip(" -") for ln in str(err).splitlines()[1:] if ln.startswith("  - ")]
            state["notebooks"][name] = {"status": "failed", "error": "parameter error: " + "; ".join(problems),
                                        "seconds": 0.0}
            print(f"[picseq.report] {name}: parameter error\n{err}", file=sys.stderr)
            continue
        fingerprint = code_fingerprint(path, parameters)
        before = previous.get(name, {})
        if (not force and name != REPORT_NOTEBOOK and before.get("status") == "ok"
                and before.get("fingerprint") == fingerprint and output.is_file()):
            print(f"[picseq.report] {name}: unchanged since its last successful run; kept (use --force to re-run)")
            state["notebooks"][name] = {**before, "status": "ok", "reused": True}
            continue
        print(f"[picseq.report] {name}: running ({profile})", flush=True)
        t0 = time.perf_counter()
        ok, error = execute(path, output, parameters, timeout)
        seconds = time.perf_counter() - t0
        entry = {"status": "ok" if ok else "failed", "seconds": round(seconds, 2), "fingerprint": fingerprint,
                 "output": str(output) if output.is_file() else None, "error": error}
        if output.is_file():
            try:
                entry["html"] = str(to_html(output))
            except Exception as err:  # noqa: BLE001 - a rendering problem must not hide the run's outcome
                entry["error"] = (entry["error"] + f" | HTML rendering failed: {err}").strip(" |")
        state["notebooks"][name] = entry
        print(f"[picseq.report] {name}: {entry['status']} in {seconds:.1f} s" + (f" - {error}" if error else ""),
              flush=True)
        if not ok:
            failures.append(name)
        state["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        write_json_atomic(state_path, state)
    state["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    state["failed"] = failures
    write_json_atomic(state_path, state)
    index = render_index(profile, state, out_dir)
    print(f"[picseq.report] index: {index}")
    if failures:
        print(f"[picseq.report] FAILED: {', '.join(failures)} (see {index})", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m picseq_utils.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="smoke", choices=PROFILES)
    parser.add_argument("--only", nargs="*", help="notebook numbers or names (e.g. 01 04); 99_report always runs")
    parser.add_argument("--force", action="store_true", help="re-run notebooks even if unchanged")
    parser.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    args = parser.parse_args(argv)
    return run_report(args.profile, args.only, args.force, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
