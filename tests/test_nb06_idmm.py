"""Notebook 06 (IDMM): instance targets, multi-crop, CutMix of instance labels (the paper's and the official
formulation), the head-row count, position-embedding resampling, determinism, and the notebook run with a method
cell replaced. The methods are the notebook's own cells, run by ``tests/notebook_runner`` with tiny parameters."""
import json
from collections import Counter

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from notebook_runner import run_notebook
from training_helpers import COMPARED

NB = "06_idmm_small_data_pretraining"
TINY = dict(device="cpu", vit_dim=16, vit_depth=1, vit_heads=2, pretrain_epochs=1, pretrain_batch=256, seeds=1,
            formulations=["paper"], finetune_epochs=1, finetune_batch=256, finetune_lrs=[0.002], cnn_width=8,
            probe_epochs=2, gradient_batches=1, pretrain_fractions=[], protocol_pretrain_epochs=1,
            protocol_finetune_epochs=1, protocol_highres_epochs=0, resume=False)


def methods(project, stop_after="formulations", replace=None, **params):
    """The notebook's namespace after the cell tagged ``stop_after`` (data loaded, methods defined)."""
    return run_notebook(NB, params={**TINY, **params}, project=project, stop_after=stop_after, replace=replace)


def metrics_of(namespace):
    return {m["name"]: m for m in namespace["run"].writer.content["metrics"]}


def test_instance_targets_are_fixed_across_epochs_and_crops(tmp_project):
    ns = methods(tmp_project)
    assert torch.equal(ns["instance_targets"](5), torch.arange(5))
    loader = ns["InstanceCrops"](ns["data"].train.images[:10], 4, seed=0)
    seen, first_views = Counter(), []
    for epoch in range(3):
        loader.set_epoch(epoch)
        for b, (views, targets) in enumerate(loader):
            assert views.shape == (len(targets), 3, 8, 8) and len(targets) % 6 == 0
            per_crop = targets.view(6, -1)  # 2 large + 4 small views, crop-major
            assert (per_crop == per_crop[0]).all()
            seen.update(per_crop[0].tolist())
            if b == 0:
                first_views.append((views, targets))
    assert seen == {i: 3 for i in range(10)}  # every image once per epoch, always with its own target
    assert loader.num_samples == 60 and len(loader) == 3
    (a, ya), (b, yb) = first_views[:2]
    assert not torch.equal(a, b) or not torch.equal(ya, yb)  # new crops (or order) every epoch, same targets


def test_random_resized_crop_cuts_a_box_per_image_of_the_requested_size_and_area(tmp_project):
    crop = methods(tmp_project)["random_resized_crop"]
    x = torch.arange(32.0).view(1, 1, 1, 32).expand(6, 3, 32, 32).contiguous()  # the value is the column
    out = crop(x, 16, scale=(0.2, 0.5), generator=torch.Generator().manual_seed(0))
    assert out.shape == (6, 3, 16, 16)
    widths = out[:, 0, 0, -1] - out[:, 0, 0, 0]  # column span of each crop: its own box per image
    assert len(set(widths.round(decimals=3).tolist())) == 6 and (widths < 32).all()
    assert torch.allclose(crop(x, 32, scale=(1.0, 1.0), ratio=(1.0, 1.0)), x, atol=1e-5)  # whole box: identity


def test_cutmix_targets_sum_to_one_and_weigh_the_pasted_area(tmp_project):
    cutmix = methods(tmp_project)["cutmix"]
    x = torch.arange(6.0).view(6, 1, 1, 1).expand(6, 3, 10, 10).clone()  # view i is filled with the value i
    y = torch.arange(6)
    rows = torch.arange(6)
    for draw in range(40):
        torch.manual_seed(draw)
        mixed, target = cutmix(x, y, 6, 0.5)
        pasted = (mixed[:, 0] != x[:, 0]).float().mean((1, 2))
        assert torch.allclose(target.sum(1), torch.ones(6))
        assert torch.allclose(target[rows, (rows - 1) % 6], pasted)  # the partner is the previous view
        assert torch.allclose(target[rows, rows], 1 - pasted)
        assert (mixed[:, 0][mixed[:, 0] != x[:, 0]] == ((rows - 1) % 6).float().view(6, 1, 1).expand(6, 10, 10)[
            mixed[:, 0] != x[:, 0]]).all()
        torch.manual_seed(draw)
        _, target = cutmix(x, y, 6, 0.5, max_lambda=True)
        assert (target[rows, rows] >= 0.5).all()  # lambda = max(lambda, 1 - lambda): never the smaller part


def test_cutmix_equals_torchvision_on_the_same_draws(tmp_project):
    from torchvision.transforms import v2

    cutmix = methods(tmp_project)["cutmix"]
    x, y = torch.rand(7, 3, 12, 12), torch.arange(7)
    for draw in range(30):
        torch.manual_seed(draw)
        theirs = v2.CutMix(alpha=0.5, num_classes=9)(x, y)
        torch.manual_seed(draw)
        ours = cutmix(x, y, 9, 0.5)
        assert torch.equal(ours[0], theirs[0]) and torch.allclose(ours[1], theirs[1])


def test_official_mix_mixes_within_each_crop_group_with_its_own_lambda(tmp_project):
    ns = methods(tmp_project)
    images = 5
    x = torch.arange(30.0).view(30, 1, 1, 1).expand(30, 3, 8, 8).clone()  # 10 large views, then 20 small ones
    y = torch.arange(images).repeat(6)
    areas_differ = False
    for draw in range(20):
        torch.manual_seed(draw)
        mixed, target = ns["official_mix"](images)(x, y)
        assert mixed[:10].max() < 10 and mixed[10:].min() >= 10  # pixels never cross the groups
        assert torch.allclose(target.sum(1), torch.ones(30))
        changed = (mixed[:, 0] != x[:, 0]).float().mean((1, 2))
        large, small = changed[:10][changed[:10] > 0], changed[10:][changed[10:] > 0]
        for group in (large, small):  # one box per group (self-pairs change nothing)
            assert len(group) == 0 or (torch.allclose(group, group[0].expand_as(group)) and group[0] <= 0.5)
        if len(large) and len(small) and not torch.isclose(large[0], small[0]):
            areas_differ = True
    assert areas_differ, "each group draws its own lambda"


def test_official_loss_is_the_sum_of_the_group_means(tmp_project):
    loss = methods(tmp_project)["official_loss"]
    logits, targets = torch.randn(30, 7), F.one_hot(torch.randint(7, (30,)), 7).float()
    expected = F.cross_entropy(logits[:10], targets[:10]) + F.cross_entropy(logits[10:], targets[10:])
    assert torch.allclose(loss(logits, targets), expected)


class FixedLogits(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.unused = nn.Parameter(torch.zeros(()))  # a device for ``infer`` to read

    def forward(self, x):
        return self.logits[: len(x)]


def test_moved_rows_counts_the_rows_each_view_moves(tmp_project):
    moved_rows = methods(tmp_project, stop_after="head-rows")["moved_rows"]
    n = 200  # uniform predictions: p = 1/200 = 0.005 < 0.01 for every negative
    model, views = FixedLogits(torch.zeros(4, n)), torch.zeros(4, 3, 8, 8)
    one_hot = torch.tensor([3, 3, 7, 9])
    assert moved_rows(model, views, one_hot, 0.0) == pytest.approx((1.0, 3 / n))
    assert moved_rows(model, views, one_hot, 0.1) == pytest.approx((1.0, 3 / n))  # eps / N = 5e-4: too small to count
    mixed = 0.7 * F.one_hot(one_hot, n).float() + 0.3 * F.one_hot(torch.tensor([1, 2, 3, 4]), n).float()
    assert moved_rows(model, views, mixed, 0.0) == pytest.approx((2.0, 6 / n))  # rows 1, 2, 3, 4, 7, 9


def test_position_embeddings_are_resampled_as_timm_does(tmp_project):
    from timm.layers import resample_abs_pos_embed

    ns = methods(tmp_project, stop_after="resample")
    pos = torch.randn(1, 1 + 3 * 3, 8)
    for grid in (3, 5, 6):
        assert torch.allclose(ns["resample_pos_embed"](pos, grid), resample_abs_pos_embed(pos, [grid, grid]), atol=1e-6)
    assert ns["resampled"].pos_embed.shape == (1, 1 + 4 * 4, 16) and ns["resample_check"].passed  # 8 px -> 16 px at patch 4: 2x2 -> 4x4 tokens


# Moved from test_determinism.py: pretraining and fine-tuning repeat exactly with the same seed.
def test_idmm_pretraining_and_fine_tuning_repeat_exactly(tmp_project):
    ns = methods(tmp_project, stop_after="finetune", formulations=["official"])
    images = ns["data"].train.images[:200]

    def once():
        pre = ns["pretrain"]("official", 0, images, epochs=2, batch=64)
        tuned = ns["finetune"](pre.model.state_dict(), 0, 2e-3, "ft", epochs=2)
        return pre.history, tuned.history, tuned.model.head.weight.detach().clone()

    (pre_a, fine_a, head_a), (pre_b, fine_b, head_b) = once(), once()
    pd.testing.assert_frame_equal(pre_a[COMPARED], pre_b[COMPARED])
    pd.testing.assert_frame_equal(fine_a[COMPARED], fine_b[COMPARED])
    assert torch.equal(head_a, head_b)


REPLACED_TARGETS = "def instance_targets(n):\n    return torch.zeros(n, dtype=torch.long)\n"


def test_one_target_for_every_image_collapses_the_pretraining_loss(tmp_project):
    """Replacing the instance-target cell (every image -> class 0) turns instance discrimination into a
    one-class problem: the whole-image cross-entropy collapses from about ln N to about 0."""
    params = dict(formulations=["official"], pretrain_epochs=2, pretrain_batch=32, pretrain_lr=0.01)
    normal = methods(tmp_project, stop_after="pretrain-loop", **params)
    replaced = methods(tmp_project, stop_after="pretrain-loop", replace={"instance-targets": REPLACED_TARGETS}, **params)
    chance = normal["chance"]
    before, after = normal["pretrained"]["official", 0].final, replaced["pretrained"]["official", 0].final
    assert before["val_loss"] > 0.8 * chance and before["val_acc"] < 0.05
    assert after["val_loss"] < 0.1 * chance and after["val_acc"] == 1.0
    assert metrics_of(replaced)["pretrain_instance_ce_official"]["value"] == pytest.approx(after["val_loss"])


REPLACED_CUTMIX = "def cutmix(x, y, num_classes, alpha, **options):\n    return x, F.one_hot(y, num_classes).float()\n"


def test_cutmix_replaced_by_the_identity_leaves_each_view_one_head_row(tmp_project):
    """The official formulation mixes through the notebook's ``cutmix``: with the identity in its place each view
    moves exactly one head row (its own image's) instead of more (two wherever a box was pasted), and the notebook's
    check says it no longer matches torchvision."""
    def official_rows(ns):
        rows = pd.DataFrame(ns["head_rows"]).set_index("variant")
        return rows.loc["official: per-group CutMix", "rows moved per view"]

    params = dict(gradient_batches=6, pretrain_batch=64)  # 12 draws of the per-group boxes, some of them non-empty
    normal = methods(tmp_project, stop_after="head-rows", **params)
    replaced = methods(tmp_project, stop_after="head-rows", replace={"cutmix": REPLACED_CUTMIX}, **params)
    assert official_rows(normal) > 1.1 and normal["cutmix_checks"][0].passed  # ~1.3 at 8 px: small boxes round away
    assert official_rows(replaced) == 1.0 and not replaced["cutmix_checks"][0].passed


def test_the_notebook_records_every_arm_the_protocol_row_and_computed_findings(tmp_project):
    ns = run_notebook(NB, params={**TINY, "seeds": 2, "probe_dataset": "digits", "pretrain_fractions": [0.5],
                                  "protocol_highres_epochs": 1}, project=tmp_project)
    saved = json.loads(ns["run"].writer.path.read_text())
    metrics = {m["name"]: m for m in saved["metrics"]}
    for arm in ("random_init_vit", "idmm_paper", "small_cnn"):
        entry = metrics[f"test_acc_{arm}"]
        assert entry["unit"] == "accuracy" and entry["context"]["n"] == 2 and "std" in entry["context"]
        assert entry["provenance"] == ["bundled"] and "not converged" in entry["context"]["conditions"]
    assert 0 <= metrics["test_acc_logistic_regression"]["value"] <= 1
    protocol = metrics["seed004_protocol_test_acc_idmm"]["context"]
    differs = {row["what"]: row for row in protocol["differences"]}
    assert (differs["pretrain_epochs"]["used"], differs["pretrain_epochs"]["stated"]) == (1, 800)
    assert (differs["training_images"]["used"], differs["training_images"]["stated"]) == (1438, 2040)
    assert differs["data"]["used"] == "digits (bundled)" and "lr" not in differs and "batch_size" not in differs
    assert ns["protocol_label"] == "seed 004 protocol (shorter protocol)"
    assert "transfer_probe_test_acc_digits_idmm_paper" in metrics
    assert "linear_probe_test_acc_pretrain_fraction_0.5" in metrics and "idmm_gain_finetune" in metrics
    assert saved["status"] == "complete" and any("too few for a claim" in line  # two seeds: an interval, no claim
                                                 for line in saved["findings"]["lines"])


def test_parameter_checks(tmp_project):
    """The cross-parameter rules are asserted in the cells where they apply; a choice is the schema's."""
    from pathlib import Path

    import nbformat

    from picseq_utils.params import parameters_cell
    from picseq_utils.params import ParameterError, validate

    path = Path(__file__).resolve().parents[1] / "notebooks" / f"{NB}.ipynb"
    p = parameters_cell(nbformat.read(str(path), as_version=4))
    with pytest.raises(AssertionError, match="patch_size=3 must divide"):
        run_notebook(NB, {"device": "cpu", "patch_size": 3}, project=tmp_project)
    with pytest.raises(AssertionError, match="at least one view per image"):
        run_notebook(NB, {"device": "cpu", "large_crops": 0, "small_crops": 0}, project=tmp_project,
                     stop_after="multicrop")
    with pytest.raises(ParameterError, match="not a valid choice"):
        validate(NB, {**p, "formulations": ["paper", "simclr"]})
