"""The benchmark harness (not speed): pairs alternate, checks catch unequal work, tables render."""
import json

import pytest

from benchmarks import core


def side(name, values, samples=10, loss=0.5, model="m"):
    calls = iter(values)
    return core.Side(name, lambda: {"value": next(calls), "samples": samples, "loss": loss, "model": model,
                                    "data_wait": 0.01})


def test_compare_reports_medians_and_ratio_and_checks_pass():
    result = core.compare("b", "images/s", side("fast", [9, 10, 11, 12]), side("slow", [4, 5, 5, 6]),
                          repetitions=3, warmup=1, target={"min_ratio": 1.5, "max_data_wait": 0.05})
    assert result["sides"]["fast"]["median"] == 11 and result["sides"]["slow"]["median"] == 5
    assert result["ratio"] == pytest.approx(11 / 5) and result["checks"] == "ok" and result["target_met"] is True


def test_lower_is_better_ratio_says_how_many_times_faster_the_first_side_is():
    result = core.compare("t", "s/epoch", side("cached", [1, 1, 1, 1]), side("e2e", [20, 20, 20, 20]),
                          repetitions=3, higher_is_better=False)
    assert result["ratio"] == pytest.approx(20)


@pytest.mark.parametrize("a_kwargs, problem", [
    (dict(samples=11), "different amounts of work"),
    (dict(loss=float("nan")), "non-finite loss"),
    (dict(model="other"), "different models"),
])
def test_unequal_work_gets_no_ratio(a_kwargs, problem):
    result = core.compare("b", "x", side("a", [1, 1, 1, 1], **a_kwargs), side("b", [1, 1, 1, 1]), repetitions=3)
    assert result["ratio"] is None and any(problem in p for p in result["checks"])


def test_markdown_renders_results_and_marks_the_gpu_not_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(core, "RESULTS_DIR", tmp_path)
    result = core.compare("train x", "images/s", side("picseq", [2, 2, 2, 2]), side("conventional", [1, 1, 1, 1]),
                          repetitions=3)
    table = {"benchmark": "smoke report wall time per notebook", "kind": "table", "notes": "n",
             "rows": [{"notebook": "00_data_tour", "status": "ok", "seconds": 3.0, "reused": False}]}
    (tmp_path / "cpu-2core.json").write_text(json.dumps({
        "device_kind": "cpu-2core", "environment": {"device_name": "CPU", "torch": "2", "torchvision": "0",
                                                    "git_commit": "abc"},
        "settings": {"batch_size": 64}, "finished": "now", "results": [result, table]}))
    text = core.render_markdown()
    assert "**GPU: not measured**" in text and "| train x | images/s | picseq | 2 | conventional | 1 |" in text
    assert "2.00x" in text and "| 00_data_tour | ok | 3.0 | False |" in text


def test_report_table_has_one_row_per_paired_benchmark_and_device(tmp_path):
    from benchmarks import tables as report_tables

    fast = core.compare("train x", "images/s", side("picseq", [3, 3, 3, 3]), side("conventional", [1, 1, 1, 1]),
                        repetitions=3, target={"min_ratio": 1.3})
    broken = core.compare("train y", "images/s", side("a", [1] * 4, samples=5), side("b", [1] * 4), repetitions=3)
    table = {"benchmark": "wall times", "kind": "table", "notes": "", "rows": []}
    for kind in ("cpu-2core", "cuda-h100"):
        (tmp_path / f"{kind}.json").write_text(json.dumps({
            "device_kind": kind, "environment": {"device_name": kind.upper(), "git_commit": "abc"},
            "settings": {}, "finished": "now", "results": [fast, broken, table]}))
    frame = report_tables.benchmark_table(tmp_path)
    assert len(frame) == 4 and list(frame["device"].unique()) == ["cpu-2core (CPU-2CORE)", "cuda-h100 (CUDA-H100)"]
    first = frame.iloc[0]
    assert (first["ratio"], first["met"], first["checks"]) == ("3.00x", "yes", "ok")
    assert frame.iloc[1]["ratio"] == "-" and "different amounts of work" in frame.iloc[1]["checks"]
    assert report_tables.gpu_measured(report_tables.load_benchmark_results(tmp_path))
    assert report_tables.benchmark_table(tmp_path / "none").empty


def test_a_partial_run_keeps_the_other_benchmarks_rows(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(core, "RESULTS_DIR", tmp_path)
    first = core.compare("train x", "images/s", side("a", [2] * 4), side("b", [1] * 4), repetitions=3)
    clips = core.compare("clips y", "clips/s", side("a", [3] * 4), side("b", [1] * 4), repetitions=3)
    path = core.save_results(torch.device("cpu"), [first, clips], {"benchmarks": ["train", "clips"]})
    again = core.compare("train x", "images/s", side("a", [4] * 4), side("b", [1] * 4), repetitions=3)
    core.save_results(torch.device("cpu"), [again], {"benchmarks": ["train"]})  # like `--only train`
    rows = {r["benchmark"]: r for r in json.loads(path.read_text())["results"]}
    assert set(rows) == {"train x", "clips y"}
    assert rows["train x"]["ratio"] == pytest.approx(4) and rows["clips y"]["ratio"] == pytest.approx(3)
    assert all("commit" in r and "finished" in r for r in rows.values())


def test_conventional_loader_matches_shapes():
    from benchmarks.conventional import conventional_loader
    from test_loaders import labelled_split

    loader = conventional_loader(labelled_split(16, 8), 4, num_workers=0, mean=(0.5,) * 3, std=(0.5,) * 3)
    x, y = next(iter(loader))
    assert x.shape == (4, 3, 8, 8) and y.shape == (4,)
