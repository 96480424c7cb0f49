"""ViT vs ResNet-18 on CIFAR-10 (notebook 04) and CIFAR-100 with CutMix (notebook 05).

One study API serves both notebooks. What makes the comparison fair (and better than the seeds'):
the same augmentation, schedule, epochs and tuning budget for both families (equal sweep grids,
checked); a validation split carved from the training set for every choice; the test set
evaluated once, at the end, on the chosen models; CutMix from torchvision (lambda recomputed from
the clipped box) and no "train accuracy" against un-mixed labels; parameter counts computed;
several seeds with mean ± std; time-to-accuracy recorded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import nn
from torchvision.transforms import v2

from .data import DeviceLoader, ImageData, SOURCES, load_cifar10, load_cifar100
from .metrics import metric_slug
from .models import build_model, count_parameters, load_imagenet_weights, parameter_count
from .params import Bool, DataRoot, Float, Fraction, Int, List, Str, schema
from .findings import format_mean_std, mean_std
from .train import FitResult, evaluate, fit, OPTIMIZERS

FAMILIES = ("resnet18", "vit")
CONTROL = "resnet18_imagenet_stem"
KINDS = FAMILIES + (CONTROL,)


def _equal_budget(values: dict) -> str | None:
    sizes = {f: len(values[f"{f}_lrs"]) * len(values[f"{f}_wds"]) for f in ("resnet", "vit")}
    if len(set(sizes.values())) != 1:
        return f"the sweep budgets differ ({sizes} points): give both families grids of the same size"
    return None


def _divides_patch(values: dict) -> str | None:
    if 32 % values["vit_patch"]:
        return f"vit_patch={values['vit_patch']} must divide the 32-px image size"
    if values["vit_dim"] % values["vit_heads"]:
        return f"vit_heads={values['vit_heads']} must divide vit_dim={values['vit_dim']}"
    return None


def _study_params() -> dict:
    positive = dict(min=0.0, min_exclusive=True)
    return {
        "data_source": Str("where CIFAR comes from", choices=SOURCES),
        "data_root": DataRoot("data folder, relative to the project root or absolute"),
        "train_limit": Int("at most this many training images before the validation split (0 = all)", min=0),
        "test_limit": Int("at most this many test images (0 = all)", min=0),
        "val_fraction": Fraction("share of the training images held out for validation"),
        "resnet_width": Int("ResNet-18 stage-1 width (64 = the standard network)", min=4),
        "vit_dim": Int("ViT embedding width (320 = parameter-matched to ResNet-18)", min=8),
        "vit_depth": Int("ViT blocks", min=1),
        "vit_heads": Int("ViT attention heads", min=1),
        "vit_patch": Int("ViT patch size on 32-px images", min=1),
        "vit_pool": Str("ViT head input", choices=("token", "avg")),
        "epochs": Int("epochs of every headline run (both families)", min=1),
        "batch_size": Int("training batch size", min=1),
        "warmup_epochs": Float("linear warm-up before the cosine decay", min=0),
        "label_smoothing": Float("label smoothing", min=0, max=0.5),
        "cutmix_prob": Float("share of batches mixed with CutMix", min=0, max=1),
        "cutmix_alpha": Float("CutMix Beta(alpha, alpha)", **positive),
        "resnet_optimizer": Str("optimiser for ResNet-18", choices=OPTIMIZERS),
        "vit_optimizer": Str("optimiser for the ViT", choices=OPTIMIZERS),
        "resnet_lrs": List(Float(**positive), "learning rates swept for ResNet-18"),
        "resnet_wds": List(Float(min=0), "weight decays swept for ResNet-18"),
        "vit_lrs": List(Float(**positive), "learning rates swept for the ViT"),
        "vit_wds": List(Float(min=0), "weight decays swept for the ViT"),
        "sweep_epochs": Int("epochs per sweep point", min=1),
        "sweep_fraction": Fraction("share of the training split used by each sweep point"),
        "seeds": Int("seeds of the headline runs (mean ± std)", min=1),
        "data_fractions": List(Fraction(), "training-set fractions of the data-size curve"),
        "imagenet_stem_control": Bool("also train the seeds' ImageNet-stem ResNet-18 as a control"),
        "target_accuracy": Fraction("validation accuracy for the time-to-accuracy measure"),
        "seed003_setting": Bool("also run seed 003's setting: ViT-B/16 and ResNet-18 at 224 px (GPU)"),
        "seed003_epochs": Int("epochs of the seed-003 runs", min=1),
        "compile": Bool("torch.compile the models"),
        "resume": Bool("resume finished or interrupted runs from their checkpoints"),
    }


PARAMS_CIFAR10 = schema(_study_params(), _equal_budget, _divides_patch)
PARAMS_CIFAR100 = schema(_study_params(), _equal_budget, _divides_patch)


# --------------------------------------------------------------------------- data and models


def load_study_data(dataset: str, p: dict) -> ImageData:
    """CIFAR-10/100 (or stand-in) with a validation split carved from the training set."""
    loader = {"cifar10": load_cifar10, "cifar100": load_cifar100}[dataset]
    data = loader(source=p["data_source"], root=p["data_root"])
    if p["train_limit"]:
        data = data.limit(train=p["train_limit"], seed=0)
    data = data.with_validation(p["val_fraction"], seed=0)
    if p["test_limit"]:
        data = data.limit(test=p["test_limit"], seed=0)
    return data


def build_study_model(kind: str, num_classes: int, p: dict, image_size: int = 32) -> nn.Module:
    """``resnet18`` (CIFAR stem), ``resnet18_imagenet_stem`` (the seeds' control) or ``vit``, at the
    widths the parameters give."""
    if kind == "resnet18":
        return build_model("resnet18_cifar", num_classes, width=p["resnet_width"])
    if kind == CONTROL:
        return build_model("resnet18_imagenet", num_classes, width=p["resnet_width"])
    if kind == "vit":
        return build_model("vit_cifar", num_classes, image_size=image_size, patch_size=p["vit_patch"],
                           dim=p["vit_dim"], depth=p["vit_depth"], heads=p["vit_heads"], pool=p["vit_pool"])
    raise ValueError(f"unknown model kind {kind!r}; valid: {', '.join(KINDS)}")


def parameter_table(num_classes: int, p: dict) -> pd.DataFrame:
    """Parameter counts, computed on the meta device: the full-size models of the study (what the
    full profile trains) and the models this run trains (narrower in the smoke profile)."""
    rows = [
        ("ResNet-18, CIFAR stem (full size)", parameter_count("resnet18_cifar", num_classes)),
        ("ResNet-18, ImageNet stem (seeds, full size)", parameter_count("resnet18_imagenet", num_classes)),
        ("ViT patch 4, dim 320, depth 9 (parameter-matched)", parameter_count("vit_cifar", num_classes)),
        ("ViT-B/16 at 224 px (seed 003)", parameter_count("vit_b16", num_classes)),
    ]
    with torch.device("meta"):
        for kind in KINDS:
            rows.append((f"this run: {kind}", count_parameters(build_study_model(kind, num_classes, p))))
    reference = rows[0][1]
    frame = pd.DataFrame(rows, columns=["model", "parameters"])
    frame["vs ResNet-18"] = (frame["parameters"] / reference - 1).map(lambda v: f"{v:+.1%}")
    return frame


class RandomCutMix:
    """torchvision's ``v2.CutMix`` (lambda recomputed from the clipped box) applied to a share ``p``
    of the batches; other batches keep hard labels."""

    def __init__(self, num_classes: int, alpha: float = 1.0, p: float = 1.0):
        self.cutmix = v2.CutMix(alpha=alpha, num_classes=num_classes)
        self.p = p

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        if self.p > 0 and (self.p >= 1 or torch.rand(()) < self.p):
            return self.cutmix(x, y)
        return x, y


# --------------------------------------------------------------------------- the study


@dataclass
class Study:
    """Everything both notebooks do, bound to one notebook run and one data set."""

    run: object  # picseq_utils.notebook.Run
    data: ImageData
    p: dict
    mean: tuple = field(init=False)
    std: tuple = field(init=False)

    def __post_init__(self):
        self.mean, self.std = self.data.mean_std()

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    def recipe(self, kind: str) -> dict:
        family = "vit" if kind == "vit" else "resnet"
        return {"optimizer": self.p[f"{family}_optimizer"]}

    def train_loader(self, split, seed: int, image_size: int = 32) -> DeviceLoader:
        cutmix = RandomCutMix(self.num_classes, self.p["cutmix_alpha"], self.p["cutmix_prob"]) \
            if self.p["cutmix_prob"] > 0 else None
        return DeviceLoader(split, self.p["batch_size"], device=self.run.device, crop_padding=4, flip=True,
                            mean=self.mean, std=self.std, batch_transform=cutmix, seed=seed,
                            augment=_resize(image_size) if image_size != 32 else None)

    def eval_loader(self, split, image_size: int = 32) -> DeviceLoader:
        return DeviceLoader(split, 500, device=self.run.device, shuffle=False, drop_last=False, mean=self.mean,
                            std=self.std, augment=_resize(image_size) if image_size != 32 else None)

    def train(self, kind: str, *, lr: float, wd: float, epochs: int, seed: int = 0, split=None, name: str,
              model: nn.Module | None = None, image_size: int = 32) -> FitResult:
        """One run through the shared training engine, checkpointed under ``name``."""
        torch.manual_seed(seed)
        model = model if model is not None else build_study_model(kind, self.num_classes, self.p)
        split = split if split is not None else self.data.train
        return fit(model, self.train_loader(split, seed, image_size), self.eval_loader(self.data.val, image_size),
                   epochs=epochs, lr=lr, weight_decay=wd, warmup_epochs=min(self.p["warmup_epochs"], epochs),
                   label_smoothing=self.p["label_smoothing"], device=self.run.device, compile=self.p["compile"],
                   checkpoint_dir=self.run.checkpoint_dir(name), resume=self.p["resume"], seed=seed,
                   desc=name, **self.recipe(kind))

    def sweep(self, kind: str) -> pd.DataFrame:
        """Learning rate x weight decay on a share of the training split, scored on validation."""
        family = "vit" if kind == "vit" else "resnet"
        split = self.data.train
        if self.p["sweep_fraction"] < 1:
            split = self.data.subset_train(self.p["sweep_fraction"], seed=1).train
        rows = []
        for lr in self.p[f"{family}_lrs"]:
            for wd in self.p[f"{family}_wds"]:
                result = self.train(kind, lr=lr, wd=wd, epochs=self.p["sweep_epochs"], split=split,
                                    name=f"sweep_{kind}_lr{lr:g}_wd{wd:g}")
                last = result.final
                rows.append({"model": kind, "lr": lr, "weight_decay": wd, "val_acc": last["val_acc"],
                             "val_loss": last["val_loss"], "seconds": result.train_seconds})
        return pd.DataFrame(rows)

    def headline(self, kind: str, lr: float, wd: float) -> dict:
        """The chosen point trained over ``seeds`` seeds; the test set is evaluated once per final model."""
        results, tests = [], []
        for seed in range(self.p["seeds"]):
            result = self.train(kind, lr=lr, wd=wd, epochs=self.p["epochs"], seed=seed, name=f"{kind}_seed{seed}")
            results.append(result)
            tests.append(evaluate(result.model, self.eval_loader(self.data.test), self.run.device)["accuracy"])
        mean, std = mean_std(tests)
        ttas = [r.time_to_accuracy(self.p["target_accuracy"]) for r in results]
        return {"kind": kind, "lr": lr, "wd": wd, "results": results, "test_accs": tests, "test_mean": mean,
                "test_std": std, "time_to_target": ttas,
                "images_per_s": float(pd.concat([r.history["images_per_s"] for r in results]).median()),
                "params": count_parameters(results[0].model)}

    def data_size_curve(self, kind: str, lr: float, wd: float, reuse: dict | None = None) -> pd.DataFrame:
        """Validation and test accuracy against the share of the training set (same epochs each)."""
        rows = []
        for fraction in self.p["data_fractions"]:
            if fraction == 1 and reuse is not None:
                model, val_acc = reuse["results"][0].model, reuse["results"][0].final["val_acc"]
                n = len(self.data.train)
            else:
                subset = self.data.subset_train(fraction, seed=2).train
                result = self.train(kind, lr=lr, wd=wd, epochs=self.p["epochs"], split=subset,
                                    name=f"datasize_{kind}_{fraction:g}")
                model, val_acc, n = result.model, result.final["val_acc"], len(subset)
            test_acc = evaluate(model, self.eval_loader(self.data.test), self.run.device)["accuracy"]
            rows.append({"model": kind, "fraction": fraction, "train images": n, "val_acc": val_acc,
                         "test_acc": test_acc})
        return pd.DataFrame(rows)

    def seed003(self) -> pd.DataFrame:
        """Seed 003's setting: 32-px images resized to 224 on the device; ViT-B/16 and ResNet-18
        (ImageNet stem) from scratch and fine-tuned from ImageNet weights where available."""
        rows = []
        for name, model_name, lr in (("ViT-B/16", "vit_b16", 1e-4), ("ResNet-18", "resnet18_imagenet", 1e-3)):
            for init in ("scratch", "imagenet"):
                model = build_model(model_name, self.num_classes)
                weights = "random"
                if init == "imagenet":
                    info = load_imagenet_weights(model, model_name, fallback=True)
                    self.run.use_weights(f"seed003 {name}", info)
                    if info["fallback"]:
                        rows.append({"model": name, "init": init, "test_acc": None,
                                     "note": "ImageNet weights unavailable offline; not run"})
                        continue
                    weights = info["weights"]
                result = self.train("vit" if "ViT" in name else CONTROL, lr=lr, wd=0.0, model=model,
                                    epochs=self.p["seed003_epochs"], name=f"seed003_{model_name}_{init}",
                                    image_size=224)
                test = evaluate(result.model, self.eval_loader(self.data.test, 224), self.run.device)["accuracy"]
                rows.append({"model": name, "init": init, "weights": weights, "test_acc": test,
                             "train_seconds": result.train_seconds, "note": ""})
        return pd.DataFrame(rows)


def _resize(size: int):
    def resize(x: torch.Tensor, generator=None) -> torch.Tensor:
        return nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)

    return resize


# --------------------------------------------------------------------------- tables and figures


def best_point(sweep: pd.DataFrame) -> tuple[float, float]:
    """The (lr, weight decay) with the highest validation accuracy (ties: the lower validation loss)."""
    row = sweep.sort_values(["val_acc", "val_loss"], ascending=[False, True]).iloc[0]
    return float(row["lr"]), float(row["weight_decay"])


def sweep_grid(sweep: pd.DataFrame) -> pd.DataFrame:
    grid = sweep.pivot(index="lr", columns="weight_decay", values="val_acc")
    grid.index.name, grid.columns.name = "learning rate", "weight decay"
    return grid


def headline_table(headlines: list[dict], target: float) -> pd.DataFrame:
    rows = []
    for h in headlines:
        reached = [t for t in h["time_to_target"] if t is not None]
        rows.append({"model": h["kind"], "parameters": h["params"], "lr": h["lr"], "weight decay": h["wd"],
                     "test accuracy": format_mean_std(h["test_accs"]),
                     "final val accuracy": f"{pd.Series([r.final['val_acc'] for r in h['results']]).mean():.2%}",
                     f"s to {target:.0%} val": f"{pd.Series(reached).median():.1f}" if reached else "not reached",
                     "train s": f"{pd.Series([r.train_seconds for r in h['results']]).mean():.1f}",
                     "images/s": f"{h['images_per_s']:.0f}"})
    return pd.DataFrame(rows)


def plot_time_to_accuracy(headlines: list[dict], target: float, title: str = ""):
    """Validation accuracy against training seconds (seed 0 of each model)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for i, h in enumerate(headlines):
        hist = h["results"][0].history
        ax.plot(hist["elapsed"], hist["val_acc"], marker="o", ms=3, color=f"C{i}", label=h["kind"])
    ax.axhline(target, color="grey", ls=":", label=f"target {target:.0%}")
    ax.set(xlabel="training seconds", ylabel="validation accuracy", title=title or "time to accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_data_size(curves: pd.DataFrame, title: str = ""):
    """Test accuracy against training-set size for each model (log x axis)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for i, (kind, group) in enumerate(curves.groupby("model", sort=False)):
        ax.plot(group["train images"], group["test_acc"], marker="o", color=f"C{i}", label=kind)
    ax.set_xscale("log")
    ax.set(xlabel="training images", ylabel="test accuracy", title=title or "accuracy vs data-set size")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- notebook steps
# Each step computes, records its metrics with provenance, saves its figures and returns what the
# notebook displays, so notebooks 04 and 05 narrate the same study without repeating code.

METRIC_NAMES = {"resnet18": "test_acc_resnet18", "vit": "test_acc_vit", CONTROL: "test_acc_resnet18_imagenet_stem"}


def step_sizes(study: Study) -> pd.DataFrame:
    table = parameter_table(study.num_classes, study.p)
    for label, count in zip(table["model"], table["parameters"]):
        study.run.record(f"params_{metric_slug(label)}", int(count), unit="parameters", model=label)
    return table


def step_tune(study: Study) -> tuple[dict, dict]:
    """Equal-budget sweeps of both families; heat maps; the chosen (lr, wd) per model kind."""
    sweeps = {kind: study.sweep(kind) for kind in FAMILIES}
    label = study.data.provenance.label
    for kind, table in sweeps.items():
        fig = heatmap_for(table, f"{kind}: validation accuracy ({label})")
        study.run.save_figure(fig, f"sweep_{kind}", caption=f"lr x weight-decay sweep of {kind}, validation accuracy")
        plt.close(fig)
    chosen = {kind: best_point(table) for kind, table in sweeps.items()}
    chosen[CONTROL] = chosen["resnet18"]
    for kind, (lr, wd) in chosen.items():
        study.run.record(f"chosen_lr_{kind}", lr, model=kind, data=study.data)
        study.run.record(f"chosen_wd_{kind}", wd, model=kind, data=study.data)
    return sweeps, chosen


def heatmap_for(sweep: pd.DataFrame, title: str):
    from .plots import heatmap

    return heatmap(sweep_grid(sweep), title=title)


def step_compare(study: Study, chosen: dict) -> tuple[list[dict], pd.DataFrame]:
    """Headline runs of each family (and the ImageNet-stem control), then the test set once."""
    kinds = list(FAMILIES) + ([CONTROL] if study.p["imagenet_stem_control"] else [])
    headlines = [study.headline(kind, *chosen[kind]) for kind in kinds]
    target = study.p["target_accuracy"]
    for h in headlines:
        study.run.record(METRIC_NAMES[h["kind"]], h["test_mean"], unit="accuracy", data=study.data,
                         std=h["test_std"], n=len(h["test_accs"]), lr=h["lr"], weight_decay=h["wd"],
                         epochs=study.p["epochs"], parameters=h["params"])
        study.run.record(f"images_per_s_{h['kind']}", h["images_per_s"], unit="images/s", data=study.data,
                         device=str(study.run.device))
        reached = [t for t in h["time_to_target"] if t is not None]
        study.run.record(f"seconds_to_val_{round(target * 100)}pct_{h['kind']}", min(reached) if reached else None,
                         unit="s", data=study.data, reached=bool(reached), target=target)
        study.run.record(f"train_seconds_{h['kind']}", float(pd.Series([r.train_seconds for r in h["results"]]).mean()),
                         unit="s", data=study.data, epochs=study.p["epochs"])
    return headlines, headline_table(headlines, target)


def step_curves(study: Study, headlines: list[dict]) -> None:
    from .plots import plot_histories

    label = study.data.provenance.label
    fig = plot_histories({h["kind"]: h["results"][0].history for h in headlines},
                         title=f"{label}: loss and accuracy per epoch (seed 0)")
    study.run.save_figure(fig, "curves", caption="loss and accuracy per epoch of both families (seed 0)")
    fig = plot_time_to_accuracy(headlines, study.p["target_accuracy"], title=f"time to accuracy — {label}")
    study.run.save_figure(fig, "time_to_accuracy", caption="validation accuracy against training seconds")


def step_data_size(study: Study, headlines: list[dict]) -> pd.DataFrame:
    curves = pd.concat([study.data_size_curve(h["kind"], h["lr"], h["wd"], reuse=h)
                        for h in headlines if h["kind"] in FAMILIES], ignore_index=True)
    for row in curves.to_dict("records"):
        study.run.record(f"test_acc_{row['model']}_fraction_{row['fraction']:g}", row["test_acc"], unit="accuracy",
                         data=study.data, train_images=row["train images"])
    label = study.data.provenance.label
    fig = plot_data_size(curves, title=f"accuracy vs training-set size — {label}")
    study.run.save_figure(fig, "data_size", caption="test accuracy against training-set size, both families")
    return curves


def step_seed003(study: Study) -> pd.DataFrame | None:
    if not study.p["seed003_setting"]:
        print("seed003_setting is off in this profile (ViT-B/16 at 224 px needs a GPU); see params/full.yaml.")
        return None
    table = study.seed003()
    for row in table.to_dict("records"):
        if row.get("test_acc") is not None:
            study.run.record(f"seed003_test_acc_{metric_slug(row['model'])}_{row['init']}", row["test_acc"],
                             unit="accuracy", data=study.data, train_seconds=row.get("train_seconds"))
    return table


def cutmix_examples(study: Study, n: int = 6, seed: int = 0):
    """A CutMix batch as the model sees it (de-normalised), each titled with its two label weights,
    and a check that each weight equals the share of pixels that came from that image."""
    from .plots import image_grid

    labels = study.data.train.labels  # one image per class, so every pair mixes two different labels
    split = study.data.train.take(torch.stack([(labels == c).nonzero()[0, 0] for c in range(n)]))
    torch.manual_seed(seed)
    x = split.images.float().div(255)
    mixed, target = v2.CutMix(alpha=study.p["cutmix_alpha"], num_classes=study.num_classes)(x, split.labels)
    from_first = (mixed == x).all(dim=1).float().mean(dim=(1, 2))  # pixels still from the original image
    weight_first = target[torch.arange(n), split.labels]
    titles = []
    for i in range(n):
        top = target[i].topk(2)
        names = [study.data.classes[j][:10] for j in top.indices.tolist()]
        titles.append(f"{names[0]} {top.values[0]:.2f}\n{names[1]} {top.values[1]:.2f}")
    fig = image_grid(mixed, titles, ncols=n, size=1.6, suptitle=f"CutMix on {study.data.provenance.label}")
    return fig, pd.DataFrame({"label weight of the original": weight_first.numpy(),
                              "share of its pixels kept": from_first.numpy()})
