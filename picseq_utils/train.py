"""The one training loop every notebook uses: ``fit`` and ``evaluate`` (timm optimisers, a per-step
schedule, bf16 where native, checkpoints every epoch; every random draw of epoch ``e`` is seeded by (seed, e),
so a resumed deterministic CPU run reproduces the uninterrupted history)."""
from __future__ import annotations

import copy
import hashlib
import json
import math
import sys
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd
import torch
from torch import nn
from tqdm.std import tqdm

from .checkpoint import Checkpointer
from .data.loaders import epoch_generator
from .findings import Accuracy
from .runtime import (CPU_CHANNELS_LAST_MIN_CHANNELS, channels_last_safe, cpu_bf16_safe, cpu_has_native_bf16,
                      cpu_turn)

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "onecycle", "multistep", "constant")
HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s",
                   "data_wait", "elapsed", "fp32_redone_steps"]


#: Every ``fit`` call since the notebook's setup: what it trained (the run's metrics file keeps it, and the
#: GPU cost estimate is checked against it in the rehearsal).
FIT_LOG: list[dict] = []


class TrainingError(RuntimeError):
    """Training cannot go on: out of memory, a non-finite loss, or a bad configuration."""


@dataclass(frozen=True)
class FitConfig:
    epochs: int
    lr: float
    optimizer: str = "adamw"
    weight_decay: float = 0.05
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.0
    milestones: tuple = ()
    gamma: float = 0.1
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    amp: str = "auto"
    channels_last: str | bool = "auto"
    compile: bool = False
    seed: int = 0

    def __post_init__(self):
        problems = [message for ok, message in (
            (isinstance(self.epochs, int) and self.epochs >= 1, f"epochs must be an integer >= 1, got {self.epochs!r}"),
            (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr),
             f"lr must be a positive number, got {self.lr!r}"),
            (self.optimizer in OPTIMIZERS, f"unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}"),
            (self.schedule in SCHEDULES, f"unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 <= self.label_smoothing < 1, f"label_smoothing must be in [0, 1), got {self.label_smoothing}"),
            (0 <= self.warmup_epochs <= self.epochs,
             f"warmup_epochs must be in [0, epochs={self.epochs}], got {self.warmup_epochs}"),
            (self.amp in ("auto", "bf16", "off"), f"amp must be 'auto', 'bf16' or 'off', got {self.amp!r}"),
        ) if not ok]
        if problems:
            raise ValueError("; ".join(problems))


class _DisplayLine:
    """A file-like object for tqdm that shows the latest line in one updating notebook display."""

    def __init__(self):
        from IPython.display import display

        self.handle = display({"text/plain": ""}, raw=True, display_id=True)
        self.last = ""

    def write(self, text: str) -> None:
        line = text.replace("\r", "\n").strip().split("\n")[-1].strip()
        if line and line != self.last:
            self.last = line
            self.handle.update({"text/plain": line}, raw=True)

    def flush(self) -> None:
        pass


def progress_bar(total: int, desc: str, *, initial: int = 0, disable: bool = False) -> tqdm:
    """A bar that leaves one line behind: tqdm in a terminal; in a notebook kernel one display updated in place,
    so an executed notebook keeps one summary line per run."""
    if disable:
        return tqdm(total=total, disable=True)
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell and type(shell).__name__ == "ZMQInteractiveShell":  # a notebook kernel, not a terminal or script
        return tqdm(total=total, initial=initial, desc=desc, file=_DisplayLine(), mininterval=1.0, ncols=100,
                    unit="step", ascii=False)
    return tqdm(total=total, initial=initial, desc=desc, file=sys.stderr, unit="step", dynamic_ncols=True,
                mininterval=1.0 if sys.stderr.isatty() else 10.0)


def lr_factor(step: int, total_steps: int, config: FitConfig, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based)."""
    warmup = int(round(config.warmup_epochs * steps_per_epoch))
    if step < warmup:
        return (step + 1) / warmup
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "multistep":
        epoch = step // max(steps_per_epoch, 1)
        return config.gamma ** sum(epoch >= m for m in config.milestones)
    progress = (step - warmup) / max(1, total_steps - warmup)
    if config.schedule == "onecycle":  # linear decay to zero after the warm-up (triangular one-cycle)
        return max(0.0, 1.0 - progress)
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def autocast_for(device: torch.device, amp: str = "auto"):
    """bf16 autocast on CUDA, and on CPUs with native bf16 (``auto``); ``bf16`` forces it on CPU/CUDA;
    ``off`` is plain fp32."""
    if amp != "off" and (device.type == "cuda" or (device.type == "cpu" and (amp == "bf16" or cpu_has_native_bf16()))):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def use_channels_last(model: nn.Module, device: torch.device, setting="auto") -> bool:
    """channels_last where it is safe (``runtime.channels_last_safe``): ``auto`` turns it on for CUDA and
    for CPU models whose convolutions are all wide enough (measured here 1.06-1.37x faster for ResNet-18);
    ``True`` asks for it but an unsafe CPU model still runs contiguous, with a warning."""
    if device.type not in ("cuda", "cpu") or setting is False:
        return False
    safe = channels_last_safe(model, device)
    if setting is True and not safe:
        warnings.warn(f"channels_last was asked for, but {type(model).__name__} has convolutions narrower than "
                      f"{CPU_CHANNELS_LAST_MIN_CHANNELS} channels, which crash oneDNN's AVX2 kernels in that format; "
                      f"running in the contiguous format instead", RuntimeWarning, stacklevel=3)
    return safe


@contextmanager
def _oom_advice(loader, where: str):
    """Turn running out of device memory into a TrainingError that suggests a batch size."""
    try:
        yield
    except RuntimeError as err:  # torch.cuda.OutOfMemoryError included
        if not isinstance(err, torch.cuda.OutOfMemoryError) and "out of memory" not in str(err).lower():
            raise
        size = getattr(loader, "batch_size", None)
        if size and size > 1:
            hint = (f"batch size {size} does not fit in device memory during {where}; try batch_size={size // 2} "
                    f"(and scale the learning rate down in proportion), or a smaller model / image size")
        elif size == 1:
            hint = f"even batch size 1 does not fit in device memory during {where}; use a smaller model or image size"
        else:
            hint = f"out of memory during {where}; use a smaller batch, model or image size"
        raise TrainingError(f"CUDA out of memory: {hint}. (original error: {str(err).splitlines()[0]})") from err


def _to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool):
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    if x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    return x, y


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device: torch.device | str | None = None,
             amp: str = "auto", channels_last="auto") -> dict:
    """Accuracy and mean cross-entropy (no smoothing) over a loader; right for LogSoftmax models too (idempotent)."""
    from . import planning

    if planning.ACTIVE is not None:  # a cost plan: counted, not computed
        return planning.ACTIVE.evaluate(model, loader)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    channels_last = use_channels_last(model, device, channels_last)
    was_training = model.training
    model.eval()
    outputs, targets = [], []
    try:
        with _oom_advice(loader, "evaluation"):
            for x, y in loader:
                x, y = _to_device(x, y, device, channels_last)
                with autocast_for(device, amp), cpu_turn(device):
                    outputs.append(model(x).float().cpu())
                targets.append(y.cpu())
    finally:
        model.train(was_training)
    outputs, targets = torch.cat(outputs), torch.cat(targets)
    hard = targets.argmax(1) if targets.ndim == 2 else targets
    correct = outputs.argmax(1) == hard  # per item: an interval can then cover the test set's sampling too
    return {"loss": nn.functional.cross_entropy(outputs, targets).item(),
            "accuracy": Accuracy(correct.float().mean().item(), correct.numpy()), "n": len(targets)}


@torch.no_grad()
def infer(model: nn.Module, batches: Iterable[torch.Tensor], device: torch.device | str | None = None,
          amp: str = "auto") -> torch.Tensor:
    """``model``'s outputs for every batch, concatenated on the CPU as float32 (eval mode, no gradients, bf16 where
    native): the forward-only passes of a notebook (cached embeddings, frozen features). Counted in a cost plan."""
    from . import planning

    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        if planning.ACTIVE is not None:  # a cost plan: one batch on the meta device gives shapes and FLOPs
            batches = list(batches)
            n = sum(len(b) for b in batches)
            planning.ACTIVE.forward(model, batches[0], n, "infer")
            with torch.device("meta"):
                shape = copy.deepcopy(model).to("meta")(batches[0][:1].to("meta", torch.float32)).shape[1:]
            return torch.zeros(n, *shape)
        outputs = []
        for x in batches:
            with autocast_for(device, amp), cpu_turn(device):
                outputs.append(model(x.to(device)).float().cpu())
        return torch.cat(outputs)
    finally:
        model.train(was_training)


@dataclass
class FitResult:
    model: nn.Module
    history: pd.DataFrame
    resumed_from: int = 0
    precision: str = "float32"  # what the training steps computed in: "bfloat16" (autocast) or "float32"

    @property
    def train_seconds(self) -> float:
        return float(self.history["seconds"].sum()) if len(self.history) else 0.0

    @property
    def final(self) -> dict:
        return self.history.iloc[-1].to_dict() if len(self.history) else {}

    def time_to_accuracy(self, target: float) -> float | None:
        """Training seconds until validation accuracy first reached ``target`` (None if never)."""
        hit = self.history[self.history["val_acc"] >= target]
        return float(hit["elapsed"].iloc[0]) if len(hit) else None


def fingerprint(model: nn.Module, config: FitConfig, train_loader, extra: dict | None = None) -> str:
    """A hash of what makes two runs the same run: model shapes, configuration, data size and what the training
    loader does to the data (its ``pipeline()``, where it says)."""
    shapes = [(n, list(p.shape), p.requires_grad) for n, p in model.named_parameters()]
    pipeline = train_loader.pipeline() if hasattr(train_loader, "pipeline") else None
    content = {"model": type(model).__name__, "shapes": shapes, "config": asdict(config), "pipeline": pipeline,
               "steps_per_epoch": len(train_loader),
               "samples": getattr(train_loader, "num_samples", None) or len(getattr(train_loader, "dataset", []) or []),
               "extra": extra or {}}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


def samples_per_epoch(loader) -> int:
    """Training images per epoch: a loader's ``num_samples``, its batches x batch size, or (a plain list of
    batches) the sum of their lengths."""
    if getattr(loader, "num_samples", None):
        return loader.num_samples
    if getattr(loader, "batch_size", None):
        return len(loader) * loader.batch_size
    return sum(len(batch[0]) for batch in loader)


def _process_group() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed process group this fit runs in; (0, 1) without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _shard(x: torch.Tensor, y: torch.Tensor, rank: int, world: int, desc: str):
    """This process's consecutive slice of a global batch (every process draws the same batch: the loaders are
    seeded alike), and its share of the batch's images."""
    if world == 1:
        return x, y, 1.0
    if len(x) < world:
        raise TrainingError(f"{desc}: a batch of {len(x)} images cannot be split over {world} processes; use "
                            f"a batch size of at least {world} and drop_last=True for a short last batch")
    mine = x.tensor_split(world)[rank], y.tensor_split(world)[rank]
    return *mine, len(mine[0]) * world / len(x)


def _same_everywhere(flag: bool, world: int) -> bool:
    """A decision every process takes alike (process 0's)."""
    if world == 1:
        return flag
    box = [flag]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def fit(model: nn.Module, train_loader, val_loader=None, *, epochs: int, lr: float, optimizer: str = "adamw",
        weight_decay: float = 0.05, momentum: float = 0.9, schedule: str = "cosine", warmup_epochs: float = 0.0,
        min_lr_ratio: float = 0.0, milestones: Sequence[int] = (), gamma: float = 0.1, label_smoothing: float = 0.0,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None, grad_clip: float | None = None,
        device: torch.device | str | None = None, amp: str = "auto", channels_last="auto", compile: bool = False,
        checkpoint_dir: str | Path | None = None, resume: bool = True, seed: int = 0, progress: bool = True,
        desc: str = "train", on_epoch_end: Callable[[int, dict, nn.Module], Any] | None = None,
        fingerprint_extra: dict | None = None) -> FitResult:
    """Train ``model`` for ``epochs`` and return the model and its epoch history.

    ``train_loader`` yields ``(inputs, targets)``; targets are class indices or soft class
    probabilities (CutMix). ``loss_fn`` overrides the default ``CrossEntropyLoss(label_smoothing)``.
    With ``checkpoint_dir`` a checkpoint is written after every epoch and ``resume=True`` continues
    from the newest one of the same configuration (a finished run returns at once).
    """
    from . import planning

    if planning.ACTIVE is not None:  # a cost plan: counted, not trained
        FitConfig(epochs=epochs, lr=float(lr), optimizer=optimizer, schedule=schedule)  # the same checks
        return planning.ACTIVE.fit(model, train_loader, val_loader, epochs=epochs, lr=lr, compile=compile,
                                   loss_fn=loss_fn or nn.CrossEntropyLoss(label_smoothing=label_smoothing),
                                   desc=desc, checkpoint_dir=checkpoint_dir)
    config = FitConfig(epochs=epochs, lr=float(lr), optimizer=optimizer, weight_decay=float(weight_decay),
                       momentum=float(momentum), schedule=schedule, warmup_epochs=float(warmup_epochs),
                       min_lr_ratio=float(min_lr_ratio), milestones=tuple(milestones), gamma=float(gamma),
                       label_smoothing=float(label_smoothing), grad_clip=grad_clip, amp=amp,
                       channels_last=channels_last, compile=bool(compile), seed=int(seed))
    steps_per_epoch = len(train_loader)
    if steps_per_epoch == 0:
        raise TrainingError("the training loader yields no batches (fewer samples than one batch with drop_last?)")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    rank, world = _process_group()
    if world > 1 and device.type == "cuda":  # batch statistics over the global batch, as in one process
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    use_cl = use_channels_last(model, device, channels_last)
    model.to(device, memory_format=torch.channels_last if use_cl else torch.contiguous_format)
    from timm.optim import create_optimizer_v2

    opt_kwargs = {"momentum": momentum} if optimizer == "sgd" else {}
    opt = create_optimizer_v2(model, opt=optimizer, lr=lr, weight_decay=weight_decay, **opt_kwargs)
    for group in opt.param_groups:
        group["base_lr"] = group["lr"]
    criterion = loss_fn or nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    step_model = model
    if world > 1:  # gradients averaged over the processes in backward (DistributedDataParallel)
        ids = [device.index if device.index is not None else torch.cuda.current_device()] \
            if device.type == "cuda" else None
        step_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    step_model = torch.compile(step_model) if compile else step_model
    params = [p for p in model.parameters() if p.requires_grad]
    cpu_bf16 = device.type == "cpu" and isinstance(autocast_for(device, amp), torch.autocast)
    precision = None if cpu_bf16 else amp  # on a bf16 CPU: decided at the first batch (runtime.cpu_bf16_safe)

    def forward_backward(x, y, precision: str, share: float = 1.0):
        with autocast_for(device, precision):
            out = step_model(x)
            loss = criterion(out.float(), y)
        opt.zero_grad(set_to_none=True)
        # with several processes, each one's mean loss weighted by its share of the global batch: the averaged
        # gradient is then the gradient of the global batch's mean loss
        (loss * share).backward()
        return out, loss

    checkpointer = Checkpointer(checkpoint_dir) if checkpoint_dir is not None else None
    fp = fingerprint(model, config, train_loader, fingerprint_extra)
    state = None
    for turn in range(world):  # process 0 first: it alone clears or retires checkpoints, the others then read
        if turn == rank and checkpointer is not None:
            if not resume and rank == 0:
                checkpointer.clear()
            state = checkpointer.load_latest(fp) if resume else None
        if world > 1:
            torch.distributed.barrier()
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
    history, start_epoch = ([], 0) if state is None else (list(state["history"]), int(state["epoch"]))
    if state is not None and state.get("precision"):  # what the checkpointed steps computed in
        precision = state["precision"]
        cpu_bf16 = cpu_bf16 and precision != "off"

    total_steps = epochs * steps_per_epoch
    finished = start_epoch >= epochs
    if finished and progress:  # a bar that starts full would say nothing
        print(f"{desc}: all {epochs} epochs already trained; loaded from the checkpoint in {checkpoint_dir}")
    bar = progress_bar(total_steps, desc, initial=start_epoch * steps_per_epoch,
                       disable=not progress or finished or rank > 0)
    elapsed = history[-1]["elapsed"] if history else 0.0
    with bar:
        for epoch in range(start_epoch, epochs):
            # Every random draw of this epoch (shuffle, augmentation, dropout, CutMix) depends on (seed, epoch).
            epoch_seed = int(epoch_generator(seed, epoch).initial_seed())
            torch.manual_seed(epoch_seed)
            if hasattr(train_loader, "set_epoch"):
                train_loader.set_epoch(epoch)
            elif getattr(train_loader, "generator", None) is not None:
                train_loader.generator.manual_seed(epoch_seed)
            model.train()
            # Sums stay on the device; reading them back every step would stall an accelerator.
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            seen, counted, waited, redone = 0, 0, 0.0, 0
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = t_wait = time.perf_counter()
            for i, (x, y) in enumerate(islice(train_loader, steps_per_epoch)):
                waited += time.perf_counter() - t_wait  # host time blocked on the loader
                factor = lr_factor(epoch * steps_per_epoch + i, total_steps, config, steps_per_epoch)
                for group in opt.param_groups:
                    group["lr"] = group["base_lr"] * factor
                x, y = _to_device(x, y, device, use_cl)
                x, y, share = _shard(x, y, rank, world, desc)
                if precision is None:
                    cpu_bf16 = _same_everywhere(cpu_bf16_safe(model, x), world)
                    precision = amp if cpu_bf16 else "off"
                    if not cpu_bf16:
                        print(f"{desc}: training in fp32 (bf16 is nondeterministic here: see runtime.cpu_bf16_safe)")
                with _oom_advice(train_loader, "training"), cpu_turn(device):
                    out, loss = forward_backward(x, y, precision, share)
                    grads = [p.grad for p in params if p.grad is not None]
                    if cpu_bf16 and grads and not torch.isfinite(torch.stack(torch._foreach_norm(grads))).all():
                        # a bf16 step with non-finite weight gradients (oneDNN, rare) is redone in fp32 rather than
                        # let the NaN reach the weights; a genuinely diverging loss stays non-finite in fp32 too
                        out, loss = forward_backward(x, y, "off", share)
                        redone += 1
                    if grad_clip:
                        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                    opt.step()
                n = len(x)
                loss_sum += loss.detach().float() * n
                seen += n
                if y.ndim == 1:  # soft (mixed) targets have no honest accuracy
                    correct += (out.detach().argmax(1) == y).sum()
                    counted += n
                if i + 1 == steps_per_epoch and world > 1:  # every process's sums, before anyone checks them
                    sums = torch.stack([loss_sum.double(), correct.double(), *torch.tensor(
                        [seen, counted], dtype=torch.float64, device=device)])
                    torch.distributed.all_reduce(sums)
                    loss_sum, correct = sums[0], sums[1].long()
                    seen, counted = int(sums[2].item()), int(sums[3].item())
                if (((i + 1) % 50 == 0 and world == 1) or i + 1 == steps_per_epoch) and \
                        not math.isfinite(total := loss_sum.item()):
                    raise TrainingError(f"{desc}: the loss became {total} by epoch {epoch + 1}, step {i + 1}; "
                                        f"lower the learning rate (lr={lr}) or set grad_clip")
                bar.update(1)
                t_wait = time.perf_counter()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - t0
            elapsed += seconds
            val = evaluate(model, val_loader, device, amp, channels_last) if val_loader is not None else {}
            row = {"epoch": epoch + 1, "train_loss": loss_sum.item() / seen,
                   "train_acc": correct.item() / counted if counted else math.nan,
                   "val_loss": val.get("loss", math.nan), "val_acc": float(val.get("accuracy", math.nan)),
                   "lr": lr * lr_factor((epoch + 1) * steps_per_epoch - 1, total_steps, config, steps_per_epoch),
                   "seconds": seconds, "images_per_s": seen / seconds if seconds > 0 else math.nan,
                   "data_wait": waited / seconds if seconds > 0 else math.nan,
                   "elapsed": elapsed, "fp32_redone_steps": redone}
            history.append(row)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}",
                            val_acc="-" if math.isnan(row["val_acc"]) else f"{row['val_acc']:.3f}", refresh=False)
            if checkpointer is not None and rank == 0:  # one writer; the others wait for the file
                checkpointer.save({"fingerprint": fp, "epoch": epoch + 1, "model": model.state_dict(),
                                   "optimizer": opt.state_dict(), "history": history, "precision": precision},
                                  epoch + 1)
            if world > 1:
                torch.distributed.barrier()
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, row, model)
    frame = pd.DataFrame(history, columns=HISTORY_COLUMNS)
    dtype = "bfloat16" if isinstance(autocast_for(device, precision), torch.autocast) else "float32"
    FIT_LOG.append({"desc": desc, "model": type(model).__name__, "parameters": sum(p.numel() for p in params),
                    "samples_per_epoch": samples_per_epoch(train_loader), "epochs": epochs, "resumed_from": start_epoch,
                    "seconds": float(frame["seconds"].sum()), "precision": dtype})
    return FitResult(model, frame, resumed_from=start_epoch, precision=dtype)
