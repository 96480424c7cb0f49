"""Notebook 03 helpers: patches, equations, sizes, attention rollout and distance, resampling."""
import math

import pytest
import torch

from picseq_utils import vit_anatomy as va
from picseq_utils.models import resize_vit_input

SMALL = dict(image_size=32, patch_size=4, vit_dim=24, vit_depth=2, vit_heads=3)


def test_patchify_shapes_and_order():
    image = torch.arange(3 * 32 * 32, dtype=torch.float32).view(3, 32, 32)
    patches = va.patchify(image, 16)
    assert patches.shape == (4, 3 * 16 * 16)
    assert torch.equal(patches[1].view(3, 16, 16), image[:, :16, 16:])  # second patch: top row, right half
    with pytest.raises(ValueError, match="must divide"):
        va.patchify(image, 5)


def test_linear_patch_projection_equals_the_stride_p_convolution():
    image = torch.rand(3, 64, 64)
    check = va.projection_equals_convolution(image, patch=16, dim=32)
    assert check["patches"] == (16, 768) and check["tokens (conv)"] == (16, 32)
    assert check["max |difference|"] < 1e-5


def test_encoder_equations_reproduce_timms_forward():
    model = va.small_vit(SMALL, 10)
    table, difference = va.encoder_walk(model, torch.randn(3, 3, 32, 32))
    assert difference < 1e-5
    assert table["shape"].iloc[2] == (3, 65, 24) and table["shape"].iloc[-1] == (3, 10)
    shapes = dict(zip(table["step"], table["shape"]))
    assert shapes["block 1: LN, then q, k, v per head"] == (3, 3, 65, 8)  # (B, heads, T, d_h)
    assert shapes["block 1: attention weights"] == (3, 3, 65, 65)


def test_head_attention_reads_where_the_classifier_reads():
    attention = torch.rand(2, 5, 5)
    assert torch.equal(va.head_attention(attention, "token"), attention[:, 0, 1:])
    assert torch.allclose(va.head_attention(attention, "avg"), attention[:, 1:, 1:].mean(1))
    assert va.head_attention(attention, "avg").shape == (2, 4)


def test_paper_sizes_within_one_percent():
    table = va.size_table()
    for row in table.to_dict("records"):
        assert abs(row["parameters (computed)"] / row["paper"] - 1) < 0.01, row["model"]


def test_rollout_rows_sum_to_one_for_any_batch_size():
    attn = torch.softmax(torch.randn(3, 5, 2, 17, 17), dim=-1)
    rollout = va.attention_rollout(attn)
    assert rollout.shape == (5, 17, 17)
    assert torch.allclose(rollout.sum(-1), torch.ones(5, 17), atol=1e-5)
    # one layer of uniform attention with no residual is uniform
    uniform = torch.full((1, 2, 1, 5, 5), 0.2)
    assert torch.allclose(va.attention_rollout(uniform, residual=0.0), torch.full((2, 5, 5), 0.2))


def test_mean_attention_distance_of_uniform_attention_is_the_mean_pairwise_distance():
    grid, patch = 4, 8
    tokens = 1 + grid * grid
    attn = torch.full((2, 3, 4, tokens, tokens), 1.0 / tokens)  # class token included, then dropped
    distance = va.mean_attention_distance(attn, grid, patch)
    assert distance.shape == (2, 4)
    coords = [(i, j) for i in range(grid) for j in range(grid)]
    analytic = sum(math.dist(a, b) for a in coords for b in coords) / len(coords) ** 2 * patch
    assert torch.allclose(distance, torch.full((2, 4), analytic), atol=1e-4)
    # attending only to oneself is distance 0
    eye = torch.eye(tokens).expand(1, 1, 1, tokens, tokens)
    assert float(va.mean_attention_distance(eye, grid, patch).max()) == 0.0


def test_attention_maps_come_from_the_explicit_path_and_do_not_change_the_logits():
    model = va.small_vit(SMALL, 10).eval()
    x = torch.randn(2, 3, 32, 32)
    assert va.fused_vs_explicit_attention(model, x) < 1e-5
    attn = va.attention_maps(model, x)
    assert attn.shape == (2, 2, 3, 65, 65)
    assert torch.allclose(attn.sum(-1), torch.ones(2, 2, 3, 65), atol=1e-5)
    assert all(m.fused_attn for m in model.modules() if hasattr(m, "fused_attn")), "fused attention restored"


def test_position_similarity_and_filter_components():
    model = va.small_vit(SMALL, 10)
    sim = va.position_similarity(model)
    assert sim.shape == (8, 8, 8, 8)
    assert torch.allclose(torch.stack([sim[i, j, i, j] for i in range(8) for j in range(8)]), torch.ones(64), atol=1e-5)
    summary = va.position_similarity_summary(sim)
    assert -1 <= summary["neighbour"] <= 1 and -1 <= summary["mirrored"] <= 1
    comps = va.filter_components(model, count=10)
    assert comps.shape == (10, 3, 4, 4)
    flat = comps.reshape(10, -1)
    assert torch.allclose(flat @ flat.T, torch.eye(10), atol=1e-4)


def test_resampling_to_the_same_grid_is_the_identity_and_a_larger_grid_runs():
    model = va.small_vit(SMALL, 10).eval()
    x = torch.randn(2, 3, 32, 32)
    before, pos = model(x), model.pos_embed.detach().clone()
    resize_vit_input(model, 32)
    assert torch.equal(model.pos_embed, pos) and torch.allclose(model(x), before)
    calls = []
    table = va.resampling_study(model, lambda m, s: (calls.append(s), 0.5)[1], None, 32, 48)
    assert calls == [32, 48] and table["grid"].tolist() == [8, 12]
    assert model(torch.randn(1, 3, 48, 48)).shape == (1, 10)


def test_a_state_saved_at_another_resolution_loads_with_timms_resampled_table():
    from timm.layers import resample_abs_pos_embed

    from picseq_utils.models import load_vit_state_resampled

    small = va.small_vit(SMALL, 10)
    state = small.state_dict()
    same = va.small_vit(SMALL, 10)
    assert load_vit_state_resampled(same, state) == {"resampled": False, "skipped": []}
    assert torch.equal(same.pos_embed, small.pos_embed)
    large = va.small_vit(SMALL | {"image_size": 48}, 10)
    assert load_vit_state_resampled(large, state)["resampled"]
    expected = resample_abs_pos_embed(state["pos_embed"], new_size=[12, 12], old_size=[8, 8], num_prefix_tokens=1)
    assert large.pos_embed.shape == (1, 145, 24) and torch.equal(large.pos_embed.detach(), expected)
    assert torch.equal(large.pos_embed[0, 0], small.pos_embed[0, 0]), "the class token's embedding is kept"


def test_vit_b16_grows_its_position_table_for_384px():
    info = va.vit_b16_resolution_change()
    assert info["pos_embed at 224 px"] == (1, 197, 768) and info["pos_embed at 384 px"] == (1, 577, 768)


def test_small_vit_table_lists_the_suites_models():
    table = va.small_vit_table(SMALL | {"vit_dim": 24})
    assert len(table) == 5 and table["parameters"].iloc[1] == 11_137_290


def test_notebook04s_vit_loads_through_the_checkpointer_and_survives_a_truncated_file(tmp_project):
    import shutil
    import warnings
    from pathlib import Path

    from picseq_utils.cifar_study import build_study_model
    from picseq_utils.checkpoint import Checkpointer
    from picseq_utils.nbtools import parameters_cell
    from picseq_utils.paths import checkpoints_dir

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "notebooks/04_vit_vs_resnet_cifar10.ipynb", tmp_project / "notebooks")
    shutil.copy(root / "params/smoke.yaml", tmp_project / "params")
    assert va.load_notebook04_vit("smoke") is None  # notebook 04 not run yet
    import nbformat

    p = parameters_cell(nbformat.read(str(tmp_project / "notebooks/04_vit_vs_resnet_cifar10.ipynb"), as_version=4))
    model = build_study_model("vit", 10, p)
    saver = Checkpointer(checkpoints_dir("smoke", "04_vit_vs_resnet_cifar10", "vit_seed0"))
    saver.save({"epoch": 1, "model": model.state_dict()}, 1)
    newest = saver.save({"epoch": 2, "model": model.state_dict()}, 2)
    newest.write_bytes(newest.read_bytes()[:64])  # killed while copying, say
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded, info = va.load_notebook04_vit("smoke")
    assert info["epoch"] == 1 and info["vit_pool"] == p["vit_pool"]
    assert any("unreadable" in str(w.message) for w in caught)
    assert torch.equal(loaded.pos_embed, model.pos_embed)
