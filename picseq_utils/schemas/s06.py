"""Parameters of 06_idmm_small_data_pretraining."""
from ..params import Bool, DataRoot, DataSource, Float, Fraction, Int, List, Str, divides, schema

DATASETS = ("digits", "flowers102")
FORMULATIONS = ("paper", "official", "no_cutmix", "no_label_smoothing")
POSITIVE = {"min": 0, "min_exclusive": True}

PARAMS = schema({
    "dataset": Str("the small data set: digits (bundled, 8x8) or Flowers-102 (train+val 2040 / test 6149)",
                   choices=DATASETS, data=True),
    "data_source": DataSource("where Flowers-102 / CIFAR-100 come from"),
    "data_root": DataRoot(),
    "val_fraction": Float("validation share carved from the training images; every choice is made on it",
                          min=0.05, max=0.5),
    "vit_dim": Int("ViT width (192 = DeiT-Tiny)", min=8, size=True),
    "vit_depth": Int("ViT blocks (12 = DeiT-Tiny)", min=1, size=True),
    "vit_heads": Int("ViT heads (3 = DeiT-Tiny)", min=1, size=True),
    "patch_size": Int("patch size", min=1, size=True),
    "pretrain_size": Int("pretraining resolution (the paper: 112)", min=4, size=True),
    "finetune_size": Int("fine-tuning resolution, also the size the images are stored at (the paper: 224)", min=8, size=True),
    "large_crops": Int("large multi-crop views (14-100 % of the area)", min=0, size=True),
    "small_crops": Int("small multi-crop views (5-40 % of the area)", min=0, size=True),
    "pretrain_epochs": Int("IDMM pretraining epochs of the study (the paper: 800)", min=1, size=True),
    "pretrain_batch": Int("images per pretraining batch (x views)", min=1, size=True),
    "pretrain_lr": Float("AdamW learning rate of pretraining", **POSITIVE),
    "pretrain_wd": Float("AdamW weight decay of pretraining", min=0),
    "warmup_epochs": Float("warm-up epochs of pretraining before the cosine decay", min=0),
    "label_smoothing": Float("label smoothing of the paper's formulation (0.1)", min=0, max=0.5),
    "cutmix_alpha": Float("CutMix Beta(alpha, alpha) of pretraining (official: 0.5)", **POSITIVE),
    "formulations": List(Str(choices=FORMULATIONS), "IDMM formulations pretrained; the first is the headline arm"),
    "seeds": Int("seeds of every arm (pretraining seed s is fine-tuned with seed s: paired)", min=1, size=True),
    "finetune_epochs": Int("fine-tuning epochs, the same for every arm", min=1, size=True),
    "finetune_batch": Int("fine-tuning batch size", min=1, size=True),
    "finetune_lrs": List(Float(**POSITIVE), "fine-tuning learning rates; each arm's is chosen on validation"),
    "finetune_wd": Float("AdamW weight decay of fine-tuning", min=0),
    "finetune_label_smoothing": Float("label smoothing of fine-tuning", min=0, max=0.5),
    "finetune_mix": Bool("the official fine-tuning's MixUp / CutMix, alternating by epoch"),
    "cnn_width": Int("channels of the small CNN's first stage (a reference)", min=8, size=True),
    "logreg_size": Int("image size whose pixels logistic regression reads (a reference)", min=4, size=True),
    "probe_epochs": Int("epochs of the linear classifier", min=1, size=True),
    "probe_lr": Float("learning rate of the linear classifier", **POSITIVE),
    "probe_dataset": Str("also probe every initialisation linearly on this data set (transfer); '' = skip",
                         choices=("", "cifar100", "digits"), data=True),
    "imagenet_weights": Bool("add ImageNet-supervised DeiT-Tiny as an arm when the ViT is DeiT-Tiny-shaped"),
    "gradient_batches": Int("batches the head-row count is averaged over", min=1, size=True),
    "pretrain_fractions": List(Fraction(), "shares of the pretraining images for the size study (100 % is the main run)", size=True),
    "protocol_pretrain_epochs": Int("seed 004 protocol: pretraining epochs (stated: 800)", min=1, size=True),
    "protocol_finetune_epochs": Int("seed 004 protocol: fine-tuning epochs (stated: 800)", min=1, size=True),
    "protocol_highres_epochs": Int("seed 004 protocol: epochs at twice the fine-tuning size (stated: 100; 0 = skip)",
                                   min=0, size=True),
    "protocol_batch": Int("seed 004 protocol: batch size (stated: 256)", min=1, size=True),
    "resume": Bool("resume runs from their checkpoints"),
}, lambda v: None if v["pretrain_size"] % v["patch_size"] == 0 and v["finetune_size"] % v["patch_size"] == 0
   else f"patch_size={v['patch_size']} must divide pretrain_size={v['pretrain_size']} and "
        f"finetune_size={v['finetune_size']}",
   divides("vit_dim", "vit_heads"),
   lambda v: None if v["large_crops"] + v["small_crops"] >= 1 else "at least one multi-crop view is needed",
   lambda v: None if v["formulations"] else "formulations needs at least one IDMM formulation",
   lambda v: None if v["finetune_lrs"] else "finetune_lrs needs at least one learning rate")
