"""The rule book: every verdict and every check a notebook prints is a sentence made here from measured numbers
(CONTRIBUTING.md, step 7), so that it is true for every profile, seed count and edit.

1. A comparison is a claim only with at least ``MIN_PAIRS_FOR_A_CLAIM`` paired seeds (or folds) and an interval
   of positive width that excludes zero; otherwise the sentence says why it is not one.
2. A notebook's comparisons are one family: each interval is widened by Bonferroni (confidence 1 - 0.05 / m for
   m comparisons), and the sentence names the family.
3. An interval covers seed noise; given per-item scores (``Accuracy`` from ``evaluate``) it also covers the test
   set's sampling, else the sentence says "seed noise only". Folds of one cross-validation get Nadeau & Bengio's
   corrected resampled t (their training sets overlap).
4. A check says what it measured against what tolerance; it never says "equal" unless it is within it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

#: Fewer pairs give no claim: with two, equal differences (discrete accuracies) make a zero-width interval.
MIN_PAIRS_FOR_A_CLAIM = 3
#: The family-wise confidence of a notebook's intervals.
CONFIDENCE = 0.95


class Accuracy(float):
    """An accuracy that remembers which test items were right (``correct``, a bool array), so that an interval can
    include the test set's sampling; a plain float everywhere else."""

    correct: np.ndarray | None

    def __new__(cls, value: float, correct: Any = None):
        self = super().__new__(cls, value)
        self.correct = None if correct is None else np.asarray(correct, dtype=bool).reshape(-1)
        return self

    def __reduce__(self):
        return Accuracy, (float(self), self.correct)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation; one value has no spread (NaN, stored as null, shown as none)."""
    arr = np.asarray([float(v) for v in values], dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else float("nan")


def format_mean_std(values: Sequence[float], percent: bool = True) -> str:
    """``"90.00 ± 1.00% (n=3)"``; a single value: ``"90.00% (n=1)"``."""
    mean, std = mean_std(values)
    scale, unit = (100, "%") if percent else (1, "")
    spread = f" ± {std * scale:.2f}" if len(values) > 1 else ""
    return f"{mean * scale:.2f}{spread}{unit} (n={len(values)})"


def _item_scores(values: Sequence[float]) -> np.ndarray | None:
    """(seeds, items) of 0/1 scores when every value is an ``Accuracy`` on the same items, else None."""
    scores = [getattr(v, "correct", None) for v in values]
    if not scores or any(s is None for s in scores) or len({len(s) for s in scores}) != 1:
        return None
    return np.stack(scores).astype(float)


def paired_interval(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE,
                    test_share: float | None = None) -> dict:
    """Mean of the paired differences a - b and its t-interval (NaN bounds for fewer than 2 pairs).

    ``covers`` says what the interval covers: ``"seeds"``; ``"seeds+items"`` when both sides carry per-item
    scores on the same test items (the variance of the per-item differences over N items is added: the test set
    is a sample too); ``"folds"`` with ``test_share`` = n_test / n_train of a k-fold cross-validation (Nadeau &
    Bengio: the variance times 1/k + n_test/n_train, since the folds' training sets overlap)."""
    from scipy import stats

    if len(a) != len(b):
        raise ValueError(f"paired values need the same count, got {len(a)} and {len(b)}")
    diff = np.asarray([float(x) for x in a]) - np.asarray([float(y) for y in b])
    n, mean = len(diff), float(diff.mean())
    covers, table = "seeds", None
    if test_share is not None:
        covers = "folds"
    else:
        sa, sb = _item_scores(a), _item_scores(b)
        if sa is not None and sb is not None and sa.shape == sb.shape and sa.shape[1] > 1:
            covers, table = "seeds+items", sa - sb  # (seeds, items) of per-item differences
    if n < 2:
        return {"mean": mean, "low": math.nan, "high": math.nan, "n": n, "se": math.nan, "covers": covers,
                "confidence": confidence}
    var, dof = diff.var(ddof=1) * ((1 / n + test_share) if covers == "folds" else 1 / n), n - 1
    if table is not None:
        var, dof = _seeds_and_items(table)
    se = math.sqrt(var)
    half = float(stats.t.ppf(0.5 + confidence / 2, dof) * se)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n, "se": se, "covers": covers,
            "confidence": confidence}


def _seeds_and_items(table: np.ndarray) -> tuple[float, float]:
    """Variance of the grand mean of a (seeds S, items N) table of differences when both the seeds and the test
    items are samples (two-way random effects): (MS_seeds + MS_items - MS_residual) / (S N), with Satterthwaite's
    degrees of freedom."""
    s, n = table.shape
    seeds, items = table.mean(axis=1), table.mean(axis=0)
    ms_seeds, ms_items = n * seeds.var(ddof=1), s * items.var(ddof=1)
    residual = table - seeds[:, None] - items[None, :] + table.mean()
    ms_resid = float((residual ** 2).sum() / ((s - 1) * (n - 1)))
    parts = [(ms_seeds, s - 1), (ms_items, n - 1), (-ms_resid, (s - 1) * (n - 1))]
    total = max(sum(m for m, _ in parts), ms_seeds, ms_items)  # never below either main effect alone
    dof = total ** 2 / sum(m ** 2 / d for m, d in parts if m)  if total > 0 else s - 1
    return total / (s * n), max(1.0, min(dof, s * n - 1))


COVERS = {"seeds": "covers seed noise only, not the test set's sampling",
          "seeds+items": "covers seed noise and the test set's sampling",
          "folds": "covers the fold-to-fold noise of one cross-validation, with Nadeau & Bengio's correction for its "
                   "overlapping training sets"}


@dataclass
class Comparison:
    """``a`` vs ``b`` paired by seed (or fold); the sentence is made once the family's size is known."""

    name_a: str
    a: list
    name_b: str
    b: list
    budget: str = ""
    unit: str = "points"  # "points": accuracies as fractions, shown in percentage points; else the values' unit
    lower_is_better: bool = False
    test_share: float | None = None
    metric: str | None = None
    data: Any = None
    result: dict = field(default_factory=dict)

    def _value(self, x: float, signed: bool = False) -> str:
        text = f"{x * 100:+.1f}" if self.unit == "points" else f"{x:+.3g}"
        return (text if signed else text.lstrip("+")) + f" {self.unit}"

    def _side(self, values) -> str:
        if self.unit == "points":
            return format_mean_std(values)
        mean, std = mean_std(values)
        return f"{mean:.3g}" + ("" if math.isnan(std) else f" ± {std:.2g}") + f" {self.unit} (n={len(values)})"

    def evaluate(self, family: int) -> dict:
        """The interval at the family-wise level and the verdict, stored in ``result``."""
        confidence = 1 - (1 - CONFIDENCE) / max(1, family)
        d = paired_interval(self.a, self.b, confidence, self.test_share)
        d["family"] = family
        if d["n"] < 2:
            d["verdict"] = "one pair"
        elif d["n"] < MIN_PAIRS_FOR_A_CLAIM:
            d["verdict"] = "too few"
        elif d["high"] - d["low"] <= 1e-9 * max(1.0, abs(d["mean"])):  # float rounding of equal differences
            d["verdict"] = "no width"
        elif d["low"] > 0 or d["high"] < 0:
            d["verdict"] = "a" if (d["low"] > 0) != self.lower_is_better else "b"
        else:
            d["verdict"] = "not distinguishable"
        self.result = d
        return d

    def sentence(self, family: int) -> str:
        d = self.evaluate(family)
        pairs = "folds" if self.test_share is not None else "seeds"
        both = (f"{self.name_a} {self._side(self.a)} vs {self.name_b} {self._side(self.b)}"
                + (f" ({self.budget})" if self.budget else ""))
        if d["verdict"] == "one pair":
            return f"{both}: one {pairs[:-1]}, so no interval; the difference ({self._value(d['mean'], True)}) is not a finding."
        level = (f"{CONFIDENCE:.0%} family-wise interval (Bonferroni over this notebook's {family} comparisons: "
                 f"each at {d['confidence']:.1%})" if family > 1 else f"{CONFIDENCE:.0%} interval")
        bound = (lambda x: f"{x * 100:+.1f}") if self.unit == "points" else (lambda x: f"{x:+.3g}")
        ci = (f"paired difference {self._value(d['mean'], True)}, {level} [{bound(d['low'])}, {bound(d['high'])}]; "
              f"it {COVERS[d['covers']]}")
        if d["verdict"] == "too few":
            return (f"{self.name_a} and {self.name_b}: {both}; {ci} — {d['n']} {pairs} are too few for a claim "
                    f"(at least {MIN_PAIRS_FOR_A_CLAIM}).")
        if d["verdict"] == "no width":
            return (f"{self.name_a} and {self.name_b}: {both}; {ci} — the difference is the same on every "
                    f"{pairs[:-1]}, so the interval has no width and measures no noise: no claim.")
        if d["verdict"] in ("a", "b"):
            winner, loser = (self.name_a, self.name_b) if d["verdict"] == "a" else (self.name_b, self.name_a)
            return f"**{winner} beats {loser}**: {both}; {ci}."
        return f"{self.name_a} and {self.name_b} are **not distinguishable at this budget**: {both}; {ci}."


@dataclass
class Check:
    """A method checked against a reference: ``measured`` (a largest difference) against ``within``; or a
    property that must be there: ``measured`` above ``above``. Displays its sentence in the cell."""

    what: str
    measured: float
    reference: str
    within: float | None = None
    above: float | None = None
    unit: str = ""

    def __post_init__(self):
        if (self.within is None) == (self.above is None):
            raise ValueError("a check needs exactly one of within= (a tolerance) or above= (a floor)")
        self.measured = float(self.measured)

    @property
    def passed(self) -> bool:
        if not math.isfinite(self.measured):
            return False
        return self.measured <= self.within if self.within is not None else self.measured > self.above

    @property
    def sentence(self) -> str:
        got = f"{self.measured:.2g}{self.unit}"
        if self.within is not None:
            if self.passed:
                return f"{self.what}: equal to {self.reference} within {self.within:g}{self.unit} (largest difference {got})."
            return (f"{self.what}: **differs from {self.reference} by {got}**, more than the tolerance "
                    f"{self.within:g}{self.unit}: it does not compute what {self.reference} computes.")
        if self.passed:
            return f"{self.what}: {got}, above {self.above:g}{self.unit} ({self.reference})."
        return f"{self.what}: **{got}, not above {self.above:g}{self.unit}** — {self.reference} does not hold."

    def _repr_markdown_(self) -> str:
        return ("✔ " if self.passed else "✘ ") + self.sentence

    def __repr__(self) -> str:
        return self.sentence


def check(what: str, measured: float, reference: str, *, within: float | None = None, above: float | None = None,
          unit: str = "") -> Check:
    """``check("RoPE", max_diff, "timm's apply_rot_embed", within=1e-6)``: the sentence says what was measured."""
    return Check(what, measured, reference, within, above, unit)


#: In order of weakness: the weakest provenance among a run's data decides its caveat.
CAVEATS = {
    "standin": "**A pipeline check, not a finding**: these numbers come from picseq's generated stand-in data, not "
               "the real data set; they show that the code runs and learns, not how the methods compare.",
    "bundled": "Measured on real images shipped inside an installed package (see the provenance of each number).",
    "real": "Measured on the real data set.",
}


class Findings:
    """Collect computed sentences, checks and comparisons; ``show()`` makes the comparisons' sentences (the family
    is every comparison added), shows everything with the provenance caveat and stores it in the run's record."""

    def __init__(self, run):
        self.run, self.items = run, []

    def note(self, text: str | Check) -> None:
        """A computed sentence, or a ``Check`` (its sentence)."""
        self.items.append(text)

    def compare(self, name_a: str, a, name_b: str, b, *, budget: str = "", unit: str = "points",
                lower_is_better: bool = False, folds: tuple[int, int] | None = None, metric: str | None = None,
                data=None) -> Comparison:
        """``a`` vs ``b`` paired by seed; ``folds=(n_train, n_test)`` when the pairs are folds of one
        cross-validation; ``metric`` records the difference and its interval when shown."""
        comparison = Comparison(name_a, list(a), name_b, list(b), budget, unit, lower_is_better,
                                None if folds is None else folds[1] / folds[0], metric, data)
        self.items.append(comparison)
        return comparison

    @property
    def lines(self) -> list[str]:
        family = sum(isinstance(item, Comparison) for item in self.items)
        return [item.sentence(family) if isinstance(item, Comparison) else
                item.sentence if isinstance(item, Check) else str(item) for item in self.items]

    def show(self):
        from IPython.display import Markdown, display

        lines = self.lines
        comparisons = [item for item in self.items if isinstance(item, Comparison)]
        for c in comparisons:
            if c.metric:
                d = c.result
                self.run.record(c.metric, d["mean"], unit="accuracy" if c.unit == "points" else c.unit, data=c.data,
                                ci_low=d["low"], ci_high=d["high"], n=d["n"], confidence=d["confidence"],
                                covers=d["covers"], verdict=d["verdict"],
                                note=f"{c.name_a} minus {c.name_b}, paired by {'fold' if c.test_share else 'seed'}")
        kinds = {info.get("kind") for info in self.run.writer.content["data"].values()}
        caveat = next((text for kind, text in CAVEATS.items() if kind in kinds), "")
        checks = [{"what": c.what, "measured": c.measured, "passed": c.passed} for c in self.items if isinstance(c, Check)]
        claims = [{"a": c.name_a, "b": c.name_b, **{k: c.result[k] for k in ("mean", "low", "high", "n", "confidence",
                                                                            "covers", "verdict")}}
                  for c in comparisons]
        self.run.writer.set_findings(lines, caveat, claims=claims, checks=checks)
        display(Markdown((f"{caveat}\n\n" if caveat else "") + "\n".join(f"- {line}" for line in lines)))
