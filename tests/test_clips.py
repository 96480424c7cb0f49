"""Generated clips and the clip folder format, including bad input."""
import numpy as np
import pytest
import torch
from PIL import Image

from picseq_utils.data import clips as C


@pytest.fixture(scope="module")
def small_clips():
    return C.generate_clips(8, 32, seed=3)


def test_generation_is_balanced_reproducible_and_shaped(small_clips):
    clips, labels = small_clips
    assert clips.shape == (8, 8, 32, 32, 3) and clips.dtype == np.uint8
    assert labels.sum() == 4
    again, labels2 = C.generate_clips(8, 32, seed=3)
    assert np.array_equal(clips, again) and np.array_equal(labels, labels2)


def test_outcome_is_in_the_evolution_not_the_first_frames():
    """Same draws, opposite labels: the first four frames are identical, later ones differ, and the
    failure balloon ends smaller than its own peak while the success balloon keeps growing."""
    success = C._radius_paths(np.ones(50, dtype=int), np.random.default_rng(0), 100)
    failure = C._radius_paths(np.zeros(50, dtype=int), np.random.default_rng(0), 100)
    assert np.allclose(success[:, :4], failure[:, :4])
    assert np.all(np.diff(success, axis=1) > 0)
    assert np.all(failure[:, -1] < failure.max(axis=1))
    assert not np.allclose(success[:, 6:], failure[:, 6:])


def test_folder_round_trip(tmp_path, small_clips):
    clips, labels = small_clips
    folder = C.write_clip_folder(tmp_path / "set", clips, labels)
    assert sorted(p.name for p in folder.iterdir()) == ["failure", "success"]
    loaded = C.load_clip_folder(folder)
    assert loaded.classes == ("failure", "success") and loaded.clips.shape == (8, 8, 3, 32, 32)
    by_id = {cid: i for i, cid in enumerate(loaded.ids)}
    for i in range(8):
        j = by_id[f"{C.CLASSES[labels[i]]}/clip_{i:03d}"]
        assert torch.equal(loaded.clips[j], torch.from_numpy(clips[i]).permute(0, 3, 1, 2))
        assert loaded.labels[j] == labels[i]
    assert not list(tmp_path.glob(".set.tmp*")), "no temporary folder left behind"


def test_generated_clips_are_cached_and_labelled_standin(tmp_path):
    first = C.generated_clips(4, 16, seed=1, root=tmp_path)
    again = C.generated_clips(4, 16, seed=1, root=tmp_path)
    assert first.provenance.kind == "standin" and torch.equal(first.clips, again.clips)


def test_frames_load_in_natural_order_whatever_the_padding(tmp_path):
    root = tmp_path / "clips"
    for cls, clip in (("success", "a"), ("failure", "b")):
        d = root / cls / clip
        d.mkdir(parents=True)
        for t in range(12):  # frame_2.png must come before frame_10.png
            Image.fromarray(np.full((4, 4, 3), t * 10, np.uint8)).save(d / f"frame_{t}.png")
    clipset = C.load_clip_folder(root)
    assert clipset.clips[0, :, 0, 0, 0].tolist() == [t * 10 for t in range(12)]


def test_splits_are_by_clip_and_balanced():
    labels = torch.tensor([0, 1] * 40)
    train, val = C.split_by_clip(labels, 0.25)
    assert len(val) == 20 and set(train.tolist()).isdisjoint(val.tolist())
    folds = C.kfold_by_clip(labels, 4)
    seen = torch.cat([v for _, v in folds])
    assert sorted(seen.tolist()) == list(range(80))
    for tr, va in folds:
        assert len(va) == 20 and int(labels[va].sum()) == 10 and set(tr.tolist()).isdisjoint(va.tolist())
    with pytest.raises(ValueError, match="folds must be >= 2"):
        C.kfold_by_clip(labels, 1)
