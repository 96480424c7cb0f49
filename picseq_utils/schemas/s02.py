"""Parameters of 02_resnet_embedded_transformer."""
from ..params import Bool, Float, Int, Str, schema
from .s01 import MODES, PARAMS as NB01, RULES

PARAMS = schema({
    **{name: NB01.params[name] for name in ("data_root", "clips_folder", "n_clips", "frame_size")},  # from 01
    "n_clips": Int("generated clips (the seed had 80)", min=4, size=True),  # the k-fold split needs 4 or more
    "augment_mode": Str("augmentation mode (notebook 01)", choices=MODES),
    "augment_rules": Str("how augmentor mode draws values: 'augmentor' (what the seed ran) or 'exact' (its text)",
                         choices=RULES),
    "copies": Int("augmented copies per clip for picseq's recipe (the seed: 32, 80 -> 2560)", min=1, size=True),
    "folds": Int("k of the k-fold split by clip (4 folds = the seed's 75/25)", min=2, size=True),
    "ablation_folds": Int("folds on which the ablation variants run", min=1, size=True),
    "epochs": Int("epochs of every cached-embedding run (picseq's recipe)", min=1, size=True),
    "batch_size": Int("batch size of picseq's recipe", min=1, size=True),
    "lr": Float("AdamW learning rate of picseq's recipe", min=0, min_exclusive=True),
    "weight_decay": Float("AdamW weight decay of picseq's recipe", min=0),
    "imagenet_weights": Bool("use ImageNet weights for ResNet-18 when they can be had"),
    "recipe_clips": Int("clips in the seed-000 recipe runs (0 = all)", min=0, size=True),
    "recipe_copies": Int("augmented copies per clip in the seed-000 recipe runs (the seed: 32)", min=1, size=True),
    "recipe_epochs": Int("epochs of the seed-000 recipe runs, backbone trained end to end (the seed: 100)", min=1, size=True),
    "recipe_runs": Int("seed-000 recipe runs (random 75/25 splits)", min=1, size=True),
    "speed_epochs": Int("epochs timed for cached vs end to end", min=1, size=True),
    "speed_clips": Int("training copies used in that timing (0 = all of fold 0's)", min=0, size=True),
    "resume": Bool("resume the seed-000 recipe runs from their checkpoints"),
})
