"""The one metrics writer: a completed run's provenance and results in ``reports/<profile>/metrics/<notebook>.json``,
the only thing the report notebook reads."""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .paths import atomic_file, metrics_dir, safe_name


def jsonable(value: Any) -> Any:
    """Convert tensors, NumPy scalars, paths, dataclasses and non-finite floats for JSON."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, (np.generic, np.ndarray)):
        return jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if hasattr(value, "as_dict"):
        return jsonable(value.as_dict())
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    return str(value) if isinstance(value, (Path, torch.device)) else repr(value)


def metric_slug(text: str) -> str:
    """A metric name from a table label: ``"RoPE, mean-pool head"`` -> ``"rope__mean_pool_head"``."""
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, content: Any) -> None:
    with atomic_file(path, "w") as handle:
        json.dump(content, handle, indent=1, allow_nan=False)


class MetricsWriter:
    """Metrics of one notebook run. Every change goes to ``metrics/.partial/<key>.json``; ``finish()`` (the last
    cell) renames it over ``metrics/<key>.json``, so a run that fails half way leaves the last good run's file
    byte-identical. ``key``: the notebook's name, or ``<notebook>@<variant>`` for a run on other data, kept apart."""

    def __init__(self, notebook: str, profile: str, parameters: dict | None = None, environment: dict | None = None,
                 variant: str | None = None):
        self.notebook = safe_name(notebook, "notebook")
        self.profile = safe_name(profile, "profile")
        self.variant = variant
        self.key = self.notebook + (f"@{safe_name(variant, 'run variant')}" if variant else "")
        self.path = metrics_dir(self.profile) / f"{self.key}.json"
        self.partial = metrics_dir(self.profile) / ".partial" / f"{self.key}.json"
        self._t0 = time.perf_counter()
        self.content: dict[str, Any] = {
            "notebook": self.notebook, "variant": variant, "profile": self.profile, "status": "running",
            "started": _now(), "wall_seconds": 0.0,
            "parameters": jsonable(parameters or {}), "environment": jsonable(environment or {}), "data": {},
            "weights": {}, "figures": [], "findings": {"lines": [], "caveat": ""}, "metrics": []}
        self._flush()

    def set_parameters(self, parameters: dict, changed: dict) -> None:
        """Parameters reassigned after setup: the file records the values in use and what changed."""
        changes = {**self.content.get("changed_after_setup", {}), **jsonable(changed)}
        self._flush(parameters=jsonable(parameters), changed_after_setup=changes)

    def add_data(self, provenance: Any) -> None:
        """Note a data set used by this run (a ``Provenance`` or a dict with ``dataset`` and ``kind``)."""
        info = jsonable(provenance)
        if self.content["data"].get(info["dataset"]) != info:
            self._flush(data={**self.content["data"], info["dataset"]: info})

    def add_weights(self, name: str, description: Any) -> None:
        self._flush(weights={**self.content["weights"], name: jsonable(description)})

    def add_figure(self, path: Path, caption: str = "", key: bool = False) -> None:
        entry = {"path": str(path), "caption": caption, "key": key}
        self._flush(figures=[f for f in self.content["figures"] if f["path"] != entry["path"]] + [entry])

    def set_findings(self, lines: list[str], caveat: str, claims: list | None = None, checks: list | None = None) -> None:
        self._flush(findings=jsonable({"lines": list(lines), "caveat": caveat, "claims": claims or [],
                                       "checks": checks or []}))

    def record(self, name: str, value: Any, *, unit: str | None = None, data: Any = None, **context) -> dict:
        """Append one metric. ``data`` names the data set(s) it was measured on (their provenance
        kinds are copied onto the metric so a table can say "stand-in" next to the number)."""
        if not isinstance(name, str) or not name:
            raise ValueError("a metric needs a non-empty string name")
        datasets = [] if data is None else ([data] if isinstance(data, (str, dict)) or hasattr(data, "kind") else list(data))
        names, kinds = [], []
        for item in datasets:
            info = jsonable(item) if not isinstance(item, str) else self.content["data"].get(item, {"dataset": item})
            if isinstance(info, dict) and "kind" in info and info["dataset"] not in self.content["data"]:
                self.content["data"][info["dataset"]] = info
            names.append(info["dataset"])
            kinds.append(info.get("kind", "unknown"))
        entry = {"name": name, "value": jsonable(value), "unit": unit, "data": names,
                 "provenance": sorted(set(kinds)) or None, "context": jsonable(context), "recorded": _now()}
        self._flush(metrics=[m for m in self.content["metrics"] if m["name"] != name] + [entry])
        return entry

    def finish(self, key: str | None = None) -> Path:
        """Complete: the partial file becomes ``metrics/<key>.json`` (default: this writer's key)."""
        if key is not None and key != self.key:
            self.key, self.path = key, metrics_dir(self.profile) / f"{safe_name(key, 'run key')}.json"
        self._flush(status="complete", finished=_now(), key=self.key)
        os.replace(self.partial, self.path)
        return self.path

    def _flush(self, **fields) -> None:
        self.content.update(fields, wall_seconds=round(time.perf_counter() - self._t0, 3))
        write_json_atomic(self.partial, self.content)


def load_metrics(profile: str, variants: bool = False) -> list[dict]:
    """The completed runs' metrics files of a profile in notebook order (``variants``: also runs on other data);
    unreadable files are reported, not skipped silently."""
    runs = []
    for path in sorted(p for p in metrics_dir(profile).glob("*.json") if variants or "@" not in p.stem):
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            runs.append({"notebook": path.stem, "profile": profile, "error": f"unreadable metrics file {path}: {err}",
                         "metrics": [], "data": {}, "weights": {}, "figures": [], "parameters": {}, "environment": {}})
    return runs
