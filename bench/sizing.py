"""MemorySize for each function from the measured peaks: peak RSS plus headroom, and enough CPU.

Lambda allots CPU in proportion to memory (1,769 MB is one vCPU), so the memory setting is also the CPU
setting. Each function gets the larger of its peak RSS times 1.5 and a CPU floor that follows from what
it does: the receiver answers a waiting sender, the forwarder mostly waits on the network, and the
reset job's CPU per call bounds how close it can get to its configured throughput.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.report import Section, markdown_table
from bench.stats import MB_PER_VCPU, recommend_memory_mb, vcpu_share

HEADROOM = 1.5
RECEIVER_CPU_FLOOR_MB = 512
FORWARDER_CPU_FLOOR_MB = 512
RESET_MIN_MB = 256
# The reset job's configured pace: RESET_WORKERS x batch / latency, here at 20 ms per call.
RESET_CALLS_PER_SECOND_AT_BOUND = 4 / 0.020


@dataclass
class PeakMemory:
    """Peak RSS per function (MiB) over every benchmark that ran it, and the reset job's CPU per call."""

    by_function: dict[str, float] = field(default_factory=dict)
    reset_cpu_ms_per_call: float | None = None

    def add(self, function: str, peak_mb: float) -> None:
        self.by_function[function] = max(peak_mb, self.by_function.get(function, 0.0))


def reset_cpu_floor_mb(cpu_ms_per_call: float | None, calls_per_second: float) -> int:
    """Memory whose CPU share keeps up with `calls_per_second` calls costing `cpu_ms_per_call` each."""
    if cpu_ms_per_call is None:
        return RESET_MIN_MB
    needed_vcpu = cpu_ms_per_call / 1000 * calls_per_second
    return max(RESET_MIN_MB, math.ceil(needed_vcpu * MB_PER_VCPU))


def recommendations(peaks: PeakMemory) -> dict[str, tuple[int, int, str]]:
    """function -> (recommended MB, CPU floor MB, why the floor)."""
    reset_floor = reset_cpu_floor_mb(peaks.reset_cpu_ms_per_call, RESET_CALLS_PER_SECOND_AT_BOUND)
    reset_why = (
        f"{peaks.reset_cpu_ms_per_call:.1f} ms CPU per call x {RESET_CALLS_PER_SECOND_AT_BOUND:.0f} calls/s "
        "(4 workers at 20 ms) needs this share of a vCPU"
        if peaks.reset_cpu_ms_per_call is not None
        else "throughput not measured in this run"
    )
    floors = {
        "webhook_receiver": (
            RECEIVER_CPU_FLOOR_MB,
            "a sender waits on it: CPU-bound per request and at cold start",
        ),
        "forwarder": (
            FORWARDER_CPU_FLOOR_MB,
            "a batch's groups call SendConnectorEvent from parallel threads, whose client-side CPU "
            "(signing, serialising, parsing) shares one vCPU share",
        ),
        "detector_reset": (reset_floor, reset_why),
    }
    out = {}
    for function, peak in peaks.by_function.items():
        floor, why = floors.get(function, (0, ""))
        out[function] = (recommend_memory_mb(peak, headroom=HEADROOM, cpu_floor_mb=floor), floor, why)
    return out


def sizing_section(peaks: PeakMemory, current: dict[str, int]) -> Section:
    section = Section("MemorySize")
    chosen = recommendations(peaks)
    rows = [
        [
            function,
            f"{peaks.by_function[function]:.0f}",
            f"{peaks.by_function[function] * HEADROOM:.0f}",
            f"{floor} ({why})",
            f"{mb} ({vcpu_share(mb):.2f} vCPU)",
            str(current.get(function, "-")),
        ]
        for function, (mb, floor, why) in chosen.items()
    ]
    section.details.append(
        f"Recommended MemorySize: the larger of peak RSS x {HEADROOM} and a CPU floor, rounded up to 64 MB "
        f"(Lambda gives one vCPU per {MB_PER_VCPU:,} MB).\n\n"
        + markdown_table(
            [
                "function",
                "peak RSS MiB",
                f"x {HEADROOM}",
                "CPU floor MB (why)",
                "recommended MB",
                "template now",
            ],
            rows,
        )
    )
    section.details.append(readme_paragraph(peaks, chosen))
    return section


def readme_paragraph(peaks: PeakMemory, chosen: dict[str, tuple[int, int, str]]) -> str:
    def peak(function: str) -> str:
        return f"{peaks.by_function[function]:.0f} MiB" if function in peaks.by_function else "n/a"

    def size(function: str) -> str:
        return f"{chosen[function][0]} MB" if function in chosen else "n/a"

    return (
        "Paragraph for the README:\n\n"
        "> **Memory sizes.** `make bench` measures each function's peak resident memory "
        "(docs/benchmarks.md): "
        f"the receiver peaks at {peak('webhook_receiver')}, the forwarder at {peak('forwarder')} and the "
        f"reset job at {peak('detector_reset')} (100,000 detectors). None needs much memory, but Lambda "
        f"allots CPU in proportion to it (one vCPU at {MB_PER_VCPU:,} MB), so the setting is chosen for CPU: "
        f"the receiver gets {size('webhook_receiver')} because a sender waits on every request and its "
        "cold start is CPU-bound imports; the forwarder gets "
        f"{size('forwarder')} because the groups of a batch call SendConnectorEvent from parallel threads "
        "and their client-side CPU (signing, serialising, parsing) shares its vCPU share; "
        f"the reset job gets {size('detector_reset')} so that its client-side "
        "CPU per call keeps up with its configured pace (RESET_WORKERS x batch size per call latency). "
        "Each is at least 1.5 times the measured peak."
    )
