"""The benchmark harness (not speed): pairs alternate, checks catch unequal work, tables render."""
import json

import pytest

from benchmarks.tables import CONCURRENCY_RESULTS, speed_result_paths

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


def _file(kind, results, isa=None, **env):
    return {"device_kind": kind, "environment": {"device_name": "CPU", "torch": "2", "torchvision": "0",
                                                 "git_commit": "abc", "isa": isa or {"label": "native"}, **env},
            "settings": {"batch_size": 64}, "finished": "now", "results": results}


def test_markdown_renders_results_and_marks_the_gpu_not_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(core, "RESULTS_DIR", tmp_path)
    result = core.compare("train x", "images/s", side("picseq", [2, 2, 2, 2]), side("conventional", [1, 1, 1, 1]),
                          repetitions=3)
    table = {"benchmark": "clip wall times", "kind": "table", "notes": "n",
             "rows": [{"notebook": "00_data_tour", "status": "ok", "seconds": 3.0, "reused": False}]}
    (tmp_path / "cpu-2core-avx512.json").write_text(json.dumps(_file("cpu-2core-avx512", [result, table],
                                                                      load_1min_before=1.2, git_dirty=True)))
    text = core.render_markdown()
    assert "**GPU: not measured**" in text and "| train x | images/s | picseq | 2 | conventional | 1 |" in text
    assert "2.00x" in text and "| 00_data_tour | ok | 3.0 | False |" in text
    assert "**The machine was busy**" in text and "**dirty**" in text


def test_report_table_has_one_row_per_paired_benchmark_and_device(tmp_path):
    from benchmarks import tables as report_tables

    fast = core.compare("train x", "images/s", side("picseq", [3, 3, 3, 3]), side("conventional", [1, 1, 1, 1]),
                        repetitions=3, target={"min_ratio": 1.3})
    broken = core.compare("train y", "images/s", side("a", [1] * 4, samples=5), side("b", [1] * 4), repetitions=3)
    table = {"benchmark": "peak", "kind": "peak", "rows": [], "peaks": {}}
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


def test_a_partial_run_keeps_the_other_benchmarks_rows_of_the_same_setting(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(core, "RESULTS_DIR", tmp_path)
    native = {"git_commit": "abc", "load_1min_before": 0.1,
              "isa": {"ONEDNN_MAX_CPU_ISA": "", "ATEN_CPU_CAPABILITY": "", "MKL_ENABLE_INSTRUCTIONS": "",
                      "cpu_capability": "AVX512", "label": "native"}}
    first = core.compare("train x", "images/s", side("a", [2] * 4), side("b", [1] * 4), repetitions=3)
    clips = core.compare("clips y", "clips/s", side("a", [3] * 4), side("b", [1] * 4), repetitions=3)
    path = core.save_results(torch.device("cpu"), [first, clips], {"benchmarks": ["train", "clips"]}, native)
    again = core.compare("train x", "images/s", side("a", [4] * 4), side("b", [1] * 4), repetitions=3)
    core.save_results(torch.device("cpu"), [again], {"benchmarks": ["train"]}, native)  # like `--only train`
    saved = json.loads(path.read_text())
    rows = {r["benchmark"]: r for r in saved["results"]}
    assert set(rows) == {"train x", "clips y"}
    assert rows["train x"]["ratio"] == pytest.approx(4) and rows["clips y"]["ratio"] == pytest.approx(3)
    assert all("commit" in r and "finished" in r and "load_1min" in r for r in rows.values())
    assert saved["environment"]["load_1min_after"] >= 0
    other = {**native, "isa": {**native["isa"], "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}  # another setting: not mixed
    core.save_results(torch.device("cpu"), [again], {"benchmarks": ["train"]}, other)
    assert [r["benchmark"] for r in json.loads(path.read_text())["results"]] == ["train x"]


def test_conventional_loader_matches_shapes():
    from benchmarks.conventional import conventional_loader
    from test_loaders import labelled_split

    loader = conventional_loader(labelled_split(16, 8), 4, num_workers=0, mean=(0.5,) * 3, std=(0.5,) * 3)
    x, y = next(iter(loader))
    assert x.shape == (4, 3, 8, 8) and y.shape == (4,)


# --------------------------------------------------------------------------- the peak and the dtypes
def training_side(name, gflops, peak, dtype="float32", values=(2, 2, 2, 2)):
    calls = iter(values)
    return core.Side(name, lambda: {"value": next(calls), "samples": 10, "loss": 0.5, "model": "m", "dtype": dtype,
                                    "gflops": gflops, "peak_gflops": peak, "peak_share": gflops / peak,
                                    "data_wait": 0.01})


def test_an_achieved_figure_above_its_measured_peak_is_flagged_and_gets_no_ratio():
    result = core.compare("train x float32", "images/s", training_side("picseq", 212.4, 208.1),
                          training_side("conventional", 193.2, 208.1, values=(1, 1, 1, 1)), repetitions=3,
                          target={"min_ratio": 1.3, "max_data_wait": 0.1})
    assert result["ratio"] is None and result["target_met"] is False
    assert any("exceeds the measured float32 peak" in p and "picseq" in p for p in result["checks"])
    within = core.compare("train x float32", "images/s", training_side("picseq", 200.0, 250.0),
                          training_side("conventional", 100.0, 250.0, values=(1, 1, 1, 1)), repetitions=3)
    assert within["checks"] == "ok" and within["ratio"] == pytest.approx(2)
    assert within["sides"]["picseq"]["peak_gflops"] == 250.0 and within["sides"]["picseq"]["gflops_values"] == [200.0] * 3


def test_a_ratio_across_dtypes_is_refused():
    result = core.compare("train x", "images/s", training_side("picseq", 10.0, 400.0, dtype="bfloat16"),
                          training_side("conventional", 10.0, 200.0), repetitions=3)
    assert result["ratio"] is None and any("different dtypes" in p for p in result["checks"])


def test_the_share_of_peak_does_not_meet_the_target():
    result = core.compare("train x float32", "images/s", training_side("picseq", 240.0, 250.0, values=(11, 11, 11, 11)),
                          training_side("conventional", 220.0, 250.0, values=(10, 10, 10, 10)), repetitions=3,
                          target={"min_ratio": 1.3, "max_data_wait": 0.1})
    assert result["checks"] == "ok" and result["target_met"] is False  # 96 % of peak, 1.1x: not met
    assert "or_min_peak_share" not in core.evaluate_target.__doc__


def synthetic_file(achieved, peak_rows, dtype="float32"):
    result = core.compare("train x " + dtype, "images/s", training_side("picseq", 1.0, 1e9, dtype=dtype),
                          training_side("conventional", 1.0, 1e9, dtype=dtype, values=(1, 1, 1, 1)), repetitions=3)
    result["sides"]["picseq"]["gflops_values"] = achieved
    peak = {"benchmark": "peak", "kind": "peak", "rows": peak_rows, "peaks": {}}
    return _file("cpu-2core-avx2", [result, peak])


def test_the_committed_file_check_on_synthetic_data():
    rows = [{"dtype": "float32", "operation": "matmul 2048", "library": "MKL", "gflops": 190.0, "trials": [190.0]},
            {"dtype": "float32", "operation": "conv", "library": "oneDNN", "gflops": 250.0, "trials": [250.0]}]
    assert core.committed_peak_violations(synthetic_file([200.0, 240.0, 230.0], rows)) == []
    above = core.committed_peak_violations(synthetic_file([200.0, 251.0, 230.0], rows))
    assert len(above) == 1 and "251.0 GFLOP/s above the measured float32 peak 250.0" in above[0]
    missing = core.committed_peak_violations(synthetic_file([10.0], rows, dtype="bfloat16"))
    assert any("no bfloat16 peak measured" in p for p in missing)


def test_peaks_are_the_best_of_every_measurement_per_dtype():
    import torch
    from benchmarks import peak

    rows = [{"dtype": "float32", "gflops": 190.0}, {"dtype": "float32", "gflops": 250.0},
            {"dtype": "bfloat16", "gflops": 480.0}]
    assert peak.peaks_of(rows) == {"float32": 250.0, "bfloat16": 480.0}
    tiny = (("matmul 64", "matmul", 64), ("conv3x3 8->8, 8x8", "conv_cl", (2, 8, 8, 8)))
    measured = peak.measure_peaks(torch.device("cpu"), [torch.float32], trials=2, min_seconds=0.01, ops=tiny)
    assert [r["operation"] for r in measured["rows"]] == ["matmul 64", "conv3x3 8->8, 8x8"]
    assert all(len(r["trials"]) == 2 and r["gflops"] == max(r["trials"]) > 0 for r in measured["rows"])
    assert measured["peaks"]["float32"] == max(r["gflops"] for r in measured["rows"])


# --------------------------------------------------------------------------- the committed results
COMMITTED = speed_result_paths(core.RESULTS_DIR)


def test_the_committed_concurrency_results_come_from_a_clean_tree_and_meet_the_target_with_turns():
    content = json.loads((core.RESULTS_DIR / CONCURRENCY_RESULTS).read_text())
    assert not content["environment"]["git_commit"].endswith("+dirty")
    after = {r["workload"]: r for r in content["results"] if r["setting"] == "after"}
    assert set(after) == {"loop", "notebook04"}
    assert all(r["slowdown"] is not None and r["slowdown"] <= r["cap"] for r in after.values())


def test_both_instruction_set_settings_are_committed():
    settings = {json.loads(p.read_text())["environment"]["isa"]["label"] for p in COMMITTED}
    assert {"native", "AVX2-capped"} <= settings


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_no_committed_achieved_figure_exceeds_its_measured_peak(path):
    content = json.loads(path.read_text())
    assert core.committed_peak_violations(content) == []


@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_results_record_the_setting_and_compare_like_with_like(path):
    content = json.loads(path.read_text())
    env = content["environment"]
    for key in ("cpu_model", "torch", "torch_threads", "git_commit", "git_dirty", "load_1min_before",
                "load_1min_after"):
        assert key in env, key
    assert set(core.ISA_VARIABLES) | {"cpu_capability", "label"} <= set(env["isa"])
    capped = path.stem.endswith("-avx2")
    assert all(env["isa"][v] for v in core.ISA_VARIABLES) if capped else not any(env["isa"][v] for v in core.ISA_VARIABLES)
    train = [r for r in content["results"] if r["benchmark"].startswith("train ")]
    assert train and content["settings"]["steps"] >= 20
    for r in train:
        a, b = r["sides"][r["a"]], r["sides"][r["b"]]
        assert a["dtype"] == b["dtype"] == r["dtype"] and r["dtype"] in r["a"] and r["dtype"] in r["b"]
        assert r["target"] == {"min_ratio": 1.3, "max_data_wait": 0.1}
    dtypes = {r["dtype"] for r in train}
    assert dtypes == ({"float32", "bfloat16"} if env["isa"].get("cpu_native_bf16") else {"float32"})


def test_benchmarks_md_is_rendered_from_the_committed_results():
    assert core.render_markdown() == core.MARKDOWN.read_text()


def test_readme_speed_block_reads_every_training_row(tmp_path):
    result = core.compare("train resnet18_cifar 32px float32", "images/s",
                          training_side("picseq (float32)", 150.0, 250.0, values=(3, 3, 3, 3)),
                          training_side("conventional (float32)", 100.0, 250.0, values=(2, 2, 2, 2)), repetitions=3,
                          target={"min_ratio": 1.3, "max_data_wait": 0.1})
    (tmp_path / "cpu-2core-avx2.json").write_text(json.dumps(_file(
        "cpu-2core-avx2", [result], isa={"label": "AVX2-capped"}, cpu_model="AMD EPYC", torch_threads=2)))
    block = core.readme_speed_block(tmp_path)
    assert "| cpu-2core-avx2 (AVX2-capped) | resnet18_cifar | float32 vs float32 | 1.50x | met |" in block
    assert "60% of 250 GFLOP/s | 40% of 250 GFLOP/s | AMD EPYC, 2 threads | `abc` |" in block
    assert core.readme_speed_block(tmp_path / "none").startswith("**Speed**: not measured")


def test_make_bench_caps_all_three_switches():
    makefile = (core.MARKDOWN.parent / "Makefile").read_text()
    assert "export MKL_ENABLE_INSTRUCTIONS := AVX2" in makefile
    bench = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    assert "ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 $(PY) -m benchmarks" in bench


def test_busy_is_judged_by_other_programs_cpu_time_not_by_the_load_of_the_previous_line(tmp_path, monkeypatch):
    monkeypatch.setattr(core, "RESULTS_DIR", tmp_path)
    result = core.compare("train x", "images/s", side("a", [2] * 4), side("b", [1] * 4), repetitions=3)
    path = tmp_path / "cpu-2core-avx2.json"
    path.write_text(json.dumps(_file("cpu-2core-avx2", [result], load_1min_before=1.9, run_seconds=300,
                                     cpu_share_other_programs=0.01, cpu_share_stolen=0.0)))
    quiet = core.render_markdown()
    assert "**The machine was busy**" not in quiet and "other programs used 1.0% of the CPU" in quiet
    path.write_text(json.dumps(_file("cpu-2core-avx2", [result], load_1min_before=0.1, run_seconds=300,
                                     cpu_share_other_programs=0.3, cpu_share_stolen=0.0)))
    assert "**The machine was busy**" in core.render_markdown()
    shares = core.CpuMeter().shares()
    assert set(shares) == {"run_seconds", "cpu_share_other_programs", "cpu_share_stolen"}
