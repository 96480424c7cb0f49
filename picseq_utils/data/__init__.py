"""The data layer: one entry point per data set, provenance on everything, fast loaders."""
from .datasets import (DATASETS, FLOWER_PROTOCOLS, load_cifar10, load_cifar100, load_dataset, load_digits,
                       load_flowers102, write_cifar_standin, write_flowers_standin)
from .images import ImageData, ImageSplit, describe_all, stratified_indices
from .loaders import (DeviceLoader, EpochBatches, TensorLoader, epoch_generator, eval_loader, random_crop, random_flip,
                      random_resized_crop)
from .photos import PHOTOS, load_photo
from .provenance import (KINDS, SOURCES, DataCorruptError, DataUnavailableError, Provenance, network_available)

__all__ = [
    "DATASETS", "FLOWER_PROTOCOLS", "KINDS", "PHOTOS", "SOURCES", "DataCorruptError", "DataUnavailableError",
    "DeviceLoader", "EpochBatches", "ImageData", "TensorLoader", "ImageSplit", "Provenance", "describe_all",
    "epoch_generator", "eval_loader", "load_cifar10", "load_cifar100", "load_dataset", "load_digits",
    "load_flowers102", "load_photo", "network_available", "random_crop", "random_flip", "random_resized_crop",
    "stratified_indices", "write_cifar_standin", "write_flowers_standin",
]
