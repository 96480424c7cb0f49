"""The GPU cost plan (benchmarks/cost.py): plans for every notebook and profile, a value computed by hand, FLOPs
checked against an independent derivation, the gpu profile within one H100-hour, and --check catching a run that
disagrees with its plan."""
from __future__ import annotations

import io
import json

import pytest

from benchmarks import cost
from picseq_utils.params import NOTEBOOK_SCHEMAS, PROFILES, load_profile, schema_for

TRAINING_NOTEBOOKS = ("02_resnet_embedded_transformer", "03_vit_anatomy", "04_vit_vs_resnet_cifar10",
                      "05_vit_vs_resnet_cifar100_cutmix", "06_idmm_small_data_pretraining")


def test_every_notebook_has_a_plan_in_every_profile():
    assert set(cost.PLANS) == set(NOTEBOOK_SCHEMAS)
    for profile in PROFILES:
        for notebook in NOTEBOOK_SCHEMAS:
            works = cost.plan(profile, notebook)
            assert isinstance(works, list), (profile, notebook)
            assert all(w.images >= 0 and w.forward >= 0 for w in works), (profile, notebook)
            if notebook in TRAINING_NOTEBOOKS:  # every training notebook trains in every profile
                assert sum(w.images for w in works) > 0 and sum(w.fits for w in works) > 0, (profile, notebook)
            else:
                assert sum(w.images for w in works) == 0, (profile, notebook)


def test_notebook_04_in_full_by_hand():
    # CIFAR-10: 5,000 training images per class; val_fraction 0.1 carves 500 per class -> 45,000 training images.
    train, val, test = 45_000, 5_000, 10_000
    sweep = (2 * 2 + 2 * 2) * 30 * train  # resnet 2 lrs x 2 wds + vit 2 x 2, 30 sweep epochs on the whole split
    headline = 3 * 3 * 200 * train  # 3 seeds x (resnet18, vit, imagenet-stem control) x 200 epochs
    data_size = 4 * 2 * 200 * train  # fractions 0.05 / 0.1 / 0.25 / 0.5 (1.0 = headline) x 2 families, tiled
    seed003 = 2 * 25 * train + 2 * 45 * train  # ResNet-18 25 epochs and ViT-B/16 45, from scratch and ImageNet
    works = cost.plan("full", "04_vit_vs_resnet_cifar10")
    assert sweep == 10_800_000
    assert sum(w.images for w in works) == sweep + headline + data_size + seed003 == 170_100_000
    assert sum(w.fits for w in works) == 8 + 9 + 8 + 4
    # validation after every epoch of every fit, and the test split once per headline, data-size and seed-003 model
    epochs = 8 * 30 + 9 * 200 + 8 * 200 + 2 * 25 + 2 * 45
    assert sum(w.forward for w in works) == epochs * val + (9 + 8 + 4) * test
    # the sweep alone: one more sweep epoch adds the 8 grid points' 45,000 images
    longer = {**cost.params_for("full", "04_vit_vs_resnet_cifar10"), "sweep_epochs": 31}
    assert sum(w.images for w in cost.plan("full", "04_vit_vs_resnet_cifar10", longer)) - 170_100_000 == 8 * train


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
    # CIFAR stem, exact: a training step is 3x the forward pass, less the stem's input gradient (images need none).
    cifar = cost.resnet("cifar", 64, 32, 10)
    macs = resnet18_cifar_macs()
    assert cost.flops_per_image(cifar, False) == pytest.approx(2 * macs, rel=1e-3)
    assert cost.flops_per_image(cifar, True) == pytest.approx(2 * (3 * macs - 3 * 3 * 3 * 64 * 32 * 32), rel=1e-3)
    # ImageNet stem, from torchvision's documented 1.814 G(multiply-adds) at 224 px: from 224 to 32 px every feature
    # map shrinks 7x per side, so the convolutions cost 49x less; the classifier (512 x 1000) does not scale.
    import torchvision

    documented = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["_ops"] * 1e9
    forward_32 = 2 * ((documented - 512 * 1000) / 49 + 512 * 10)  # FLOPs = 2 x MACs
    imagenet = cost.resnet("imagenet", 64, 32, 10)
    assert cost.flops_per_image(imagenet, False) == pytest.approx(forward_32, rel=0.01)
    assert cost.flops_per_image(imagenet, True) == pytest.approx(3 * forward_32, rel=0.03)


def test_gpu_profile_fits_in_one_h100_hour():
    assert cost.total_seconds("gpu") <= 3600
    assert cost.total_seconds("full") > 3600  # the reason the gpu profile exists


def test_gpu_profile_overrides_only_known_parameters():
    gpu = load_profile("gpu")
    assert gpu["extends"] == "full"
    for notebook, values in gpu["overrides"]["notebooks"].items():
        unknown = set(values) - set(schema_for(notebook).params)
        assert not unknown, (notebook, unknown)
    for notebook in TRAINING_NOTEBOOKS:  # the real data sets, as in full
        params = cost.params_for("gpu", notebook)
        assert params.get("data_source", "real") == "real" and params["profile"] == "gpu", notebook


def fabricated(tmp_path, notebook: str, fits: list[dict]):
    """A metrics file of the smoke profile with these fits, recorded with the smoke parameters."""
    folder = tmp_path / "smoke" / "metrics"
    folder.mkdir(parents=True, exist_ok=True)
    content = {"notebook": notebook, "profile": "smoke", "parameters": cost.params_for("smoke", notebook),
               "data": {}, "weights": {}, "fits": fits}
    (folder / f"{notebook}.json").write_text(json.dumps(content))


def test_check_passes_a_run_that_matches_and_fails_one_that_does_not(tmp_path):
    notebook = "04_vit_vs_resnet_cifar10"
    works = [w for w in cost.plan("smoke", notebook) if w.fits]
    fits = [{"desc": f"fit {i}", "samples_per_epoch": w.images // w.epochs, "epochs": w.epochs, "seconds": 1.0}
            for i, w in enumerate(works)]
    fabricated(tmp_path, notebook, fits)
    out = io.StringIO()
    assert cost.check("smoke", out=out, reports=tmp_path) == 0, out.getvalue()
    fits[0]["epochs"] += 5  # one run trained longer than the plan says
    fabricated(tmp_path, notebook, fits)
    out = io.StringIO()
    assert cost.check("smoke", out=out, reports=tmp_path) == 1
    assert "DIFFERS" in out.getvalue() and notebook in out.getvalue()


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


def test_flops_are_counted_on_the_meta_device_with_attention():
    # timm's fused attention on the CPU is a kernel FlopCounterMode does not count; on the meta device it is.
    model = cost.vit(32, 4, 320, 9, 5, 10)
    per_image = cost.flops_per_image(model, False)
    tokens, dim = 65, 320
    attention = 9 * 2 * 2 * tokens * tokens * dim  # q k^T and attn v, per block
    linear = 9 * 2 * tokens * (4 * dim * dim + 8 * dim * dim)  # qkv + proj, and the 4x MLP
    assert per_image == pytest.approx(attention + linear + 2 * 64 * 48 * dim + 2 * dim * 10, rel=0.01)


def test_the_check_plans_with_what_the_run_recorded():
    # 03 in full trains no ViT of its own when notebook 04's is there (the report runs 04 first); a run that found
    # none trained one (its metrics say "trained here"), and the check plans that run.
    p03 = cost.params_for("full", "03_vit_anatomy")
    default = cost.plan("full", "03_vit_anatomy", p03)
    trained = cost.plan("full", "03_vit_anatomy", p03, cost.facts_from(
        {"weights": {"inspected ViT": {"weights": "trained here"}}}))
    assert sum(w.fits for w in trained) == sum(w.fits for w in default) + 1
    # 04: seed 003's ImageNet runs happen only where the weights loaded; and the data sizes the run saw are used
    p04 = cost.params_for("full", "04_vit_vs_resnet_cifar10")
    fallback = {"fallback": True}
    offline = cost.facts_from({"weights": {"seed003 resnet18": fallback, "seed003 vit_b16": fallback},
                               "data": {"CIFAR-10": {"n_train": 600, "n_test": 200}}})
    works = cost.plan("full", "04_vit_vs_resnet_cifar10", p04, offline)
    assert sum(w.fits for w in works) == 8 + 9 + 8 + 2
    assert max(w.images // w.epochs for w in works if w.fits) == 540  # 600 less a 10 % validation split


def test_makefile_prints_the_estimate_before_the_report_and_never_fails_it():
    makefile = (cost.ROOT / "Makefile").read_text()
    assert "\ncost: $(STAMP)\n\t$(PY) -m benchmarks.cost --profile $(PROFILE)\n" in makefile
    report = makefile.split("\nreport: $(STAMP)\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "-m benchmarks.cost --profile $(PROFILE) ||" in report[0] and "picseq_utils.report" in report[1]
