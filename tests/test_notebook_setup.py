"""``nb.begin`` / ``nb.setup``: what every notebook's first cells do."""
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from picseq_utils import notebook as nb  # noqa: E402
from picseq_utils.params import ParameterError  # noqa: E402

DEFAULTS = dict(profile="smoke", seed=3, device="cpu", data_source="auto", data_root="data", flowers_size=64,
                clip_frame_size=64,
                samples_per_class=4)


def namespace(**values):
    ns = {"already_here": 1, "In": [], "get_ipython": None}
    nb.begin(ns)
    ns.update(DEFAULTS)
    ns.update(values)
    ns["_i3"] = "ipython bookkeeping is ignored"
    return ns


def as_notebook(project, name="00_data_tour", **values):
    """A namespace that has run the notebook's first cells as papermill would (the notebook file and params/
    copied into ``project``), with the smoke profile's values unless ``values`` change them."""
    import shutil

    from notebook_runner import ROOT, cells
    from picseq_utils.params import notebook_defaults
    from picseq_utils.sources import EXECUTED

    shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", project / "notebooks")
    shutil.copytree(ROOT / "params", project / "params", dirs_exist_ok=True)
    code = [c.source for c in cells(name) if c.cell_type == "code"]
    ns = {"__name__": "__main__", EXECUTED: code[:2]}
    nb.begin(ns)
    ns.update(notebook_defaults(project / "notebooks" / f"{name}.ipynb"), **values)
    if values:
        ns[EXECUTED].append("\n".join(f"{k} = {v!r}" for k, v in values.items()))  # papermill's injected cell
    ns[EXECUTED].append(code[2])  # the setup cell
    return ns


def test_setup_validates_seeds_and_starts_the_metrics_file(tmp_project):
    run = nb.setup("00_data_tour", namespace(), quiet=True)
    assert run.params["flowers_size"] == 64 and run.params["seed"] == 3 and run.device == torch.device("cpu")
    first = torch.rand(3)
    torch.manual_seed(3)
    assert torch.equal(first, torch.rand(3)), "setup seeded torch with the seed parameter"
    run.record("answer", 42, unit="count")
    content = json.loads(run.finish().read_text())
    assert content["parameters"]["flowers_size"] == 64 and content["metrics"][0]["value"] == 42
    assert content["environment"]["device"] == "cpu"


def test_a_typo_injected_by_papermill_is_caught(tmp_project):
    with pytest.raises(ParameterError) as err:
        nb.setup("00_data_tour", namespace(flowers_siz=128), quiet=True)
    assert "unknown parameter 'flowers_siz' (did you mean 'flowers_size'?)" in str(err.value)


def test_a_wrong_value_and_a_missing_device_are_caught(tmp_project):
    with pytest.raises(ParameterError, match="'samples_per_class' = 0 must be >= 1"):
        nb.setup("00_data_tour", namespace(samples_per_class=0), quiet=True)
    with pytest.raises(ValueError, match="CUDA is not available|unknown device"):
        nb.setup("00_data_tour", namespace(device="cuda" if not torch.cuda.is_available() else "tpu"), quiet=True)


def test_setup_without_begin_explains_itself(tmp_project):
    with pytest.raises(RuntimeError, match=r"nb.begin\(globals\(\)\)"):
        nb.setup("00_data_tour", dict(DEFAULTS), quiet=True)


def test_figures_and_data_are_recorded(tmp_project):
    from picseq_utils.data import load_digits

    run = nb.setup("00_data_tour", as_notebook(tmp_project), quiet=True)
    data = run.use_data(load_digits(image_size=8))
    run.record("digits_train", len(data.train), data=data)
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = run.save_figure(fig, "line", caption="a line")
    assert path == tmp_project / "figures/smoke/00_data_tour/line.png" and path.is_file()
    content = run.writer.content
    assert content["figures"] == [{"path": str(path), "caption": "a line", "key": False}]
    assert content["metrics"][0]["provenance"] == ["bundled"] and "digits" in content["data"]
    with pytest.raises(ValueError, match="invalid figure name"):
        run.save_figure(fig, "../escape")
    assert run.checkpoint_dir("resnet") == tmp_project / "checkpoints/smoke/00_data_tour/resnet"


def test_a_parameter_reassigned_after_setup_takes_effect_and_is_recorded(tmp_project, capsys):
    ns = namespace()
    run = nb.setup("00_data_tour", ns, quiet=True)
    ns["samples_per_class"] = 2  # a learner edits a variable in a later cell
    run.record("x", 1)
    assert run.params["samples_per_class"] == 2
    assert "samples_per_class 4 -> 2" in capsys.readouterr().out
    content = run.writer.content
    assert content["parameters"]["samples_per_class"] == 2
    assert content["changed_after_setup"] == {"samples_per_class": {"was": 4, "now": 2}}


def test_a_bad_value_or_a_data_parameter_reassigned_after_setup_stops_the_run(tmp_project):
    ns = namespace()
    run = nb.setup("00_data_tour", ns, quiet=True)
    ns["samples_per_class"] = 0
    with pytest.raises(ParameterError, match="'samples_per_class' = 0 must be >= 1"):
        run.record("x", 1)
    ns["samples_per_class"], ns["data_root"] = 4, "elsewhere"
    with pytest.raises(ParameterError, match="data_root changed after setup"):
        run.checkpoint_dir("x")


def test_a_finished_run_lists_what_it_trained(tmp_project):
    import json

    from training_helpers import quick_fit

    run = nb.setup("00_data_tour", namespace(), quiet=True)
    quick_fit(epochs=2, desc="tiny")
    content = json.loads(run.finish().read_text())
    (fit,) = content["fits"]
    assert fit["desc"] == "tiny" and fit["epochs"] == 2 and fit["samples_per_epoch"] == 64 and fit["parameters"] > 0


def test_a_run_that_is_not_the_notebook_is_an_experiment_and_never_replaces_its_results(tmp_project):
    """An edited cell, or other parameters: figures, checkpoints and metrics go apart (issue 20, item 6)."""
    import json

    from notebook_runner import cells

    ns = as_notebook(tmp_project)
    own = nb.setup("00_data_tour", ns, quiet=True)
    own.record("x", 1)
    ns["_picseq_executed"] += [c.source for c in cells("00_data_tour") if c.cell_type == "code"][3:]  # all ran
    assert own.key() == "00_data_tour" and own.checkpoint_dir("a") == tmp_project / "checkpoints/smoke/00_data_tour/a"
    own_path = own.finish()
    assert own_path.name == "00_data_tour.json" and json.loads(own_path.read_text())["source"]["as_notebook"]

    edited = as_notebook(tmp_project)
    edited["_picseq_executed"][1] = edited["_picseq_executed"][1].replace("size=True) = 4", "size=True) = 2")
    run = nb.setup("00_data_tour", edited, quiet=True)
    assert run.key().startswith("00_data_tour@experiment-") and "changed or run out of order" in run.why
    run.record("x", 2)
    path = run.finish()
    assert path.name.startswith("00_data_tour@experiment-") and json.loads(own_path.read_text())["metrics"][0]["value"] == 1
    assert run.checkpoint_dir("a").parent.name == run.key()

    other = nb.setup("00_data_tour", as_notebook(tmp_project, samples_per_class=2), quiet=True)
    assert other.key().startswith("00_data_tour@experiment-") and "samples_per_class" in other.why


def test_checkpoints_made_by_other_code_are_retired_not_resumed(tmp_project):
    import warnings

    ns = as_notebook(tmp_project)
    run = nb.setup("00_data_tour", ns, quiet=True)
    folder = run.checkpoint_dir("fit")
    (folder / "epoch_00001.pt").write_bytes(b"old")
    assert run.checkpoint_dir("fit") == folder and (folder / "epoch_00001.pt").is_file(), "same code: kept"
    run._inputs["package"] = "edited"  # picseq_utils changed before this training run: its checkpoints are stale
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        run.checkpoint_dir("fit")
    assert not (folder / "epoch_00001.pt").exists() and (folder / "stale" / "epoch_00001.pt").is_file()


def test_the_report_stands_only_on_current_records_of_the_notebook_itself(tmp_project):
    """An out-of-date record (its notebook changed since) and an experiment are kept apart, with the reason."""
    import nbformat

    from notebook_runner import cells
    from picseq_utils import report_tables

    ns = as_notebook(tmp_project)
    run = nb.setup("00_data_tour", ns, quiet=True)
    ns["_picseq_executed"] += [c.source for c in cells("00_data_tour") if c.cell_type == "code"][3:]
    run.finish()
    edited = as_notebook(tmp_project, samples_per_class=2)
    nb.setup("00_data_tour", edited, quiet=True).finish()
    assert [r["key"] for r in report_tables.load("smoke")] == ["00_data_tour"]
    (apart,) = report_tables.kept_apart("smoke")
    assert apart["key"].startswith("00_data_tour@experiment-") and "samples_per_class" in apart["why"]

    path = tmp_project / "notebooks" / "00_data_tour.ipynb"
    book = nbformat.read(str(path), as_version=4)
    book.cells[-1].source += "\n# an edit"
    nbformat.write(book, str(path))
    assert report_tables.load("smoke") == []
    assert any(r["why"] == "out of date: notebook changed since it ran" for r in report_tables.kept_apart("smoke"))
