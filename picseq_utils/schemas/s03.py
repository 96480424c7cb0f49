"""Parameters of 03_vit_anatomy."""
from ..data import PHOTOS
from ..params import Bool, DataRoot, DataSource, Float, Fraction, Int, List, Str, divides, schema

PARAMS = schema({
    "photo": Str("bundled photograph for the patch figures", choices=tuple(PHOTOS)),
    "data_root": DataRoot("data folder (CIFAR-10 when inspecting notebook 04's model)"),
    "data_source": DataSource("CIFAR-10 source when inspecting notebook 04's model"),
    "inspect": Str("'train' trains a small ViT on digits here; 'notebook04' loads notebook 04's CIFAR-10 ViT "
                   "checkpoint of this profile (and trains one here on CIFAR-10 if it is absent)",
                   choices=("train", "notebook04")),
    "image_size": Int("image size of the ViTs trained here (digits: 8 is native; CIFAR-10: 32)", min=4, size=True),
    "patch_size": Int("patch size of the ViTs trained here", min=1, size=True),
    "vit_dim": Int("embedding width of the ViTs trained here", min=8, size=True),
    "vit_depth": Int("blocks of the ViTs trained here", min=1, size=True),
    "vit_heads": Int("heads of the ViTs trained here", min=1, size=True),
    "epochs": Int("training epochs of the inspected ViT (when trained here)", min=1, size=True),
    "batch_size": Int("batch size", min=1, size=True),
    "lr": Float("AdamW learning rate of the inspected ViT (fine-tuning: a tenth of it)", min=0, min_exclusive=True),
    "crop_padding": Int("random-crop padding in pixels (0: no crop)", min=0),
    "flip": Bool("random horizontal flips (not for digits)"),
    "resample_size": Int("larger resolution the trained model is moved to", min=4, size=True),
    "finetune_epochs": Int("epochs of fine-tuning at the larger resolution (0: none)", min=0, size=True),
    "pool_lrs": List(Float(min=0, min_exclusive=True), "learning rates of the class-token vs average-pool comparison"),
    "pool_epochs": Int("epochs per run of that comparison (the same for both heads)", min=1, size=True),
    "pool_seeds": Int("seeds per point of that comparison (mean ± std, paired interval)", min=1, size=True),
    "val_fraction": Fraction("validation share carved from the training split"),
    "resume": Bool("resume runs from their checkpoints"),
}, lambda v: None if v["image_size"] % v["patch_size"] == 0 and v["resample_size"] % v["patch_size"] == 0
   else f"patch_size={v['patch_size']} must divide image_size={v['image_size']} and resample_size={v['resample_size']}",
   divides("vit_dim", "vit_heads"),
   lambda v: None if v["inspect"] != "notebook04" or v["image_size"] == 32
   else f"inspect='notebook04' works on CIFAR-10 at 32 px: set image_size=32 (got {v['image_size']})",
   lambda v: None if v["resample_size"] > v["image_size"]
   else f"resample_size={v['resample_size']} must be larger than image_size={v['image_size']}",
   after=lambda v: ("04_vit_vs_resnet_cifar10",) if v["inspect"] == "notebook04" else ())
