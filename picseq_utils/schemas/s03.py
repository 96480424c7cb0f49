"""Parameters of 03_vit_anatomy."""
from ..data import PHOTOS
from ..params import Bool, DataRoot, DataSource, Float, Fraction, Int, List, Str, schema

PARAMS = schema({
    "photo": Str("bundled photograph for the patch figures", choices=tuple(PHOTOS)),
    "data_root": DataRoot("data folder (for notebook 04's checkpoint data in the full profile)"),
    "data_source": DataSource("CIFAR-10 source when inspecting notebook 04's model"),
    "inspect": Str("'train' trains a small ViT on digits here; 'notebook04' loads notebook 04's CIFAR-10 ViT "
                   "checkpoint of this profile (training here if it is absent)", choices=("train", "notebook04")),
    "image_size": Int("training image size (digits are upsampled)", min=8),
    "patch_size": Int("patch size of the small ViT", min=1),
    "vit_dim": Int("embedding width of the small ViT", min=8),
    "vit_depth": Int("blocks of the small ViT", min=1),
    "vit_heads": Int("heads of the small ViT", min=1),
    "epochs": Int("training epochs of the small ViT", min=1),
    "batch_size": Int("batch size", min=1),
    "lr": Float("AdamW learning rate", min=0, min_exclusive=True),
    "resample_size": Int("larger resolution the trained model is moved to", min=8),
    "finetune_epochs": Int("epochs of fine-tuning at the larger resolution", min=0),
    "pool_lrs": List(Float(min=0, min_exclusive=True), "learning rates of the CLS-token vs average-pool comparison"),
    "pool_epochs": Int("epochs per run of that comparison", min=1),
    "pool_seeds": Int("seeds per point of that comparison (mean ± std)", min=1),
    "val_fraction": Fraction("validation share carved from the training split"),
    "resume": Bool("resume runs from their checkpoints"),
}, lambda v: None if v["image_size"] % v["patch_size"] == 0 and v["resample_size"] % v["patch_size"] == 0
   else f"patch_size={v['patch_size']} must divide image_size={v['image_size']} and resample_size={v['resample_size']}",
   lambda v: None if v["vit_dim"] % v["vit_heads"] == 0 else f"vit_heads={v['vit_heads']} must divide vit_dim={v['vit_dim']}")
