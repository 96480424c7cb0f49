"""What every notebook's first and last cells call: ``begin``, ``setup`` -> ``Run`` (validated parameters,
seeds, device, metrics), ``Run.finish``. See CONTRIBUTING.md for the cell order."""
from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import metrics
from .params import ParameterError, data_parameters, notebook_defaults, profile_parameters, validate
from .paths import checkpoints_dir, figures_dir, project_root, safe_name
from .runtime import environment_info, seed_everything, select_device

_BEFORE = "_picseq_names_before"

# huggingface_hub (via timm) imports tqdm.auto, which warns in kernels without ipywidgets; picseq's
# own progress bars are plain text on purpose (no widget metadata in executed notebooks).
warnings.filterwarnings("ignore", message="IProgress not found")


def begin(namespace: dict) -> None:
    """Remember the names that exist before the parameters cell runs."""
    namespace[_BEFORE] = frozenset(namespace)


def run_variant(notebook: str, params: dict) -> str | None:
    """``None`` for a run on the data its profile names; otherwise a short name for the other data (a user's
    clip folder, another data set), so that its metrics are kept apart from the report's."""
    try:
        canonical = {**notebook_defaults(project_root() / "notebooks" / f"{notebook}.ipynb"),
                     **profile_parameters(params["profile"], notebook)}
    except (OSError, ValueError, SyntaxError):  # no notebook file here (a test's project): nothing to compare
        return None
    differ = [f"{name}-{_short(params[name])}" for name in data_parameters(notebook)
              if name in canonical and params.get(name) != canonical[name]]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", "_".join(differ)).strip("-.")[:80]
    return slug or None


def _short(value) -> str:
    """A path as its last folder name and a hash of the whole (two folders of one name stay apart)."""
    text = str(value)
    return text if "/" not in text else f"{Path(text).name}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


@dataclass
class Run:
    """One execution of a notebook: validated parameters, device, metrics, figures, checkpoints."""

    notebook: str
    params: dict
    device: torch.device
    writer: metrics.MetricsWriter
    namespace: dict | None = field(default=None, repr=False)

    def sync(self) -> None:
        """Take up parameters reassigned in the notebook since setup: re-validate them and record the new
        values; a parameter that decides where results go (profile, data) stops the run instead."""
        ns = self.namespace or {}
        changed = {k: (v, ns[k]) for k, v in self.params.items() if k in ns and not _same(ns[k], v)}
        if not changed:
            return
        fixed = sorted(set(changed) & ({"profile"} | set(data_parameters(self.notebook))))
        if fixed:
            raise ParameterError(f"{', '.join(fixed)} changed after setup ({_changes(changed, fixed)}); these decide "
                                 f"which data this run uses and where its results go: set them in the parameters cell "
                                 f"and run the setup cell again")
        clean = validate(self.notebook, {**self.params, **{k: now for k, (_, now) in changed.items()}})
        print(f"[picseq] changed after setup: {_changes(changed, changed)}; re-validated, and recorded in this run's "
              f"metrics file")
        self.params = clean
        if "device" in changed:
            self.device = select_device(clean["device"])
        self.writer.set_parameters(clean, {k: {"was": was, "now": now} for k, (was, now) in changed.items()})

    def record(self, name: str, value: Any, *, data: Any = None, **context) -> dict:
        """Write one metric with provenance (``data=`` an ImageData / Provenance / data-set name)."""
        self.sync()
        if data is not None:
            data = [getattr(d, "provenance", d) for d in (data if isinstance(data, (list, tuple)) else [data])]
        return self.writer.record(name, value, data=data, **context)

    def use_data(self, data):
        """Note a data set (ImageData or Provenance) in the metrics file; returns it unchanged."""
        self.sync()
        self.writer.add_data(getattr(data, "provenance", data))
        return data

    def use_weights(self, name: str, description: Any) -> Any:
        self.writer.add_weights(name, description)
        return description

    def save_figure(self, fig, name: str, caption: str = "", key: bool = False, dpi: int = 110) -> Path:
        """Save under ``figures/<profile>/<notebook>/<name>.png`` (``<notebook>@<variant>`` for a run on other data)
        and list it in the metrics file; ``key`` figures lead the report's index page."""
        self.sync()
        folder = figures_dir(self.params["profile"], self.writer.key)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{safe_name(name, 'figure name')}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        self.writer.add_figure(path, caption, key)
        return path

    def checkpoint_dir(self, name: str) -> Path:
        """Per-run checkpoint folder ``checkpoints/<profile>/<notebook>/<name>`` (``<notebook>@<variant>`` for a
        run on other data, so that it never resumes from, or overwrites, the report's runs)."""
        self.sync()
        return checkpoints_dir(self.params["profile"], self.writer.key, name)

    def finish(self) -> Path:
        """The notebook ran to its end: its metrics replace the last good run's (atomically)."""
        from .train import FIT_LOG

        self.sync()
        self.writer.content["fits"] = metrics.jsonable(FIT_LOG)
        path = self.writer.finish()
        print(f"metrics of this run: {path}")
        return path


def _same(a: Any, b: Any) -> bool:
    """Equal as parameters (a list injected by papermill equals the tuple it was validated into)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    return (type(a) is type(b) or numbers) and a == b


def _changes(changed: dict, names) -> str:
    return ", ".join(f"{k} {changed[k][0]!r} -> {changed[k][1]!r}" for k in names)


def setup(notebook: str, namespace: dict, *, quiet: bool = False) -> Run:
    """Validate parameters, seed everything, choose the device, start the metrics file."""
    from .train import FIT_LOG

    if _BEFORE not in namespace:
        raise RuntimeError("call nb.begin(globals()) in a cell before the parameters cell")
    assigned = {k: v for k, v in namespace.items() if k not in namespace[_BEFORE] and not k.startswith("_")}
    params = validate(notebook, assigned)
    FIT_LOG.clear()
    seed_everything(params["seed"])
    device = select_device(params["device"])
    env = environment_info(device)
    variant = run_variant(notebook, params)
    writer = metrics.MetricsWriter(notebook, params["profile"], params, env, variant)
    if not quiet:
        print(f"{notebook} | profile {params['profile']} | seed {params['seed']} | device {env['device_name']} | "
              f"torch {env['torch']} | commit {env['git_commit']}"
              + (f" | run on other data: metrics kept apart as {writer.key}" if variant else ""))
    return Run(notebook, params, device, writer, namespace)
