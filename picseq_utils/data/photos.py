"""Real photographs that ship inside installed packages, for figures that need a real picture."""
from __future__ import annotations

import numpy as np
import torch

from .provenance import Provenance

# name -> (package, how to load, description)
PHOTOS = {
    "astronaut": ("scikit-image", "skimage.data.astronaut", "Eileen Collins, NASA portrait (public domain)"),
    "coffee": ("scikit-image", "skimage.data.coffee", "a cup of coffee (Rachel Michetti, CC0)"),
    "chelsea": ("scikit-image", "skimage.data.chelsea", "Chelsea the cat (Stefan van der Walt, CC0)"),
    "rocket": ("scikit-image", "skimage.data.rocket", "SpaceX Falcon 9 launch (public domain)"),
    "china": ("scikit-learn", "sklearn.datasets.load_sample_images", "Summer Palace, China (sample photo, CC BY)"),
    "flower": ("scikit-learn", "sklearn.datasets.load_sample_images", "a flower (sample photo, CC BY)"),
    "grace_hopper": ("matplotlib", "matplotlib.cbook.get_sample_data", "Grace Hopper portrait (public domain)"),
}


def load_photo(name: str = "astronaut", size: int | None = None) -> tuple[torch.Tensor, Provenance]:
    """A bundled photo as uint8 ``(3, H, W)``; with ``size`` it is resized (shorter side) and centre-cropped square."""
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; valid: {', '.join(PHOTOS)}")
    package, loader, description = PHOTOS[name]
    if package == "scikit-image":
        import skimage.data

        array = getattr(skimage.data, name)()
    elif package == "scikit-learn":
        from sklearn.datasets import load_sample_images

        bunch = load_sample_images()
        array = bunch.images[[f.endswith(f"{name}.jpg") for f in bunch.filenames].index(True)]
    else:
        from matplotlib import cbook
        from PIL import Image

        with cbook.get_sample_data("grace_hopper.jpg") as handle:
            array = np.asarray(Image.open(handle).convert("RGB"))
    image = torch.from_numpy(np.ascontiguousarray(array[..., :3])).permute(2, 0, 1).contiguous()
    if size is not None:
        from torchvision.transforms.v2 import functional as F

        image = F.center_crop(F.resize(image, size, antialias=True), [size, size])
    prov = Provenance(f"photo:{name}", "bundled", loader, f"{description}; shipped with {package}", 1, 0, 0,
                      tuple(image.shape))
    return image, prov
