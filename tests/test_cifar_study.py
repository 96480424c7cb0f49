"""Notebooks 04/05: the study helpers on tiny data (sweep grid, data-size curve, CutMix, budgets)."""
from pathlib import Path

import nbformat
import pytest
import torch

from picseq_utils import cifar_study as cs
from picseq_utils import notebook as nb
from picseq_utils.nbtools import parameters_cell
from picseq_utils.params import ParameterError, validate

ROOT = Path(__file__).resolve().parents[1]


def defaults(name="04_vit_vs_resnet_cifar10"):
    return parameters_cell(nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4))


def tiny_params(root, **changes):
    p = defaults()
    p.update(device="cpu", data_source="standin", data_root=str(root), train_limit=200, test_limit=100,
             val_fraction=0.2, resnet_width=4, vit_dim=16, vit_depth=1, vit_heads=2, epochs=1, batch_size=32,
             warmup_epochs=0.0, sweep_epochs=1, sweep_fraction=1.0, resnet_lrs=[0.001, 0.01], resnet_wds=[0.0],
             vit_lrs=[0.001, 0.003], vit_wds=[0.05], data_fractions=[0.5, 1.0], resume=False)
    p.update(changes)
    return p


@pytest.fixture
def study(tmp_project, small_cifar_root):
    ns = {}
    nb.begin(ns)
    ns.update(tiny_params(small_cifar_root))
    run = nb.setup("04_vit_vs_resnet_cifar10", ns, quiet=True)
    return cs.Study(run, cs.load_study_data("cifar10", run.params), run.params)


def test_data_has_a_validation_split_and_the_limits(study):
    assert len(study.data.train) == 160 and len(study.data.val) == 40 and len(study.data.test) == 100
    assert study.data.provenance.kind == "standin"


def test_sweep_covers_the_grid_and_best_point_takes_the_top_validation_accuracy(study):
    table = study.sweep("resnet18")
    assert sorted(zip(table["lr"], table["weight_decay"])) == [(0.001, 0.0), (0.01, 0.0)]
    assert table["val_acc"].between(0, 1).all() and (table["seconds"] > 0).all()
    table.loc[:, "val_acc"] = [0.2, 0.6]
    assert cs.best_point(table) == (0.01, 0.0)
    grid = cs.sweep_grid(table)
    assert grid.shape == (2, 1) and grid.index.name == "learning rate"


def test_data_size_curve_has_one_row_per_fraction_and_reuses_the_full_run(study):
    head = study.headline("vit", 0.001, 0.05)
    assert len(head["test_accs"]) == 1 and 0 <= head["test_mean"] <= 1
    curve = study.data_size_curve("vit", 0.001, 0.05, reuse=head)
    assert curve["fraction"].tolist() == [0.5, 1.0]
    assert curve["train images"].tolist() == [80, 160]
    assert curve["val_acc"].iloc[1] == head["results"][0].final["val_acc"]


def test_notebook_steps_record_the_seed_comparison_metrics(study, tmp_project):
    import json

    chosen = {"resnet18": (0.01, 0.0), "vit": (0.001, 0.05), cs.CONTROL: (0.01, 0.0)}
    headlines, table = cs.step_compare(study, chosen)
    assert list(table["model"]) == ["resnet18", "vit", cs.CONTROL]
    content = json.loads((tmp_project / "reports/smoke/metrics/04_vit_vs_resnet_cifar10.json").read_text())
    names = {m["name"]: m for m in content["metrics"]}
    assert {"test_acc_resnet18", "test_acc_vit", "test_acc_resnet18_imagenet_stem"} <= set(names)
    assert names["test_acc_vit"]["unit"] == "accuracy" and names["test_acc_vit"]["provenance"] == ["standin"]
    assert names["test_acc_vit"]["context"]["n"] == 1


def test_cutmix_label_weights_equal_the_pasted_area():
    n, classes = 8, 10
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 16, 16).clone()
    y = torch.arange(n) % classes
    torch.manual_seed(0)
    mixed, target = cs.RandomCutMix(classes, alpha=1.0, p=1.0)(x, y)
    for i in range(n):
        kept = (mixed[i, 0] == i).float().mean()
        assert target[i, y[i]] == pytest.approx(kept.item(), abs=1e-6)
        assert target[i].sum() == pytest.approx(1.0)


def test_cutmix_probability_zero_keeps_hard_labels():
    x, y = torch.rand(4, 3, 8, 8), torch.arange(4)
    out_x, out_y = cs.RandomCutMix(10, p=0.0)(x, y)
    assert out_x is x and out_y is y


def test_parameter_table_reports_the_matched_full_size_models():
    table = cs.parameter_table(10, defaults())
    counts = dict(zip(table["model"], table["parameters"]))
    assert counts["ResNet-18, CIFAR stem (full size)"] == 11_173_962
    vit = counts["ViT patch 4, dim 320, depth 9 (parameter-matched)"]
    assert abs(vit / 11_173_962 - 1) < 0.05


def test_unequal_budgets_and_bad_patch_sizes_are_rejected():
    p = defaults()
    with pytest.raises(ParameterError, match="sweep budgets differ"):
        validate("04_vit_vs_resnet_cifar10", {**p, "vit_lrs": [0.001]})
    with pytest.raises(ParameterError, match="vit_patch=5 must divide the 32-px image size"):
        validate("05_vit_vs_resnet_cifar100_cutmix", {**defaults("05_vit_vs_resnet_cifar100_cutmix"), "vit_patch": 5})
    with pytest.raises(ValueError, match="valid: resnet18, vit, resnet18_imagenet_stem"):
        cs.build_study_model("densenet", 10, p)
