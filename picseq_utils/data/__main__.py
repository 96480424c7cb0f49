"""``python -m picseq_utils.data download cifar10 [--root data]``: fetch a real data set (needs internet)."""
from __future__ import annotations

import argparse
import sys

from . import DATASETS, load_dataset
from .provenance import DataCorruptError, DataUnavailableError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m picseq_utils.data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("download", help="download a real data set into the data root")
    get.add_argument("name", choices=[n for n in DATASETS if n != "digits"])
    get.add_argument("--root", default=None, help="data root (default: <project>/data)")
    args = parser.parse_args(argv)
    try:
        data = load_dataset(args.name, source="real", root=args.root, download=True)
    except (DataUnavailableError, DataCorruptError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{data.provenance.label}: {len(data.train)} train / {len(data.test)} test images in {data.provenance.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
