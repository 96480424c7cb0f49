"""Device-resident loader: labels stay aligned through crop/flip, per-epoch reshuffling, hooks."""
import pytest
import torch
from torchvision.transforms import v2

from picseq_utils.data import DeviceLoader, ImageSplit, eval_loader, random_crop, random_flip


def labelled_split(n=40, size=8):
    """Each image is filled with (label + 1) * 20 and has a bright marker pixel on its left half."""
    labels = torch.arange(n) % 10
    images = ((labels + 1) * 20).to(torch.uint8).view(n, 1, 1, 1).repeat(1, 3, size, size)
    return ImageSplit(images, labels)


def test_batches_keep_each_image_with_its_label_through_crop_and_flip():
    split = labelled_split()
    loader = DeviceLoader(split, 8, crop_padding=2, flip=True, seed=3)
    seen = []
    for x, y in loader:
        assert x.shape == (8, 3, 8, 8) and x.dtype == torch.float32
        # crop pads with zeros, so every pixel is either 0 or the label's fill value
        values = (x * 255).round()
        fill = ((y + 1) * 20).float().view(-1, 1, 1, 1)
        assert torch.all((values == 0) | (values == fill))
        assert torch.all(values.amax(dim=(1, 2, 3)) == fill.flatten())
        seen.append(y)
    assert sorted(torch.cat(seen).tolist()) == sorted(split.labels.tolist())


def test_crop_is_a_real_per_sample_translation():
    images = torch.arange(2 * 1 * 6 * 6, dtype=torch.uint8).view(2, 1, 6, 6)
    out = random_crop(images, 2, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    for i in range(2):  # each output is a shifted window of the zero-padded input
        padded = torch.nn.functional.pad(images[i], (2, 2, 2, 2))
        windows = [padded[:, dy:dy + 6, dx:dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_flip_is_per_sample():
    images = torch.arange(64 * 4, dtype=torch.uint8).view(64, 1, 1, 4)
    out = random_flip(images, torch.Generator().manual_seed(1))
    flipped = (out != images).any(dim=(1, 2, 3))
    assert 10 < int(flipped.sum()) < 54
    assert torch.equal(out[flipped], images[flipped].flip(-1))


def test_epochs_reshuffle_deterministically():
    loader = DeviceLoader(labelled_split(), 10, seed=5)
    first = [y.clone() for _, y in loader]
    again = [y.clone() for _, y in loader]
    loader.set_epoch(1)
    second = [y.clone() for _, y in loader]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, second))


def test_len_drop_last_and_eval_order():
    split = labelled_split(45)
    assert len(DeviceLoader(split, 10)) == 4
    loader = eval_loader(split, 10, device="cpu")
    assert len(loader) == 5
    ys = torch.cat([y for _, y in loader])
    assert torch.equal(ys, split.labels)
    assert len(DeviceLoader(labelled_split(5), 10)) == 1  # a tiny set still yields a batch
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        DeviceLoader(split, 0)


def test_normalisation_and_channels_last():
    loader = DeviceLoader(labelled_split(), 8, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), channels_last=True)
    x, y = next(iter(loader))
    expected = (((y + 1) * 20).float() / 255 - 0.5) / 0.25
    assert torch.allclose(x[:, 0, 0, 0], expected)
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_batch_transform_hook_takes_cutmix():
    cutmix = v2.CutMix(alpha=1.0, num_classes=10)
    loader = DeviceLoader(labelled_split(), 8, batch_transform=lambda x, y: cutmix(x, y))
    x, y = next(iter(loader))
    assert y.shape == (8, 10) and torch.allclose(y.sum(1), torch.ones(8))


def test_tensor_loader_batches_any_tensors_and_reshuffles_per_epoch():
    from picseq_utils.data import TensorLoader

    x = torch.arange(10).view(10, 1).float()
    y = torch.arange(10)
    loader = TensorLoader(x, y, 4, transform=lambda b: b * 2, seed=1)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    for xb, yb in batches:
        assert torch.equal(xb[:, 0], yb.float() * 2)
    first = torch.cat([b[1] for b in batches])
    loader.set_epoch(1)
    assert not torch.equal(first, torch.cat([b[1] for b in loader]))
    with pytest.raises(ValueError, match="differ in length"):
        TensorLoader(x, y[:3], 2)
