"""Provenance of a data set: is it the real thing, real images bundled in a package, or a stand-in?"""
from __future__ import annotations

import socket
import threading
from dataclasses import asdict, dataclass
from urllib.parse import urlparse

KINDS = ("real", "bundled", "standin")
SOURCES = ("auto", "real", "standin")


class DataUnavailableError(RuntimeError):
    """The requested data set is not on disk and cannot be downloaded."""


class DataCorruptError(RuntimeError):
    """Data files exist but are truncated, corrupted or laid out wrongly."""


#: Called with every Provenance made (a notebook's run notes the data sets it reads: ``notebook.setup``).
ON_LOAD: list = []


@dataclass(frozen=True)
class Provenance:
    dataset: str          # e.g. "CIFAR-10"
    kind: str             # real | bundled | standin
    path: str             # where it was read from
    origin: str           # URL of the real data, or how the images were made
    n_train: int
    n_test: int
    num_classes: int
    image_shape: tuple    # (C, H, W) as loaded
    note: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"provenance kind must be one of {KINDS}, got {self.kind!r}")
        for listener in ON_LOAD:
            listener(self)

    @property
    def label(self) -> str:
        """What tables and figure titles show: ``CIFAR-10 (stand-in)``."""
        return f"{self.dataset} ({'stand-in' if self.kind == 'standin' else self.kind})"

    def as_dict(self) -> dict:
        return {**asdict(self), "image_shape": list(self.image_shape), "label": self.label}


def check_source(source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"unknown data source {source!r}; valid: {', '.join(SOURCES)}")
    return source


def network_available(url: str, timeout: float = 3.0) -> bool:
    """Can we open a TCP connection to ``url``'s host within ``timeout`` seconds? In a thread, so that a hanging
    name resolver cannot stall us either: asking for real data offline fails in seconds, never hangs."""
    parsed = urlparse(url)
    host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
    outcome: list[bool] = []

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return bool(outcome and outcome[0])
