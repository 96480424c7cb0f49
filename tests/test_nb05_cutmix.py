"""Notebook 05: its CutMix (λ = the pasted area of the clipped box, on known boxes; equal to torchvision's v2.CutMix
on the same draws), seed 002's ViT (vit_pytorch's parameter count), and the notebook run with the CutMix cell
replaced by the identity (hard labels again: training accuracy measured, the CutMix gain exactly zero)."""
import json

import pytest
import torch
from torchvision.transforms import v2

from tests.notebook_runner import project_folder, run_notebook

NB = "05_vit_vs_resnet_cifar100_cutmix"


def tiny(root, **changes):
    return {"device": "cpu", "data_source": "standin", "data_root": str(root), "train_limit": 200, "test_limit": 100,
            "val_fraction": 0.2, "resnet_width": 4, "vit_dim": 16, "vit_depth": 1, "vit_heads": 2, "vit_patch": 8,
            "epochs": 2, "batch_size": 32, "warmup_epochs": 0.0, "resnet_lrs": [0.003, 0.01], "resnet_wds": [0.05],
            "vit_lrs": [0.001, 0.003], "vit_wds": [0.05], "sweep_epochs": 1, "sweep_fraction": 1.0, "seeds": 2,
            "data_fractions": [0.5, 1.0], "seed002_epochs": 1, "seed002_batch_size": 64, "seed002_resnet_width": 4,
            "seed002_vit_dim": 16, "seed002_vit_depth": 1, "seed002_vit_heads": 2, "resume": False, **changes}


@pytest.fixture(scope="module")
def cells(tmp_path_factory, small_cifar_root):
    """The notebook's namespace up to its own CutMix (imports, setup and data only: seconds)."""
    with project_folder(tmp_path_factory.mktemp("project")) as project:
        yield run_notebook(NB, tiny(small_cifar_root), project=project, stop_after="cutmix_own")


def test_cutmix_lambda_is_the_pasted_area_of_a_known_clipped_box(cells, monkeypatch):
    cutmix = cells["cutmix"]
    images = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 16, 16).clone()  # image i is all i
    labels = torch.tensor([0, 1, 2, 3])
    monkeypatch.setattr(torch.distributions.Beta, "sample", lambda self, shape=(): torch.tensor([0.75]))
    centres = iter([torch.tensor([1]), torch.tensor([14])])  # x then y: a corner box, clipped on two sides
    monkeypatch.setattr(torch, "randint", lambda high, size: next(centres))
    mixed, soft = cutmix(images, labels, 10, alpha=1.0)
    # drawn λ 0.75 -> sides sqrt(0.25) * 16 = 8 -> half 4: x in [1-4, 1+4) -> [0, 5), y in [10, 18) -> [10, 16)
    box = torch.zeros(16, 16, dtype=torch.bool)
    box[10:16, 0:5] = True
    assert torch.equal(mixed[2, 0] == 1, box), "image 2 got image 1's pixels exactly inside the clipped box"
    assert torch.equal(mixed[0, 0][box], torch.full((30,), 3.0)), "image 0 pairs with the last image"
    area = 30 / 256
    assert soft[2, 2].item() == pytest.approx(1 - area) and soft[2, 1].item() == pytest.approx(area)
    assert soft[2, 2].item() != pytest.approx(0.75), "not the drawn λ (seed 002's mistake)"
    assert torch.allclose(soft.sum(1), torch.ones(4))


@pytest.mark.parametrize("size, alpha", [(8, 1.0), (32, 1.0), (32, 0.4)])
def test_cutmix_equals_torchvision_on_the_same_draws(cells, size, alpha):
    cutmix = cells["cutmix"]
    images, labels = torch.rand(16, 3, size, size), torch.randint(0, 100, (16,))
    for draw in range(50):
        torch.manual_seed(draw)
        ours = cutmix(images, labels, 100, alpha)
        torch.manual_seed(draw)
        theirs = v2.CutMix(alpha=alpha, num_classes=100)(images, labels)
        assert torch.equal(ours[0], theirs[0]) and torch.allclose(ours[1], theirs[1], atol=1e-7)


@pytest.mark.timeout(240)
def test_notebook_with_cutmix_replaced_by_the_identity_trains_on_hard_labels(tmp_project, small_cifar_root):
    identity = "def mix_batch(x, y):  # a learner's edit: no CutMix\n    return x, y\n"
    ns = run_notebook(NB, tiny(small_cifar_root), replace={"cutmix": identity}, project=tmp_project)
    with_cutmix = ns["results"]["vit"][0].history
    assert with_cutmix["train_acc"].notna().all(), "hard labels again: the training accuracy is measured"
    for family in ("resnet18", "vit"):
        assert ns["test_accs"][family] == ns["test_accs"][f"{family}_no_cutmix"]
    content = json.loads(ns["run"].writer.path.read_text())
    metrics = {m["name"]: m for m in content["metrics"]}
    assert metrics["cutmix_gain_vit"]["value"] == 0 and metrics["cutmix_gain_resnet18"]["value"] == 0
    assert metrics["cutmix_max_diff_vs_torchvision"]["value"] == 0  # the written-out CutMix is untouched
    assert metrics["params_seed002_vit_full_size"]["value"] == 11_139_844
    for name in ("seed002_recipe_test_acc_resnet18", "seed002_recipe_test_acc_vit"):
        context = metrics[name]["context"]
        assert "(seed: CIFAR-100 (real)" in context["differs"] and "cutmix_lambda" in context["differs"]
        assert context["used"]["cutmix_share"] == 1.0 and context["used"]["cutmix_alpha"] == 1.0


@pytest.mark.timeout(240)
def test_notebook_with_cutmix_trains_on_mixed_labels(tmp_project, small_cifar_root):
    ns = run_notebook(NB, tiny(small_cifar_root, seeds=1, data_fractions=[1.0], seed002_recipe=False,
                               imagenet_stem_control=False), project=tmp_project)
    assert ns["results"]["vit"][0].history["train_acc"].isna().all(), "mixed labels have no training accuracy"
    assert ns["results"]["vit_no_cutmix"][0].history["train_acc"].notna().all()
    losses = [ns["results"][key][0].history["train_loss"] for key in ("resnet18", "resnet18_no_cutmix")]
    assert not losses[0].equals(losses[1]), "CutMix changes what is trained"
