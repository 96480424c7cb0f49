"""The denominator of "share of peak": this process's own best matmul and convolution FLOP/s, per dtype.

The instruction-set caps are read once, when torch starts: ``ONEDNN_MAX_CPU_ISA`` caps oneDNN (convolutions,
bf16 matmuls), ``ATEN_CPU_CAPABILITY`` caps ATen's vector kernels, and ``MKL_ENABLE_INSTRUCTIONS`` caps MKL,
which runs fp32 ``torch.matmul`` (sgemm) and ignores the other two. So the peak is measured in the same process
as the workload it is the denominator of, in the dtype that workload computes in, over several operations and
sizes (MKL's or oneDNN's matmul at 512/1024/2048, oneDNN's 3x3 convolution in both memory formats), the best of
several timed trials each, and the peak of a dtype is the best of all of them.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
from torch.nn import functional as F

#: (label, kind, size) of every peak measurement; a convolution is (batch, channels in, channels out, height=width).
PEAK_OPS = (
    ("matmul 512x512x512", "matmul", 512),
    ("matmul 1024x1024x1024", "matmul", 1024),
    ("matmul 2048x2048x2048", "matmul", 2048),
    ("conv3x3 64->64, 32x32, batch 64, NCHW", "conv", (64, 64, 64, 32)),
    ("conv3x3 64->64, 32x32, batch 64, channels_last", "conv_cl", (64, 64, 64, 32)),
    ("conv3x3 128->128, 16x16, batch 64, channels_last", "conv_cl", (64, 128, 128, 16)),
    ("conv3x3 256->256, 8x8, batch 64, channels_last", "conv_cl", (64, 256, 256, 8)),
)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _operation(kind: str, size, dtype: torch.dtype, device: torch.device) -> tuple[Callable[[], object], float, str]:
    """The callable, its FLOPs per call, and which library runs it."""
    gen = torch.Generator().manual_seed(0)
    if kind == "matmul":
        a = torch.randn(size, size, generator=gen).to(device, dtype)
        b = torch.randn(size, size, generator=gen).to(device, dtype)
        library = ("MKL sgemm" if dtype == torch.float32 else "oneDNN matmul") if device.type == "cpu" else "cuBLAS"
        return (lambda: torch.matmul(a, b)), 2.0 * size ** 3, library
    batch, c_in, c_out, hw = size
    fmt = torch.channels_last if kind == "conv_cl" else torch.contiguous_format
    x = torch.randn(batch, c_in, hw, hw, generator=gen).to(device, dtype).contiguous(memory_format=fmt)
    w = (torch.randn(c_out, c_in, 3, 3, generator=gen) * 0.05).to(device, dtype).contiguous(memory_format=fmt)
    library = "oneDNN convolution" if device.type == "cpu" else "cuDNN"
    return (lambda: F.conv2d(x, w, padding=1)), 2.0 * batch * c_out * hw * hw * c_in * 9, library


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_of(fn: Callable[[], object], flops: float, device: torch.device, *, trials: int = 5,
            min_seconds: float = 0.25) -> dict:
    """GFLOP/s of ``fn``: two warm-up calls, then ``trials`` timed trials of enough calls to last ``min_seconds``
    each; the best trial is the figure, every trial is kept."""
    with torch.no_grad():
        for _ in range(2):
            fn()
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        once = max(time.perf_counter() - t0, 1e-6)
        calls = max(1, int(min_seconds / once))
        values = []
        for _ in range(trials):
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            _sync(device)
            values.append(calls * flops / (time.perf_counter() - t0) / 1e9)
    return {"gflops": max(values), "trials": values, "calls_per_trial": calls}


def measure_peaks(device: torch.device, dtypes, *, trials: int = 5, min_seconds: float = 0.25,
                  ops=PEAK_OPS) -> dict:
    """Every peak measurement (one row per operation and dtype) and, per dtype, the best of them in GFLOP/s."""
    rows = []
    for dtype in dtypes:
        for label, kind, size in ops:
            fn, flops, library = _operation(kind, size, dtype, device)
            measured = best_of(fn, flops, device, trials=trials, min_seconds=min_seconds)
            rows.append({"dtype": dtype_name(dtype), "operation": label, "library": library,
                         "gflops": measured["gflops"], "trials": measured["trials"],
                         "calls_per_trial": measured["calls_per_trial"]})
            del fn
    return {"rows": rows, "peaks": peaks_of(rows)}


def peaks_of(rows: list[dict]) -> dict[str, float]:
    """dtype -> the best GFLOP/s among ``rows`` (the peak measurements)."""
    peaks: dict[str, float] = {}
    for row in rows:
        peaks[row["dtype"]] = max(peaks.get(row["dtype"], 0.0), float(row["gflops"]))
    return peaks
