"""Notebook hygiene: strip outputs before committing, and check that committed notebooks are clean.

``python -m picseq_utils.nbtools strip notebooks/*.ipynb`` (``make strip``) removes outputs and
execution counts; ``check`` lists problems: stored outputs, a kernel other than ``python3``, a
missing or non-literal ``parameters`` cell. Cells tagged ``nbval-check-output`` keep their outputs
(nbval compares those).
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat

KEEP_TAG = "nbval-check-output"


def _keeps_output(cell) -> bool:
    return KEEP_TAG in cell.get("metadata", {}).get("tags", []) or "NBVAL_CHECK_OUTPUT" in cell.get("source", "")


def strip(path: str | Path) -> bool:
    """Remove outputs and execution counts in place; True when the file changed."""
    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") and not _keeps_output(cell):
            cell["outputs"] = []
            changed = True
        if cell.get("execution_count") is not None and not _keeps_output(cell):
            cell["execution_count"] = None
            changed = True
        for key in ("execution", "collapsed", "scrolled"):
            if key in cell.get("metadata", {}):
                del cell["metadata"][key]
                changed = True
    for key in ("widgets", "papermill"):
        if key in nb.metadata:
            del nb.metadata[key]
            changed = True
    if changed:
        nbformat.write(nb, str(path))
    return changed


def parameters_cell(nb) -> dict:
    """Names and literal values of the ``parameters``-tagged cell (ValueError if absent or not literal)."""
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"expected exactly one cell tagged 'parameters', found {len(cells)}")
    values = {}
    for node in ast.parse(cells[0].source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"the parameters cell may only hold `name = literal` lines; line {node.lineno} is not one")
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def check(path: str | Path) -> list[str]:
    """Problems with a committed notebook (empty list when clean)."""
    path = Path(path)
    problems = []
    nb = nbformat.read(str(path), as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"{path.name}: kernel is {kernel!r}, expected 'python3'")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.get("outputs") and not _keeps_output(cell):
            problems.append(f"{path.name}: cell {i} has stored outputs (run `make strip`)")
    try:
        parameters_cell(nb)
    except (ValueError, SyntaxError) as err:
        problems.append(f"{path.name}: {err}")
    return problems


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("strip", "check"):
        print("usage: python -m picseq_utils.nbtools strip|check NOTEBOOK...", file=sys.stderr)
        return 2
    command, paths = args[0], args[1:]
    if command == "strip":
        for p in paths:
            if strip(p):
                print(f"stripped {p}")
        return 0
    problems = [msg for p in paths for msg in check(p)]
    print("\n".join(problems) or "all notebooks clean")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
