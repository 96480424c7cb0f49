"""Benchmarks 2 and 3: clip augmentation throughput (notebook 01's code), and the seed-000 model's cached-embedding path
(notebook 02's code), both imported from the modules generated from the notebooks' ``#| export`` cells."""
from __future__ import annotations

import time

import torch
from torch import nn

from picseq_lessons import clip_augmentation as ca
from picseq_lessons import resnet_embedded_transformer as cm
from picseq_utils.data.clips import generate_clips
from picseq_utils.data import TensorLoader
from picseq_utils.models import count_parameters
from picseq_utils.train import fit

from .core import Side, compare

#: The cached-embedding path of seed 000 on one GPU: at least this many times faster end to end.
GPU_TARGET = {"min_ratio": 50}


def augmentation(device: torch.device, *, sizes=(112, 224), n_clips: int = 8, repetitions: int = 3) -> list[dict]:
    """augmentor mode vs torchvision mode, clips/s, one clip at a time (one draw per clip)."""
    results = []
    for size in sizes:
        clips = torch.randint(0, 256, (n_clips, 8, 3, size, size), dtype=torch.uint8,
                              generator=torch.Generator().manual_seed(0)).to(device)

        def side(mode):
            def run():
                gen = torch.Generator().manual_seed(1)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                out = [ca.augment_clip(clip, mode, gen) for clip in clips]
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - t0
                assert all(o.shape == clips[0].shape for o in out)
                return {"value": n_clips / seconds, "samples": n_clips * 8, "model": f"{size}px clips"}
            return Side(f"{mode} mode", run)

        results.append(compare(f"clip augmentation {size}px", "clips/s", side("augmentor"), side("torchvision"),
                               repetitions=repetitions, notes=f"{n_clips} clips of 8 frames, {device}"))
    return results


def cached_vs_end_to_end(device: torch.device, *, clips: int = 64, size: int = 112, epochs: int = 1,
                         repetitions: int = 3) -> list[dict]:
    """Seconds per epoch of the seed model with a frozen ResNet-18, on cached embeddings vs end to end
    (the ratio is how many times faster the cached path is; the one-time embedding cost is in the notes)."""
    frames, labels = generate_clips(clips, size, seed=0)
    clip_tensor = torch.from_numpy(frames).permute(0, 1, 4, 2, 3).contiguous()
    label_tensor = torch.from_numpy(labels)
    backbone, _ = cm.resnet18_backbone(imagenet=False)
    frozen = cm.FrozenBackbone(backbone).to(device)
    t0 = time.perf_counter()
    features = cm.embed_clips(frozen, clip_tensor, device)
    cache_seconds = time.perf_counter() - t0

    def side(path):
        torch.manual_seed(0)
        model = cm.ClipClassifier(frozen if path == "end-to-end" else None)
        label = f"seed model ({count_parameters(model, trainable_only=True):,} trainable params)"
        loader = (TensorLoader(clip_tensor, label_tensor, 32, device=device, transform=cm.normalise_clips)
                  if path == "end-to-end" else TensorLoader(features, label_tensor, 32, device=device))

        def run():
            result = fit(model, loader, epochs=epochs, lr=1e-5, schedule="constant", loss_fn=nn.NLLLoss(),
                         device=device, progress=False, resume=False)
            return {"value": result.train_seconds / epochs, "samples": clips * epochs,
                    "loss": float(result.final["train_loss"]), "model": label}
        return Side(path, run)

    target = dict(GPU_TARGET) if device.type == "cuda" else {}
    return [compare("seed-000 model: epoch time", "s/epoch", side("cached"), side("end-to-end"),
                    repetitions=repetitions, higher_is_better=False, target=target,
                    notes=f"{clips} clips of 8 x {size}px frames; caching them once took {cache_seconds:.1f} s")]
