"""The rule book (picseq_utils.findings): every rule with n = 1, n = 2, zero width, a family, per-item scores,
folds and a failing check; known values from scipy."""
import math

import numpy as np
import pytest
from scipy import stats

from picseq_utils.findings import (MIN_PAIRS_FOR_A_CLAIM, Accuracy, Comparison, Findings, check, format_mean_std,
                                   mean_std, paired_interval)


def sentence(a, b, family=1, **kw):
    c = Comparison("A", list(a), "B", list(b), **kw)
    return c.sentence(family), c.result


def test_paired_interval_is_the_t_interval_of_the_differences():
    a, b = [0.90, 0.85, 0.88, 0.91], [0.80, 0.82, 0.86, 0.84]
    d = paired_interval(a, b)
    diffs = [x - y for x, y in zip(a, b)]
    low, high = stats.t.interval(0.95, len(diffs) - 1, loc=sum(diffs) / 4, scale=stats.sem(diffs))
    assert d["n"] == 4 and d["mean"] == pytest.approx(0.055) and (d["low"], d["high"]) == pytest.approx((low, high))
    assert d["covers"] == "seeds"
    with pytest.raises(ValueError, match="same count"):
        paired_interval([0.1, 0.2], [0.1])


def test_a_claim_needs_three_pairs_and_an_interval_that_excludes_zero():
    text, d = sentence([0.90, 0.85, 0.88, 0.91], [0.82, 0.78, 0.81, 0.84])
    assert text.startswith("**A beats B**") and d["verdict"] == "a" and "seed noise only" in text
    text, _ = sentence([0.80, 0.82, 0.86], [0.90, 0.91, 0.95])
    assert text.startswith("**B beats A**")
    text, d = sentence([0.90, 0.80, 0.85], [0.85, 0.86, 0.84])
    assert d["low"] < 0 < d["high"] and "not distinguishable at this budget" in text and "beats" not in text


def test_one_pair_gives_no_interval_and_no_claim():
    text, d = sentence([0.9], [0.5])
    assert math.isnan(d["low"]) and d["verdict"] == "one pair" and "not a finding" in text and "beats" not in text


def test_two_pairs_are_too_few_even_with_an_interval_above_zero():
    text, d = sentence([0.90, 0.92], [0.50, 0.51])
    assert d["low"] > 0 and d["verdict"] == "too few" and "too few for a claim" in text and "beats" not in text
    assert MIN_PAIRS_FOR_A_CLAIM == 3


def test_identical_differences_give_a_zero_width_interval_and_no_claim():
    text, d = sentence([0.02, 0.03, 0.04], [0.01, 0.02, 0.03])
    assert d["low"] == pytest.approx(d["high"]) and d["verdict"] == "no width"
    assert "no width" in text and "beats" not in text
    text, d = sentence([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])  # equal methods: the difference is exactly zero
    assert d["verdict"] == "no width" and "beats" not in text


def test_a_family_widens_each_interval_by_bonferroni_and_names_the_family():
    a, b = [0.90, 0.85, 0.88, 0.91], [0.84, 0.82, 0.86, 0.84]
    _, alone = sentence(a, b, family=1)
    text, in_five = sentence(a, b, family=5)
    assert in_five["confidence"] == pytest.approx(0.99)
    t = stats.t.ppf(0.995, 3) / stats.t.ppf(0.975, 3)
    assert in_five["high"] - in_five["mean"] == pytest.approx(t * (alone["high"] - alone["mean"]))
    assert "Bonferroni over this notebook's 5 comparisons" in text and "99.0%" in text
    # a claim that survives alone can fall in a family: here it does
    assert alone["verdict"] == "a" and in_five["verdict"] == "not distinguishable"


def test_findings_count_every_comparison_in_the_family():
    findings = Findings(run=None)
    findings.note("a note")
    for _ in range(3):
        findings.compare("A", [0.9, 0.8, 0.85], "B", [0.8, 0.7, 0.8])
    lines = findings.lines
    assert lines[0] == "a note" and all("Bonferroni over this notebook's 3 comparisons" in line for line in lines[1:])


def test_per_item_scores_add_the_test_sets_sampling():
    rng = np.random.default_rng(0)
    truth = rng.random(400) < 0.8
    a = [Accuracy(s.mean(), s) for s in (truth ^ (rng.random(400) < 0.05) for _ in range(3))]
    b = [Accuracy(s.mean(), s) for s in (truth ^ (rng.random(400) < 0.15) for _ in range(3))]
    with_items = paired_interval(a, b)
    seeds_only = paired_interval([float(x) for x in a], [float(x) for x in b])
    assert with_items["covers"] == "seeds+items" and seeds_only["covers"] == "seeds"
    assert with_items["mean"] == pytest.approx(seeds_only["mean"])
    assert with_items["se"] >= seeds_only["se"]  # never narrower in standard error (the t may have more freedom)
    table = np.stack([x.correct for x in a]).astype(float) - np.stack([x.correct for x in b])
    resid = table - table.mean(1, keepdims=True) - table.mean(0, keepdims=True) + table.mean()
    ms = (400 * table.mean(1).var(ddof=1), 3 * table.mean(0).var(ddof=1), (resid ** 2).sum() / (2 * 399))
    assert with_items["se"] == pytest.approx(math.sqrt((ms[0] + ms[1] - ms[2]) / 1200))
    text, _ = sentence(a, b)
    assert "covers seed noise and the test set's sampling" in text


def test_identical_seeds_on_a_sampled_test_set_still_get_a_width_from_the_items():
    right = np.array([1, 1, 0, 1, 0, 1, 1, 1] * 20, dtype=bool)
    other = np.array([1, 0, 0, 1, 0, 1, 0, 1] * 20, dtype=bool)
    text, d = sentence([Accuracy(right.mean(), right)] * 3, [Accuracy(other.mean(), other)] * 3)
    assert d["high"] > d["low"] and d["verdict"] in ("a", "not distinguishable")


def test_the_interval_with_items_covers_the_truth_about_95_percent_of_the_time():
    """Known value by simulation. Each test item is right or wrong for a method mostly by the item (a sampled
    test set), and each seed flips a few items (seed noise); the true mean difference is computed."""
    rng = np.random.default_rng(1)
    flip = 0.05
    p, g = rng.beta(4, 1, size=2_000_000), rng.normal(0.03, 0.15, size=2_000_000)
    truth = (1 - 2 * flip) * float(np.mean(np.clip(p + g, 0, 1) - p))
    hits = {"seeds+items": 0, "seeds": 0}
    trials = 400
    for _ in range(trials):
        p_item, gain = rng.beta(4, 1, size=300), rng.normal(0.03, 0.15, size=300)
        right_a, right_b = rng.random(300) < p_item + gain, rng.random(300) < p_item  # this test set's items
        a, b = [], []
        for _ in range(4):
            ca, cb = right_a ^ (rng.random(300) < flip), right_b ^ (rng.random(300) < flip)
            a.append(Accuracy(ca.mean(), ca))
            b.append(Accuracy(cb.mean(), cb))
        for covers, d in (("seeds+items", paired_interval(a, b)),
                          ("seeds", paired_interval([float(x) for x in a], [float(x) for x in b]))):
            hits[covers] += d["low"] <= truth <= d["high"]
    assert 0.92 <= hits["seeds+items"] / trials <= 0.99
    assert hits["seeds"] / trials < 0.8  # seed noise alone misses the test set's sampling


def test_cross_validation_folds_get_nadeau_and_bengios_correction():
    a, b = [0.9, 0.85, 0.88, 0.91], [0.84, 0.82, 0.86, 0.84]
    plain = paired_interval(a, b)
    corrected = paired_interval(a, b, test_share=1 / 3)  # 4 folds: each test fold is a third of its training set
    diffs = np.subtract(a, b)
    assert corrected["covers"] == "folds"
    assert corrected["se"] == pytest.approx(math.sqrt((1 / 4 + 1 / 3) * diffs.var(ddof=1)))
    assert corrected["high"] - corrected["low"] > plain["high"] - plain["low"]
    text, _ = sentence(a, b, test_share=1 / 3)
    assert "Nadeau & Bengio" in text and "cross-validation" in text


def test_lower_is_better_names_the_lower_side_the_winner():
    text, d = sentence([10, 11, 12], [20, 22, 21], unit="epochs", lower_is_better=True)
    assert d["verdict"] == "a" and text.startswith("**A beats B**") and "epochs" in text


def test_a_check_reports_what_it_measured_and_never_a_match_it_did_not_find():
    ok = check("RoPE", 3e-8, "timm's apply_rot_embed", within=1e-6)
    assert ok.passed and "equal to timm's apply_rot_embed within 1e-06" in ok.sentence
    failed = check("flip", 84.7, "Augmentor's PIL call", within=1.0, unit=" grey levels")
    assert not failed.passed and "differs from Augmentor's PIL call by 85 grey levels" in failed.sentence
    assert "equal" not in failed.sentence
    nan = check("x", float("nan"), "y", within=1.0)
    assert not nan.passed and "equal" not in nan.sentence
    present = check("order sensitivity", 0.3, "RoPE makes attention depend on frame order", above=1e-6)
    absent = check("order sensitivity", 0.0, "RoPE makes attention depend on frame order", above=1e-6)
    assert present.passed and not absent.passed and "does not hold" in absent.sentence
    with pytest.raises(ValueError):
        check("x", 1.0, "y")


def test_mean_std_and_its_text():
    assert mean_std([0.5, 0.7]) == pytest.approx((0.6, 0.1414213))
    assert math.isnan(mean_std([0.5])[1])
    assert format_mean_std([0.5, 0.7]) == "60.00 ± 14.14% (n=2)" and format_mean_std([0.5]) == "50.00% (n=1)"
    assert format_mean_std([Accuracy(0.5, [1, 0])]) == "50.00% (n=1)"
