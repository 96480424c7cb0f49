"""Every "Try this" exercise of the lessons, done as its text says (issue 22).

Each test applies the exercise's edit to the cell it names (or sets the parameter it names), runs the
notebook in-process at a tiny size that still takes the edited path, and checks the effect the text
promises. The test first checks that the exercise's text still asks for exactly that edit, so a reworded
exercise cannot drift away from its test. Tests of an exercise that live in a notebook's own test file carry
the same marker, ``@pytest.mark.exercise(notebook, number)``; the last test here finds every exercise of every
notebook and fails when one has no test.
"""
import ast
import re
from pathlib import Path

import pytest
import torch

from notebook_runner import cells, run_notebook

ROOT = Path(__file__).resolve().parents[1]


def exercises(notebook: str) -> dict[int, str]:
    """The numbered items of a notebook's "## Try this" cell: {number: text}."""
    text = next(c.source for c in cells(notebook) if c.source.startswith("## Try this"))
    items = re.split(r"^(\d+)\. ", text.split("\n", 1)[1], flags=re.M)[1:]
    return {int(n): " ".join(body.split()) for n, body in zip(items[::2], items[1::2])}


def asks(notebook: str, number: int, *phrases: str) -> None:
    """The exercise's text still asks for this edit (whitespace-insensitive)."""
    text = exercises(notebook)[number]
    for phrase in phrases:
        assert " ".join(phrase.split()) in text, f"{notebook} exercise {number} no longer says {phrase!r}"


def edited(notebook: str, tag: str, old: str, new: str) -> str:
    """The source of the cell tagged ``tag`` with ``old`` (present exactly once) replaced by ``new``."""
    source = next(c.source for c in cells(notebook) if tag in c.metadata.get("tags", []))
    assert source.count(old) == 1, f"{notebook}'s cell {tag!r} no longer holds {old!r} once"
    return source.replace(old, new)


def metrics(namespace) -> dict:
    return {m["name"]: m["value"] for m in namespace["run"].writer.content["metrics"]}


# --- 01 · clip-consistent augmentation --------------------------------------------------------------------

NB01 = "01_clip_augmentation"
TINY01 = dict(device="cpu", n_clips=4, frame_size=32, expansion_copies=2, expansion_clips=0,
              throughput_sizes=[32], throughput_clips=1, consistency_checks=2, fire_rate_draws=2000)


@pytest.mark.exercise(NB01, 1)
def test_01_one_skew_type_moves_one_corner_per_draw(tmp_project):
    asks(NB01, 1, 'set the default `skew_types: tuple = ("CORNER",)`', "every draw now pushes one corner")
    corner = edited(NB01, "recipe", "skew_types: tuple = SKEW_TYPES", 'skew_types: tuple = ("CORNER",)')
    before = run_notebook(NB01, TINY01, stop_after="rules_table", project=tmp_project)
    after = run_notebook(NB01, TINY01, replace={"recipe": corner}, stop_after="modes", project=tmp_project)
    assert before["rules_table"]["skew types drawn"] == "CORNER, TILT, TILT_LEFT_RIGHT, TILT_TOP_BOTTOM"
    assert after["rules_table"]["skew types drawn"] == "CORNER", "the table of section 3 shows it"
    draws = [after["sample_params"](32, 32, torch.Generator().manual_seed(s)) for s in range(200)]
    assert {len(d.skew_moves) for d in draws} == {1}, "one corner pushed in every draw"
    assert len({d.skew_moves for d in draws}) == 8, "and each of the 8 corner moves is drawn"


@pytest.mark.exercise(NB01, 3)
def test_01_exact_rules_change_the_table_of_section_3(tmp_project):
    asks(NB01, 3, 'Set `augment_rules = "exact"` in the parameters cell', "the table at the end of section 3")
    tables = {rules: run_notebook(NB01, {**TINY01, "augment_rules": rules}, stop_after="rules_table",
                                  project=tmp_project)["rules_table"] for rules in ("augmentor", "exact")}
    assert tables["augmentor"]["whole degrees"] and not tables["exact"]["whole degrees"]
    for step in ("rotate", "flip"):  # 2,000 draws: the standard error of a share is about 0.011
        assert abs(tables["augmentor"][f"fires: {step}"] - 0.55) < 0.04
        assert abs(tables["exact"][f"fires: {step}"] - 0.50) < 0.04
    assert tables["augmentor"].name == "rules = 'augmentor'" and tables["exact"].name == "rules = 'exact'"


@pytest.mark.exercise(NB01, 4)
def test_01_a_generator_per_frame_breaks_both_consistency_checks(tmp_project):
    per_frame = ("draw = lambda x: torch.cat([augment_clip(x[t:t + 1], mode, torch.Generator()"
                 ".manual_seed(seed + d + t), recipe) for t in range(len(x))])")
    asks(NB01, 4, per_frame, "both checks now report a difference")
    old = "draw = lambda x: augment_clip(x, mode, torch.Generator().manual_seed(seed + d), recipe)"
    ns = run_notebook(NB01, TINY01, replace={"consistency": edited(NB01, "consistency", old, per_frame)},
                      project=tmp_project)
    assert len(ns["consistency_verdicts"]) == 4
    for verdict in ns["consistency_verdicts"]:
        assert not verdict.passed and verdict.measured > 0.05, verdict.sentence
        assert "differs from one draw for every frame" in verdict.sentence
    assert min(metrics(ns)[f"consistency_max_diff_{mode}"] for mode in ("augmentor", "torchvision")) > 0.05


# --- every exercise has its test --------------------------------------------------------------------------

def marked_exercises() -> set[tuple[str, int]]:
    """Every ``@pytest.mark.exercise(notebook, number)`` in tests/, read from the source (no import needed)."""
    found = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        names = {t.id: node.value.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name) and isinstance(node.value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "exercise":
                notebook, number = node.args
                notebook = names[notebook.id] if isinstance(notebook, ast.Name) else notebook.value
                found.add((notebook, number.value))
    return found


def test_every_exercise_of_every_lesson_is_done_by_a_test():
    lessons = sorted(p.stem for p in (ROOT / "notebooks").glob("0[1-9]_*.ipynb"))
    wanted = {(name, n) for name in lessons for n in exercises(name)}
    assert len(wanted) >= 4 * len(lessons)
    assert not wanted - marked_exercises(), f"exercises no test does: {sorted(wanted - marked_exercises())}"
