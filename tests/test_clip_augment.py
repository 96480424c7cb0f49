"""Clip augmentation: one draw per clip, frame consistency in both modes, Augmentor semantics."""
import pytest
import torch

from picseq_utils import clip_augment as ca


def clip(frames=8, size=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (frames, 3, size, size), dtype=torch.uint8, generator=gen)


@pytest.mark.parametrize("mode", ca.MODES)
def test_identical_frames_stay_identical_and_each_frame_matches_its_own_transform(mode):
    report = ca.frame_consistency(clip(), mode, draws=6, seed=1)
    assert report["identical frames: max difference"] == 0.0
    assert report["frame vs frame alone: max difference"] < 1e-6


@pytest.mark.parametrize("mode", ca.MODES)
def test_augment_clip_keeps_shape_dtype_and_is_reproducible(mode):
    x = clip()
    a = ca.augment_clip(x, mode, torch.Generator().manual_seed(5))
    b = ca.augment_clip(x, mode, torch.Generator().manual_seed(5))
    assert a.shape == x.shape and a.dtype == torch.uint8 and torch.equal(a, b)


@pytest.mark.parametrize("mode", ca.MODES)
def test_a_seeded_augmentation_leaves_the_global_generator_alone(mode):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ca.augment_clip(clip(), mode, torch.Generator().manual_seed(5))
    ca.frame_consistency(clip(), mode, draws=1)
    assert torch.equal(torch.rand(3), expected)


def test_augment_clips_expands_clip_by_clip_with_independent_draws():
    batch = torch.stack([clip(seed=i) for i in range(3)])
    out = ca.augment_clips(batch, "augmentor", seed=0, copies=4, include_original=True)
    assert out.shape == (15, 8, 3, 32, 32)
    assert torch.equal(out[0], batch[0]) and torch.equal(out[5], batch[1])
    assert not torch.equal(out[1], out[2]), "each copy is a new draw"


def test_exact_probability_and_augmentors_55_percent():
    rates = ca.fire_rates(40000, 0.5, seed=0)
    assert abs(rates["exact (U < p)"] - 0.5) < 0.01
    assert abs(rates["Augmentor (round(U, 1) <= p)"] - 0.55) < 0.01
    gen = torch.Generator().manual_seed(0)
    fired = [ca.sample_params(32, gen).fired for _ in range(2000)]
    for step in ca.STEPS:
        share = sum(f[step] for f in fired) / len(fired)
        assert 0.45 < share < 0.55, step


def test_parameters_stay_in_the_seeds_ranges():
    gen = torch.Generator().manual_seed(0)
    for _ in range(500):
        p = ca.sample_params(100, gen)
        assert -45 <= p.angle <= 45 and -36 <= p.shear_angle <= 36
        assert 1 <= p.skew_pixels <= 50 and p.distort_offsets.abs().max() <= 1
        assert torch.equal(p.distort_offsets, p.distort_offsets.round()), "whole pixels"


def test_rotation_shear_and_skew_leave_no_black_corners():
    white = torch.ones(1, 3, 40, 40)
    for degrees in (-45, -10, 30, 45):
        assert ca.rotate_crop(white, degrees).min() > 0.99
    for degrees in (-36, 20, 36):
        for axis in ("x", "y"):
            assert ca.shear_crop(white, degrees, axis).min() > 0.99
    for corner in range(8):
        assert ca.skew_corner(white, corner, 20).min() > 0.99


def test_geometry_samples_only_inside_the_frame_for_either_sign():
    # A black 2-px ring (12% of the pixels) around a white frame: sampling outside the frame (clamped to
    # the border) shows up as black. Rotate/shear crop most of the ring away; skew keeps the whole frame.
    framed = torch.zeros(1, 3, 64, 64)
    framed[..., 2:-2, 2:-2] = 1.0

    def dark_share(out):
        return float((out < 0.5).float().mean())

    for degrees in (-45, -20, -5, 5, 20, 45):
        assert dark_share(ca.rotate_crop(framed, degrees)) < 0.08, degrees
    for degrees in (-36, -20, -5, 5, 20, 36):
        for axis in ("x", "y"):
            assert dark_share(ca.shear_crop(framed, degrees, axis)) < 0.08, (degrees, axis)
    for corner in range(8):
        assert dark_share(ca.skew_corner(framed, corner, 16)) < 0.13, corner


def test_negative_shear_mirrors_positive_shear():
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    for degrees in (10, 30):
        # shearing the vertically flipped image by -t is the vertical flip of shearing by +t
        a = ca.shear_crop(x.flip(-2), -degrees, "x").flip(-2)
        b = ca.shear_crop(x, degrees, "x")
        assert torch.allclose(a, b, atol=1e-4)
        a = ca.shear_crop(x.flip(-1), -degrees, "y").flip(-1)
        assert torch.allclose(a, ca.shear_crop(x, degrees, "y"), atol=1e-4)


def test_zero_parameters_are_the_identity():
    x = torch.rand(2, 3, 24, 24)
    assert torch.allclose(ca.rotate_crop(x, 0.0), x, atol=1e-5)
    assert torch.allclose(ca.shear_crop(x, 0.0, "x"), x, atol=1e-5)
    assert torch.allclose(ca.skew_corner(x, 3, 0), x, atol=1e-5)
    assert torch.allclose(ca.grid_distort(x, torch.zeros(3, 3, 2)), x, atol=1e-5)


def test_rotate90_matches_pil_direction():
    x = torch.zeros(1, 1, 4, 4)
    x[..., 0, 3] = 1  # top-right pixel
    params = ca.AugmentParams(fired={s: s == "rotate90" for s in ca.STEPS})
    out = ca.apply_augmentor(x, params)
    assert out[0, 0, 0, 0] == 1  # counter-clockwise, as PIL's rotate(90): top-right -> top-left


def test_online_loader_draws_fresh_parameters_each_epoch():
    clips = torch.stack([clip(seed=i) for i in range(4)])
    loader = ca.ClipAugmentLoader(clips, torch.arange(4), 2, seed=3, shuffle=False)
    first = torch.cat([x for x, _ in loader])
    again = torch.cat([x for x, _ in loader])
    loader.set_epoch(1)
    second = torch.cat([x for x, _ in loader])
    assert torch.equal(first, again) and not torch.equal(first, second)
    assert len(loader) == 2


def test_bad_inputs():
    with pytest.raises(ValueError, match="valid: augmentor, torchvision"):
        ca.augment_clip(clip(), "kornia")
    with pytest.raises(ValueError, match=r"a clip is \(T, C, H, W\)"):
        ca.augment_clip(clip()[None], "augmentor")


def test_torchvision_mode_names_its_minimum_frame_size():
    with pytest.raises(ValueError, match="at least 21 px.*augmentor"):
        ca.augment_clip(clip(size=16), "torchvision", torch.Generator().manual_seed(0))
    assert ca.augment_clip(clip(size=21), "torchvision", torch.Generator().manual_seed(0)).shape == (8, 3, 21, 21)


def test_throughput_is_measured():
    assert ca.augmentation_throughput("augmentor", 32, n_clips=2) > 0
    table = ca.throughput_table([24, 32], n_clips=1, repeats=2)
    assert len(table) == 4 and set(table["mode"]) == set(ca.MODES) and (table["clips/s"] > 0).all()
