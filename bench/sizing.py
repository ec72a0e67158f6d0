"""MemorySize for each function from what the run measured: the smallest size that meets its goals.

Lambda allots CPU in proportion to memory (1,769 MB is one vCPU), so the memory setting is also the
invocation's CPU setting, and it is what Lambda bills. Each function gets the smallest size (in 64 MB
steps) that holds its peak memory with headroom and at which the model (bench.lambda_model) meets its
goals:

- every function: its first request modelled at that size within 1.25x of the floor's;
- the receiver: also within 0.5x of the Powertools receiver's;
- the forwarder: a batch of ten groups within 1.5x of one call;
- the reset job: its client-side CPU keeps up with its configured pace (RESET_WORKERS calls in flight).

A goal that memory cannot move does not decide the size: a size passes a goal when the goal is met there,
or when its ratio there is within 10% of its ratio at one vCPU (more memory would cost more and buy less
than a tenth).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.lambda_model import Phases, invoke_ms, memory_sizes, vcpu_share
from bench.report import Section, markdown_table
from bench.stats import MB_PER_VCPU, median

HEADROOM = 1.5
FLOOR_RATIO = 1.25
BASELINE_RATIO = 0.5
FORWARDER_RATIO = 1.5
NEAR_BEST = 1.10
SHOWN_SIZES = (256, 512, 768, 1024, 1344, 1769)
FUNCTION_KEYS = {
    "webhook_receiver": "receiver",
    "forwarder": "forwarder",
    "detector_reset": "reset",
    "connector": "connector",
}


@dataclass(frozen=True, slots=True)
class ForwarderCpu:
    """A warm batch of ten groups and one call through the same client: CPU and injected latency."""

    single_cpu_ms: float
    batch_cpu_ms: float
    latency_ms: float

    def modelled_ms(self, memory_mb: int) -> tuple[float, float]:
        """(batch, one call) in Lambda: the groups' latencies overlap, their CPU shares the vCPU share."""
        return (
            self.latency_ms + invoke_ms(self.batch_cpu_ms, memory_mb),
            self.latency_ms + invoke_ms(self.single_cpu_ms, memory_mb),
        )


@dataclass(frozen=True, slots=True)
class ResetCpu:
    """The reset job's own CPU per BatchUpdateDetector call, and the calls per second its settings aim at."""

    cpu_ms_per_call: float
    calls_per_second: float

    def vcpu_needed(self) -> float:
        return self.cpu_ms_per_call / 1000 * self.calls_per_second


@dataclass
class Findings:
    """What the benchmarks of a run measured that sizing needs."""

    peaks: dict[str, float] = field(default_factory=dict)  # function folder -> peak RSS MiB
    cold: dict[str, list[Phases]] = field(default_factory=dict)  # cold-start target key -> runs
    forwarder: ForwarderCpu | None = None
    reset: ResetCpu | None = None

    def add_peak(self, function: str, peak_mb: float) -> None:
        self.peaks[function] = max(peak_mb, self.peaks.get(function, 0.0))

    def modelled_ms(self, key: str, memory_mb: int) -> float | None:
        runs = self.cold.get(key)
        return median([run.modelled_ms(memory_mb) for run in runs]) if runs else None


@dataclass(frozen=True, slots=True)
class Check:
    """One goal at a given size: its name, and the ratio (or value) and bound at a size."""

    name: str
    value: Callable[[int], float]
    bound: float


@dataclass(frozen=True, slots=True)
class Recommendation:
    function: str
    memory_mb: int
    memory_floor_mb: int
    reason: str
    checks: tuple[Check, ...]


def memory_floor_mb(peak_mb: float, headroom: float = HEADROOM, step: int = 64) -> int:
    return max(128, math.ceil(peak_mb * headroom / step) * step)


def _ratio(findings: Findings, key: str, baseline: str) -> Callable[[int], float]:
    def at(size: int) -> float:
        ours, theirs = findings.modelled_ms(key, size), findings.modelled_ms(baseline, size)
        return math.nan if ours is None or not theirs else ours / theirs

    return at


def checks_for(function: str, findings: Findings) -> list[Check]:
    key = FUNCTION_KEYS[function]
    checks = []
    if key in findings.cold and "floor" in findings.cold:
        checks.append(Check("first request vs floor", _ratio(findings, key, "floor"), FLOOR_RATIO))
    if key == "receiver" and "powertools" in findings.cold:
        checks.append(
            Check("first request vs Powertools", _ratio(findings, key, "powertools"), BASELINE_RATIO)
        )
    if key == "forwarder" and findings.forwarder is not None:
        cpu = findings.forwarder

        def batch_ratio(size: int) -> float:
            batch, single = cpu.modelled_ms(size)
            return batch / single

        checks.append(Check("10 groups vs one call", batch_ratio, FORWARDER_RATIO))
    if key == "reset" and findings.reset is not None:
        needed = findings.reset.vcpu_needed()
        checks.append(Check("vCPU needed / vCPU share", lambda size: needed / vcpu_share(size), 1.0))
    return checks


def passes(check: Check, size: int, best: float) -> bool:
    """A goal holds at `size`, or memory is not what it lacks: at one vCPU its ratio (`best`) would be
    less than a tenth better."""
    value = check.value(size)
    return value <= check.bound or value <= best * NEAR_BEST


def _best(checks: Sequence[Check]) -> dict[str, float]:
    """Each goal's ratio at one vCPU, where more memory stops buying CPU."""
    return {check.name: check.value(MB_PER_VCPU) for check in checks}


def recommend(function: str, findings: Findings, sizes: Sequence[int] | None = None) -> Recommendation:
    candidates = list(sizes if sizes is not None else memory_sizes(high=3008))
    floor = memory_floor_mb(findings.peaks.get(function, 0.0))
    checks = checks_for(function, findings)
    allowed = [size for size in candidates if size >= floor] or [floor]
    best = _best(checks)
    chosen = next(
        (size for size in allowed if all(passes(c, size, best[c.name]) for c in checks)), allowed[-1]
    )
    parts = []
    for check in checks:
        value = check.value(chosen)
        verdict = "met" if value <= check.bound else f"not met; {best[check.name]:.2f} at one vCPU"
        parts.append(f"{check.name} {value:.2f} (goal <= {check.bound:g}: {verdict})")
    reason = "smallest size at which every goal is met or more memory gains less than a tenth: " + (
        "; ".join(parts) or "memory alone"
    )
    return Recommendation(function, chosen, floor, reason, tuple(checks))


def template_holds(recommendation: Recommendation, size: int | None) -> str:
    """Whether the template's size passes the same rule in this run (a size or two apart is noise)."""
    if size is None:
        return "-"
    best = _best(recommendation.checks)
    holds = size >= recommendation.memory_floor_mb and all(
        passes(c, size, best[c.name]) for c in recommendation.checks
    )
    return "yes" if holds else "no"


def sizing_section(findings: Findings, current: dict[str, int]) -> tuple[Section, list[Recommendation]]:
    section = Section("MemorySize")
    chosen = [recommend(function, findings) for function in FUNCTION_KEYS if function in findings.peaks]
    section.details.append(__doc__.split("\n\n", 1)[1].strip() if __doc__ else "")
    rows = [
        [
            r.function,
            f"{findings.peaks[r.function]:.0f}",
            str(r.memory_floor_mb),
            str(current.get(r.function, "-")),
            template_holds(r, current.get(r.function)),
            f"{r.memory_mb} ({vcpu_share(r.memory_mb):.2f} vCPU)",
            r.reason,
        ]
        for r in chosen
    ]
    section.details.append(
        markdown_table(
            [
                "function",
                "peak RSS MiB",
                f"x {HEADROOM} (64 MB steps)",
                "template now",
                "template size passes",
                "recommended MB",
                "why",
            ],
            rows,
        )
    )
    ratio_rows = []
    for r in chosen:
        for check in r.checks:
            ratio_rows.append(
                [r.function, f"{check.name} (goal <= {check.bound:g})"]
                + [f"{check.value(size):.2f}" for size in SHOWN_SIZES]
            )
    if ratio_rows:
        section.details.append(
            "Each goal's modelled ratio at a few sizes:\n\n"
            + markdown_table(["function", "goal"] + [f"{size} MB" for size in SHOWN_SIZES], ratio_rows)
        )
    return section, chosen
