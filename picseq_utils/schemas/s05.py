"""Parameters of 05_vit_vs_resnet_cifar100_cutmix: notebook 04's study on CIFAR-100."""
from ..params import schema
from .s04 import divides_patch, equal_budget, study_params

PARAMS = schema(study_params(), equal_budget, divides_patch)
