"""Parameters of 00_data_tour."""
from ..params import DataRoot, DataSource, Int, schema

PARAMS = schema({
    "data_source": DataSource(),
    "data_root": DataRoot(),
    "flowers_size": Int("side length Flowers-102 images are decoded to", min=16, max=512, size=True),
    "samples_per_class": Int("images per class in the sample grids", min=1, max=16, size=True),
    "clip_frame_size": Int("frame size of the generated clips shown", min=16, max=512, size=True),
})
