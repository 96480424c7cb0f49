"""Parameters of 01_clip_augmentation."""
from ..data import PHOTOS
from ..params import Bool, DataRoot, Int, List, Str, schema

MODES = ("augmentor", "torchvision")
RULES = ("augmentor", "exact")

PARAMS = schema({
    "data_root": DataRoot("data folder (generated clips go to <data_root>/clips)"),
    "clips_folder": Str("a folder of your own clips (<class>/<clip_id>/frame_00.png ...); '' = generated clips",
                        data=True),
    "n_clips": Int("generated clips (the seed had 80)", min=2, size=True),
    "frame_size": Int("frame side length: generated clips' size; a folder's frames are resized to it on load "
                      "(shorter side, then centre crop)", min=16, max=512, size=True),
    "photo": Str("bundled photograph for the step gallery and the check against PIL", choices=tuple(PHOTOS)),
    "augment_rules": Str("how values are drawn: 'augmentor' (round(U, 1) <= p, whole degrees: what the seed ran) or "
                         "'exact' (U < p, continuous angles: the seed's text)", choices=RULES),
    "expansion_copies": Int("augmented copies per clip in the offline expansion (the seed: 32)", min=1, size=True),
    "expansion_clips": Int("clips expanded in the demonstration (0 = all)", min=0, size=True),
    "throughput_sizes": List(Int(min=21), "frame sizes at which augmentation speed is measured", size=True),
    "throughput_clips": Int("clips timed per mode and size", min=1, size=True),
    "consistency_checks": Int("random draws checked for frame consistency", min=1, size=True),
    "show_mode": Str("mode of the offline expansion", choices=MODES),
    "fire_rate_draws": Int("draws for the firing-rate comparison", min=100, size=True),
    "device_augment": Bool("run the augmentation throughput on the notebook's device too (GPU)"),
})
