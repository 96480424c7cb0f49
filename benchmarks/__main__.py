"""``python -m benchmarks [--only train clips clipmodel report] [--compile] [--render]``."""
from __future__ import annotations

import argparse
import sys

import torch

from picseq_utils.runtime import select_device

from .core import save_results, write_markdown

BENCHMARKS = ("train", "clips", "clipmodel", "report")


def settings_for(device: torch.device) -> dict:
    """Sizes that finish in minutes: small on a 2-core CPU, GPU-sized on CUDA."""
    if device.type == "cuda":
        return {"batch_size": 512, "steps": 60, "repetitions": 5, "aug_clips": 64, "model_clips": 512}
    return {"batch_size": 64, "steps": 4, "repetitions": 3, "aug_clips": 8, "model_clips": 64}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these benchmarks")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile picseq's side of the training benchmark")
    parser.add_argument("--render", action="store_true", help="only re-render BENCHMARKS.md from the results files")
    args = parser.parse_args(argv)
    if args.render:
        print(f"wrote {write_markdown()}")
        return 0
    device = select_device(args.device)
    settings = settings_for(device)
    chosen = args.only or BENCHMARKS
    results = []
    if "train" in chosen:
        from .training import training_throughput

        results += training_throughput(device, batch_size=settings["batch_size"], steps=settings["steps"],
                                       repetitions=settings["repetitions"], compile_model=args.compile)
    if "clips" in chosen:
        from .clips import augmentation

        results += augmentation(device, n_clips=settings["aug_clips"], repetitions=settings["repetitions"])
    if "clipmodel" in chosen:
        from .clips import cached_vs_end_to_end

        results += cached_vs_end_to_end(device, clips=settings["model_clips"], repetitions=settings["repetitions"])
    if "report" in chosen:
        from .report_times import notebook_wall_times

        results += notebook_wall_times()
    path = save_results(device, results, {**settings, "compile": args.compile, "benchmarks": list(chosen)})
    print(f"wrote {path}\nwrote {write_markdown()}")
    for r in results:
        if r.get("kind") == "table":
            print(f"{r['benchmark']}: {r['notes']}")
            continue
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        print(f"{r['benchmark']}: {r['a']} vs {r['b']}: {ratio} ({r['checks']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
