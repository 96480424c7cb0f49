"""Parameters of 02_resnet_embedded_transformer."""
from ..params import Bool, DataRoot, DataSource, Float, Int, Param, Str, schema

AUGMENT_MODES = ("augmentor", "torchvision")

PARAMS = schema({
    "data_root": DataRoot("data folder (generated clips go to <data_root>/clips)"),
    "data_source": DataSource("kept for a uniform interface; clips are generated or read from clips_folder"),
    "clips_folder": Param(str, "a folder of your own clips (<class>/<clip_id>/frame_00.png ...); '' = generated clips",
                          data=True),
    "n_clips": Int("generated clips (the seed had 80)", min=4),
    "frame_size": Int("frame side length (112 default, 224 as in the seed)", min=16, max=512),
    "augment_mode": Str("augmentation mode of the offline expansion", choices=AUGMENT_MODES),
    "copies": Int("augmented copies per clip (the seed: 32, 80 -> 2560)", min=1),
    "folds": Int("k of the k-fold split by clip (4 folds = the seed's 75/25)", min=2),
    "ablation_folds": Int("folds on which the ablation variants run (the seed model and the leakage "
                          "study use all folds)", min=1),
    "epochs": Int("epochs of every transformer run (the seed: 100)", min=1),
    "batch_size": Int("batch size (the seed: 32)", min=1),
    "lr": Float("AdamW learning rate (the seed: 1e-5)", min=0, min_exclusive=True),
    "weight_decay": Float("AdamW weight decay", min=0),
    "imagenet_weights": Bool("use ImageNet weights for ResNet-18 when they can be had"),
    "finetune_epochs": Int("epochs of the fine-tuned-backbone run (0 = skip)", min=0),
    "finetune_folds": Int("folds on which the fine-tuned backbone is trained", min=1),
    "speed_epochs": Int("epochs timed for cached vs end-to-end", min=1),
    "speed_clips": Int("training clips used in that timing (0 = all)", min=0),
    "resume": Bool("resume the fine-tuning runs from their checkpoints"),
})
