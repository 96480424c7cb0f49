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
    clipset = C.load_clip_folder(root, frames=None)
    assert clipset.clips[0, :, 0, 0, 0].tolist() == [t * 10 for t in range(12)]


def test_splits_are_by_clip_and_balanced():
    labels = torch.tensor([0, 1] * 40)
    folds = C.kfold_by_clip(labels, 4)
    seen = torch.cat([v for _, v in folds])
    assert sorted(seen.tolist()) == list(range(80))
    for tr, va in folds:
        assert len(va) == 20 and int(labels[va].sum()) == 10 and set(tr.tolist()).isdisjoint(va.tolist())
    with pytest.raises(ValueError, match="folds must be >= 2"):
        C.kfold_by_clip(labels, 1)


# Bad clip folders: a clear error naming the clip.
def _write(folder, label, clip_id, frames, size=8):
    d = folder / label / clip_id
    d.mkdir(parents=True)
    for t in range(frames):
        Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(d / f"frame_{t:02d}.png")
    return d


@pytest.mark.parametrize("case, needle", [
    ("one_class", "at least 2 are needed"),
    ("empty_class", "has no clips"),
    ("frame_count", "has 7 frames, but the model takes 8 per clip"),
    ("no_frames", "has no frames"),
    ("frame_size", "frames differ in size"),
    ("corrupt_png", "frame_01.png is not a readable image (cannot identify image file"),
    ("missing", "no clip folder at"),
])
def test_bad_clip_folders_get_a_clear_error_naming_the_clip(tmp_path, case, needle):
    root = tmp_path / "clips"
    _write(root, "success", "a", 8)
    if case != "one_class":
        if case == "empty_class":
            (root / "failure").mkdir()
        else:
            d = _write(root, "failure", "b", {"frame_count": 7, "no_frames": 0}.get(case, 8))
            if case == "no_frames":
                (d / "notes.txt").write_text("no images here")
            if case == "frame_size":
                Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(d / "frame_03.png")
            if case == "corrupt_png":
                (d / "frame_01.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(C.ClipFolderError) as err:
        C.load_clip_folder(tmp_path / "nowhere" if case == "missing" else root, frame_size=8)
    assert needle in str(err.value)
    if case in ("frame_count", "no_frames", "frame_size", "corrupt_png"):
        assert "failure/b" in str(err.value)


def test_without_frame_size_clips_must_match_each_other(tmp_path):
    root = tmp_path / "clips"
    _write(root, "failure", "a", 3)
    _write(root, "success", "b", 4)
    with pytest.raises(C.ClipFolderError, match="success/b has 4 frames, but earlier clips have 3 frames"):
        C.load_clip_folder(root, frames=None)
    _write(root, "success", "c", 3, size=10)
    (root / "success" / "b").rename(root / ".hidden_b")
    with pytest.raises(C.ClipFolderError, match="success/c has frames of 10x10, but earlier clips have 8x8.*frame_size"):
        C.load_clip_folder(root, frames=None)
    assert C.load_clip_folder(root, frame_size=8, frames=None).clips.shape == (2, 3, 3, 8, 8)


def _camera_frame(h, w, t, mode="RGB"):
    """A frame with a bright marker in its centre and dark borders, so centre-cropping can be checked."""
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[h // 2 - h // 8:h // 2 + h // 8, w // 2 - w // 8:w // 2 + w // 8] = (200, 100 + t * 10, 50)
    img = Image.fromarray(rgb)
    return img.convert(mode) if mode != "RGB" else img


def write_real_world_folder(root, h=96, w=128, kinds=("png", "jpg"), modes=("RGB", "L", "RGBA", "P"), clips=4,
                            frames=8, classes=("failure", "success")):
    """Clips as users have them: non-square camera frames, PNG and JPEG, grayscale/RGBA/palette frames, hidden files
    (.DS_Store), a stray README in a clip and a notes file beside the classes."""
    for c, cls in enumerate(classes):
        for i in range(clips):
            d = root / cls / f"take{i}"
            d.mkdir(parents=True)
            kind, mode = kinds[i % len(kinds)], modes[(i + c) % len(modes)]
            for t in range(frames):
                img = _camera_frame(h, w, t, mode)
                img.convert("RGB" if kind == "jpg" and mode in ("RGBA", "P") else img.mode).save(d / f"frame{t}.{kind}")
            (d / ".DS_Store").write_bytes(b"\0\1binary")
        (root / cls / "README.txt").write_text("class notes")
    (root / classes[-1] / "take0" / "notes.txt").write_text("shot on a phone")
    (root / ".ipynb_checkpoints").mkdir()
    return root


def test_real_world_folders_load_resized_square_with_their_conversions_said(tmp_path):
    root = write_real_world_folder(tmp_path / "mine")
    clipset = C.load_clip_folder(root, frame_size=32)
    assert clipset.clips.shape == (8, 8, 3, 32, 32) and clipset.clips.dtype == torch.uint8
    assert clipset.classes == ("failure", "success") and clipset.labels.tolist() == [0] * 4 + [1] * 4
    notes = "\n".join(clipset.notes)
    assert "0 = failure, 1 = success" in notes
    assert "96x128 (8 clips) -> 32x32 (shorter side resized to 32, centre crop)" in notes
    assert "converted to RGB" in notes and "L frames" in notes and "(alpha dropped)" in notes
    assert "skipped 1 non-image file(s): success/take0/notes.txt" in notes, "hidden files ignored, strays named"
    centre = clipset.clips[:, :, 0, 12:20, 12:20].float().mean()
    assert centre > 100 and clipset.clips[:, :, 0, :, :2].float().mean() < 20, "centre crop keeps the centre"
    assert "96x128" in clipset.provenance.note


def test_other_class_names_get_sorted_label_numbers_and_frame_size_bounds_memory(tmp_path):
    root = write_real_world_folder(tmp_path / "three", h=720, w=1280, kinds=("jpg",), modes=("RGB",), clips=1,
                                   classes=("crash", "landed", "aborted"))
    clipset = C.load_clip_folder(root, frame_size=24)
    assert clipset.classes == ("aborted", "crash", "landed") and clipset.labels.tolist() == [0, 1, 2]
    assert "0 = aborted, 1 = crash, 2 = landed" in clipset.notes[0]
    assert clipset.clips.shape == (3, 8, 3, 24, 24), "a 720p clip is held at frame_size, not at 1280x720"


def test_unusual_pixel_formats_are_converted_or_named(tmp_path):
    ramp16 = np.linspace(0, 65535, 600).reshape(30, 20).astype(np.uint16)
    makers = {"I;16": lambda: Image.fromarray(ramp16), "1": lambda: Image.fromarray(ramp16 > 30000),
              "CMYK": lambda: Image.new("CMYK", (20, 30), (10, 200, 30, 0)), "LA": lambda: Image.new("LA", (20, 30), (120, 9))}
    root = tmp_path / "odd"
    for i, (mode, make) in enumerate(makers.items()):
        for cls in ("failure", "success"):
            d = root / cls / f"c{i}"
            d.mkdir(parents=True)
            for t in range(8):
                make().save(d / f"f{t}.{'jpg' if mode == 'CMYK' else 'png'}")
    clipset = C.load_clip_folder(root, frame_size=16)
    assert clipset.clips.shape == (8, 8, 3, 16, 16)
    sixteen = clipset.clips[clipset.ids.index("failure/c0")].float()
    assert sixteen.min() < 60 and sixteen.max() > 190, "16-bit frames keep their range, scaled to 8 bits"
    assert "16-bit: 0..65535 scaled to 0..255" in clipset.notes[-1] and "CMYK" in clipset.notes[-1]
    assert clipset.clips[clipset.ids.index("failure/c3")].float().mean() == 120, "grey + alpha: the grey kept"
    Image.fromarray(np.ones((30, 20), np.float32)).save(root / "success" / "c0" / "f3.tiff")
    (root / "success" / "c0" / "f3.png").unlink()
    with pytest.raises(C.ClipFolderError, match="success/c0: f3.tiff holds 32-bit float pixels"):
        C.load_clip_folder(root, frame_size=16)


def test_an_unwritable_data_root_for_generated_clips_is_named(tmp_path):
    from picseq_utils.data import DataUnavailableError

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DataUnavailableError, match=r"cannot write the generated clips .*writable data_root"):
        C.generated_clips(4, 16, 0, root=blocker)
