"""Clip-consistent augmentation of 8-frame clips (seed 000, notebook 01).

The seed's pipeline, each step firing with probability p = 0.5, in this order: rotate 90°; rotate
270°; rotate by a random angle in [-45°, 45°]; skew with magnitude up to 0.5; grid distortion with
magnitude 1; shear by up to 36°; left-right flip. ONE parameter draw per clip is applied to all its
frames, so the frames stay registered to each other.

Two modes:

- ``augmentor``: the semantics of the Augmentor library the seed used, written here because
  Augmentor itself refuses rotations and shears above 25° (the seed asks for 45° and 36°), fires a
  p = 0.5 step 55 % of the time (``round(U, 1) <= p``), and draws its grid-distortion offsets per
  image (so even Augmentor would not keep 8 frames consistent). Rotation and shear crop the largest
  inner rectangle and resize back (no black corners; Augmentor's own crop formula has an operator-
  precedence slip, so the geometric inner square is used), skew pushes one corner outward
  (a perspective warp), distortion moves the interior vertices of a grid by whole pixels.
  Every step is one batched resampling of all frames (``grid_sample``), so it runs on the GPU too.
- ``torchvision``: the built-in ``transforms.v2`` operations on a ``tv_tensors.Video``: one draw per
  call covers all frames. Rotation, perspective and shear leave black corners; ``ElasticTransform``
  is a smooth random field, not Augmentor's grid.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torchvision import tv_tensors
from torchvision.transforms import v2

from .data import PHOTOS, SOURCES
from .data.loaders import EpochBatches, epoch_generator
from .params import Bool, DataRoot, Float, Int, List, Str, schema

MODES = ("augmentor", "torchvision")
STEPS = ("rotate90", "rotate270", "rotate", "skew", "distort", "shear", "flip")


@dataclass(frozen=True)
class Ranges:
    """The seed's ranges."""

    p: float = 0.5
    rotate_degrees: float = 45.0
    skew_magnitude: float = 0.5
    distort_magnitude: int = 1
    distort_grid: int = 4
    shear_degrees: float = 36.0


SEED_RANGES = Ranges()


@dataclass
class AugmentParams:
    """One draw: which steps fire and with which values (shared by every frame of a clip)."""

    fired: dict = field(default_factory=dict)
    angle: float = 0.0
    skew_corner: int = 0
    skew_pixels: int = 0
    distort_offsets: torch.Tensor | None = None  # (grid-1, grid-1, 2) whole-pixel moves of interior vertices
    shear_angle: float = 0.0
    shear_axis: str = "x"


def sample_params(size: int, generator: torch.Generator | None = None, ranges: Ranges = SEED_RANGES) -> AugmentParams:
    """Draw the parameters of one clip (exact probability ``ranges.p`` per step)."""

    def u(lo, hi):
        return lo + (hi - lo) * torch.rand((), generator=generator).item()

    fired = {step: torch.rand((), generator=generator).item() < ranges.p for step in STEPS}
    g = ranges.distort_grid
    m = ranges.distort_magnitude
    offsets = torch.randint(-m, m + 1, (g - 1, g - 1, 2), generator=generator).float()
    return AugmentParams(
        fired=fired,
        angle=u(-ranges.rotate_degrees, ranges.rotate_degrees),
        skew_corner=int(torch.randint(0, 8, (), generator=generator)),
        skew_pixels=int(torch.randint(1, max(2, math.ceil(size * ranges.skew_magnitude) + 1), (), generator=generator)),
        distort_offsets=offsets,
        shear_angle=u(-ranges.shear_degrees, ranges.shear_degrees),
        shear_axis="x" if torch.rand((), generator=generator).item() < 0.5 else "y",
    )


# --------------------------------------------------------------------------- augmentor-mode geometry


def _sample(frames: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bicubic resampling of (T, C, H, W) float frames at a normalised (T or 1, H, W, 2) grid."""
    if grid.shape[0] == 1 and frames.shape[0] > 1:
        grid = grid.expand(frames.shape[0], -1, -1, -1)
    out = F.grid_sample(frames, grid, mode="bicubic", padding_mode="border", align_corners=False)
    return out.clamp(0, 1)


def _base_grid(h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised pixel-centre coordinates (x, y) in [-1, 1], each (H, W)."""
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w * 2 - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return x, y


def rotate_crop(frames: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate, crop the largest axis-aligned inner rectangle of the original aspect and resize back
    (Augmentor's RotateRange): one affine map from output pixels to source pixels."""
    _, _, h, w = frames.shape
    a = math.radians(degrees)
    c, s = abs(math.cos(a)), abs(math.sin(a))
    scale = min(w / (w * c + h * s), h / (w * s + h * c))  # inner rectangle of the rotated frame
    x, y = _base_grid(h, w, frames.device)
    px, py = x * (w / 2) * scale, y * (h / 2) * scale  # pixels from the centre, in the crop
    ca, sa = math.cos(a), math.sin(a)
    sx, sy = ca * px + sa * py, -sa * px + ca * py  # undo a counter-clockwise rotation
    grid = torch.stack([sx / (w / 2), sy / (h / 2)], dim=-1)[None]
    return _sample(frames, grid)


def shear_crop(frames: torch.Tensor, degrees: float, axis: str) -> torch.Tensor:
    """Shear along x or y, crop away the empty wedge and resize back (Augmentor's Shear)."""
    _, _, h, w = frames.shape
    t = math.tan(math.radians(degrees))
    x, y = _base_grid(h, w, frames.device)
    px, py = (x + 1) / 2 * w, (y + 1) / 2 * h  # output pixels
    # Sheared image: x_s = x + t*y. The columns filled on every row are x_s in [shift, w] for t > 0 and
    # [0, w - shift] for t < 0 (shift = |t|*h): `keep` wide. Output pixels spread over them, then map back.
    if axis == "x":
        shift = abs(t) * h
        keep = w - shift
        xs = px * keep / w + (shift if t >= 0 else 0.0)
        src_x, src_y = xs - t * py, py
    else:
        shift = abs(t) * w
        keep = h - shift
        ys = py * keep / h + (shift if t >= 0 else 0.0)
        src_x, src_y = px, ys - t * px
    grid = torch.stack([src_x / w * 2 - 1, src_y / h * 2 - 1], dim=-1)[None]
    return _sample(frames, grid)


def _homography(src: list, dst: list) -> torch.Tensor:
    """3x3 matrix H with H @ (x, y, 1) ~ dst for the four src -> dst point pairs."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    h = torch.linalg.solve(torch.tensor(rows, dtype=torch.float64), torch.tensor(rhs, dtype=torch.float64))
    return torch.cat([h, torch.ones(1, dtype=torch.float64)]).view(3, 3)


def skew_corner(frames: torch.Tensor, corner: int, pixels: int) -> torch.Tensor:
    """Push one corner outward along x or y by ``pixels`` (Augmentor's CORNER skew, 8 choices): the
    frame's corners map to the pushed quadrilateral, so the output shows only image content."""
    _, _, h, w = frames.shape
    start = [[0.0, 0.0], [float(w), 0.0], [float(w), float(h)], [0.0, float(h)]]
    end = [list(p) for p in start]
    which, axis = corner // 2, corner % 2
    direction = {0: (-1, -1), 1: (1, -1), 2: (1, 1), 3: (-1, 1)}[which]
    end[which][axis] += direction[axis] * pixels
    inverse = _homography(end, start).float().to(frames.device)  # output pixel -> source pixel
    x, y = _base_grid(h, w, frames.device)
    px, py = (x + 1) / 2 * w, (y + 1) / 2 * h
    q = inverse @ torch.stack([px.flatten(), py.flatten(), torch.ones_like(px.flatten())])
    sx, sy = (q[0] / q[2]).view(h, w), (q[1] / q[2]).view(h, w)
    return _sample(frames, torch.stack([sx / w * 2 - 1, sy / h * 2 - 1], dim=-1)[None])


def grid_distort(frames: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Move the interior vertices of a g x g grid by whole pixels and warp piecewise-bilinearly
    (Augmentor's Distort, but with one draw for all frames)."""
    _, _, h, w = frames.shape
    g = offsets.shape[0] + 1
    field_ = torch.zeros(g + 1, g + 1, 2, device=frames.device)
    field_[1:g, 1:g] = offsets.to(frames.device)  # border vertices stay put
    dense = F.interpolate(field_.permute(2, 0, 1)[None], size=(h, w), mode="bilinear", align_corners=True)[0]
    x, y = _base_grid(h, w, frames.device)
    grid = torch.stack([x - dense[0] * 2 / w, y - dense[1] * 2 / h], dim=-1)[None]
    return _sample(frames, grid)


def apply_augmentor(frames: torch.Tensor, params: AugmentParams) -> torch.Tensor:
    """Apply one draw to float frames (T, C, H, W) in [0, 1], steps in the seed's order."""
    f = params.fired
    if f["rotate90"]:
        frames = torch.rot90(frames, 1, dims=(-2, -1))
    if f["rotate270"]:
        frames = torch.rot90(frames, 3, dims=(-2, -1))
    if f["rotate"]:
        frames = rotate_crop(frames, params.angle)
    if f["skew"]:
        frames = skew_corner(frames, params.skew_corner, params.skew_pixels)
    if f["distort"]:
        frames = grid_distort(frames, params.distort_offsets)
    if f["shear"]:
        frames = shear_crop(frames, params.shear_angle, params.shear_axis)
    if f["flip"]:
        frames = frames.flip(-1)
    return frames


def torchvision_pipeline(ranges: Ranges = SEED_RANGES) -> v2.Compose:
    """The same seven steps with built-in torchvision v2 transforms."""
    p = ranges.p
    return v2.Compose([
        v2.RandomApply([v2.RandomRotation((90, 90), expand=True)], p=p),
        v2.RandomApply([v2.RandomRotation((270, 270), expand=True)], p=p),
        v2.RandomApply([v2.RandomRotation(ranges.rotate_degrees)], p=p),
        v2.RandomPerspective(distortion_scale=ranges.skew_magnitude, p=p),
        v2.RandomApply([v2.ElasticTransform(alpha=20.0, sigma=5.0)], p=p),
        v2.RandomApply([v2.RandomAffine(degrees=0, shear=(-ranges.shear_degrees, ranges.shear_degrees,
                                                          -ranges.shear_degrees, ranges.shear_degrees))], p=p),
        v2.RandomHorizontalFlip(p=p),
    ])


_TV_PIPELINE = torchvision_pipeline()
TORCHVISION_MIN_SIZE = 21


def augment_clip(clip: torch.Tensor, mode: str = "augmentor", generator: torch.Generator | None = None,
                 ranges: Ranges = SEED_RANGES) -> torch.Tensor:
    """Augment one clip (T, C, H, W) uint8 with one parameter draw for all frames; returns uint8.

    ``augmentor`` draws from ``generator``; ``torchvision`` draws from torch's global generator (as the
    v2 transforms do) after seeding it from ``generator`` so that runs are reproducible."""
    if clip.ndim != 4:
        raise ValueError(f"a clip is (T, C, H, W); got shape {tuple(clip.shape)} (augment a batch clip by clip)")
    frames = clip.float().div(255) if clip.dtype == torch.uint8 else clip
    if mode == "augmentor":
        out = apply_augmentor(frames, sample_params(clip.shape[-1], generator, ranges))
    elif mode == "torchvision":
        if min(frames.shape[-2:]) < TORCHVISION_MIN_SIZE:  # ElasticTransform(sigma=5) pads 20 px by reflection
            raise ValueError(f"torchvision mode needs frames of at least {TORCHVISION_MIN_SIZE} px (its elastic "
                             f"distortion pads by reflection), got {tuple(frames.shape[-2:])}; use mode='augmentor'")
        pipeline = _TV_PIPELINE if ranges == SEED_RANGES else torchvision_pipeline(ranges)
        if generator is None:
            out = pipeline(tv_tensors.Video(frames)).as_subclass(torch.Tensor)
        else:  # seed torch's global generator for the v2 ops without disturbing the caller's stream
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(0, 2**62, (), generator=generator)))
                out = pipeline(tv_tensors.Video(frames)).as_subclass(torch.Tensor)
        if out.shape[-2:] != frames.shape[-2:]:  # never for square frames; guards non-square inputs
            out = F.interpolate(out, size=frames.shape[-2:], mode="bilinear", align_corners=False)
    else:
        raise ValueError(f"unknown augmentation mode {mode!r}; valid: {', '.join(MODES)}")
    return (out.clamp(0, 1) * 255).round().to(torch.uint8) if clip.dtype == torch.uint8 else out


def augment_clips(clips: torch.Tensor, mode: str = "augmentor", seed: int = 0, copies: int = 1,
                  include_original: bool = False) -> torch.Tensor:
    """``copies`` augmented versions of every clip of a (N, T, C, H, W) batch, clip by clip (a 5-D batch
    given to a v2 transform would share one draw across all clips). Output order: clip-major,
    (N * (copies [+1]), T, C, H, W); with ``include_original`` the untouched clip comes first."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    out = []
    for clip in clips:
        if include_original:
            out.append(clip)
        for _ in range(copies):
            out.append(augment_clip(clip, mode, gen))
    return torch.stack(out)


def fire_rates(draws: int = 20000, p: float = 0.5, seed: int = 0) -> dict:
    """How often a p-step fires: exactly (``U < p``) and as Augmentor does it (``round(U, 1) <= p``)."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(draws, generator=gen)
    return {"exact (U < p)": float((u < p).float().mean()),
            "Augmentor (round(U, 1) <= p)": float((torch.round(u * 10) / 10 <= p).float().mean())}


def augmentation_throughput(mode: str, size: int, n_clips: int = 8, frames: int = 8, seed: int = 0,
                            device: torch.device | str = "cpu", repeats: int = 1) -> float:
    """Clips per second for one mode at one frame size (median of ``repeats`` timed passes)."""
    gen = torch.Generator().manual_seed(seed)
    clips = torch.randint(0, 256, (n_clips, frames, 3, size, size), dtype=torch.uint8, generator=gen).to(device)
    augment_clip(clips[0], mode, torch.Generator().manual_seed(seed))  # warm-up
    rates = []
    for r in range(repeats):
        g = torch.Generator().manual_seed(seed + r)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for clip in clips:
            augment_clip(clip, mode, g)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        rates.append(n_clips / (time.perf_counter() - t0))
    return sorted(rates)[len(rates) // 2]


def step_gallery(frame: torch.Tensor, seed: int = 0) -> tuple[list[torch.Tensor], list[str]]:
    """Each augmentor-mode step alone on one float frame (C, H, W), with fixed visible parameters."""
    base = sample_params(frame.shape[-1], torch.Generator().manual_seed(seed))
    images, titles = [frame], ["original"]
    demo = {"rotate90": {}, "rotate270": {}, "rotate": {"angle": 40.0}, "skew": {"skew_corner": 2,
            "skew_pixels": frame.shape[-1] // 2}, "distort": {}, "shear": {"shear_angle": 30.0, "shear_axis": "x"},
            "flip": {}}
    for step, values in demo.items():
        params = AugmentParams(**{**base.__dict__, **values, "fired": {s: s == step for s in STEPS}})
        if step == "distort":
            params.distort_offsets = base.distort_offsets * 4  # magnitude 4 so the effect is visible
        images.append(apply_augmentor(frame[None], params)[0])
        titles.append(step + (" (x4)" if step == "distort" else ""))
    return images, titles


# --------------------------------------------------------------------------- notebook 01 parameters

PARAMS = schema({
    "data_root": DataRoot("data folder (generated clips go to <data_root>/clips)"),
    "data_source": Str("kept for a uniform interface; clips are generated or read from clips_folder", choices=SOURCES),
    "clips_folder": Str("a folder of your own clips (<class>/<clip_id>/frame_00.png ...); '' = generated clips"),
    "n_clips": Int("generated clips (the seed had 80)", min=2),
    "frame_size": Int("frame side length of generated clips", min=16, max=512),
    "photo": Str("bundled photograph for the step gallery", choices=tuple(PHOTOS)),
    "expansion_copies": Int("augmented copies per clip in the offline expansion (the seed: 32)", min=1),
    "expansion_clips": Int("clips expanded in the demonstration (0 = all)", min=0),
    "throughput_sizes": List(Int(min=16), "frame sizes at which augmentation speed is measured"),
    "throughput_clips": Int("clips timed per mode and size", min=1),
    "consistency_checks": Int("random draws checked for frame consistency", min=1),
    "show_mode": Str("mode shown in the clip figures", choices=MODES),
    "fire_rate_draws": Int("draws for the firing-rate comparison", min=100),
    "device_augment": Bool("run the augmentation throughput on the notebook's device too (GPU)"),
})


# --------------------------------------------------------------------------- consistency, online use, figures


def frame_consistency(clip: torch.Tensor, mode: str, draws: int = 20, seed: int = 0) -> dict:
    """Numerical proof of clip consistency over ``draws`` random draws:

    - ``identical``: a clip of 8 copies of one frame stays 8 identical frames (largest difference);
    - ``per_frame``: every output frame equals the same-parameter transform of that frame alone."""
    frames = clip.float().div(255) if clip.dtype == torch.uint8 else clip
    same = frames[:1].expand_as(frames).clone()
    worst_identical = worst_per_frame = 0.0
    for d in range(draws):
        if mode == "augmentor":
            params = sample_params(frames.shape[-1], torch.Generator().manual_seed(seed + d))
            out = apply_augmentor(same, params)
            whole = apply_augmentor(frames, params)
            alone = torch.cat([apply_augmentor(frames[t:t + 1], params) for t in range(len(frames))])
        elif mode == "torchvision":
            def run(x):
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed + d)
                    return _TV_PIPELINE(tv_tensors.Video(x)).as_subclass(torch.Tensor)
            out, whole = run(same), run(frames)
            alone = torch.cat([run(frames[t:t + 1]) for t in range(len(frames))])
        else:
            raise ValueError(f"unknown augmentation mode {mode!r}; valid: {', '.join(MODES)}")
        worst_identical = max(worst_identical, float((out - out[:1]).abs().max()))
        worst_per_frame = max(worst_per_frame, float((whole - alone).abs().max()))
    return {"mode": mode, "draws": draws, "identical frames: max difference": worst_identical,
            "frame vs frame alone: max difference": worst_per_frame}


class ClipAugmentLoader(EpochBatches):
    """Online augmentation: every epoch each clip gets a fresh draw (seeded by seed, epoch and clip),
    batches of uint8 clips (B, T, C, H, W) and labels; ``transform`` maps a batch on the device."""

    def __init__(self, clips: torch.Tensor, labels: torch.Tensor, batch_size: int, mode: str = "augmentor",
                 device="cpu", transform=None, seed: int = 0, shuffle: bool = True):
        if mode not in MODES:
            raise ValueError(f"unknown augmentation mode {mode!r}; valid: {', '.join(MODES)}")
        self.clips, self.labels, self.batch_size, self.mode = clips, labels, batch_size, mode
        self.device, self.transform, self.seed, self.shuffle = torch.device("cpu"), transform, seed, shuffle
        self.target_device = torch.device(device)  # clips are augmented on the CPU copy, then moved

    @property
    def n_items(self) -> int:
        return len(self.labels)

    def make_batch(self, index: torch.Tensor, generator: torch.Generator):
        batch = torch.stack([augment_clip(self.clips[i], self.mode, epoch_generator(self.seed + int(i), self.epoch))
                             for i in index.tolist()]).to(self.target_device)
        return (self.transform(batch) if self.transform else batch), self.labels[index].to(self.target_device)


def plot_clip_rows(rows: list[torch.Tensor], titles: list[str], size: float = 1.1):
    """Each row one clip (T, C, H, W), frames left to right."""
    import matplotlib.pyplot as plt

    frames = rows[0].shape[0]
    fig, axes = plt.subplots(len(rows), frames, figsize=(frames * size, len(rows) * size * 1.1), squeeze=False)
    for r, clip in enumerate(rows):
        for t in range(frames):
            ax = axes[r, t]
            img = clip[t].float() / 255 if clip.dtype == torch.uint8 else clip[t]
            ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if t == 0:
                ax.set_ylabel(titles[r], fontsize=7, rotation=0, ha="right", va="center")
            if r == 0:
                ax.set_title(f"frame {t}", fontsize=7)
    fig.tight_layout()
    return fig


def throughput_table(sizes, n_clips: int, device="cpu", repeats: int = 3) -> "pd.DataFrame":
    """Clips/s of both modes at each size, the median of ``repeats`` passes, the modes alternating per pass
    so that both see the same machine load."""
    import pandas as pd

    rows = []
    for size in sizes:
        rates = {mode: [] for mode in MODES}
        for r in range(repeats):
            for mode in (MODES if r % 2 == 0 else MODES[::-1]):
                rates[mode].append(augmentation_throughput(mode, size, n_clips=n_clips, seed=r, device=device))
        for mode in MODES:
            rows.append({"mode": mode, "frame size": size, "device": str(device), "repeats": repeats,
                         "clips/s": sorted(rates[mode])[len(rates[mode]) // 2]})
    return pd.DataFrame(rows)
