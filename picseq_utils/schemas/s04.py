"""Parameters of 04_vit_vs_resnet_cifar10 (and, through ``study_params``, of notebook 05)."""
from ..params import Bool, DataRoot, DataSource, Float, Fraction, Int, List, Str, schema
from ..train import OPTIMIZERS


def equal_budget(values: dict) -> str | None:
    sizes = {f: len(values[f"{f}_lrs"]) * len(values[f"{f}_wds"]) for f in ("resnet", "vit")}
    if len(set(sizes.values())) != 1:
        return f"the sweep budgets differ ({sizes} points): give both families grids of the same size"
    return None


def divides_patch(values: dict) -> str | None:
    if 32 % values["vit_patch"]:
        return f"vit_patch={values['vit_patch']} must divide the 32-px image size"
    if values["vit_dim"] % values["vit_heads"]:
        return f"vit_heads={values['vit_heads']} must divide vit_dim={values['vit_dim']}"
    return None


def study_params() -> dict:
    positive = dict(min=0.0, min_exclusive=True)
    return {
        "data_source": DataSource("where CIFAR comes from"),
        "data_root": DataRoot(),
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


PARAMS = schema(study_params(), equal_budget, divides_patch)
