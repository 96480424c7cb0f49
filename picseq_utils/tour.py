"""Helpers for ``00_data_tour``: every data set the suite uses, with samples and provenance."""
from __future__ import annotations

import pandas as pd
import torch

from .data import ImageData, SOURCES, load_dataset, load_photo
from .params import DataRoot, Int, Str, schema
from .runtime import environment_info

PARAMS = schema({
    "data_source": Str("where data comes from", choices=SOURCES),
    "data_root": DataRoot("data folder, relative to the project root or absolute"),
    "flowers_size": Int("side length Flowers-102 images are decoded to", min=16, max=512),
    "samples_per_class": Int("images per class in the sample grids", min=1, max=16),
    "clip_frame_size": Int("frame size of the generated clips shown", min=16, max=512),
})

TOUR_DATASETS = ("cifar10", "cifar100", "flowers102", "digits")


def environment_table(device: torch.device) -> pd.DataFrame:
    info = environment_info(device)
    return pd.DataFrame({"value": {k: str(v) for k, v in info.items()}})


def load_tour(source: str, root: str, flowers_size: int) -> dict[str, ImageData]:
    """Load every image-classification data set of the suite (stand-ins where the real one is absent)."""
    out = {}
    for name in TOUR_DATASETS:
        kwargs = {"source": source if name != "digits" else "auto", "root": root}
        if name == "flowers102":
            kwargs["image_size"] = flowers_size
        out[name] = load_dataset(name, **kwargs)
    return out


def class_samples(data: ImageData, per_class: int, max_classes: int = 10, seed: int = 0):
    """(images, titles) with ``per_class`` training images of each of the first ``max_classes`` classes."""
    gen = torch.Generator().manual_seed(seed)
    images, titles = [], []
    for cls in range(min(max_classes, data.num_classes)):
        members = (data.train.labels == cls).nonzero().squeeze(1)
        pick = members[torch.randperm(len(members), generator=gen)[:per_class]]
        images.append(data.train.images[pick])
        titles += [data.classes[cls][:14]] * len(pick)
    return torch.cat(images), titles


def photo_table(names=("astronaut", "coffee", "chelsea", "china", "grace_hopper")) -> tuple[list, pd.DataFrame]:
    photos, rows = [], []
    for name in names:
        image, prov = load_photo(name, size=224)
        photos.append(image)
        rows.append({"photo": name, "kind": prov.kind, "from": prov.path, "description": prov.origin})
    return photos, pd.DataFrame(rows)
