"""MemorySize for each function from what the run measured: the smallest size that meets its goals.

Lambda allots CPU in proportion to memory (1,769 MB is one vCPU), so the memory setting is also the
invocation's CPU setting, and it is what Lambda bills. Each function gets the smallest size (in 64 MB
steps) that holds its peak memory with headroom and at which the model (bench.lambda_model) meets its
goals:

- every function: its first request modelled at that size within 1.25x of the floor's;
- the receiver: also within 0.5x of the Powertools receiver's;
- the forwarder: a batch of ten groups within 1.5x of one call;
- the reset job: its client-side CPU keeps up with its configured pace (RESET_WORKERS calls in flight).

When no size meets every goal, the size is the smallest whose modelled first request is within 10% of the
best the model gives (at one vCPU): more memory would cost more and buy less than a tenth of the time.
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
FUNCTION_KEYS = {"webhook_receiver": "receiver", "forwarder": "forwarder", "detector_reset": "reset"}


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


def recommend(function: str, findings: Findings, sizes: Sequence[int] | None = None) -> Recommendation:
    candidates = list(sizes if sizes is not None else memory_sizes(high=3008))
    floor = memory_floor_mb(findings.peaks.get(function, 0.0))
    checks = checks_for(function, findings)
    allowed = [size for size in candidates if size >= floor]

    def meets(size: int) -> bool:
        return all(check.value(size) <= check.bound for check in checks)

    chosen = next((size for size in allowed if meets(size)), None)
    if chosen is not None:
        named = ", ".join(f"{c.name} {c.value(chosen):.2f} (<= {c.bound:g})" for c in checks) or "no goal"
        reason = f"smallest size meeting every goal: {named}"
        return Recommendation(function, chosen, floor, reason, tuple(checks))
    key = FUNCTION_KEYS[function]
    best = findings.modelled_ms(key, MB_PER_VCPU)
    if best is None:
        return Recommendation(function, floor, floor, "no goal measured: memory alone", tuple(checks))
    near = next(
        (size for size in allowed if (findings.modelled_ms(key, size) or 0) <= best * NEAR_BEST), allowed[-1]
    )
    missed = ", ".join(
        f"{c.name} {min(c.value(s) for s in allowed):.2f} at best (goal <= {c.bound:g})"
        for c in checks
        if not any(c.value(s) <= c.bound for s in allowed)
    )
    reason = (
        f"no size meets every goal ({missed}); smallest size whose modelled first request is within "
        f"{NEAR_BEST - 1:.0%} of the best ({best:.0f} ms at {MB_PER_VCPU:,} MB)"
    )
    return Recommendation(function, near, floor, reason, tuple(checks))


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
