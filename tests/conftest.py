import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def tmp_project(tmp_path, monkeypatch):
    """Point every generated folder (reports, figures, checkpoints, data) at a temporary project root."""
    from picseq_utils import paths

    import shutil

    # the notebooks declare their parameters (and the seed tables sit beside them): copies, never links, so a
    # test that edits one in its project leaves this checkout's untouched
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks",
                    ignore=lambda _, names: [n for n in names if not n.endswith((".ipynb", ".seeds.yaml"))])
    (tmp_path / "params").mkdir()
    monkeypatch.setattr(paths, "ROOT_OVERRIDE", tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def small_cifar_root(tmp_path_factory):
    """A data root with small CIFAR-10 and CIFAR-100 stand-ins already written (600 train / 200 test)."""
    from picseq_utils.data import write_cifar_standin

    root = tmp_path_factory.mktemp("data")
    write_cifar_standin(root / "standin", 10, n_train=600, n_test=200)
    write_cifar_standin(root / "standin", 100, n_train=600, n_test=200)
    return root
