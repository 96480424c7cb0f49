"""Notebook 02's exported model: RoPE, attention with 8 heads of 64 in a 256-d model, the clip classifier, the
cached-embedding path; determinism of training on cached features and end to end."""
import pandas as pd
import pytest
import torch
from torch import nn

from picseq_lessons import resnet_embedded_transformer as m
from picseq_utils.data import TensorLoader
from picseq_utils.runtime import seed_everything
from picseq_utils.train import fit
from training_helpers import COMPARED


def test_rope_scores_depend_only_on_the_relative_offset_and_keep_norms():
    torch.manual_seed(0)
    q, k = torch.randn(64), torch.randn(64)

    def score(a, b):
        return m.apply_rope(q[None], torch.tensor([a]))[0] @ m.apply_rope(k[None], torch.tensor([b]))[0]

    for offset in (0, 1, 3):
        values = torch.stack([score(a, a + offset) for a in range(5)])
        assert torch.allclose(values, values[0].expand(5), atol=1e-4)
    assert not torch.isclose(score(0, 1), score(0, 3), atol=1e-3)
    x = torch.randn(2, 8, 64)
    assert torch.allclose(m.apply_rope(x, torch.arange(8)).norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    assert torch.equal(m.apply_rope(x, torch.zeros(8, dtype=torch.long)), x), "position 0 is no turn"
    with pytest.raises(ValueError, match="even head dimension"):
        m.rope_angles(torch.arange(3), 63)


def test_attention_has_8_heads_of_64_inside_a_256_model_and_explicit_equals_fused():
    attn = m.FrameSelfAttention(256, 8, 64).eval()
    assert attn.qkv.out_features == 3 * 512 and attn.out.in_features == 512
    x = torch.randn(3, 8, 256)
    out, weights = attn(x, need_weights=True)
    assert out.shape == (3, 8, 256) and weights.shape == (3, 8, 8, 8)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 8, 8), atol=1e-5)
    assert torch.allclose(out, attn(x)[0], atol=1e-5)


def test_shapes_from_features_and_from_clips_and_clear_errors():
    model = m.ClipClassifier().eval()
    out = model(torch.randn(4, 8, 512))
    assert out.shape == (4, 2) and torch.allclose(out.exp().sum(1), torch.ones(4), atol=1e-5)
    backbone, info = m.resnet18_backbone(imagenet=False)
    assert info["weights"] == "random"
    assert m.ClipClassifier(m.FrozenBackbone(backbone)).eval()(torch.randn(2, 8, 3, 32, 32)).shape == (2, 2)
    assert m.ClipClassifier(classes=3).eval()(torch.randn(2, 8, 512)).shape == (2, 3)
    with pytest.raises(ValueError, match="expected 8 frames per clip, got 7"):
        model(torch.randn(2, 7, 512))
    with pytest.raises(ValueError, match="no backbone"):
        model(torch.randn(1, 8, 3, 16, 16))
    with pytest.raises(ValueError, match="rope, learned or none"):
        m.ClipClassifier(position="alibi")


@pytest.mark.parametrize("kwargs", [dict(), dict(head="mean"), dict(position="learned"), dict(position="none"),
                                    dict(transformer=False)])
def test_every_frame_reaches_the_output(kwargs):
    model = m.ClipClassifier(**kwargs).eval()
    x = torch.randn(1, 8, 512, requires_grad=True)
    model(x)[0, 1].backward()
    assert (x.grad.abs().sum(dim=-1)[0] > 0).all(), kwargs


def test_the_concat_head_is_the_seeds_and_reads_all_8_encoder_outputs():
    model = m.ClipClassifier().eval()
    layers = list(model.head)
    assert layers[0].in_features == 8 * 256 and layers[0].out_features == 256
    assert isinstance(layers[1], nn.ReLU) and layers[2].p == 0.2 and layers[3].out_features == 2
    captured = {}

    def keep_input(module, args):
        args[0].retain_grad()
        captured["pooled"] = args[0]

    model.head.register_forward_pre_hook(keep_input)
    model(torch.randn(1, 8, 512))[0, 1].backward()
    assert (captured["pooled"].grad.view(8, 256).abs().sum(dim=-1) > 0).all()


def test_order_matters_with_rope_and_not_without_positions_and_a_mean_head():
    x = torch.randn(2, 8, 512)
    reversed_ = x[:, torch.arange(7, -1, -1)]
    torch.manual_seed(0)
    rope = m.ClipClassifier(head="mean").eval()
    torch.manual_seed(0)
    plain = m.ClipClassifier(head="mean", position="none").eval()
    assert not torch.allclose(rope(x), rope(reversed_), atol=1e-5)
    assert torch.allclose(plain(x), plain(reversed_), atol=1e-5), "mean pooling without positions is order-blind"


def test_cached_and_end_to_end_paths_agree_and_the_frozen_backbone_stays_frozen():
    backbone, _ = m.resnet18_backbone(imagenet=False)
    frozen = m.FrozenBackbone(backbone).train()
    assert not frozen.backbone.training and not any(p.requires_grad for p in frozen.parameters())
    clips = torch.randint(0, 256, (2, 8, 3, 32, 32), dtype=torch.uint8)
    features = m.embed_clips(frozen, clips, "cpu", batch_clips=1)
    assert features.shape == (2, 8, 512)
    torch.manual_seed(0)
    model = m.ClipClassifier(frozen).eval()
    assert torch.allclose(model(m.normalise_clips(clips)), model(features), atol=0.05)


def test_training_on_cached_features_is_deterministic():
    x, y = torch.randn(32, 8, 512), torch.arange(32) % 2

    def once():
        torch.manual_seed(0)
        result = fit(m.ClipClassifier(), TensorLoader(x, y, 8, seed=0), epochs=2, lr=1e-4, loss_fn=nn.NLLLoss(),
                     progress=False, schedule="constant")
        return result.history["train_loss"].tolist()

    assert once() == once()


def test_the_clip_model_end_to_end_repeats_exactly():
    from picseq_utils.data.clips import generate_clips

    frames, labels = generate_clips(8, 32, seed=0)  # 32 px: no 1x1 feature maps (see test_failures.py)
    clips = torch.from_numpy(frames).permute(0, 1, 4, 2, 3).contiguous()

    def once():
        seed_everything(0)
        model = m.ClipClassifier(m.resnet18_backbone(imagenet=False)[0])  # backbone trained too (the seed's recipe)
        loader = TensorLoader(clips, torch.from_numpy(labels), 4, transform=m.normalise_clips, seed=0)
        val = TensorLoader(clips, torch.from_numpy(labels), 8, transform=m.normalise_clips, shuffle=False)
        return fit(model, loader, val, epochs=2, lr=1e-4, loss_fn=nn.NLLLoss(), progress=False).history

    pd.testing.assert_frame_equal(once()[COMPARED], once()[COMPARED])
