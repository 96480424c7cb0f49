"""Claims are made only where the paired interval says so (issue 14): known values and each rule."""
import math

import pytest
from scipy import stats

from picseq_utils.findings import MIN_PAIRS_FOR_A_CLAIM, difference, format_mean_std, mean_std, paired_interval


def test_paired_interval_is_the_t_interval_of_the_differences():
    a, b = [0.90, 0.85, 0.88, 0.91], [0.80, 0.82, 0.86, 0.84]
    d = paired_interval(a, b)
    diffs = [x - y for x, y in zip(a, b)]
    low, high = stats.t.interval(0.95, len(diffs) - 1, loc=sum(diffs) / 4, scale=stats.sem(diffs))
    assert d["n"] == 4 and d["mean"] == pytest.approx(0.055) and (d["low"], d["high"]) == pytest.approx((low, high))
    with pytest.raises(ValueError, match="same count"):
        paired_interval([0.1, 0.2], [0.1])


def test_a_claim_needs_an_interval_that_excludes_zero_and_enough_seeds():
    text, _ = difference("A", [0.90, 0.85, 0.88, 0.91], "B", [0.82, 0.78, 0.81, 0.84])
    assert text.startswith("**A beats B**")
    text, _ = difference("A", [0.80, 0.82, 0.86], "B", [0.90, 0.91, 0.95])
    assert text.startswith("**B beats A**")
    text, d = difference("A", [0.90, 0.80, 0.85], "B", [0.85, 0.86, 0.84])
    assert d["low"] < 0 < d["high"] and "not distinguishable at this budget" in text and "beats" not in text
    # two seeds whose differences are equal (chance-level, discrete accuracies): zero-width interval, no claim
    text, d = difference("ViT", [0.02, 0.02], "ResNet", [0.01, 0.01])
    assert d["low"] == d["high"] == pytest.approx(0.01) and MIN_PAIRS_FOR_A_CLAIM == 3
    assert "too few for a claim" in text and "beats" not in text
    text, d = difference("A", [0.9], "B", [0.5])
    assert math.isnan(d["low"]) and "not a finding" in text and "beats" not in text


def test_mean_std_and_its_text():
    assert mean_std([0.5, 0.7]) == pytest.approx((0.6, 0.1414213))
    assert math.isnan(mean_std([0.5])[1])
    assert format_mean_std([0.5, 0.7]) == "60.00 ± 14.14% (n=2)" and format_mean_std([0.5]) == "50.00% (n=1)"
