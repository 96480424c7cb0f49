"""Loaders: a device-resident loader for small image sets (per-sample crop and flip as batched tensor
operations on the device), and batches of tensors already in memory."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from .images import ImageSplit

BatchTransform = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def epoch_generator(seed: int, epoch: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator whose stream depends only on (seed, epoch): a resumed run redraws the same batches."""
    gen = torch.Generator(device=device)
    gen.manual_seed((seed * 1_000_003 + epoch * 7919 + 17) % (2**63 - 1))
    return gen


def random_crop(images: Tensor, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Per-sample random crop of a padded batch back to its size (zero padding, like RandomCrop(pad=p))."""
    if padding <= 0:
        return images
    n, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n,), device=images.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), device=images.device, generator=generator)
    rows = (dy[:, None] + torch.arange(h, device=images.device)[None])  # (n, h)
    cols = (dx[:, None] + torch.arange(w, device=images.device)[None])  # (n, w)
    batch = torch.arange(n, device=images.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def random_flip(images: Tensor, generator: torch.Generator | None = None, p: float = 0.5) -> Tensor:
    """Per-sample horizontal flip with probability ``p``."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < p
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


class EpochBatches:
    """Index batches reshuffled every epoch from (seed, epoch) - so a resumed run redraws the same batches.
    Subclasses call ``__init__`` (or set ``device`` and ``batch_size`` themselves) and implement ``n_items`` and
    ``make_batch(index, generator)``."""

    shuffle: bool = True
    drop_last: bool = False
    seed: int = 0
    epoch: int = 0

    def __init__(self, n_items: int, batch_size: int, device, shuffle: bool, drop_last: bool, seed: int):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if n_items == 0:
            raise ValueError("cannot build a loader over no samples")
        self.device = torch.device(device)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.drop_last = drop_last and n_items >= batch_size  # a tiny set still yields one batch per epoch

    @property
    def n_items(self) -> int:
        """Number of items batched (images, clips)."""
        raise NotImplementedError

    @property
    def num_samples(self) -> int:
        """Training samples per epoch (what ``fit`` counts)."""
        return self.n_items

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_items // self.batch_size if self.drop_last else math.ceil(self.n_items / self.batch_size)

    def make_batch(self, index: Tensor, generator: torch.Generator):
        raise NotImplementedError

    def __iter__(self):
        gen = epoch_generator(self.seed, self.epoch, self.device)
        n = self.n_items
        order = torch.randperm(n, device=self.device, generator=gen) if self.shuffle else torch.arange(n, device=self.device)
        for b in range(len(self)):
            yield self.make_batch(order[b * self.batch_size:(b + 1) * self.batch_size], gen)


def describe(transform) -> str:
    """A description of a transform that is the same in every process: its repr, or for a plain function (whose
    repr holds a memory address) its name and the values it closes over."""
    if transform is None or not callable(transform):
        return repr(transform)
    code = getattr(transform, "__code__", None)
    if code is None:
        return repr(transform)
    cells = [describe(c.cell_contents) for c in (transform.__closure__ or ())]
    return f"{transform.__module__}.{transform.__qualname__}({', '.join(cells)})"


class DeviceLoader(EpochBatches):
    """A uint8 image set resident on ``device``, augmented there a whole batch at a time: per-sample crop
    (``crop_padding``) and flip as uint8, then float in [0, 1] -> ``augment`` -> ``mean``/``std`` ->
    ``batch_transform`` (e.g. CutMix: (x, y) -> (x, soft y))."""

    def __init__(self, split: ImageSplit, batch_size: int, *, device: torch.device | str = "cpu",
                 shuffle: bool = True, drop_last: bool | None = None, crop_padding: int = 0, flip: bool = False,
                 augment: Callable[[Tensor, torch.Generator], Tensor] | None = None,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                 batch_transform: BatchTransform | None = None, channels_last: bool = False,
                 seed: int = 0):
        super().__init__(len(split), batch_size, device, shuffle, shuffle if drop_last is None else drop_last, seed)
        self.images = split.images.to(self.device, non_blocking=True)
        self.labels = split.labels.to(self.device, non_blocking=True)
        self.crop_padding, self.flip, self.augment = crop_padding, flip, augment
        self.mean = None if mean is None else torch.tensor(mean, device=self.device).view(1, -1, 1, 1)
        self.std = None if std is None else torch.tensor(std, device=self.device).view(1, -1, 1, 1)
        self.batch_transform, self.channels_last = batch_transform, channels_last

    @property
    def n_items(self) -> int:
        return len(self.labels)

    def pipeline(self) -> dict:
        """What this loader does to the data: part of a training run's identity (``train.fingerprint``), so a
        checkpoint made with another pipeline (CutMix added, other crops) is not resumed."""
        stats = [None if t is None else t.flatten().tolist() for t in (self.mean, self.std)]
        return {"crop_padding": self.crop_padding, "flip": self.flip, "augment": describe(self.augment),
                "mean": stats[0], "std": stats[1], "batch_transform": describe(self.batch_transform)}

    def make_batch(self, index: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        images, y = self.images[index], self.labels[index]
        if self.crop_padding:
            images = random_crop(images, self.crop_padding, generator)
        if self.flip:
            images = random_flip(images, generator)
        x = images.float().div_(255)
        if self.augment is not None:
            x = self.augment(x, generator)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        if self.batch_transform is not None:
            x, y = self.batch_transform(x, y)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y


def eval_loader(split: ImageSplit, batch_size: int, *, device, mean=None, std=None) -> DeviceLoader:
    """In-order, un-augmented loader over a whole split (for validation and test)."""
    return DeviceLoader(split, batch_size, device=device, shuffle=False, drop_last=False, mean=mean, std=std)


class TensorLoader(EpochBatches):
    """Batches of any tensors already in memory (cached embeddings, whole clips) on ``device``; ``transform``
    maps a batch of inputs on the device (e.g. uint8 clips -> normalised float)."""

    def __init__(self, inputs: Tensor, targets: Tensor, batch_size: int, *, device: torch.device | str = "cpu",
                 shuffle: bool = True, drop_last: bool = False, transform: Callable[[Tensor], Tensor] | None = None,
                 seed: int = 0):
        if len(inputs) != len(targets):
            raise ValueError(f"inputs ({len(inputs)}) and targets ({len(targets)}) differ in length")
        super().__init__(len(inputs), batch_size, device, shuffle, drop_last, seed)
        self.inputs, self.targets = inputs.to(self.device), targets.to(self.device)
        self.transform = transform

    @property
    def n_items(self) -> int:
        return len(self.targets)

    def make_batch(self, index: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        x = self.inputs[index]
        return (self.transform(x) if self.transform is not None else x), self.targets[index]
