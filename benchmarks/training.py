"""Benchmark 1: image-classifier training throughput, picseq's path vs the seeds' conventional pipeline.

picseq: the uint8 images live on the device, crop + flip run there in batches (DeviceLoader),
channels_last where it is safe, bf16 autocast where it is native (CUDA, CPUs with AVX512-BF16/AMX),
optional torch.compile. Conventional: torchvision DataLoader with PIL transforms in 2 worker processes,
fp32, NCHW. Same model, batch size, number of steps, optimiser and learning rate; both through
``picseq_utils.train.fit``.

Each side also says how close it runs to the machine: achieved FLOP/s (the training step's FLOPs per image,
counted by ``torch.utils.flop_counter``, times images/s) as a share of this device's measured matmul peak in
the dtype that side computes in.
"""
from __future__ import annotations

import copy
import time

import torch
from torch.nn import functional as F

from picseq_utils.data import DeviceLoader, load_cifar10
from picseq_utils.models import build_model, count_parameters
from picseq_utils.runtime import seed_everything
from picseq_utils.train import autocast_for, fit

from .conventional import conventional_loader
from .core import Side, compare


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


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 2048, seconds: float = 2.0) -> float:
    """This device's sustained matmul FLOP/s in ``dtype`` (the best of several timed batches)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.matmul(a, b)
    best, start = 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(4):
            torch.matmul(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 4 * 2 * n ** 3 / (time.perf_counter() - t0))
    return best


def compute_dtype(device: torch.device, amp: str) -> torch.dtype:
    return torch.bfloat16 if isinstance(autocast_for(device, amp), torch.autocast) else torch.float32


def _side(name: str, model_name: str, loader, device, fast: bool, compile_model: bool, peaks: dict) -> Side:
    seed_everything(0)
    model = build_model(model_name, 10)
    label = f"{model_name} ({count_parameters(model):,} params)"
    amp = "auto" if fast else "off"
    flops = training_flops_per_image(model, 32, device, amp)
    dtype = compute_dtype(device, amp)
    if dtype not in peaks:
        peaks[dtype] = matmul_peak(device, dtype)

    def run() -> dict:
        result = fit(model, loader, epochs=1, lr=1e-3, weight_decay=0.05, device=device, progress=False,
                     amp=amp, channels_last="auto" if fast else False, compile=compile_model and fast)
        row = result.history.iloc[-1]
        achieved = float(row["images_per_s"]) * flops
        return {"value": float(row["images_per_s"]), "samples": int(len(loader) * loader.batch_size),
                "loss": float(row["train_loss"]), "data_wait": float(row["data_wait"]), "model": label,
                "gflops": achieved / 1e9, "peak_share": achieved / peaks[dtype],
                "dtype": str(dtype).replace("torch.", "")}

    return Side(name, run)


def training_throughput(device: torch.device, *, batch_size: int, steps: int, repetitions: int,
                        compile_model: bool = False, models=("resnet18_cifar", "vit_cifar"), workers: int = 2) -> list[dict]:
    data = load_cifar10(source="auto")
    split = data.train.take(torch.arange(batch_size * steps))  # exactly `steps` batches per epoch
    mean, std = data.mean_std()
    peaks: dict = {}
    results = []
    for model_name in models:
        fast_loader = DeviceLoader(split, batch_size, device=device, crop_padding=4, flip=True, mean=mean, std=std,
                                   seed=0)
        slow_loader = conventional_loader(split, batch_size, crop_padding=4, flip=True, mean=mean, std=std,
                                          num_workers=workers, seed=0)
        if device.type == "cuda":
            target = {"min_value": 30000 if model_name.startswith("resnet") else 15000, "max_data_wait": 0.05}
        else:  # faster than the seeds' pipeline by 1.3x, or so close to the machine that little is left to win
            target = {"min_ratio": 1.3, "or_min_peak_share": 0.7, "max_data_wait": 0.10}
        fast_dtype = compute_dtype(device, "auto")
        results.append(compare(
            f"train {model_name} 32px", "images/s",
            _side(f"picseq (device-resident, batched aug, {str(fast_dtype).replace('torch.', '')}"
                  + (", compile" if compile_model else "") + ")", model_name, fast_loader, device, True,
                  compile_model, peaks),
            _side(f"conventional (DataLoader+PIL, {workers} workers, fp32)", model_name, slow_loader, device, False,
                  False, peaks),
            repetitions=repetitions, target=target,
            notes=f"{data.provenance.label}, batch {batch_size}, {steps} steps per repetition"))
    results.append({"benchmark": "matmul peak", "kind": "table",
                    "notes": f"sustained {2048}x{2048} matmul on {device}, the denominator of 'share of peak'",
                    "rows": [{"dtype": str(k).replace("torch.", ""), "GFLOP/s": round(v / 1e9, 1)}
                             for k, v in peaks.items()]})
    return results
