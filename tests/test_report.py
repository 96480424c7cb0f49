"""The report pipeline: runs notebooks in order, keeps going past failures, resumes, renders an index."""
import json
import subprocess
import sys

import nbformat
import pytest

from picseq_utils import report


COMMON = 'profile: Profile = "smoke"\nseed: Seed = 0\ndevice: Device = "cpu"'


def make_notebook(path, source, params=COMMON):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("from picseq_utils.params import Bool, Device, Profile, Seed"),
                nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, str(path))


@pytest.fixture
def tiny_suite(tmp_project):
    nbdir = tmp_project / "notebooks"
    for copied in nbdir.glob("*.ipynb"):  # only this suite's notebooks
        copied.unlink()
    make_notebook(nbdir / "01_ok.ipynb", "print('fine <b>bold</b>')")
    make_notebook(nbdir / "02_fail.ipynb", "raise ValueError('boom <script>alert(1)</script>')")
    make_notebook(nbdir / "99_report.ipynb", "print('summary of', profile)",
                  params=COMMON + "\n# show the figures\nshow_figures: Bool = True")
    (tmp_project / "params" / "smoke.yaml").write_text("common:\n  profile: smoke\nnotebooks: {}\n")
    return tmp_project


@pytest.mark.slow
def test_report_runs_everything_reports_failures_and_resumes(tiny_suite, capsys):
    code = report.run_report("smoke", notebooks_dir=tiny_suite / "notebooks")
    assert code == 1
    out_dir = tiny_suite / "reports" / "smoke"
    state = json.loads((out_dir / "run_state.json").read_text())
    nbs = state["notebooks"]
    assert list(nbs) == ["01_ok", "02_fail", "99_report"], "in order, the report last"
    assert nbs["01_ok"]["status"] == "ok" and nbs["99_report"]["status"] == "ok"
    assert nbs["02_fail"]["status"] == "failed" and "boom" in nbs["02_fail"]["error"]
    assert state["failed"] == ["02_fail"]
    for name in nbs:
        for suffix in (".ipynb", ".html", ".reading.html"):
            assert (out_dir / f"{name}{suffix}").is_file(), name + suffix
    reading = (out_dir / "01_ok.reading.html").read_text()
    assert "fine" in reading and "print(&#39;fine" not in reading and "print('fine" not in reading, "code hidden"
    executed = nbformat.read(str(out_dir / "99_report.ipynb"), as_version=4)
    assert "summary of smoke" in str(executed.cells[-1].outputs)
    index = (out_dir / "index.html").read_text()
    assert "&lt;script&gt;" in index and "<script>alert" not in index, "text from notebooks is escaped"
    assert 'href="01_ok.reading.html"' in index and 'href="01_ok.html"' in index and "Failed: 02_fail" in index
    assert "FAILED: 02_fail" in capsys.readouterr().err

    # second run: the unchanged successful notebook is kept, the failed one runs again
    code = report.run_report("smoke", notebooks_dir=tiny_suite / "notebooks")
    assert code == 1
    nbs = json.loads((out_dir / "run_state.json").read_text())["notebooks"]
    assert nbs["01_ok"].get("reused") is True and not nbs["02_fail"].get("reused")

    # fixing the failure makes the run pass; --only runs the chosen notebook and the report
    make_notebook(tiny_suite / "notebooks" / "02_fail.ipynb", "print('fixed')")
    assert report.run_report("smoke", only=["02"], notebooks_dir=tiny_suite / "notebooks") == 0
    assert report.run_report("smoke", force=True, only=["01"], notebooks_dir=tiny_suite / "notebooks") == 0
    assert not json.loads((out_dir / "run_state.json").read_text())["notebooks"]["01_ok"].get("reused")


def test_bad_parameters_fail_that_notebook_without_running_it(tiny_suite):
    (tiny_suite / "params" / "smoke.yaml").write_text("notebooks:\n  99_report:\n    show_figure: false\n")
    make_notebook(tiny_suite / "notebooks" / "02_fail.ipynb", "print('fixed')")
    (tiny_suite / "notebooks" / "01_ok.ipynb").unlink()
    code = report.run_report("smoke", notebooks_dir=tiny_suite / "notebooks", only=["99"])
    assert code == 1
    state = json.loads((tiny_suite / "reports/smoke/run_state.json").read_text())
    assert "unknown parameter 'show_figure' (did you mean 'show_figures'?)" in state["notebooks"]["99_report"]["error"]
    assert not (tiny_suite / "reports/smoke/99_report.ipynb").exists()


def test_only_names_unknown_notebooks(tiny_suite):
    with pytest.raises(SystemExit, match="unknown notebook"):
        report.run_report("smoke", only=["42"], notebooks_dir=tiny_suite / "notebooks")


def test_cli_rejects_unknown_profiles():
    result = subprocess.run([sys.executable, "-m", "picseq_utils.report", "--profile", "huge"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice: 'huge'" in result.stderr


def test_notebook_order_puts_the_report_last(tmp_path):
    for name in ("99_report", "02_b", "00_a", "10_c", "notes"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    assert [p.stem for p in report.notebook_paths(tmp_path)] == ["00_a", "02_b", "10_c", "99_report"]


def test_only_accepts_a_number_a_name_prefix_or_the_full_name(tmp_path):
    paths = [tmp_path / f"{n}.ipynb" for n in ("00_data_tour", "04_vit_vs_resnet_cifar10", "99_report")]
    for wanted in ("04", "04_vit", "04_vit_vs_resnet_cifar10"):
        assert report.select(paths, [wanted]) == [paths[1]], wanted
    with pytest.raises(SystemExit, match=r"unknown notebook\(s\) \['04_resnet'\]; available: 00_data_tour"):
        report.select(paths, ["04_resnet"])


def test_the_index_leads_with_each_notebooks_findings_and_key_figures(tmp_project):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from picseq_utils import metrics
    from picseq_utils.data import Provenance

    writer = metrics.MetricsWriter("04_vit_vs_resnet_cifar10", "smoke")
    writer.add_data(Provenance("CIFAR-10", "standin", "/x", "generated", 10, 5, 10, (3, 32, 32)))
    figure = tmp_project / "figures" / "curves.png"
    figure.parent.mkdir(parents=True)
    plt.subplots()[0].savefig(figure)
    writer.add_figure(figure, "curves <b>", key=True)
    writer.add_figure(tmp_project / "figures" / "other.png", "not a key figure")
    writer.set_findings(["**ResNet-18 beats ViT**: 90 % vs 50 % <script>x</script>"], "**A pipeline check, not a finding**")
    import shutil

    from notebook_runner import ROOT
    from picseq_utils.sources import current_source

    shutil.copy(ROOT / "notebooks" / "04_vit_vs_resnet_cifar10.ipynb", tmp_project / "notebooks")
    shutil.copytree(ROOT / "params", tmp_project / "params", dirs_exist_ok=True)
    writer.content["source"] = current_source("04_vit_vs_resnet_cifar10", "smoke", writer.content["data"])
    writer.finish()
    out_dir = tmp_project / "reports" / "smoke"
    state = {"finished": "now", "commit": "abc", "notebooks": {
        "04_vit_vs_resnet_cifar10": {"status": "ok", "seconds": 12.0, "html": str(out_dir / "04_vit_vs_resnet_cifar10.html")},
        "05_vit_vs_resnet_cifar100_cutmix": {"status": "failed", "error": "boom", "seconds": 1.0}}}
    page = report.render_index("smoke", state, out_dir).read_text()
    assert "<strong>ResNet-18 beats ViT</strong>" in page and "<script>x" not in page
    assert "A pipeline check, not a finding" in page
    # the report's folder travels: its figures are inside it, linked relatively, and no page names this machine
    assert 'src="figures/04_vit_vs_resnet_cifar10/curves.png"' in page and "other.png" not in page
    assert (out_dir / "figures" / "04_vit_vs_resnet_cifar10" / "curves.png").read_bytes() == figure.read_bytes()
    assert str(tmp_project) not in page
    assert "No current record: no completed run of this notebook" in page and "boom" in page
    assert page.index("What each notebook") < page.index("claims beside runs")


def test_a_notebook_that_reads_another_ones_model_runs_after_it():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "notebooks"
    paths = report.notebook_paths(root)
    smoke = [p.stem[:2] for p in report.in_dependency_order(paths, "smoke")]
    full = [p.stem[:2] for p in report.in_dependency_order(paths, "full")]
    assert smoke == sorted(smoke), "smoke: 03 trains its own model, number order"
    assert full.index("03") == full.index("04") + 1, "full: 03 inspects 04's ViT, so it runs right after 04"


def test_an_edit_of_an_exported_cell_makes_the_notebook_that_imports_it_run_again(tmp_project, monkeypatch):
    """Freshness covers every input (issue 21): 05 imports 04's exported cells, so after 04's exported code changes
    (and `make export` writes picseq_lessons/), 05's record is out of date and `make report` runs 05 again."""
    import shutil

    import nbformat

    from notebook_runner import ROOT
    from picseq_utils import metrics
    from picseq_utils.sources import current_source
    from tools import nbtools

    shutil.copytree(ROOT / "params", tmp_project / "params", dirs_exist_ok=True)
    shutil.copytree(ROOT / "picseq_lessons", tmp_project / "picseq_lessons")
    for name in ("04_vit_vs_resnet_cifar10", "05_vit_vs_resnet_cifar100_cutmix"):
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", tmp_project / "notebooks")
    name = "05_vit_vs_resnet_cifar100_cutmix"
    writer = metrics.MetricsWriter(name, "smoke")
    writer.content["source"] = current_source(name, "smoke", {})
    writer.finish()
    output = tmp_project / "reports" / "smoke" / f"{name}.ipynb"
    output.write_text("{}")
    state = {"status": "ok"}
    source = "unchanged"
    assert report._current("smoke", name, {**state, "source": source}, source, output), "nothing changed: kept"

    path = tmp_project / "notebooks" / "04_vit_vs_resnet_cifar10.ipynb"
    book = nbformat.read(str(path), as_version=4)
    cell = next(c for c in book.cells if c.source.startswith("#| export") and "def best_point" in c.source)
    cell.source = cell.source.replace('ascending=[False, True]', 'ascending=[False, False]')  # ties: higher loss
    nbformat.write(book, str(path))
    monkeypatch.setattr(nbtools, "LESSONS", tmp_project / "picseq_lessons")
    nbtools.export(path)  # make export
    assert not report._current("smoke", name, {**state, "source": source}, source, output), "05 runs again"
    from picseq_utils.report_tables import out_of_date

    assert out_of_date(json.loads((tmp_project / "reports/smoke/metrics" / f"{name}.json").read_text())) == ["lessons"]


def test_the_pages_name_paths_inside_the_checkout_relative_to_it_and_the_home_folder_as_a_tilde(tmp_project):
    from pathlib import Path

    text = (f"loaded from the checkpoint in {tmp_project}/checkpoints/smoke/04/resnet\n"
            f"cwd {tmp_project}; cache {Path.home()}/.cache/torch")
    assert report.without_machine_paths(text) == ("loaded from the checkpoint in checkpoints/smoke/04/resnet\n"
                                                  "cwd .; cache ~/.cache/torch")


def test_papermills_warning_about_validated_parameters_is_dropped_and_others_kept():
    import logging

    quiet = report._ValidatedParameters({"finetune_lrs": [0.002]})
    make = lambda text: logging.LogRecord("papermill", logging.WARNING, __file__, 1, text, None, None)  # noqa: E731
    assert not quiet.filter(make("Passed unknown parameter: finetune_lrs"))
    assert quiet.filter(make("Passed unknown parameter: finetune_lr")), "a name picseq did not check still warns"
    assert quiet.filter(make("Executing notebook with kernel: python3"))
