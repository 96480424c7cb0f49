"""8-frame clips with a success/failure outcome: a generator, the folder format, and a loader.

In every clip a "balloon" inflates; in a failure clip it deflates after a random peak frame (4th to 6th).
Everything else is drawn from the same distributions in both classes, so the outcome is in how the scene
evolves. On disk: ``<root>/<set>/{success,failure}/<clip_id>/frame_00.png ...`` (generated or a user's own,
read by :func:`load_clip_folder`)."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..paths import data_root
from . import standin
from .provenance import DataCorruptError, DataUnavailableError, Provenance

CLASSES = ("failure", "success")  # label 0, label 1 (sorted names)
FRAMES = 8
GENERATOR_VERSION = 1


class ClipFolderError(ValueError):
    """A clip folder is not in the expected format."""


@dataclass(frozen=True)
class ClipSet:
    """Clips as uint8 ``(N, T, C, H, W)``, labels ``(N,)`` (0 = failure, 1 = success), ids, provenance."""

    clips: torch.Tensor
    labels: torch.Tensor
    ids: tuple[str, ...]
    classes: tuple[str, ...]
    provenance: Provenance
    notes: tuple[str, ...] = ()  # what the loader did: classes and their labels, sizes, conversions, skipped files

    def __len__(self) -> int:
        return len(self.labels)


# --------------------------------------------------------------------------- generator


def _radius_paths(labels: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Balloon radius per frame (N, 8) in pixels.

    Both classes start alike: a log-uniform initial radius (a factor of 3 of spread, so the absolute
    size says little) growing by the same relative rate. A success keeps growing; a failure deflates
    after its peak frame (4th, 5th or 6th frame, index 3-5). Frames up to index 3 therefore have the
    same distribution in both classes; later frames differ only through the evolution."""
    column = (len(labels), 1)  # one value per clip, drawn in the same order as a flat (N,) draw
    start = np.exp(rng.uniform(np.log(0.05), np.log(0.16), column)) * size
    growth = start * rng.uniform(0.12, 0.22, column)
    peak_frame = rng.integers(3, 6, column)
    shrink = growth * rng.uniform(0.8, 1.3, column)
    t = np.arange(FRAMES)[None, :]
    radius = np.where((labels == 0)[:, None] & (t > peak_frame),
                      start + growth * peak_frame - shrink * (t - peak_frame), start + growth * t)
    return np.clip(radius, 0.03 * size, None)


def generate_clips(n: int = 80, size: int = 112, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` clips (half of each class): uint8 (n, 8, size, size, 3) and labels (n,) with 1 = success."""
    if n < 2 or size < 16:
        raise ValueError(f"need at least 2 clips of at least 16 px, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2)
    radius = _radius_paths(labels, rng, size)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    clips = np.empty((n, FRAMES, size, size, 3), dtype=np.uint8)
    hsv = standin._hsv_to_rgb

    def colour(min_saturation, min_value):
        return hsv(rng.uniform(0, 1, 1), rng.uniform(min_saturation, 1, 1), rng.uniform(min_value, 1, 1))[0]

    for i in range(n):
        bg = hsv(rng.uniform(0, 1, 2), rng.uniform(0, 0.35, 2), rng.uniform(0.15, 0.6, 2))
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * xs + np.sin(angle) * ys) / size
        ramp = ((ramp - ramp.min()) / (np.ptp(ramp) + 1e-6))[..., None]
        background = bg[0] * (1 - ramp) + bg[1] * ramp
        balloon = colour(0.6, 0.7)
        start = rng.uniform(0.35, 0.65, 2) * size
        drift = rng.uniform(-0.02, 0.02, 2) * size
        distractors = [(int(rng.choice([1, 2])), rng.uniform(0.06, 0.12) * size, rng.uniform(0.15, 0.85, 2) * size,
                        rng.uniform(-0.03, 0.03, 2) * size, colour(0.5, 0.5)) for _ in range(rng.integers(0, 3))]
        noise = rng.uniform(0.01, 0.05)
        for t in range(FRAMES):
            frame = background.copy()
            for shape, r, pos, vel, shape_colour in distractors:
                cx, cy = pos + vel * t
                m = standin._shape_masks(np.array([shape]), ((xs - cx) / r)[None], ((ys - cy) / r)[None],
                                         np.array([r]))[0][..., None]
                frame = frame * (1 - m) + shape_colour * m
            cx, cy = start + drift * t
            m = np.clip(radius[i, t] - np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2) + 0.5, 0, 1)[..., None]
            frame = frame * (1 - m) + balloon * m
            frame += rng.standard_normal(frame.shape).astype(np.float32) * noise
            clips[i, t] = np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8)
    return clips, labels.astype(np.int64)


# --------------------------------------------------------------------------- folder format


def write_clip_folder(folder: Path, clips: np.ndarray, labels: np.ndarray) -> Path:
    """Write clips as ``folder/{success,failure}/clip_NNN/frame_TT.png``, atomically: into a
    temporary sibling folder, then renamed, so concurrent or interrupted runs never leave half a set."""
    from PIL import Image

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp"))
    try:
        for i, (clip, label) in enumerate(zip(clips, labels)):
            target = tmp / CLASSES[int(label)] / f"clip_{i:03d}"
            target.mkdir(parents=True)
            for t, frame in enumerate(clip):
                Image.fromarray(frame).save(target / f"frame_{t:02d}.png")
        if folder.exists():  # another process finished first: keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _frame_order(path: Path) -> tuple:
    """Natural order of frame files: ``frame_2`` before ``frame_10`` (zero-padded names sort either way)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", path.name))


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def _visible(path: Path) -> bool:
    return not path.name.startswith((".", "__"))  # .DS_Store, .ipynb_checkpoints, __MACOSX


def _read_frame(path: Path, clip_dir: Path, frame_size: int | None, modes: Counter) -> tuple[np.ndarray, tuple]:
    """One frame as RGB uint8 (H, W, 3) and its original (H, W); with ``frame_size``: the shorter side resized to
    it (antialiased bicubic) and the centre ``frame_size`` x ``frame_size`` cropped - a JPEG is decoded at a
    reduced scale first, so memory follows ``frame_size``, not the camera's resolution."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            original = (img.height, img.width)
            if frame_size and img.format == "JPEG":
                img.draft("RGB", (frame_size, frame_size))  # keeps both sides >= frame_size
            modes[img.mode] += 1
            if img.mode == "F":
                raise ClipFolderError(f"clip {clip_dir}: {path.name} holds 32-bit float pixels; save frames as 8- or "
                                      f"16-bit images")
            if img.mode.startswith("I"):  # 16-bit frames: 0..65535 scaled to 0..255
                img = Image.fromarray((np.asarray(img, np.float64) / 257).clip(0, 255).astype(np.uint8))
            img = img.convert("RGB")
            if frame_size and img.size != (frame_size, frame_size):
                img = ImageOps.fit(img, (frame_size, frame_size), Image.Resampling.BICUBIC)
            return np.asarray(img), original
    except OSError as err:  # PIL's UnidentifiedImageError is an OSError
        raise ClipFolderError(f"clip {clip_dir}: {path.name} is not a readable image ({err}); replace it with a "
                              f"valid frame (PNG/JPEG) or delete it") from err


def load_clip_folder(folder: str | Path, frame_size: int | None = None, frames: int | None = FRAMES, kind: str = "real",
                     origin: str = "", name: str | None = None) -> ClipSet:
    """Read ``folder/<class>/<clip_id>/<frame images>``; labels follow the sorted class-folder names (``failure`` = 0,
    ``success`` = 1). Accepted: PNG, JPEG (and BMP, WebP, TIFF) frames of any size and mode; grayscale, palette,
    CMYK and RGBA frames are converted to RGB (alpha dropped), 16-bit frames scaled from 0..65535 to 0..255. With
    ``frame_size`` every frame's shorter side is resized to ``frame_size`` and the centre square cropped; without
    it all clips must share one size. Every clip needs ``frames`` frames (None: as many as the first clip), taken
    in natural name order. Hidden entries are ignored; other non-image files are skipped and listed in ``notes``.
    Anything else is a :class:`ClipFolderError` naming the clip."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ClipFolderError(f"no clip folder at {folder}; expected {folder}/<class>/<clip_id>/frame_00.png ...")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and _visible(p))
    if len(classes) < 2:
        raise ClipFolderError(f"{folder} has {len(classes)} class folder(s) ({', '.join(classes) or 'none'}); "
                              f"at least 2 are needed, e.g. success/ and failure/")
    clips, labels, ids, skipped, modes, sizes = [], [], [], [], Counter(), Counter()
    for label, cls in enumerate(classes):
        clip_dirs = sorted(p for p in (folder / cls).iterdir() if p.is_dir() and _visible(p))
        if not clip_dirs:
            raise ClipFolderError(f"class folder {folder / cls} has no clips; put each clip in its own sub-folder "
                                  f"of frame_00.png, frame_01.png, ...")
        for clip_dir in clip_dirs:
            entries = [p for p in clip_dir.iterdir() if _visible(p) and p.is_file()]
            skipped += [f"{cls}/{clip_dir.name}/{p.name}" for p in entries if p.suffix.lower() not in IMAGE_SUFFIXES]
            files = sorted((p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES), key=_frame_order)
            if not files:
                raise ClipFolderError(f"clip {clip_dir} has no frames (image files: {', '.join(IMAGE_SUFFIXES)})")
            if len(files) != (frames or len(clips[0] if clips else files)):
                raise ClipFolderError(
                    f"clip {clip_dir} has {len(files)} frames, but " + (f"the model takes {frames} per clip; give every "
                    f"clip exactly {frames} frames (e.g. {frames} evenly spaced frames of a longer video)" if frames else
                    f"earlier clips have {len(clips[0])} frames; all clips must match"))
            read = [_read_frame(path, clip_dir, frame_size, modes) for path in files]
            if len({original for _, original in read}) != 1:
                raise ClipFolderError(f"clip {clip_dir}: frames differ in size {sorted({o for _, o in read})}; resize "
                                      f"them to one size")
            clip = np.stack([frame for frame, _ in read])
            if clips and clip.shape != clips[0].shape:
                raise ClipFolderError(f"clip {clip_dir} has frames of {clip.shape[1]}x{clip.shape[2]}, but earlier "
                                      f"clips have {clips[0].shape[1]}x{clips[0].shape[2]}; all clips must match "
                                      f"(or pass frame_size to resize them on load)")
            sizes[read[0][1]] += 1
            clips.append(clip)
            labels.append(label)
            ids.append(f"{cls}/{clip_dir.name}")
    array = torch.from_numpy(np.stack(clips)).permute(0, 1, 4, 2, 3).contiguous()
    used = tuple(array.shape[-2:])
    notes = [f"classes: {', '.join(f'{i} = {c}' for i, c in enumerate(classes))}",
             "frame size (H x W): " + ", ".join(f"{h}x{w} ({n} clips)" for (h, w), n in sizes.most_common())
             + (f" -> {used[0]}x{used[1]} (shorter side resized to {frame_size}, centre crop)"
                if frame_size and set(sizes) != {used} else " (as stored)")]
    if set(modes) - {"RGB"}:
        notes.append("converted to RGB: " + ", ".join(f"{n} {m} frames" for m, n in sorted(modes.items()) if m != "RGB")
                     + (" (alpha dropped)" if any("A" in m for m in modes) else "")
                     + (" (16-bit: 0..65535 scaled to 0..255)" if any(m.startswith("I") for m in modes) else ""))
    if skipped:
        notes.append(f"skipped {len(skipped)} non-image file(s): {', '.join(skipped[:5])}" + (" ..." if len(skipped) > 5 else ""))
    prov = Provenance(name or f"clips:{folder.name}", kind, str(folder), origin or f"clip folder {folder}",
                      len(ids), 0, len(classes), tuple(array.shape[1:]),
                      note=f"{len(ids)} clips of {array.shape[1]} frames; " + "; ".join(notes))
    return ClipSet(array, torch.tensor(labels), tuple(ids), tuple(classes), prov, tuple(notes))


def generated_clips(n: int = 80, size: int = 112, seed: int = 0, root=None) -> ClipSet:
    """The generated clip set, written once to ``<data>/clips/generated_v1_n{n}_s{size}_seed{seed}`` (v: the
    ``GENERATOR_VERSION``) and read back through the same loader as a user's clips."""
    folder = data_root(root) / "clips" / f"generated_v{GENERATOR_VERSION}_n{n}_s{size}_seed{seed}"
    if not folder.is_dir():
        clips, labels = generate_clips(n, size, seed)
        try:
            write_clip_folder(folder, clips, labels)
        except OSError as err:
            raise DataUnavailableError(f"cannot write the generated clips to {folder} ({err}); pass a writable "
                                       f"data_root (the clips are generated there once)") from err
    try:
        return load_clip_folder(folder, kind="standin", name="clips (generated)",
                                origin=f"generated by picseq_utils.clips (balloon inflates vs deflates, seed {seed}); "
                                       f"stands in for seed 000's private clips")
    except ClipFolderError as err:
        raise DataCorruptError(f"the generated clips in {folder} are damaged ({err}); delete the folder and they "
                               f"are regenerated") from err


def kfold_by_clip(labels: torch.Tensor, folds: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Stratified k-fold splits of whole clips: [(train_idx, val_idx), ...]."""
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    gen = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=np.int64)
    for cls in labels.unique().tolist():
        members = gen.permutation(np.flatnonzero(labels.numpy() == cls))
        assignment[members] = np.arange(len(members)) % folds
    return [(torch.as_tensor(np.flatnonzero(assignment != k)), torch.as_tensor(np.flatnonzero(assignment == k)))
            for k in range(folds)]
