"""One entry point per data set (``load_cifar10``, ``load_cifar100``, ``load_flowers102``, ``load_digits``,
``load_dataset(name)``), each returning an :class:`ImageData` with provenance. ``source``: ``"real"`` (absent
-> :class:`DataUnavailableError`, never a silent fallback), ``"standin"`` (generated in the real on-disk format
under ``<root>/standin/`` and read by torchvision's parser) or ``"auto"`` (real when available, else the stand-in,
with a notice). Every data set takes the same path, ``_load``."""
from __future__ import annotations

import hashlib
import os
import pickle
import sys
import warnings
from pathlib import Path
from typing import Callable, NamedTuple
from urllib.parse import urlparse

import numpy as np
import torch
import torchvision
from torchvision.datasets.utils import check_integrity

from ..paths import atomic_file, data_root
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


def write_cifar_standin(root: Path, num_classes: int, n_train: int = 50000, n_test: int = 10000,
                        seed: int = STANDIN_SEED) -> Path:
    """Write a stand-in in the exact ``cifar-10-batches-py`` / ``cifar-100-python`` pickle layout."""
    folder = root / ("cifar-10-batches-py" if num_classes == 10 else "cifar-100-python")
    folder.mkdir(parents=True, exist_ok=True)
    names = standin.class_names(num_classes)
    train_labels = standin.balanced_labels(n_train, num_classes, seed)
    test_labels = standin.balanced_labels(n_test, num_classes, seed + 1)
    train = standin.draw_images(train_labels, num_classes, 32, seed + 2)
    test = standin.draw_images(test_labels, num_classes, 32, seed + 3)

    def rows(images):  # CIFAR stores each image as 1024 R, then 1024 G, then 1024 B values
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))

    def dump(name, content):
        with atomic_file(folder / name) as handle:
            pickle.dump(content, handle, protocol=2)

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


def _read_cifar(parser, root: Path, download: bool):
    """(train, val, test, classes, note) through torchvision's CIFAR parser."""
    train = parser(str(root), train=True, download=download)
    test = parser(str(root), train=False, download=False)
    return _to_split(train), None, _to_split(test), tuple(train.classes), ""


def load_cifar10(source: str = "auto", root=None, download: bool = True) -> ImageData:
    """CIFAR-10 (50,000 train / 10,000 test, 32x32) or its stand-in."""
    return _load("cifar10", source, root, download, _read_cifar)


def load_cifar100(source: str = "auto", root=None, download: bool = True) -> ImageData:
    """CIFAR-100 (50,000 train / 10,000 test, 100 fine classes) or its stand-in."""
    return _load("cifar100", source, root, download, _read_cifar)


# --------------------------------------------------------------------------- Flowers-102


class _StandinFlowers102(torchvision.datasets.Flowers102):
    """torchvision's Flowers-102 parser with the MD5 checks off: used for picseq's stand-ins only."""

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
    from PIL import Image, ImageOps, UnidentifiedImageError

    out = torch.empty((len(dataset._image_files), 3, size, size), dtype=torch.uint8)
    for i, path in enumerate(dataset._image_files):
        try:
            with Image.open(path) as img:
                img.draft("RGB", (size, size))  # JPEG decoders downscale while decoding: much faster
                img = ImageOps.fit(img.convert("RGB"), (size, size), Image.Resampling.BILINEAR)
                out[i] = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)
        except (OSError, UnidentifiedImageError) as err:
            raise DataCorruptError(f"cannot read image {path} ({err}); delete it and download the data set again") from err
    return ImageSplit(out, torch.as_tensor(dataset._labels, dtype=torch.long))


def _read_flowers(parser, root: Path, download: bool, size: int, protocol: str):
    """(train, val, test, classes, note): the JPEGs decoded once to ``size`` squares, then cached as tensors."""
    if download:
        parser(str(root), split="train", download=True)
    is_standin = parser is _StandinFlowers102
    cache = root / "cache" / f"flowers102_{f'standin_{standin_stamp()}' if is_standin else 'real'}_{size}px.pt"
    splits = None
    if cache.is_file():
        try:
            blob = torch.load(cache, weights_only=True)
            splits = {k: ImageSplit(blob[k + "_images"], blob[k + "_labels"]) for k in ("train", "val", "test")}
        except Exception:  # a damaged cache is rebuilt from the JPEGs
            cache.unlink(missing_ok=True)
    if splits is None:
        splits = {s: _decoded_split(parser(str(root), split=s, download=False), size) for s in ("train", "val", "test")}
        try:  # a cache only: a read-only data root decodes the JPEGs every time instead
            with atomic_file(cache) as handle:
                torch.save({f"{k}_{f}": getattr(v, f) for k, v in splits.items() for f in ("images", "labels")}, handle)
        except OSError as err:
            _notice(f"could not write the decoded-image cache {cache} ({err}); continuing without it")
    train, val = splits["train"], splits["val"]
    if protocol == "trainval":
        train, val = ImageSplit(torch.cat([train.images, val.images]), torch.cat([train.labels, val.labels])), None
    classes = standin.class_names(102) if is_standin else parser.classes
    return train, val, splits["test"], tuple(classes), f"protocol {protocol}; resized shorter side + centre crop"


def load_flowers102(source: str = "auto", root=None, download: bool = True, image_size: int = 112,
                    protocol: str = "trainval") -> ImageData:
    """Oxford Flowers-102 (or its stand-in) decoded to ``image_size`` squares. ``protocol="trainval"`` is the IDMM
    paper's (train + val = 2040 training images, test 6149); ``"train"``: train 1020 to train, val 1020 to validate."""
    check_source(source)
    if protocol not in FLOWER_PROTOCOLS:
        raise ValueError(f"unknown Flowers-102 protocol {protocol!r}; valid: {', '.join(FLOWER_PROTOCOLS)}")
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8, got {image_size!r}")
    return _load("flowers102", source, root, download,
                 lambda parser, at, fetch: _read_flowers(parser, at, fetch, image_size, protocol), image_size, protocol)


# --------------------------------------------------------------------------- one path for every data set


class _Spec(NamedTuple):
    name: str
    folder: str  # as the archive unpacks under the data root
    parser: type  # torchvision's data set class
    standin_parser: type  # the same with the MD5 checks off
    files: tuple  # (path in the folder, MD5 or None); a path ending in "/" is a folder
    download_url: str
    page: str  # where a person reads about the data set
    write_standin: Callable[[Path], Path]
    sizes: dict  # the real data set's split sizes and classes (a cost plan uses them where the data is absent)


def _cifar(n: int, name: str, folder: str) -> _Spec:
    cls = torchvision.datasets.CIFAR10 if n == 10 else torchvision.datasets.CIFAR100
    files = tuple(tuple(f) for f in cls.train_list + cls.test_list + [[cls.meta["filename"], cls.meta["md5"]]])
    return _Spec(name, folder, cls, _without_md5(cls), files, cls.url, CIFAR_URL,
                 lambda root: write_cifar_standin(root, n),  # looked up when called: tests replace it
                 {"train": 50000, "val": 0, "test": 10000, "classes": n})


_FLOWERS = torchvision.datasets.Flowers102
_SPECS = {
    "cifar10": _cifar(10, "CIFAR-10", "cifar-10-batches-py"),
    "cifar100": _cifar(100, "CIFAR-100", "cifar-100-python"),
    "flowers102": _Spec("Flowers-102", "flowers-102", _FLOWERS, _StandinFlowers102,
                        (("jpg/", None), _FLOWERS._file_dict["label"], _FLOWERS._file_dict["setid"]),
                        _FLOWERS._download_url_prefix, FLOWERS_URL, lambda root: write_flowers_standin(root),
                        {"train": 1020, "val": 1020, "test": 6149, "classes": 102}),
}


def _problems(spec: _Spec, folder: Path, check_md5: bool) -> list[str]:
    """What is missing from a data set's folder and (``check_md5``) which of its files fail their MD5 check."""
    bad = [f"MD5 mismatch (truncated or damaged download?) in {folder / name}" for name, md5 in spec.files
           if check_md5 and md5 and (folder / name).is_file() and not check_integrity(str(folder / name), md5)]
    return bad + [f"missing {name}" for name, _ in spec.files
                  if not ((folder / name).is_dir() if name.endswith("/") else (folder / name).is_file())]


def _zeros(n: int, classes: int, size: int) -> ImageSplit:
    """``n`` black images of ``size`` px, classes in turn: the shape of a data set, not its content (stride-0
    memory until a subset is taken)."""
    return ImageSplit(torch.zeros(1, 3, size, size, dtype=torch.uint8).expand(n, -1, -1, -1),
                      torch.arange(n) % classes)


def _planned(spec: _Spec, size: int, protocol: str = "") -> tuple:
    """(train, val, test, classes, note) of a real data set's sizes, for a cost plan on a machine without it."""
    n = spec.sizes
    train, val = _zeros(n["train"], n["classes"], size), _zeros(n["val"], n["classes"], size) if n["val"] else None
    if protocol == "trainval":
        train, val = _zeros(n["train"] + n["val"], n["classes"], size), None
    return (train, val, _zeros(n["test"], n["classes"], size), tuple(map(str, range(n["classes"]))),
            "shape only: a cost plan's stand-in for the real data set's sizes")


def _load(key: str, source: str, root, download: bool, read, size: int = 32, protocol: str = "") -> ImageData:
    """The real data set (its files checked), a rehearsal's stand-in at the real path, or the stand-in under
    ``<root>/standin/``, written once per generator version. ``read(parser, root, download)`` parses it. In a cost
    plan (``picseq_utils.planning``) a real data set that is not here has its real sizes, as zeros."""
    from .. import planning

    check_source(source)
    spec, root = _SPECS[key], data_root(root)
    folder = root / spec.folder
    if planning.ACTIVE is not None and source in ("real", "auto") and not folder.is_dir():
        return _image_data(spec, _planned(spec, size, protocol), folder, standin=False, rehearsal=False)
    if source in ("real", "auto"):
        present, rehearsal = folder.is_dir(), (root / REHEARSAL_MARK).is_file()
        problems = _problems(spec, folder, check_md5=True) if present and not rehearsal else []
        if problems:
            raise DataCorruptError(f"{spec.name} in {folder} is incomplete or corrupted ({'; '.join(problems)}). "
                                   f"Delete {folder} and run: python -m picseq_utils.data download {key} --root {root}")
        if present or (download and network_available(spec.download_url)):
            if not present:  # only a download writes; data already there may sit on a read-only share
                _ensure_writable(root)
            # a rehearsal's stand-in is read by torchvision's parser with the MD5 checks off
            parts = read(spec.standin_parser if rehearsal else spec.parser, root, not present)
            return _image_data(spec, parts, folder, standin=rehearsal, rehearsal=rehearsal)
        reason = "downloads are switched off" if not download else \
            f"no network: cannot reach {urlparse(spec.download_url).hostname}"
        if source == "real":
            raise DataUnavailableError(
                f"{spec.name} is not in {root} and cannot be downloaded ({reason}).\n"
                f"  expected layout: {folder}/{{{', '.join(name for name, _ in spec.files)}}}\n"
                f"  to get it, on a machine with internet run:\n"
                f"      python -m picseq_utils.data download {key} --root {root}\n"
                f"  (or fetch it from {spec.page} and unpack it into {root}).\n"
                f"  To run without it, use source='standin' (a generated stand-in, labelled as such) or source='auto'.")
        _notice(f"{spec.name} not found in {root} and {reason}; using the generated stand-in (labelled 'stand-in').")
    standin_root = root / "standin"
    folder = standin_root / spec.folder
    stamp = folder / STAMP
    if _problems(spec, folder, check_md5=False) or not stamp.is_file() or stamp.read_text().strip() != standin_stamp():
        _notice(f"generating the {spec.name} stand-in in {folder} (once per generator version)")
        spec.write_standin(_ensure_writable(standin_root))
    try:
        parts = read(spec.standin_parser, standin_root, False)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, RuntimeError) as err:
        raise DataCorruptError(f"the {spec.name} stand-in in {folder} is unreadable ({type(err).__name__}: {err}). "
                               f"Delete {folder}; it is regenerated on the next load.") from err
    return _image_data(spec, parts, folder, standin=True, rehearsal=False)


def _image_data(spec: _Spec, parts: tuple, folder: Path, standin: bool, rehearsal: bool) -> ImageData:
    train, val, test, classes, note = parts
    origin = (f"generated by picseq_utils.data.standin (procedural shapes, seed {STANDIN_SEED}); NOT {spec.name}"
              if standin else spec.page)
    drawn = (f"{len(classes)} classes of drawn shapes" + (" x hue families" if len(classes) > 10 else "")
             + f" in {spec.name}'s on-disk format, read by torchvision's parser")
    note = "; ".join(filter(None, (drawn if standin else "", note, REHEARSAL_NOTE if rehearsal else "")))
    prov = Provenance(spec.name, "standin" if standin else "real", str(folder), origin, len(train), len(test),
                      len(classes), tuple(train.images.shape[1:]), note=note)
    return ImageData(train, test, classes, prov, val)


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
