"""Parameters of 05_vit_vs_resnet_cifar100_cutmix: notebook 04's study parameters, CutMix and seed 002's recipe."""
from ..params import Bool, Int, schema
from .s04 import divides_patch, equal_budget, study_params


def seed002_checks(values: dict) -> str | None:
    if (2 * values["seed002_vit_dim"]) % values["seed002_vit_heads"]:
        return (f"seed002_vit_heads={values['seed002_vit_heads']} must divide 2 x seed002_vit_dim="
                f"{2 * values['seed002_vit_dim']} (each head is 2 x dim / heads wide, as in the seed's ViT)")
    return None


PARAMS = schema({
    **study_params(("cifar100", "digits")),
    "cutmix_ablation": Bool("also train both families without CutMix (the CutMix question, paired by seed)"),
    "seed002_recipe": Bool("run seed 002's own recipe (Adam, ImageNet-stem ResNet-18 and its vit_pytorch ViT)"),
    "seed002_epochs": Int("epochs of seed 002's recipe (the seed: 100)", min=1, size=True),
    "seed002_batch_size": Int("batch size of seed 002's recipe (the seed: 128)", min=1, size=True),
    "seed002_resnet_width": Int("ResNet-18 width of seed 002's runs (the seed: 64)", min=4, size=True),
    "seed002_vit_dim": Int("ViT width of seed 002's runs (the seed: 192)", min=8, size=True),
    "seed002_vit_depth": Int("ViT depth of seed 002's runs (the seed: 25)", min=1, size=True),
    "seed002_vit_heads": Int("ViT heads of seed 002's runs (the seed: 6, each 64 wide)", min=1, size=True),
}, equal_budget, divides_patch, seed002_checks)
