"""README.md and BENCHMARKS.md say only what the committed records say (issue 20): their generated parts are what
the records give today, and every number written by hand is one a committed record holds."""
import pytest

from tools import docs


def test_the_generated_blocks_of_the_readme_are_what_the_committed_records_give():
    text = docs.README.read_text()
    assert "<!-- generated: results-cpu -->" in text and "<!-- generated: speed -->" in text
    assert docs.render(text) == text, "README.md is out of date with the committed records: run `make docs`"


def test_benchmarks_md_is_what_the_committed_benchmark_results_give():
    from benchmarks.core import MARKDOWN, render_markdown

    assert render_markdown() == MARKDOWN.read_text(), "BENCHMARKS.md is out of date: run `make docs`"


def test_every_number_written_by_hand_in_the_readme_is_in_a_committed_record():
    """BENCHMARKS.md has no hand-written part: it is rendered whole from the results (the test above); its
    targets are the benchmark code's own constants."""
    known = docs.record_numbers()
    written = docs.numbers_in(docs.handwritten(docs.README.read_text()))
    missing = sorted({n for n in written if n not in known}, key=float)
    assert not missing, f"README.md states numbers no committed record holds: {missing}"


def test_the_number_check_catches_a_number_that_is_in_no_record():
    known = docs.record_numbers()
    text = "ResNet-18 on CIFAR-10 reached 97.123456 % in `make report` (see [a](results/x.json))."
    assert docs.numbers_in(docs.handwritten(text)) == ["97.123456"] and "97.123456" not in known
