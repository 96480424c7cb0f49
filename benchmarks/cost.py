"""What a profile costs on a GPU, before the run: ``python -m benchmarks.cost --profile full`` (``make cost``).

For every notebook: the training images x epochs of every ``fit`` call the notebook makes with the profile's
parameters (one plan function per notebook, mirroring its loops), the forward-only images (validation after every
epoch, test reads, cached embeddings, probe features), the FLOPs per image of each model the notebook builds (counted
by ``torch.utils.flop_counter.FlopCounterMode`` on PyTorch's meta device, a batch of 2: a training step is forward +
backward as counted, not an assumed 3x), the total, and the wall time on one H100 at a throughput taken from a
measured GPU benchmark file when one exists (``benchmarks/results/*.json``), else from the assumption printed in the
table's header.

``--check PROFILE`` compares each plan with what a finished run trained (the ``fits`` of
``reports/<profile>/metrics/<notebook>.json``) and exits 1 when planned and logged images x epochs differ by more
than 1 %: a plan that drifted from its notebook is caught.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from picseq_utils.params import notebook_defaults
from picseq_utils.params import NOTEBOOK_SCHEMAS, PROFILES, profile_parameters
from picseq_utils.paths import project_root

ROOT = project_root()
RESULTS = Path(__file__).resolve().parent / "results"

#: Without a measured GPU results file: the effective training throughput assumed for one H100.
#: 100 TFLOP/s is the benchmarks' own CUDA floor for ResNet-18 at 32 px (30,000 images/s x 3.33 GFLOP per training
#: image, benchmarks/training.py), ~10 % of the H100 SXM's dense bf16 peak of 989 TFLOP/s: small models at 32 px
#: are launch- and memory-bound; the few large ones (ViT-B/16 at 224 px) would run faster, so this errs long.
ASSUMED_FLOPS = 100e12
H100_PEAK_BF16 = 989e12
#: Fixed costs FLOPs do not show (assumed): per epoch of a fit (checkpoint write, validation set-up, host syncs),
#: and per fit that torch.compile's (compilation; later fits of the same shapes hit the inductor cache).
EPOCH_OVERHEAD_S = 0.2
COMPILE_OVERHEAD_S = 30.0
TOLERANCE = 0.01

#: Sizes of the data sets as loaded (train, test); digits are counted from scikit-learn's bundled set itself.
KNOWN_SIZES = {"CIFAR-10": (50000, 10000, 10), "CIFAR-100": (50000, 10000, 100), "Flowers-102": (2040, 6149, 102)}
DATASET_LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "flowers102": "Flowers-102", "digits": "digits"}


# --------------------------------------------------------------------------- what a run trains

@dataclass(frozen=True)
class Model:
    """A model a notebook trains or runs, as the notebook builds it: a registry name (``build_model``) or one of
    ``CUSTOM``, its keyword arguments, and the shape of one input sample."""

    label: str
    builder: str
    kwargs: tuple = ()
    shape: tuple = (3, 32, 32)


@dataclass
class Work:
    """One ``fit`` call (``fits=1``: images = samples per epoch x epochs) or a forward-only pass (``fits=0``)."""

    model: Model
    images: int = 0  # training images x epochs
    forward: int = 0  # forward-only images: validation after each epoch, test reads, caches, features
    fits: int = 1
    epochs: int = 0
    compiled: bool = False


def fit(model: Model, samples: int, epochs: int, val: int = 0, test: int = 0, compiled: bool = False) -> Work:
    """A ``fit`` over ``samples`` per epoch for ``epochs``, validating ``val`` images after every epoch, then
    reading ``test`` images once."""
    return Work(model, samples * epochs, val * epochs + test, 1, epochs, compiled)


def forward(model: Model, images: int) -> Work:
    return Work(model, 0, images, 0, 0)


def resnet(stem: str, width: int, size: int, classes: int) -> Model:
    return Model(f"ResNet-18 {stem} stem w{width} @{size}px", f"resnet18_{stem}",
                 (("num_classes", classes), ("width", width)), (3, size, size))


def vit(size: int, patch: int, dim: int, depth: int, heads: int, classes: int, name: str = "vit_cifar",
        **extra) -> Model:
    kwargs = dict(num_classes=classes, image_size=size, patch_size=patch, dim=dim, depth=depth, heads=heads, **extra)
    return Model(f"ViT {dim}x{depth} p{patch} @{size}px", name, tuple(sorted(kwargs.items())), (3, size, size))


@dataclass
class Facts:
    """What only the run knows: the data sets' sizes as loaded, which pretrained weights loaded, whether notebook
    04's ViT was there for 03. The defaults are a fresh run of the whole report on a GPU machine with internet: the
    real data sets, every ImageNet weight that fits the model loads, 04 runs before 03 (the report's order)."""

    sizes: dict = field(default_factory=dict)  # data set label -> (n_train, n_test)
    weights: dict = field(default_factory=dict)  # run.use_weights name -> loaded (not a fallback)
    nb04_vit: bool | None = None  # 03: notebook 04's seed-0 ViT found (None: the report's order says yes)

    def size(self, label: str) -> tuple[int, int]:
        return tuple(self.sizes.get(label) or KNOWN_SIZES[label][:2])

    def loaded(self, name: str) -> bool:
        return self.weights.get(name, True)


# --------------------------------------------------------------------------- class-balanced splits, counted

def fraction_of(counts: tuple, fraction: float) -> tuple:
    """Per-class sizes of ``stratified_indices(labels, fraction)`` (picseq_utils.data.images)."""
    return tuple(max(1, int(round(fraction * n))) for n in counts)


def split_off(counts: tuple, fraction: float) -> tuple[tuple, tuple]:
    """``ImageData.with_validation``: (train, val) per class."""
    val = fraction_of(counts, fraction)
    return tuple(n - v for n, v in zip(counts, val)), val


def limited(counts: tuple, most: int) -> tuple:
    """``ImageData.limit(train=most)``."""
    return fraction_of(counts, most / sum(counts)) if most and most < sum(counts) else counts


@lru_cache(maxsize=None)
def digits_counts() -> tuple[tuple, int]:
    """Per-class training counts and test size of ``load_digits`` (its fixed 80/20 split)."""
    from picseq_utils.data import load_digits

    data = load_digits(image_size=8)
    return tuple(torch.bincount(data.train.labels).tolist()), len(data.test)


def image_set(dataset: str, facts: Facts) -> tuple[tuple, int]:
    """(per-class training counts, test size) of a data set as its loader returns it."""
    if dataset == "digits":
        return digits_counts()
    label = DATASET_LABELS[dataset]
    n_train, n_test = facts.size(label)
    classes = KNOWN_SIZES[label][2]
    return tuple(n_train // classes + (c < n_train % classes) for c in range(classes)), n_test


def params_for(profile: str, notebook: str) -> dict:
    """The values a notebook runs with: its parameters cell, then the profile's (as papermill injects them)."""
    path = ROOT / "notebooks" / f"{notebook}.ipynb"
    return {**notebook_defaults(path), **profile_parameters(profile, notebook)}


# --------------------------------------------------------------------------- one plan per notebook

def plan_00(p: dict, facts: Facts) -> list[Work]:
    # 00_data_tour: loads and shows the data sets; no training.
    return []


def plan_01(p: dict, facts: Facts) -> list[Work]:
    # 01_clip_augmentation: augmentation and its throughput; no model.
    return []


def plan_02(p: dict, facts: Facts) -> list[Work]:
    # cell "clips": n_clips generated clips, balanced (a folder of one's own is counted as n_clips clips)
    n = facts.sizes.get("clips (generated)", (p["n_clips"], 0))[0]
    per_class = ((n + 1) // 2, n // 2)
    val = [sum(len(range(k, c, p["folds"])) for c in per_class) for k in range(p["folds"])]  # kfold_by_clip
    copies, epochs, size = p["copies"], p["epochs"], p["frame_size"]
    cached = lambda **variant: Model("clip transformer on cached embeddings", "clip_cached",  # noqa: E731
                                     tuple(sorted(variant.items())), (8, 512))
    works = [forward(Model(f"ResNet-18 backbone, 8 frames @{size}px", "frames_backbone", (), (8, 3, size, size)),
                     n + n * copies)]  # cell "embed": originals and copies embedded once
    for k in range(p["folds"]):  # section 6, "split by clip": one fit per fold, scored on copies and shuffled frames
        works.append(fit(cached(), (n - val[k]) * copies, epochs, val[k], val[k] * copies + val[k]))
    if copies >= 2:  # section 7, leakage: fold k with half of each held-out clip's copies moved into training
        for k in range(p["folds"]):
            works.append(fit(cached(), (n - val[k]) * copies + val[k] * (copies // 2), epochs,
                             val[k] * (copies - copies // 2)))
    variants = ({"position": "learned"}, {"position": "none"}, {"head": "mean"}, {"transformer": False})
    for variant in variants:  # section 8, ablations: every variant on the first ablation_folds folds
        for k in range(min(p["ablation_folds"], p["folds"])):
            works.append(fit(cached(**variant), (n - val[k]) * copies, epochs, val[k]))
    picked = fraction_of(per_class, min(1.0, p["recipe_clips"] / n)) if p["recipe_clips"] else per_class
    chosen, held = sum(picked), sum(fraction_of(picked, 0.25))
    tr = round(0.75 * chosen * p["recipe_copies"])
    e2e = Model(f"ResNet-18 + clip transformer end to end @{size}px", "clip_e2e", (), (8, 3, size, size))
    for _ in range(p["recipe_runs"]):  # section 9, seed 000's recipe: clips split 75/25, then augmented
        works.append(fit(e2e, (chosen - held) * p["recipe_copies"], p["recipe_epochs"], held * p["recipe_copies"]))
    for _ in range(p["recipe_runs"]):  # its leaky variant: augmented, then the copies split 75/25 at random
        works.append(fit(e2e, tr, p["recipe_epochs"], chosen * p["recipe_copies"] - tr))
    speed = min((n - val[0]) * copies, p["speed_clips"] or math.inf)  # section 10: fold 0's copies, two paths
    works.append(fit(Model(f"frozen ResNet-18 + clip transformer @{size}px", "clip_frozen_e2e", (), (8, 3, size, size)),
                     speed, p["speed_epochs"]))
    works.append(fit(cached(), speed, p["speed_epochs"]))
    return works


def plan_03(p: dict, facts: Facts) -> list[Work]:
    cifar = p["inspect"] == "notebook04"
    counts, n_test = image_set("cifar10" if cifar else "digits", facts)
    train, val = (sum(c) for c in split_off(counts, p["val_fraction"]))
    classes = len(counts)
    loaded = cifar and (facts.nb04_vit is not False)  # cell "notebook04": 04 ran first in the report
    size, resample = p["image_size"], p["resample_size"]
    shape = dict(patch=p["patch_size"], dim=p["vit_dim"], depth=p["vit_depth"], heads=p["vit_heads"])
    held = n_test if loaded else val
    works = []
    if loaded:  # notebook 04's seed-0 ViT with 04's own parameters
        p4 = params_for(p["profile"], "04_vit_vs_resnet_cifar10")
        inspected = dict(patch=p4["vit_patch"], dim=p4["vit_dim"], depth=p4["vit_depth"], heads=p4["vit_heads"])
        pool = p4["vit_pool"]
    else:  # cell "train": the ViT to inspect, trained here
        inspected, pool = shape, "token"
        works.append(fit(vit(size, **shape, classes=classes, drop_path=0.0), train, p["epochs"], val))
    works.append(forward(vit(size, **inspected, classes=classes, pool=pool), held))  # its held-out accuracy
    moved = vit(resample, **inspected, classes=classes, pool=pool)
    works.append(forward(moved, 2 * held))  # interpolated table, and the re-drawn control
    if p["finetune_epochs"]:  # fine-tuning at resample_size, then scored once more
        works.append(fit(moved, train, p["finetune_epochs"], held, held))
    for _ in p["pool_lrs"]:  # cell "pool": lr x head x seed, equal budget
        for head in ("token", "avg"):
            for _ in range(p["pool_seeds"]):
                works.append(fit(vit(size, **shape, classes=classes, pool=head, drop_path=0.0), train,
                                 p["pool_epochs"], val))
    return works


def study_data(p: dict, facts: Facts) -> tuple[tuple, int, int]:
    """Notebooks 04/05's ``load_study_data``: (per-class training counts, validation size, test size)."""
    counts, n_test = image_set(p["dataset"], facts)
    counts = limited(counts, p["train_limit"])
    counts, val = split_off(counts, p["val_fraction"])
    return counts, sum(val), min(n_test, p["test_limit"]) if p["test_limit"] else n_test


def study_model(p: dict, family: str, classes: int, size: int) -> Model:
    """``make_model`` of notebook 04 (exported, used by 05) with the run's widths."""
    if family == "vit":
        return vit(size, p["vit_patch"], p["vit_dim"], p["vit_depth"], p["vit_heads"], classes, pool=p["vit_pool"])
    return resnet("cifar" if family == "resnet18" else "imagenet", p["resnet_width"], size, classes)


def sweep_and_curve(p: dict, counts: tuple, val: int, test: int, headline: list) -> list[Work]:
    """The parts 04 and 05 share: the lr x wd sweep, the headline runs (``headline``: (family, runs per seed)),
    the data-size curve at equal steps."""
    train, classes, size = sum(counts), len(counts), 8 if p["dataset"] == "digits" else 32
    sweep = sum(fraction_of(counts, p["sweep_fraction"])) if p["sweep_fraction"] != 1 else train
    model = lambda family: study_model(p, family, classes, size)  # noqa: E731
    works = []
    for family, grid in (("resnet18", "resnet"), ("vit", "vit")):  # the sweep: every grid point, sweep_fraction
        for _ in range(len(p[f"{grid}_lrs"]) * len(p[f"{grid}_wds"])):
            works.append(fit(model(family), sweep, p["sweep_epochs"], val, compiled=p["compile"]))
    for _ in range(p["seeds"]):  # the headline runs, then the test set once per model
        for family, runs in headline:
            works += [fit(model(family), train, p["epochs"], val, test, compiled=p["compile"])] * runs
    for fraction in p["data_fractions"]:  # data size: a fraction tiled to the whole split's length; 1.0 = headline
        if fraction != 1:
            works += [fit(model(family), train, p["epochs"], val, test, compiled=p["compile"])
                      for family in ("resnet18", "vit")]
    return works


def weights_fit(model: Model, registry: str) -> bool:
    """04's rule for seed 003's pretrained runs: ImageNet weights count when >= 90 % of the model's tensors find a
    tensor of the same shape in them (checked on the meta device against the ImageNet model's own shapes)."""
    with torch.device("meta"):
        own = build(model).state_dict()
        full = build_model_meta(registry)
    usable = sum(1 for k, v in own.items() if k in full and (full[k].shape == v.shape or k == "pos_embed"))
    return usable >= 0.9 * len(own)


def build_model_meta(registry: str) -> dict:
    from picseq_utils.models import build_model

    if registry == "resnet18_imagenet":
        import torchvision

        return torchvision.models.resnet18().state_dict()
    return build_model(registry, 1000).state_dict()


def plan_04(p: dict, facts: Facts) -> list[Work]:
    counts, val, test = study_data(p, facts)
    families = [("resnet18", 1), ("vit", 1)] + ([("resnet18_imagenet_stem", 1)] if p["imagenet_stem_control"] else [])
    works = sweep_and_curve(p, counts, val, test, families)  # sections 4, 5 and 7
    if not p["seed003_recipe"]:
        return works
    classes, size = len(counts), p["seed003_image_size"]  # section 8: seed 003's recipe at seed003_image_size
    split = sum(limited(counts, p["seed003_train_limit"]))
    models = {"resnet18": (resnet("imagenet", p["seed003_resnet_width"], size, classes), "resnet18_imagenet",
                           p["seed003_resnet_epochs"]),
              "vit_b16": (vit(size, 16, p["seed003_vit_dim"], p["seed003_vit_depth"], p["seed003_vit_heads"], classes,
                              name="vit_b16"), "vit_b16", p["seed003_vit_epochs"])}
    for name, (model, registry, epochs) in models.items():
        for init in ("scratch", "imagenet") if p["seed003_pretrained"] else ("scratch",):
            if init == "imagenet" and not (facts.loaded(f"seed003 {name}") and weights_fit(model, registry)):
                continue  # no weights, or they do not fit a toy-width model: recorded without a run
            works.append(fit(model, split, epochs, val, test, compiled=p["compile"]))
    return works


def plan_05(p: dict, facts: Facts) -> list[Work]:
    counts, val, test = study_data(p, facts)
    arms = 1 + bool(p["cutmix_ablation"])  # with CutMix, and without it
    families = [("resnet18", arms), ("vit", arms)] + ([("resnet18_imagenet_stem", 1)] if p["imagenet_stem_control"]
                                                      else [])
    works = sweep_and_curve(p, counts, val, test, families)  # sections 5, 6 and 8
    if p["seed002_recipe"]:  # section 9: seed 002's ResNet-18 (ImageNet stem) and its vit_pytorch-shaped ViT
        classes, size = len(counts), 8 if p["dataset"] == "digits" else 32
        seed002_vit = Model(f"seed 002 ViT {p['seed002_vit_dim']}x{p['seed002_vit_depth']} p4 @{size}px",
                            "seed002_vit", (("depth", p["seed002_vit_depth"]), ("dim", p["seed002_vit_dim"]),
                                            ("heads", p["seed002_vit_heads"]), ("image_size", size),
                                            ("num_classes", classes)), (3, size, size))
        for model in (resnet("imagenet", p["seed002_resnet_width"], size, classes), seed002_vit):
            works.append(fit(model, sum(counts), p["seed002_epochs"], val, test, compiled=p["compile"]))
    return works


def plan_06(p: dict, facts: Facts) -> list[Work]:
    if p["dataset"] == "digits":
        all_counts, n_test = digits_counts()
    else:
        all_counts, n_test = image_set(p["dataset"], facts)  # Flowers-102, protocol trainval
    counts, val_counts = split_off(all_counts, p["val_fraction"])
    n, val, classes, crops = sum(counts), sum(val_counts), len(all_counts), p["large_crops"] + p["small_crops"]
    pre, fine = p["pretrain_size"], p["finetune_size"]
    shape = dict(patch=p["patch_size"], dim=p["vit_dim"], depth=p["vit_depth"], heads=p["vit_heads"],
                 name="vit_tiny_cifar", drop_path=0.1)

    def pretrain(images, epochs):  # cell "pretrain": multi-crop views, watched on the whole images
        return fit(vit(pre, classes=images, **shape), images * crops, epochs, images)

    def head_rows(batch):  # cell "head-rows": 5 variants x gradient_batches batches of views, forward only
        steps = min(p["gradient_batches"], math.ceil(n / batch))
        return forward(vit(pre, classes=n, **shape), 5 * crops * sum(min(batch, n - b * batch) for b in range(steps)))

    def probe(train, test):  # cell "probe": frozen features of train and test, a linear classifier on them
        return [forward(vit(pre, classes=2, **shape), train + test),
                fit(Model("linear probe", "linear", (("in_features", p["vit_dim"]), ("out_features", classes)),
                          (p["vit_dim"],)), train, p["probe_epochs"])]

    works = [head_rows(p["pretrain_batch"])]  # at initialisation
    for _ in p["formulations"]:  # cell "pretrain-loop": every formulation x seed
        works += [pretrain(n, p["pretrain_epochs"]) for _ in range(p["seeds"])]
    works.append(head_rows(p["pretrain_batch"]))  # after pretraining
    deit = p["imagenet_weights"] and (p["vit_dim"], p["vit_depth"], p["vit_heads"], p["patch_size"]) == (192, 12, 3, 16)
    arms = 1 + len(p["formulations"]) + bool(deit and facts.loaded("ImageNet-supervised DeiT-Tiny"))
    lrs = len(p["finetune_lrs"])
    finetuned = vit(fine, classes=classes, **shape)  # section 10: every arm, lr grid on seed 0, then seeds 1..
    works += [fit(finetuned, n, p["finetune_epochs"], val)] * (arms * (lrs + p["seeds"] - 1))
    cnn = Model(f"small CNN w{p['cnn_width']} @{fine}px", "small_cnn",
                (("num_classes", classes), ("width", p["cnn_width"])), (3, fine, fine))
    works += [fit(cnn, n, p["finetune_epochs"], val)] * (lrs + p["seeds"] - 1)
    works += [forward(finetuned, arms * p["seeds"] * n_test), forward(cnn, p["seeds"] * n_test)]  # the test, once
    for _ in range(arms * p["seeds"]):  # section 11: the linear protocol, every arm and seed
        works += probe(n, n_test)
    if p["probe_dataset"]:  # the transfer probe: seed 0 of every arm on another data set
        other, other_test = image_set(p["probe_dataset"], facts)
        classes_other = len(other)
        for _ in range(arms):
            works += [forward(vit(pre, classes=2, **shape), sum(other) + other_test),
                      fit(Model("linear probe", "linear", (("in_features", p["vit_dim"]),
                                                           ("out_features", classes_other)), (p["vit_dim"],)),
                          sum(other), p["probe_epochs"])]
    for fraction in p["pretrain_fractions"]:  # section 12: pretraining on a share of the images, then the probe
        keep = max(2, round(fraction * n))
        for _ in range(p["seeds"]):
            works += [pretrain(keep, p["pretrain_epochs"])] + probe(n, n_test)
    everything = sum(all_counts)  # section 13, seed 004's protocol: all labelled images, three stages, one seed
    works.append(pretrain(everything, p["protocol_pretrain_epochs"]))
    works.append(fit(vit(fine, classes=classes, **shape), everything, p["protocol_finetune_epochs"]))
    last = fine
    if p["protocol_highres_epochs"]:
        last = 2 * fine
        works.append(fit(vit(last, classes=classes, **shape), everything, p["protocol_highres_epochs"]))
    works.append(forward(vit(last, classes=classes, **shape), n_test))
    return works


def plan_99(p: dict, facts: Facts) -> list[Work]:
    # 99_report: reads the metrics files; no training.
    return []


PLANS = {"00_data_tour": plan_00, "01_clip_augmentation": plan_01, "02_resnet_embedded_transformer": plan_02,
         "03_vit_anatomy": plan_03, "04_vit_vs_resnet_cifar10": plan_04, "05_vit_vs_resnet_cifar100_cutmix": plan_05,
         "06_idmm_small_data_pretraining": plan_06, "99_report": plan_99}


def plan(profile: str, notebook: str, params: dict | None = None, facts: Facts | None = None) -> list[Work]:
    """Every training run and forward pass ``notebook`` makes under ``profile`` (or the given parameters)."""
    return PLANS[notebook](params or params_for(profile, notebook), facts or Facts())


# --------------------------------------------------------------------------- FLOPs, counted

def notebook_definitions(notebook: str, *names: str) -> dict:
    """The functions / classes ``names`` as a notebook's cells define them (with the notebook's imports and the other
    definitions of the same cells), so a model written in a cell is counted from the notebook itself."""
    import nbformat

    nb = nbformat.read(str(ROOT / "notebooks" / f"{notebook}.ipynb"), as_version=4)
    trees = [ast.parse(c.source) for c in nb.cells if c.cell_type == "code" and not c.source.lstrip().startswith("%")]
    keep = [node for tree in trees for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    for tree in trees:
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        if defined & set(names):
            keep += [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    namespace: dict = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), notebook, "exec"), namespace)  # noqa: S102
    return {name: namespace[name] for name in names}


class FramesBackbone(nn.Module):
    """Notebook 02's ``embed_clips``: every frame of a clip through ResNet-18 (no classifier)."""

    def __init__(self):
        super().__init__()
        from picseq_lessons.resnet_embedded_transformer import resnet18_backbone

        self.backbone = resnet18_backbone(False)[0]

    def forward(self, x):
        return self.backbone(x.flatten(0, 1))


def _clip(backbone: str, **variant) -> nn.Module:
    from picseq_lessons.resnet_embedded_transformer import ClipClassifier, FrozenBackbone, resnet18_backbone

    net = {"none": lambda: None, "trained": lambda: resnet18_backbone(False)[0],
           "frozen": lambda: FrozenBackbone(resnet18_backbone(False)[0])}[backbone]()
    return ClipClassifier(net, classes=2, **variant)


CUSTOM = {
    "clip_cached": lambda **kw: _clip("none", **kw),
    "clip_e2e": lambda: _clip("trained"),
    "clip_frozen_e2e": lambda: _clip("frozen"),
    "frames_backbone": FramesBackbone,
    "seed002_vit": lambda **kw: notebook_definitions("05_vit_vs_resnet_cifar100_cutmix", "seed002_vit")["seed002_vit"](
        **kw),
    "small_cnn": lambda **kw: notebook_definitions("06_idmm_small_data_pretraining", "small_cnn")["small_cnn"](**kw),
    "linear": nn.Linear,
}


def build(model: Model) -> nn.Module:
    from picseq_utils.models import build_model

    kwargs = dict(model.kwargs)
    if model.builder in CUSTOM:
        return CUSTOM[model.builder](**kwargs)
    return build_model(model.builder, kwargs.pop("num_classes"), **kwargs)


@lru_cache(maxsize=None)
def counted(model: Model) -> tuple[float, float]:
    """(forward, training step) FLOPs per sample, counted by FlopCounterMode on the meta device with a batch of 2:
    the forward pass, then the backward pass of the same step (a frozen part, run under no_grad, has none)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        net = build(model).train()
        x = torch.randn(2, *model.shape)
    with FlopCounterMode(display=False) as counter:
        out = net(x)
        forward_flops = counter.get_total_flops()
        out.float().sum().backward()  # the loss adds no matmul; its gradient flows back as cross-entropy's would
    return forward_flops / 2, counter.get_total_flops() / 2


def flops_per_image(model: Model, train: bool) -> float:
    """FLOPs per sample of a training step (forward + backward) or of a forward pass (no gradients)."""
    return counted(model)[1 if train else 0]


# --------------------------------------------------------------------------- throughput

def throughput() -> tuple[float, str]:
    """(effective FLOP/s on one H100, where the number comes from): the median achieved training FLOP/s of picseq's
    side in a measured GPU results file (an H100 preferred), else ``ASSUMED_FLOPS``."""
    found = []
    for path in sorted(RESULTS.glob("*.json")):
        try:
            content = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        env = content.get("environment", {})
        name = f"{content.get('device_kind', '')} {env.get('device_name', '')}"
        if not (env.get("cuda_available") and env.get("device", "").startswith("cuda")) and "h100" not in name.lower():
            continue
        achieved = [side["gflops"] * 1e9 for result in content.get("results", [])
                    if str(result.get("benchmark", "")).startswith("train ")
                    for side_name, side in result.get("sides", {}).items()
                    if side_name.startswith("picseq") and side.get("gflops")]
        if achieved:
            found.append(("h100" in name.lower(), path, name.strip(), sorted(achieved)[len(achieved) // 2]))
    if found:
        _, path, name, rate = max(found, key=lambda f: (f[0], f[1].stat().st_mtime))
        return rate, (f"measured: {rate / 1e12:.0f} TFLOP/s achieved in training ({path.name}, {name}; "
                      f"{rate / H100_PEAK_BF16:.0%} of H100 dense bf16 peak)")
    return ASSUMED_FLOPS, (f"assumed {ASSUMED_FLOPS / 1e12:.0f} TFLOP/s effective bf16 = "
                           f"~{ASSUMED_FLOPS / H100_PEAK_BF16:.0%} of H100 dense bf16 peak "
                           f"{H100_PEAK_BF16 / 1e12:.0f} TFLOP/s (the benchmarks' CUDA floor for ResNet-18 at 32 px: "
                           f"30,000 img/s x 3.33 GFLOP; no GPU results file in benchmarks/results yet)")


# --------------------------------------------------------------------------- the table

@dataclass
class Row:
    notebook: str
    kind: str
    fits: int = 0
    images: int = 0
    forward: int = 0
    train_flops: float = 0.0
    forward_flops: float = 0.0
    epochs: int = 0
    compiled: int = 0

    def seconds(self, rate: float) -> float:
        return ((self.train_flops + self.forward_flops) / rate + self.epochs * EPOCH_OVERHEAD_S
                + self.compiled * COMPILE_OVERHEAD_S)

    def add(self, other: "Row") -> "Row":
        for name in ("fits", "images", "forward", "train_flops", "forward_flops", "epochs", "compiled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


def rows(notebook: str, works: list[Work]) -> list[Row]:
    """The plan summed per model kind."""
    out: dict[str, Row] = {}
    for w in works:
        row = out.setdefault(w.model.label, Row(notebook, w.model.label))
        row.add(Row(notebook, w.model.label, w.fits, w.images, w.forward,
                    w.images * flops_per_image(w.model, True) if w.images else 0.0,
                    w.forward * flops_per_image(w.model, False) if w.forward else 0.0, w.epochs, int(w.compiled)))
    return list(out.values())


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def estimate(profile: str) -> tuple[list[Row], float, str]:
    rate, source = throughput()
    table = [row for notebook in NOTEBOOK_SCHEMAS for row in rows(notebook, plan(profile, notebook))]
    return table, rate, source


def total_seconds(profile: str) -> float:
    table, rate, _ = estimate(profile)
    return sum(row.seconds(rate) for row in table)


def render(profile: str) -> str:
    table, rate, source = estimate(profile)
    lines = [f"GPU cost of profile '{profile}' on one H100 — a fresh run of every notebook",
             f"throughput: {source}",
             f"overheads (assumed): {EPOCH_OVERHEAD_S:g} s per epoch of a fit, {COMPILE_OVERHEAD_S:g} s per "
             f"torch.compile'd fit; FLOPs: matmul/conv/attention as FlopCounterMode counts them (meta device)",
             f"images: training images x epochs; fwd: forward-only images (validation each epoch, test reads, caches, "
             f"features); 02 counts clips of 8 frames"]
    head = f"{'notebook':<10} {'model kind':<46} {'fits':>5} {'train img x ep':>15} {'fwd img':>13} " \
           f"{'GFLOP/img':>10} {'fwd GFLOP':>10} {'PFLOP':>9} {'H100 time':>10}"
    lines += [head, "-" * len(head)]
    grand = Row("", "")
    for notebook in NOTEBOOK_SCHEMAS:
        mine = [r for r in table if r.notebook == notebook]
        total = Row(notebook, "")
        for r in mine:
            total.add(r)
            lines.append(f"{notebook[:2]:<10} {r.kind[:46]:<46} {r.fits:>5} {r.images:>15,} {r.forward:>13,} "
                         f"{r.train_flops / r.images / 1e9 if r.images else 0:>10.3f} "
                         f"{r.forward_flops / r.forward / 1e9 if r.forward else 0:>10.3f} "
                         f"{(r.train_flops + r.forward_flops) / 1e15:>9.2f} {duration(r.seconds(rate)):>10}")
        label = f"{notebook[:2]} total" if mine else f"{notebook[:2]} (no training)"
        lines.append(f"{label:<10} {'':<46} {total.fits:>5} {total.images:>15,} {total.forward:>13,} {'':>10} {'':>10} "
                     f"{(total.train_flops + total.forward_flops) / 1e15:>9.2f} {duration(total.seconds(rate)):>10}")
        grand.add(total)
    lines += ["-" * len(head),
              f"{'TOTAL':<10} {'':<46} {grand.fits:>5} {grand.images:>15,} {grand.forward:>13,} {'':>10} {'':>10} "
              f"{(grand.train_flops + grand.forward_flops) / 1e15:>9.2f} {duration(grand.seconds(rate)):>10}  "
              f"(= {grand.seconds(rate) / 3600:.2f} H100-hours)"]
    return "\n".join(lines)


def record(profile: str) -> Path:
    """The estimate as a committed record, ``results/cost/<profile>.json`` (the README's cost table reads it)."""
    from picseq_utils.metrics import write_json_atomic
    from picseq_utils.runtime import git_commit

    table, rate, source = estimate(profile)
    notebooks = []
    for notebook in NOTEBOOK_SCHEMAS:
        total = Row(notebook, "")
        for r in (r for r in table if r.notebook == notebook):
            total.add(r)
        if total.fits or total.forward:
            notebooks.append({"notebook": notebook, "fits": total.fits, "images": total.images,
                              "forward": total.forward, "flops": total.train_flops + total.forward_flops,
                              "seconds": total.seconds(rate)})
    path = ROOT / "results" / "cost" / f"{profile}.json"
    write_json_atomic(path, {"profile": profile, "commit": git_commit(), "throughput": source, "rate": rate,
                             "fits": sum(n["fits"] for n in notebooks), "flops": sum(n["flops"] for n in notebooks),
                             "seconds": sum(n["seconds"] for n in notebooks), "notebooks": notebooks})
    return path


# --------------------------------------------------------------------------- --check

def metrics_path(profile: str, notebook: str, reports: Path | None = None) -> Path:
    return (reports or ROOT / "reports") / profile / "metrics" / f"{notebook}.json"


def facts_from(content: dict) -> Facts:
    """The conditions of a finished run, from its metrics file: data sizes as loaded, weights loaded or not, and for
    notebook 03 whether it inspected notebook 04's ViT."""
    sizes = {label: (d.get("n_train"), d.get("n_test")) for label, d in content.get("data", {}).items()}
    weights = {name: not w.get("fallback", False) for name, w in content.get("weights", {}).items()
               if isinstance(w, dict)}
    inspected = content.get("weights", {}).get("inspected ViT")
    nb04 = str(inspected.get("weights", "")).startswith("notebook 04") if isinstance(inspected, dict) else None
    return Facts(sizes, weights, nb04)


def compare(profile: str, notebook: str, content: dict) -> tuple[int, int, list[Work], list[dict]]:
    """(planned, logged training images x epochs, the plan, the logged fits) of one finished run, planned with the
    parameters and conditions the run recorded."""
    fits = content.get("fits") or []
    logged = sum(int(f["samples_per_epoch"]) * int(f["epochs"]) for f in fits)
    params = {**params_for(profile, notebook), **(content.get("parameters") or {})}
    works = plan(profile, notebook, params, facts_from(content))
    return sum(w.images for w in works), logged, works, fits


def check(profile: str, out=sys.stdout, reports: Path | None = None) -> int:
    """Planned vs logged training images x epochs per notebook (``reports``: the folder holding
    ``<profile>/metrics``); 1 when any differs by more than TOLERANCE, 2 when nothing has run."""
    failed, checked = [], 0
    print(f"plan vs run, profile '{profile}' (training images x epochs; parameters and data sizes as the run "
          f"recorded them)", file=out)
    print(f"{'notebook':<34} {'fits plan/run':>14} {'planned':>14} {'logged':>14} {'diff':>8}", file=out)
    for notebook in NOTEBOOK_SCHEMAS:
        path = metrics_path(profile, notebook, reports)
        if not path.is_file():
            print(f"{notebook:<34} not run: no {path}", file=out)
            continue
        planned, logged, works, fits = compare(profile, notebook, json.loads(path.read_text()))
        diff = abs(planned - logged) / max(planned, logged) if max(planned, logged) else 0.0
        checked += 1
        bad = diff > TOLERANCE
        failed += [notebook] if bad else []
        print(f"{notebook:<34} {sum(w.fits for w in works):>6}/{len(fits):<7} {planned:>14,} {logged:>14,} "
              f"{diff:>7.1%}{'  DIFFERS' if bad else ''}", file=out)
    if not checked:
        print(f"nothing to check: no metrics in {metrics_path(profile, '', reports).parent}", file=out)
        return 2
    if failed:
        print(f"the plan differs from the run by more than {TOLERANCE:.0%} in: {', '.join(failed)}", file=out)
        return 1
    print(f"every plan matches its run within {TOLERANCE:.0%}", file=out)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--profile", default="full", choices=PROFILES, help="print the cost estimate of a profile")
    group.add_argument("--check", metavar="PROFILE", choices=PROFILES,
                       help="compare the plan with reports/PROFILE/metrics (exit 1 when they differ by > 1 %%)")
    parser.add_argument("--write", action="store_true", help="also write the estimate to results/cost/PROFILE.json")
    args = parser.parse_args(argv)
    if args.check:
        return check(args.check)
    print(render(args.profile))
    if args.write:
        print(f"wrote {record(args.profile)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
