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
    """The claims come from the notebooks' seed tables; the differences were computed when the run recorded."""
    import shutil

    from notebook_runner import ROOT
    from picseq_utils.recipes import Translated, seed_recipes

    for path in (ROOT / "notebooks").glob("*.seeds.yaml"):
        shutil.copy(path, tmp_project / "notebooks")
    resnet = seed_recipes("04_vit_vs_resnet_cifar10", "003")["resnet18"]
    used = {key: resnet[key] for key in resnet.entries}
    used.update(data="CIFAR-10 (stand-in)", image_size=64, epochs=2, flip=Translated(False, "digits"))
    standin = Provenance("CIFAR-10", "standin", "/x", "generated", 10, 5, 10, (3, 32, 32))
    write_run("04_vit_vs_resnet_cifar10", [
        ("test_acc_resnet18", 0.95, dict(unit="accuracy", std=0.01, n=3)),  # picseq's recipe: never beside a claim
        ("seed003_recipe_test_acc_resnet18_scratch", 0.8, dict(unit="accuracy", std=0.02, n=2,
                                                                 **resnet.record(used))),
        ("seed003_recipe_test_acc_vit_b16_imagenet", None, dict(unit="accuracy", note="ImageNet weights unavailable")),
    ], data=standin)
    runs = metrics.load_metrics("smoke")
    table = report_tables.seed_comparison(runs).set_index("seed")
    row = table[table["claim"].str.startswith("about 88.00%")].iloc[0]
    assert row["our run of that recipe"] == "80.00% ± 2.00%" and row["provenance"] == "stand-in"
    differs = row["what still differs"]
    assert "image_size: 64 (seed: 224, §3.5" in differs and "epochs: 2 (seed: 25" in differs
    assert "flip: False (seed: True" in differs and "translated: digits" in differs and "lr:" not in differs
    assert "lr 0.001 (§3.5, §4.5)" in row["the seed's recipe"]
    other = table[table["claim"].str.startswith("about 65.00%")].iloc[0]
    assert other["our run of that recipe"] == "no comparable run in this profile"
    assert "95.00%" not in table.to_string(), "picseq's own recipe is not paired with the seed's claim"
    assert set(table.index) == {"000", "001", "002", "003", "004"}
    every = report_tables.metrics_table(runs)
    assert every.iloc[0]["provenance"] == "stand-in" and every.iloc[0]["± std"] == "1.00%"


def test_findings_of_every_notebook_are_gathered_with_their_caveat(tmp_project):
    from picseq_utils import metrics

    writer = metrics.MetricsWriter("06_idmm_small_data_pretraining", "smoke")
    writer.set_findings(["IDMM and random init are **not distinguishable at this budget**"], "real digits")
    writer.finish()
    text = report_tables.findings_markdown(metrics.load_metrics("smoke"))
    assert "### 06_idmm_small_data_pretraining" in text and "*real digits*" in text and "not distinguishable" in text


def test_figure_headings_escape_text_that_comes_from_data(tmp_project):
    heading = report_tables.figure_heading("01_clip_augmentation", 'clip <script>alert("x")</script> & co')
    assert "<script>" not in heading and "&lt;script&gt;" in heading and "&amp; co" in heading


def test_provenance_table_names_data_kinds_and_unreadable_files(tmp_project):
    digits = Provenance("digits", "bundled", "sklearn", "UCI", 10, 5, 10, (3, 8, 8))
    write_run("06_idmm_small_data_pretraining", [("x", 1.0, {})], data=digits)
    (tmp_project / "reports/smoke/metrics/05_broken.json").write_text("{not json")
    table = report_tables.provenance_table(metrics.load_metrics("smoke")).set_index("notebook")
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
        ("train_seconds_vit", 90.0, dict(unit="s")),
        ("test_acc_vit_fraction_0.5", 0.4, dict(unit="accuracy")),  # no training time of its own: not a row
    ], data=standin)
    table = report_tables.accuracy_and_time_table(metrics.load_metrics("smoke")).set_index("model")
    assert list(table.index) == ["resnet18", "vit"]
    assert table.loc["resnet18", "test accuracy"] == "95.00% ± 0.20%"
    assert table.loc["resnet18", "time to target"] == "41.5 s to 90%" and table.loc["resnet18", "train s"] == "160.0 s"
    assert table.loc["vit", "time to target"] == "not reached (90%)" and table.loc["vit", "test accuracy"] == "50.00%"
    assert table.loc["vit", "provenance"] == "stand-in"
