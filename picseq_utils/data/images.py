"""In-memory image data sets: uint8 tensors plus class names and provenance."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from .provenance import Provenance


@dataclass(frozen=True)
class ImageSplit:
    """Images as uint8 ``(N, C, H, W)`` and int64 labels ``(N,)``, on the CPU until a loader moves them."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.ndim != 1 or len(self.labels) != len(self.images):
            raise ValueError(f"labels must be (N,) with N = {len(self.images)}, got {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return len(self.images)

    def take(self, index) -> "ImageSplit":
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageSplit(self.images[index], self.labels[index])


def stratified_indices(labels: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """Indices of a class-balanced random ``fraction`` of ``labels`` (at least one per class), sorted."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    labels_np = labels.cpu().numpy()
    chosen = []
    for cls in np.unique(labels_np):
        members = np.flatnonzero(labels_np == cls)
        count = max(1, int(round(fraction * len(members))))
        chosen.append(rng.choice(members, size=count, replace=False))
    return torch.as_tensor(np.sort(np.concatenate(chosen)), dtype=torch.long)


@dataclass(frozen=True)
class ImageData:
    """A classification data set: train / optional validation / test splits, class names, provenance."""

    train: ImageSplit
    test: ImageSplit
    classes: tuple[str, ...]
    provenance: Provenance
    val: ImageSplit | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])

    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the training images in [0, 1] (for normalisation)."""
        x = self.train.images.float().div_(255)
        return tuple(x.mean(dim=(0, 2, 3)).tolist()), tuple(x.std(dim=(0, 2, 3)).tolist())

    def with_validation(self, fraction: float = 0.1, seed: int = 0) -> "ImageData":
        """Carve a class-balanced validation split out of the training split (the test split stays untouched)."""
        val_index = stratified_indices(self.train.labels, fraction, seed)
        keep = torch.ones(len(self.train), dtype=torch.bool)
        keep[val_index] = False
        return replace(self, train=self.train.take(keep.nonzero().squeeze(1)), val=self.train.take(val_index))

    def subset_train(self, fraction: float, seed: int = 0) -> "ImageData":
        """Keep a class-balanced ``fraction`` of the training split (for data-size curves and smoke runs)."""
        if fraction == 1:
            return self
        return replace(self, train=self.train.take(stratified_indices(self.train.labels, fraction, seed)))

    def limit(self, train: int | None = None, test: int | None = None, seed: int = 0) -> "ImageData":
        """Class-balanced subsets of at most ``train`` / ``test`` images (and the validation split
        shrunk in proportion to the training split)."""
        out = self
        if train is not None and train < len(self.train):
            out = replace(out, train=out.train.take(stratified_indices(out.train.labels, train / len(out.train), seed)))
            if out.val is not None:
                frac = min(1.0, train / len(self.train))
                out = replace(out, val=out.val.take(stratified_indices(out.val.labels, frac, seed)))
        if test is not None and test < len(self.test):
            out = replace(out, test=out.test.take(stratified_indices(out.test.labels, test / len(out.test), seed)))
        return out

    def describe(self) -> dict:
        """One table row: name, provenance, sizes."""
        return {
            "data set": self.provenance.label,
            "kind": self.provenance.kind,
            "classes": self.num_classes,
            "train": len(self.train),
            "val": len(self.val) if self.val is not None else 0,
            "test": len(self.test),
            "image (C,H,W)": "x".join(map(str, self.image_shape)),
            "path": self.provenance.path,
        }


def describe_all(datasets) -> pd.DataFrame:
    return pd.DataFrame([d.describe() for d in datasets])
