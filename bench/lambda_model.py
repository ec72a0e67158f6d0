"""How long a request takes in Lambda, from CPU measured here: the model every cold-start figure uses.

Lambda runs a function's init phase (module import and everything done at module level) with burst CPU,
modelled as one vCPU, and each invocation with CPU in proportion to the function's memory: one vCPU at
1,769 MB, so 0.29 vCPU at 512 MB. Work done at import therefore costs its CPU time once; the same work in
the first invocation costs its CPU time divided by the memory's vCPU share. The network is not modelled
by CPU: each AWS call adds the backends' latency, and calls made one after another (by one thread) add
theirs end to end.

    modelled first request = init CPU / 1 + first-invoke CPU / (MemorySize / 1,769) + calls in a row x latency
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bench.stats import LAMBDA_MAX_MB, LAMBDA_MIN_MB, MB_PER_VCPU

# What one AWS call's round trip adds in the model (and sleeps in the answered services): about what
# an in-region DynamoDB or SQS call takes from Lambda.
BACKEND_LATENCY_MS = 10.0
MEMORY_STEP_MB = 64


def vcpu_share(memory_mb: float) -> float:
    """The share of one vCPU an invocation gets at `memory_mb` (more than one above 1,769 MB, which a
    single-threaded phase cannot use)."""
    return memory_mb / MB_PER_VCPU


def invoke_ms(cpu_ms: float, memory_mb: float) -> float:
    """Invocation CPU as Lambda runs it at `memory_mb`: one thread uses at most one vCPU."""
    return cpu_ms / min(1.0, vcpu_share(memory_mb))


@dataclass(frozen=True, slots=True)
class Phases:
    """One fresh execution environment: its init and first invocation, as measured here."""

    init_cpu_ms: float
    invoke_cpu_ms: float
    calls_in_a_row: int = 0
    wall_ms: float = 0.0

    def modelled_ms(self, memory_mb: float, latency_ms: float = BACKEND_LATENCY_MS) -> float:
        return self.init_cpu_ms + invoke_ms(self.invoke_cpu_ms, memory_mb) + self.calls_in_a_row * latency_ms

    def backend_ms(self, latency_ms: float = BACKEND_LATENCY_MS) -> float:
        return self.calls_in_a_row * latency_ms


def memory_sizes(
    low: int = LAMBDA_MIN_MB, high: int = LAMBDA_MAX_MB, step: int = MEMORY_STEP_MB
) -> list[int]:
    """The MemorySize settings considered: 128 MB, then every `step` MB up to Lambda's maximum."""
    first = math.ceil(low / step) * step
    return sorted({low, *range(first, high + 1, step)})


def smallest_memory(meets: Callable[[int], bool], sizes: Iterable[int] | None = None) -> int | None:
    """The smallest MemorySize at which `meets` holds, or None when no size does."""
    for size in sizes if sizes is not None else memory_sizes():
        if meets(size):
            return size
    return None
