"""Benchmark 1: image-classifier training throughput, picseq's path vs the seeds' conventional pipeline.

picseq: the uint8 images live on the device, crop + flip run there in batches (DeviceLoader),
channels_last, bf16 autocast on CUDA, optional torch.compile. Conventional: torchvision
DataLoader with PIL transforms in 2 worker processes, fp32, NCHW. Same model, batch size, number
of steps, optimiser and learning rate; both through ``picseq_utils.train.fit``.
"""
from __future__ import annotations

import torch

from picseq_utils.data import DeviceLoader, conventional_loader, load_cifar10
from picseq_utils.models import build_model, count_parameters
from picseq_utils.runtime import seed_everything
from picseq_utils.train import fit

from .core import Side, compare


def _side(name: str, model_name: str, loader, device, fast: bool, compile_model: bool) -> Side:
    seed_everything(0)
    model = build_model(model_name, 10)
    label = f"{model_name} ({count_parameters(model):,} params)"

    def run() -> dict:
        result = fit(model, loader, epochs=1, lr=1e-3, weight_decay=0.05, device=device, progress=False,
                     amp="auto" if fast else "off", channels_last="auto" if fast else False,
                     compile=compile_model and fast)
        row = result.history.iloc[-1]
        return {"value": float(row["images_per_s"]), "samples": int(len(loader) * loader.batch_size),
                "loss": float(row["train_loss"]), "data_wait": float(row["data_wait"]), "model": label}

    return Side(name, run)


def training_throughput(device: torch.device, *, batch_size: int, steps: int, repetitions: int,
                        compile_model: bool = False, models=("resnet18_cifar", "vit_cifar"), workers: int = 2) -> list[dict]:
    data = load_cifar10(source="auto")
    split = data.train.take(torch.arange(batch_size * steps))  # exactly `steps` batches per epoch
    mean, std = data.mean_std()
    results = []
    for model_name in models:
        fast_loader = DeviceLoader(split, batch_size, device=device, crop_padding=4, flip=True, mean=mean, std=std,
                                   seed=0)
        slow_loader = conventional_loader(split, batch_size, crop_padding=4, flip=True, mean=mean, std=std,
                                          num_workers=workers, seed=0)
        if device.type == "cuda":
            target = {"min_value": 30000 if model_name.startswith("resnet") else 15000, "max_data_wait": 0.05}
        else:
            target = {"min_ratio": 1.3, "max_data_wait": 0.10} if model_name.startswith("resnet") else {}
        results.append(compare(
            f"train {model_name} 32px", "images/s",
            _side("picseq (device-resident, batched aug" + (", bf16, compile" if compile_model else "") + ")",
                  model_name, fast_loader, device, True, compile_model),
            _side(f"conventional (DataLoader+PIL, {workers} workers, fp32)", model_name, slow_loader, device, False,
                  False),
            repetitions=repetitions, target=target,
            notes=f"{data.provenance.label}, batch {batch_size}, {steps} steps per repetition"))
    return results
