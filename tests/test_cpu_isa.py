"""The CPU paths ``fit`` takes are safe and repeatable under every instruction-set setting users have.

oneDNN's AVX2 kernels for channels_last convolutions narrower than 8 channels corrupt the heap or hang
(../shared/repro/cpu_isa_channels_last.py); bf16 is native only on CPUs with AVX512-BF16 / AMX. Each
setting runs in its own process, since the caps (``ONEDNN_MAX_CPU_ISA``, ``ATEN_CPU_CAPABILITY``) are read
when torch starts, and so a crash fails this test instead of the test run."""
import json
import os
import subprocess
import sys
import warnings

import pytest
import torch

from picseq_utils.models import build_model
from picseq_utils.data import DeviceLoader, ImageSplit
from picseq_utils.runtime import channels_last_safe, cpu_bf16_safe
from picseq_utils.train import fit, use_channels_last

SETTINGS = {"native": {}, "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}}

# Width 4 (the narrowest resnet_width the notebooks allow) at 32 px, batch 32: the repro's configuration.
TRAIN_TWICE = """
import json, torch
from picseq_utils.data import DeviceLoader, ImageSplit
from picseq_utils.models import build_model
from picseq_utils.runtime import cpu_capability, cpu_has_native_bf16
from picseq_utils.train import autocast_for, fit, use_channels_last

def once():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    split = ImageSplit(torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=gen),
                       torch.randint(0, 10, (64,), generator=gen))
    model = build_model("resnet18_cifar", 10, width=4)
    loader = DeviceLoader(split, 32, crop_padding=2, flip=True, channels_last=True, seed=0)
    result = fit(model, loader, epochs=2, lr=1e-3, progress=False)
    return model, result.history[["train_loss", "lr"]].to_dict("list")

model, first = once()
_, second = once()
print(json.dumps({"capability": cpu_capability(), "bf16": cpu_has_native_bf16(),
                  "channels_last": use_channels_last(model, torch.device("cpu")),
                  "autocast": type(autocast_for(torch.device("cpu"))).__name__, "first": first, "second": second}))
"""


@pytest.mark.parametrize("setting", SETTINGS)
def test_the_width_4_resnet_trains_and_repeats_in_the_configuration_fit_picks(setting):
    env = {**os.environ, **SETTINGS[setting]}
    done = subprocess.run([sys.executable, "-c", TRAIN_TWICE], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"exit {done.returncode} (negative: killed by a signal)\n{done.stderr[-2000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["channels_last"] is False, "a width-4 ResNet must not run in channels_last on the CPU"
    assert report["first"] == report["second"], "same seed, same machine, same settings: the same history"
    if setting == "avx2":
        assert report["capability"] == "AVX2"
        assert report["bf16"] is False and report["autocast"] == "nullcontext", "no emulated bf16 under the AVX2 cap"


@pytest.mark.parametrize("width, safe", [(4, False), (6, False), (8, True), (16, True)])
def test_channels_last_is_used_only_for_convolutions_of_eight_channels_or_more(width, safe):
    model = build_model("resnet18_cifar", 10, width=width)
    assert channels_last_safe(model, torch.device("cpu")) is safe
    assert use_channels_last(model, torch.device("cpu")) is safe
    assert channels_last_safe(model, torch.device("cuda")), "on a GPU the format is always safe"


def test_asking_for_channels_last_on_an_unsafe_model_warns_and_runs_contiguous():
    model = build_model("resnet18_cifar", 10, width=4)
    with pytest.warns(RuntimeWarning, match="narrower than 8 channels"):
        assert use_channels_last(model, torch.device("cpu"), True) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert use_channels_last(model, torch.device("cpu"), False) is False
    vit = build_model("vit_cifar", 10, dim=16, depth=1, heads=2)
    assert use_channels_last(vit, torch.device("cpu")) is True  # its only conv (the patch embedding) is 16 wide


@pytest.mark.parametrize("stem, size, safe", [("imagenet", 8, False), ("imagenet", 32, True), ("cifar", 8, True)])
def test_bf16_is_refused_where_a_strided_convolution_sees_an_input_smaller_than_its_stride(stem, size, safe):
    model = build_model(f"resnet18_{stem}", 10, width=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert cpu_bf16_safe(model, torch.rand(4, 3, size, size)) is safe
    assert model.training and all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "probe changes nothing"


def test_the_imagenet_stem_resnet_on_8px_images_repeats_in_the_configuration_fit_picks():
    """The cpu profile's ImageNet-stem control (width 8, 8-px digits): in bf16 on a CPU that has it natively, its
    last stage's stride-2 convolutions see 1x1 inputs and each run gave another result."""
    def once():
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1)
        split = ImageSplit(torch.randint(0, 256, (96, 3, 8, 8), dtype=torch.uint8, generator=gen),
                           torch.randint(0, 10, (96,), generator=gen))
        model = build_model("resnet18_imagenet", 10, width=8)
        fit(model, DeviceLoader(split, 16, seed=0), epochs=3, lr=3e-3, progress=False)
        return [p.detach().clone() for p in model.parameters()]

    first, second = once(), once()
    assert all(torch.equal(a, b) for a, b in zip(first, second)), "same seed, same machine, same settings: same weights"

