"""Committed notebooks: outputs stripped, kernel python3, one literal parameters cell; stripping works."""
import ast
import re
import sys
from pathlib import Path

import nbformat
import pytest

from tools import nbtools

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DECLARED = 'profile: Profile = "smoke"\nseed: Seed = 0\ndevice: Device = "cpu"'  # a parameters cell's minimum


def test_the_suite_has_its_first_and_last_notebooks():
    names = [p.stem for p in NOTEBOOKS]
    assert "00_data_tour" in names and "99_report" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean(path):
    assert nbtools.check(path) == []


CELL_LINES = 40  # a cell a learner reads at once; the parameters cell declares every parameter instead


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_cells_are_short_enough_to_read(path):
    cells = nbformat.read(str(path), as_version=4).cells
    long = [(n, len(c.source.splitlines())) for n, c in enumerate(cells) if c.cell_type == "code"
            and len(c.source.splitlines()) > CELL_LINES and "parameters" not in c.metadata.get("tags", [])]
    assert not long, f"code cells over {CELL_LINES} lines (cell index, lines): {long}"


def test_notebook_code_passes_the_linter():
    """`ruff check` with pyproject.toml's settings: lines <= 100 characters, no syntax error, no undefined name."""
    import shutil
    import subprocess

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    done = subprocess.run([ruff, "check", "--output-format", "concise"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_strip_removes_outputs_but_keeps_cells_marked_for_output_checks(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(DECLARED, metadata={"tags": ["parameters"]})
    plain = nbformat.v4.new_code_cell("print(1)", execution_count=3,
                                      outputs=[nbformat.v4.new_output("stream", text="1\n")])
    kept = nbformat.v4.new_code_cell("print(2)", metadata={"tags": ["nbval-check-output"]}, execution_count=4,
                                     outputs=[nbformat.v4.new_output("stream", text="2\n")])
    nb.cells = [params, plain, kept]
    path = tmp_path / "00_x.ipynb"
    nbformat.write(nb, str(path))
    assert nbtools.check(path) == ["00_x.ipynb: cell 1 has stored outputs (run `make strip`)"]
    assert nbtools.strip(path) is True
    again = nbformat.read(str(path), as_version=4)
    assert again.cells[1].outputs == [] and again.cells[1].execution_count is None
    assert again.cells[2].outputs and nbtools.check(path) == []
    assert nbtools.strip(path) is False


def test_check_rejects_code_in_the_parameters_cell_and_other_kernels(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python2", "display_name": "Py2", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import os\nseed = 0", metadata={"tags": ["parameters"]})]
    path = tmp_path / "00_y.ipynb"
    nbformat.write(nb, str(path))
    problems = nbtools.check(path)
    assert any("kernel is 'python2'" in p for p in problems)
    assert any("only hold `name: Type = literal` lines" in p for p in problems)


def test_export_writes_the_marked_cells_and_check_catches_drift(tmp_path, monkeypatch):
    monkeypatch.setattr(nbtools, "LESSONS", tmp_path / "lessons")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(DECLARED, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("#| export\ndef double(x):\n    return 2 * x"),
                nbformat.v4.new_code_cell("print(double(2))"),
                nbformat.v4.new_code_cell("#| export\nTRIPLE = 3")]
    path = tmp_path / "07_arith.ipynb"
    nbformat.write(nb, str(path))
    assert any("picseq_lessons/arith.py differs" in p for p in nbtools.check(path)), "not exported yet"
    target = nbtools.export(path)
    assert target == tmp_path / "lessons" / "arith.py" and nbtools.check(path) == []
    namespace = {}
    exec(target.read_text(), namespace)  # noqa: S102
    assert namespace["double"](2) == 4 and namespace["TRIPLE"] == 3 and "print" not in target.read_text()
    nb.cells[1].source = "#| export\ndef double(x):\n    return x + x"  # edited in the notebook only
    nbformat.write(nb, str(path))
    assert any("differs" in p for p in nbtools.check(path))


LESSONS = [p for p in NOTEBOOKS if p.stem[:2] not in ("00", "99")]


def _code_cells(path):
    return [c.source.strip() for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code"]


def test_no_method_or_loop_is_written_in_two_notebooks():
    """One definition per method (issue 21): compared by the shape of the code (its AST with names and constants
    taken out), so a copy with a renamed argument is found too; a later notebook imports what an earlier exports."""
    assert nbtools.copies(NOTEBOOKS) == []


def test_the_copy_check_finds_a_renamed_near_copy_and_a_method_defined_twice(tmp_path):
    first = "def cutmix(images, labels, alpha):\n    lam = draw(alpha)\n    box = cut(images, lam)\n" \
            "    mixed = paste(images, box)\n    weights = mix(labels, lam)\n    kept = check(mixed)\n" \
            "    return mixed, weights\n"
    renamed = first.replace("images", "x").replace("labels", "y").replace("cutmix", "mix_batch")
    for name, source in (("a", first), ("b", renamed), ("c", "def cutmix(x):\n    return x\n")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(source)]
        nbformat.write(nb, str(tmp_path / f"{name}.ipynb"))
    found = nbtools.copies([tmp_path / "a.ipynb", tmp_path / "b.ipynb", tmp_path / "c.ipynb"])
    assert any("a ~ b" in f and "same shape" in f for f in found), found
    assert any(f.startswith("cutmix is defined in a cell 0 and in c cell 0") for f in found), found


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_each_lesson_ends_with_computed_findings_exercises_and_finish(path):
    nb = nbformat.read(str(path), as_version=4)
    headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown" and c.source.strip()]
    assert any(h.lstrip("# ").startswith("What this run shows") for h in headings), "a 'What this run shows' section"
    code = "\n".join(_code_cells(path))
    assert "Findings(run)" in code and ".show()" in code, "its conclusions are computed from the run's metrics"
    tries = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.lstrip("# ").startswith("Try this")]
    assert len(tries) == 1, "one 'Try this' section"
    exercises = [ln for ln in tries[0].splitlines() if ln.lstrip().startswith(("1.", "2.", "3.", "4.", "5."))]
    assert 2 <= len(exercises) <= 4, "2 to 4 exercises"
    assert _code_cells(path)[-1].endswith("run.finish()"), "the last cell finishes the run (its metrics land)"
    defined = [s for s in _code_cells(path) if s.lstrip("#| export\n").startswith(("def ", "class "))
               or "\ndef " in s or "\nclass " in s]
    assert defined, "the method is written in the notebook's own cells"


#: Words of a verdict or of a check's outcome: only picseq_utils.findings may put them in a sentence.
VERDICT = re.compile(r"\b(beats|not distinguishable|(?<!parameter-)matched|matches|equals|helps|hurts|"
                     r"measurably help|computes what)\b", re.IGNORECASE)


def test_the_verdict_pattern_catches_the_hand_written_verdicts_of_the_past():
    for old in ("Every augmentor-mode operation matched the PIL call", "IDMM helps at this budget",
                "does **not** measurably help", "computes what timm's `VisionTransformer` computes",
                "CutMix as written here equals torchvision's"):
        assert VERDICT.search(old), old
    assert not VERDICT.search("not parameter-matched in this run")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_notebook_writes_a_verdict_or_a_check_outcome_by_hand(path):
    """Every verdict and every "equal" goes through the rule book (issue 20): no string a code cell writes says
    one; Findings.compare and findings.check make those sentences from what was measured."""
    found = []
    for source in _code_cells(path):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and VERDICT.search(node.value):
                if not node.value.lstrip().startswith(("``", '"""')) and "\n" not in node.value.strip():
                    found.append(node.value)
    assert not found, f"hand-written verdicts or check outcomes: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_bookkeeping_stays_out_of_the_way(path):
    """At most 5 % of a notebook's code lines keep its record (issue 21): data, device and provenance are
    inferred by the run; what a run can infer it does not ask for."""
    code, kept = nbtools.bookkeeping(path)
    assert kept <= 0.05 * code, f"{kept} of {code} code lines are bookkeeping ({kept / code:.1%})"


def test_the_bookkeeping_count_sees_a_record_call_and_a_fingerprint(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1\nrun.record('a', 1,\n           n=2)\nstudy.run.use_data(d)\n"
                                          "fit(m, fingerprint_extra={'a': 1})")]
    nbformat.write(nb, str(tmp_path / "n.ipynb"))
    assert nbtools.bookkeeping(tmp_path / "n.ipynb") == (5, 4)


def test_outputs_a_notebook_gains_in_jupyterlab_never_reach_git(tmp_path):
    """JupyterLab saves outputs into the notebook file: with the filter `make venv` installs, git sees no change
    (and a real edit of a cell still shows)."""
    import shutil
    import subprocess

    from tools.nbtools import install_filter

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True).stdout

    shutil.copy(ROOT / ".gitattributes", tmp_path)
    (tmp_path / "notebooks").mkdir()
    notebook = tmp_path / "notebooks" / "04_vit_vs_resnet_cifar10.ipynb"
    shutil.copy(ROOT / "notebooks" / notebook.name, notebook)
    git("init", "-q")
    assert install_filter(tmp_path)
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    book = nbformat.read(str(notebook), as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    for n, cell in enumerate(code, 1):  # what Run All and an autosave leave in the file
        cell.execution_count = n
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="epoch 1/2 ...\n")]
    nbformat.write(book, str(notebook))  # as JupyterLab writes it
    # git's stat check lists the file (its size changed) until it is next added; its content, filtered, is unchanged
    assert git("diff", "--no-textconv") == "", "outputs alone: no difference"
    git("add", "-A")
    assert git("status", "--porcelain") == "", "outputs alone: nothing to commit, git status clean"
    code[-1].source = "print('a learner edit')"
    nbformat.write(book, str(notebook))
    assert git("status", "--porcelain").strip() == "M notebooks/04_vit_vs_resnet_cifar10.ipynb"
