"""Models: computed parameter counts, ResNet stems and widths, ViT matching, weights offline."""
import time

import pytest
import torch
import torchvision

from picseq_utils import models
from picseq_utils.models import build_model, count_parameters


@pytest.mark.parametrize("classes, expected", [(10, 11_173_962), (100, 11_220_132)])
def test_resnet18_cifar_stem_parameter_counts(classes, expected):
    assert count_parameters(build_model("resnet18_cifar", classes)) == expected


def test_imagenet_stem_is_torchvision_resnet18_exactly():
    ours = build_model("resnet18_imagenet", 100)
    ref = torchvision.models.resnet18(num_classes=100)
    assert count_parameters(ours) == count_parameters(ref) == 11_227_812
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


def test_cifar_stem_keeps_resolution_and_imagenet_stem_shrinks_it():
    x = torch.randn(2, 3, 32, 32)
    cifar, imagenet = build_model("resnet18_cifar", 10), build_model("resnet18_imagenet", 10)
    assert cifar.maxpool(cifar.conv1(x)).shape[-1] == 32
    assert imagenet.maxpool(imagenet.conv1(x)).shape[-1] == 8


def test_narrow_resnet_runs_and_is_smaller():
    model = build_model("resnet18_cifar", 10, width=16)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert count_parameters(model) < count_parameters(build_model("resnet18_cifar", 10)) / 10


@pytest.mark.parametrize("classes", [10, 100])
def test_vit_cifar_is_parameter_matched_to_resnet18_within_5_percent(classes):
    with torch.device("meta"):  # counted without memory or init time
        vit = count_parameters(build_model("vit_cifar", classes))
        resnet = count_parameters(build_model("resnet18_cifar", classes))
    assert abs(vit - resnet) / resnet < 0.05


def test_unknown_names_and_bad_shapes_list_the_choices():
    with pytest.raises(ValueError, match="valid: resnet18_cifar, resnet18_imagenet, vit_cifar"):
        build_model("resnet50", 10)
    with pytest.raises(ValueError, match="patch_size=5 must divide image_size=32"):
        build_model("vit_cifar", 10, patch_size=5)
    with pytest.raises(ValueError, match="valid: cifar, imagenet"):
        models.resnet18(10, stem="tiny")


def test_vit_runs_at_a_new_resolution_and_resampling_to_the_same_grid_is_identity():
    model = build_model("vit_cifar", 10, dim=32, depth=1, heads=2).eval()
    x = torch.randn(2, 3, 32, 32)
    before = model(x)
    model.set_input_size(img_size=(32, 32))  # what notebook 06 calls: timm resamples the position embeddings
    assert torch.allclose(model(x), before)
    state = model.state_dict()
    bigger = build_model("vit_cifar", 10, dim=32, depth=1, heads=2, image_size=48).eval()
    info = models.load_vit_state_resampled(bigger, state)
    assert info["resampled"] and bigger.pos_embed.shape == (1, 1 + 12 * 12, 32)
    assert bigger(torch.randn(1, 3, 48, 48)).shape == (1, 10)
    model.set_input_size(img_size=(64, 64))
    assert model.pos_embed.shape[1] == 1 + 16 * 16


def test_imagenet_weights_offline_fail_fast_or_fall_back_on_request(monkeypatch):
    import picseq_utils.data.provenance as prov

    monkeypatch.setattr(prov, "network_available", lambda url, timeout=3.0: False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: "/nonexistent/hub")
    model = build_model("resnet18_imagenet", 10)
    start = time.perf_counter()
    with pytest.raises(models.WeightsUnavailableError, match="cannot be downloaded"):
        models.load_imagenet_weights(model, "resnet18_imagenet")
    info = models.load_imagenet_weights(model, "resnet18_imagenet", fallback=True)
    assert info["weights"] == "random" and info["fallback"] is True
    assert time.perf_counter() - start < 30
    with pytest.raises(ValueError, match="models with weights"):
        models.load_imagenet_weights(model, "vit_cifar")
