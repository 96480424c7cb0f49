"""Seeding, device choice and a description of the machine a result came from."""
from __future__ import annotations

import os
import platform
import random
import subprocess
import sys
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .paths import project_root

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices). Deterministic kernels where there is no GPU (so a resumed
    run matches an uninterrupted one bit for bit), fast cuDNN autotuning where there is one."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    gpu = torch.cuda.is_available()
    torch.backends.cudnn.deterministic = not gpu
    torch.backends.cudnn.benchmark = gpu
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU. A named device that is absent is an error."""
    available = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(), "cpu": True}
    if name == "auto":
        return torch.device(next(kind for kind, ok in available.items() if ok))
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}") from err
    if device.type not in available:
        raise ValueError(f"unsupported device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if not available[device.type]:
        raise ValueError(f"device {name!r} was asked for but {device.type.upper()} is not available here; "
                         f"use device='auto' or 'cpu'")
    return device


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    return device.type


def device_kind(device: torch.device) -> str:
    """A short file-name-safe tag: ``cpu-2core-avx2``, ``cpu-2core-avx512``, ``cuda-nvidia-h100-80gb-hbm3``."""
    if device.type == "cuda":
        return "cuda-" + "".join(c if c.isalnum() else "-" for c in device_name(device).lower()).strip("-")
    if device.type == "cpu":
        return f"cpu-{os.cpu_count()}core-{cpu_capability().lower()}"
    return device.type


# --------------------------------------------------------------------------- the CPU's instruction sets
# The same wheel runs different kernels on different x86 CPUs: AVX2-only (many AMD machines), AVX-512,
# AVX-512 with bf16 / AMX (recent Intel and AMD). ``ONEDNN_MAX_CPU_ISA`` and ``ATEN_CPU_CAPABILITY``
# cap them, so one machine can run the kernels most users get.

#: oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) under which oneDNN still has native bf16 kernels.
_ONEDNN_BF16_ISAS = {"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512", "AVX512_CORE_AMX", "AVX10_1_512_AMX",
                     "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX_FP16", "ALL", "DEFAULT", ""}


def cpu_capability() -> str:
    """ATen's vector capability in use: ``AVX2``, ``AVX512`` (honours ``ATEN_CPU_CAPABILITY``)."""
    return torch.backends.cpu.get_cpu_capability()


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True where oneDNN runs bf16 convolutions and matmuls natively: the CPU has AVX512-BF16 or AMX and
    neither ``ATEN_CPU_CAPABILITY`` nor ``ONEDNN_MAX_CPU_ISA`` caps the kernels below them. Measured on
    such a CPU: bf16 training 1.7-1.8x faster than fp32; elsewhere bf16 would be emulated (slower)."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = set(next((line for line in handle if line.startswith("flags")), "").split())
    except OSError:
        return False
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "")).strip().upper()
    return (bool({"avx512_bf16", "amx_bf16"} & flags) and torch.backends.mkldnn.is_available()
            and cpu_capability().startswith("AVX512") and cap in _ONEDNN_BF16_ISAS)


#: Narrowest convolution that runs in channels_last on the CPU. oneDNN's AVX2 kernels for NHWC
#: convolutions with fewer than 8 output channels corrupt the heap or hang (ResNet-18 of width 4 and 6,
#: torch 2.14.1; width 8 and up ran, bit-for-bit repeatably; ../shared/repro/cpu_isa_channels_last.py).
CPU_CHANNELS_LAST_MIN_CHANNELS = 8


def channels_last_safe(model: torch.nn.Module, device: torch.device) -> bool:
    """Whether channels_last is safe for ``model`` on ``device``: always on CUDA; on the CPU only when
    every convolution has at least ``CPU_CHANNELS_LAST_MIN_CHANNELS`` output channels."""
    return device.type != "cpu" or all(m.out_channels >= CPU_CHANNELS_LAST_MIN_CHANNELS for m in model.modules()
                                       if isinstance(m, torch.nn.modules.conv._ConvNd))


def cpu_bf16_safe(model: torch.nn.Module, x: torch.Tensor) -> bool:
    """Whether bf16 training is safe on the CPU for ``model`` on inputs like ``x``: oneDNN's bf16 kernels give
    nondeterministic, at times non-finite, weight gradients for a strided convolution on an input smaller than its
    stride (torch 2.14.1: 3x3 and 7x7 stride-2 convolutions on 1x1 inputs). One input, eval mode: nothing changes."""
    unsafe = []
    hooks = [m.register_forward_pre_hook(lambda conv, args: unsafe.append(
        max(conv.kernel_size) > 1 and any(s < step for s, step in zip(args[0].shape[2:], conv.stride))))
        for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    was_training = model.training
    try:
        if hooks:
            with torch.no_grad():
                model.eval()(x[:1])
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return not any(unsafe)


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            line = next((ln for ln in handle if ln.startswith("model name")), "")
        return line.split(":", 1)[1].strip() if line else (platform.processor() or platform.machine())
    except OSError:
        return platform.processor() or platform.machine()


# What runs write themselves: `make bench` writes the native file (and BENCHMARKS.md, rendered from
# it) before the AVX2 line runs, and a report run writes results/<profile>/; counting them would mark
# every later row dirty.
RUN_OUTPUTS = ("results", "benchmarks/results", "BENCHMARKS.md")


def git_commit() -> str:
    """The checkout's commit (with ``+dirty`` when tracked files other than the run outputs in
    ``RUN_OUTPUTS`` differ), or ``unknown`` outside git."""
    return _git_commit(str(project_root()))


@lru_cache(maxsize=8)  # per root: a planning run's scratch root (no git) must not answer for the checkout
def _git_commit(root: str) -> str:
    try:  # a busy machine: git status may take a while
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=120, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":(exclude){d}" for d in RUN_OUTPUTS)], cwd=root,
                               capture_output=True, text=True, timeout=120).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError) as err:
        if (Path(root) / ".git").exists():  # a checkout whose commit could not be read: say why
            warnings.warn(f"the commit of {root} could not be read ({type(err).__name__}: "
                          f"{str(err)[:200]}); records of this run name it 'unknown'", RuntimeWarning, stacklevel=2)
        return "unknown"


def environment_info(device: torch.device | None = None) -> dict:
    """Versions and hardware, stored with every metric."""
    import timm
    import torchvision

    info = {"python": sys.version.split()[0], "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__, "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "cuda_available": torch.cuda.is_available(),
            "git_commit": git_commit(), "cpu_model": cpu_model(), "cpu_capability": cpu_capability(),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
            "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", ""),
            "mkl_enable_instructions": os.environ.get("MKL_ENABLE_INSTRUCTIONS", ""),
            "cpu_native_bf16": cpu_has_native_bf16(), "timm": timm.__version__}
    if device is not None:
        info.update(device=str(device), device_name=device_name(device))
    if torch.cuda.is_available():
        info.update(cuda=torch.version.cuda, gpu=torch.cuda.get_device_name(0))
    return info


# --------------------------------------------------------------------------- sharing the cores with other runs
# Two picseq processes that each run their thread pool over all cores at once (a report in a terminal and a
# notebook in JupyterLab) slow each other down many times over: every parallel region waits for a thread that the
# other process has the core for. Giving each process fewer threads would change the floats (a sum split two ways
# rounds differently), so a run would no longer equal the same run made alone. Instead each process keeps its
# threads and takes turns at the cores, one training or inference step at a time: a lock file per core, held for
# the step. Alone, a step costs two uncontended lock calls; together, the runs alternate, each at about half speed.
_CORE_LOCKS: dict[str, list[int]] = {}  # folder -> one open descriptor per core
_TURN_DEPTH = [0]


def turns_dir() -> os.PathLike[str]:
    """Where the core locks live: one folder per user and machine (``PICSEQ_TURNS_DIR`` to move it)."""
    import tempfile
    from pathlib import Path

    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = Path(os.environ.get("PICSEQ_TURNS_DIR") or Path(tempfile.gettempdir()) / f"picseq-{uid}-cores")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _core_locks() -> list[int]:
    folder = turns_dir()
    if str(folder) not in _CORE_LOCKS:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        _CORE_LOCKS[str(folder)] = [os.open(folder / f"core{i}.lock", os.O_RDWR | os.O_CREAT, 0o666)
                                    for i in range(cores)]
    return _CORE_LOCKS[str(folder)]


class cpu_turn:
    """``with cpu_turn(device): step()`` runs the step while this process holds as many cores as it has threads.
    A no-op off the CPU, inside another turn, without POSIX locks (Windows) and with ``PICSEQ_CPU_TURNS=0``."""

    def __init__(self, device: torch.device | str | None = None):
        self.device = torch.device(device or "cpu")
        self.active = False
        self.held: list[int] = []

    def __enter__(self):
        self.active = (self.device.type == "cpu" and os.environ.get("PICSEQ_CPU_TURNS") != "0"
                       and _TURN_DEPTH[0] == 0 and sys.platform != "win32")
        if not self.active:
            return self
        _TURN_DEPTH[0] += 1
        import fcntl

        locks = _core_locks()
        need = min(torch.get_num_threads(), len(locks))
        if need == 1:  # any free core will do; else wait for this process's own
            start = os.getpid() % len(locks)
            order = locks[start:] + locks[:start]
            for fd in order:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self.held.append(fd)
                    return self
                except BlockingIOError:
                    pass
            fcntl.flock(order[0], fcntl.LOCK_EX)
            self.held.append(order[0])
            return self
        for fd in locks[:need]:  # always in the same order: two processes cannot each hold what the other waits for
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.held.append(fd)
        return self

    def __exit__(self, *exc):
        if self.active:
            _TURN_DEPTH[0] -= 1
            self.active = False
        if self.held:
            import fcntl

            for fd in reversed(self.held):
                fcntl.flock(fd, fcntl.LOCK_UN)
            self.held.clear()
        return False
