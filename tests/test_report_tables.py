"""The report's tables: our numbers beside the seeds', provenance labels, escaping of data-borne text."""
import json

from picseq_utils import metrics, report_tables
from picseq_utils.data.provenance import Provenance


def write_run(notebook, entries, data=None):
    writer = metrics.MetricsWriter(notebook, "smoke", {"epochs": 1}, {"device_name": "CPU", "git_commit": "abc"})
    for name, value, kwargs in entries:
        writer.record(name, value, data=data, **kwargs)
    writer.finish()
    return writer


def test_a_claim_is_set_only_beside_the_run_of_its_own_recipe_with_what_still_differs(tmp_project):
    standin = Provenance("CIFAR-10", "standin", "/x", "generated", 10, 5, 10, (3, 32, 32))
    write_run("04_vit_vs_resnet_cifar10", [
        ("test_acc_resnet18", 0.95, dict(unit="accuracy", std=0.01, n=3)),  # picseq's recipe: never beside a claim
        ("seed003_recipe_test_acc_resnet18_scratch", 0.8, dict(unit="accuracy", std=0.02, n=2,
                                                                 conditions="Adam, batch 64, 64 px, 2 epochs",
                                                                 differs="stand-in data, 64 px not 224, 2 epochs")),
        ("seed003_recipe_test_acc_vit_b16_imagenet", None, dict(unit="accuracy", note="ImageNet weights unavailable")),
    ], data=standin)
    table = report_tables.seed_comparison(report_tables.load("smoke")).set_index(["seed", "claim"])
    row = table.loc[("003", "about 88.00%")]
    assert row["our run of that recipe"] == "80.00% ± 2.00%" and row["provenance"] == "stand-in"
    assert row["what our run did"] == "Adam, batch 64, 64 px, 2 epochs" and "64 px not 224" in row["what still differs"]
    assert table.loc[("003", "about 65.00%"), "our run of that recipe"] == "no comparable run in this profile"
    assert "95.00%" not in table.to_string(), "picseq's own recipe is not paired with the seed's claim"
    assert set(table.index.get_level_values("seed")) == {"000", "001", "002", "003", "004"}
    every = report_tables.metrics_table(report_tables.load("smoke"))
    assert every.iloc[0]["provenance"] == "stand-in" and every.iloc[0]["± std"] == "1.00%"


def test_findings_of_every_notebook_are_gathered_with_their_caveat(tmp_project):
    from picseq_utils import metrics

    writer = metrics.MetricsWriter("06_idmm_small_data_pretraining", "smoke")
    writer.set_findings(["IDMM and random init are **not distinguishable at this budget**"], "real digits")
    writer.finish()
    text = report_tables.findings_markdown(report_tables.load("smoke"))
    assert "### 06_idmm_small_data_pretraining" in text and "*real digits*" in text and "not distinguishable" in text


def test_figure_headings_escape_text_that_comes_from_data(tmp_project):
    heading = report_tables.figure_heading("01_clip_augmentation", 'clip <script>alert("x")</script> & co')
    assert "<script>" not in heading and "&lt;script&gt;" in heading and "&amp; co" in heading


def test_provenance_table_names_data_kinds_and_unreadable_files(tmp_project):
    digits = Provenance("digits", "bundled", "sklearn", "UCI", 10, 5, 10, (3, 8, 8))
    write_run("06_idmm_small_data_pretraining", [("x", 1.0, {})], data=digits)
    (tmp_project / "reports/smoke/metrics/05_broken.json").write_text("{not json")
    table = report_tables.provenance_table(report_tables.load("smoke")).set_index("notebook")
    assert "bundled" in table.loc["06_idmm_small_data_pretraining", "data"]
    assert "unreadable metrics file" in table.loc["05_broken", "error"]
    assert json.loads((tmp_project / "reports/smoke/metrics/06_idmm_small_data_pretraining.json").read_text())["data"]


def test_accuracy_sits_beside_time_to_accuracy_for_each_model(tmp_project):
    standin = Provenance("CIFAR-10", "standin", "/x", "generated", 10, 5, 10, (3, 32, 32))
    write_run("04_vit_vs_resnet_cifar10", [
        ("test_acc_resnet18", 0.95, dict(unit="accuracy", std=0.002, n=3)),
        ("seconds_to_val_90pct_resnet18", 41.5, dict(unit="s", target=0.9, reached=True)),
        ("train_seconds_resnet18", 160.0, dict(unit="s")),
        ("images_per_s_resnet18", 31000.0, dict(unit="images/s")),
        ("test_acc_vit", 0.5, dict(unit="accuracy", std=None, n=1)),
        ("seconds_to_val_90pct_vit", None, dict(unit="s", target=0.9, reached=False)),
        ("test_acc_vit_fraction_0.5", 0.4, dict(unit="accuracy")),
    ], data=standin)
    table = report_tables.accuracy_and_time_table(report_tables.load("smoke")).set_index("model")
    assert list(table.index) == ["resnet18", "vit"]
    assert table.loc["resnet18", "test accuracy"] == "95.00% ± 0.20%"
    assert table.loc["resnet18", "time to target"] == "41.5 s to 90%" and table.loc["resnet18", "train s"] == "160.0 s"
    assert table.loc["vit", "time to target"] == "not reached (90%)" and table.loc["vit", "test accuracy"] == "50.00%"
    assert table.loc["vit", "provenance"] == "stand-in"
