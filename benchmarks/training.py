"""Benchmark 1: image-classifier training throughput, picseq's path vs the seeds' conventional pipeline.

picseq: the uint8 images live on the device, crop + flip run there in batches (DeviceLoader), channels_last where
it is safe, optional torch.compile. Conventional: torchvision DataLoader with PIL transforms in 2 worker processes,
NCHW. Same model, batch size, number of steps, optimiser and learning rate; both through
``picseq_utils.train.fit``.

Both sides of a row compute in the same dtype, named in the row and in each side's name: float32 against float32
everywhere, and bfloat16 autocast against bfloat16 autocast where the device has native bf16 (CUDA; CPUs with
AVX512-BF16/AMX and no cap below them). A ratio across dtypes would credit the pipeline with the dtype's speed.

Each side also says how close it runs to the machine: achieved FLOP/s (the training step's FLOPs per image,
counted by ``torch.utils.flop_counter``, times images/s) as a share of the peak this process measured
(``benchmarks.peak``) in the dtype that side computes in. An achieved figure above that peak means the peak is
wrong; the row is then flagged and gets no ratio.
"""
from __future__ import annotations

import copy

import torch
from torch.nn import functional as F

from picseq_utils.data import DeviceLoader, load_cifar10
from picseq_utils.models import build_model, count_parameters
from picseq_utils.runtime import cpu_bf16_safe, cpu_has_native_bf16, seed_everything
from picseq_utils.train import autocast_for, fit

from .conventional import conventional_loader
from .core import Side, compare
from .peak import dtype_name

#: Fewest timed training steps per repetition (after the warm-up) for a row to be reported.
MIN_TIMED_STEPS = 20
#: Steps of the warm-up fit (same shapes, so every kernel and primitive is created before timing).
WARMUP_STEPS = 3
#: The CPU target: picseq's path at least this many times faster than the conventional one in the same dtype.
CPU_TARGET = {"min_ratio": 1.3, "max_data_wait": 0.10}
#: What one H100 should do in bf16 (the design's targets), per model.
GPU_TARGETS = {"resnet18": {"min_value": 30000, "max_data_wait": 0.05}, "vit": {"min_value": 15000, "max_data_wait": 0.05}}


def training_dtypes(device: torch.device) -> list[torch.dtype]:
    """float32 always; bfloat16 where it is native (CUDA, or a CPU whose oneDNN runs bf16 uncapped)."""
    native_bf16 = device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())
    return [torch.float32] + ([torch.bfloat16] if native_bf16 else [])


def training_flops_per_image(model: torch.nn.Module, image_size: int, device: torch.device, amp: str) -> float:
    """FLOPs of one training step (forward + backward) per image, counted on a batch of 2."""
    from torch.utils.flop_counter import FlopCounterMode

    probe = copy.deepcopy(model).to(device).train()
    x = torch.randn(2, 3, image_size, image_size, device=device)
    y = torch.tensor([0, 1], device=device)
    with FlopCounterMode(display=False) as counter:
        with autocast_for(device, amp):
            loss = F.cross_entropy(probe(x).float(), y)
        loss.backward()
    return counter.get_total_flops() / 2


def _side(name: str, model_name: str, loader, warmup_loader, device: torch.device, *, fast: bool,
          dtype: torch.dtype, compile_model: bool, peaks: dict[str, float]) -> Side:
    seed_everything(0)
    model = build_model(model_name, 10)
    label = f"{model_name} ({count_parameters(model):,} params)"
    amp = "bf16" if dtype == torch.bfloat16 else "off"
    if device.type == "cpu" and amp == "bf16" and not cpu_bf16_safe(model, torch.randn(1, 3, 32, 32)):
        amp = "off"  # fit would train it in fp32 anyway; the side says so and the dtype check catches it
    computes = torch.bfloat16 if amp == "bf16" else torch.float32
    flops = training_flops_per_image(model, 32, device, amp)
    peak = peaks[dtype_name(computes)]
    kwargs = dict(epochs=1, lr=1e-3, weight_decay=0.05, device=device, progress=False, amp=amp, resume=False,
                  channels_last="auto" if fast else False, compile=compile_model and fast)

    def warmup() -> None:
        fit(model, warmup_loader, **kwargs)
        if getattr(loader, "persistent_workers", False):
            next(iter(loader))  # start the timed loader's worker processes before the timing

    def run() -> dict:
        result = fit(model, loader, **kwargs)
        row = result.history.iloc[-1]
        achieved = float(row["images_per_s"]) * flops / 1e9
        return {"value": float(row["images_per_s"]), "samples": int(len(loader) * loader.batch_size),
                "loss": float(row["train_loss"]), "data_wait": float(row["data_wait"]), "model": label,
                "gflops": achieved, "peak_gflops": peak, "peak_share": achieved / peak,
                "dtype": dtype_name(computes), "fp32_redone_steps": int(row["fp32_redone_steps"]),
                "flops_per_image": flops}

    return Side(name, run, warmup)


def training_throughput(device: torch.device, *, batch_size: int, steps: int, repetitions: int,
                        peaks: dict[str, float], compile_model: bool = False,
                        models=("resnet18_cifar", "vit_cifar"), workers: int = 2) -> list[dict]:
    """One row per model and dtype (``training_dtypes``); ``peaks`` maps dtype names to this process's peak."""
    if steps < MIN_TIMED_STEPS:
        raise ValueError(f"the training benchmark times at least {MIN_TIMED_STEPS} steps per repetition, got {steps}")
    data = load_cifar10(source="auto")
    split = data.train.take(torch.arange(batch_size * steps))  # exactly `steps` batches per epoch
    warm_split = data.train.take(torch.arange(batch_size * WARMUP_STEPS))
    mean, std = data.mean_std()
    results = []
    for model_name in models:
        for dtype in training_dtypes(device):
            name = dtype_name(dtype)
            mode = name if dtype == torch.float32 else f"{name} autocast"

            def loaders(fast: bool, part):
                if fast:
                    return DeviceLoader(part, batch_size, device=device, crop_padding=4, flip=True, mean=mean,
                                        std=std, seed=0)
                return conventional_loader(part, batch_size, crop_padding=4, flip=True, mean=mean, std=std,
                                           num_workers=workers, seed=0)

            if device.type == "cuda":  # absolute targets for the bf16 rows (one H100)
                target = (dict(GPU_TARGETS["resnet18" if model_name.startswith("resnet") else "vit"])
                          if dtype == torch.bfloat16 else {})
            else:
                target = dict(CPU_TARGET)
            fast = _side(f"picseq (device-resident, batched aug, {mode}" + (", compile" if compile_model else "") + ")",
                         model_name, loaders(True, split), loaders(True, warm_split), device, fast=True, dtype=dtype,
                         compile_model=compile_model, peaks=peaks)
            slow = _side(f"conventional (DataLoader+PIL, {workers} workers, {mode})", model_name, loaders(False, split),
                         loaders(False, warm_split), device, fast=False, dtype=dtype, compile_model=False, peaks=peaks)
            results.append(compare(
                f"train {model_name} 32px {name}", "images/s", fast, slow, repetitions=repetitions, target=target,
                notes=f"{data.provenance.label}, batch {batch_size}, {steps} timed steps per repetition after a "
                      f"{WARMUP_STEPS}-step warm-up, both sides {mode}"))
            results[-1]["dtype"] = name
    return results
