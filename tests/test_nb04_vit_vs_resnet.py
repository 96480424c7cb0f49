"""Notebook 04: its exported methods (data with a validation split, the models, one training run, the tuning helpers)
and the notebook itself on tiny data: the metrics the report reads, seed 003's recipe as its own runs, notebook 03's
contract (the ViT of seed 0 in ``vit_seed0``), a reassigned parameter taking effect."""
import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import torch
from torchvision.transforms import v2

from picseq_lessons import vit_vs_resnet_cifar10 as lesson
from picseq_utils.models import build_model, count_parameters
from picseq_utils.params import parameters_cell
from picseq_utils.params import ParameterError, validate
from tests.notebook_runner import run_notebook

ROOT = Path(__file__).resolve().parents[1]
NB = "04_vit_vs_resnet_cifar10"


def defaults(name=NB):
    return parameters_cell(nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4))


def tiny(root, **changes):
    """Notebook 04 at the smallest size that takes every code path (two seeds: the paired interval)."""
    return {"device": "cpu", "data_source": "standin", "data_root": str(root), "train_limit": 200, "test_limit": 100,
            "val_fraction": 0.2, "resnet_width": 4, "vit_dim": 16, "vit_depth": 1, "vit_heads": 2, "vit_patch": 8,
            "epochs": 2, "batch_size": 32, "warmup_epochs": 0.0, "resnet_lrs": [0.003, 0.01], "resnet_wds": [0.05],
            "vit_lrs": [0.001, 0.003], "vit_wds": [0.05], "sweep_epochs": 1, "sweep_fraction": 1.0, "seeds": 2,
            "data_fractions": [0.5, 1.0], "seed003_image_size": 32, "seed003_resnet_width": 4, "seed003_vit_dim": 16,
            "seed003_vit_depth": 1, "seed003_vit_heads": 2, "seed003_resnet_epochs": 2, "seed003_resnet_step": 1,
            "seed003_vit_epochs": 1, "resume": False, **changes}


def test_study_data_keeps_native_sizes_and_carves_a_class_balanced_validation_split(small_cifar_root):
    digits = lesson.load_study_data("digits", "auto", None, val_fraction=0.1)
    assert digits.image_shape == (3, 8, 8) and digits.provenance.kind == "bundled"
    assert torch.bincount(digits.val.labels).min() >= 14 and len(digits.train) + len(digits.val) == 1797 - 359
    cifar = lesson.load_study_data("cifar10", "standin", small_cifar_root, train_limit=200, test_limit=100,
                                   val_fraction=0.2)
    assert (len(cifar.train), len(cifar.val), len(cifar.test)) == (160, 40, 100)
    assert torch.bincount(cifar.val.labels).tolist() == [4] * 10
    assert not lesson.MIRROR_SAFE["digits"] and lesson.NATIVE_SIZE["cifar100"] == 32


def test_full_size_families_are_parameter_matched_and_the_vit_is_notebook_03s_contract():
    with torch.device("meta"):
        counts = {f: count_parameters(lesson.make_model(f, 10, 32)) for f in lesson.FAMILIES}
    assert counts["resnet18"] == 11_173_962 and counts["resnet18_imagenet_stem"] == 11_181_642
    assert abs(counts["vit"] / counts["resnet18"] - 1) < 0.01
    p = defaults()
    ours = lesson.make_model("vit", 10, 32, p["resnet_width"], p["vit_patch"], p["vit_dim"], p["vit_depth"],
                             p["vit_heads"], p["vit_pool"])
    theirs = build_model("vit_cifar", 10, image_size=32, patch_size=p["vit_patch"], dim=p["vit_dim"],
                         depth=p["vit_depth"], heads=p["vit_heads"], pool=p["vit_pool"])
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    with pytest.raises(ValueError, match="valid: resnet18, vit, resnet18_imagenet_stem"):
        lesson.make_model("densenet", 10, 32)


def test_best_point_takes_the_top_validation_accuracy_and_ties_go_to_the_lower_loss():
    sweep = pd.DataFrame({"lr": [0.1, 0.2, 0.3], "weight_decay": [0.0, 0.0, 0.1], "val_acc": [0.5, 0.7, 0.7],
                          "val_loss": [1.0, 0.9, 0.8]})
    assert lesson.best_point(sweep) == (0.3, 0.1)
    assert lesson.on_edge(0.3, [0.1, 0.2, 0.3]) and not lesson.on_edge(0.2, [0.1, 0.2, 0.3])
    assert not lesson.on_edge(0.1, [0.1, 0.2]), "with two values every choice is on an edge: no warning"


def test_sometimes_mixes_a_share_of_the_batches_and_names_itself():
    x, y = torch.rand(4, 3, 8, 8), torch.arange(4)
    never = lesson.Sometimes(v2.CutMix(alpha=1.0, num_classes=10), 0.0)
    assert never(x, y)[1] is y
    mixed_x, soft = lesson.Sometimes(v2.CutMix(alpha=1.0, num_classes=10), 1.0)(x, y)
    assert soft.shape == (4, 10) and torch.allclose(soft.sum(1), torch.ones(4))
    assert repr(never) == "Sometimes(CutMix(alpha=1.0, num_classes=10), p=0.0)"


def test_a_seed_recipe_computes_what_a_run_did_differently_from_its_table():
    """Seed 003's recipe table (the YAML beside notebook 04): the differences are computed from the values a run
    used, a translation is listed with its reason, and a run must name every entry."""
    from picseq_utils.recipes import RecipeError, Translated, seed_recipes

    resnet = seed_recipes(NB, "003")["resnet18"]
    used = {key: resnet[key] for key in resnet.entries}
    assert resnet.differs(used) == [], "the recipe as stated differs in nothing"
    used.update(epochs=3, flip=Translated(False, "a mirrored digit is another symbol"))
    rows = {row["what"]: row for row in resnet.differs(used)}
    assert set(rows) == {"epochs", "flip"} and rows["epochs"]["stated"] == 25 and rows["epochs"]["section"]
    assert rows["flip"]["translated"] == "a mirrored digit is another symbol"
    assert resnet.entries["lr_step_epoch"].assumed and resnet.entries["lr_step_epoch"].note
    with pytest.raises(RecipeError, match="missing \\['batch_size'\\]"):
        resnet.differs({k: v for k, v in used.items() if k != "batch_size"})


def test_train_model_is_deterministic_and_resumes_only_the_same_pipeline(tmp_path, small_cifar_root):
    data = lesson.load_study_data("cifar10", "standin", small_cifar_root, train_limit=100, test_limit=50)
    mean, std = data.mean_std()

    def train(mix=None, folder=None):
        return lesson.train_model(lambda: lesson.make_model("resnet18", 10, 32, resnet_width=4), data.train, data.val,
                                  mean=mean, std=std, batch_size=32, seed=3, device="cpu", mix=mix, epochs=2, lr=0.01,
                                  progress=False, checkpoint_dir=folder)

    first, again = train(), train()
    pd.testing.assert_frame_equal(first.history.drop(columns=["seconds", "images_per_s", "data_wait", "elapsed"]),
                                  again.history.drop(columns=["seconds", "images_per_s", "data_wait", "elapsed"]))
    assert train(folder=tmp_path / "run").resumed_from == 0
    assert train(folder=tmp_path / "run").resumed_from == 2, "the same run resumes from its last checkpoint"
    cutmix = lesson.Sometimes(v2.CutMix(alpha=1.0, num_classes=10), 1.0)
    changed = train(mix=cutmix, folder=tmp_path / "run")
    assert changed.resumed_from == 0, "another data pipeline (CutMix) is a new run, not a resumed one"
    assert changed.history["train_acc"].isna().all(), "no training accuracy against mixed labels"
    assert 0 <= lesson.test_accuracy(changed.model, data.test, mean=mean, std=std, device="cpu") <= 1


@pytest.mark.timeout(300)
def test_the_notebooks_visible_checks_stop_unequal_budgets_a_patch_that_does_not_divide_and_bad_seed003_sizes(
        tmp_project, small_cifar_root):
    """The cross-parameter rules sit in the cells where they apply (not in a schema): each stops the run there."""
    with pytest.raises(AssertionError, match="unequal tuning budgets"):
        run_notebook(NB, tiny(small_cifar_root, vit_lrs=[0.001]), project=tmp_project)
    with pytest.raises(ValueError, match="vit_patch=3 must divide the 8-px images"):
        run_notebook(NB, tiny(small_cifar_root, dataset="digits", data_source="auto", vit_patch=3, vit_dim=64),
                     project=tmp_project)
    with pytest.raises(AssertionError, match="seed003_image_size=40 must be a multiple of 16"):
        run_notebook(NB, tiny(small_cifar_root, seed003_image_size=40, seeds=1, data_fractions=[1.0],
                              imagenet_stem_control=False, epochs=1), project=tmp_project)
    assert validate(NB, {**defaults(), "dataset": "digits", "vit_patch": 2})["dataset"] == "digits"


@pytest.mark.timeout(180)
def test_notebook_records_the_reports_metrics_and_seed_003s_recipe(tmp_project, small_cifar_root):
    ns = run_notebook(NB, tiny(small_cifar_root), project=tmp_project)
    content = json.loads(ns["run"].writer.path.read_text())
    metrics = {m["name"]: m for m in content["metrics"]}
    for family in ("resnet18", "vit", "resnet18_imagenet_stem"):
        entry = metrics[f"test_acc_{family}"]
        assert entry["unit"] == "accuracy" and entry["provenance"] == ["standin"]
        assert entry["context"]["n"] == 2 and entry["context"]["std"] is not None
        assert entry["context"]["budget"].startswith("equal budget")
        tta = metrics[f"seconds_to_val_40pct_{family}"]["context"]
        assert tta["target"] == 0.4 and isinstance(tta["reached"], bool)
        assert metrics[f"train_seconds_{family}"]["value"] > 0 and metrics[f"images_per_s_{family}"]["value"] > 0
    assert {"test_acc_resnet18_fraction_0.5", "test_acc_vit_fraction_1"} <= set(metrics)
    diff = metrics["test_acc_diff_vit_minus_resnet18"]
    assert diff["context"]["ci_low"] <= diff["value"] <= diff["context"]["ci_high"]
    for name in ("seed003_recipe_test_acc_resnet18_scratch", "seed003_recipe_test_acc_vit_b16_scratch"):
        context = metrics[name]["context"]
        assert 0 <= metrics[name]["value"] <= 1 and context["used"]["optimizer"] == "adam"
        assert "image_size: 32 (seed: 224" in context["differs"] and "(seed: CIFAR-10 (real)" in context["differs"]
    offline = metrics["seed003_recipe_test_acc_vit_b16_imagenet"]
    assert offline["value"] is None and offline["context"]["note"], "no weights: said so, and no number"
    assert content["findings"]["lines"] and "pipeline check" in content["findings"]["caveat"]
    # notebook 03's contract: the ViT of seed 0 sits in vit_seed0 and loads into the documented builder
    from picseq_utils.checkpoint import Checkpointer

    from picseq_utils.paths import checkpoints_dir

    state = Checkpointer(checkpoints_dir("smoke", ns["run"].key(), "vit_seed0")).load_latest()
    model = build_model("vit_cifar", 10, image_size=32, patch_size=8, dim=16, depth=1, heads=2, pool="avg")
    model.load_state_dict(state["model"])
    assert ns["results"]["vit"][0].history["val_acc"].iloc[-1] == state["history"][-1]["val_acc"]


@pytest.mark.timeout(120)
def test_a_width_reassigned_after_setup_changes_the_next_run(tmp_project, small_cifar_root):
    params = tiny(small_cifar_root, seed003_recipe=False, imagenet_stem_control=False, seeds=1, data_fractions=[1.0])
    ns = run_notebook(NB, params, project=tmp_project, stop_after="recipe")
    study = ns["study"]
    before = count_parameters(ns["new_model"](study, "vit"))
    ns["vit_dim"] = 32  # a learner's edit in a later cell
    assert count_parameters(ns["new_model"](study, "vit")) > before
    result = ns["picseq_run"](study, "vit", 0.001, 0.05, 1)
    assert result.model.pos_embed.shape[-1] == 32
    ns["run"].record("probe", 1.0)  # the next record notices the change and records it
    assert ns["run"].params["vit_dim"] == 32


def test_a_study_sent_to_a_worker_leaves_the_kernels_own_variables_behind():
    """In a kernel, get_ipython and exit hold IPython's history (a sqlite connection that cannot be pickled):
    run.map failed on them until the Study sent only the notebook's variables."""
    import sqlite3

    import cloudpickle

    from picseq_lessons.vit_vs_resnet_cifar10 import Study

    class Shell:
        def __init__(self):
            self.history = sqlite3.connect(":memory:")

        def get_ipython(self):
            return self

    shell = Shell()
    study = Study({"get_ipython": shell.get_ipython, "exit": shell, "_oh": {1: shell}, "epochs": 3,
                   "data": torch.arange(4)})
    with pytest.raises(TypeError):
        cloudpickle.dumps(shell)
    sent = cloudpickle.loads(cloudpickle.dumps(study))
    assert sent.epochs == 3 and torch.equal(sent.data, torch.arange(4))
    assert not hasattr(sent, "get_ipython") and study.get_ipython is not None, "the notebook keeps its own"
