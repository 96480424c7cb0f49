"""In-memory image data sets: uint8 tensors plus class names and provenance."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
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

    def subset(self, fraction: float, seed: int = 0) -> "ImageSplit":
        """A class-balanced random ``fraction`` (at least one image per class)."""
        return self.take(stratified_indices(self.labels, fraction, seed))


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


def split_off(split: ImageSplit, fraction: float, seed: int = 0) -> tuple[ImageSplit, ImageSplit]:
    """(the rest, a class-balanced random ``fraction``) of ``split``, disjoint and each in the original order."""
    part = stratified_indices(split.labels, fraction, seed)
    rest = torch.ones(len(split), dtype=torch.bool)
    rest[part] = False
    return split.take(rest.nonzero().squeeze(1)), split.take(part)


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
        """Per-channel mean and std of the training images in [0, 1] (for normalisation).

        A constant channel (std 0, as in the cost plan's all-black stand-in) gets std 1, so that
        normalising it gives zeros rather than NaN."""
        x = self.train.images.float().div_(255)
        std = x.std(dim=(0, 2, 3))
        std = torch.where(std > 0, std, torch.ones_like(std))
        return tuple(x.mean(dim=(0, 2, 3)).tolist()), tuple(std.tolist())

    def with_validation(self, fraction: float = 0.1, seed: int = 0) -> "ImageData":
        """Carve a class-balanced validation split out of the training split (the test split stays untouched)."""
        train, val = split_off(self.train, fraction, seed)
        return replace(self, train=train, val=val)

    def subset_train(self, fraction: float, seed: int = 0) -> "ImageData":
        """Keep a class-balanced ``fraction`` of the training split (for data-size curves and smoke runs)."""
        return self if fraction == 1 else replace(self, train=self.train.subset(fraction, seed))

    def limit(self, train: int | None = None, test: int | None = None, seed: int = 0) -> "ImageData":
        """Class-balanced subsets of at most ``train`` / ``test`` images (and the validation split
        shrunk in proportion to the training split)."""
        out = self
        if train is not None and train < len(self.train):
            out = replace(out, train=out.train.subset(train / len(out.train), seed),
                          val=None if out.val is None else out.val.subset(train / len(self.train), seed))
        if test is not None and test < len(self.test):
            out = replace(out, test=out.test.subset(test / len(out.test), seed))
        return out

    def describe(self) -> dict:
        """One table row: name, provenance, sizes."""
        return {"data set": self.provenance.label, "kind": self.provenance.kind, "classes": self.num_classes,
                "train": len(self.train), "val": len(self.val) if self.val is not None else 0, "test": len(self.test),
                "image (C,H,W)": "x".join(map(str, self.image_shape)), "path": self.provenance.path}
