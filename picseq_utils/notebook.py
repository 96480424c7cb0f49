"""What every notebook's first cells call.

    from picseq_utils import notebook as nb
    nb.begin(globals())                      # first cell: remember the names that exist
    # parameters cell (tagged "parameters"): the smoke-profile defaults
    run = nb.setup("04_vit_vs_resnet_cifar10", globals())   # after papermill's injected cell

``setup`` collects every name assigned since ``begin`` (the parameters and whatever papermill
injected), validates them against the notebook's schema (unknown names, types, ranges), seeds
every generator, picks the device and starts the notebook's metrics file.
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import metrics
from .params import validate
from .paths import checkpoints_dir, data_root, figures_dir, safe_name
from .runtime import environment_info, seed_everything, select_device

_BEFORE = "_picseq_names_before"

# huggingface_hub (via timm) imports tqdm.auto, which warns in kernels without ipywidgets; picseq's
# own progress bars are plain text on purpose (no widget metadata in executed notebooks).
warnings.filterwarnings("ignore", message="IProgress not found")


def begin(namespace: dict) -> None:
    """Remember the names that exist before the parameters cell runs."""
    namespace[_BEFORE] = frozenset(namespace)


def notebook_parameters(namespace: dict) -> dict:
    if _BEFORE not in namespace:
        raise RuntimeError("call nb.begin(globals()) in a cell before the parameters cell")
    before = namespace[_BEFORE]
    return {k: v for k, v in namespace.items() if k not in before and not k.startswith("_")}


@dataclass
class Run:
    """One execution of a notebook: validated parameters, device, metrics, figures, checkpoints."""

    notebook: str
    params: dict
    device: torch.device
    writer: metrics.MetricsWriter
    figures: list = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:  # run.epochs == run.params["epochs"]
        params = self.__dict__.get("params", {})
        if name in params:
            return params[name]
        raise AttributeError(f"{self.__class__.__name__} has no attribute or parameter {name!r}")

    @property
    def profile(self) -> str:
        return self.params["profile"]

    @property
    def seed(self) -> int:
        return self.params["seed"]

    @property
    def data_root(self) -> Path:
        return data_root(self.params.get("data_root"))

    def record(self, name: str, value: Any, **context) -> dict:
        """Write one metric with provenance (``data=`` an ImageData / Provenance / data-set name)."""
        data = context.pop("data", None)
        if data is not None:
            data = [getattr(d, "provenance", d) for d in (data if isinstance(data, (list, tuple)) else [data])]
        return self.writer.record(name, value, data=data, **context)

    def use_data(self, data):
        """Note a data set (ImageData or Provenance) in the metrics file; returns it unchanged."""
        self.writer.add_data(getattr(data, "provenance", data))
        return data

    def use_weights(self, name: str, description: Any) -> Any:
        self.writer.add_weights(name, description)
        return description

    def save_figure(self, fig, name: str, caption: str = "", dpi: int = 110) -> Path:
        """Save under ``figures/<profile>/<notebook>/<name>.png`` and list it in the metrics file."""
        folder = figures_dir(self.profile, self.notebook)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{safe_name(name, 'figure name')}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        self.writer.add_figure(path, caption)
        self.figures.append(path)
        return path

    def checkpoint_dir(self, name: str) -> Path:
        """Per-run checkpoint folder ``checkpoints/<profile>/<notebook>/<name>``."""
        return checkpoints_dir(self.profile, self.notebook, name)


def setup(notebook: str, namespace: dict, *, quiet: bool = False) -> Run:
    """Validate parameters, seed everything, choose the device, start the metrics file."""
    params = validate(notebook, notebook_parameters(namespace))
    seed_everything(params["seed"])
    device = select_device(params["device"])
    env = environment_info(device)
    writer = metrics.start_run(notebook, params["profile"], params, env)
    run = Run(notebook, params, device, writer)
    if not quiet:
        print(f"{notebook} | profile {params['profile']} | seed {params['seed']} | device {env['device_name']} | "
              f"torch {env['torch']} | commit {env['git_commit']}", file=sys.stdout)
    return run
