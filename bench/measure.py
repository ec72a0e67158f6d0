"""How the benchmarks take their samples: candidates measured in turns, and a call's CPU and wall time."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable, Sequence


def alternating[K: Hashable, R, M](
    candidates: Sequence[K],
    measure: Callable[[K], R],
    merge: Callable[[list[R]], M],
    *,
    turns: int,
    warmup_turns: int = 0,
    shuffler: random.Random | None = None,
) -> dict[K, M]:
    """Every candidate measured once per turn, the candidates taking turns (in an order `shuffler` shuffles
    each turn, if given), so that a change in the machine's load touches them all alike; the warm-up turns'
    samples are dropped and each candidate's remaining samples merged into one."""
    samples: dict[K, list[R]] = {candidate: [] for candidate in candidates}
    for turn in range(warmup_turns + turns):
        order = list(candidates)
        if shuffler is not None:
            shuffler.shuffle(order)
        for candidate in order:
            sample = measure(candidate)
            if turn >= warmup_turns:
                samples[candidate].append(sample)
    return {candidate: merge(found) for candidate, found in samples.items()}


def cpu_and_wall_us[T](call: Callable[[], T]) -> tuple[float, float, T]:
    """The process's CPU (every thread) and the wall time one call takes, in µs, and what it returned."""
    cpu, wall = time.process_time_ns(), time.perf_counter_ns()
    result = call()
    return (time.process_time_ns() - cpu) / 1000, (time.perf_counter_ns() - wall) / 1000, result


def timed[T](call: Callable[[], T]) -> tuple[T, float, float]:
    """What one call returned, its wall time and the process's CPU (every thread) over it, in seconds."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu
