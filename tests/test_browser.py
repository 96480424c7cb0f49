"""The course as a learner meets it: JupyterLab in a real browser (issue 22), and the report opened from
another folder. ``make browser-test`` (in .ci/run); not part of ``make test``.

JupyterLab runs headless on a copy of the project (``PICSEQ_ROOT``: the runs write their reports, data and
checkpoints there, never into this checkout), Playwright drives the system's Chromium (``apt-get install
chromium``; Playwright downloads no browser), and each notebook is opened, run with Run > Run All Cells and
saved. A notebook fails on an error output, on a run that does not finish within its time, or on a progress
display of more than one line for one run. Screenshots and a summary (cells run, errors, images loaded per
notebook) go to ``$PICSEQ_BROWSER_ARTIFACTS`` (default ``reports/browser/``).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.browser
playwright = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = Path(os.environ.get("PICSEQ_BROWSER_ARTIFACTS", ROOT / "reports" / "browser"))
RUN_LIMIT_S = 1800  # one notebook at smoke size: ~2 min on 2 idle cores, 12 min seen on a busy machine
PROGRESS = re.compile(r"\d+%\|")  # a tqdm bar
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in front (the workspace may hold others)


def chromium_path() -> str:
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                 None)
    if found is None:
        pytest.fail("no Chromium on this machine: apt-get install chromium (Playwright downloads no browser)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of what a learner opens: notebooks, their seed tables and params/."""
    project = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", project / "notebooks",
                    ignore=lambda _, names: [n for n in names if not n.endswith((".ipynb", ".seeds.yaml"))])
    shutil.copytree(ROOT / "params", project / "params")
    return project


@pytest.fixture(scope="module")
def lab(project, tmp_path_factory):
    """JupyterLab on ``project``, headless; yields its URL with the token."""
    port, token = free_port(), "picseq-browser-test"
    settings = tmp_path_factory.mktemp("lab-settings")
    # every cell in the page (JupyterLab 4 draws only the visible ones by default), and no autosave racing our save
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none", "autoStartDefaultKernel": True}))
    docs = settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
    docs.parent.mkdir(parents=True)
    docs.write_text(json.dumps({"autosave": False}))
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}))
    env = {**os.environ, "PICSEQ_ROOT": str(project), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={project}",
         f"--LabApp.user_settings_dir={settings}", "--ServerApp.disable_check_xsrf=True", "--allow-root"],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"JupyterLab exited with {server.returncode} before it listened")
                time.sleep(0.5)
        yield url, token
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def prompts(page) -> list[str]:
    return page.eval_on_selector_all(f"{PANEL} .jp-CodeCell .jp-InputArea-prompt",
                                     "els => els.map(e => e.textContent.trim())")


def accept_dialogs(page) -> None:
    """A dialog JupyterLab may put up (the kernel to start): its default answer, as a learner would click."""
    for button in page.locator(".jp-Dialog .jp-mod-accept").all():
        if button.is_visible():
            button.click()


def wait_for_kernel(page, name: str, limit_s: float = 240) -> None:
    """Until the notebook's kernel is up and idle (accepting the kernel dialog where JupyterLab asks)."""
    start = time.monotonic()
    while not page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']").count():
        if time.monotonic() - start > limit_s:
            page.screenshot(path=str(ARTIFACTS / f"{name}_no_kernel.png"))
            pytest.fail(f"{name}: no idle kernel after {limit_s} s")
        accept_dialogs(page)
        time.sleep(1)


def run_all(page, name: str) -> float:
    """Run > Run All Cells, then wait until no cell is queued or running; returns the seconds it took."""
    start = time.monotonic()
    for attempt in range(3):  # a menu clicked before the notebook has focus does nothing: click it again
        page.locator(f"{PANEL} .jp-Cell").first.click()
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        tried = time.monotonic()
        while time.monotonic() - tried < 30:
            accept_dialogs(page)
            shown = prompts(page)
            if "[*]:" in shown or all(re.fullmatch(r"\[\d+\]:", p) for p in shown):
                break
            time.sleep(0.5)
        else:
            continue
        break
    while "[*]:" in prompts(page):
        if time.monotonic() - start > RUN_LIMIT_S:
            pytest.fail(f"{name}: Run All did not finish in {RUN_LIMIT_S} s")
        time.sleep(1)
    return time.monotonic() - start


def progress_lines(book) -> list[int]:
    """For every output of the saved notebook: how many progress-bar lines it holds."""
    counts = []
    for cell in (c for c in book.cells if c.cell_type == "code"):
        for out in cell.outputs:
            text = out.get("text", "") if out.output_type == "stream" else out.get("data", {}).get("text/plain", "")
            counts.append(len(PROGRESS.findall(text if isinstance(text, str) else "".join(text))))
    return counts


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_run_all_in_jupyterlab(name, lab, project, browser):
    url, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{url}/lab/tree/notebooks/{name}.ipynb?reset&token={token}")  # a fresh workspace
        page.wait_for_selector(f"{PANEL} .jp-CodeCell", timeout=120_000)
        wait_for_kernel(page, name)
        seconds = run_all(page, name)
        page.keyboard.press("Control+s")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        shown = prompts(page)
        images = page.eval_on_selector_all(f"{PANEL} .jp-OutputArea-output img",
                                           "els => els.map(e => e.complete && e.naturalWidth > 0)")
    finally:
        page.close()
    book = nbformat.read(str(project / "notebooks" / f"{name}.ipynb"), as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    errors = [f"cell {n}: {o.get('ename')}: {o.get('evalue')}" for n, c in enumerate(code) for o in c.outputs
              if o.output_type == "error"]
    summary = {"notebook": name, "code cells": len(code), "cells run": sum(bool(re.fullmatch(r"\[\d+\]:", p))
                                                                          for p in shown),
               "errors": len(errors), "images shown": len(images), "images loaded": sum(images),
               "largest progress display (lines)": max(progress_lines(book), default=0),
               "seconds": round(seconds, 1)}
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(summary, indent=1))
    assert not errors, f"{name}: error outputs: {errors}"
    assert summary["cells run"] == len(code) == sum(c.execution_count is not None for c in code), summary
    assert summary["images loaded"] == summary["images shown"], f"{name}: an image did not load: {summary}"
    assert summary["largest progress display (lines)"] <= 1, f"{name}: a progress display of several lines"


def test_a_moved_report_shows_every_image(tmp_path, browser):
    """reports/<profile>/ copied elsewhere (a CI artifact, an e-mail) still shows every figure: the newest report
    in this checkout (make rehearse or make report makes one)."""
    built = sorted(ROOT.glob("reports/*/index.html"), key=lambda p: p.stat().st_mtime)
    if not built:
        pytest.fail("no report to move: run `make report` or `make rehearse` first (make browser-test does)")
    moved = tmp_path / "elsewhere" / built[-1].parent.name
    shutil.copytree(built[-1].parent, moved, ignore=shutil.ignore_patterns("checkpoints", "*.ipynb"))
    page = browser.new_page()
    try:
        pages = [moved / "index.html", *sorted(moved.glob("[0-9][0-9]_*.html"))]
        seen = {}
        for html in pages:
            page.goto(html.as_uri())
            page.wait_for_load_state("load")
            seen[html.name] = page.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('src'), "
                                                               "e.complete && e.naturalWidth > 0])")
        page.screenshot(path=str(tmp_path / "index.png"))
    finally:
        page.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "index.png", ARTIFACTS / "moved_report_last_page.png")
    broken = {name: [src for src, ok in imgs if not ok] for name, imgs in seen.items()}
    assert sum(len(i) for i in seen.values()) > 0, "the report shows figures"
    assert not any(broken.values()), f"images that do not load once the report is moved: {broken}"
    (ARTIFACTS / "moved_report.json").write_text(json.dumps(
        {"report": str(built[-1].parent.relative_to(ROOT)), "pages": len(pages),
         "images": sum(len(i) for i in seen.values())}, indent=1))
