"""Checkpoints that survive interruption: atomic writes (temporary file, then rename), the last two kept,
``weights_only`` loading that falls back to the previous checkpoint when the newest is unreadable."""
from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import torch

from .paths import atomic_file

_NAME = re.compile(r"^epoch_(\d{5})\.pt$")
KEEP = 2


class Checkpointer:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def files(self) -> list[Path]:
        """Checkpoint files, newest (highest epoch) first."""
        paths = self.folder.iterdir() if self.folder.is_dir() else ()
        found = [(int(m.group(1)), p) for p in paths if (m := _NAME.match(p.name))]
        return [p for _, p in sorted(found, reverse=True)]

    def save(self, state: dict, epoch: int) -> Path:
        target = self.folder / f"epoch_{epoch:05d}.pt"
        with atomic_file(target, durable=True) as handle:  # on disk before it becomes the newest checkpoint
            torch.save(state, handle)
        for old in self.files()[KEEP:]:
            old.unlink(missing_ok=True)
        return target

    def load_latest(self, fingerprint: str | None = None) -> dict | None:
        """The newest readable checkpoint whose fingerprint matches, or None. Checkpoints of another configuration
        are moved to ``stale/`` (not deleted) so a new run never resumes from, or is confused by, their files."""
        for path in self.files():
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as err:  # truncated, corrupted or not a checkpoint
                warnings.warn(f"checkpoint {path} is unreadable ({type(err).__name__}: {err}); "
                              f"falling back to the previous one", RuntimeWarning, stacklevel=2)
                continue
            if fingerprint is not None and state.get("fingerprint") != fingerprint:
                self.retire("they come from a different configuration")
                return None
            return state
        return None

    def retire(self, why: str) -> None:
        """Move this folder's checkpoints to ``stale/`` (not deleted; older stale ones replaced): a new run
        never resumes from, or is confused by, them."""
        if not self.files():
            return
        stale = self.folder / "stale"
        warnings.warn(f"checkpoints in {self.folder}: {why}; moved to {stale} and starting fresh", RuntimeWarning,
                      stacklevel=3)
        shutil.rmtree(stale, ignore_errors=True)
        stale.mkdir(parents=True)
        for old in self.files():
            old.rename(stale / old.name)

    def clear(self) -> None:
        for path in self.files():
            path.unlink(missing_ok=True)
