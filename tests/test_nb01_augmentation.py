"""Notebook 01's exported augmentation: one draw per clip, frame consistency in both modes, Augmentor's semantics
(firing rule, whole-degree angles, the four skew types), shapes kept for any frame size."""
import math

import pytest
import torch

from picseq_lessons import clip_augmentation as ca


def clip(frames=8, h=32, w=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (frames, 3, h, w), dtype=torch.uint8, generator=gen)


@pytest.mark.parametrize("mode", ca.MODES)
def test_identical_frames_stay_identical_and_each_frame_matches_its_own_transform(mode):
    report = ca.frame_consistency(clip(), mode, draws=6, seed=1)
    assert report["identical frames stay identical"] == 0.0
    assert report["frame alone = frame in clip"] < 1e-6


@pytest.mark.parametrize("mode", ca.MODES)
@pytest.mark.parametrize("h, w", [(32, 32), (24, 40), (48, 30)])
def test_every_mode_keeps_any_clip_shape_and_dtype_and_is_reproducible(mode, h, w):
    x = clip(h=h, w=w)
    for s in range(6):  # enough draws that quarter turns fire
        a = ca.augment_clip(x, mode, torch.Generator().manual_seed(s))
        assert a.shape == x.shape and a.dtype == torch.uint8
        assert torch.equal(a, ca.augment_clip(x, mode, torch.Generator().manual_seed(s)))
    assert ca.rotate90(x.float(), 1).shape == x.shape, "a quarter turn of a non-square clip keeps its shape"


@pytest.mark.parametrize("mode", ca.MODES)
def test_a_seeded_augmentation_leaves_the_global_generator_alone(mode):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ca.augment_clip(clip(), mode, torch.Generator().manual_seed(5))
    assert torch.equal(torch.rand(3), expected)


def test_augment_clips_expands_clip_by_clip_with_independent_draws():
    batch = torch.stack([clip(seed=i) for i in range(3)])
    out = ca.augment_clips(batch, "augmentor", seed=0, copies=4)
    assert out.shape == (12, 8, 3, 32, 32)
    assert len({out[i].sum().item() for i in range(12)}) > 6, "each copy is a new draw"
    assert torch.equal(out, ca.augment_clips(batch, "augmentor", seed=0, copies=4))


def test_augmentors_firing_rule_fires_55_percent_and_the_exact_rule_50():
    for rules, expected in (("augmentor", 0.55), ("exact", 0.5)):
        gen = torch.Generator().manual_seed(0)
        fired = [ca.sample_params(32, 32, gen, ca.Recipe(rules=rules)).fired for _ in range(3000)]
        for step in ca.STEPS:
            assert abs(sum(f[step] for f in fired) / len(fired) - expected) < 0.03, (rules, step)


def test_augmentor_rules_draw_whole_degrees_as_augmentor_does():
    gen = torch.Generator().manual_seed(0)
    draws = [ca.sample_params(100, 60, gen) for _ in range(4000)]
    angles = {d.angle for d in draws}
    shears = {d.shear_angle for d in draws}
    assert all(float(a).is_integer() for a in angles | shears)
    assert min(angles) == -45 and max(angles) == 45
    # Shear: int(uniform(-37, 37)), plus 1 unless it is -1 -> -35..37, never 0
    assert min(shears) == -35 and max(shears) == 37 and 0 not in shears
    assert {d.skew_type for d in draws} == set(ca.SKEW_TYPES), "RANDOM skew picks among all four types"
    amounts = [d.skew_amount for d in draws]
    assert min(amounts) == 1 and max(amounts) == math.ceil(100 * 0.5), "1 .. ceil(max(h, w) * magnitude) pixels"
    assert all(d.offsets.abs().max() <= 1 and torch.equal(d.offsets, d.offsets.round()) for d in draws)
    exact = [ca.sample_params(100, 60, gen, ca.Recipe(rules="exact", skew_types=("CORNER",))) for _ in range(200)]
    assert not all(float(d.angle).is_integer() for d in exact) and {d.skew_type for d in exact} == {"CORNER"}
    with pytest.raises(ValueError, match="valid: augmentor, exact"):
        ca.sample_params(32, 32, gen, ca.Recipe(rules="roughly"))


@pytest.mark.parametrize("h, w", [(40, 40), (30, 52)])
def test_rotation_shear_and_skew_leave_no_empty_corners(h, w):
    white = torch.ones(1, 3, h, w)
    for degrees in (-45, -10, 30, 45):
        assert ca.rotate_crop(white, degrees).min() > 0.99
    for degrees in (-35, 20, 37):
        for axis in ("x", "y"):
            assert ca.shear_crop(white, degrees, axis).min() > 0.99
    for kind, directions in ca.SKEW_MOVES.items():
        for moves in directions:
            assert ca.skew(white, moves, 20).min() > 0.99, (kind, moves)


def test_rotation_and_shear_sample_only_inside_the_frame():
    # A black 2-px ring around a white frame: reading outside the frame would show the ring (clamped border).
    framed = torch.zeros(1, 3, 64, 64)
    framed[..., 2:-2, 2:-2] = 1.0
    dark = lambda out: float((out < 0.5).float().mean())  # noqa: E731
    for degrees in (-45, -20, 5, 45):
        assert dark(ca.rotate_crop(framed, degrees)) < 0.08, degrees
    for degrees in (-35, -5, 20, 37):
        for axis in ("x", "y"):
            assert dark(ca.shear_crop(framed, degrees, axis)) < 0.08, (degrees, axis)


def test_zero_parameters_are_the_identity():
    x = torch.rand(2, 3, 24, 30)
    assert torch.allclose(ca.rotate_crop(x, 0.0), x, atol=1e-5)
    assert torch.allclose(ca.shear_crop(x, 0.0, "x"), x, atol=1e-5)
    assert torch.allclose(ca.shear_crop(x, 0.0, "y"), x, atol=1e-5)
    assert torch.allclose(ca.skew(x, ((0, 0),), 0), x, atol=1e-5)
    assert torch.allclose(ca.grid_distort(x, torch.zeros(3, 3, 2)), x, atol=1e-5)


def test_known_directions_rotate90_like_pil_and_a_corner_skew_moves_only_its_corner():
    x = torch.zeros(1, 1, 4, 4)
    x[..., 0, 3] = 1  # top-right pixel
    assert ca.rotate90(x, 1)[0, 0, 0, 0] == 1  # counter-clockwise, as PIL's rotate(90): top-right -> top-left
    assert ca.rotate90(x, 3)[0, 0, 3, 3] == 1
    ramp = torch.linspace(0, 1, 48).expand(1, 1, 48, 48).contiguous()
    out = ca.skew(ramp, ((2, 0),), 12)  # bottom-right corner pushed out along x: the top row stays put
    assert torch.allclose(out[..., 0, :], ramp[..., 0, :], atol=0.02) and not torch.allclose(out, ramp, atol=0.02)


def test_distortion_moves_the_source_of_a_vertex_by_its_offset():
    x = torch.linspace(0, 1, 64).expand(1, 1, 64, 64).contiguous()  # value = column position
    offsets = torch.zeros(3, 3, 2)
    offsets[1, 1, 0] = 1.0  # the centre vertex reads one pixel further right
    out = ca.grid_distort(x, offsets)
    assert out[0, 0, 32, 32] > x[0, 0, 32, 32] and torch.allclose(out[..., :4, :], x[..., :4, :], atol=1e-5)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="valid: augmentor, torchvision"):
        ca.augment_clip(clip(), "kornia")
    with pytest.raises(ValueError, match=r"a clip is \(T, C, H, W\)"):
        ca.augment_clip(clip()[None], "augmentor")
    with pytest.raises(ValueError, match="at least 21 px.*augmentor"):
        ca.augment_clip(clip(h=16, w=16), "torchvision", torch.Generator().manual_seed(0))
