"""Parameters of 04_vit_vs_resnet_cifar10 (``study_params`` and the checks are shared with notebook 05)."""
from ..params import Bool, DataRoot, DataSource, Float, Fraction, Int, List, Str, schema
from ..train import OPTIMIZERS

#: The native image size of each data set the two notebooks can run on (digits stay 8x8).
NATIVE_SIZE = {"cifar10": 32, "cifar100": 32, "digits": 8}


def equal_budget(values: dict) -> str | None:
    sizes = {f: len(values[f"{f}_lrs"]) * len(values[f"{f}_wds"]) for f in ("resnet", "vit")}
    if len(set(sizes.values())) != 1:
        return f"the sweep budgets differ ({sizes} points): give both families grids of the same size"
    return None


def divides_patch(values: dict) -> str | None:
    size = NATIVE_SIZE[values["dataset"]]
    if size % values["vit_patch"]:
        return f"vit_patch={values['vit_patch']} must divide the {size}-px images of {values['dataset']}"
    if values["vit_dim"] % values["vit_heads"]:
        return f"vit_heads={values['vit_heads']} must divide vit_dim={values['vit_dim']}"
    return None


def study_params(datasets: tuple[str, ...]) -> dict:
    positive = dict(min=0.0, min_exclusive=True)
    return {
        "dataset": Str("the data set: CIFAR (stand-in when absent) or scikit-learn's real 8x8 digits", choices=datasets,
                       data=True),
        "data_source": DataSource("where CIFAR comes from"),
        "data_root": DataRoot(),
        "train_limit": Int("at most this many training images before the validation split (0 = all)", min=0, size=True),
        "test_limit": Int("at most this many test images (0 = all)", min=0, size=True),
        "val_fraction": Fraction("share of the training images held out for validation"),
        "resnet_width": Int("ResNet-18 stage-1 width (64 = the standard network)", min=4, size=True),
        "vit_dim": Int("ViT embedding width (320 = parameter-matched to ResNet-18)", min=8, size=True),
        "vit_depth": Int("ViT blocks", min=1, size=True),
        "vit_heads": Int("ViT attention heads", min=1, size=True),
        "vit_patch": Int("ViT patch size in pixels", min=1, size=True),
        "vit_pool": Str("ViT head input: class token or average of the patch tokens", choices=("token", "avg")),
        "epochs": Int("epochs of every headline run (both families)", min=1, size=True),
        "batch_size": Int("training batch size", min=1, size=True),
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
        "sweep_epochs": Int("epochs per sweep point", min=1, size=True),
        "sweep_fraction": Fraction("share of the training split used by each sweep point", size=True),
        "seeds": Int("seeds of the headline runs (mean ± std; 2 or more for a paired interval)", min=1, size=True),
        "data_fractions": List(Fraction(), "training-set fractions of the data-size curve (equal optimiser steps)",
                               size=True),
        "imagenet_stem_control": Bool("also train the seeds' ImageNet-stem ResNet-18 as a control"),
        "target_accuracy": Fraction("validation accuracy for the time-to-accuracy measure"),
        "compile": Bool("torch.compile the models"),
        "resume": Bool("resume finished or interrupted runs from their checkpoints"),
    }


def seed003_checks(values: dict) -> str | None:
    if values["seed003_image_size"] % 16:
        return f"seed003_image_size={values['seed003_image_size']} must be a multiple of ViT-B/16's patch size 16"
    if values["seed003_vit_dim"] % values["seed003_vit_heads"]:
        return f"seed003_vit_heads={values['seed003_vit_heads']} must divide seed003_vit_dim={values['seed003_vit_dim']}"
    if values["seed003_resnet_step"] > values["seed003_resnet_epochs"]:
        return "seed003_resnet_step must not exceed seed003_resnet_epochs"
    return None


PARAMS = schema({
    **study_params(("cifar10", "digits")),
    "seed003_recipe": Bool("run seed 003's own recipe (ViT-B/16 and ResNet-18 at 224 px, Adam, batch 64, flip only)"),
    "seed003_pretrained": Bool("also start seed 003's models from ImageNet weights when they can be had"),
    "seed003_image_size": Int("resolution the images are resized to for seed 003's runs (the seed: 224)", min=16, size=True),
    "seed003_train_limit": Int("training images of seed 003's runs (0 = the whole training split)", min=0, size=True),
    "seed003_resnet_width": Int("ResNet-18 width of seed 003's runs (the seed: 64)", min=4, size=True),
    "seed003_vit_dim": Int("ViT-B/16 width of seed 003's runs (the seed: 768)", min=8, size=True),
    "seed003_vit_depth": Int("ViT-B/16 depth of seed 003's runs (the seed: 12)", min=1, size=True),
    "seed003_vit_heads": Int("ViT-B/16 heads of seed 003's runs (the seed: 12)", min=1, size=True),
    "seed003_resnet_epochs": Int("ResNet-18 epochs of seed 003's recipe (the seed: 20-25)", min=1, size=True),
    "seed003_resnet_step": Int("epoch at which the ResNet's lr steps from 1e-3 to 1e-4", min=1, size=True),
    "seed003_vit_epochs": Int("ViT-B/16 epochs of seed 003's recipe (the seed: 30-45)", min=1, size=True),
}, equal_budget, divides_patch, seed003_checks)
