"""Parameters of 06_idmm_small_data_pretraining."""
from ..params import Bool, DataRoot, DataSource, Float, Fraction, Int, List, Param, Str, schema

DATASETS = ("digits", "flowers102", "cifar100")

PARAMS = schema({
    "dataset": Str("the small data set", choices=DATASETS, data=True),
    "data_source": DataSource("where Flowers-102 / CIFAR-100 come from"),
    "data_root": DataRoot(),
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
    "probe_dataset": Param(str, "also probe every initialisation linearly on this data set (transfer); '' = skip",
                           choices=("", "cifar100", "digits"), data=True),
    "val_fraction": Float("validation share carved from the training images (0 = none)", min=0, max=0.5),
    "resume": Bool("resume runs from their checkpoints"),
}, lambda v: None if v["pretrain_size"] % v["patch_size"] == 0 and v["finetune_size"] % v["patch_size"] == 0
   else f"patch_size={v['patch_size']} must divide pretrain_size={v['pretrain_size']} and "
        f"finetune_size={v['finetune_size']}",
   lambda v: None if v["vit_dim"] % v["vit_heads"] == 0 else f"vit_heads={v['vit_heads']} must divide vit_dim={v['vit_dim']}",
   lambda v: None if v["large_crops"] + v["small_crops"] >= 1 else "at least one multi-crop view is needed")
