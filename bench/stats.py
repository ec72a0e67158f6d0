"""The arithmetic of the benchmarks: order statistics, ratios against a baseline, goals, memory sizing."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Comparison = Literal["<=", ">="]


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between the two nearest ranks (numpy's default)."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 50)


def ratio(measured: float, baseline: float) -> float:
    """measured / baseline; a baseline of zero has no meaningful ratio (infinity, or 1 for 0/0)."""
    if baseline == 0:
        return 1.0 if measured == 0 else math.inf
    return measured / baseline


@dataclass(frozen=True, slots=True)
class Goal:
    """A bound on a ratio: `<= 1.25` (at most 1.25x the baseline) or `>= 0.8` (at least 0.8x)."""

    comparison: Comparison
    bound: float

    def met(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value <= self.bound if self.comparison == "<=" else value >= self.bound

    def margin(self, value: float) -> float:
        """How far the value is inside (positive) or outside (negative) the bound, relative to the bound."""
        if self.bound == 0 or math.isnan(value) or math.isinf(value):
            return -math.inf if not self.met(value) else math.inf
        slack = self.bound - value if self.comparison == "<=" else value - self.bound
        return slack / self.bound

    def __str__(self) -> str:
        return f"{self.comparison} {format_number(self.bound)}x"


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, its baseline from the same run, and the goal its ratio is held to."""

    name: str
    measured: float
    baseline: float
    unit: str
    goal: Goal | None = None
    baseline_name: str = ""
    note: str = ""

    @property
    def ratio(self) -> float:
        return ratio(self.measured, self.baseline)

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.ratio)

    def verdict(self) -> str:
        if self.goal is None:
            return "info"
        margin = self.goal.margin(self.ratio)
        if math.isinf(margin):
            return "met" if self.met else "NOT met"
        word = "met" if self.met else "NOT met"
        return f"{word} ({abs(margin):.0%} {'inside' if self.met else 'outside'})"


def cpu_figure(
    what: str,
    label: str,
    q: float,
    ours: Sequence[float],
    theirs: Sequence[float],
    *,
    goal: Goal | None = None,
    baseline_name: str,
    note: str = "",
) -> Figure:
    """The q-th percentile of a program's CPU samples against its baseline's, named `<what> p<q>, <label>`."""
    return Figure(
        f"{what} p{q:g}, {label}",
        percentile(ours, q),
        percentile(theirs, q),
        "µs",
        goal,
        baseline_name=baseline_name,
        note=note,
    )


def cpu_figures(
    what: str,
    label: str,
    ours: Sequence[float],
    theirs: Sequence[float],
    goal: Goal,
    *,
    baseline_name: str,
    note: str,
) -> list[Figure]:
    """A program's CPU p50 against its baseline's, held to `goal`, then its p99, for information."""
    return [
        cpu_figure(what, label, 50, ours, theirs, goal=goal, baseline_name=baseline_name, note=note),
        cpu_figure(what, label, 99, ours, theirs, baseline_name=baseline_name),
    ]


def peak_rss_figure(subject: str, peaks_mb: Mapping[int, float], goal: Goal) -> Figure:
    """The peak RSS of the run over the most detectors against the fewest's: how memory grows with them."""
    small, large = min(peaks_mb), max(peaks_mb)
    return Figure(
        f"{subject} peak RSS, {large:,} vs {small:,} detectors",
        peaks_mb[large],
        peaks_mb[small],
        "MiB",
        goal,
        baseline_name=f"{small:,} detectors",
    )


def format_number(value: float) -> str:
    """Short, readable numbers: 3 significant digits, no exponent for the ranges the benchmarks produce."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


# Lambda's memory setting: 128 MB to 10,240 MB; CPU is allotted in proportion (1,769 MB = one vCPU).
LAMBDA_MIN_MB = 128
LAMBDA_MAX_MB = 10_240
MB_PER_VCPU = 1_769
