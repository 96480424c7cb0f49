"""Small learnable data and tiny models shared by the training, interruption and determinism tests."""
import torch

from picseq_utils.data import DeviceLoader, ImageSplit, eval_loader
from picseq_utils.models import build_model
from picseq_utils.runtime import seed_everything
from picseq_utils.train import fit

COMPARED = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]


def toy_split(n=64, size=8, seed=0):
    """Learnable toy images: class k has a bright k-th column band."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = (torch.rand(n, 3, size, size, generator=gen) * 60).to(torch.uint8)
    for i, k in enumerate(labels.tolist()):
        images[i, :, :, 2 * k:2 * k + 2] = 230
    return ImageSplit(images, labels)


def tiny(family):
    if family == "resnet":
        return build_model("resnet18_cifar", 4, width=4)
    return build_model("vit_cifar", 4, image_size=8, patch_size=4, dim=16, depth=1, heads=2, drop_path=0.1)


def quick_fit(family="resnet", epochs=3, **kw):
    seed_everything(0)
    model = tiny(family)
    train = DeviceLoader(toy_split(), 16, flip=False, crop_padding=1, seed=0)
    val = eval_loader(toy_split(32, seed=1), 16, device="cpu")
    kw.setdefault("progress", False)
    return fit(model, train, val, epochs=epochs, lr=3e-3, **kw)
