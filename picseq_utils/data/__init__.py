"""The data layer: one entry point per data set, provenance on everything, fast loaders."""
from .datasets import (DATASETS, load_cifar10, load_cifar100, load_dataset, load_digits, load_flowers102,
                       write_cifar_standin, write_flowers_standin)
from .images import ImageData, ImageSplit, stratified_indices
from .loaders import DeviceLoader, EpochBatches, TensorLoader, eval_loader, random_crop, random_flip
from .photos import PHOTOS, load_photo
from .provenance import DataCorruptError, DataUnavailableError, Provenance
