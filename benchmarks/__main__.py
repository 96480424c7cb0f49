"""``python -m benchmarks [--only train clips clipmodel] [--compile] [--render]``.

Each run measures, in its own process (the instruction-set caps are read when torch starts), the peak it
compares against, then the benchmarks, and writes ``benchmarks/results/<device-kind>.json`` and BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import sys

import torch

from picseq_utils.runtime import select_device

from .core import CpuMeter, load_average, run_environment, save_results, write_markdown

BENCHMARKS = ("train", "clips", "clipmodel")


def settings_for(device: torch.device) -> dict:
    """Sizes that finish in minutes: small on a 2-core CPU (both settings of ``make bench`` within ~15 minutes:
    two repetitions, a-b then b-a, rather than fewer than 20 timed steps), GPU-sized on CUDA. ``steps`` are timed
    steps per repetition, after a warm-up."""
    if device.type == "cuda":
        return {"batch_size": 512, "steps": 60, "repetitions": 5, "peak_trials": 10, "aug_clips": 64,
                "model_clips": 512}
    return {"batch_size": 64, "steps": 20, "repetitions": 2, "peak_trials": 5, "aug_clips": 8, "model_clips": 64}


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
    load_before, meter = load_average(), CpuMeter()
    device = select_device(args.device)
    environment = run_environment(device, load_before)
    print(f"instruction-set setting: {environment['isa']}; 1-minute load {load_before}", flush=True)
    settings = settings_for(device)
    chosen = args.only or BENCHMARKS
    results = []
    if "train" in chosen:
        from .peak import measure_peaks
        from .training import training_dtypes, training_throughput

        measured = measure_peaks(device, training_dtypes(device), trials=settings["peak_trials"])
        for row in measured["rows"]:
            print(f"peak {row['dtype']} {row['operation']} ({row['library']}): {row['gflops']:.1f} GFLOP/s", flush=True)
        results += training_throughput(device, batch_size=settings["batch_size"], steps=settings["steps"],
                                       repetitions=settings["repetitions"], peaks=measured["peaks"],
                                       compile_model=args.compile)
        results.append({"benchmark": "peak", "kind": "peak", "rows": measured["rows"], "peaks": measured["peaks"],
                        "notes": f"on {device}, in the process that ran the training rows: each operation's best of "
                                 f"{settings['peak_trials']} timed trials (every trial listed); a dtype's peak is "
                                 f"its best operation, the denominator of that dtype's share of peak"})
    if "clips" in chosen:
        from .clips import augmentation

        results += augmentation(device, n_clips=settings["aug_clips"], repetitions=settings["repetitions"])
    if "clipmodel" in chosen:
        from .clips import cached_vs_end_to_end

        results += cached_vs_end_to_end(device, clips=settings["model_clips"], repetitions=settings["repetitions"])
    path = save_results(device, results, {**settings, "compile": args.compile, "benchmarks": list(chosen)},
                        environment, meter)
    print(f"wrote {path}\nwrote {write_markdown()}")
    for r in results:
        if "sides" not in r:
            continue
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        print(f"{r['benchmark']}: {r['a']} vs {r['b']}: {ratio} ({r['checks']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
