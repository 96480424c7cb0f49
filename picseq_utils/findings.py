"""Conclusions computed from a run's own numbers, so that they are true for every profile (``Findings``, used
as CONTRIBUTING.md's step 7 says); they go into the metrics file, where ``99_report`` gathers them."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation; one value has no spread (NaN, stored as null, shown as none)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else float("nan")


def format_mean_std(values: Sequence[float], percent: bool = True) -> str:
    """``"90.00 ± 1.00% (n=3)"``; a single value: ``"90.00% (n=1)"``."""
    mean, std = mean_std(values)
    scale, unit = (100, "%") if percent else (1, "")
    spread = f" ± {std * scale:.2f}" if len(values) > 1 else ""
    return f"{mean * scale:.2f}{spread}{unit} (n={len(values)})"


def paired_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean of the paired differences a - b and its t-interval (NaN bounds for fewer than 2 pairs)."""
    from scipy import stats

    if len(a) != len(b):
        raise ValueError(f"paired values need the same count, got {len(a)} and {len(b)}")
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n, mean = len(diff), float(diff.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * diff.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


#: Fewer seeds give no claim: with two, equal differences (discrete accuracies) make a zero-width interval.
MIN_PAIRS_FOR_A_CLAIM = 3


def _points(x: float) -> str:
    return f"{x * 100:+.1f}"


def difference(name_a: str, a: Sequence[float], name_b: str, b: Sequence[float], budget: str = "") -> tuple[str, dict]:
    """A sentence comparing two methods measured on the same seeds (accuracies as fractions)."""
    d = paired_interval(a, b)
    both = f"{name_a} {format_mean_std(a)} vs {name_b} {format_mean_std(b)}" + (f" ({budget})" if budget else "")
    if d["n"] < 2:
        return f"{both}: one seed, so no interval; the difference ({_points(d['mean'])} points) is not a finding.", d
    ci = f"paired difference {_points(d['mean'])} points, 95 % CI [{_points(d['low'])}, {_points(d['high'])}]"
    if d["n"] < MIN_PAIRS_FOR_A_CLAIM:  # one degree of freedom: a zero spread (accuracies are discrete) fakes certainty
        return (f"{name_a} and {name_b}: {both}; {ci} — {d['n']} seeds are too few for a claim "
                f"(at least {MIN_PAIRS_FOR_A_CLAIM}).", d)
    if d["low"] > 0 or d["high"] < 0:
        winner, loser = (name_a, name_b) if d["low"] > 0 else (name_b, name_a)
        return f"**{winner} beats {loser}**: {both}; {ci}.", d
    return f"{name_a} and {name_b} are **not distinguishable at this budget**: {both}; {ci}.", d


#: In order of weakness: the weakest provenance among a run's data decides its caveat.
CAVEATS = {
    "standin": "**A pipeline check, not a finding**: these numbers come from picseq's generated stand-in data, not "
               "the real data set; they show that the code runs and learns, not how the methods compare.",
    "bundled": "Measured on real images shipped inside an installed package (see the provenance of each number).",
    "real": "Measured on the real data set.",
}


class Findings:
    """Collect computed sentences, then ``show()`` them with the provenance caveat and store them."""

    def __init__(self, run):
        self.run, self.lines = run, []

    def note(self, text: str) -> None:
        self.lines.append(text)

    def compare(self, name_a: str, a, name_b: str, b, *, budget: str = "", metric: str | None = None, data=None) -> dict:
        """Add the sentence for ``a`` vs ``b`` (paired by seed); ``metric`` also records the difference."""
        text, d = difference(name_a, list(a), name_b, list(b), budget)
        self.lines.append(text)
        if metric:
            self.run.record(metric, d["mean"], unit="accuracy", data=data, ci_low=d["low"], ci_high=d["high"],
                            n=d["n"], note=f"{name_a} minus {name_b}, paired by seed")
        return d

    def show(self):
        from IPython.display import Markdown, display

        kinds = {info.get("kind") for info in self.run.writer.content["data"].values()}
        caveat = next((text for kind, text in CAVEATS.items() if kind in kinds), "")
        self.run.writer.set_findings(self.lines, caveat)
        display(Markdown((f"{caveat}\n\n" if caveat else "") + "\n".join(f"- {line}" for line in self.lines)))
