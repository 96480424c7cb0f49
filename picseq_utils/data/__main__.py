"""``python -m picseq_utils.data download cifar10 [--root data]``: fetch a real data set (needs internet).
``python -m picseq_utils.data rehearsal [--root data/rehearsal]``: what ``make rehearse`` runs on - stand-ins in
the real layout at the real paths, and a ResNet-18 weights file in torchvision's cache format under
``<root>/torch`` (ViT and DeiT weights deliberately absent, so both loading paths run)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..paths import data_root
from . import DATASETS, load_dataset
from .datasets import write_rehearsal_root
from .provenance import DataCorruptError, DataUnavailableError


def write_rehearsal_weights(torch_home: Path) -> Path:
    """A randomly initialised ResNet-18 saved where torchvision looks for its ImageNet weights, in that file's
    format (it predates BatchNorm's ``num_batches_tracked`` buffers)."""
    import torch
    import torchvision

    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    path = torch_home / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    state = torchvision.models.resnet18().state_dict()
    torch.save({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m picseq_utils.data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("download", help="download a real data set into the data root")
    get.add_argument("name", choices=[n for n in DATASETS if n != "digits"])
    get.add_argument("--root", default=None, help="data root (default: <project>/data)")
    rehearse = sub.add_parser("rehearsal", help="write the rehearsal's stand-ins and weights file")
    rehearse.add_argument("--root", default="data/rehearsal")
    args = parser.parse_args(argv)
    if args.command == "rehearsal":
        root = write_rehearsal_root(data_root(args.root))
        print(f"rehearsal data in {root}; weights file {write_rehearsal_weights(root / 'torch')}")
        return 0
    try:
        data = load_dataset(args.name, source="real", root=args.root, download=True)
    except (DataUnavailableError, DataCorruptError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{data.provenance.label}: {len(data.train)} train / {len(data.test)} test images in {data.provenance.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
