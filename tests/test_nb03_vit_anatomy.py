"""Notebook 03: its method cells (patches, the ViT, rollout, attention distance, position-table resampling)
checked with known values, and the notebook run at toy size - with a cell replaced, and on notebook 04's model."""
import itertools
import math

import nbformat
import pytest
import torch

from notebook_runner import cells, run_notebook

NAME = "03_vit_anatomy"
METHOD_TAGS = ("patchify", "attention", "block", "vit", "rollout", "distance", "possim", "pca", "resample")
TINY = dict(vit_dim=16, vit_depth=2, vit_heads=2, epochs=1, batch_size=64, pool_lrs=[0.003], pool_epochs=1,
            pool_seeds=2, finetune_epochs=1)


def tagged(tag: str) -> str:
    found = [c.source for c in cells(NAME) if c.cell_type == "code" and tag in c.metadata.get("tags", [])]
    assert len(found) == 1, f"one cell of {NAME} is tagged {tag!r}"
    return found[0]


@pytest.fixture(scope="module")
def m():
    """The notebook's method cells, executed after its import cell, as a namespace."""
    namespace: dict = {}
    imports = next(c.source for c in cells(NAME) if c.cell_type == "code")
    for source in (imports, *map(tagged, METHOD_TAGS)):
        exec(compile(source, NAME, "exec"), namespace)  # noqa: S102 - our own notebook
    return namespace


def test_patchify_cuts_rows_of_patches_in_conv_weight_order(m):
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    patches = m["patchify"](images, 4)
    assert patches.shape == (2, 4, 48)
    assert torch.equal(patches[1, 1].view(3, 4, 4), images[1, :, :4, 4:])  # second patch: top row, right half
    conv = torch.nn.Conv2d(3, 5, 4, stride=4)
    by_linear = patches @ conv.weight.reshape(5, -1).T + conv.bias
    assert torch.allclose(by_linear, conv(images).flatten(2).transpose(1, 2), atol=1e-4)


@pytest.mark.parametrize("image_size,patch,dim,depth,heads", [(8, 2, 16, 2, 2), (32, 4, 24, 1, 3)])
def test_our_vit_equals_timms_with_the_same_weights(m, image_size, patch, dim, depth, heads):
    from timm.utils import AttentionExtract

    from picseq_utils.models import build_model, set_fused_attention

    torch.manual_seed(0)
    timm_vit = build_model("vit_cifar", 7, image_size=image_size, patch_size=patch, dim=dim, depth=depth,
                           heads=heads).eval()
    with torch.no_grad():  # non-trivial class token, biases and norms
        for p in timm_vit.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours = m["ViT"](image_size, patch, dim, depth, heads, 7).eval()
    ours.load_state_dict(timm_vit.state_dict())  # strict
    x = torch.randn(3, 3, image_size, image_size)
    with torch.no_grad():
        assert torch.allclose(ours(x), timm_vit(x), atol=1e-5)
        maps = AttentionExtract(set_fused_attention(timm_vit, False), names=["blocks.*.attn.softmax"])(x)
    for i, block in enumerate(ours.blocks):  # the weights our Attention kept are timm's softmax outputs
        assert torch.allclose(block.attn.weights, maps[f"blocks.{i}.attn.softmax"], atol=1e-5)


def test_rollout_rows_sum_to_one_for_any_batch_and_each_image_is_rolled_alone(m):
    rollout = m["attention_rollout"]
    attn = torch.softmax(torch.randn(3, 5, 2, 17, 17), dim=-1)
    rolled = rollout(attn)
    assert rolled.shape == (5, 17, 17)
    assert torch.allclose(rolled.sum(-1), torch.ones(5, 17), atol=1e-5)
    for i in range(5):  # normalising without keepdim would mix images and rows
        assert torch.allclose(rolled[i], rollout(attn[:, i:i + 1])[0], atol=1e-6)
    assert torch.allclose(rollout(torch.full((1, 2, 1, 5, 5), 0.2), residual=0.0), torch.full((2, 5, 5), 0.2))
    assert torch.allclose(rollout(attn, residual=1.0), torch.eye(17).expand(5, 17, 17))  # residual path only


def test_uniform_attention_has_the_mean_patch_distance_and_the_class_token_is_dropped(m):
    grid, patch = 4, 8
    tokens = 1 + grid * grid
    attn = torch.full((2, 3, 4, tokens, tokens), 1.0 / tokens)
    attn[..., 0] = 0.5  # heavy attention to the class token: dropped, rows renormalised
    attn = attn / attn.sum(-1, keepdim=True)
    distance = m["mean_attention_distance"](attn, grid, patch)
    coords = list(itertools.product(range(grid), repeat=2))
    analytic = sum(math.dist(a, b) for a in coords for b in coords) / len(coords) ** 2 * patch
    assert distance.shape == (2, 4) and torch.allclose(distance, torch.full((2, 4), analytic), atol=1e-4)
    assert float(m["patch_distances"](grid, patch).mean()) == pytest.approx(analytic, rel=1e-6)
    eye = torch.eye(tokens).expand(1, 1, 1, tokens, tokens)
    assert float(m["mean_attention_distance"](eye, grid, patch).max()) == 0.0  # attending to oneself


def test_resampling_keeps_the_class_row_is_the_identity_on_the_same_grid_and_matches_timm(m):
    from timm.layers import resample_abs_pos_embed

    table = torch.randn(1, 1 + 16, 8)
    assert torch.allclose(m["resample_pos_embed"](table, 4), table, atol=1e-6)
    larger = m["resample_pos_embed"](table, 7)
    assert larger.shape == (1, 50, 8) and torch.equal(larger[:, 0], table[:, 0])
    assert torch.allclose(larger, resample_abs_pos_embed(table, [7, 7], num_prefix_tokens=1), atol=1e-6)
    constant = torch.ones(1, 17, 8)  # a constant grid stays constant
    assert torch.allclose(m["resample_pos_embed"](constant, 6), torch.ones(1, 37, 8), atol=1e-5)


def test_position_similarity_and_filter_components(m):
    sim = m["position_similarity"](torch.randn(1, 1 + 9, 12))
    assert sim.shape == (3, 3, 3, 3)
    flat = sim.reshape(9, 9)
    assert torch.allclose(flat.diagonal(), torch.ones(9), atol=1e-5) and torch.allclose(flat, flat.T, atol=1e-6)
    components, share = m["filter_components"](torch.randn(20, 3, 2, 2))
    assert components.shape == (12, 3, 2, 2) and share.sum().item() == pytest.approx(1, abs=1e-5)
    rows = components.reshape(12, -1)
    assert torch.allclose(rows @ rows.T, torch.eye(12), atol=1e-4) and bool((share[:-1] >= share[1:]).all())


# --------------------------------------------------------------------------- the notebook, run


@pytest.mark.exercise(NAME, 1)
def test_rollout_replaced_by_the_last_layer_changes_the_recorded_rollout(tmp_project, m):
    last_only = "def attention_rollout(attentions, residual=0.5):\n    return attentions[-1].mean(dim=1)\n"
    ns = run_notebook(NAME, params=TINY, replace={"rollout": last_only}, stop_after="reading", project=tmp_project)
    recorded = {e["name"]: e["value"] for e in ns["run"].writer.content["metrics"]}
    assert recorded["rollout_entropy"] == pytest.approx(recorded["last_layer_entropy"], abs=1e-7)
    assert torch.equal(ns["rollout"], ns["last_layer"])
    # the notebook's own rollout, on the same attention maps, reads differently (after one epoch every map is
    # close to uniform, so the entropies differ by little - but by far more than float error)
    original = ns["head_reading"](m["attention_rollout"](ns["attn"]), ns["model"].global_pool)
    assert float((original - ns["last_layer"]).abs().max()) > 1e-4
    assert abs(ns["entropy"](original) - recorded["last_layer_entropy"]) > 1e-6


@pytest.mark.exercise(NAME, 2)
def test_zeroed_position_embeddings_leave_no_layout_to_find(tmp_project):
    zeroed = tagged("model") + "\nmodel.pos_embed.data.zero_()\nmodel.pos_embed.requires_grad_(False)\n"
    ns = run_notebook(NAME, params=TINY, replace={"model": zeroed}, stop_after="possim_summary", project=tmp_project)
    recorded = {e["name"]: e["value"] for e in ns["run"].writer.content["metrics"]}
    assert float(ns["model"].pos_embed.abs().max()) == 0.0, "still zero after training"
    assert recorded["pos_similarity_neighbour_mean"] == 0.0 and recorded["pos_similarity_mirrored_mean"] == 0.0


def _fake_notebook04(project, patch=8, dim=16, depth=1, heads=2, pool="avg"):
    """Notebook 04's parameters cell as notebook 03 reads it (the other parameters do not matter here)."""
    nb = nbformat.v4.new_notebook()
    cell = ('profile: Profile = "smoke"\nseed: Seed = 0\ndevice: Device = "auto"\n'
            f"# patch\nvit_patch: Int(1) = {patch}\n# width\nvit_dim: Int(1) = {dim}\n# blocks\n"
            f"vit_depth: Int(1) = {depth}\n# heads\nvit_heads: Int(1) = {heads}\n"
            f'# pooling\nvit_pool: Choice("avg", "token") = {pool!r}')
    nb.cells = [nbformat.v4.new_code_cell(cell, metadata={"tags": ["parameters"]})]
    nbformat.write(nb, str(project / "notebooks" / "04_vit_vs_resnet_cifar10.ipynb"))
    return dict(vit_patch=patch, vit_dim=dim, vit_depth=depth, vit_heads=heads, vit_pool=pool)


CIFAR = dict(TINY, inspect="notebook04", data_source="standin", image_size=32, patch_size=8, resample_size=48,
             crop_padding=4, flip=True, batch_size=128)


def test_notebook04s_checkpoint_is_inspected_end_to_end(tmp_project, small_cifar_root):
    from picseq_utils.checkpoint import Checkpointer
    from picseq_utils.models import build_model
    from picseq_utils.paths import checkpoints_dir

    p = _fake_notebook04(tmp_project)
    torch.manual_seed(3)
    vit04 = build_model("vit_cifar", 10, image_size=32, patch_size=p["vit_patch"], dim=p["vit_dim"],
                        depth=p["vit_depth"], heads=p["vit_heads"], pool=p["vit_pool"])
    Checkpointer(checkpoints_dir("smoke", "04_vit_vs_resnet_cifar10", "vit_seed0")).save(
        {"epoch": 7, "model": vit04.state_dict()}, 7)
    ns = run_notebook(NAME, params=dict(CIFAR, data_root=str(small_cifar_root)), project=tmp_project)
    content = ns["run"].writer.content
    assert content["status"] == "complete"
    assert content["weights"]["inspected ViT"]["epoch"] == 7 and content["weights"]["inspected ViT"]["vit_pool"] == "avg"
    assert ns["model"].global_pool == "avg" and ns["grid"] == 4 and ns["attn"].shape[:3] == (1, 32, 2)
    assert torch.equal(ns["model"].patch_embed.proj.weight.cpu(), vit04.patch_embed.proj.weight)
    recorded = {e["name"]: e for e in content["metrics"]}
    assert recorded["inspected_vit_acc"]["context"]["split"] == "test"
    assert {"params_vit_base", "pool_difference_lr_0_003", "acc_finetuned"} <= set(recorded)
    assert recorded["params_vit_base"]["value"] == 86_567_656 and "differs" in recorded["params_vit_base"]["context"]
    assert content["findings"]["caveat"].startswith("**A pipeline check"), "stand-in CIFAR-10"


def test_without_notebook04s_checkpoint_it_says_so_and_trains_its_own(tmp_project, small_cifar_root, capsys):
    _fake_notebook04(tmp_project)
    ns = run_notebook(NAME, params=dict(CIFAR, data_root=str(small_cifar_root)), stop_after="train",
                      project=tmp_project)
    assert "notebook 04 has not trained its ViT" in capsys.readouterr().out
    assert ns["run"].writer.content["weights"]["inspected ViT"]["weights"] == "trained here"
    assert ns["model"].patch_embed.patch_size[0] == 8 and ns["held_name"] == "validation"
