"""A notebook's cost, planned by the notebook itself: ``plan_notebook(name, profile)`` runs the notebook in this
process with the profile's parameters while ``fit``, ``evaluate`` and ``infer`` count instead of compute, so every
loop a learner adds or changes is costed with no second copy of it to keep up to date.

What runs is the notebook's own code, on data of the profile's sizes: a real data set that is not on this machine
is replaced by zeros of its real size and shape (as a machine with internet would have downloaded it), ImageNet
weights count as loaded (their shapes decide, as they would), and a training run writes a checkpoint of its
untrained model so that a notebook reading another's checkpoint finds it. Each ``fit`` records its training images
x epochs and the validation images it reads after every epoch; FLOPs per image are counted once per model and input
shape by ``torch.utils.flop_counter.FlopCounterMode`` on PyTorch's meta device (a batch of 2: forward, then the
backward of the same step). Everything is written under a temporary project root, never into this checkout's
reports, figures or checkpoints."""
from __future__ import annotations

import contextlib
import copy
import io
import math
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

#: The plan being collected (None: nothing is planned, everything runs).
ACTIVE: "Plan | None" = None


@dataclass
class Work:
    """One ``fit`` (training images x epochs, validation images read) or one forward-only pass."""

    desc: str
    model: str
    train_images: int = 0
    forward_images: int = 0
    train_flops: float = 0.0
    forward_flops: float = 0.0
    epochs: int = 0
    compiled: bool = False
    fit: bool = True
    stage: tuple | None = None  # (map, item) of the ``run.map`` it ran in: items may run at once on several GPUs


@dataclass
class Plan:
    notebook: str
    works: list = field(default_factory=list)
    missing_weights: set = field(default_factory=set)  # pretrained weights a checked run did not have
    _flops: dict = field(default_factory=dict, repr=False)
    _stage: tuple | None = field(default=None, repr=False)
    _stages: int = field(default=0, repr=False)

    def stage(self, items: list, call) -> list:
        """Plan one ``run.map``: ``call(item)`` for each item, its works tagged (map, item); the items are
        independent of each other (a map inside a map's item stays within that item)."""
        if self._stage is not None:
            return [call(item) for item in items]
        self._stages += 1
        out = []
        try:
            for index, item in enumerate(items):
                self._stage = (self._stages, index)
                out.append(call(item))
        finally:
            self._stage = None
        return out

    def add(self, work: "Work") -> None:
        work.stage = self._stage
        self.works.append(work)

    def per_sample(self, model: nn.Module, x: torch.Tensor, y: Any = None, loss_fn=None, train: bool = True) -> float:
        """FLOPs per sample of a training step (forward + backward) or a forward pass, counted on the meta device."""
        from torch.utils.flop_counter import FlopCounterMode

        shapes = tuple((n, tuple(p.shape), p.requires_grad) for n, p in model.named_parameters())
        key = (type(model).__qualname__, shapes, tuple(x.shape[1:]), train, getattr(y, "ndim", None))
        if key not in self._flops:
            meta = copy.deepcopy(model).to("meta").train(train)
            xs = x[:2].to("meta", torch.float32) if x.is_floating_point() or x.dtype == torch.uint8 else x[:2].to("meta")
            with FlopCounterMode(display=False) as counter, torch.set_grad_enabled(train):
                out = meta(xs)
                out = out[0] if isinstance(out, tuple) else out
                if train:
                    if y is not None and loss_fn is not None:
                        loss_fn(out.float(), y[:2].to("meta")).backward()
                    else:  # the loss adds no matmul: its gradient flows back as cross-entropy's would
                        out.float().sum().backward()
            self._flops[key] = counter.get_total_flops() / len(xs)
        return self._flops[key]

    def fit(self, model: nn.Module, train_loader, val_loader, *, epochs: int, loss_fn, compile: bool, desc: str,
            checkpoint_dir, lr: float):
        """Count a ``fit``: one batch gives the FLOPs per sample; the loaders give the sizes."""
        from .checkpoint import Checkpointer
        from .train import HISTORY_COLUMNS, FitResult, samples_per_epoch

        samples = samples_per_epoch(train_loader)
        x, y = next(iter(train_loader))
        work = Work(desc, _label(model, x), train_images=samples * epochs, epochs=epochs, compiled=bool(compile),
                    train_flops=samples * epochs * self.per_sample(model, x, y, loss_fn, train=True))
        if val_loader is not None:
            vx, _ = next(iter(val_loader))
            n_val = _items(val_loader)
            work.forward_images = n_val * epochs
            work.forward_flops = n_val * epochs * self.per_sample(model, vx, train=False)
        self.add(work)
        # a history of placeholders that every notebook cell can compute with (one second per epoch, no learning)
        history = [{"epoch": e + 1, "train_loss": 1.0, "train_acc": 0.0, "val_loss": 1.0, "val_acc": 0.0, "lr": lr,
                    "seconds": 1.0, "images_per_s": float(samples), "data_wait": 0.0, "elapsed": float(e + 1),
                    "fp32_redone_steps": 0} for e in range(epochs)]
        import pandas as pd

        frame = pd.DataFrame(history, columns=HISTORY_COLUMNS)
        if checkpoint_dir is not None:  # a notebook that reads this run's checkpoint finds one (untrained)
            Checkpointer(checkpoint_dir).save({"fingerprint": "planned", "epoch": epochs, "model": model.state_dict(),
                                               "optimizer": {}, "history": frame.to_dict("records")}, epochs)
        return FitResult(model, frame, precision="planned")

    def forward(self, model: nn.Module, x: torch.Tensor, items: int, desc: str = "forward") -> None:
        self.add(Work(desc, _label(model, x), forward_images=items, fit=False,
                      forward_flops=items * self.per_sample(model, x, train=False)))

    def evaluate(self, model: nn.Module, loader) -> dict:
        from .findings import Accuracy

        x, _ = next(iter(loader))
        n = _items(loader)
        self.forward(model, x, n, "evaluate")
        return {"loss": math.nan, "accuracy": Accuracy(0.0, torch.zeros(n, dtype=torch.bool).numpy()), "n": n}


def _items(loader) -> int:
    return getattr(loader, "num_samples", None) or sum(len(b[0]) for b in loader)


def _label(model: nn.Module, x: torch.Tensor) -> str:
    size = "x".join(map(str, x.shape[1:]))
    return f"{type(model).__name__} {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M @{size}"


@contextmanager
def planning(notebook: str, missing_weights: set | None = None):
    """Count instead of compute while the block runs; yields the ``Plan``."""
    global ACTIVE
    previous, ACTIVE = ACTIVE, Plan(notebook, missing_weights=set(missing_weights or ()))
    try:
        yield ACTIVE
    finally:
        ACTIVE = previous


@contextmanager
def scratch_project():
    """A temporary project root whose notebooks, params and data are this checkout's (read; data written once,
    as any run would) and whose reports, figures and checkpoints are thrown away afterwards."""
    from . import paths

    real = paths.project_root()
    tmp = Path(tempfile.mkdtemp(prefix="picseq-plan-"))
    for name in ("notebooks", "params", "data"):
        (real / name).mkdir(exist_ok=True)
        (tmp / name).symlink_to(real / name)
    previous, paths.ROOT_OVERRIDE = paths.ROOT_OVERRIDE, tmp
    try:
        yield tmp
    finally:
        paths.ROOT_OVERRIDE = previous
        shutil.rmtree(tmp, ignore_errors=True)


def plan_notebook(notebook: str, profile: str, parameters: dict | None = None,
                  missing_weights: set | None = None) -> list[Work]:
    """Run ``notebook`` with ``profile``'s parameters (or ``parameters``) in plan mode; every fit and forward pass
    it would make, in order. ``missing_weights``: pretrained weights to plan as unavailable (as a run recorded)."""
    import matplotlib

    from .inprocess import run_cells
    from .params import profile_parameters

    matplotlib.use("Agg")
    values = parameters if parameters is not None else profile_parameters(profile, notebook)
    quiet = io.StringIO()  # what the notebook prints and shows is of no use here
    with planning(notebook, missing_weights) as plan, warnings.catch_warnings(), \
            contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        warnings.simplefilter("ignore")
        run_cells(notebook, values)
    return plan.works
