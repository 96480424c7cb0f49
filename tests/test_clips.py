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


# Moved from test_bad_data.py: bad clip folders.
def _write(folder, label, clip_id, frames, size=8):
    d = folder / label / clip_id
    d.mkdir(parents=True)
    for t in range(frames):
        Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(d / f"frame_{t:02d}.png")
    return d


@pytest.mark.parametrize("case, needle", [
    ("one_class", "at least 2 are needed"),
    ("empty_class", "has no clips"),
    ("frame_count", "but earlier clips have 3 frames"),
    ("frame_size", "frames differ in size"),
    ("not_image", "notes.txt is not a readable image"),
    ("corrupt_png", "frame_01.png is not a readable image (cannot identify image file"),
    ("missing", "no clip folder at"),
])
def test_bad_clip_folders_get_a_clear_error_naming_the_clip(tmp_path, case, needle):
    root = tmp_path / "clips"
    _write(root, "success", "a", 4)
    if case != "one_class":
        if case == "empty_class":
            (root / "failure").mkdir()
        else:
            d = _write(root, "failure", "b", 3 if case == "frame_count" else 4)
            if case == "frame_size":
                Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(d / "frame_03.png")
            if case == "not_image":
                (d / "notes.txt").write_text("hello")
            if case == "corrupt_png":
                (d / "frame_01.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(C.ClipFolderError) as err:
        C.load_clip_folder(tmp_path / "nowhere" if case == "missing" else root)
    assert needle in str(err.value)
    if case in ("frame_size", "not_image", "corrupt_png"):
        assert "failure/b" in str(err.value)
    if case == "frame_count":  # failure/ is read first, so the success clip is the odd one out
        assert "success/a has 4 frames" in str(err.value)


def test_an_unwritable_data_root_for_generated_clips_is_named(tmp_path):
    from picseq_utils.data import DataUnavailableError

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DataUnavailableError, match=r"cannot write the generated clips .*writable data_root"):
        C.generated_clips(4, 16, 0, root=blocker)
