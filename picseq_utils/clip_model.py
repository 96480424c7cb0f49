"""Seed 000's model: ResNet-18 "picture embeddings" + a RoPE transformer over 8 frames (notebook 02).

Each frame -> ResNet-18 (ImageNet weights when available) -> 512 -> Linear -> a 256-d picture
embedding; rotary position encoding (RoPE) over the frame index applied to queries and keys; 2
encoder layers with 8 heads of 64 dimensions (an inner width of 512, which ``nn.MultiheadAttention``
cannot express since it ties the head width to d_model / heads = 32) and a 256-wide feed-forward
layer; the 8 outputs concatenated (8 x 256) -> Linear(256) -> ReLU -> Dropout(0.2) -> Linear(2) ->
LogSoftmax, trained with NLLLoss.

RoPE is written here (a few lines) because the maintained implementations are either for 2-D image
grids (timm) or come with a heavy, unmaintained package (torchtune); the attention layer is written
so that RoPE can act on q and k before PyTorch's fused ``scaled_dot_product_attention``.

With a frozen backbone every frame's embedding can be computed once (the cached-embedding fast path)
and only the transformer trained; :func:`embed_clips` does that.
"""
from __future__ import annotations

import math
import time

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.std import tqdm

from .data import SOURCES, TensorLoader
from .metrics import metric_slug
from .params import Bool, DataRoot, Float, Int, Str, schema

POSITIONS = ("rope", "learned", "none")
HEADS = ("concat", "mean")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------- RoPE and attention


def rope_angles(positions: torch.Tensor, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Rotation angles (T, dim/2): position x frequency, frequencies base^(-2i/dim)."""
    if dim % 2:
        raise ValueError(f"RoPE needs an even head dimension, got {dim}")
    freqs = base ** (-torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device) / dim)
    return positions.float()[:, None] * freqs[None, :]


def apply_rope(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate consecutive pairs of the last dimension of ``x`` (..., T, D) by position-dependent angles,
    so that the dot product of a rotated query and key depends only on their position difference."""
    angles = rope_angles(positions, x.shape[-1], base)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.flatten(-2)


class FrameSelfAttention(nn.Module):
    """Multi-head self-attention over frames with a free head width (8 x 64 = 512 inside a 256 model)
    and optional RoPE on q and k."""

    def __init__(self, d_model: int = 256, heads: int = 8, head_dim: int = 64, rope: bool = True,
                 dropout: float = 0.1):
        super().__init__()
        self.heads, self.head_dim, self.rope, self.dropout = heads, head_dim, rope, dropout
        self.qkv = nn.Linear(d_model, 3 * heads * head_dim)
        self.out = nn.Linear(heads * head_dim, d_model)

    def forward(self, x: torch.Tensor, need_weights: bool = False):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.rope:
            pos = torch.arange(t, device=x.device)
            q, k = apply_rope(q, pos), apply_rope(k, pos)
        if need_weights:
            weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)
            out = F.dropout(weights, self.dropout, self.training) @ v
        else:
            weights = None
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out(out.transpose(1, 2).reshape(b, t, -1)), weights


class EncoderLayer(nn.Module):
    """Post-norm encoder layer like ``nn.TransformerEncoderLayer`` (ReLU feed-forward, dropout 0.1)."""

    def __init__(self, d_model: int = 256, heads: int = 8, head_dim: int = 64, ff: int = 256, rope: bool = True,
                 dropout: float = 0.1):
        super().__init__()
        self.attn = FrameSelfAttention(d_model, heads, head_dim, rope, dropout)
        self.ff = nn.Sequential(nn.Linear(d_model, ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff, d_model))
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, need_weights: bool = False):
        attended, weights = self.attn(x, need_weights)
        x = self.norm1(x + self.drop(attended))
        return self.norm2(x + self.drop(self.ff(x))), weights


# --------------------------------------------------------------------------- the clip classifier


class FrozenBackbone(nn.Module):
    """A backbone that stays in eval mode (BatchNorm statistics frozen) with no gradients."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone.eval()
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x):
        with torch.no_grad():
            return self.backbone(x)


def resnet18_backbone(imagenet: bool = True) -> tuple[nn.Module, dict]:
    """torchvision's ResNet-18 (ImageNet stem) without its classifier: frames -> 512-d features.
    With ``imagenet`` the ImageNet weights are loaded when cached or downloadable; offline it falls
    back to random initialisation and says so in the returned description."""
    from .models import build_model, load_imagenet_weights

    model = build_model("resnet18_imagenet", 1000)
    info = load_imagenet_weights(model, "resnet18_imagenet", fallback=True) if imagenet else \
        {"weights": "random", "fallback": False, "requested": None}
    model.fc = nn.Identity()
    return model, info


class ClipClassifier(nn.Module):
    """Clips (B, T, C, H, W) or cached frame features (B, T, 512) -> log-probabilities (B, 2).

    ``position``: rope | learned | none; ``head``: concat (the seed's) | mean; ``transformer=False``
    is the per-frame baseline: each frame classified alone and the probabilities averaged."""

    def __init__(self, backbone: nn.Module | None = None, *, frames: int = 8, feature_dim: int = 512,
                 embed_dim: int = 256, layers: int = 2, heads: int = 8, head_dim: int = 64, ff: int = 256,
                 position: str = "rope", head: str = "concat", transformer: bool = True, dropout: float = 0.1,
                 head_dropout: float = 0.2, classes: int = 2):
        super().__init__()
        if position not in POSITIONS:
            raise ValueError(f"unknown position encoding {position!r}; valid: {', '.join(POSITIONS)}")
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; valid: {', '.join(HEADS)}")
        self.backbone = backbone
        self.frames, self.position, self.head_kind, self.use_transformer = frames, position, head, transformer
        self.embed = nn.Linear(feature_dim, embed_dim)  # the "picture embedding"
        self.pos_embed = nn.Parameter(torch.zeros(1, frames, embed_dim)) if position == "learned" else None
        if self.pos_embed is not None:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.layers = nn.ModuleList(EncoderLayer(embed_dim, heads, head_dim, ff, position == "rope", dropout)
                                    for _ in range(layers if transformer else 0))
        width = embed_dim * frames if (head == "concat" and transformer) else embed_dim
        self.head = nn.Sequential(nn.Linear(width, 256), nn.ReLU(), nn.Dropout(head_dropout), nn.Linear(256, classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 5:
            if self.backbone is None:
                raise ValueError("this model has no backbone: pass cached features (B, T, 512), not clips")
            b, t = x.shape[:2]
            return self.backbone(x.flatten(0, 1)).float().view(b, t, -1)
        return x

    def forward(self, x: torch.Tensor, need_weights: bool = False):
        z = self.embed(self.features(x))
        if z.shape[1] != self.frames:
            raise ValueError(f"expected {self.frames} frames, got {z.shape[1]}")
        if self.pos_embed is not None:
            z = z + self.pos_embed
        weights = []
        for layer in self.layers:
            z, w = layer(z, need_weights)
            weights.append(w)
        if not self.use_transformer:  # per-frame baseline: average the frames' probabilities
            logp = F.log_softmax(self.head(z), dim=-1)
            out = torch.logsumexp(logp, dim=1) - math.log(z.shape[1])
        else:
            pooled = z.flatten(1) if self.head_kind == "concat" else z.mean(1)
            out = F.log_softmax(self.head(pooled), dim=-1)
        return (out, weights) if need_weights else out


# --------------------------------------------------------------------------- data paths


def normalise_clips(clips: torch.Tensor) -> torch.Tensor:
    """uint8 (B, T, C, H, W) -> float normalised with ImageNet statistics (what ResNet-18 expects)."""
    mean = torch.tensor(IMAGENET_MEAN, device=clips.device).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=clips.device).view(1, 1, 3, 1, 1)
    return (clips.float().div(255) - mean) / std


@torch.no_grad()
def embed_clips(backbone: nn.Module, clips: torch.Tensor, device, batch_clips: int = 32, progress: bool = True,
                desc: str = "embedding frames") -> torch.Tensor:
    """Every frame of uint8 clips (N, T, C, H, W) through the backbone once: (N, T, 512) float32 on the CPU."""
    from .train import autocast_for

    backbone = backbone.to(device).eval()
    out = []
    for start in tqdm(range(0, len(clips), batch_clips), desc=desc, disable=not progress, mininterval=3.0):
        chunk = normalise_clips(clips[start:start + batch_clips].to(device))
        b, t = chunk.shape[:2]
        with autocast_for(torch.device(device)):
            features = backbone(chunk.flatten(0, 1))
        out.append(features.float().view(b, t, -1).cpu())
    return torch.cat(out)


def shuffle_frames(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The same clips with the frame order randomly permuted (a different permutation per clip)."""
    gen = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(x.shape[1], generator=gen) for _ in range(len(x))])
    return torch.gather(x, 1, order.view(len(x), -1, *([1] * (x.ndim - 2))).expand_as(x).to(x.device))


# --------------------------------------------------------------------------- notebook 02 parameters

AUGMENT_MODES = ("augmentor", "torchvision")
PARAMS = schema({
    "data_root": DataRoot("data folder (generated clips go to <data_root>/clips)"),
    "data_source": Str("kept for a uniform interface; clips are generated or read from clips_folder", choices=SOURCES),
    "clips_folder": Str("a folder of your own clips (<class>/<clip_id>/frame_00.png ...); '' = generated clips"),
    "n_clips": Int("generated clips (the seed had 80)", min=4),
    "frame_size": Int("frame side length (112 default, 224 as in the seed)", min=16, max=512),
    "augment_mode": Str("augmentation mode of the offline expansion", choices=AUGMENT_MODES),
    "copies": Int("augmented copies per clip (the seed: 32, 80 -> 2560)", min=1),
    "folds": Int("k of the k-fold split by clip (4 folds = the seed's 75/25)", min=2),
    "ablation_folds": Int("folds on which the ablation variants run (the seed model and the leakage "
                          "study use all folds)", min=1),
    "epochs": Int("epochs of every transformer run (the seed: 100)", min=1),
    "batch_size": Int("batch size (the seed: 32)", min=1),
    "lr": Float("AdamW learning rate (the seed: 1e-5)", min=0, min_exclusive=True),
    "weight_decay": Float("AdamW weight decay", min=0),
    "imagenet_weights": Bool("use ImageNet weights for ResNet-18 when they can be had"),
    "finetune_epochs": Int("epochs of the fine-tuned-backbone run (0 = skip)", min=0),
    "finetune_folds": Int("folds on which the fine-tuned backbone is trained", min=1),
    "speed_epochs": Int("epochs timed for cached vs end-to-end", min=1),
    "speed_clips": Int("training clips used in that timing (0 = all)", min=0),
    "resume": Bool("resume the fine-tuning runs from their checkpoints"),
})


# --------------------------------------------------------------------------- the study


CORRECT_ON_COPIES = "seed model, scored on augmented copies of the held-out clips"


class ClipStudy:
    """Notebook 02's experiments on one clip set, with the expensive parts computed once."""

    def __init__(self, run, clipset, p: dict):
        from .clip_augment import augment_clips
        from .data.clips import kfold_by_clip

        self.run, self.data, self.p = run, clipset, p
        self.labels = clipset.labels
        self.folds = kfold_by_clip(self.labels, p["folds"], seed=run.seed)
        t0 = time.perf_counter()
        self.augmented = augment_clips(clipset.clips, p["augment_mode"], seed=run.seed, copies=p["copies"])
        self.augment_seconds = time.perf_counter() - t0
        self.aug_labels = self.labels.repeat_interleave(p["copies"])
        self.aug_owner = torch.arange(len(self.labels)).repeat_interleave(p["copies"])  # which clip each copy is from
        backbone, self.weights = resnet18_backbone(p["imagenet_weights"])
        self.backbone = FrozenBackbone(backbone)
        t0 = time.perf_counter()
        self.orig_features = embed_clips(self.backbone, clipset.clips, run.device, desc="embedding originals")
        self.aug_features = embed_clips(self.backbone, self.augmented, run.device, desc="embedding copies")
        self.embed_seconds = time.perf_counter() - t0

    def copies_of(self, clips: torch.Tensor) -> torch.Tensor:
        return torch.isin(self.aug_owner, clips).nonzero().squeeze(1)

    def train_cached(self, train_x, train_y, val_x, val_y, *, seed: int, desc: str, epochs: int | None = None,
                     **model_kwargs):
        """Train a clip classifier on cached features; returns (model, FitResult)."""
        from .train import fit

        torch.manual_seed(seed)
        model = ClipClassifier(**model_kwargs)
        dev = self.run.device
        result = fit(model, TensorLoader(train_x, train_y, self.p["batch_size"], device=dev, seed=seed),
                     TensorLoader(val_x, val_y, 256, device=dev, shuffle=False),
                     epochs=epochs or self.p["epochs"], lr=self.p["lr"], weight_decay=self.p["weight_decay"],
                     schedule="constant", loss_fn=nn.NLLLoss(), device=dev, seed=seed, desc=desc, progress=False)
        return model, result

    def fold_data(self, k: int):
        train_idx, val_idx = self.folds[k]
        copies = self.copies_of(train_idx)
        return (self.aug_features[copies], self.aug_labels[copies],
                self.orig_features[val_idx], self.labels[val_idx])

    def variants(self) -> dict:
        return {
            "seed model: RoPE, concat head": dict(position="rope", head="concat"),
            "learned absolute positions": dict(position="learned", head="concat"),
            "no position encoding": dict(position="none", head="concat"),
            "RoPE, mean-pool head": dict(position="rope", head="mean"),
            "per-frame baseline (no transformer)": dict(transformer=False),
        }

    def ablations(self) -> tuple[pd.DataFrame, dict]:
        """Every variant (split by clip, then augment) - the seed model on every fold, the others on the
        first ``ablation_folds`` folds - plus the shuffled-order control for the seed model. Returns the
        per-fold table and the seed model of fold 0."""
        rows, keep = [], {}
        for k in range(len(self.folds)):
            tx, ty, vx, vy = self.fold_data(k)
            for name, kwargs in self.variants().items():
                if k >= self.p["ablation_folds"] and not name.startswith("seed model"):
                    continue
                model, result = self.train_cached(tx, ty, vx, vy, seed=self.run.seed + k, desc=f"{name} fold {k}",
                                                  **kwargs)
                rows.append({"variant": name, "fold": k, "val_acc": result.final["val_acc"],
                             "train_seconds": result.train_seconds})
                if name.startswith("seed model"):
                    keep.setdefault("history", result.history)
                    keep.setdefault("model", model)
                    keep.setdefault("fold", k)
                    shuffled = shuffle_frames(vx, seed=k)
                    rows.append({"variant": "seed model, frames shuffled at test time", "fold": k,
                                 "val_acc": _accuracy(model, shuffled, vy, self.run.device), "train_seconds": 0.0})
                    # The leaky protocol scores augmented copies; score the held-out clips' copies too, so the
                    # leakage gap compares like with like (only "was this clip seen in training?" differs).
                    held_out = self.copies_of(self.folds[k][1])
                    rows.append({"variant": CORRECT_ON_COPIES, "fold": k, "train_seconds": 0.0,
                                 "val_acc": _accuracy(model, self.aug_features[held_out], self.aug_labels[held_out],
                                                      self.run.device)})
        return pd.DataFrame(rows), keep

    def leaky(self) -> pd.DataFrame:
        """The seed's likely protocol: augment all clips, then split the augmented copies at random 75/25
        (copies of one clip land on both sides)."""
        rows = []
        n = len(self.aug_labels)
        for k in range(len(self.folds)):
            gen = torch.Generator().manual_seed(self.run.seed + 100 + k)
            order = torch.randperm(n, generator=gen)
            cut = int(round(0.75 * n))
            tr, va = order[:cut], order[cut:]
            _, result = self.train_cached(self.aug_features[tr], self.aug_labels[tr], self.aug_features[va],
                                          self.aug_labels[va], seed=self.run.seed + k, desc=f"leaky split {k}")
            shared = torch.isin(self.aug_owner[va], self.aug_owner[tr]).float().mean().item()
            rows.append({"variant": "leaky: augment, then split the copies", "fold": k,
                         "val_acc": result.final["val_acc"], "train_seconds": result.train_seconds,
                         "val copies whose clip is also in training": shared})
        return pd.DataFrame(rows)

    def finetuned(self) -> pd.DataFrame:
        """The seed model with the backbone fine-tuned end to end (expensive: a few folds, few epochs)."""
        from .train import fit

        rows = []
        if not self.p["finetune_epochs"]:
            return pd.DataFrame(rows)
        for k in range(min(self.p["finetune_folds"], len(self.folds))):
            train_idx, val_idx = self.folds[k]
            copies = self.copies_of(train_idx)
            backbone, _ = resnet18_backbone(self.p["imagenet_weights"])
            torch.manual_seed(self.run.seed + k)
            model = ClipClassifier(backbone)
            dev = self.run.device
            result = fit(model, TensorLoader(self.augmented[copies], self.aug_labels[copies], self.p["batch_size"],
                                             device=dev, transform=normalise_clips, seed=self.run.seed + k),
                         TensorLoader(self.data.clips[val_idx], self.labels[val_idx], 16, device=dev, shuffle=False,
                                      transform=normalise_clips),
                         epochs=self.p["finetune_epochs"], lr=self.p["lr"], weight_decay=self.p["weight_decay"],
                         schedule="constant", loss_fn=nn.NLLLoss(), device=dev, seed=self.run.seed + k,
                         checkpoint_dir=self.run.checkpoint_dir(f"finetune_fold{k}"), resume=self.p["resume"],
                         desc=f"fine-tuned backbone fold {k}")
            rows.append({"variant": f"backbone fine-tuned ({self.p['finetune_epochs']} epochs)", "fold": k,
                         "val_acc": result.final["val_acc"], "train_seconds": result.train_seconds})
        return pd.DataFrame(rows)

    def speed(self) -> dict:
        """Seconds per epoch of the same model (frozen backbone) trained end to end on clips vs on
        cached features, same clips, same seed, same epochs; and whether both reach the same result."""
        from .train import fit

        train_idx, val_idx = self.folds[0]
        copies = self.copies_of(train_idx)
        if self.p["speed_clips"]:
            copies = copies[:self.p["speed_clips"]]
        dev, epochs, seed = self.run.device, self.p["speed_epochs"], self.run.seed
        out = {}
        for path in ("end-to-end", "cached"):
            torch.manual_seed(seed)
            model = ClipClassifier(self.backbone if path == "end-to-end" else None)
            if path == "end-to-end":
                train = TensorLoader(self.augmented[copies], self.aug_labels[copies], self.p["batch_size"], device=dev,
                                     transform=normalise_clips, seed=seed)
                val = TensorLoader(self.data.clips[val_idx], self.labels[val_idx], 16, device=dev, shuffle=False,
                                   transform=normalise_clips)
            else:
                train = TensorLoader(self.aug_features[copies], self.aug_labels[copies], self.p["batch_size"],
                                     device=dev, seed=seed)
                val = TensorLoader(self.orig_features[val_idx], self.labels[val_idx], 256, device=dev, shuffle=False)
            result = fit(model, train, val, epochs=epochs, lr=self.p["lr"], weight_decay=self.p["weight_decay"],
                         schedule="constant", loss_fn=nn.NLLLoss(), device=dev, seed=seed, progress=False,
                         desc=f"speed {path}")
            out[path] = {"seconds_per_epoch": result.train_seconds / epochs, "val_acc": result.final["val_acc"],
                         "train_loss": result.final["train_loss"], "clips": len(copies)}
        per_clip_embed = self.embed_seconds / (len(self.augmented) + len(self.data.clips))
        out["speedup_per_epoch"] = out["end-to-end"]["seconds_per_epoch"] / out["cached"]["seconds_per_epoch"]
        out["cache_seconds_for_these_clips"] = per_clip_embed * len(copies)
        return out

    def record_protocols(self, ablations: pd.DataFrame, leaky: pd.DataFrame, finetuned: pd.DataFrame) -> pd.DataFrame:
        """Record the honest and the leaky protocol, the leakage gap (leaky minus honest, both scored on
        augmented copies) and every variant's mean ± std; return the one results table."""
        prov = self.data.provenance
        by_variant = pd.concat([ablations, finetuned, leaky], ignore_index=True)
        correct = ablations[ablations["variant"].str.startswith("seed model: RoPE")]["val_acc"]
        on_copies = ablations[ablations["variant"] == CORRECT_ON_COPIES]["val_acc"]
        leak = leaky["val_acc"]
        self.run.record("val_acc_correct_split", correct.mean(), unit="accuracy", data=prov, std=correct.std(ddof=1),
                        n=len(correct), protocol="split by clip, then augment; original validation clips")
        self.run.record("val_acc_correct_split_on_copies", on_copies.mean(), unit="accuracy", data=prov,
                        std=on_copies.std(ddof=1), n=len(on_copies),
                        protocol="split by clip, then augment; augmented copies of the validation clips")
        self.run.record("val_acc_leaky_split", leak.mean(), unit="accuracy", data=prov, std=leak.std(ddof=1),
                        n=len(leak), protocol="augment, then split copies")
        self.run.record("leakage_gap", leak.mean() - on_copies.mean(), unit="accuracy", data=prov,
                        note="leaky minus honest, both scored on augmented copies")
        results = summarise(by_variant)
        for variant, row in results.iterrows():
            self.run.record(f"val_acc_{metric_slug(variant)}", row["val accuracy (mean)"], unit="accuracy", data=prov,
                            std=row["± std"], n=int(row["folds"]))
        return results

    def record_speed(self, speed: dict, ablations: pd.DataFrame) -> str:
        """Record the cached path's speed-up (per epoch, and over a whole run including building the cache)
        and the seed configuration's training time; return a one-line summary."""
        prov, epochs = self.data.provenance, self.p["epochs"]
        e2e, cached = speed["end-to-end"]["seconds_per_epoch"], speed["cached"]["seconds_per_epoch"]
        cache_s = speed["cache_seconds_for_these_clips"]
        whole_run = epochs * e2e / (cache_s + epochs * cached)
        self.run.record("cached_embedding_speedup", speed["speedup_per_epoch"], unit="x", data=prov,
                        end_to_end_s_per_epoch=e2e, cached_s_per_epoch=cached, clips=speed["cached"]["clips"],
                        cache_seconds=cache_s, whole_run_speedup=whole_run, device=str(self.run.device))
        seed_fold = ablations[ablations["variant"].str.startswith("seed model: RoPE")]["train_seconds"].iloc[0]
        self.run.record("train_seconds_seed_config", self.embed_seconds + float(seed_fold), unit="s", data=prov,
                        epochs=epochs, device=str(self.run.device),
                        note="embedding all clips once + training one fold on cached embeddings")
        return (f"cached embeddings: {speed['speedup_per_epoch']:.1f}x faster per epoch; building the cache once cost "
                f"{cache_s:.1f} s, so over the {epochs} epochs of a run the cached path is {whole_run:.1f}x faster in all")

    def attention(self, model: ClipClassifier, fold: int) -> tuple[torch.Tensor, list[str]]:
        """Attention weights (layers, heads, T, T) of a success and a failure validation clip."""
        _, val_idx = self.folds[fold]
        picks, names = [], []
        for label, name in ((1, "success"), (0, "failure")):
            i = val_idx[self.labels[val_idx] == label][0]
            picks.append(int(i))
            names.append(f"{name}: {self.data.ids[int(i)]}")
        model = model.to(self.run.device).eval()
        with torch.no_grad():
            _, weights = model(self.orig_features[picks].to(self.run.device), need_weights=True)
        return torch.stack([w.cpu() for w in weights], dim=1), names, picks  # (2, layers, heads, T, T)


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device) -> float:
    model = model.to(device).eval()
    return (model(x.to(device)).argmax(1).cpu() == y).float().mean().item()


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over folds per variant, in the order the variants first appear."""
    order = list(dict.fromkeys(table["variant"]))
    g = table.groupby("variant")["val_acc"]
    out = pd.DataFrame({"val accuracy (mean)": g.mean(), "± std": g.std(ddof=1), "folds": g.size()})  # NaN for 1 fold
    return out.loc[order]


def plot_attention(weights: torch.Tensor, names: list[str]):
    """Frame-to-frame attention (mean over heads) of each layer for the chosen clips."""
    import matplotlib.pyplot as plt

    clips, layers = weights.shape[:2]
    fig, axes = plt.subplots(clips, layers, figsize=(3.2 * layers, 3.0 * clips), squeeze=False)
    for c in range(clips):
        for layer in range(layers):
            ax = axes[c, layer]
            im = ax.imshow(weights[c, layer].mean(0).numpy(), vmin=0, cmap="viridis")
            ax.set_title(f"{names[c]}\nlayer {layer + 1}", fontsize=8)
            ax.set_xlabel("key frame")
            ax.set_ylabel("query frame")
            fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig
