"""The GPU cost plan, made by the notebooks themselves (picseq_utils.planning, benchmarks/cost.py): a value computed
by hand, FLOPs checked against an independent derivation, a loop a learner adds costed with no other edit, and
--check catching a run that disagrees with its plan."""
from __future__ import annotations

import io
import json

import nbformat
import pytest
import torch

from benchmarks import cost
from notebook_runner import ROOT
from picseq_utils.params import load_profile, profile_parameters, schema_for
from picseq_utils.planning import Plan, planning, scratch_project

TRAINING_NOTEBOOKS = ("02_resnet_embedded_transformer", "03_vit_anatomy", "04_vit_vs_resnet_cifar10",
                      "05_vit_vs_resnet_cifar100_cutmix", "06_idmm_small_data_pretraining")


def resnet18_cifar_macs(classes: int = 10) -> int:
    """Multiply-accumulates of ResNet-18 with the CIFAR stem at 32 px, layer by layer."""
    conv = lambda k, c_in, c_out, side: k * k * c_in * c_out * side * side  # noqa: E731
    macs = conv(3, 3, 64, 32)  # stem: 3x3, stride 1, no max-pool
    macs += 4 * conv(3, 64, 64, 32)  # layer1: two blocks of two 3x3 convs at 32x32
    for c_in, side in ((64, 16), (128, 8), (256, 4)):  # layers 2-4: stride-2 block with a 1x1 shortcut, then one more
        c = 2 * c_in
        macs += conv(3, c_in, c, side) + 3 * conv(3, c, c, side) + conv(1, c_in, c, side)
    return macs + 512 * classes


def test_resnet18_flops_match_an_independent_derivation():
    from picseq_utils.models import build_model

    model, x = build_model("resnet18_cifar", 10), torch.zeros(2, 3, 32, 32)
    plan, macs = Plan("test"), resnet18_cifar_macs()
    assert plan.per_sample(model, x, train=False) == pytest.approx(2 * macs, rel=1e-3)
    # a training step: 3x the forward pass, less the stem's input gradient (images need none)
    assert plan.per_sample(model, x, train=True) == pytest.approx(2 * (3 * macs - 3 * 3 * 3 * 64 * 32 * 32), rel=1e-3)


def test_attention_flops_are_counted_on_the_meta_device():
    # timm's fused attention on the CPU is a kernel FlopCounterMode does not count; on the meta device it is.
    from picseq_utils.models import build_model

    model = build_model("vit_cifar", 10, image_size=32, patch_size=4, dim=320, depth=9, heads=5)
    per_image = Plan("test").per_sample(model, torch.zeros(2, 3, 32, 32), train=False)
    tokens, dim = 65, 320
    attention = 9 * 2 * 2 * tokens * tokens * dim  # q k^T and attn v, per block
    linear = 9 * 2 * tokens * (4 * dim * dim + 8 * dim * dim)  # qkv + proj, and the 4x MLP
    assert per_image == pytest.approx(attention + linear + 2 * 64 * 48 * dim + 2 * dim * 10, rel=0.01)


@pytest.mark.timeout(600)
def test_notebook_04_in_full_by_hand():
    """The plan the notebook makes of itself equals the count by hand (on CIFAR-10's real sizes, as zeros here)."""
    # CIFAR-10: 5,000 training images per class; val_fraction 0.1 carves 500 per class -> 45,000 training images.
    train, val, test = 45_000, 5_000, 10_000
    sweep = (2 * 2 + 2 * 2) * 30 * train  # resnet 2 lrs x 2 wds + vit 2 x 2, 30 sweep epochs on the whole split
    headline = 3 * 3 * 200 * train  # 3 seeds x (resnet18, vit, imagenet-stem control) x 200 epochs
    data_size = 4 * 2 * 200 * train  # fractions 0.05 / 0.1 / 0.25 / 0.5 (1.0 = headline) x 2 families, tiled
    seed003 = 2 * 25 * train + 2 * 45 * train  # ResNet-18 25 epochs and ViT-B/16 45, from scratch and ImageNet
    step_check = 2 * 2 * 96  # section 3: fit beside the written-out step, both families, 2 epochs of 96 images
    works = cost.plan("full", only=["04_vit_vs_resnet_cifar10"])["04_vit_vs_resnet_cifar10"]
    fits = [w for w in works if w.fit]
    assert sum(w.train_images for w in fits) == sweep + headline + data_size + seed003 + step_check == 170_100_384
    assert len(fits) == 8 + 9 + 8 + 4 + 2
    # validation after every epoch of every fit, and the test split once per headline, data-size and seed-003 model
    epochs = 8 * 30 + 9 * 200 + 8 * 200 + 2 * 25 + 2 * 45
    assert sum(w.forward_images for w in works) == epochs * val + (9 + 8 + 4) * test
    # the sweep, the headline runs and the data-size points are three run.map loops of independent fits
    maps = {}
    for w in fits:
        if w.stage:
            maps.setdefault(w.stage[0], set()).add(w.stage[1])
    assert sorted(len(items) for items in maps.values()) == [4, 8, 8, 9]  # + seed 003's four runs


def test_the_wall_time_on_n_gpus_is_the_longest_chain_through_each_map():
    from picseq_utils.planning import Work

    rate = 1e12

    def work(seconds, stage=None):  # no epochs: no per-epoch overhead, seconds = FLOPs / rate
        return Work("x", "m", train_flops=seconds * rate, stage=stage)

    works = [work(5), work(3, (1, 0)), work(3, (1, 1)), work(3, (1, 2)), work(1, (1, 2)), work(2),
             work(7, (2, 0)), work(1, (2, 1))]
    assert cost.wall_seconds(works, rate, 1) == pytest.approx(25)  # everything after everything
    # 2 GPUs: items 3 and 3 at once, then the 4 s item on the first free GPU (7 s), 5 + 7 + 2 + 7
    assert cost.wall_seconds(works, rate, 2) == pytest.approx(21)
    assert cost.wall_seconds(works, rate, 8) == pytest.approx(5 + 4 + 2 + 7), "each map as long as its longest item"


def test_gpu_profile_overrides_only_known_parameters():
    gpu = load_profile("gpu")
    assert gpu["extends"] == "full"
    for notebook, values in gpu["overrides"]["notebooks"].items():
        unknown = set(values) - set(schema_for(notebook).params)
        assert not unknown, (notebook, unknown)
    for notebook in TRAINING_NOTEBOOKS:  # the real data sets, as in full
        params = profile_parameters("gpu", notebook)
        assert params.get("data_source", "real") == "real" and params["profile"] == "gpu", notebook


def prepared(project, notebook, edit=None):
    """``project`` with the notebook (``edit``: a function changing its cells, as a learner would and save), its
    seed tables and params/ copied in."""
    import shutil

    for path in (ROOT / "notebooks").glob("*.seeds.yaml"):
        shutil.copy(path, project / "notebooks")
    shutil.copytree(ROOT / "params", project / "params", dirs_exist_ok=True)
    book = nbformat.read(str(ROOT / "notebooks" / f"{notebook}.ipynb"), as_version=4)
    if edit is not None:
        edit(book)
    nbformat.write(book, str(project / "notebooks" / f"{notebook}.ipynb"))


def run_and_check(project, notebook, params) -> tuple[dict, int, str]:
    """Run the notebook file of ``project`` in this process; its record, and the cost check of it."""
    from picseq_utils.inprocess import run_cells

    record = json.loads(run_cells(notebook, params)["run"].writer.path.read_text())
    out = io.StringIO()
    return record, cost.compare_runs("smoke", {notebook: record}, out), out.getvalue()


@pytest.mark.timeout(600)
def test_a_variant_added_to_02_is_costed_with_no_other_edit(tmp_project):
    """"Try this" 1 of notebook 02, done as written and saved: one more ablation variant. Nothing else is edited; the
    plan the edited notebook makes of itself still matches what it trained."""
    def add_variant(book):
        cell = next(c for c in book.cells if c.source.startswith("variants = {"))
        cell.source = cell.source.replace('"RoPE, mean-pool head": dict(head="mean"),',
                                          '"RoPE, mean-pool head": dict(head="mean"),\n'
                                          '    "learned positions, mean head": dict(position="learned", head="mean"),')

    prepared(tmp_project, "02_resnet_embedded_transformer", add_variant)
    tiny = dict(device="cpu", n_clips=8, frame_size=32, copies=2, folds=2, ablation_folds=1, epochs=1, batch_size=8,
                imagenet_weights=False, recipe_clips=4, recipe_copies=1, recipe_epochs=1, speed_epochs=1, speed_clips=4)
    record, code, text = run_and_check(tmp_project, "02_resnet_embedded_transformer", tiny)
    assert code == 0, text
    assert any("learned positions, mean head" in m["name"].replace("_", " ") or
               "learned_positions__mean_head" in m["name"] for m in record["metrics"]), "the variant ran"


@pytest.mark.timeout(600)
def test_a_sweep_point_added_to_04_is_costed_with_no_other_edit(tmp_project, small_cifar_root):
    prepared(tmp_project, "04_vit_vs_resnet_cifar10")
    params = dict(device="cpu", data_source="standin", data_root=str(small_cifar_root), train_limit=200,
                  test_limit=100, resnet_width=4, vit_dim=16, vit_depth=1, vit_heads=2, vit_patch=8, epochs=1,
                  sweep_epochs=1, seeds=1, data_fractions=[1.0], seed003_recipe=False, imagenet_stem_control=False,
                  resnet_lrs=[0.002, 0.004, 0.008], vit_lrs=[0.002, 0.004, 0.008])  # a third point for each
    record, code, text = run_and_check(tmp_project, "04_vit_vs_resnet_cifar10", params)
    assert code == 0, text
    assert len([f for f in record["fits"] if f["desc"].startswith("sweep_")]) == 6


def test_check_fails_a_run_that_trained_otherwise_than_its_plan(tmp_path, monkeypatch):
    from picseq_utils.planning import Work

    notebook = "04_vit_vs_resnet_cifar10"
    works = [Work("a", "m", train_images=100, epochs=2), Work("b", "m", train_images=300, epochs=3)]
    monkeypatch.setattr(cost, "plan", lambda profile, only=None, records=None: {notebook: works})
    folder = tmp_path / "smoke" / "metrics"
    folder.mkdir(parents=True)
    record = {"notebook": notebook, "profile": "smoke", "parameters": {}, "weights": {},
              "fits": [{"desc": "a", "samples_per_epoch": 50, "epochs": 2}, {"desc": "b", "samples_per_epoch": 100,
                                                                             "epochs": 3}]}
    (folder / f"{notebook}.json").write_text(json.dumps(record))
    out = io.StringIO()
    assert cost.check("smoke", out=out, reports=tmp_path) == 0, out.getvalue()
    record["fits"][0]["epochs"] = 7  # one run trained longer than the plan says
    (folder / f"{notebook}.json").write_text(json.dumps(record))
    out = io.StringIO()
    assert cost.check("smoke", out=out, reports=tmp_path) == 1 and "DIFFERS" in out.getvalue()


def test_check_with_nothing_run_is_not_a_pass(tmp_path):
    assert cost.check("smoke", out=io.StringIO(), reports=tmp_path) == 2


def test_throughput_reads_a_measured_gpu_file(tmp_path, monkeypatch):
    result = {"device_kind": "cuda-nvidia-h100", "environment": {"cuda_available": True, "device": "cuda",
                                                                  "device_name": "NVIDIA H100 80GB HBM3"},
              "results": [{"benchmark": "train resnet18_cifar 32px",
                           "sides": {"picseq (device-resident)": {"gflops": 150_000.0, "peak_share": 0.2},
                                     "conventional": {"gflops": 10_000.0}}}]}
    (tmp_path / "cuda-nvidia-h100.json").write_text(json.dumps(result))
    monkeypatch.setattr(cost, "RESULTS", tmp_path)
    rate, source = cost.throughput()
    assert rate == 150e12 and "measured" in source
    monkeypatch.setattr(cost, "RESULTS", tmp_path / "none")
    assert cost.throughput()[0] == cost.ASSUMED_FLOPS


def test_a_plan_counts_and_writes_nothing_into_the_checkout():
    """In plan mode nothing trains: fit returns at once with a placeholder history, and the scratch project takes
    every report, figure and checkpoint."""
    from picseq_utils import paths
    from picseq_utils.data import TensorLoader
    from picseq_utils.train import fit

    with scratch_project() as root, planning("x") as plan:
        assert paths.project_root() == root
        model = torch.nn.Linear(4, 2)
        before = [p.clone() for p in model.parameters()]
        loader = TensorLoader(torch.zeros(10, 4), torch.zeros(10, dtype=torch.long), 5)
        result = fit(model, loader, loader, epochs=3, lr=0.1, checkpoint_dir=root / "checkpoints" / "x")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())), "nothing trained"
    assert len(result.history) == 3 and (plan.works[0].train_images, plan.works[0].forward_images) == (30, 30)
    assert not root.exists(), "the scratch project is gone"
