"""Notebook 03: the Vision Transformer from the inside (ViT paper, Dosovitskiy et al. 2021, seed 001).

timm's ``VisionTransformer`` is the model throughout; this module only takes it apart:
patchification and its equivalence with a stride-P convolution, the encoder equations step by
step, parameter counts of ViT-B/L/H, position-embedding resampling for a new resolution, and the
paper's Fig. 7 inspections. Attention maps are read with ``timm.utils.AttentionExtract`` after
switching fused (SDPA) attention off — fused attention never materialises the attention matrix.

Written here because no maintained library provides them in the paper's form: attention rollout
(rows renormalised with ``keepdim``, any batch size — popular code gets both wrong), mean attention
distance in pixels (class token dropped, rows renormalised) and the per-patch cosine-similarity
grid of position embeddings.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from .data import PHOTOS, SOURCES
from .models import build_model, count_parameters, set_fused_attention
from .params import Bool, DataRoot, Float, Fraction, Int, List, Str, schema

PARAMS = schema({
    "photo": Str("bundled photograph for the patch figures", choices=tuple(PHOTOS)),
    "data_root": DataRoot("data folder (for notebook 04's checkpoint data in the full profile)"),
    "data_source": Str("CIFAR-10 source when inspecting notebook 04's model", choices=SOURCES),
    "inspect": Str("'train' trains a small ViT on digits here; 'notebook04' loads notebook 04's CIFAR-10 ViT "
                   "checkpoint of this profile (training here if it is absent)", choices=("train", "notebook04")),
    "image_size": Int("training image size (digits are upsampled)", min=8),
    "patch_size": Int("patch size of the small ViT", min=1),
    "vit_dim": Int("embedding width of the small ViT", min=8),
    "vit_depth": Int("blocks of the small ViT", min=1),
    "vit_heads": Int("heads of the small ViT", min=1),
    "epochs": Int("training epochs of the small ViT", min=1),
    "batch_size": Int("batch size", min=1),
    "lr": Float("AdamW learning rate", min=0, min_exclusive=True),
    "resample_size": Int("larger resolution the trained model is moved to", min=8),
    "finetune_epochs": Int("epochs of fine-tuning at the larger resolution", min=0),
    "pool_lrs": List(Float(min=0, min_exclusive=True), "learning rates of the CLS-token vs average-pool comparison"),
    "pool_epochs": Int("epochs per run of that comparison", min=1),
    "pool_seeds": Int("seeds per point of that comparison (mean ± std)", min=1),
    "val_fraction": Fraction("validation share carved from the training split"),
    "resume": Bool("resume runs from their checkpoints"),
}, lambda v: None if v["image_size"] % v["patch_size"] == 0 and v["resample_size"] % v["patch_size"] == 0
   else f"patch_size={v['patch_size']} must divide image_size={v['image_size']} and resample_size={v['resample_size']}",
   lambda v: None if v["vit_dim"] % v["vit_heads"] == 0 else f"vit_heads={v['vit_heads']} must divide vit_dim={v['vit_dim']}")


# --------------------------------------------------------------------------- patches


def patchify(image: torch.Tensor, patch: int) -> torch.Tensor:
    """(C, H, W) -> (N, C*P*P): the N = HW/P^2 non-overlapping patches, row by row, each flattened in
    (channel, row, column) order — the order of a Conv2d weight, so that the linear projection of a
    patch equals a stride-P convolution (the paper flattens P x P x C; only the order differs)."""
    c, h, w = image.shape
    if h % patch or w % patch:
        raise ValueError(f"patch size {patch} must divide the image size {h}x{w}")
    grid = image.unfold(1, patch, patch).unfold(2, patch, patch)  # (C, H/P, W/P, P, P)
    return grid.permute(1, 2, 0, 3, 4).reshape(-1, c * patch * patch)


def projection_equals_convolution(image: torch.Tensor, patch: int = 16, dim: int = 768, seed: int = 0) -> dict:
    """Project patches with a Linear layer and the image with timm's PatchEmbed (a stride-P conv)
    sharing one weight; return the shapes and the largest difference."""
    from timm.layers import PatchEmbed

    torch.manual_seed(seed)
    c, h, _ = image.shape
    embed = PatchEmbed(img_size=h, patch_size=patch, in_chans=c, embed_dim=dim)
    linear = nn.Linear(c * patch * patch, dim)
    with torch.no_grad():
        linear.weight.copy_(embed.proj.weight.reshape(dim, -1))
        linear.bias.copy_(embed.proj.bias)
        by_linear = linear(patchify(image, patch))
        by_conv = embed(image[None])[0]
    return {"patches": tuple(patchify(image, patch).shape), "tokens (linear)": tuple(by_linear.shape),
            "tokens (conv)": tuple(by_conv.shape), "max |difference|": float((by_linear - by_conv).abs().max())}


def patch_figures(image: torch.Tensor, patch: int):
    """The image with its patch grid, the patches laid out in sequence order, and the patch matrix."""
    c, h, w = image.shape
    g = h // patch
    img = image.permute(1, 2, 0).numpy()
    fig1, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(img)
    for k in range(1, g):
        ax.axhline(k * patch - 0.5, color="white", lw=0.6)
        ax.axvline(k * patch - 0.5, color="white", lw=0.6)
    ax.set_title(f"{h}x{w} image, {g}x{g} = {g * g} patches of {patch}x{patch}")
    ax.axis("off")
    patches = patchify(image, patch).reshape(-1, c, patch, patch)
    fig2, axes = plt.subplots(g, g, figsize=(6, 6))
    for i, a in enumerate(axes.flat):
        a.imshow(patches[i].permute(1, 2, 0).numpy())
        a.axis("off")
    fig2.suptitle("the same patches as a sequence (read left to right, top to bottom)", fontsize=9)
    fig2.subplots_adjust(wspace=0.05, hspace=0.05)
    matrix = patchify(image.float() / 255 if image.dtype == torch.uint8 else image, patch)
    fig3, ax = plt.subplots(figsize=(7, 2.6))
    ax.imshow(matrix.numpy(), aspect="auto", cmap="gray", interpolation="nearest")
    ax.set(xlabel=f"{matrix.shape[1]} values per patch (C*P*P)", ylabel=f"{matrix.shape[0]} patches",
           title=f"the patch matrix x_p: {matrix.shape[0]} x {matrix.shape[1]}")
    fig3.tight_layout()
    return fig1, fig2, fig3


# --------------------------------------------------------------------------- the encoder, step by step


@torch.no_grad()
def encoder_walk(model: nn.Module, x: torch.Tensor) -> tuple[pd.DataFrame, float]:
    """Recompute a timm ViT's forward pass from the paper's equations and compare with ``model(x)``.

    Returns a table of steps (equation, tensor shape) and the largest difference of the logits."""
    model = model.eval()
    rows = []

    def note(step, equation, tensor):
        rows.append({"step": step, "equation": equation, "shape": tuple(tensor.shape)})

    note("input", "x ∈ R^{B×C×H×W}", x)
    z = model.patch_embed(x)
    note("patch embedding", "x_p E,  E ∈ R^{(P²C)×D}", z)
    cls = model.cls_token.expand(len(x), -1, -1)
    z = torch.cat([cls, z], dim=1)
    note("prepend class token", "[x_class; x_p¹E; …; x_pᴺE]", z)
    z = z + model.pos_embed
    note("add position embeddings", "z_0 = … + E_pos,  E_pos ∈ R^{(N+1)×D}", z)
    z = model.norm_pre(z)
    for i, block in enumerate(model.blocks):
        attended, q, weights = _msa(block.attn, block.norm1(z))
        if i == 0:
            note("block 1: LN, then q, k, v per head", "q = LN(z_0) W_q (k, v alike), d_h = D / heads", q)
            note("block 1: attention weights", "A = softmax(q kᵀ / √d_h)", weights)
            note("block 1: heads concatenated and projected", "MSA(·) = [A_1 v_1; …; A_h v_h] W_o", attended)
        z = z + block.ls1(attended)
        if i == 0:
            note("block 1: residual", "z'_l = MSA(LN(z_{l-1})) + z_{l-1}", z)
        z = z + block.ls2(block.mlp(block.norm2(z)))
        if i == 0:
            note("block 1: MLP", "z_l = MLP(LN(z'_l)) + z'_l", z)
    note(f"after {len(model.blocks)} blocks", "z_L", z)
    z = model.norm(z)
    y = z[:, 0] if model.global_pool == "token" else z[:, model.num_prefix_tokens:].mean(1)
    note("class-token output", "y = LN(z_L⁰)" if model.global_pool == "token" else "y = mean of LN(z_L¹…ᴺ)", y)
    logits = model.head(model.fc_norm(y))
    note("classifier head", "logits = y W_head", logits)
    return pd.DataFrame(rows), float((logits - model(x)).abs().max())


def _msa(attn: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """timm's ``Attention`` written out: (output, q of shape (B, heads, T, d_h), weights (B, heads, T, T))."""
    b, t, _ = x.shape
    q, k, v = attn.qkv(x).reshape(b, t, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    weights = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(b, t, -1)
    return attn.proj(attn.norm(out)), q, weights


# --------------------------------------------------------------------------- sizes

PAPER_SIZES = {  # name: (timm architecture, layers, D, MLP, heads, paper's parameter count)
    "ViT-Base": ("vit_base_patch16_224", 12, 768, 3072, 12, 86e6),
    "ViT-Large": ("vit_large_patch16_224", 24, 1024, 4096, 16, 307e6),
    "ViT-Huge": ("vit_huge_patch14_224", 32, 1280, 5120, 16, 632e6),
}


def size_table(num_classes: int = 1000) -> pd.DataFrame:
    """The paper's Table 1, with parameter counts computed by instantiating each model on the meta device."""
    import timm

    rows = []
    for name, (arch, layers, dim, mlp, heads, paper) in PAPER_SIZES.items():
        with torch.device("meta"):
            model = timm.create_model(arch, pretrained=False, num_classes=num_classes)
        assert len(model.blocks) == layers and model.embed_dim == dim
        count = count_parameters(model)
        rows.append({"model": name, "layers": layers, "hidden D": dim, "MLP": mlp, "heads": heads,
                     "parameters (computed)": count, "paper": int(paper), "difference": f"{count / paper - 1:+.2%}"})
    return pd.DataFrame(rows)


def small_vit_table(p: dict) -> pd.DataFrame:
    """The ViTs of notebooks 03-06 and their sizes."""
    rows = []
    for label, name, classes, overrides in (
            ("03: the ViT this notebook trains when it has no notebook-04 model", "vit_cifar", 10, dict(image_size=p["image_size"], patch_size=p["patch_size"],
                                                               dim=p["vit_dim"], depth=p["vit_depth"],
                                                               heads=p["vit_heads"])),
            ("04/05: parameter-matched ViT (CIFAR-10)", "vit_cifar", 10, {}),
            ("04/05: parameter-matched ViT (CIFAR-100)", "vit_cifar", 100, {}),
            ("06: DeiT-Tiny shape at 32 px", "vit_tiny_cifar", 10, {}),
            ("06: DeiT-Tiny at 112 px, 2040-way head (IDMM)", "deit_tiny", 2040, {})):
        with torch.device("meta"):
            model = build_model(name, classes, **overrides)
        rows.append({"model": label, "image": model.patch_embed.img_size[0], "patch": model.patch_embed.patch_size[0],
                     "tokens": model.patch_embed.num_patches + 1, "D": model.embed_dim, "depth": len(model.blocks),
                     "parameters": count_parameters(model)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- attention


@torch.no_grad()
def attention_maps(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Softmax attention of every block: (layers, B, heads, T, T), read with timm's AttentionExtract
    from the non-fused attention path (fused SDPA is switched off for the call and restored)."""
    from timm.utils import AttentionExtract

    fused = [m.fused_attn for m in model.modules() if hasattr(m, "fused_attn")]
    set_fused_attention(model, False)
    try:
        extractor = AttentionExtract(model, names=["blocks.*.attn.softmax"])
        maps = extractor(x.to(next(model.parameters()).device))
    finally:
        for module, flag in zip([m for m in model.modules() if hasattr(m, "fused_attn")], fused):
            module.fused_attn = flag
    return torch.stack([maps[k].float().cpu() for k in sorted(maps, key=lambda k: int(k.split(".")[1]))])


def attention_rollout(attentions: torch.Tensor, residual: float = 0.5) -> torch.Tensor:
    """Abnar & Zuidema's rollout: average heads, mix in the residual path (identity), renormalise each
    row (``keepdim=True``: rows sum to 1 for any batch size) and multiply through the layers.

    ``attentions``: (layers, B, heads, T, T) -> (B, T, T)."""
    layers, batch, _, tokens, _ = attentions.shape
    eye = torch.eye(tokens, dtype=attentions.dtype).expand(batch, tokens, tokens)
    result = eye.clone()
    for layer in range(layers):
        a = attentions[layer].mean(dim=1)
        a = residual * eye + (1 - residual) * a
        a = a / a.sum(dim=-1, keepdim=True)
        result = a @ result
    return result


def patch_distances(grid: int, patch: int) -> torch.Tensor:
    """Euclidean distances in pixels between patch centres on a grid x grid layout: (N, N)."""
    ys, xs = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    centres = torch.stack([ys.flatten(), xs.flatten()], dim=1).float() * patch
    return torch.cdist(centres, centres)


def mean_attention_distance(attentions: torch.Tensor, grid: int, patch: int, prefix_tokens: int = 1) -> torch.Tensor:
    """Paper Fig. 7 (right): for each layer and head, the attention-weighted distance in pixels
    between query and key patches, averaged over queries and images. The class token is dropped and
    each remaining row renormalised. ``attentions``: (layers, B, heads, T, T) -> (layers, heads)."""
    a = attentions[..., prefix_tokens:, prefix_tokens:]
    a = a / a.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    d = patch_distances(grid, patch).to(a.dtype)
    return (a * d).sum(dim=-1).mean(dim=(1, 3))


def position_similarity(model: nn.Module) -> torch.Tensor:
    """Cosine similarity of each patch's position embedding with every other: (g, g, g, g)."""
    pos = model.pos_embed[0, model.num_prefix_tokens:].detach().float()
    pos = nn.functional.normalize(pos, dim=-1)
    g = int(round(math.sqrt(len(pos))))
    return (pos @ pos.T).reshape(g, g, g, g)


def plot_position_similarity(sim: torch.Tensor, title: str = ""):
    """The paper's layout: a g x g grid of small g x g maps, one per patch position."""
    g = sim.shape[0]
    fig, axes = plt.subplots(g, g, figsize=(0.55 * g + 1, 0.55 * g + 0.6))
    for i in range(g):
        for j in range(g):
            ax = axes[i, j] if g > 1 else axes
            ax.imshow(sim[i, j].numpy(), vmin=-1, vmax=1, cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title or "position-embedding similarity (one map per patch)", fontsize=9)
    fig.supxlabel("input patch column", fontsize=8)
    fig.supylabel("input patch row", fontsize=8)
    return fig


def filter_components(model: nn.Module, count: int = 28) -> torch.Tensor:
    """Principal components of the patch-embedding filters (paper Fig. 7, left): (count, C, P, P)."""
    weight = model.patch_embed.proj.weight.detach().float()  # (D, C, P, P)
    d = weight.shape[0]
    flat = weight.reshape(d, -1)
    flat = flat - flat.mean(dim=0, keepdim=True)
    _, _, v = torch.linalg.svd(flat, full_matrices=False)
    count = min(count, v.shape[0])
    return v[:count].reshape(count, *weight.shape[1:])


def plot_components(components: torch.Tensor, ncols: int = 7):
    n = len(components)
    rows = math.ceil(n / ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(ncols * 0.9, rows * 0.9))
    for i, ax in enumerate(np.atleast_1d(axes).flat):
        ax.axis("off")
        if i < n:
            c = components[i]
            c = (c - c.min()) / (c.max() - c.min() + 1e-8)
            ax.imshow(c.permute(1, 2, 0).numpy() if c.shape[0] == 3 else c[0].numpy(), interpolation="nearest")
    fig.suptitle("principal components of the patch-embedding filters", fontsize=9)
    return fig


def plot_attention_distance(distances: torch.Tensor, patch: int, image_size: int):
    layers, heads = distances.shape
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for h in range(heads):
        ax.scatter(np.arange(1, layers + 1), distances[:, h].numpy(), s=14, color=f"C{h}", label=f"head {h + 1}")
    ax.set(xlabel="network depth (layer)", ylabel="mean attention distance (pixels)",
           title=f"mean attention distance ({image_size}px images, patch {patch})")
    ax.set_xticks(range(1, layers + 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def head_attention(attention: torch.Tensor, pool: str, prefix_tokens: int = 1) -> torch.Tensor:
    """How much the classifier's input attends to each patch, from (B, T, T) attention (heads averaged)
    or rollout: the class token's row for ``pool="token"``; for ``pool="avg"`` (the head reads the mean
    of the patch tokens, never the class token) the mean of the patch tokens' rows. -> (B, N)."""
    if pool == "token":
        return attention[:, 0, prefix_tokens:]
    return attention[:, prefix_tokens:, prefix_tokens:].mean(dim=1)


def plot_attention_overlays(images: torch.Tensor, rollout: torch.Tensor, last_layer: torch.Tensor, grid: int,
                            titles: list[str], pool: str = "token"):
    """Per image: the input, the last layer's attention (mean over heads) and the rollout, each read
    from what the head uses (:func:`head_attention`), upsampled onto the image."""
    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(6.3, 2.1 * n), squeeze=False)
    size = images.shape[-1]
    reader = "CLS" if pool == "token" else "patch-mean"
    last = head_attention(last_layer.mean(1), pool)
    rolled = head_attention(rollout, pool)
    for i in range(n):
        img = images[i].permute(1, 2, 0).numpy()
        maps = [last[i], rolled[i]]
        axes[i, 0].imshow(img)
        axes[i, 0].set_title(titles[i], fontsize=8)
        for k, (m, name) in enumerate(zip(maps, (f"last-layer {reader} attention", f"{reader} rollout"))):
            heat = m.reshape(1, 1, grid, grid)
            heat = nn.functional.interpolate(heat, size=(size, size), mode="bilinear", align_corners=False)[0, 0]
            axes[i, k + 1].imshow(img)
            axes[i, k + 1].imshow(heat.numpy(), alpha=0.55, cmap="inferno")
            axes[i, k + 1].set_title(name, fontsize=8)
        for ax in axes[i]:
            ax.axis("off")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- training the model to inspect


def small_vit(p: dict, num_classes: int, pool: str = "token") -> nn.Module:
    return build_model("vit_cifar", num_classes, image_size=p["image_size"], patch_size=p["patch_size"],
                       dim=p["vit_dim"], depth=p["vit_depth"], heads=p["vit_heads"], pool=pool, drop_path=0.0)


def notebook04_checkpoint(profile: str):
    """Notebook 04's ViT checkpoints (seed 0) for ``profile`` and the parameters it was built with."""
    import nbformat

    from .checkpoint import Checkpointer
    from .nbtools import parameters_cell
    from .params import profile_parameters
    from .paths import checkpoints_dir, project_root

    name = "04_vit_vs_resnet_cifar10"
    params = parameters_cell(nbformat.read(str(project_root() / "notebooks" / f"{name}.ipynb"), as_version=4))
    params.update(profile_parameters(profile, name))
    return Checkpointer(checkpoints_dir(profile, name, "vit_seed0")), params


def load_notebook04_vit(profile: str) -> tuple[nn.Module, dict] | None:
    """Notebook 04's trained ViT (CIFAR-10) of this profile, or None when it has not been run. Read
    through the checkpointer: ``weights_only`` loading, and a truncated newest file falls back to the
    previous one with a warning."""
    checkpoints, p = notebook04_checkpoint(profile)
    state = checkpoints.load_latest()
    if state is None:
        return None
    from .cifar_study import build_study_model

    model = build_study_model("vit", 10, p)
    model.load_state_dict(state["model"])
    return model, {"checkpoint": str(checkpoints.folder), "epoch": state["epoch"],
                   **{k: p[k] for k in ("vit_dim", "vit_depth", "vit_heads", "vit_patch", "vit_pool")}}


def resampling_study(model: nn.Module, evaluate_at, finetune, small: int, large: int) -> pd.DataFrame:
    """Accuracy of a trained ViT at its own resolution, moved to a larger one (position embeddings
    interpolated, no training), and after a short fine-tuning there."""
    from .models import resize_vit_input

    rows = [{"resolution": small, "grid": model.patch_embed.grid_size[0], "step": "trained here",
             "val accuracy": evaluate_at(model, small)}]
    resize_vit_input(model, large)
    rows.append({"resolution": large, "grid": model.patch_embed.grid_size[0],
                 "step": "position embeddings interpolated, no training", "val accuracy": evaluate_at(model, large)})
    if finetune is not None:
        finetune(model)
        rows.append({"resolution": large, "grid": model.patch_embed.grid_size[0], "step": "after fine-tuning",
                     "val accuracy": evaluate_at(model, large)})
    return pd.DataFrame(rows)


def vit_b16_resolution_change() -> dict:
    """ViT-B/16 at 224 px moved to 384 px: the position-embedding table grows from 197 to 577 rows."""
    from .models import resize_vit_input

    model = build_model("vit_b16", 1000)
    before = tuple(model.pos_embed.shape)
    resize_vit_input(model, 384)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 384, 384))
    return {"pos_embed at 224 px": before, "pos_embed at 384 px": tuple(model.pos_embed.shape),
            "patch grid": tuple(model.patch_embed.grid_size), "logits": tuple(out.shape),
            "note": "shapes only: random weights (an accuracy before/after needs ImageNet weights and data)"}


# --------------------------------------------------------------------------- notebook steps


def load_inspection_data(p: dict):
    """Digits (bundled, real) at ``image_size`` when training here; CIFAR-10 for notebook 04's model."""
    from .data import load_cifar10, load_digits

    if p["inspect"] == "notebook04":
        data = load_cifar10(source=p["data_source"], root=p["data_root"])
    else:
        data = load_digits(image_size=p["image_size"])
    return data.with_validation(p["val_fraction"], seed=0)


def _loaders(run, data, p: dict, size: int, seed: int = 0):
    from .data import DeviceLoader

    mean, std = data.mean_std()
    resize = None if size == data.image_shape[-1] else (
        lambda x, g=None: nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False))
    train = DeviceLoader(data.train, p["batch_size"], device=run.device, crop_padding=max(1, size // 16),
                         mean=mean, std=std, augment=resize, seed=seed)
    val = DeviceLoader(data.val, 256, device=run.device, shuffle=False, drop_last=False, mean=mean, std=std,
                       augment=resize)
    return train, val


def train_small_vit(run, data, p: dict, *, pool: str = "token", lr: float | None = None, epochs: int | None = None,
                    name: str = "vit", model: nn.Module | None = None, size: int | None = None,
                    warmup_epochs: float = 1.0, seed: int | None = None):
    """Train (or resume) a small ViT with the shared engine; returns the FitResult."""
    from .train import fit

    size = size or p["image_size"]
    model = model if model is not None else small_vit(p, data.num_classes, pool)
    seed = run.seed if seed is None else seed
    train, val = _loaders(run, data, p, size, seed)
    epochs = epochs or p["epochs"]
    return fit(model, train, val, epochs=epochs, lr=lr or p["lr"], weight_decay=0.05,
               warmup_epochs=min(warmup_epochs, epochs), device=run.device, checkpoint_dir=run.checkpoint_dir(name),
               resume=p["resume"], seed=seed, desc=name)


def finetune_at(run, data, p: dict, model: nn.Module, size: int):
    """Fine-tune a trained ViT at a new resolution: a tenth of the training learning rate, no warm-up
    (the weights are already trained; a warm-up to the full rate would undo them)."""
    return train_small_vit(run, data, p, model=model, epochs=p["finetune_epochs"], size=size, lr=p["lr"] / 10,
                           warmup_epochs=0.0, name=f"finetune_{size}px")


def evaluate_at(run, data, p: dict, model: nn.Module, size: int) -> float:
    from .train import evaluate

    _, val = _loaders(run, data, p, size)
    return evaluate(model, val, run.device)["accuracy"]


def fused_vs_explicit_attention(model: nn.Module, x: torch.Tensor) -> float:
    """Largest logit difference between fused (SDPA) and explicit softmax attention."""
    model = model.eval()
    with torch.no_grad():
        set_fused_attention(model, True)
        fused = model(x)
        set_fused_attention(model, False)
        explicit = model(x)
        set_fused_attention(model, True)
    return float((fused - explicit).abs().max())


def pool_comparison(run, data, p: dict) -> pd.DataFrame:
    """Class token vs global average pooling at each learning rate, same budget, validation accuracy
    over ``pool_seeds`` seeds (one row per head input, learning rate and seed)."""
    rows = []
    for pool in ("token", "avg"):
        for lr in p["pool_lrs"]:
            for seed in range(p["pool_seeds"]):
                torch.manual_seed(seed)
                result = train_small_vit(run, data, p, pool=pool, lr=lr, epochs=p["pool_epochs"], seed=seed,
                                         model=small_vit(p, data.num_classes, pool),
                                         name=f"pool_{pool}_lr{lr:g}_seed{seed}")
                rows.append({"head input": "class token" if pool == "token" else "average of patch tokens",
                             "lr": lr, "seed": seed, "val accuracy": result.final["val_acc"],
                             "train loss": result.final["train_loss"]})
    return pd.DataFrame(rows)


def pool_summary(pools: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of :func:`pool_comparison`, learning rates as rows, head inputs as columns."""
    from .findings import format_mean_std

    table = pools.groupby(["lr", "head input"])["val accuracy"].agg(list).map(format_mean_std)
    return table.unstack("head input")


def validation_batch(data, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` validation images in [0, 1] (for display) and normalised (for the model)."""
    mean, std = data.mean_std()
    images = data.val.images[:n].float().div(255)
    normalised = (images - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    return images, normalised.to(device)


def position_similarity_summary(sim: torch.Tensor) -> dict:
    """Mean similarity of each position with its right-hand neighbour and with its mirrored position:
    a model that learned the 2-D layout has the first clearly above the second."""
    g = sim.shape[0]
    neighbour = torch.stack([sim[i, j, i, j + 1] for i in range(g) for j in range(g - 1)]).mean()
    mirrored = torch.stack([sim[i, j, g - 1 - i, g - 1 - j] for i in range(g) for j in range(g)
                            if (i, j) != (g - 1 - i, g - 1 - j)]).mean()
    return {"neighbour": float(neighbour), "mirrored": float(mirrored)}
