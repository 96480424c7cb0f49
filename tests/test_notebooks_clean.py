"""Committed notebooks: outputs stripped, kernel python3, one literal parameters cell; stripping works."""
from pathlib import Path

import nbformat
import pytest

from picseq_utils import nbtools

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_suite_has_its_first_and_last_notebooks():
    names = [p.stem for p in NOTEBOOKS]
    assert "00_data_tour" in names and "99_report" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean(path):
    assert nbtools.check(path) == []


def test_strip_removes_outputs_but_keeps_cells_marked_for_output_checks(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("seed = 0", metadata={"tags": ["parameters"]})
    plain = nbformat.v4.new_code_cell("print(1)", execution_count=3,
                                      outputs=[nbformat.v4.new_output("stream", text="1\n")])
    kept = nbformat.v4.new_code_cell("print(2)", metadata={"tags": ["nbval-check-output"]}, execution_count=4,
                                     outputs=[nbformat.v4.new_output("stream", text="2\n")])
    nb.cells = [params, plain, kept]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, str(path))
    assert nbtools.check(path) == ["x.ipynb: cell 1 has stored outputs (run `make strip`)"]
    assert nbtools.strip(path) is True
    again = nbformat.read(str(path), as_version=4)
    assert again.cells[1].outputs == [] and again.cells[1].execution_count is None
    assert again.cells[2].outputs and nbtools.check(path) == []
    assert nbtools.strip(path) is False


def test_check_rejects_code_in_the_parameters_cell_and_other_kernels(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python2", "display_name": "Py2", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import os\nseed = 0", metadata={"tags": ["parameters"]})]
    path = tmp_path / "y.ipynb"
    nbformat.write(nb, str(path))
    problems = nbtools.check(path)
    assert any("kernel is 'python2'" in p for p in problems)
    assert any("only hold `name = literal` lines" in p for p in problems)
