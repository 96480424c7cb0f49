"""What produced a result: fingerprints of a notebook's code cells, its parameters, the helper package, the
exported lessons and the data, and whether a run executed the notebook as ``make report`` runs it.

A run is the notebook's own (its record may stand in the report) only when the code cells it executed are the
notebook file's code cells, once each and in order (papermill's injected parameters cell allowed), and its
parameters are the profile's. Anything else — a cell edited in JupyterLab, a cell run twice, a parameter
reassigned — is an experiment, kept apart (``<notebook>@experiment-<hash>``)."""
from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from .paths import project_root

#: The namespace entry an in-process runner (tests/notebook_runner.py) fills with the sources it executed.
EXECUTED = "_picseq_executed"


def digest(*parts: Any, length: int = 16) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:length]


def tree_digest(folder: Path, pattern: str = "*.py") -> str:
    """Names and contents of the files under ``folder`` (the helper package, the exported lessons)."""
    files = sorted(p for p in folder.rglob(pattern) if "__pycache__" not in p.parts) if folder.is_dir() else []
    return digest(*[part for p in files for part in (p.relative_to(folder).as_posix(), p.read_bytes())])


def package_digest() -> str:
    return tree_digest(project_root() / "picseq_utils")


def lessons_digest() -> str:
    return tree_digest(project_root() / "picseq_lessons")


def notebook_path(notebook: str) -> Path:
    return project_root() / "notebooks" / f"{notebook}.ipynb"


def code_cells(notebook: str, path: Path | None = None) -> list[str]:
    """The notebook file's code cells, in order (outputs and markdown do not count)."""
    import nbformat

    nb = nbformat.read(str(path or notebook_path(notebook)), as_version=4)
    return [c.source.strip() for c in nb.cells if c.cell_type == "code"]


def files_digest(path: str | Path) -> str | None:
    """A data set on disk: its files' names and sizes (torchvision checks the real data sets' MD5s; a stand-in's
    stamp holds its generator's fingerprint, and it is hashed with them). None if the path is not on disk."""
    path = Path(path)
    if not path.is_absolute():
        path = project_root() / path
    if path.is_file():
        return digest(path.name, path.stat().st_size)
    if not path.is_dir():
        return None
    entries = []
    for p in sorted(path.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            entries.append((p.relative_to(path).as_posix(), p.stat().st_size))
            if p.suffix == ".json" and p.stat().st_size < 4096:  # stamps and small manifests: their content too
                entries.append(p.read_text(errors="replace"))
    return digest(entries)


def data_digest(provenance: dict) -> str:
    """A data set's fingerprint: its files when on disk, else what names it (a bundled set's package version)."""
    return files_digest(provenance.get("path", "")) or digest(provenance.get("path"), provenance.get("origin"))


def _is_injection(source: str, names: Iterable[str], annotated: bool = False) -> bool:
    """papermill's injected-parameters cell: only ``name = literal`` lines for parameter names (``annotated``: also
    ``name: Type = literal`` lines, as the parameters cell itself has)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    names = set(names)

    def assigns(n) -> bool:
        if isinstance(n, ast.AnnAssign):
            return annotated and isinstance(n.target, ast.Name) and n.target.id in names
        return (isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
                and n.targets[0].id in names)

    return bool(body) and all(assigns(n) for n in body)


def executed_cells(namespace: dict | None) -> list[str] | None:
    """The code this kernel ran since the notebook's ``nb.begin`` cell (IPython's input history; an in-process
    runner's list), or None when that cannot be known (a plain script)."""
    if namespace is not None and EXECUTED in namespace:
        history = list(namespace[EXECUTED])
    else:
        try:
            from IPython import get_ipython
        except ImportError:
            return None
        shell = get_ipython()
        if shell is None or getattr(shell, "history_manager", None) is None:
            return None
        history = list(shell.history_manager.input_hist_raw)
    starts = [i for i, src in enumerate(history) if "nb.begin(" in src]
    return [src.strip() for src in history[starts[-1]:]] if starts else None


def follows_notebook(executed: Sequence[str] | None, cells: Sequence[str], parameter_names: Iterable[str]
                     ) -> tuple[bool, int]:
    """(whether ``executed`` is a prefix of the notebook's code cells, how many cells it covers); a papermill
    injection right after the ``parameters`` cell is allowed."""
    if executed is None:
        return False, 0
    names = list(parameter_names)
    j = 0
    for source in executed:
        if j < len(cells) and source == cells[j]:
            j += 1
        elif j > 0 and _is_injection(source, names) and _is_injection(cells[j - 1], names, annotated=True):
            continue
        else:
            return False, j
    return True, j


def expected_parameters(notebook: str, profile: str) -> dict:
    """The values ``make report`` runs ``notebook`` with under ``profile`` (its parameters cell, then the
    profile's), validated."""
    from .params import notebook_defaults, profile_parameters, validate

    return validate(notebook, {**notebook_defaults(notebook_path(notebook)), **profile_parameters(profile, notebook)})


def current_source(notebook: str, profile: str, data: dict | None = None) -> dict:
    """The fingerprints a record of ``notebook`` under ``profile`` must carry to be current: the notebook's code
    cells, its parameters, the package, the lessons and (given a record's ``data``) every data set it read."""
    from .metrics import jsonable

    source = {"notebook": digest(code_cells(notebook)), "parameters": digest(jsonable(expected_parameters(
        notebook, profile))), "package": package_digest(), "lessons": lessons_digest()}
    if data is not None:
        source["data"] = {name: data_digest(info) for name, info in sorted(data.items())}
    return source


def stale_parts(recorded: dict | None, current: dict) -> list[str]:
    """Which inputs of a record differ from the current ones ([] = the record is current)."""
    if not recorded:
        return ["no source recorded"]
    changed = [k for k in ("notebook", "parameters", "package", "lessons") if recorded.get(k) != current.get(k)]
    if "data" in current:
        changed += [f"data {name}" for name, fp in current["data"].items() if (recorded.get("data") or {}).get(name) != fp]
    return changed
