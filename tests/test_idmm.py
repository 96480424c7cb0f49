"""IDMM: instance labels, multi-crop, the N-way head, CutMix variants, resampling, the linear protocol."""
import pandas as pd
import pytest
import torch

from picseq_utils import idmm
from picseq_utils import notebook as nb
from training_helpers import COMPARED


def images(n=10, size=32):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_instance_labels_are_0_to_n_minus_1_and_stable_across_epochs_and_crops():
    loader = idmm.MultiCropLoader(images(10), 4, 16, large=2, small=4, color=False, seed=0)
    seen = {}
    for epoch in range(2):
        loader.set_epoch(epoch)
        for x, y in loader:
            assert x.shape == (len(y), 3, 16, 16)
            per_image = y.view(6, -1)  # crop-major: the same images in every crop block
            assert (per_image == per_image[0]).all()
            for label in per_image[0].tolist():
                seen.setdefault(label, 0)
                seen[label] += 1
    assert sorted(seen) == list(range(10)) and set(seen.values()) == {2}
    assert loader.num_samples == 60 and len(loader) == 3


def test_multicrop_views_have_the_official_scales():
    """On a horizontal ramp, a crop's value range is its box width: large views (scale >= 0.14) span at
    least sqrt(0.14 * 3/4) of the width, small views (scale <= 0.4) at most sqrt(0.4 * 4/3)."""
    ramp = torch.linspace(0, 1, 200).view(1, 1, 1, 200).expand(40, 3, 200, 200)
    loader = idmm.MultiCropLoader(images(1, 200), 40, 64, large=2, small=4, color=False)
    views = loader.views(ramp, torch.Generator().manual_seed(0)).view(6, 40, 3, 64, 64)
    spans = views[..., 0, 32, :].amax(-1) - views[..., 0, 32, :].amin(-1)  # (crop, image)
    assert views.shape == (6, 40, 3, 64, 64)
    assert spans[:2].min() >= (0.14 * 3 / 4) ** 0.5 - 0.02
    assert spans[2:].max() <= (0.4 * 4 / 3) ** 0.5 + 0.02
    assert spans[2:].mean() < spans[:2].mean()


def test_box_cutmix_weights_follow_the_pasted_area_and_the_max_lambda_option():
    x = torch.arange(6, dtype=torch.float32).view(6, 1, 1, 1).expand(6, 3, 20, 20).clone()
    y = torch.arange(6)
    torch.manual_seed(0)
    for _ in range(20):
        mixed, target = idmm.BoxCutMix(6, alpha=0.5, max_lambda=True)(x, y)
        kept = (mixed[0, 0] == 0).float().mean()
        assert target[0, 0] == pytest.approx(kept.item(), abs=1e-6) and kept >= 0.5 - 1e-6
    mixed, target = idmm.BoxCutMix(6, alpha=0.5)(x, y)  # torchvision's CutMix
    assert target.shape == (6, 6) and torch.allclose(target.sum(1), torch.ones(6))


@pytest.fixture
def experiment(tmp_project):
    ns = {}
    nb.begin(ns)
    ns.update(profile="smoke", seed=0, device="cpu", dataset="digits", data_source="auto", data_root="data",
              vit_dim=16, vit_depth=1, vit_heads=2, patch_size=4, pretrain_size=8, finetune_size=16, large_crops=1,
              small_crops=1, pretrain_epochs=1, pretrain_batch=64, pretrain_lr=1e-3, pretrain_wd=1e-3,
              warmup_epochs=0.0, label_smoothing=0.1, cutmix_alpha=0.5, cutmix_max_lambda=False, finetune_epochs=1,
              finetune_batch=64, finetune_lr=1e-3, finetune_wd=0.05, probe_epochs=2, probe_lr=1e-2,
              pretrain_fractions=[0.5, 1.0], ablations=False, imagenet_weights=True, seeds=1, probe_dataset="", val_fraction=0.0,
              resume=False)
    run = nb.setup("06_idmm_small_data_pretraining", ns, quiet=True)
    return idmm.Experiment(run, idmm.load_small_data(run.params), run.params)


def test_head_width_is_the_number_of_pretraining_images_and_weights_move_to_the_finetune_model(experiment):
    state, result, n = experiment.pretrain(fraction=0.25)
    assert n == round(0.25 * len(experiment.data.train)) and state["head.weight"].shape == (n, 16)
    assert result.history["train_loss"].notna().all()
    finetuned = experiment.finetune(state, name="ft")
    model = finetuned["result"].model
    assert model.pos_embed.shape == (1, 1 + 4 * 4, 16) and state["pos_embed"].shape == (1, 1 + 2 * 2, 16)
    assert model.head.out_features == 10 and 0 <= finetuned["test_acc"] <= 1


def test_linear_probe_leaves_the_backbone_unchanged(experiment):
    state, _, _ = experiment.pretrain(fraction=0.25)
    probe = experiment.linear_probe(state)
    assert probe["backbone_unchanged"] is True and 0 <= probe["test_acc"] <= 1


def test_comparison_and_size_study_tables(experiment):
    table, histories = idmm.comparison(experiment, {"random init": None}, seeds=1)
    assert list(table["initialisation"]) == ["random init"] and table["seeds"].iloc[0] == 1
    # no validation split (the paper's protocol): the curve is the test accuracy, watched per epoch
    assert experiment.curve_split == "test" and histories["random init"]["val_acc"].notna().all()
    sizes = idmm.pretrain_size_study(experiment, [0.5, 1.0], full={"fine": 0.5, "probe": 0.4})
    assert sizes["fraction"].tolist() == [0.5, 1.0] and sizes["fine-tune test acc"].iloc[1] == 0.5


def test_step_comparison_records_the_paired_gain_with_its_spread(experiment):
    import json

    state, _, _ = experiment.pretrain(fraction=0.5)
    experiment.p["seeds"] = 2
    table = idmm.step_comparison(experiment, {idmm.RANDOM: None, idmm.IDMM: state}, seeds=2)
    metrics = {m["name"]: m for m in json.loads(experiment.run.writer.path.read_text())["metrics"]}
    runs = table.set_index("initialisation")["fine-tune runs"]
    gains = [a - b for a, b in zip(runs[idmm.IDMM], runs[idmm.RANDOM])]
    assert metrics["idmm_gain_finetune"]["value"] == pytest.approx(sum(gains) / 2)
    assert metrics["idmm_gain_finetune"]["context"]["n"] == 2 and "std" in metrics["idmm_gain_finetune"]["context"]
    assert metrics["finetune_test_acc_idmm"]["provenance"] == ["bundled"]
    assert "last epoch reported" in metrics["finetune_test_acc_random"]["context"]["conditions"]
    assert any(f["path"].endswith("finetune_curves.png") for f in experiment.run.writer.content["figures"])


def test_imagenet_initialisation_needs_a_deit_tiny_shape(experiment):
    state, info = experiment.imagenet_state()
    assert state is None and info["weights"] == "not applicable"


def test_parameter_checks():
    from picseq_utils.params import ParameterError, validate
    from picseq_utils.nbtools import parameters_cell
    import nbformat
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "notebooks" / "06_idmm_small_data_pretraining.ipynb"
    p = parameters_cell(nbformat.read(str(path), as_version=4))
    with pytest.raises(ParameterError, match="patch_size=5 must divide"):
        validate("06_idmm_small_data_pretraining", {**p, "patch_size": 5})
    with pytest.raises(ParameterError, match="at least one multi-crop view"):
        validate("06_idmm_small_data_pretraining", {**p, "large_crops": 0, "small_crops": 0})


def test_transfer_probe_uses_another_data_set(experiment):
    table = idmm.transfer_probe(experiment, {"random init": None}, "digits")
    assert table["probe data"].iloc[0] == "digits (bundled)" and table["backbone unchanged"].all()
    assert table.attrs["data"].provenance.kind == "bundled"


# Moved from test_determinism.py.
def test_idmm_pretraining_and_fine_tuning_repeat_exactly(tmp_project):
    from picseq_utils import idmm, notebook as nb

    def once():
        ns = {}
        nb.begin(ns)
        ns.update(profile="smoke", seed=0, device="cpu", dataset="digits", data_source="auto", data_root="data",
                  vit_dim=16, vit_depth=1, vit_heads=2, patch_size=4, pretrain_size=8, finetune_size=16,
                  large_crops=1, small_crops=1, pretrain_epochs=2, pretrain_batch=128, pretrain_lr=1e-3,
                  pretrain_wd=1e-3, warmup_epochs=0.0, label_smoothing=0.1, cutmix_alpha=0.5, cutmix_max_lambda=True,
                  finetune_epochs=1, finetune_batch=128, finetune_lr=1e-3, finetune_wd=0.05, probe_epochs=1,
                  probe_lr=1e-2, pretrain_fractions=[1.0], ablations=False, imagenet_weights=False, seeds=1,
                  probe_dataset="", val_fraction=0.0, resume=False)
        run = nb.setup("06_idmm_small_data_pretraining", ns, quiet=True)
        exp = idmm.Experiment(run, idmm.load_small_data(run.params), run.params)
        state, pretrain, _ = exp.pretrain(fraction=0.25)
        tuned = exp.finetune(state, name="ft")
        return pretrain.history, tuned["result"].history, tuned["test_acc"]

    (pre_a, fine_a, acc_a), (pre_b, fine_b, acc_b) = once(), once()
    pd.testing.assert_frame_equal(pre_a[COMPARED], pre_b[COMPARED])
    pd.testing.assert_frame_equal(fine_a[COMPARED], fine_b[COMPARED])
    assert acc_a == acc_b
