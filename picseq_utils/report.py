"""Regenerate the report: ``python -m picseq_utils.report --profile smoke|cpu|full [--only 01 04] [--force]``.

Runs the notebooks in order with papermill, keeps going when one fails, renders
``reports/<profile>/index.html``, and skips a notebook whose inputs are unchanged since its last good run."""
from __future__ import annotations

import argparse
import html
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from .metrics import _now, write_json_atomic
from .params import PROFILES, ParameterError, notebook_defaults, notebook_names, profile_parameters, schema_for, validate
from .paths import metrics_dir, project_root, reports_dir, safe_name
from .sources import code_cells, digest, lessons_digest, package_digest

REPORT_NOTEBOOK = "99_report"


def notebook_paths(notebooks_dir: Path) -> list[Path]:
    return sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"), key=lambda p: (p.stem == REPORT_NOTEBOOK, p))


def _matches(path: Path, wanted: str) -> bool:
    """``04``, ``04_vit`` and ``04_vit_vs_resnet_cifar10`` all name notebook 04."""
    return path.stem == wanted or path.stem[:2] == wanted or path.stem.startswith(f"{wanted}_")


def select(paths: list[Path], only: list[str] | None) -> list[Path]:
    if not only:
        return paths
    unknown = [o for o in only if not any(_matches(p, o) for p in paths)]
    if unknown:
        raise SystemExit(f"--only: unknown notebook(s) {unknown}; available: {', '.join(p.stem for p in paths)}")
    return [p for p in paths if any(_matches(p, o) for o in only)]


def in_dependency_order(paths: list[Path], profile: str) -> list[Path]:
    """Number order, except that a notebook reading another's results under this profile (notebook 03
    inspecting notebook 04's ViT in the full profile) runs right after it."""
    order = list(paths)
    for path in [p for p in paths if p.stem in notebook_names()]:
        try:
            values = {**notebook_defaults(path), **profile_parameters(profile, path.stem)}
            needs = schema_for(path.stem).after(values)
        except (ParameterError, ValueError, KeyError, OSError):
            continue  # a parameter problem is reported when the notebook's turn comes
        for name in needs:
            before = next((p for p in order if p.stem == name), None)
            if before is not None and order.index(before) > order.index(path):
                order.remove(path)
                order.insert(order.index(before) + 1, path)
    return order


def _current(profile: str, name: str, before: dict, source: str, output: Path) -> bool:
    """Whether the last run of ``name`` is what running it now would produce: it succeeded with the same notebook,
    parameters, package and lessons, and the record it wrote (every picseq notebook writes one) is current in
    every input, its data included."""
    from .report_tables import out_of_date

    if before.get("status") != "ok" or before.get("source") != source or not output.is_file():
        return False
    path = metrics_dir(profile) / f"{name}.json"
    if not path.is_file():
        return not before.get("wrote_record", True)  # a notebook that keeps no record (a test's tiny one)
    try:
        return not out_of_date(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError):
        return False


def _check_kernel() -> None:
    """Warn when the ``python3`` kernel would start a different interpreter than this one."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        exe = (KernelSpecManager().get_kernel_spec("python3").argv or [""])[0]
        if exe not in ("python", "python3", "{python}", sys.executable) and Path(exe).resolve() != Path(sys.executable).resolve():
            print(f"[picseq.report] warning: kernel 'python3' runs {exe}, not {sys.executable}; "
                  f"notebooks may not see picseq_utils. Run `python -m ipykernel install --sys-prefix`.", file=sys.stderr)
    except Exception as err:  # noqa: BLE001 - a diagnostic only
        print(f"[picseq.report] could not inspect the python3 kernel: {err}", file=sys.stderr)


class _ValidatedParameters(logging.Filter):
    """papermill's parser of parameters cells misses a declaration whose type is a call (``Int(1, size=True)``)
    and warns "Passed unknown parameter" for it; picseq's schema has checked every name already."""

    def __init__(self, names):
        super().__init__()
        self.names = {f"Passed unknown parameter: {name}" for name in names}

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.names


def execute(notebook: Path, output: Path, parameters: dict, timeout: int | None) -> tuple[bool, str]:
    """Run one notebook with papermill; (ok, error summary)."""
    import papermill

    quiet = _ValidatedParameters(parameters)
    logging.getLogger("papermill").addFilter(quiet)
    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name="python3",
                                   cwd=str(notebook.parent), progress_bar=False, log_output=False,
                                   execution_timeout=timeout)
        return True, ""
    except Exception as err:  # noqa: BLE001 - every failure is reported, the run goes on
        lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        return False, f"{type(err).__name__}: " + " | ".join(lines[-3:])[:600]
    finally:
        logging.getLogger("papermill").removeFilter(quiet)


def without_machine_paths(text: str) -> str:
    """The pages travel (a CI artefact, a web server, an e-mail): paths inside this checkout are written relative to
    it (``checkpoints/smoke/...``), the home folder as ``~``."""
    root = str(project_root())
    text = text.replace(root + os.sep, "").replace(root, ".")
    return text.replace(str(Path.home()) + os.sep, "~" + os.sep)


def to_html(executed: Path) -> Path:
    """Two pages per executed notebook: ``<name>.html`` (the whole notebook) and ``<name>.reading.html``
    (the reading view: text, tables and figures, code hidden)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    hidden = dict(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    for suffix, options in ((".html", {}), (".reading.html", hidden)):
        body, _ = HTMLExporter(template_name="lab", **options).from_notebook_node(nb)
        executed.with_suffix(suffix).write_text(without_machine_paths(body), encoding="utf-8")
    return executed.with_suffix(".html")


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;line-height:1.45;color:#222}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd} .meta{color:#666}
section.nb{margin:1.2em 0 2em} section.nb h3{margin-bottom:.3em} .caveat{background:#fff6dd;padding:.4em .8em;border-left:4px solid #e0b000}
.figs img{max-width:46%;margin:.3em 1% .3em 0;border:1px solid #eee;vertical-align:top}
table{border-collapse:collapse;font-size:.9em;margin:.6em 0} td,th{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
tr.failed td{background:#fdd} .status-failed{color:#b00;font-weight:bold} a{color:#0b5cad}"""


def _markdown(text: str) -> str:
    """Findings are markdown written by the notebooks (with data-borne names in them): rendered, raw HTML escaped."""
    import mistune

    return mistune.create_markdown(escape=True)(text)


def _notebook_section(name: str, info: dict, run: dict | None, out_dir: Path, apart: dict) -> str:
    links = [f'<a href="{html.escape(Path(info["html"]).name.replace(".html", suffix))}">{label}</a>'
             for suffix, label in ((".reading.html", "read"), (".html", "full notebook")) if info.get("html")]
    status = info.get("status", "?")
    took = "" if info.get("seconds") is None else f" in {info['seconds']:.0f} s"
    head = (f"<h3>{html.escape(name)}</h3><p class='meta'><span class='status-{html.escape(status)}'>{html.escape(status)}"
            f"</span>{took} · {' · '.join(links)}</p>")
    if status == "failed":
        head += f"<p class='status-failed'>{html.escape(info.get('error', ''))}</p>"
    if run is None:
        why = apart.get(name, "no completed run of this notebook in this profile")
        return f"<section class='nb'>{head}<p>No current record: {html.escape(why)}.</p></section>"
    findings = run.get("findings") or {}
    body = f"<div class='caveat'>{_markdown(findings['caveat'])}</div>" if findings.get("caveat") else ""
    body += _markdown("\n".join(f"- {line}" for line in findings.get("lines") or []))
    figures = [f for f in run.get("figures", []) if f.get("key") and Path(f["path"]).is_file()]
    for f in figures:  # copied beside the page, so that the report's folder holds everything it shows
        f["copy"] = out_dir / "figures" / safe_name(name, "notebook") / Path(f["path"]).name
        f["copy"].parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f["path"], f["copy"])
    if figures:
        body += "<div class='figs'>" + "".join(
            f'<img src="{html.escape(f["copy"].relative_to(out_dir).as_posix(), quote=True)}" '
            f'alt="{html.escape(f.get("caption", ""), quote=True)}" title="{html.escape(f.get("caption", ""), quote=True)}">'
            for f in figures) + "</div>"
    return f"<section class='nb'>{head}{body}</section>"


def render_index(profile: str, state: dict, out_dir: Path) -> Path:
    """``index.html``: every notebook's findings and key figures, the seeds' claims beside runs made under their
    conditions, links to each notebook's pages. All text from notebooks and data is escaped."""
    from .report_tables import kept_apart, load, seed_comparison

    runs = {r["notebook"]: r for r in load(profile)}
    others = kept_apart(profile)
    stale = {r["notebook"]: r["why"] for r in others if r.get("key", r["notebook"]) == r["notebook"]}
    sections = "".join(_notebook_section(name, info, runs.get(name), out_dir, stale)
                       for name, info in state["notebooks"].items() if name != REPORT_NOTEBOOK)
    apart_rows = "".join(f"<tr><td>{html.escape(r.get('key') or r['notebook'])}</td><td>{html.escape(str(r.get('finished')))}"
                         f"</td><td>{html.escape(r['why'])}</td></tr>" for r in others)
    apart_html = (f"<h2>Kept apart: experiments, runs on other data, out-of-date runs</h2><p class='meta'>None of these "
                  f"stands in the report above.</p><table><tr><th>run</th><th>finished</th><th>why it is apart</th></tr>"
                  f"{apart_rows}</table>") if others else ""
    seeds = seed_comparison(list(runs.values())).to_html(index=False, escape=True, border=0, na_rep="")
    failed = [n for n, i in state["notebooks"].items() if i.get("status") == "failed"]
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>picseq report ({html.escape(profile)})</title><style>{_STYLE}</style></head>
<body><h1>picseq report &mdash; profile <code>{html.escape(profile)}</code></h1>
<p class="meta">Generated {html.escape(state['finished'])} at commit <code>{html.escape(state.get('commit', '?'))}</code>.
{f"<span class='status-failed'>Failed: {html.escape(', '.join(failed))}.</span>" if failed else "Every notebook ran."}
Every number carries its provenance (real / bundled / stand-in); the <a href="{REPORT_NOTEBOOK}.reading.html">summary
notebook</a> lists them all.</p>
<h2>What each notebook's run shows</h2>
<p class="meta">Computed by each notebook from this run's own metrics; "read" opens the notebook without its code.</p>
{sections}
<h2>The source documents' claims beside runs made under their conditions</h2>
<p class="meta">Each claim is set only beside a run of the seed's own recipe; what still differs is listed.</p>
{seeds}
{apart_html}
</body></html>
"""
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def run_report(profile: str, only: list[str] | None = None, force: bool = False, timeout: int | None = None,
               notebooks_dir: Path | None = None) -> int:
    if profile not in PROFILES:
        raise SystemExit(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    from .runtime import git_commit

    out_dir = reports_dir(profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / "run_state.json"
    previous = json.loads(state_path.read_text()).get("notebooks", {}) if state_path.is_file() else {}
    _check_kernel()
    paths = notebook_paths(notebooks_dir or project_root() / "notebooks")
    chosen = in_dependency_order(select(paths, only), profile)
    if chosen and chosen[-1].stem != REPORT_NOTEBOOK:
        chosen += [p for p in paths if p.stem == REPORT_NOTEBOOK]  # the summary is always refreshed
    state = {"profile": profile, "commit": git_commit(), "notebooks": dict(previous)}
    for path in chosen:
        name = path.stem
        output = out_dir / path.name
        try:
            ours = name in notebook_names()
            parameters = profile_parameters(profile, name) if ours else {"profile": profile}
            if ours:
                validate(name, {**notebook_defaults(path), **parameters})
        except ParameterError as err:
            issues = "; ".join(ln.strip(" -") for ln in str(err).splitlines()[1:] if ln.startswith("  - "))
            state["notebooks"][name] = {"status": "failed", "error": f"parameter error: {issues}", "seconds": 0.0}
            print(f"[picseq.report] {name}: parameter error\n{err}", file=sys.stderr)
            continue
        before = previous.get(name, {})
        source = digest(code_cells(name, path), parameters, package_digest(), lessons_digest())
        if not force and name != REPORT_NOTEBOOK and _current(profile, name, before, source, output):
            print(f"[picseq.report] {name}: unchanged since its last successful run (notebook, parameters, package, "
                  f"lessons and data); kept (use --force to re-run)")
            state["notebooks"][name] = {**before, "status": "ok", "reused": True}
            continue
        print(f"[picseq.report] {name}: running ({profile})", flush=True)
        t0 = time.perf_counter()
        ok, error = execute(path, output, parameters, timeout)
        seconds = time.perf_counter() - t0
        record = metrics_dir(profile) / f"{name}.json"
        entry = {"status": "ok" if ok else "failed", "seconds": round(seconds, 2), "source": source,
                 "output": str(output) if output.is_file() else None, "error": error,
                 "wrote_record": record.is_file() and record.stat().st_mtime >= time.time() - seconds - 1}
        if output.is_file():
            try:
                entry["html"] = str(to_html(output))
            except Exception as err:  # noqa: BLE001 - a rendering problem must not hide the run's outcome
                entry["error"] = (entry["error"] + f" | HTML rendering failed: {err}").strip(" |")
        state["notebooks"][name] = entry
        print(f"[picseq.report] {name}: {entry['status']} in {seconds:.1f} s" + (f" - {error}" if error else ""),
              flush=True)
        state["finished"] = _now()
        write_json_atomic(state_path, state)
    state["finished"] = _now()
    failures = state["failed"] = [p.stem for p in chosen if state["notebooks"][p.stem]["status"] == "failed"]
    write_json_atomic(state_path, state)
    index = render_index(profile, state, out_dir)
    print(f"[picseq.report] index: {index}")
    if failures:
        print(f"[picseq.report] FAILED: {', '.join(failures)} (see {index})", file=sys.stderr)
    return 1 if failures else 0


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
