"""The same seed on the CPU gives identical metrics twice, for a short fit of every model family the
notebooks train: ResNet-18, the CIFAR ViT, the seed-000 clip model end to end (ResNet-18 backbone,
RoPE transformer) and IDMM (pretraining, then fine-tuning)."""
import pandas as pd
import pytest
import torch
from torch import nn

from picseq_utils.data import TensorLoader
from picseq_utils.runtime import seed_everything
from picseq_utils.train import fit
from training_helpers import COMPARED, quick_fit


@pytest.mark.parametrize("family", ["resnet", "vit"])
def test_same_seed_gives_identical_metrics_twice(family):
    a, b = quick_fit(family), quick_fit(family)
    pd.testing.assert_frame_equal(a.history[COMPARED], b.history[COMPARED])


def test_the_clip_model_end_to_end_repeats_exactly():
    from picseq_utils import clip_model as cm
    from picseq_utils.data.clips import generate_clips

    frames, labels = generate_clips(8, 32, seed=0)  # 32 px: no 1x1 feature maps (see test_failures.py)
    clips = torch.from_numpy(frames).permute(0, 1, 4, 2, 3).contiguous()

    def once():
        seed_everything(0)
        model = cm.ClipClassifier(cm.resnet18_backbone(imagenet=False)[0])  # backbone fine-tuned too
        loader = TensorLoader(clips, torch.from_numpy(labels), 4, transform=cm.normalise_clips, seed=0)
        val = TensorLoader(clips, torch.from_numpy(labels), 8, transform=cm.normalise_clips, shuffle=False)
        return fit(model, loader, val, epochs=2, lr=1e-4, loss_fn=nn.NLLLoss(), progress=False).history

    pd.testing.assert_frame_equal(once()[COMPARED], once()[COMPARED])


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
