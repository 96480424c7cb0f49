"""Run a notebook's cells in this process, as papermill would, for tests of the notebooks' behaviour.

``run_notebook("05_vit_vs_resnet_cifar100_cutmix", params={...}, replace={"cutmix": "..."})`` executes
every code cell in order in a fresh namespace, injects ``params`` right after the parameters cell (like
papermill), and swaps the source of any cell whose tag is a key of ``replace`` (a learner's edit: the run is then an experiment, kept apart). It
returns the namespace, so a test can read the run's variables and its ``run.writer.content``.

In-process (no kernel) so that it is fast and the ``tmp_project`` fixture's folders apply.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import nbformat

from picseq_utils.sources import EXECUTED

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


def cells(name: str) -> list:
    return nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4).cells


def run_notebook(name: str, params: dict | None = None, replace: dict | None = None, stop_after: str | None = None,
                 project: Path | None = None) -> dict:
    """Execute ``notebooks/<name>.ipynb``; ``stop_after``: the tag of the last cell to run.

    ``project`` (the ``tmp_project`` fixture) gets a copy of the notebook and ``params/`` so that the run
    knows its defaults and writes its reports, figures and checkpoints there."""
    import matplotlib.pyplot as plt

    if project is not None:
        for path in [ROOT / "notebooks" / f"{name}.ipynb", *(ROOT / "notebooks").glob("*.seeds.yaml")]:
            shutil.copy(path, project / "notebooks")
        shutil.copytree(ROOT / "params", project / "params", dirs_exist_ok=True)
    replace = dict(replace or {})
    namespace: dict = {"__name__": "__main__", EXECUTED: []}  # what ran, as a kernel's input history would say
    for cell in cells(name):
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        source = next((replace.pop(t) for t in tags if t in replace), cell.source)
        namespace[EXECUTED].append(source)
        exec(compile(source, f"<{name} cell {tags or ''}>", "exec"), namespace)  # noqa: S102 - our own notebooks
        if "parameters" in tags and params:
            namespace[EXECUTED].append("\n".join(f"{k} = {v!r}" for k, v in params.items()))  # papermill's cell
            namespace.update(params)
        plt.close("all")
        if stop_after is not None and stop_after in tags:
            break
    if replace:
        raise KeyError(f"no cell of {name} is tagged {sorted(replace)}")
    return namespace
