"""Procedural stand-in images: learnable classes of drawn shapes, for when real data is absent.

The class of an image is its shape (10 kinds, each symmetric under a left-right flip so flip
augmentation keeps labels valid) and, for data sets with more than 10 classes, the hue family of
the shape. Position, size, a small rotation and stretch, background colour, gradient, noise and a
small distractor shape vary and carry no label. The stand-ins are made not to saturate: a share of
the shapes is faint enough to be lost in the noise, so no model reaches 100 %, and with 10 classes
the hue hints at the class in half of the images, so a model without a shape prior (a small ViT
trained for a few hundred steps) still gets well above chance. Drawn vectorised with NumPy from a seed.
"""
from __future__ import annotations

import numpy as np

SHAPES = ("disk", "square", "triangle", "ring", "plus", "cross", "hbars", "vbars", "checker", "diamond")
#: What keeps the stand-ins from saturating (see the module's docstring).
FAINT_SHARE, DISTRACTOR_SHARE, HUE_HINT_SHARE = 0.12, 0.4, 0.5
MAX_ROTATION, MAX_STRETCH = 0.15, 0.15  # radians; log of the aspect stretch
HUE_NAMES = ("red", "orange", "yellow", "lime", "green", "teal", "cyan", "blue", "purple", "magenta", "pink")


def class_names(num_classes: int) -> list[str]:
    """``disk``... for 10 classes; ``red-disk``... (hue family x shape) for more."""
    if num_classes <= len(SHAPES):
        return list(SHAPES[:num_classes])
    families = -(-num_classes // len(SHAPES))
    if families > len(HUE_NAMES):
        raise ValueError(f"at most {len(SHAPES) * len(HUE_NAMES)} stand-in classes, asked for {num_classes}")
    return [f"{HUE_NAMES[c // len(SHAPES)]}-{SHAPES[c % len(SHAPES)]}" for c in range(num_classes)]


def _hsv_to_rgb(h, s, v):
    """Vectorised HSV -> RGB, all arrays of the same shape in [0, 1]."""
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros(h.shape + (3,), dtype=np.float32)
    for k, (r, g, b) in enumerate(table):
        sel = i == k
        out[sel] = np.stack([r[sel], g[sel], b[sel]], axis=-1)
    return out


def _shape_masks(shape_ids, u, v, radius_px):
    """Soft masks (N, H, W) in [0, 1] for the given shape ids on normalised coordinates u, v."""
    dist = np.empty_like(u)
    stripes = np.ones_like(u)
    for k in np.unique(shape_ids):
        sel = shape_ids == k
        uu, vv = u[sel], v[sel]
        au, av = np.abs(uu), np.abs(vv)
        if k == 0:
            d = np.sqrt(uu ** 2 + vv ** 2)
        elif k == 1:
            d = np.maximum(au, av) * 1.15
        elif k == 2:  # apex up, base below the centre
            d = np.maximum(vv / 0.75, np.where(vv > -1.1, au * 1.6 / np.maximum(vv + 1.1, 1e-3), 9.0))
        elif k == 3:
            d = np.abs(np.sqrt(uu ** 2 + vv ** 2) - 0.72) / 0.28
        elif k == 4:
            d = np.minimum(np.maximum(au / 0.33, av), np.maximum(au, av / 0.33))
        elif k == 5:
            p, q = np.abs(uu + vv) / np.sqrt(2), np.abs(uu - vv) / np.sqrt(2)
            d = np.minimum(np.maximum(p / 0.3, q), np.maximum(p, q / 0.3))
        elif k == 6:
            d = np.maximum(au, av)
            stripes[sel] = np.clip(np.sin(2.5 * np.pi * vv) * 3 + 0.5, 0, 1)
        elif k == 7:
            d = np.maximum(au, av)
            stripes[sel] = np.clip(np.sin(2.5 * np.pi * uu) * 3 + 0.5, 0, 1)
        elif k == 8:
            d = np.maximum(au, av)
            stripes[sel] = np.clip(np.sin(2 * np.pi * uu) * np.sin(2 * np.pi * vv) * 6 + 0.5, 0, 1)
        else:
            d = (au + av) * 0.9
        dist[sel] = d
    edge = np.clip((1.0 - dist) * radius_px.reshape(len(shape_ids), 1, 1) + 0.5, 0.0, 1.0)
    return edge * stripes


def draw_images(labels: np.ndarray, num_classes: int, size: int | tuple[int, int] = 32, seed: int = 0,
                chunk: int = 4096) -> np.ndarray:
    """Draw one image per label: uint8 array (N, H, W, 3)."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes})")
    class_names(num_classes)  # validates the class count
    height, width = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    out = np.empty((len(labels), height, width, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    scale = float(min(height, width))

    def layer(image, ids, radius, cx, cy, hue, strength):
        """Paint shapes ``ids`` (slightly rotated and stretched) over ``image`` with opacity ``strength``."""
        n = len(ids)
        theta = rng.uniform(-MAX_ROTATION, MAX_ROTATION, n)[:, None, None]
        stretch = np.exp(rng.uniform(-MAX_STRETCH, MAX_STRETCH, n))[:, None, None]
        u0 = (xs[None] - cx[:, None, None]) / radius[:, None, None]
        v0 = (ys[None] - cy[:, None, None]) / radius[:, None, None]
        u = (np.cos(theta) * u0 + np.sin(theta) * v0) * stretch  # a rotation by +-theta is as likely as by -+theta,
        v = (np.cos(theta) * v0 - np.sin(theta) * u0) / stretch  # so left-right flips keep the labels valid
        mask = _shape_masks(ids, u.astype(np.float32), v.astype(np.float32), radius)[..., None]
        colour = _hsv_to_rgb(hue % 1.0, rng.uniform(0.65, 1.0, n), rng.uniform(0.6, 1.0, n))
        alpha = strength[:, None, None, None] * mask
        return image * (1 - alpha) + colour[:, None, None, :] * alpha

    for start in range(0, len(labels), chunk):
        lab = labels[start:start + chunk]
        n = len(lab)
        bg_a = _hsv_to_rgb(rng.uniform(0, 1, n), rng.uniform(0.0, 0.3, n), rng.uniform(0.1, 0.55, n))
        bg_b = _hsv_to_rgb(rng.uniform(0, 1, n), rng.uniform(0.0, 0.3, n), rng.uniform(0.1, 0.55, n))
        angle = rng.uniform(0, 2 * np.pi, n)
        ramp = (np.cos(angle)[:, None, None] * xs[None] / width + np.sin(angle)[:, None, None] * ys[None] / height)
        ramp = ((ramp - ramp.min(axis=(1, 2), keepdims=True))
                / (np.ptp(ramp, axis=(1, 2), keepdims=True) + 1e-6))[..., None]
        image = bg_a[:, None, None, :] * (1 - ramp) + bg_b[:, None, None, :] * ramp
        # a small distractor of any kind in some images: the label belongs to the large shape
        present = rng.uniform(0, 1, n) < DISTRACTOR_SHARE
        image = layer(image, rng.integers(0, len(SHAPES), n), rng.uniform(0.09, 0.15, n) * scale,
                      rng.uniform(0.1, 0.9, n) * width, rng.uniform(0.1, 0.9, n) * height, rng.uniform(0, 1, n),
                      rng.uniform(0.55, 1.0, n) * present)
        if num_classes > len(SHAPES):  # the hue family is part of the class
            families = -(-num_classes // len(SHAPES))
            hue = (lab // len(SHAPES) + rng.uniform(-0.25, 0.25, n)) / families
        else:  # the hue hints at the class in some images and is random in the others
            hue = np.where(rng.uniform(0, 1, n) < HUE_HINT_SHARE, (lab + rng.uniform(-0.25, 0.25, n)) / num_classes,
                           rng.uniform(0, 1, n))
        strength = np.where(rng.uniform(0, 1, n) < FAINT_SHARE, rng.uniform(0.04, 0.12, n), rng.uniform(0.55, 1.0, n))
        image = layer(image, lab % len(SHAPES), rng.uniform(0.2, 0.34, n) * scale, rng.uniform(0.3, 0.7, n) * width,
                      rng.uniform(0.3, 0.7, n) * height, hue, strength)
        noise = rng.uniform(0.02, 0.09, n).astype(np.float32)[:, None, None, None]
        image += rng.standard_normal(image.shape, dtype=np.float32) * noise
        out[start:start + n] = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def balanced_labels(n: int, num_classes: int, seed: int = 0) -> np.ndarray:
    """``n`` labels with every class equally often (up to one), in random order."""
    labels = np.arange(n) % num_classes
    np.random.default_rng(seed).shuffle(labels)
    return labels
