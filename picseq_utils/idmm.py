"""IDMM: instance discrimination pretraining of a ViT on a small data set (notebook 06).

Cao, Yu & Wu, "Training Vision Transformers with Only 2040 Images" (ECCV 2022), seed 004: every
training image is its own class (N images -> an N-way head), no labels are used. Helpers make the
head's rare updates work: small pretraining resolution, multi-crop (2 large + 4 small views),
CutMix and label smoothing. Then the model is fine-tuned at a higher resolution (position
embeddings interpolated) with labels, or probed linearly (seed 002 ch. 1: frozen backbone + a linear
classifier).

Everything trains through ``picseq_utils.train.fit``. The multi-crop loader keeps the images on the
device: per-sample random-resized crops (``data.random_resized_crop``) and flips are batched;
torchvision's colour jitter, grayscale and blur (v2) are applied to groups of ``color_group`` images,
since a v2 transform draws one set of parameters per call.
"""
from __future__ import annotations

import math

import pandas as pd
import torch
from torch import nn
from torchvision.transforms import v2

from .data import SOURCES, DeviceLoader, ImageData, TensorLoader, random_flip, random_resized_crop
from .data.loaders import EpochBatches
from .metrics import metric_slug
from .models import build_model, count_parameters, load_imagenet_weights, load_vit_state_resampled
from .params import Bool, DataRoot, Float, Fraction, Int, List, Str, schema
from .findings import mean_std
from .train import evaluate, fit

DATASETS = ("digits", "flowers102", "cifar100")
LARGE_SCALE = (0.14, 1.0)  # official multi-crop scales
SMALL_SCALE = (0.05, 0.4)


# --------------------------------------------------------------------------- instance discrimination data


class MultiCropLoader(EpochBatches):
    """Unlabelled images -> batches of multi-crop views labelled with their image's index.

    Image ``i`` of the pretraining set always has label ``i`` (0..N-1), whatever the epoch or crop.
    Each batch holds ``large + small`` views of ``batch_size`` images, all at ``size`` px (as in the
    official code), normalised; ``batch_transform`` (CutMix) is applied to the whole batch."""

    def __init__(self, images: torch.Tensor, batch_size: int, size: int, *, large: int = 2, small: int = 4,
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), color: bool = True, color_group: int = 8,
                 batch_transform=None, device="cpu", seed: int = 0):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError("images must be uint8 (N, C, H, W)")
        if large + small < 1:
            raise ValueError("need at least one crop")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = torch.arange(len(images), device=self.device)  # instance labels, fixed
        self.batch_size, self.size, self.large, self.small = batch_size, size, large, small
        self.mean = torch.tensor(mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, -1, 1, 1)
        self.color, self.color_group = color, color_group
        # The official recipe's PIL blur has no kernel limit; a kernel of ~10% of the view (as in SimCLR)
        # lets sigma up to 2 act instead of being cut off by a 3x3 window.
        blur_kernel = max(3, (size // 10) | 1)
        self.colour = v2.Compose([v2.RandomApply([v2.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
                                  v2.RandomGrayscale(p=0.2),
                                  v2.RandomApply([v2.GaussianBlur(kernel_size=blur_kernel, sigma=(0.1, 2.0))], p=0.5)])
        self.batch_transform = batch_transform
        self.seed, self.epoch = seed, 0

    @property
    def n_items(self) -> int:
        return len(self.labels)

    @property
    def num_samples(self) -> int:
        return len(self.labels) * (self.large + self.small)

    def views(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, H, W) float in [0, 1] -> (B * (large + small), C, size, size), crop-major."""
        out = []
        for k in range(self.large + self.small):
            scale = LARGE_SCALE if k < self.large else SMALL_SCALE
            view = random_flip(random_resized_crop(x, self.size, scale=scale, generator=gen), gen)
            if self.color:
                view = torch.cat([self.colour(chunk) for chunk in view.split(self.color_group)])
            out.append(view)
        return torch.cat(out)

    def make_batch(self, index: torch.Tensor, gen: torch.Generator):
        x = self.views(self.images[index].float().div(255), gen)
        y = self.labels[index].repeat(self.large + self.small)
        x = (x - self.mean) / self.std
        if self.batch_transform is not None:
            x, y = self.batch_transform(x, y)
        return x, y


class BoxCutMix:
    """CutMix with lambda recomputed from the clipped box; ``max_lambda`` applies the official code's
    ``lambda = max(lambda, 1 - lambda)`` (the pasted patch is never the larger part). Written here because
    torchvision's ``v2.CutMix`` has no such option; with it off, torchvision's CutMix is used."""

    def __init__(self, num_classes: int, alpha: float = 0.5, max_lambda: bool = False):
        self.num_classes, self.alpha, self.max_lambda = num_classes, alpha, max_lambda
        self.torchvision = v2.CutMix(alpha=alpha, num_classes=num_classes)

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        if not self.max_lambda:
            return self.torchvision(x, y)
        lam = float(torch.distributions.Beta(self.alpha, self.alpha).sample())
        lam = max(lam, 1 - lam)
        _, _, h, w = x.shape
        cut_h, cut_w = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
        cy, cx = int(torch.randint(h, ())), int(torch.randint(w, ()))
        y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
        x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x.roll(1, 0)[:, :, y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
        one_hot = nn.functional.one_hot(y, self.num_classes).float()
        return x, lam * one_hot + (1 - lam) * one_hot.roll(1, 0)


# --------------------------------------------------------------------------- parameters

PARAMS = schema({
    "dataset": Str("the small data set", choices=DATASETS),
    "data_source": Str("where Flowers-102 / CIFAR-100 come from", choices=SOURCES),
    "data_root": DataRoot("data folder"),
    "vit_dim": Int("ViT width (192 = DeiT-Tiny)", min=8),
    "vit_depth": Int("ViT blocks (12 = DeiT-Tiny)", min=1),
    "vit_heads": Int("ViT heads (3 = DeiT-Tiny)", min=1),
    "patch_size": Int("patch size", min=1),
    "pretrain_size": Int("pretraining resolution (the paper: 112)", min=8),
    "finetune_size": Int("fine-tuning resolution (the paper: 224)", min=8),
    "large_crops": Int("large multi-crop views (scale 0.14-1)", min=0),
    "small_crops": Int("small multi-crop views (scale 0.05-0.4)", min=0),
    "pretrain_epochs": Int("IDMM pretraining epochs (the paper: 800)", min=1),
    "pretrain_batch": Int("images per pretraining batch (x views)", min=1),
    "pretrain_lr": Float("AdamW learning rate of pretraining (the paper: 5e-4)", min=0, min_exclusive=True),
    "pretrain_wd": Float("AdamW weight decay of pretraining (the paper: 1e-3)", min=0),
    "warmup_epochs": Float("warm-up epochs before the cosine decay", min=0),
    "label_smoothing": Float("label smoothing of pretraining", min=0, max=0.5),
    "cutmix_alpha": Float("CutMix Beta(alpha, alpha) of pretraining", min=0, min_exclusive=True),
    "cutmix_max_lambda": Bool("the official code's lambda = max(lambda, 1 - lambda)"),
    "finetune_epochs": Int("fine-tuning epochs, the same for every initialisation", min=1),
    "finetune_batch": Int("fine-tuning batch size", min=1),
    "finetune_lr": Float("AdamW learning rate of fine-tuning", min=0, min_exclusive=True),
    "finetune_wd": Float("AdamW weight decay of fine-tuning", min=0),
    "probe_epochs": Int("epochs of the linear classifier", min=1),
    "probe_lr": Float("learning rate of the linear classifier", min=0, min_exclusive=True),
    "pretrain_fractions": List(Fraction(), "shares of the pretraining images for the size study"),
    "ablations": Bool("pretrain without label smoothing and without CutMix as ablations"),
    "imagenet_weights": Bool("add an ImageNet-supervised initialisation when weights can be had (DeiT-Tiny)"),
    "seeds": Int("seeds of the main comparison (mean ± std)", min=1),
    "probe_dataset": Str("also probe every initialisation linearly on this data set (transfer); '' = skip",
                         choices=("", "cifar100", "digits")),
    "val_fraction": Float("validation share carved from the training images (0 = none)", min=0, max=0.5),
    "resume": Bool("resume runs from their checkpoints"),
}, lambda v: None if v["pretrain_size"] % v["patch_size"] == 0 and v["finetune_size"] % v["patch_size"] == 0
   else f"patch_size={v['patch_size']} must divide pretrain_size={v['pretrain_size']} and "
        f"finetune_size={v['finetune_size']}",
   lambda v: None if v["vit_dim"] % v["vit_heads"] == 0 else f"vit_heads={v['vit_heads']} must divide vit_dim={v['vit_dim']}",
   lambda v: None if v["large_crops"] + v["small_crops"] >= 1 else "at least one multi-crop view is needed")


# --------------------------------------------------------------------------- data and models


def load_small_data(p: dict) -> ImageData:
    """The labelled small data set at fine-tuning resolution (digits, Flowers-102 train+val / test, CIFAR-100)."""
    from .data import load_cifar100, load_digits, load_flowers102

    if p["dataset"] == "digits":
        data = load_digits(image_size=p["finetune_size"])
    elif p["dataset"] == "flowers102":
        data = load_flowers102(source=p["data_source"], root=p["data_root"], image_size=p["finetune_size"],
                               protocol="trainval")
    else:
        data = load_cifar100(source=p["data_source"], root=p["data_root"])
    if p["val_fraction"] > 0:
        data = data.with_validation(p["val_fraction"], seed=0)
    return data


def vit_for(p: dict, num_classes: int, size: int) -> nn.Module:
    return build_model("vit_tiny_cifar", num_classes, image_size=size, patch_size=p["patch_size"], dim=p["vit_dim"],
                       depth=p["vit_depth"], heads=p["vit_heads"], drop_path=0.1)


class Experiment:
    """Pretraining, fine-tuning and probing on one data set, bound to a notebook run."""

    def __init__(self, run, data: ImageData, p: dict):
        self.run, self.data, self.p = run, data, p
        self.mean, self.std = data.mean_std()

    # -- pretraining
    def pretrain(self, *, fraction: float = 1.0, label_smoothing: float | None = None, cutmix: bool = True,
                 seed: int = 0, name: str = "idmm"):
        """IDMM on (a share of) the training images, no labels. Returns (state dict, FitResult, N)."""
        p = self.p
        images = self.data.train.images
        if fraction < 1:
            keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
            images = images[keep[:max(2, int(round(fraction * len(images))))]]
        n = len(images)
        mix = BoxCutMix(n, p["cutmix_alpha"], p["cutmix_max_lambda"]) if cutmix else None
        loader = MultiCropLoader(images, p["pretrain_batch"], p["pretrain_size"], large=p["large_crops"],
                                 small=p["small_crops"], mean=self.mean, std=self.std, batch_transform=mix,
                                 color=p["dataset"] != "digits", device=self.run.device, seed=seed)
        torch.manual_seed(seed)
        model = vit_for(p, n, p["pretrain_size"])
        assert model.head.out_features == n
        result = fit(model, loader, epochs=p["pretrain_epochs"], lr=p["pretrain_lr"], weight_decay=p["pretrain_wd"],
                     warmup_epochs=min(p["warmup_epochs"], p["pretrain_epochs"]),
                     label_smoothing=p["label_smoothing"] if label_smoothing is None else label_smoothing,
                     device=self.run.device, seed=seed, checkpoint_dir=self.run.checkpoint_dir(name),
                     resume=p["resume"], desc=name)
        return {k: v.cpu() for k, v in model.state_dict().items()}, result, n

    def multicrop_examples(self, count: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The views pretraining sees for the first ``count`` images, in [0, 1], with their instance labels."""
        p = self.p
        loader = MultiCropLoader(self.data.train.images[:count], count, p["pretrain_size"], large=p["large_crops"],
                                 small=p["small_crops"], color=p["dataset"] != "digits", seed=seed)
        views, labels = next(iter(loader))
        return (views * loader.std + loader.mean).clamp(0, 1), labels

    # -- fine-tuning
    def finetune(self, init: dict | None, *, seed: int = 0, name: str) -> dict:
        """Supervised fine-tuning at ``finetune_size`` from an initial state (None = random init), label
        smoothing 0.1 and CutMix/MixUp alternating; the test split evaluated at the end.

        The per-epoch curve is measured on the validation split, or - under the paper's protocol, which
        has none (Flowers train+val all train) - on the test split: watched, never used to choose anything;
        the reported number is the last epoch's, as in the paper. ``curve_split`` says which."""
        p = self.p
        torch.manual_seed(seed)
        model = vit_for(p, self.data.num_classes, p["finetune_size"])
        if init is not None:
            load_vit_state_resampled(model, init, skip_head=True)
        mix = v2.RandomChoice([v2.CutMix(alpha=1.0, num_classes=self.data.num_classes),
                               v2.MixUp(alpha=0.8, num_classes=self.data.num_classes)])
        train = DeviceLoader(self.data.train, p["finetune_batch"], device=self.run.device, crop_padding=max(1, p["finetune_size"] // 16),
                             flip=p["dataset"] != "digits", mean=self.mean, std=self.std,
                             batch_transform=lambda x, y: mix(x, y), seed=seed)
        monitor = self._eval(self.data.val if self.data.val is not None else self.data.test)
        result = fit(model, train, monitor, epochs=p["finetune_epochs"], lr=p["finetune_lr"], weight_decay=p["finetune_wd"],
                     warmup_epochs=min(1.0, p["finetune_epochs"]), label_smoothing=0.1, device=self.run.device,
                     seed=seed, checkpoint_dir=self.run.checkpoint_dir(name), resume=p["resume"], desc=name)
        test = evaluate(result.model, self._eval(self.data.test), self.run.device)["accuracy"]
        return {"result": result, "test_acc": test}

    @property
    def curve_split(self) -> str:
        """The split the fine-tuning curves are measured on: ``validation`` if there is one, else ``test``."""
        return "validation" if self.data.val is not None else "test"

    def _eval(self, split, size: int | None = None):
        resize = None
        if size is not None and size != split.images.shape[-1]:
            resize = lambda x, g=None: nn.functional.interpolate(x, size=(size, size), mode="bilinear",  # noqa: E731
                                                                 align_corners=False, antialias=True)
        return DeviceLoader(split, 256, device=self.run.device, shuffle=False, drop_last=False, mean=self.mean,
                            std=self.std, augment=resize)

    # -- linear classification protocol
    @torch.no_grad()
    def features(self, backbone: nn.Module, split, size: int) -> torch.Tensor:
        backbone = backbone.to(self.run.device).eval()
        out = [backbone.forward_head(backbone.forward_features(x), pre_logits=True).float().cpu()
               for x, _ in self._eval(split, size)]
        return torch.cat(out)

    def linear_probe(self, state: dict | None, *, seed: int = 0, size: int | None = None) -> dict:
        """Frozen backbone, normalised inputs, a linear classifier on its pooled features."""
        p = self.p
        size = size or p["pretrain_size"]
        torch.manual_seed(seed)
        backbone = vit_for(p, self.data.num_classes, size)
        if state is not None:
            load_vit_state_resampled(backbone, state, skip_head=True)
        before = {k: v.clone() for k, v in backbone.state_dict().items()}
        train_x = self.features(backbone, self.data.train, size)
        test_x = self.features(backbone, self.data.test, size)
        mu, sd = train_x.mean(0), train_x.std(0) + 1e-6
        linear = nn.Linear(train_x.shape[1], self.data.num_classes)
        result = fit(linear, TensorLoader((train_x - mu) / sd, self.data.train.labels, 128, device=self.run.device,
                                          seed=seed),
                     epochs=p["probe_epochs"], lr=p["probe_lr"], weight_decay=0.0, device=self.run.device, seed=seed,
                     progress=False, desc="linear probe")
        test = evaluate(linear, TensorLoader((test_x - mu) / sd, self.data.test.labels, 512, device=self.run.device,
                                             shuffle=False), self.run.device)["accuracy"]
        unchanged = all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())
        return {"test_acc": test, "backbone_unchanged": unchanged, "train_loss": result.final["train_loss"]}

    # -- ImageNet-supervised DeiT-Tiny
    def imagenet_state(self) -> tuple[dict | None, dict]:
        """DeiT-Tiny ImageNet weights when the model is DeiT-Tiny-shaped and the weights can be had."""
        p = self.p
        if (p["vit_dim"], p["vit_depth"], p["vit_heads"], p["patch_size"]) != (192, 12, 3, 16):
            return None, {"weights": "not applicable", "reason": "the model is not DeiT-Tiny-shaped in this profile"}
        model = vit_for(p, 1000, 224)
        info = load_imagenet_weights(model, "deit_tiny", fallback=True)
        if info["fallback"]:
            return None, info
        return {k: v.cpu() for k, v in model.state_dict().items()}, info


# --------------------------------------------------------------------------- notebook steps


def comparison(exp: Experiment, states: dict, seeds: int) -> tuple[pd.DataFrame, dict]:
    """Fine-tuning and linear probing of every initialisation at the same budget, over seeds
    (per-seed values in the columns ``fine-tune runs`` and ``probe runs``; pretraining itself ran once,
    so the spread is over fine-tuning and probing seeds). Also returns the seed-0 fine-tuning history
    of each initialisation."""
    rows, histories = [], {}
    for init, state in states.items():
        fine, probe, unchanged = [], [], True
        for seed in range(seeds):
            tuned = exp.finetune(state, seed=seed, name=f"finetune_{metric_slug(init)}_seed{seed}")
            fine.append(tuned["test_acc"])
            if seed == 0:
                histories[init] = tuned["result"].history
            pr = exp.linear_probe(state, seed=seed)
            probe.append(pr["test_acc"])
            unchanged &= pr["backbone_unchanged"]
        fm, fs = mean_std(fine)
        pm, ps = mean_std(probe)
        rows.append({"initialisation": init, "fine-tune test acc": fm, "fine-tune ± std": fs,
                     "linear probe test acc": pm, "linear probe ± std": ps, "seeds": seeds,
                     "backbone unchanged by probing": unchanged, "fine-tune runs": fine, "probe runs": probe})
    return pd.DataFrame(rows), histories


RANDOM, IDMM = "random init", "IDMM (LS 0.1 + CutMix)"


def init_slug(init: str) -> str:
    """Metric-name part of an initialisation: ``random``, ``idmm``, or the label slugged."""
    return {RANDOM: "random", IDMM: "idmm"}.get(init, metric_slug(init))


def step_comparison(exp: Experiment, states: dict, seeds: int) -> pd.DataFrame:
    """Notebook 06's main comparison: run it, record every number with provenance (the IDMM gain per
    seed, with its spread), save the fine-tuning curves and the bar chart; return the table."""
    run, data, p = exp.run, exp.data, exp.p
    table, histories = comparison(exp, states, seeds)
    curve_on = exp.curve_split
    conditions = (f"{data.provenance.label}, ViT {p['vit_dim']}-d x {p['vit_depth']}, pretraining "
                  f"{p['pretrain_epochs']} epochs at {p['pretrain_size']} px, fine-tuning {p['finetune_epochs']} "
                  f"epochs at {p['finetune_size']} px, last epoch reported")
    for row in table.to_dict("records"):
        slug = init_slug(row["initialisation"])
        run.record(f"finetune_test_acc_{slug}", row["fine-tune test acc"], unit="accuracy", data=data,
                   std=row["fine-tune ± std"], n=row["seeds"], epochs=p["finetune_epochs"], conditions=conditions)
        run.record(f"linear_probe_test_acc_{slug}", row["linear probe test acc"], unit="accuracy", data=data,
                   std=row["linear probe ± std"], n=row["seeds"], probe_size=p["pretrain_size"])
    by_init = table.set_index("initialisation")
    if IDMM in by_init.index and RANDOM in by_init.index:
        gains = [a - b for a, b in zip(by_init.loc[IDMM, "fine-tune runs"], by_init.loc[RANDOM, "fine-tune runs"])]
        gain, spread = mean_std(gains)
        run.record("idmm_gain_finetune", gain, unit="accuracy", data=data, std=spread, n=len(gains),
                   note="IDMM minus random init, paired by fine-tuning seed")
    from .plots import plot_histories

    label = data.provenance.label
    fig = plot_histories(histories, title=f"fine-tuning, seed 0 ({curve_on} accuracy per epoch) — {label}",
                         held_out=curve_on)
    run.save_figure(fig, "finetune_curves", caption=f"fine-tuning loss and {curve_on} accuracy per epoch, "
                                                    f"each initialisation (seed 0; last epoch reported)")
    fig = plot_comparison(table, f"same budget, {label}")
    run.save_figure(fig, "comparison", caption="fine-tuning and linear probe accuracy per initialisation")
    return table


def transfer_probe(exp: Experiment, states: dict, dataset: str) -> pd.DataFrame:
    """Seed 002 ch. 1's linear classification protocol on another data set: each initialisation's frozen
    backbone (pretrained on the small set) with a linear classifier trained on ``dataset``."""
    other = Experiment(exp.run, load_small_data({**exp.p, "dataset": dataset, "val_fraction": 0.0,
                                                 "finetune_size": exp.p["pretrain_size"]}), exp.p)
    exp.run.use_data(other.data)
    rows = []
    for init, state in states.items():
        probe = other.linear_probe(state, size=exp.p["pretrain_size"])
        rows.append({"initialisation": init, "probe data": other.data.provenance.label,
                     "linear probe test acc": probe["test_acc"], "backbone unchanged": probe["backbone_unchanged"]})
    table = pd.DataFrame(rows)
    table.attrs["data"] = other.data  # the probe data set, for the metrics' provenance
    return table


def pretrain_size_study(exp: Experiment, fractions, full: dict | None = None) -> pd.DataFrame:
    """IDMM on 25 / 50 / 100 % of the pretraining images, each fine-tuned and probed (seed 0).
    ``full`` ({"fine": acc, "probe": acc} of the 100 % run, seed 0) is reused instead of retraining."""
    rows = []
    for fraction in fractions:
        n = max(2, int(round(fraction * len(exp.data.train))))
        if fraction == 1 and full is not None:
            fine, probe = full["fine"], full["probe"]
        else:
            state, _, n = exp.pretrain(fraction=fraction, name=f"idmm_fraction_{fraction:g}")
            fine = exp.finetune(state, name=f"finetune_fraction_{fraction:g}")["test_acc"]
            probe = exp.linear_probe(state)["test_acc"]
        rows.append({"pretraining images": n, "fraction": fraction, "fine-tune test acc": fine,
                     "linear probe test acc": probe})
    return pd.DataFrame(rows)


def plot_comparison(table: pd.DataFrame, title: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.5 * len(table) + 1.6))
    y = range(len(table))
    ax.barh([i + 0.2 for i in y], table["fine-tune test acc"], height=0.4, xerr=table["fine-tune ± std"].fillna(0),
            label="fine-tuned", color="C0")
    ax.barh([i - 0.2 for i in y], table["linear probe test acc"], height=0.4, xerr=table["linear probe ± std"].fillna(0),
            label="linear probe", color="C1")
    ax.set_yticks(list(y), table["initialisation"])
    ax.set(xlabel="test accuracy", title=title, xlim=(0, 1))
    ax.invert_yaxis()
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def model_summary(p: dict, n_pretrain: int, num_classes: int) -> pd.DataFrame:
    with torch.device("meta"):
        pre = vit_for(p, n_pretrain, p["pretrain_size"])
        fine = vit_for(p, num_classes, p["finetune_size"])
    return pd.DataFrame([
        {"stage": "pretraining", "resolution": p["pretrain_size"], "patch grid": pre.patch_embed.grid_size[0],
         "head": f"{n_pretrain}-way (one class per image)", "parameters": count_parameters(pre)},
        {"stage": "fine-tuning", "resolution": p["finetune_size"], "patch grid": fine.patch_embed.grid_size[0],
         "head": f"{num_classes}-way (labels)", "parameters": count_parameters(fine)}])


