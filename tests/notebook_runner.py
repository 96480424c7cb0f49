"""Run a notebook's cells in this process, as papermill would, for tests of the notebooks' behaviour.

``run_notebook("05_vit_vs_resnet_cifar100_cutmix", params={...}, replace={"cutmix": "..."})`` executes
every code cell in order in a fresh namespace, injects ``params`` right after the parameters cell (like
papermill), and swaps the source of any cell whose tag is a key of ``replace`` (a learner's edit: the run is
then an experiment, kept apart). It returns the namespace, so a test can read the run's variables and its
``run.writer.content``. In-process (no kernel) so that it is fast and the ``tmp_project`` fixture's folders apply.
"""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import nbformat

from picseq_utils.inprocess import run_cells

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


def cells(name: str) -> list:
    return nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4).cells


def run_notebook(name: str, params: dict | None = None, replace: dict | None = None, stop_after: str | None = None,
                 project: Path | None = None) -> dict:
    """Execute ``notebooks/<name>.ipynb``; ``stop_after``: the tag of the last cell to run.

    ``project`` (the ``tmp_project`` fixture) gets a copy of the notebook, its seed tables and ``params/`` so that
    the run knows its defaults and writes its reports, figures and checkpoints there."""
    if project is not None:
        for path in [ROOT / "notebooks" / f"{name}.ipynb", *(ROOT / "notebooks").glob("*.seeds.yaml")]:
            shutil.copy(path, project / "notebooks")
        shutil.copytree(ROOT / "params", project / "params", dirs_exist_ok=True)
    return run_cells(name, params, replace, stop_after)


@contextmanager
def project_folder(folder: Path):
    """``folder`` as the project root for a module's notebook runs (what the ``tmp_project`` fixture does for one
    test): generated reports, figures and checkpoints go there; the notebook and params are copied in by
    ``run_notebook(..., project=folder)``."""
    from picseq_utils import paths

    (folder / "notebooks").mkdir(exist_ok=True)
    (folder / "params").mkdir(exist_ok=True)
    before, paths.ROOT_OVERRIDE = paths.ROOT_OVERRIDE, folder
    try:
        yield folder
    finally:
        paths.ROOT_OVERRIDE = before
