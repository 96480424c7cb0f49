"""Figures shared by the notebooks: image grids, clips as rows of frames, training curves, heat maps."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch


def to_hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """(C, H, W) uint8/float tensor -> (H, W, C) array for imshow."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.dtype != torch.uint8:
            image = image.float().clamp(0, 1)
        image = image.permute(1, 2, 0).numpy()
    return image.squeeze(-1) if image.shape[-1] == 1 else image


def image_grid(images, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.3, suptitle: str = ""):
    """Show a batch (N, C, H, W) as a grid; returns the figure."""
    n = len(images)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.08), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_hwc(images[i]), cmap="gray" if images[i].shape[0] == 1 else None, interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def plot_histories(histories: Mapping[str, pd.DataFrame], title: str = "", held_out: str = "val"):
    """Loss and accuracy per epoch for several runs on one figure (the seeds' curve plots); ``held_out``
    names the split the history's ``val_*`` columns were measured on."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, metric, label in zip(axes, ("loss", "acc"), ("loss", "accuracy")):
        for i, (name, hist) in enumerate(histories.items()):
            for split, style in (("train", "--"), ("val", "-")):
                if hist[f"{split}_{metric}"].notna().any():  # soft targets have no training accuracy
                    ax.plot(hist["epoch"], hist[f"{split}_{metric}"], color=f"C{i}", ls=style,
                            label=f"{name} {held_out if split == 'val' else 'train'}")
        ax.set(xlabel="epoch", ylabel=label, title=label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def heatmap(table: pd.DataFrame, title: str = ""):
    """A labelled heat map of a 2-D table of fractions (e.g. accuracy over learning rate x weight decay)."""
    fig, ax = plt.subplots(figsize=(1.1 * table.shape[1] + 2, 0.7 * table.shape[0] + 1.5))
    values = table.to_numpy(dtype=float)
    im = ax.imshow(values, cmap="viridis", aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(r) for r in table.index])
    ax.set(xlabel=str(table.columns.name or ""), ylabel=str(table.index.name or ""))
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for (r, c), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(c, r, f"{v:.1%}", ha="center", va="center", fontsize=8,
                    color="white" if v < middle else "black")
    fig.colorbar(im, ax=ax)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def clip_rows(rows: Sequence[torch.Tensor], titles: Sequence[str]):
    """Clips as rows of frames: each (T, C, H, W) uint8 or float in [0, 1], frames left to right."""
    frames = rows[0].shape[0]
    fig, axes = plt.subplots(len(rows), frames, figsize=(frames * 1.1, len(rows) * 1.21), squeeze=False)
    for r, clip in enumerate(rows):
        for t, ax in enumerate(axes[r]):
            ax.imshow(to_hwc(clip[t]))
            ax.set(xticks=[], yticks=[])
            if t == 0:
                ax.set_ylabel(titles[r], fontsize=7, rotation=0, ha="right", va="center")
            if r == 0:
                ax.set_title(f"frame {t}", fontsize=7)
    fig.tight_layout()
    return fig
