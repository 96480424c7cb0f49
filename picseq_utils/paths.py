"""Where things live: the project root and the generated folders under it (the same folders from JupyterLab,
papermill or nbval), and how files there are written (atomically)."""
from __future__ import annotations

import os
import re
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,120}$")  # "@": a run on other data, <notebook>@<variant>
#: Tests point this at a temporary folder so they never write into the checkout's reports/.
ROOT_OVERRIDE: Path | None = None


def project_root() -> Path:
    """The package's parent if it holds ``pyproject.toml`` (an editable install, as ``make test`` uses); else
    the nearest ancestor of the working directory that has ``notebooks/`` and ``params/``."""
    if ROOT_OVERRIDE is not None:
        return Path(ROOT_OVERRIDE)
    if os.environ.get("PICSEQ_ROOT"):  # a project folder of its own (the browser test's copy)
        return Path(os.environ["PICSEQ_ROOT"])
    if (_PACKAGE_PARENT / "pyproject.toml").is_file():
        return _PACKAGE_PARENT
    here = Path.cwd().resolve()
    return next((f for f in (here, *here.parents) if (f / "notebooks").is_dir() and (f / "params").is_dir()), here)


def safe_name(name: str, what: str = "name") -> str:
    """Reject names that could escape their folder (``..``, slashes) before they become paths."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise ValueError(f"invalid {what} {name!r}: use letters, digits, '_', '-' or '.', starting with a letter "
                         "or digit")
    return name


def data_root(root: str | Path | None = None) -> Path:
    """Folder for downloaded and generated data sets (default ``<project>/data``)."""
    path = Path(root) if root is not None else project_root() / "data"
    return path if path.is_absolute() else project_root() / path


def reports_dir(profile: str) -> Path:
    return project_root() / "reports" / safe_name(profile, "profile")


def metrics_dir(profile: str) -> Path:
    return reports_dir(profile) / "metrics"


def figures_dir(profile: str, notebook: str) -> Path:
    return project_root() / "figures" / safe_name(profile, "profile") / safe_name(notebook, "notebook")


def checkpoints_dir(profile: str, notebook: str, run: str) -> Path:
    return (project_root() / "checkpoints" / safe_name(profile, "profile")
            / safe_name(notebook, "notebook") / safe_name(run, "run name"))


@contextmanager
def atomic_file(path: Path, mode: str = "wb", durable: bool = False):
    """Write ``path`` through a temporary file beside it, renamed over it only when the block succeeds, so a
    reader (or a resumed run) never sees half a file; ``durable``: on disk before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: Run keys this process holds (a notebook's setup cell may run again in the same kernel).
_HELD: dict[str, int] = {}


def _alive(holder: str) -> bool:
    """Whether a lock's text names a live process (a left-over name is an earlier holder's)."""
    try:
        os.kill(int(holder.split()[1].rstrip(",")), 0)
    except (IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def claim_run(profile: str, key: str) -> str | None:
    """Take the lock of a run key (``reports/<profile>/metrics/.locks/<key>.lock``) for this process: None when it
    is ours now, else who holds it ("process N, since ..."). Two runs of one notebook never write the same
    checkpoints, figures or metrics at once; the lock goes with the process (or ``release_run``)."""
    try:
        import fcntl
    except ImportError:  # no POSIX locks here (Windows): runs are not guarded against each other
        return None
    path = metrics_dir(profile) / ".locks" / f"{safe_name(key, 'run key')}.lock"
    if str(path) in _HELD:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = ""
        for _ in range(50):  # the holder writes its name just after taking the lock: give it a moment
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            if _alive(holder):
                break
            time.sleep(0.02)
        os.close(fd)
        return holder or "another process"
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()}, since {time.strftime('%H:%M:%S')}".encode(), 0)
    _HELD[str(path)] = fd
    return None


def release_run(profile: str, key: str) -> None:
    fd = _HELD.pop(str(metrics_dir(profile) / ".locks" / f"{safe_name(key, 'run key')}.lock"), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the lock
