"""Checkpoints that survive interruption: atomic writes, the last two kept, safe loading.

A checkpoint is written to a temporary file and renamed into place, so a process killed while
writing leaves the previous checkpoint intact. Loading uses ``torch.load(weights_only=True)``
(no arbitrary code from a pickle) and falls back to the previous checkpoint, with a warning,
when the newest one is truncated or unreadable.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import torch

_NAME = re.compile(r"^epoch_(\d{5})\.pt$")


class Checkpointer:
    def __init__(self, folder: str | Path, keep: int = 2):
        if keep < 1:
            raise ValueError("keep must be >= 1")
        self.folder = Path(folder)
        self.keep = keep

    def files(self) -> list[Path]:
        """Checkpoint files, newest (highest epoch) first."""
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir() if (m := _NAME.match(p.name))]
        return [p for _, p in sorted(found, reverse=True)]

    def save(self, state: dict, epoch: int) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"epoch_{epoch:05d}.pt"
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp_", suffix=".pt")
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(state, handle)
                handle.flush()
                os.fsync(handle.fileno())  # on disk before the rename makes it the newest checkpoint
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        for old in self.files()[self.keep:]:
            old.unlink(missing_ok=True)
        return target

    def load_latest(self, fingerprint: str | None = None, map_location="cpu") -> dict | None:
        """The newest readable checkpoint whose fingerprint matches, or None.

        Checkpoints of a different configuration are moved to ``stale/`` (not deleted) so a new
        run never resumes from, or is confused by, another run's files.
        """
        for path in self.files():
            try:
                state = torch.load(path, map_location=map_location, weights_only=True)
            except Exception as err:  # truncated, corrupted or not a checkpoint
                warnings.warn(f"checkpoint {path} is unreadable ({type(err).__name__}: {err}); "
                              f"falling back to the previous one", RuntimeWarning, stacklevel=2)
                continue
            if fingerprint is not None and state.get("fingerprint") != fingerprint:
                self._move_stale(f"checkpoints in {self.folder} come from a different configuration; "
                                 f"moved to {self.folder / 'stale'} and starting fresh")
                return None
            return state
        return None

    def _move_stale(self, message: str) -> None:
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        stale = self.folder / "stale"
        if stale.exists():
            shutil.rmtree(stale)
        stale.mkdir(parents=True)
        for path in self.files():
            path.rename(stale / path.name)

    def clear(self) -> None:
        for path in self.files():
            path.unlink(missing_ok=True)
