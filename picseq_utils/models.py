"""Model builders: ResNet-18 (CIFAR or ImageNet stem, any width) from torchvision, ViTs from timm.

``build_model(name, num_classes, **overrides)`` is the single entry point; an unknown name lists
the valid ones. Parameter counts are computed (``count_parameters``, ``parameter_count`` on the
meta device), never assumed.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

import torch
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
        model.layer1 = model._make_layer(BasicBlock, width, 2)
        model.layer2 = model._make_layer(BasicBlock, 2 * width, 2, stride=2)
        model.layer3 = model._make_layer(BasicBlock, 4 * width, 2, stride=2)
        model.layer4 = model._make_layer(BasicBlock, 8 * width, 2, stride=2)
        model.fc = nn.Linear(8 * width, num_classes)
        for m in model.modules():  # the same initialisation torchvision's constructor applies
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
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
    set_fused_attention(model, fused_attn)
    return model


def set_fused_attention(model: nn.Module, enabled: bool) -> nn.Module:
    """Switch timm attention blocks between fused SDPA (fast) and the explicit softmax path, which
    is the only one where attention maps can be read (``timm.utils.AttentionExtract``)."""
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = enabled
    return model


@dataclass(frozen=True)
class ModelSpec:
    builder: Callable[..., nn.Module]
    defaults: dict
    description: str


MODELS: dict[str, ModelSpec] = {
    "resnet18_cifar": ModelSpec(resnet18, {"stem": "cifar"}, "ResNet-18, 3x3 stem, no max-pool (CIFAR standard)"),
    "resnet18_imagenet": ModelSpec(resnet18, {"stem": "imagenet"}, "ResNet-18, ImageNet 7x7/2 stem + max-pool (seeds)"),
    "vit_cifar": ModelSpec(vit, {}, "ViT patch 4 for 32 px, dim 320, depth 9, 5 heads: parameter-matched to ResNet-18"),
    "vit_tiny_cifar": ModelSpec(vit, {"dim": 192, "depth": 12, "heads": 3}, "DeiT-Tiny shape for 32 px, patch 4"),
    "deit_tiny": ModelSpec(vit, {"image_size": 112, "patch_size": 16, "dim": 192, "depth": 12, "heads": 3},
                           "DeiT-Tiny (IDMM's backbone) at 112 px, patch 16"),
    "vit_b16": ModelSpec(vit, {"image_size": 224, "patch_size": 16, "dim": 768, "depth": 12, "heads": 12,
                               "drop_path": 0.0}, "ViT-Base/16 at 224 px (seed 003)"),
}


def build_model(name: str, num_classes: int, **overrides) -> nn.Module:
    """Build a registered model; ``overrides`` replace its defaults (e.g. ``width=16``, ``depth=4``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    spec = MODELS[name]
    return spec.builder(num_classes=num_classes, **{**spec.defaults, **overrides})


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameter_count(name: str, num_classes: int, **overrides) -> int:
    """Parameters of a registered model, counted on the meta device (no memory, no init time)."""
    with torch.device("meta"):
        return count_parameters(build_model(name, num_classes, **overrides))


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
    """Load ImageNet weights into ``model`` (a ``build_model(name, ...)``), skipping the classifier
    and any layer whose shape differs (e.g. the CIFAR stem); position embeddings are resampled
    by timm to the model's grid. Returns a description for the metrics file.

    Offline without cached weights: ``WeightsUnavailableError`` naming the cache folder and the
    command that fetches them, or, with ``fallback=True``, the model stays randomly initialised
    and the description says so.
    """
    if name not in IMAGENET_WEIGHTS:
        raise ValueError(f"no ImageNet weights known for {name!r}; models with weights: {', '.join(IMAGENET_WEIGHTS)}")
    library, ident = IMAGENET_WEIGHTS[name].split(":")
    try:
        state = _fetch_state_dict(library, ident)
    except WeightsUnavailableError as err:
        if not fallback:
            raise
        print(f"[picseq.models] {err}\n[picseq.models] falling back to random initialisation (recorded).",
              file=sys.stderr)
        return {"weights": "random", "requested": IMAGENET_WEIGHTS[name], "fallback": True, "reason": str(err)}
    own = model.state_dict()
    if "pos_embed" in state and "pos_embed" in own and state["pos_embed"].shape != own["pos_embed"].shape:
        from timm.layers import resample_abs_pos_embed

        grid = own["pos_embed"].shape[1] - 1
        side = int(round(grid ** 0.5))
        state["pos_embed"] = resample_abs_pos_embed(state["pos_embed"], (side, side), num_prefix_tokens=1)
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(own) - set(usable))
    model.load_state_dict(usable, strict=False)
    return {"weights": IMAGENET_WEIGHTS[name], "fallback": False, "loaded_tensors": len(usable),
            "skipped": skipped}


def _fetch_state_dict(library: str, ident: str) -> dict:
    from .data.provenance import network_available

    if library == "torchvision":
        import os

        import torchvision
        from torch.hub import get_dir

        enum_name, member = ident.split(".")
        weights = getattr(torchvision.models, enum_name)[member]
        cached = os.path.join(get_dir(), "checkpoints", weights.url.rsplit("/", 1)[-1])
        if not os.path.isfile(cached) and not network_available(weights.url):
            raise WeightsUnavailableError(
                f"ImageNet weights {ident} are not in the torch hub cache ({cached}) and cannot be downloaded "
                f"(no network). On a machine with internet run: python -c \"import torchvision; "
                f"torchvision.models.{enum_name}.{member}.get_state_dict()\" and copy {get_dir()} here.")
        return weights.get_state_dict(progress=False)
    import timm
    from huggingface_hub import try_to_load_from_cache

    repo = "timm/" + ident
    cached = next((f for f in (try_to_load_from_cache(repo, n) for n in ("model.safetensors", "pytorch_model.bin"))
                   if isinstance(f, str)), None)
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


def resize_vit_input(model: nn.Module, image_size: int) -> nn.Module:
    """Run a timm ViT at a new resolution with the same patch size, in place: the patch grid grows and
    the learned position embeddings are 2-D interpolated to it (timm's ``set_input_size`` ->
    ``resample_abs_pos_embed``, bicubic), as in the ViT paper's higher-resolution fine-tuning."""
    if not hasattr(model, "set_input_size"):
        raise TypeError(f"{type(model).__name__} is not a timm VisionTransformer; cannot change its input size")
    patch = model.patch_embed.patch_size[0]
    if image_size % patch:
        raise ValueError(f"image_size={image_size} must be a multiple of the patch size {patch}")
    model.set_input_size(img_size=(image_size, image_size))
    return model


def load_vit_state_resampled(model: nn.Module, state: dict, skip_head: bool = False) -> dict:
    """Load a ViT state dict saved at another resolution into ``model``: position embeddings are
    resampled to ``model``'s grid; with ``skip_head`` the classifier is left as initialised.
    Returns ``{"resampled": bool, "skipped": [...]}``."""
    from timm.layers import resample_abs_pos_embed

    state = dict(state)
    own = model.state_dict()
    resampled = False
    if "pos_embed" in state and state["pos_embed"].shape != own["pos_embed"].shape:
        prefix = 0 if getattr(model, "no_embed_class", False) else model.num_prefix_tokens
        old_tokens = state["pos_embed"].shape[1] - prefix
        old_side = int(round(old_tokens ** 0.5))
        state["pos_embed"] = resample_abs_pos_embed(state["pos_embed"], new_size=list(model.patch_embed.grid_size),
                                                    old_size=[old_side, old_side], num_prefix_tokens=prefix)
        resampled = True
    skipped = []
    if skip_head:
        for key in [k for k in state if k.startswith("head.")]:
            skipped.append(key)
            del state[key]
    missing, unexpected = model.load_state_dict(state, strict=not skip_head)
    bad = [k for k in missing if not k.startswith("head.")]
    if bad or unexpected:
        raise ValueError(f"state dict does not fit the model: missing {bad}, unexpected {list(unexpected)}")
    return {"resampled": resampled, "skipped": skipped}
