"""Data layer: stand-ins in the exact on-disk formats, provenance, splits. (Bad data: test_bad_data.py.)"""
import pickle

import numpy as np
import pytest
import torch

from picseq_utils.data import (load_cifar10, load_cifar100, load_dataset, load_digits, load_flowers102, load_photo,
                               stratified_indices, write_flowers_standin)
from picseq_utils.data import standin


def test_cifar10_standin_is_written_in_the_exact_pickle_layout(small_cifar_root):
    folder = small_cifar_root / "standin" / "cifar-10-batches-py"
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))  # .picseq_standin: its version
    assert names == ["batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                     "data_batch_5", "test_batch"]
    with open(folder / "data_batch_1", "rb") as handle:
        batch = pickle.load(handle, encoding="latin1")
    assert set(batch) == {"batch_label", "labels", "data", "filenames"}
    assert batch["data"].dtype == np.uint8 and batch["data"].shape == (120, 3072)
    data = load_cifar10(source="standin", root=small_cifar_root)
    assert data.train.images.shape == (600, 3, 32, 32) and data.test.images.shape == (200, 3, 32, 32)
    assert data.classes == tuple(standin.SHAPES)
    assert torch.bincount(data.train.labels).tolist() == [60] * 10


def test_cifar100_standin_has_fine_and_coarse_labels(small_cifar_root):
    folder = small_cifar_root / "standin" / "cifar-100-python"
    with open(folder / "train", "rb") as handle:
        entry = pickle.load(handle, encoding="latin1")
    assert {"fine_labels", "coarse_labels", "data", "filenames", "batch_label"} <= set(entry)
    assert all(c == f // 5 for f, c in zip(entry["fine_labels"], entry["coarse_labels"]))
    data = load_cifar100(source="standin", root=small_cifar_root)
    assert data.num_classes == 100 and data.provenance.kind == "standin"
    assert data.provenance.label == "CIFAR-100 (stand-in)" and "NOT CIFAR-100" in data.provenance.origin


def test_auto_without_real_data_and_network_uses_the_standin(small_cifar_root, monkeypatch, capsys):
    import picseq_utils.data.datasets as ds

    monkeypatch.setattr(ds, "network_available", lambda url, timeout=3.0: False)
    data = load_cifar10(source="auto", root=small_cifar_root)
    assert data.provenance.kind == "standin"
    assert "using the generated stand-in" in capsys.readouterr().err


@pytest.fixture(scope="module")
def flowers_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("flowers")
    write_flowers_standin(root / "standin", per_class=(1, 1, 2))
    return root


def test_flowers_standin_loads_through_torchvision_with_the_paper_protocol(flowers_root):
    data = load_flowers102(source="standin", root=flowers_root, image_size=32)
    assert data.num_classes == 102 and data.provenance.kind == "standin"
    assert len(data.train) == 204 and len(data.test) == 204 and data.val is None  # train+val together
    assert data.train.images.shape[1:] == (3, 32, 32)
    split = load_flowers102(source="standin", root=flowers_root, image_size=32, protocol="train")
    assert len(split.train) == 102 and len(split.val) == 102
    assert list((flowers_root / "standin" / "cache").glob("flowers102_standin_*_32px.pt")), "decoded once, then cached"


def test_flowers_bad_arguments(flowers_root):
    with pytest.raises(ValueError, match="valid: trainval, train"):
        load_flowers102(source="standin", root=flowers_root, protocol="test")
    with pytest.raises(ValueError, match="unknown data source 'web'"):
        load_flowers102(source="web", root=flowers_root)


def test_digits_are_the_1797_bundled_images_with_a_fixed_stratified_split():
    data = load_digits(image_size=16)
    assert len(data.train) + len(data.test) == 1797
    assert data.provenance.kind == "bundled" and data.train.images.shape[1:] == (3, 16, 16)
    assert torch.equal(load_digits(image_size=16).test.labels, data.test.labels)
    counts = torch.bincount(data.test.labels)
    assert counts.min() >= 35 and counts.max() <= 37
    with pytest.raises(ValueError, match="no stand-in"):
        load_digits(source="standin")


def test_load_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="valid: cifar10, cifar100, flowers102, digits"):
        load_dataset("mnist")


def test_with_validation_is_disjoint_stratified_and_leaves_test_alone(small_cifar_root):
    data = load_cifar10(source="standin", root=small_cifar_root)
    split = data.with_validation(0.2, seed=1)
    assert len(split.train) + len(split.val) == 600 and len(split.val) == 120
    assert torch.bincount(split.val.labels).tolist() == [12] * 10
    assert torch.equal(split.test.images, data.test.images)
    train_rows = {bytes(x.numpy()) for x in split.train.images}
    assert not any(bytes(x.numpy()) in train_rows for x in split.val.images)


def test_subset_and_limit_keep_classes_balanced(small_cifar_root):
    data = load_cifar10(source="standin", root=small_cifar_root)
    assert torch.bincount(data.subset_train(0.25).train.labels).tolist() == [15] * 10
    small = data.with_validation(0.1).limit(train=270, test=50)
    assert len(small.train) == 270 and len(small.test) == 50 and len(small.val) < 60
    idx = stratified_indices(torch.tensor([0, 0, 1, 1, 1, 2]), 0.01)
    assert len(idx) == 3  # at least one per class


def test_standin_is_learnable_by_a_small_model(small_cifar_root):
    """A linear classifier on colour-free shape features is not enough to be trivial, but a small CNN
    gets well above chance (10%) within a few seconds."""
    from picseq_utils.data import DeviceLoader, eval_loader
    from picseq_utils.models import build_model
    from picseq_utils.runtime import seed_everything
    from picseq_utils.train import evaluate, fit

    seed_everything(0)
    data = load_cifar10(source="standin", root=small_cifar_root)
    mean, std = data.mean_std()
    model = build_model("resnet18_cifar", 10, width=8)
    fit(model, DeviceLoader(data.train, 32, flip=True, mean=mean, std=std), epochs=4, lr=3e-3,
        warmup_epochs=0.5, progress=False)
    acc = evaluate(model, eval_loader(data.test, 100, device="cpu", mean=mean, std=std))["accuracy"]
    assert acc > 0.3, acc


def test_standin_drawing_is_reproducible_and_class_names_scale():
    labels = standin.balanced_labels(20, 10, seed=3)
    assert np.array_equal(standin.draw_images(labels, 10, 16, seed=5), standin.draw_images(labels, 10, 16, seed=5))
    assert standin.class_names(100)[13] == "orange-ring"
    with pytest.raises(ValueError, match="at most 110"):
        standin.class_names(200)


def test_bundled_photo_and_unknown_photo():
    image, prov = load_photo("coffee", size=64)
    assert image.shape == (3, 64, 64) and image.dtype == torch.uint8 and prov.kind == "bundled"
    with pytest.raises(ValueError, match="valid: astronaut"):
        load_photo("mona_lisa")


def test_a_stand_in_written_by_another_generator_version_is_regenerated(tmp_path, monkeypatch):
    from picseq_utils.data import datasets, write_cifar_standin

    folder = write_cifar_standin(tmp_path / "standin", 10, n_train=50, n_test=10)
    assert load_cifar10(source="standin", root=tmp_path).train.images.shape[0] == 50, "this version's files are used"
    monkeypatch.setattr(datasets, "standin_stamp", lambda: "another-version")
    monkeypatch.setattr(datasets, "write_cifar_standin",
                        lambda root, classes: write_cifar_standin(root, classes, n_train=30, n_test=10))
    assert load_cifar10(source="standin", root=tmp_path).train.images.shape[0] == 30, "stale files are rewritten"
    assert (folder / ".picseq_standin").read_text() != ""


def test_a_rehearsal_root_serves_stand_ins_through_the_real_path_labelled_as_stand_ins(tmp_path):
    from picseq_utils.data import datasets

    root = datasets.write_rehearsal_root(tmp_path / "rehearsal", cifar_images=(100, 20), flowers_per_class=(1, 1, 1))
    assert (root / "cifar-10-batches-py" / "data_batch_1").is_file(), "where torchvision's real parser looks"
    for data in (load_cifar10(source="real", root=root, download=False),
                 load_cifar100(source="real", root=root, download=False),
                 load_flowers102(source="real", root=root, download=False, image_size=16)):
        assert data.provenance.kind == "standin" and "rehearsal" in data.provenance.note
    assert len(load_cifar10(source="real", root=root, download=False).train) == 100
    (root / datasets.REHEARSAL_MARK).unlink()  # without the mark the same files fail the real MD5 checks
    with pytest.raises(datasets.DataCorruptError, match="MD5 mismatch"):
        load_cifar10(source="real", root=root, download=False)


def test_the_rehearsal_weights_file_loads_like_torchvisions_and_fits_every_layer_but_the_head(tmp_path, monkeypatch):
    """The file has the real one's name, place and format (no BatchNorm step counters), so the rehearsal takes the
    weights-present path; every learnable tensor but the new 10-way head loads (notebook 04's rule)."""
    from picseq_utils.data.__main__ import write_rehearsal_weights
    from picseq_utils.models import build_model, load_imagenet_weights

    path = write_rehearsal_weights(tmp_path / "torch")
    assert path.name == "resnet18-f37072fd.pth" and path.parent == tmp_path / "torch" / "hub" / "checkpoints"
    assert not any("num_batches_tracked" in k for k in torch.load(path, weights_only=True))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    model = build_model("resnet18_imagenet", 10, width=64)
    info = load_imagenet_weights(model, "resnet18_imagenet")
    assert not info["fallback"]
    assert [k for k, _ in model.named_parameters() if k in info["skipped"]] == ["fc.weight", "fc.bias"]


def test_a_constant_channel_normalises_to_zeros_not_nan():
    # The cost plan runs notebooks on an all-black stand-in: std 0 must not become a division by zero.
    from dataclasses import replace

    from picseq_utils.data import ImageSplit
    data = load_digits()
    black = data.train.images.clone()
    black[:, 0] = 0
    data = replace(data, train=ImageSplit(black, data.train.labels))
    mean, std = data.mean_std()
    assert mean[0] == 0 and std[0] == 1
    normalised = (black.float().div(255) - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    assert torch.isfinite(normalised).all() and normalised[:, 0].abs().max() == 0
    # the other channels (the digits come as 3 channels) keep their measured std
    assert black.shape[1] == 3
    assert std[1] == pytest.approx(black[:, 1].float().div(255).std().item(), rel=1e-5)
