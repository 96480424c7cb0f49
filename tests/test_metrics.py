"""The metrics writer: provenance on every number, atomic JSON files, and reading them back."""
import json

import numpy as np
import pytest
import torch

from picseq_utils import metrics
from picseq_utils.data import Provenance

PROV = Provenance("CIFAR-10", "standin", "/data/standin/cifar-10-batches-py", "generated", 100, 20, 10, (3, 32, 32))


def test_record_writes_value_context_and_provenance(tmp_project):
    writer = metrics.MetricsWriter("04_vit_vs_resnet_cifar10", "smoke", {"epochs": 2},
                                   {"torch": torch.__version__})
    writer.record("test_acc_vit", np.float32(0.5), unit="accuracy", data=PROV, std=0.01, n=3)
    path = tmp_project / "reports" / "smoke" / "metrics" / "04_vit_vs_resnet_cifar10.json"
    assert not path.exists() and writer.partial.is_file(), "until the run finishes, only the partial file is written"
    assert writer.finish() == path
    content = json.loads(path.read_text())
    assert content["status"] == "complete" and not writer.partial.exists()
    assert content["parameters"] == {"epochs": 2} and content["environment"]["torch"] == torch.__version__
    (entry,) = content["metrics"]
    assert entry["name"] == "test_acc_vit" and entry["value"] == 0.5 and entry["unit"] == "accuracy"
    assert entry["provenance"] == ["standin"] and entry["data"] == ["CIFAR-10"]
    assert entry["context"] == {"std": pytest.approx(0.01), "n": 3}
    assert content["data"]["CIFAR-10"]["kind"] == "standin"


def test_a_metric_recorded_again_replaces_its_earlier_value(tmp_project):
    writer = metrics.MetricsWriter("01_clip_augmentation", "smoke")
    writer.record("a", 1)
    writer.record("b", torch.tensor(2.0), note="x")
    writer.record("a", 3)  # a cell run twice
    content = json.loads(writer.finish().read_text())
    assert [m["name"] for m in content["metrics"]] == ["b", "a"] and content["metrics"][1]["value"] == 3
    assert content["metrics"][0]["value"] == 2.0 and content["metrics"][0]["context"] == {"note": "x"}


def test_a_finished_run_replaces_the_old_file_and_a_failed_one_leaves_it_byte_identical(tmp_project):
    metrics.MetricsWriter("03_vit_anatomy", "smoke").record("old", 1)
    path = tmp_project / "reports/smoke/metrics/03_vit_anatomy.json"
    assert not path.exists(), "a run that never finished leaves no metrics file"
    good = metrics.MetricsWriter("03_vit_anatomy", "smoke")
    good.record("good", 1)
    good.finish()
    before = path.read_bytes()
    broken = metrics.MetricsWriter("03_vit_anatomy", "smoke")
    broken.record("half", 2)  # ... and the notebook fails here
    assert path.read_bytes() == before
    again = metrics.MetricsWriter("03_vit_anatomy", "smoke")
    again.record("new", 2)
    again.finish()
    assert [m["name"] for m in json.loads(path.read_text())["metrics"]] == ["new"]


def test_a_run_on_other_data_is_kept_apart(tmp_project):
    report_run = metrics.MetricsWriter("02_resnet_embedded_transformer", "smoke")
    report_run.record("val_acc", 0.9)
    report_run.finish()
    mine = metrics.MetricsWriter("02_resnet_embedded_transformer", "smoke", variant="clips_folder-my_clips")
    mine.record("val_acc", 0.5)
    path = mine.finish()
    assert path.name == "02_resnet_embedded_transformer@clips_folder-my_clips.json"
    assert [r["metrics"][0]["value"] for r in metrics.load_metrics("smoke")] == [0.9]
    both = metrics.load_metrics("smoke", variants=True)
    assert [(r["variant"], r["metrics"][0]["value"]) for r in both] == [(None, 0.9), ("clips_folder-my_clips", 0.5)]


def test_jsonable_handles_what_notebooks_produce():
    out = metrics.jsonable({"t": torch.tensor([1, 2]), "f": float("nan"), "n": np.int64(3), "d": torch.device("cpu"),
                            "p": PROV, "s": {1}})
    assert out["t"] == [1, 2] and out["f"] is None and out["n"] == 3 and out["d"] == "cpu"
    assert out["p"]["label"] == "CIFAR-10 (stand-in)" and out["s"] == [1]
    json.dumps(out, allow_nan=False)


def test_unsafe_names_are_rejected(tmp_project):
    with pytest.raises(ValueError, match="invalid notebook"):
        metrics.MetricsWriter("../../etc/passwd", "smoke")
    with pytest.raises(ValueError, match="non-empty string"):
        metrics.MetricsWriter("00_data_tour", "smoke").record("", 1)


def test_load_metrics_reports_unreadable_files(tmp_project):
    writer = metrics.MetricsWriter("00_data_tour", "smoke")
    writer.record("x", 1)
    writer.finish()
    bad = tmp_project / "reports/smoke/metrics/01_broken.json"
    bad.write_text("{not json")
    runs = metrics.load_metrics("smoke")
    assert [r["notebook"] for r in runs] == ["00_data_tour", "01_broken"]
    assert "unreadable metrics file" in runs[1]["error"]
    assert not list(bad.parent.glob("*.tmp")), "writes leave no temporary files"
