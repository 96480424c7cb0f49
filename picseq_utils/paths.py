"""Where things live: the project root and the generated folders under it (the same folders from JupyterLab,
papermill or nbval)."""
from __future__ import annotations

import re
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,120}$")  # "@": a run on other data, <notebook>@<variant>
#: Tests point this at a temporary folder so they never write into the checkout's reports/.
ROOT_OVERRIDE: Path | None = None


def project_root() -> Path:
    """The checkout that holds ``pyproject.toml`` next to ``picseq_utils/``.

    With an editable install (``make test`` / ``make report``) this is the package's parent;
    otherwise the nearest ancestor of the working directory that has a ``notebooks/`` folder.
    """
    if ROOT_OVERRIDE is not None:
        return Path(ROOT_OVERRIDE)
    candidate = _PACKAGE_DIR.parent
    if (candidate / "pyproject.toml").is_file():
        return candidate
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir() and (folder / "params").is_dir():
            return folder
    return here


def safe_name(name: str, what: str = "name") -> str:
    """Reject names that could escape their folder (``..``, slashes) before they become paths."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise ValueError(
            f"invalid {what} {name!r}: use letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return name


def data_root(root: str | Path | None = None) -> Path:
    """Folder for downloaded and generated data sets (default ``<project>/data``)."""
    path = Path(root) if root is not None else project_root() / "data"
    if not path.is_absolute():
        path = project_root() / path
    return path


def reports_dir(profile: str) -> Path:
    return project_root() / "reports" / safe_name(profile, "profile")


def metrics_dir(profile: str) -> Path:
    return reports_dir(profile) / "metrics"


def figures_dir(profile: str, notebook: str) -> Path:
    return project_root() / "figures" / safe_name(profile, "profile") / safe_name(notebook, "notebook")


def checkpoints_dir(profile: str, notebook: str, run: str) -> Path:
    return (project_root() / "checkpoints" / safe_name(profile, "profile")
            / safe_name(notebook, "notebook") / safe_name(run, "run name"))
