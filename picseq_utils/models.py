"""Model builders: ``build_model(name, num_classes, **overrides)`` for ResNet-18 (torchvision) and ViTs (timm);
parameter counts are computed, never assumed."""
from __future__ import annotations

import os
import sys
from typing import Callable

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

RESNET_STEMS = ("cifar", "imagenet")


def resnet18(num_classes: int = 10, stem: str = "cifar", width: int = 64) -> ResNet:
    """torchvision's ResNet-18. ``stem="cifar"``: 3x3 stride-1 first conv and no max-pool (for 32-px
    images); ``stem="imagenet"``: the original 7x7 stride-2 conv + max-pool (the seeds' choice).
    ``width`` scales every stage (64 is the standard network; smaller widths make CPU smoke runs fast)."""
    if stem not in RESNET_STEMS:
        raise ValueError(f"unknown ResNet stem {stem!r}; valid: {', '.join(RESNET_STEMS)}")
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    if width != 64:  # rebuild the stages with torchvision's own block and layer builder
        model.inplanes = width
        model.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        model.bn1 = nn.BatchNorm2d(width)
        for i in range(4):
            setattr(model, f"layer{i + 1}", model._make_layer(BasicBlock, width * 2 ** i, 2, stride=1 if i == 0 else 2))
        model.fc = nn.Linear(8 * width, num_classes)
        for m in model.modules():  # torchvision's init (new BatchNorms already start at its ones and zeros)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    if stem == "cifar":
        model.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
        model.maxpool = nn.Identity()
    return model


def vit(num_classes: int = 10, image_size: int = 32, patch_size: int = 4, dim: int = 320, depth: int = 9,
        heads: int = 5, mlp_ratio: float = 4.0, drop_path: float = 0.1, pool: str = "token",
        fused_attn: bool = True, **kwargs) -> nn.Module:
    """A timm ``VisionTransformer``. Defaults: the 32-px, patch-4 ViT parameter-matched to ResNet-18
    (11.14M vs 11.17M parameters for 10 classes). ``pool="token"`` uses the class token,
    ``"avg"`` global average pooling of the patch tokens."""
    from timm.models.vision_transformer import VisionTransformer

    if image_size % patch_size:
        raise ValueError(f"patch_size={patch_size} must divide image_size={image_size}")
    if dim % heads:
        raise ValueError(f"heads={heads} must divide dim={dim}")
    if pool not in ("token", "avg"):
        raise ValueError(f"pool must be 'token' or 'avg', got {pool!r}")
    model = VisionTransformer(img_size=image_size, patch_size=patch_size, num_classes=num_classes, embed_dim=dim,
                              depth=depth, num_heads=heads, mlp_ratio=mlp_ratio, drop_path_rate=drop_path,
                              global_pool=pool, class_token=True, **kwargs)
    return set_fused_attention(model, fused_attn)


def set_fused_attention(model: nn.Module, enabled: bool) -> nn.Module:
    """Switch timm attention blocks between fused SDPA (fast) and the explicit softmax path, which
    is the only one where attention maps can be read (``timm.utils.AttentionExtract``)."""
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = enabled
    return model


#: name -> (builder, its defaults)
MODELS: dict[str, tuple[Callable[..., nn.Module], dict]] = {
    "resnet18_cifar": (resnet18, {"stem": "cifar"}),  # 3x3 stem, no max-pool (the CIFAR standard)
    "resnet18_imagenet": (resnet18, {"stem": "imagenet"}),  # ImageNet 7x7/2 stem + max-pool (the seeds')
    "vit_cifar": (vit, {}),  # patch 4 for 32 px, dim 320, depth 9, 5 heads: parameter-matched to ResNet-18
    "vit_tiny_cifar": (vit, {"dim": 192, "depth": 12, "heads": 3}),  # DeiT-Tiny's shape for 32 px, patch 4
    "deit_tiny": (vit, {"image_size": 112, "patch_size": 16, "dim": 192, "depth": 12, "heads": 3}),  # IDMM's backbone
    "vit_b16": (vit, {"image_size": 224, "patch_size": 16, "dim": 768, "depth": 12, "heads": 12, "drop_path": 0.0}),
}


def build_model(name: str, num_classes: int, **overrides) -> nn.Module:
    """Build a registered model; ``overrides`` replace its defaults (e.g. ``width=16``, ``depth=4``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    builder, defaults = MODELS[name]
    return builder(num_classes=num_classes, **{**defaults, **overrides})


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------- pretrained weights

IMAGENET_WEIGHTS = {
    "resnet18_imagenet": "torchvision:ResNet18_Weights.IMAGENET1K_V1",
    "resnet18_cifar": "torchvision:ResNet18_Weights.IMAGENET1K_V1",  # all but the stem conv
    "vit_b16": "timm:vit_base_patch16_224.augreg2_in21k_ft_in1k",
    "deit_tiny": "timm:deit_tiny_patch16_224.fb_in1k",
}


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither cached nor downloadable here."""


def load_imagenet_weights(model: nn.Module, name: str, *, fallback: bool = False) -> dict:
    """Load ImageNet weights into ``model`` (a ``build_model(name, ...)``), skipping the classifier and any layer
    whose shape differs (e.g. the CIFAR stem); timm resamples position embeddings to the model's grid. Returns a
    description for the metrics file. Offline without cached weights: ``WeightsUnavailableError`` naming the
    cache and the fetch command, or with ``fallback=True`` the model stays random and the description says so."""
    from . import planning

    if name not in IMAGENET_WEIGHTS:
        raise ValueError(f"no ImageNet weights known for {name!r}; models with weights: {', '.join(IMAGENET_WEIGHTS)}")
    if planning.ACTIVE is not None and IMAGENET_WEIGHTS[name] in planning.ACTIVE.missing_weights:
        return {"weights": "random", "requested": IMAGENET_WEIGHTS[name], "fallback": True, "planned": True}
    if planning.ACTIVE is not None:  # a cost plan: the weights count as loaded where their shapes fit
        own = model.state_dict()
        with torch.device("meta"):
            state = _reference_state(*IMAGENET_WEIGHTS[name].split(":"))
        usable = {k for k, v in state.items() if k in own and (own[k].shape == v.shape or k == "pos_embed")}
        return {"weights": IMAGENET_WEIGHTS[name], "fallback": False, "planned": True,
                "loaded_tensors": len(usable), "skipped": sorted(set(own) - usable)}
    try:
        state = _fetch_state_dict(*IMAGENET_WEIGHTS[name].split(":"))
    except WeightsUnavailableError as err:
        if not fallback:
            raise
        print(f"[picseq.models] {err}\n[picseq.models] falling back to random initialisation (recorded).",
              file=sys.stderr)
        return {"weights": "random", "requested": IMAGENET_WEIGHTS[name], "fallback": True, "reason": str(err)}
    _fit_pos_embed(model, state)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return {"weights": IMAGENET_WEIGHTS[name], "fallback": False, "loaded_tensors": len(usable),
            "skipped": sorted(set(own) - set(usable))}


def _reference_state(library: str, ident: str) -> dict:
    """The state dict of the ImageNet model the weights are for, built without weights (call on the meta device)."""
    if library == "torchvision":
        return getattr(torchvision.models, ident.split("_Weights")[0].lower())().state_dict()
    import timm

    return timm.create_model(ident.split(".")[0], pretrained=False).state_dict()


def _fetch_state_dict(library: str, ident: str) -> dict:
    from .data.provenance import network_available

    if library == "torchvision":
        enum_name, member = ident.split(".")
        weights = getattr(torchvision.models, enum_name)[member]
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", weights.url.rsplit("/", 1)[-1])
        if not os.path.isfile(cached) and not network_available(weights.url):
            raise WeightsUnavailableError(
                f"ImageNet weights {ident} are not in the torch hub cache ({cached}) and cannot be downloaded "
                f"(no network). On a machine with internet run: python -c \"import torchvision; "
                f"torchvision.models.{enum_name}.{member}.get_state_dict()\" and copy {torch.hub.get_dir()} here.")
        return weights.get_state_dict(progress=False)
    import timm
    from huggingface_hub import try_to_load_from_cache

    files = (try_to_load_from_cache("timm/" + ident, n) for n in ("model.safetensors", "pytorch_model.bin"))
    cached = next((f for f in files if isinstance(f, str)), None)
    how = (f"On a machine with internet run: python -c \"import timm; timm.create_model('{ident}', pretrained=True)\" "
           f"and copy the Hugging Face cache (~/.cache/huggingface) here.")
    if cached is None and not network_available("https://huggingface.co"):
        raise WeightsUnavailableError(f"timm weights {ident} are not in the Hugging Face cache and cannot be "
                                      f"downloaded (no network). {how}")
    try:
        overlay = {"file": cached} if cached else None
        model = timm.create_model(ident, pretrained=True, pretrained_cfg_overlay=overlay)
    except Exception as err:  # a broken download or cache
        raise WeightsUnavailableError(f"timm weights {ident} could not be loaded ({type(err).__name__}: {err}). "
                                      f"{how}") from err
    return model.state_dict()


# --------------------------------------------------------------------------- resolution changes


def _fit_pos_embed(model: nn.Module, state: dict) -> bool:
    """Resample ``state["pos_embed"]`` in place to ``model``'s patch grid (timm, bicubic) when the two differ."""
    own = getattr(model, "pos_embed", None)
    if "pos_embed" not in state or own is None or state["pos_embed"].shape == own.shape:
        return False
    from timm.layers import resample_abs_pos_embed

    prefix = 0 if getattr(model, "no_embed_class", False) else model.num_prefix_tokens
    old_side = int(round((state["pos_embed"].shape[1] - prefix) ** 0.5))
    state["pos_embed"] = resample_abs_pos_embed(state["pos_embed"], new_size=list(model.patch_embed.grid_size),
                                                old_size=[old_side, old_side], num_prefix_tokens=prefix)
    return True


def load_vit_state_resampled(model: nn.Module, state: dict, skip_head: bool = False) -> dict:
    """Load a ViT state dict saved at another resolution into ``model``: position embeddings are
    resampled to ``model``'s grid; with ``skip_head`` the classifier is left as initialised.
    Returns ``{"resampled": bool, "skipped": [...]}``."""
    skipped = [k for k in state if k.startswith("head.")] if skip_head else []
    state = {k: v for k, v in state.items() if k not in skipped}
    resampled = _fit_pos_embed(model, state)
    missing, unexpected = model.load_state_dict(state, strict=not skip_head)
    bad = [k for k in missing if not k.startswith("head.")]
    if bad or unexpected:
        raise ValueError(f"state dict does not fit the model: missing {bad}, unexpected {list(unexpected)}")
    return {"resampled": resampled, "skipped": skipped}
