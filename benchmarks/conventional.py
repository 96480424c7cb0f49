"""The seeds' conventional input pipeline, the other side of the training benchmark: PIL transforms in
DataLoader worker processes, fp32 NCHW batches."""
from __future__ import annotations

import torch

from picseq_utils.data import ImageSplit


class SplitDataset(torch.utils.data.Dataset):
    """A map-style dataset over an ``ImageSplit`` that returns PIL images, like torchvision's CIFAR
    classes, so the conventional pipeline (PIL transforms in DataLoader workers) can be measured."""

    def __init__(self, split: ImageSplit, transform=None):
        self.images = split.images.permute(0, 2, 3, 1).numpy()
        self.labels = split.labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        from PIL import Image

        image = Image.fromarray(self.images[index])
        return (self.transform(image) if self.transform else image), self.labels[index]


def conventional_loader(split: ImageSplit, batch_size: int, *, crop_padding: int = 4, flip: bool = True,
                        mean=None, std=None, num_workers: int = 2, shuffle: bool = True, seed: int = 0,
                        drop_last: bool = True) -> torch.utils.data.DataLoader:
    """The seeds' pipeline: PIL transforms in DataLoader worker processes, fp32 NCHW batches."""
    from torchvision import transforms as T

    steps = []
    if crop_padding:
        steps.append(T.RandomCrop(split.images.shape[-1], padding=crop_padding))
    if flip:
        steps.append(T.RandomHorizontalFlip())
    steps.append(T.ToTensor())
    if mean is not None:
        steps.append(T.Normalize(mean, std))
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(SplitDataset(split, T.Compose(steps)), batch_size=batch_size, shuffle=shuffle,
                                       num_workers=num_workers, drop_last=drop_last, generator=gen,
                                       persistent_workers=num_workers > 0, pin_memory=torch.cuda.is_available())
