"""Every "Try this" exercise of the lessons, done as its text says (issue 22).

Each test applies the exercise's edit to the cell it names (or sets the parameter it names), runs the
notebook in-process at a tiny size that still takes the edited path, and checks the effect the text
promises. The test first checks that the exercise's text still asks for exactly that edit, so a reworded
exercise cannot drift away from its test. Tests of an exercise that live in a notebook's own test file carry
the same marker, ``@pytest.mark.exercise(notebook, number)``; the last test here finds every exercise of every
notebook and fails when one has no test.
"""
import ast
import re
from pathlib import Path

import pytest
import torch

from notebook_runner import cells, project_folder, run_notebook

ROOT = Path(__file__).resolve().parents[1]


def exercises(notebook: str) -> dict[int, str]:
    """The numbered items of a notebook's "## Try this" cell: {number: text}."""
    text = next(c.source for c in cells(notebook) if c.source.startswith("## Try this"))
    items = re.split(r"^(\d+)\. ", text.split("\n", 1)[1], flags=re.M)[1:]
    return {int(n): " ".join(body.split()) for n, body in zip(items[::2], items[1::2])}


def asks(notebook: str, number: int, *phrases: str) -> None:
    """The exercise's text still asks for this edit (whitespace-insensitive)."""
    text = exercises(notebook)[number]
    for phrase in phrases:
        assert " ".join(phrase.split()) in text, f"{notebook} exercise {number} no longer says {phrase!r}"


def edited(notebook: str, tag: str, old: str, new: str) -> str:
    """The source of the cell tagged ``tag`` with ``old`` (present exactly once) replaced by ``new``."""
    source = next(c.source for c in cells(notebook) if tag in c.metadata.get("tags", []))
    assert source.count(old) == 1, f"{notebook}'s cell {tag!r} no longer holds {old!r} once"
    return source.replace(old, new)


def metrics(namespace) -> dict:
    return {m["name"]: m["value"] for m in namespace["run"].writer.content["metrics"]}


# --- 01 · clip-consistent augmentation --------------------------------------------------------------------

NB01 = "01_clip_augmentation"
TINY01 = dict(device="cpu", n_clips=4, frame_size=32, expansion_copies=2, expansion_clips=0,
              throughput_sizes=[32], throughput_clips=1, consistency_checks=2, fire_rate_draws=2000)


@pytest.mark.exercise(NB01, 1)
def test_01_one_skew_type_moves_one_corner_per_draw(tmp_project):
    asks(NB01, 1, 'set the default `skew_types: tuple = ("CORNER",)`', "every draw now pushes one corner")
    corner = edited(NB01, "recipe", "skew_types: tuple = SKEW_TYPES", 'skew_types: tuple = ("CORNER",)')
    before = run_notebook(NB01, TINY01, stop_after="rules_table", project=tmp_project)
    after = run_notebook(NB01, TINY01, replace={"recipe": corner}, stop_after="modes", project=tmp_project)
    assert before["rules_table"]["skew types drawn"] == "CORNER, TILT, TILT_LEFT_RIGHT, TILT_TOP_BOTTOM"
    assert after["rules_table"]["skew types drawn"] == "CORNER", "the table of section 3 shows it"
    draws = [after["sample_params"](32, 32, torch.Generator().manual_seed(s)) for s in range(200)]
    assert {len(d.skew_moves) for d in draws} == {1}, "one corner pushed in every draw"
    assert len({d.skew_moves for d in draws}) == 8, "and each of the 8 corner moves is drawn"


@pytest.mark.exercise(NB01, 3)
def test_01_exact_rules_change_the_table_of_section_3(tmp_project):
    asks(NB01, 3, 'Set `augment_rules = "exact"` in the parameters cell', "the table at the end of section 3")
    tables = {rules: run_notebook(NB01, {**TINY01, "augment_rules": rules}, stop_after="rules_table",
                                  project=tmp_project)["rules_table"] for rules in ("augmentor", "exact")}
    assert tables["augmentor"]["whole degrees"] and not tables["exact"]["whole degrees"]
    for step in ("rotate", "flip"):  # 2,000 draws: the standard error of a share is about 0.011
        assert abs(tables["augmentor"][f"fires: {step}"] - 0.55) < 0.04
        assert abs(tables["exact"][f"fires: {step}"] - 0.50) < 0.04
    assert tables["augmentor"].name == "rules = 'augmentor'" and tables["exact"].name == "rules = 'exact'"


@pytest.mark.exercise(NB01, 4)
def test_01_a_generator_per_frame_breaks_both_consistency_checks(tmp_project):
    per_frame = ("draw = lambda x: torch.cat([augment_clip(x[t:t + 1], mode, torch.Generator()"
                 ".manual_seed(seed + d + t), recipe) for t in range(len(x))])")
    asks(NB01, 4, per_frame, "both checks now report a difference")
    old = "draw = lambda x: augment_clip(x, mode, torch.Generator().manual_seed(seed + d), recipe)"
    ns = run_notebook(NB01, TINY01, replace={"consistency": edited(NB01, "consistency", old, per_frame)},
                      project=tmp_project)
    assert len(ns["consistency_verdicts"]) == 4
    for verdict in ns["consistency_verdicts"]:
        assert not verdict.passed and verdict.measured > 0.05, verdict.sentence
        assert "differs from one draw for every frame" in verdict.sentence
    assert min(metrics(ns)[f"consistency_max_diff_{mode}"] for mode in ("augmentor", "torchvision")) > 0.05


# --- 02 · ResNet-embedded transformer -------------------------------------------------------------------

NB02 = "02_resnet_embedded_transformer"


@pytest.fixture(scope="module")
def project02(tmp_path_factory):
    from test_nb02_notebook import TINY

    with project_folder(tmp_path_factory.mktemp("project02")) as project:
        yield project, TINY, run_notebook(NB02, TINY, stop_after="leaky", project=project)


@pytest.mark.exercise(NB02, 1)
def test_02_one_more_ablation_variant(project02):
    project, params, _ = project02
    variant = '"learned positions, mean head": dict(position="learned", head="mean")'
    asks(NB02, 1, f"add `{variant}`")
    opening = "variants = {\n"
    ns = run_notebook(NB02, params, replace={"variants": edited(NB02, "variants", opening,
                                                                  opening + f"    {variant},\n")},
                      project=project)
    assert "learned positions, mean head" in set(ns["ablations"]["variant"])
    assert "val_acc_learned_positions__mean_head" in metrics(ns)
    shown = [c.name_b for c in ns["findings"].items if hasattr(c, "name_b")]
    assert "learned positions, mean head" in shown, "the findings compare it with the seed model"


@pytest.mark.exercise(NB02, 3)
def test_02_the_seeds_32_copies(project02):
    project, params, before = project02
    asks(NB02, 3, "Set `copies = 32` (the seed's ×32)", 'the leakage gap in "What this run shows"')
    ns = run_notebook(NB02, {**params, "copies": 32}, project=project)
    assert len(ns["augmented"]) == 32 * len(ns["clipset"]) == 16 * len(before["augmented"])
    assert "leakage_gap" in metrics(ns), "the leakage comparison is made and recorded"


@pytest.mark.exercise(NB02, 4)
def test_02_torchvision_augmentation(project02):
    project, params, before = project02
    asks(NB02, 4, 'Set `augment_mode = "torchvision"`', "split-by-clip accuracy")
    ns = run_notebook(NB02, {**params, "augment_mode": "torchvision"}, stop_after="leaky", project=project)
    assert not torch.equal(ns["augmented"], before["augmented"]), "other augmented clips"
    assert not torch.equal(ns["aug_features"], before["aug_features"]), "other embeddings to train on"
    assert len(ns["honest"]["val_acc"]) == len(before["honest"]["val_acc"]), "the split-by-clip accuracy"


# --- 03 · ViT anatomy ------------------------------------------------------------------------------------

NB03 = "03_vit_anatomy"


@pytest.mark.exercise(NB03, 3)
def test_03_upsampled_digits_keep_sixteen_tokens(tmp_project):
    from test_nb03_vit_anatomy import TINY

    asks(NB03, 3, "set `image_size = 16`, `patch_size = 4` and `resample_size = 32`")
    runs = {size: run_notebook(NB03, {**TINY, "image_size": size, "patch_size": size // 4,
                                      "resample_size": 2 * size},
                               stop_after="train", project=tmp_project) for size in (8, 16)}
    for size, ns in runs.items():
        assert ns["model"].patch_embed.num_patches == 16, "the same 16 tokens"
        assert ns["model"].patch_embed.img_size == (size, size)
    assert all(0 <= ns["inspected_acc"] <= 1 for ns in runs.values()), "each run's accuracy, to compare"


@pytest.mark.exercise(NB03, 4)
def test_03_fine_tuning_the_control_instead(tmp_project):
    from test_nb03_vit_anatomy import TINY

    asks(NB03, 4, "fine-tune the `control` model (random table) instead of `moved` (both names in the "
                  "`if finetune_epochs:` block)")
    source = next(c.source for c in cells(NB03) if "finetune" in c.metadata.get("tags", []))
    block = source[source.index("if finetune_epochs:"):]
    swapped = source.replace(block, block.replace("moved", "control"))
    assert swapped.count("fit(control") == 1
    runs = [run_notebook(NB03, TINY, replace=replace, stop_after="finetune", project=tmp_project)
            for replace in ({}, {"finetune": swapped})]
    rows = [{r["step"]: r["accuracy"] for r in ns["resampling"]} for ns in runs]
    tuned = next(k for k in rows[1] if k.startswith("after"))
    ns = runs[1]
    untouched = ns["evaluate"](ns["moved"], ns["eval_loader"](ns["held_out"], ns["resample_size"]),
                               ns["run"].device)["accuracy"]
    assert untouched == rows[1]["table interpolated, no training"], "moved is no longer fine-tuned"
    assert not torch.equal(runs[0]["moved"].pos_embed, ns["moved"].pos_embed), "as it was before the edit"
    assert 0 <= rows[1][tuned] <= 1, "the control's accuracy after fine-tuning, to compare"


# --- 06 · IDMM -------------------------------------------------------------------------------------------

NB06 = "06_idmm_small_data_pretraining"


def run06(project, stop_after, replace=None, **params):
    from test_nb06_idmm import TINY

    return run_notebook(NB06, {**TINY, **params}, project=project, stop_after=stop_after, replace=replace)


def instance_ce(ns, name):
    return metrics(ns)[f"pretrain_instance_ce_{name}"]


@pytest.mark.exercise(NB06, 1)
def test_06_the_paper_formulation_with_per_group_mixing(tmp_project):
    asks(NB06, 1, "make `\"paper\"` use `official_mix(n)` with label smoothing")
    paper = '"paper": (paper_mix, None, label_smoothing)'
    grouped = edited(NB06, "formulations", paper, '"paper": (official_mix(n), None, label_smoothing)')
    runs = [run06(tmp_project, "pretrain-loop", replace) for replace in ({}, {"formulations": grouped})]
    assert instance_ce(runs[0], "paper") != instance_ce(runs[1], "paper")


@pytest.mark.exercise(NB06, 2)
def test_06_pairs_of_images_share_a_target(tmp_project):
    asks(NB06, 2, "return `torch.arange(n) // 2`", "the linear probe")
    pairs = "def instance_targets(n):\n    return torch.arange(n) // 2\n"
    runs = [run06(tmp_project, "probe-runs", replace) for replace in ({}, {"instance-targets": pairs})]
    assert runs[1]["instance_targets"](6).tolist() == [0, 0, 1, 1, 2, 2]
    probes = [{k: v for k, v in metrics(ns).items() if "probe" in k} for ns in runs]
    assert probes[0] and probes[0].keys() == probes[1].keys() and probes[0] != probes[1]


@pytest.mark.exercise(NB06, 3)
def test_06_two_large_views_only(tmp_project):
    asks(NB06, 3, "Set `small_crops = 0` in the parameters cell", "The head-row table does not move")
    runs = [run06(tmp_project, "pretrain-loop", small_crops=k) for k in (4, 0)]
    assert [ns["kinds"] for ns in runs] == [["large"] * 2 + ["small"] * 4, ["large"] * 2]
    assert instance_ce(runs[0], "paper") != instance_ce(runs[1], "paper")
    assert runs[0]["head_rows"] == runs[1]["head_rows"], "the rows a step reaches: its images, not their views"


@pytest.mark.exercise(NB06, 4)
def test_06_official_mix_without_max_lambda(tmp_project):
    asks(NB06, 4, "call `cutmix` with `max_lambda=False` inside `official_mix`")
    loose = edited(NB06, "formulations", "max_lambda=True, permute=True", "max_lambda=False, permute=True")
    runs = [run06(tmp_project, "pretrain-loop", replace, formulations=["official"])
            for replace in ({}, {"formulations": loose})]
    assert instance_ce(runs[0], "official") != instance_ce(runs[1], "official")


# --- 04 · ViT vs ResNet-18 ------------------------------------------------------------------------------

NB04 = "04_vit_vs_resnet_cifar10"


@pytest.fixture(scope="module")
def project04(tmp_path_factory, small_cifar_root):
    """A project folder shared by 04's exercise runs, with a tiny study: one seed, one grid point each."""
    from test_nb04_vit_vs_resnet import tiny

    params = tiny(small_cifar_root, seeds=1, resnet_lrs=[0.003], vit_lrs=[0.001], seed003_recipe=False,
                  imagenet_stem_control=False, data_fractions=[0.5, 1.0])
    with project_folder(tmp_path_factory.mktemp("project04")) as project:
        yield project, params, run_notebook(NB04, params, stop_after="sizes_curve", project=project)


def vit_losses(namespace) -> list:
    return namespace["results"]["vit"][0].history["train_loss"].tolist()


def test_04_the_written_out_step_the_stem_and_the_crop_match_their_references(project04):
    project, params, ns = project04
    for method_check in [ns["stem_check"], *ns["crop_checks"], *ns["step_checks"]]:
        assert method_check.passed, method_check.sentence
    without_zero_grad = edited(NB04, "training_step", "        optimizer.zero_grad(set_to_none=True)\n", "")
    broken = run_notebook(NB04, params, replace={"training_step": without_zero_grad},
                          stop_after="training_step_check", project=project)
    assert not any(c.passed for c in broken["step_checks"] if "final weights" in c.what), \
        "gradients that pile up across steps: the check against fit reports it"


@pytest.mark.exercise(NB04, 1)
def test_04_a_class_token_changes_the_vits_runs(project04):
    project, params, before = project04
    asks(NB04, 1, 'set `vit_pool = "token"`', "re-run from section 4")
    after = run_notebook(NB04, {**params, "vit_pool": "token"}, stop_after="headline_table", project=project)
    assert after["results"]["vit"][0].model.global_pool == "token" != before["results"]["vit"][0].model.global_pool
    vit_sweep = {name: ns["sweep"].query("family == 'vit'")["val_loss"].tolist() for name, ns in
                 (("before", before), ("after", after))}
    assert vit_sweep["before"] != vit_sweep["after"], "the sweep's validation losses move"
    assert vit_losses(after) != vit_losses(before)


@pytest.mark.exercise(NB04, 2)
def test_04_smaller_patches_give_four_times_the_tokens(project04):
    project, params, before = project04
    asks(NB04, 2, "Set `vit_patch = 2` (256 tokens at 32 px)", "section 6")
    after = run_notebook(NB04, {**params, "vit_patch": 2}, stop_after="curves", project=project)
    tokens = {name: ns["results"]["vit"][0].model.patch_embed.num_patches for name, ns in
              (("before", before), ("after", after))}
    assert tokens == {"before": 16, "after": 256}, "patch 8 -> 2 at 32 px"
    assert (project / "figures" / "smoke").exists() and vit_losses(after) != vit_losses(before)


@pytest.mark.exercise(NB04, 3)
def test_04_equal_epochs_instead_of_equal_steps(project04):
    project, params, before = project04
    asks(NB04, 3, "set `epoch_split = subset` instead of `tiled`", '"images per epoch"')
    subset = edited(NB04, "data_size", "epoch_split = tiled ", "epoch_split = subset ")
    after = run_notebook(NB04, params, replace={"data_size": subset}, stop_after="sizes_curve", project=project)
    rows = {name: ns["sizes_curve"].query("fraction == 0.5").iloc[0] for name, ns in
            (("before", before), ("after", after))}
    full = len(before["data"].train)
    assert rows["before"]["images per epoch"] == full > rows["before"]["train images"]
    assert rows["after"]["images per epoch"] == rows["after"]["train images"] < full, "half the steps"


@pytest.mark.exercise(NB04, 4)
def test_04_cutmix_for_both_families(project04):
    project, params, before = project04
    asks(NB04, 4, "Set `cutmix_prob = 0.5` and re-run the notebook")
    after = run_notebook(NB04, {**params, "cutmix_prob": 0.5}, stop_after="headline_table", project=project)
    assert before["picseq_mix"] is None and after["picseq_mix"].p == 0.5
    assert vit_losses(after) != vit_losses(before)
    assert after["results"]["resnet18"][0].history["train_loss"].tolist() != \
        before["results"]["resnet18"][0].history["train_loss"].tolist()


# --- 05 · CutMix -----------------------------------------------------------------------------------------

NB05 = "05_vit_vs_resnet_cifar100_cutmix"


def exercise_code(notebook: str, number: int) -> str:
    """The fenced Python block of an exercise, dedented: what a learner pastes into a cell."""
    import textwrap

    text = next(c.source for c in cells(notebook) if c.source.startswith("## Try this"))
    item = re.split(r"^\d+\. ", text, flags=re.M)[number]
    return textwrap.dedent(item.split("```python\n", 1)[1].split("```", 1)[0])


@pytest.fixture(scope="module")
def project05(tmp_path_factory, small_cifar_root):
    """05 at a tiny size, run once with exercise 4's cell added after section 9 (nothing before it changes)."""
    from test_nb05_cutmix import tiny

    params = tiny(small_cifar_root, seeds=1, resnet_lrs=[0.003], vit_lrs=[0.001], imagenet_stem_control=False,
                  cutmix_ablation=False, data_fractions=[1.0], seed002_recipe=False)
    recipe_cell = next(c.source for c in cells(NB05) if "seed002_runs" in c.metadata.get("tags", []))
    with project_folder(tmp_path_factory.mktemp("project05")) as project:
        yield project, params, run_notebook(
            NB05, params, replace={"seed002_runs": recipe_cell + "\n" + exercise_code(NB05, 4)},
            stop_after="seed002_runs", project=project)


@pytest.mark.exercise(NB05, 1)
def test_05_cutmix_on_half_the_batches(project05):
    project, params, before = project05
    asks(NB05, 1, "Set `cutmix_prob = 0.5` in a cell after the parameters")
    after = run_notebook(NB05, {**params, "cutmix_prob": 0.5}, stop_after="curves", project=project)
    every, half = (ns["results"]["vit"][0].history["train_acc"] for ns in (before, after))
    assert every.isna().all(), "every batch mixed: no single true class, no training accuracy"
    assert half.notna().any(), "batches left unmixed are scored"
    assert vit_losses(after) != vit_losses(before)


@pytest.mark.exercise(NB05, 2)
def test_05_keeping_the_drawn_lambda_fails_both_checks(tmp_project, small_cifar_root):
    from test_nb05_cutmix import tiny

    asks(NB05, 2, "delete the line that recomputes `lam`", "both checks below it now report a difference")
    line = "    lam = 1 - (x2 - x1) * (y2 - y1) / (w * h)"
    source = next(c.source for c in cells(NB05) if "cutmix_own" in c.metadata.get("tags", []))
    kept = "\n".join(s for s in source.splitlines() if not s.startswith(line))
    assert kept.count("\n") == source.count("\n") - 1, "exactly one line deleted"
    ns = run_notebook(NB05, tiny(small_cifar_root), replace={"cutmix_own": kept}, stop_after="cutmix_check",
                      project=tmp_project)
    assert len(ns["cutmix_checks"]) == 2
    for cutmix_check in ns["cutmix_checks"]:
        assert not cutmix_check.passed and cutmix_check.measured > 0.01, cutmix_check.sentence
    assert ns["draws"]["vs torchvision"].mean() > 0.05, "on average, not in a rare draw"


@pytest.mark.exercise(NB05, 3)
def test_05_mixup_instead(project05):
    project, params, before = project05
    mixup = "mix_batch = v2.MixUp(alpha=0.2, num_classes=data.num_classes)"
    asks(NB05, 3, f"Replace the cell of section 3 by `{mixup}`", "the curves of section 7")
    after = run_notebook(NB05, params, replace={"cutmix": mixup}, stop_after="curves", project=project)
    assert type(after["mix_batch"]).__name__ == "MixUp"
    assert vit_losses(after) != vit_losses(before)
    assert (project / "figures" / "smoke").exists()


@pytest.mark.exercise(NB05, 4)
def test_05_seed002s_vit_at_this_runs_budget(project05):
    project, params, ns = project05
    asks(NB05, 4, "After section 9, add a cell")
    model = ns["wide_vit"].model
    assert type(model).__name__ == "VisionTransformer" and model.global_pool == "token"
    assert type(model.blocks[0].attn).__name__ == "WideHeadAttention", "seed 002's wide heads"
    assert len(ns["wide_vit"].history) == params["epochs"], "the same epochs as the ViT it is compared with"
    assert 0 <= ns["test_accs"]["vit"][0] <= 1


# --- every exercise has its test --------------------------------------------------------------------------

def marked_exercises() -> set[tuple[str, int]]:
    """Every ``@pytest.mark.exercise(notebook, number)`` in tests/, read from the source (no import needed)."""
    found = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        names = {t.id: node.value.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name) and isinstance(node.value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "exercise":
                notebook, number = node.args
                notebook = names[notebook.id] if isinstance(notebook, ast.Name) else notebook.value
                found.add((notebook, number.value))
    return found


def test_every_exercise_of_every_lesson_is_done_by_a_test():
    lessons = sorted(p.stem for p in (ROOT / "notebooks").glob("0[1-9]_*.ipynb"))
    wanted = {(name, n) for name in lessons for n in exercises(name)}
    assert len(wanted) >= 4 * len(lessons)
    assert not wanted - marked_exercises(), f"exercises no test does: {sorted(wanted - marked_exercises())}"
