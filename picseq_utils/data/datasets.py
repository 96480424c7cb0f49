"""One entry point per data set (``load_cifar10``, ``load_cifar100``, ``load_flowers102``, ``load_digits``,
``load_dataset(name)``), each returning an :class:`ImageData` with provenance. ``source``: ``"real"`` (absent
-> :class:`DataUnavailableError`, never a silent fallback), ``"standin"`` (generated in the real on-disk format
under ``<root>/standin/``) or ``"auto"`` (real when available, else the stand-in, with a notice)."""
from __future__ import annotations

import hashlib
import os
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision.datasets.utils import check_integrity

from ..paths import data_root
from . import standin
from .images import ImageData, ImageSplit, split_off
from .provenance import DataCorruptError, DataUnavailableError, Provenance, check_source, network_available

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
FLOWERS_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
STANDIN_SEED = 20240601
STAMP = ".picseq_standin"
FLOWER_PROTOCOLS = ("trainval", "train")
#: A data root holding this file is a rehearsal root (``make rehearse``): stand-ins written in the real data sets'
#: layout at the real paths, so that ``source="real"`` runs torchvision's real parsers on them. Only the MD5
#: checks are skipped there, and every number is labelled stand-in.
REHEARSAL_MARK = ".picseq_rehearsal"
REHEARSAL_NOTE = "rehearsal: a stand-in in the real layout at the real path"


def standin_stamp() -> str:
    """A fingerprint of the stand-in generator: stand-ins written by another version are regenerated."""
    return hashlib.sha256(Path(standin.__file__).read_bytes() + str(STANDIN_SEED).encode()).hexdigest()[:12]


def _stamped(folder: Path) -> bool:
    """True when ``folder`` holds a stand-in written by this version of the generator."""
    return (folder / STAMP).is_file() and (folder / STAMP).read_text().strip() == standin_stamp()


def rehearsal_root(root: Path) -> bool:
    return (root / REHEARSAL_MARK).is_file()


def write_rehearsal_root(root: Path, cifar_images: tuple[int, int] = (600, 200),
                         flowers_per_class: tuple[int, int, int] = (2, 2, 2)) -> Path:
    """Stand-ins of CIFAR-10/100 and Flowers-102 in the real layout, where the real data would be."""
    root = _ensure_writable(Path(root))
    for classes in (10, 100):
        write_cifar_standin(root, classes, n_train=cifar_images[0], n_test=cifar_images[1])
    write_flowers_standin(root, per_class=flowers_per_class)
    (root / REHEARSAL_MARK).write_text("stand-ins in the real layout for `make rehearse`; not the real data sets\n")
    return root


def _notice(message: str) -> None:
    print(f"[picseq.data] {message}", file=sys.stderr)


def _absent(name: str, root: Path, layout: str, key: str, url: str, host: str, source: str, download: bool) -> None:
    """The real data is neither here nor downloadable: an error naming the fix for ``source="real"``, else a notice."""
    reason = "downloads are switched off" if not download else f"no network: cannot reach {host}"
    if source == "real":
        raise DataUnavailableError(
            f"{name} is not in {root} and cannot be downloaded ({reason}).\n"
            f"  expected layout: {layout}\n"
            f"  to get it, on a machine with internet run:\n"
            f"      python -m picseq_utils.data download {key} --root {root}\n"
            f"  (or fetch it from {url} and unpack it into {root}).\n"
            f"  To run without it, use source='standin' (a generated stand-in, labelled as such) or source='auto'.")
    _notice(f"{name} not found in {root} and {reason}; using the generated stand-in (labelled 'stand-in').")


def _ensure_writable(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataUnavailableError(f"cannot create data folder {folder}: {err}. Pass a writable root= "
                                   f"(or data_root parameter) instead.") from err
    if not os.access(folder, os.W_OK):
        raise DataUnavailableError(f"data folder {folder} is not writable. Pass a writable root= "
                                   f"(or data_root parameter), or fix its permissions.")
    return folder


# --------------------------------------------------------------------------- CIFAR


def _without_md5(cls):
    """torchvision's CIFAR parser with the MD5 checks off: used for picseq's stand-ins only."""
    return type(f"Standin{cls.__name__}", (cls,), {"meta": {**cls.meta, "md5": None},
                **{files: [[name, None] for name, _ in getattr(cls, files)] for files in ("train_list", "test_list")}})


_CIFAR = {
    10: dict(name="CIFAR-10", key="cifar10", cls=torchvision.datasets.CIFAR10,
             standin_cls=_without_md5(torchvision.datasets.CIFAR10),
             folder="cifar-10-batches-py", files="data_batch_1..5, test_batch, batches.meta"),
    100: dict(name="CIFAR-100", key="cifar100", cls=torchvision.datasets.CIFAR100,
              standin_cls=_without_md5(torchvision.datasets.CIFAR100),
              folder="cifar-100-python", files="train, test, meta"),
}


def write_cifar_standin(root: Path, num_classes: int, n_train: int = 50000, n_test: int = 10000,
                        seed: int = STANDIN_SEED) -> Path:
    """Write a stand-in in the exact ``cifar-10-batches-py`` / ``cifar-100-python`` pickle layout."""
    spec = _CIFAR[num_classes]
    folder = root / spec["folder"]
    folder.mkdir(parents=True, exist_ok=True)
    names = standin.class_names(num_classes)
    train_labels = standin.balanced_labels(n_train, num_classes, seed)
    test_labels = standin.balanced_labels(n_test, num_classes, seed + 1)
    train = standin.draw_images(train_labels, num_classes, 32, seed + 2)
    test = standin.draw_images(test_labels, num_classes, 32, seed + 3)

    def rows(images):  # CIFAR stores each image as 1024 R, then 1024 G, then 1024 B values
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))

    def dump(name, content):
        tmp = folder / f".{name}.tmp"
        with open(tmp, "wb") as handle:
            pickle.dump(content, handle, protocol=2)
        os.replace(tmp, folder / name)

    if num_classes == 10:
        per_batch = -(-n_train // 5)
        for i in range(5):
            sl = slice(i * per_batch, (i + 1) * per_batch)
            dump(f"data_batch_{i + 1}", {"batch_label": f"picseq stand-in training batch {i + 1} of 5",
                                         "labels": train_labels[sl].tolist(), "data": rows(train[sl]),
                                         "filenames": [f"standin_{j}.png" for j in range(n_train)[sl]]})
        dump("test_batch", {"batch_label": "picseq stand-in testing batch 1 of 1", "labels": test_labels.tolist(),
                            "data": rows(test), "filenames": [f"standin_test_{j}.png" for j in range(n_test)]})
        dump("batches.meta", {"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072})
    else:
        for name, images, labels in (("train", train, train_labels), ("test", test, test_labels)):
            dump(name, {"batch_label": f"picseq stand-in {name}", "fine_labels": labels.tolist(),
                        "coarse_labels": (labels // 5).tolist(), "data": rows(images),
                        "filenames": [f"standin_{name}_{j}.png" for j in range(len(labels))]})
        dump("meta", {"fine_label_names": names, "coarse_label_names": [f"group-{g}" for g in range(20)]})
    (folder / STAMP).write_text(standin_stamp())
    return folder


def _to_split(dataset) -> ImageSplit:
    images = torch.from_numpy(np.ascontiguousarray(dataset.data)).permute(0, 3, 1, 2).contiguous()
    return ImageSplit(images, torch.as_tensor(dataset.targets, dtype=torch.long))


def _load_cifar(num_classes: int, source: str, root, download: bool) -> ImageData:
    check_source(source)
    spec = _CIFAR[num_classes]
    root = data_root(root)
    folder = root / spec["folder"]
    if source in ("real", "auto"):
        present, rehearsal = folder.is_dir(), rehearsal_root(root)
        # a rehearsal's stand-in is read by torchvision's parser with the MD5 checks off
        cls = spec["standin_cls"] if present and rehearsal else spec["cls"]
        if present and not rehearsal:
            files = [(folder / name, md5) for name, md5 in cls.train_list + cls.test_list
                     + [[cls.meta["filename"], cls.meta["md5"]]]]
            bad = [str(path) for path, md5 in files if path.exists() and not check_integrity(str(path), md5)]
            missing = [path.name for path, _ in files if not path.is_file()]
            if bad or missing:
                raise DataCorruptError(
                    f"{spec['name']} in {folder} is incomplete or corrupted: "
                    + (f"MD5 mismatch (truncated or damaged download?) in {', '.join(bad)}" if bad else "")
                    + ("; " if bad and missing else "") + (f"missing {', '.join(missing)}" if missing else "")
                    + f". Delete {folder} and run: python -m picseq_utils.data download {spec['key']} --root {root}")
        if present or (download and network_available(cls.url)):
            if not present:  # only a download writes; data already there may sit on a read-only share
                _ensure_writable(root)
            train = cls(str(root), train=True, download=download and not present)
            test = cls(str(root), train=False, download=False)
            prov = Provenance(spec["name"], "standin" if rehearsal else "real", str(folder), CIFAR_URL, len(train),
                              len(test), num_classes, (3, 32, 32), note=REHEARSAL_NOTE if rehearsal else "")
            return ImageData(_to_split(train), _to_split(test), tuple(train.classes), prov)
        _absent(spec["name"], root, f"{folder}/{{{spec['files']}}}", spec["key"], cls.url, "www.cs.toronto.edu",
                source, download)
    standin_root = root / "standin"
    folder = standin_root / spec["folder"]
    if not (folder / spec["standin_cls"].meta["filename"]).is_file() or not _stamped(folder):
        _notice(f"generating the {spec['name']} stand-in in {folder} (once per generator version; ~10 s)")
        write_cifar_standin(_ensure_writable(standin_root), num_classes)
    try:
        train, test = (spec["standin_cls"](str(standin_root), train=is_train) for is_train in (True, False))
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, RuntimeError) as err:
        raise DataCorruptError(f"the {spec['name']} stand-in in {folder} is unreadable ({type(err).__name__}: {err}). "
                               f"Delete {folder}; it is regenerated on the next load.") from err
    prov = Provenance(spec["name"], "standin", str(folder),
                      f"generated by picseq_utils.data.standin (procedural shapes, seed {STANDIN_SEED}); NOT {spec['name']}",
                      len(train), len(test), num_classes, (3, 32, 32),
                      note=f"{num_classes} classes of drawn shapes" + (" x hue families" if num_classes > 10 else "")
                      + f" in {spec['name']}'s exact pickle format, read by torchvision's parser")
    return ImageData(_to_split(train), _to_split(test), tuple(train.classes), prov)


def load_cifar10(source: str = "auto", root=None, download: bool = True) -> ImageData:
    """CIFAR-10 (50,000 train / 10,000 test, 32x32) or its stand-in."""
    return _load_cifar(10, source, root, download)


def load_cifar100(source: str = "auto", root=None, download: bool = True) -> ImageData:
    """CIFAR-100 (50,000 train / 10,000 test, 100 fine classes) or its stand-in."""
    return _load_cifar(100, source, root, download)


# --------------------------------------------------------------------------- Flowers-102


class _StandinFlowers102(torchvision.datasets.Flowers102):
    """torchvision's Flowers-102 parser with the MD5 checks off: used for picseq's stand-in only."""

    _file_dict = {k: (v[0], None) for k, v in torchvision.datasets.Flowers102._file_dict.items()}


def write_flowers_standin(root: Path, per_class: tuple[int, int, int] = (10, 10, 20), seed: int = STANDIN_SEED) -> Path:
    """Write ``flowers-102/{jpg/image_NNNNN.jpg, imagelabels.mat, setid.mat}`` like the real archive."""
    from PIL import Image
    from scipy.io import savemat

    folder = root / "flowers-102"
    (folder / "jpg").mkdir(parents=True, exist_ok=True)
    labels = np.concatenate([np.repeat(np.arange(102), n) for n in per_class])
    split = np.concatenate([np.full(102 * n, s) for s, n in enumerate(per_class)])
    order = np.random.default_rng(seed).permutation(len(labels))  # image ids are not sorted by class
    labels, split = labels[order], split[order]
    sizes = np.random.default_rng(seed + 1).integers(96, 145, size=(len(labels), 2))
    for (h, w) in {tuple(s) for s in sizes.tolist()}:
        sel = np.flatnonzero((sizes[:, 0] == h) & (sizes[:, 1] == w))
        for i, image in zip(sel, standin.draw_images(labels[sel], 102, (h, w), seed + 2 + h * 1000 + w)):
            Image.fromarray(image).save(folder / "jpg" / f"image_{i + 1:05d}.jpg", quality=92)
    ids = np.arange(1, len(labels) + 1)
    savemat(folder / "imagelabels.mat", {"labels": (labels + 1)[None, :]})
    savemat(folder / "setid.mat", {"trnid": ids[split == 0][None, :], "valid": ids[split == 1][None, :],
                                   "tstid": ids[split == 2][None, :]})
    (folder / STAMP).write_text(standin_stamp())
    return folder


def _decoded_split(dataset, size: int) -> ImageSplit:
    """Decode a Flowers split's JPEGs, resize the shorter side to ``size`` and centre-crop: uint8 (N, 3, size, size)."""
    from PIL import Image, UnidentifiedImageError

    out = torch.empty((len(dataset._image_files), 3, size, size), dtype=torch.uint8)
    for i, path in enumerate(dataset._image_files):
        try:
            with Image.open(path) as img:
                img.draft("RGB", (size, size))  # JPEG decoders downscale while decoding: much faster
                img = img.convert("RGB")
                w, h = img.size
                scale = size / min(w, h)
                img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
                w, h = img.size
                left, top = (w - size) // 2, (h - size) // 2
                img = img.crop((left, top, left + size, top + size))
                out[i] = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)
        except (OSError, UnidentifiedImageError) as err:
            raise DataCorruptError(f"cannot read image {path} ({err}); delete it and download the data set again") from err
    return ImageSplit(out, torch.as_tensor(dataset._labels, dtype=torch.long))


def _flowers_from_disk(dataset_cls, root: Path, size: int, protocol: str, cache_tag: str):
    cache = root / "cache" / f"flowers102_{cache_tag}_{size}px.pt"
    if cache.is_file():
        try:
            blob = torch.load(cache, weights_only=True)
            splits = {k: ImageSplit(blob[k + "_images"], blob[k + "_labels"]) for k in ("train", "val", "test")}
        except Exception:  # a damaged cache is rebuilt from the JPEGs
            cache.unlink(missing_ok=True)
            return _flowers_from_disk(dataset_cls, root, size, protocol, cache_tag)
    else:
        splits = {s: _decoded_split(dataset_cls(str(root), split=s, download=False), size)
                  for s in ("train", "val", "test")}
        tmp = cache.with_suffix(".tmp")
        try:  # a cache only: a read-only data root decodes the JPEGs every time instead
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save({f"{k}_{f}": getattr(v, f) for k, v in splits.items() for f in ("images", "labels")}, tmp)
            os.replace(tmp, cache)
        except OSError as err:
            if tmp.parent.is_dir():
                tmp.unlink(missing_ok=True)
            _notice(f"could not write the decoded-image cache {cache} ({err}); continuing without it")
    if protocol == "trainval":
        train = ImageSplit(torch.cat([splits["train"].images, splits["val"].images]),
                           torch.cat([splits["train"].labels, splits["val"].labels]))
        return train, None, splits["test"]
    return splits["train"], splits["val"], splits["test"]


def _flowers_missing(folder: Path) -> list[str]:
    return [n for n in ("jpg/", "imagelabels.mat", "setid.mat")
            if not ((folder / n).is_dir() if n.endswith("/") else (folder / n).is_file())]


def load_flowers102(source: str = "auto", root=None, download: bool = True, image_size: int = 112,
                    protocol: str = "trainval") -> ImageData:
    """Oxford Flowers-102 (or its stand-in) decoded to ``image_size`` squares. ``protocol="trainval"`` is the IDMM
    paper's (train + val = 2040 training images, test 6149); ``"train"``: train 1020 to train, val 1020 to validate."""
    check_source(source)
    if protocol not in FLOWER_PROTOCOLS:
        raise ValueError(f"unknown Flowers-102 protocol {protocol!r}; valid: {', '.join(FLOWER_PROTOCOLS)}")
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8, got {image_size!r}")
    root = data_root(root)
    folder = root / "flowers-102"
    if source in ("real", "auto"):
        present, rehearsal = folder.is_dir(), rehearsal_root(root)
        # a rehearsal's stand-in is read by torchvision's parser with the MD5 checks off
        cls = _StandinFlowers102 if present and rehearsal else torchvision.datasets.Flowers102
        if present:
            bad = [f for f, md5 in (cls._file_dict["label"], cls._file_dict["setid"])
                   if md5 and (folder / f).is_file() and not check_integrity(str(folder / f), md5)]
            problems = [f"missing {m}" for m in _flowers_missing(folder)] + [f"MD5 mismatch in {b}" for b in bad]
            if problems:
                raise DataCorruptError(
                    f"Flowers-102 in {folder} is incomplete or corrupted ({', '.join(problems)}). "
                    f"Delete {folder} and run: python -m picseq_utils.data download flowers102 --root {root}")
        if present or (download and network_available(cls._download_url_prefix)):
            if not present:
                cls(str(_ensure_writable(root)), split="train", download=True)
            train, val, test = _flowers_from_disk(cls, root, image_size, protocol,
                                                  f"rehearsal_{standin_stamp()}" if rehearsal else "real")
            prov = Provenance("Flowers-102", "standin" if rehearsal else "real", str(folder), FLOWERS_URL, len(train),
                              len(test), 102, (3, image_size, image_size),
                              note=f"protocol {protocol}; resized shorter side + centre crop"
                                   + (f"; {REHEARSAL_NOTE}" if rehearsal else ""))
            return ImageData(train, test, tuple(cls.classes), prov, val)
        _absent("Flowers-102", root, f"{folder}/{{jpg/image_00001.jpg..image_08189.jpg, imagelabels.mat, setid.mat}}",
                "flowers102", FLOWERS_URL, "www.robots.ox.ac.uk", source, download)
    standin_root = root / "standin"
    folder = standin_root / "flowers-102"
    if _flowers_missing(folder) or not _stamped(folder):
        _notice(f"generating the Flowers-102 stand-in in {folder} (once per generator version)")
        write_flowers_standin(_ensure_writable(standin_root))
    train, val, test = _flowers_from_disk(_StandinFlowers102, standin_root, image_size, protocol,
                                          f"standin_{standin_stamp()}")
    prov = Provenance("Flowers-102", "standin", str(folder),
                      f"generated by picseq_utils.data.standin (procedural shapes, seed {STANDIN_SEED}); NOT Flowers-102",
                      len(train), len(test), 102, (3, image_size, image_size),
                      note=f"102 classes (shape x hue family), 10/10/20 images per class as JPEGs with .mat files "
                           f"in the real layout, read by torchvision's parser; protocol {protocol}")
    return ImageData(train, test, tuple(standin.class_names(102)), prov, val)


# --------------------------------------------------------------------------- digits


def load_digits(source: str = "auto", root=None, download: bool = True, image_size: int = 32,
                test_fraction: float = 0.2, split_seed: int = 0) -> ImageData:
    """scikit-learn's 1797 real 8x8 handwritten digits (bundled), upsampled to ``image_size`` RGB. Always available
    offline, so there is no stand-in (``source="standin"`` is an error); ``root`` and ``download`` are accepted for a
    uniform signature. The test split is a fixed, class-balanced ``test_fraction`` (seeded by ``split_seed``)."""
    import sklearn
    from sklearn.datasets import load_digits as sk_load_digits

    if check_source(source) == "standin":
        raise ValueError("digits ships inside scikit-learn (bundled, real images): it has no stand-in; use source='auto'")
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8, got {image_size!r}")
    bunch = sk_load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8) in [0, 1]
    if image_size != 8:
        images = torch.nn.functional.interpolate(images, size=(image_size, image_size), mode="bilinear",
                                                 align_corners=False)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    train, test = split_off(ImageSplit(images, torch.as_tensor(bunch.target, dtype=torch.long)), test_fraction,
                            split_seed)
    prov = Provenance("digits", "bundled", f"sklearn.datasets.load_digits (scikit-learn {sklearn.__version__})",
                      "UCI ML hand-written digits, 8x8, shipped inside scikit-learn", len(train), len(test), 10,
                      (3, image_size, image_size), note=f"8x8 greyscale upsampled (bilinear) to {image_size}px RGB; "
                                                        f"test split {test_fraction:.0%} stratified, seed {split_seed}")
    return ImageData(train, test, tuple(str(d) for d in range(10)), prov)


DATASETS = {"cifar10": load_cifar10, "cifar100": load_cifar100, "flowers102": load_flowers102, "digits": load_digits}


def load_dataset(name: str, **kwargs) -> ImageData:
    """``load_dataset("cifar10", source="auto")``; unknown names list the valid ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; valid: {', '.join(DATASETS)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return DATASETS[name](**kwargs)
