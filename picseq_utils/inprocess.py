"""Run a notebook's code cells in this process, as papermill runs them in a kernel: the profile's values injected
right after the ``parameters`` cell, every executed source listed (so the run knows whether it was the notebook
as written). The cost planner runs notebooks this way; so do the tests of the notebooks' behaviour, which also
swap a tagged cell for a learner's edit (``replace``) or stop after one (``stop_after``)."""
from __future__ import annotations

import nbformat

from .paths import project_root
from .sources import EXECUTED


def run_cells(name: str, params: dict | None = None, replace: dict | None = None,
              stop_after: str | None = None) -> dict:
    """Execute ``notebooks/<name>.ipynb``'s code cells in a fresh namespace; returns the namespace."""
    import matplotlib.pyplot as plt

    book = nbformat.read(str(project_root() / "notebooks" / f"{name}.ipynb"), as_version=4)
    replace = dict(replace or {})
    namespace: dict = {"__name__": "__main__", EXECUTED: []}
    for cell in book.cells:
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
