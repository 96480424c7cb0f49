"""The metrics writer: provenance on every number, atomic JSON files, and reading them back."""
import json

import numpy as np
import pytest
import torch

from picseq_utils import metrics
from picseq_utils.data import Provenance

PROV = Provenance("CIFAR-10", "standin", "/data/standin/cifar-10-batches-py", "generated", 100, 20, 10, (3, 32, 32))


def test_record_writes_value_context_and_provenance(tmp_project):
    writer = metrics.start_run("04_vit_vs_resnet_cifar10", "smoke", {"epochs": 2}, {"torch": torch.__version__})
    writer.record("test_acc_vit", np.float32(0.5), unit="accuracy", data=PROV, std=0.01, n=3)
    path = tmp_project / "reports" / "smoke" / "metrics" / "04_vit_vs_resnet_cifar10.json"
    content = json.loads(path.read_text())
    assert content["parameters"] == {"epochs": 2} and content["environment"]["torch"] == torch.__version__
    (entry,) = content["metrics"]
    assert entry["name"] == "test_acc_vit" and entry["value"] == 0.5 and entry["unit"] == "accuracy"
    assert entry["provenance"] == ["standin"] and entry["data"] == ["CIFAR-10"]
    assert entry["context"] == {"std": pytest.approx(0.01), "n": 3}
    assert content["data"]["CIFAR-10"]["kind"] == "standin"


def test_module_level_record_uses_the_active_run_and_keeps_earlier_entries(tmp_project):
    metrics.start_run("01_clip_augmentation", "smoke")
    metrics.record("01_clip_augmentation", "a", 1)
    metrics.record("01_clip_augmentation", "b", torch.tensor(2.0), note="x")
    content = json.loads((tmp_project / "reports/smoke/metrics/01_clip_augmentation.json").read_text())
    assert [m["name"] for m in content["metrics"]] == ["a", "b"]
    assert content["metrics"][1]["value"] == 2.0 and content["metrics"][1]["context"] == {"note": "x"}


def test_a_new_run_replaces_the_old_file(tmp_project):
    metrics.start_run("03_vit_anatomy", "smoke").record("old", 1)
    metrics.start_run("03_vit_anatomy", "smoke").record("new", 2)
    content = json.loads((tmp_project / "reports/smoke/metrics/03_vit_anatomy.json").read_text())
    assert [m["name"] for m in content["metrics"]] == ["new"]


def test_jsonable_handles_what_notebooks_produce():
    out = metrics.jsonable({"t": torch.tensor([1, 2]), "f": float("nan"), "n": np.int64(3), "d": torch.device("cpu"),
                            "p": PROV, "s": {1}})
    assert out["t"] == [1, 2] and out["f"] is None and out["n"] == 3 and out["d"] == "cpu"
    assert out["p"]["label"] == "CIFAR-10 (stand-in)" and out["s"] == [1]
    json.dumps(out, allow_nan=False)


def test_unsafe_names_are_rejected(tmp_project):
    with pytest.raises(ValueError, match="invalid notebook"):
        metrics.start_run("../../etc/passwd", "smoke")
    with pytest.raises(ValueError, match="non-empty string"):
        metrics.start_run("00_data_tour", "smoke").record("", 1)


def test_load_metrics_reports_unreadable_files(tmp_project):
    metrics.start_run("00_data_tour", "smoke").record("x", 1)
    bad = tmp_project / "reports/smoke/metrics/01_broken.json"
    bad.write_text("{not json")
    runs = metrics.load_metrics("smoke")
    assert [r["notebook"] for r in runs] == ["00_data_tour", "01_broken"]
    assert "unreadable metrics file" in runs[1]["error"]
    assert not list(bad.parent.glob("*.tmp")), "writes leave no temporary files"
