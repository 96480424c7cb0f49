"""The seed-000 model: RoPE, shapes, the head sees every frame, variants, the cached path."""
import pandas as pd
import pytest
import torch
from torch import nn

from picseq_utils import clip_model as cm
from picseq_utils.data import TensorLoader
from picseq_utils.runtime import seed_everything
from picseq_utils.train import fit
from training_helpers import COMPARED


def test_rope_scores_depend_only_on_the_relative_offset():
    torch.manual_seed(0)
    q, k = torch.randn(64), torch.randn(64)

    def score(m, n):
        return cm.apply_rope(q[None], torch.tensor([m]))[0] @ cm.apply_rope(k[None], torch.tensor([n]))[0]

    for offset in (0, 1, 3):
        values = torch.stack([score(m, m + offset) for m in range(5)])
        assert torch.allclose(values, values[0].expand(5), atol=1e-4)
    assert not torch.isclose(score(0, 1), score(0, 3), atol=1e-3)
    x = torch.randn(2, 8, 64)
    assert torch.allclose(cm.apply_rope(x, torch.arange(8)).norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    with pytest.raises(ValueError, match="even head dimension"):
        cm.rope_angles(torch.arange(3), 63)


def test_attention_has_8_heads_of_64_inside_a_256_model():
    attn = cm.FrameSelfAttention(256, 8, 64)
    assert attn.qkv.out_features == 3 * 512 and attn.out.in_features == 512
    x = torch.randn(3, 8, 256)
    out, weights = attn.eval()(x, need_weights=True)
    fused, _ = attn(x)
    assert out.shape == (3, 8, 256) and weights.shape == (3, 8, 8, 8)
    assert torch.allclose(out, fused, atol=1e-5), "explicit and fused attention agree"


def test_shapes_from_features_and_from_clips():
    model = cm.ClipClassifier().eval()
    out = model(torch.randn(4, 8, 512))
    assert out.shape == (4, 2) and torch.allclose(out.exp().sum(1), torch.ones(4), atol=1e-5)
    backbone, info = cm.resnet18_backbone(imagenet=False)
    assert info["weights"] == "random"
    with_backbone = cm.ClipClassifier(cm.FrozenBackbone(backbone)).eval()
    assert with_backbone(torch.randn(2, 8, 3, 32, 32)).shape == (2, 2)
    with pytest.raises(ValueError, match="expected 8 frames"):
        model(torch.randn(2, 7, 512))
    with pytest.raises(ValueError, match="no backbone"):
        model(torch.randn(1, 8, 3, 16, 16))


@pytest.mark.parametrize("kwargs", [dict(), dict(head="mean"), dict(position="learned"), dict(position="none"),
                                    dict(transformer=False)])
def test_every_frame_reaches_the_output(kwargs):
    model = cm.ClipClassifier(**kwargs).eval()
    x = torch.randn(1, 8, 512, requires_grad=True)
    model(x)[0, 1].backward()
    per_frame = x.grad.abs().sum(dim=-1)[0]
    assert (per_frame > 0).all(), f"{kwargs}: frames without gradient {per_frame}"


def test_the_head_itself_reads_all_8_encoder_outputs():
    # Attention mixes frames, so a gradient at the input would pass even if the head read frame 0 only:
    # check the gradient at the head's own input, 8 blocks of 256.
    model = cm.ClipClassifier().eval()
    captured = {}

    def keep_input(module, args):
        args[0].retain_grad()
        captured["pooled"] = args[0]

    model.head.register_forward_pre_hook(keep_input)
    model(torch.randn(1, 8, 512))[0, 1].backward()
    per_frame = captured["pooled"].grad.view(8, 256).abs().sum(dim=-1)
    assert (per_frame > 0).all(), per_frame


def test_concat_head_is_the_seeds():
    model = cm.ClipClassifier()
    layers = list(model.head)
    assert isinstance(layers[0], nn.Linear) and layers[0].in_features == 8 * 256 and layers[0].out_features == 256
    assert isinstance(layers[1], nn.ReLU) and layers[2].p == 0.2 and layers[3].out_features == 2
    with pytest.raises(ValueError, match="valid: rope, learned, none"):
        cm.ClipClassifier(position="alibi")


def test_order_matters_for_rope_and_not_without_position_encoding():
    x = torch.randn(2, 8, 512)
    shuffled = x[:, torch.tensor([7, 6, 5, 4, 3, 2, 1, 0])]
    torch.manual_seed(0)
    rope = cm.ClipClassifier(head="mean").eval()
    torch.manual_seed(0)
    plain = cm.ClipClassifier(head="mean", position="none").eval()
    assert not torch.allclose(rope(x), rope(shuffled), atol=1e-5)
    assert torch.allclose(plain(x), plain(shuffled), atol=1e-5), "mean pooling without positions is order-blind"


def test_shuffle_frames_permutes_each_clip():
    x = torch.arange(3 * 8).view(3, 8, 1).float()
    out = cm.shuffle_frames(x, seed=0)
    for i in range(3):
        assert sorted(out[i, :, 0].tolist()) == x[i, :, 0].tolist()


def test_cached_and_end_to_end_paths_agree():
    backbone, _ = cm.resnet18_backbone(imagenet=False)
    frozen = cm.FrozenBackbone(backbone)
    clips = torch.randint(0, 256, (2, 8, 3, 32, 32), dtype=torch.uint8)
    features = cm.embed_clips(frozen, clips, "cpu", progress=False)
    assert features.shape == (2, 8, 512)
    torch.manual_seed(0)
    model = cm.ClipClassifier(frozen).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        direct = model(cm.normalise_clips(clips))
    cached = model(features)
    assert torch.allclose(direct.float(), cached, atol=0.05)


def test_frozen_backbone_stays_frozen_in_training_mode():
    backbone, _ = cm.resnet18_backbone(imagenet=False)
    frozen = cm.FrozenBackbone(backbone).train()
    assert not frozen.backbone.training
    assert not any(p.requires_grad for p in frozen.parameters())


def test_training_on_cached_features_is_deterministic():
    from picseq_utils.data import TensorLoader
    from picseq_utils.train import fit

    x, y = torch.randn(32, 8, 512), torch.arange(32) % 2

    def once():
        torch.manual_seed(0)
        result = fit(cm.ClipClassifier(), TensorLoader(x, y, 8, seed=0), epochs=2, lr=1e-4, loss_fn=nn.NLLLoss(),
                     progress=False, schedule="constant")
        return result.history["train_loss"].tolist()

    assert once() == once()


def test_study_protocols_keep_clips_apart_or_leak_them_and_record_a_like_for_like_gap(tmp_project):
    import json

    from picseq_utils import notebook as nb
    from picseq_utils.data import clips as clipdata

    ns = {}
    nb.begin(ns)
    ns.update(profile="smoke", seed=0, device="cpu", data_root="data", data_source="auto", clips_folder="",
              n_clips=8, frame_size=32, augment_mode="augmentor", copies=3, folds=2, ablation_folds=1, epochs=1,
              batch_size=8, lr=1e-3, weight_decay=0.01, imagenet_weights=False, finetune_epochs=0,
              finetune_folds=1, speed_epochs=1, speed_clips=0, resume=False)
    run = nb.setup("02_resnet_embedded_transformer", ns, quiet=True)
    clipset = clipdata.generated_clips(8, 32, 0, root=tmp_project / "data")
    study = cm.ClipStudy(run, clipset, run.params)
    assert study.aug_features.shape == (24, 8, 512) and torch.equal(study.aug_owner, torch.arange(8).repeat_interleave(3))
    for train_idx, val_idx in study.folds:  # honest: no clip's copies on both sides
        assert not set(study.aug_owner[study.copies_of(train_idx)].tolist()) & set(val_idx.tolist())
    ablations = study.ablations()[0]
    leaky = study.leaky()
    assert (leaky["val copies whose clip is also in training"] > 0).all()
    results = study.record_protocols(ablations, leaky, study.finetuned())
    assert cm.CORRECT_ON_COPIES in results.index
    single = results.loc["learned absolute positions"]  # 1 ablation fold: no std, not a fake 0
    assert single["folds"] == 1 and pd.isna(single["± std"])
    metrics = {m["name"]: m for m in json.loads(run.writer.path.read_text())["metrics"]}
    on_copies = ablations[ablations["variant"] == cm.CORRECT_ON_COPIES]["val_acc"].mean()
    assert metrics["leakage_gap"]["value"] == pytest.approx(leaky["val_acc"].mean() - on_copies, abs=1e-6)
    assert metrics["val_acc_leaky_split"]["provenance"] == ["standin"]
    speed = study.speed()
    assert speed["cached"]["clips"] == speed["end-to-end"]["clips"] == 12  # the copies of fold 0's training clips
    assert "faster per epoch" in study.record_speed(speed, ablations)
    recorded = {m["name"]: m for m in json.loads(run.writer.path.read_text())["metrics"]}
    assert recorded["cached_embedding_speedup"]["value"] == pytest.approx(speed["speedup_per_epoch"])
    assert recorded["cached_embedding_speedup"]["context"]["whole_run_speedup"] > 0


# Moved from test_determinism.py.
def test_the_clip_model_end_to_end_repeats_exactly():
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


