"""Lambda's CPU model and the MemorySize chosen from it.

No timing is asserted here: benchmarks never fail on a slow machine.
"""

from __future__ import annotations

import pytest

from bench.lambda_model import Phases, invoke_ms, memory_sizes, smallest_memory, vcpu_share
from bench.sizing import Findings, ForwarderCpu, ResetCpu, memory_floor_mb, recommend


def test_invocation_cpu_is_stretched_by_the_memory_s_vcpu_share_and_init_is_not() -> None:
    phases = Phases(init_cpu_ms=300, invoke_cpu_ms=29, calls_in_a_row=4)

    assert vcpu_share(1769) == 1.0
    assert phases.modelled_ms(512, latency_ms=10) == pytest.approx(300 + 29 / (512 / 1769) + 40)
    # One thread cannot use more than one vCPU: more memory stops helping there.
    assert invoke_ms(29, 3538) == 29


def test_memory_sizes_run_from_128_mb_in_64_mb_steps_and_the_smallest_that_meets_is_chosen() -> None:
    sizes = memory_sizes(high=1024)
    assert sizes[:3] == [128, 192, 256]
    assert sizes[-1] == 1024
    assert smallest_memory(lambda mb: mb >= 700, sizes) == 704
    assert smallest_memory(lambda mb: False, sizes) is None


def _findings(init: float, invoke: float, floor_init: float) -> Findings:
    findings = Findings()
    findings.cold = {
        "reset": [Phases(init, invoke, 2)],
        "floor": [Phases(floor_init, 0.0, 0)],
    }
    findings.add_peak("detector_reset", 40)
    findings.add_peak("detector_reset", 30)  # the largest peak counts
    return findings


def test_the_memory_floor_is_the_peak_with_headroom_in_64_mb_steps() -> None:
    assert memory_floor_mb(100) == 192
    assert memory_floor_mb(10) == 128


def test_the_smallest_size_meeting_every_goal_is_recommended() -> None:
    findings = _findings(init=200, invoke=10, floor_init=200)
    findings.reset = ResetCpu(cpu_ms_per_call=2.0, calls_per_second=200)  # 0.4 vCPU

    chosen = recommend("detector_reset", findings)

    # 200 + 10 / share + 20 ms is within 1.25 x 200 ms from a third of a vCPU (640 MB); the pace needs
    # 0.4 vCPU, 708 MB: 768 MB in 64 MB steps.
    assert chosen.memory_mb == 768
    assert "vCPU needed / vCPU share 0.92 (goal <= 1: met)" in chosen.reason


def test_a_goal_memory_cannot_reach_does_not_buy_memory_beyond_a_tenth_of_its_best() -> None:
    findings = _findings(init=400, invoke=20, floor_init=200)  # init alone is 2x the floor

    chosen = recommend("detector_reset", findings)

    best = (400 + 20 + 20) / 200
    at_chosen = findings.modelled_ms("reset", chosen.memory_mb)
    at_one_step_less = findings.modelled_ms("reset", chosen.memory_mb - 64)
    assert at_chosen is not None and at_one_step_less is not None
    ratio, below = at_chosen / 200, at_one_step_less / 200
    assert ratio <= best * 1.10 < below
    assert "not met" in chosen.reason


def test_the_template_s_size_is_checked_against_the_same_rule() -> None:
    from bench.sizing import template_holds

    findings = _findings(init=200, invoke=10, floor_init=200)
    findings.reset = ResetCpu(cpu_ms_per_call=2.0, calls_per_second=200)
    chosen = recommend("detector_reset", findings)

    assert template_holds(chosen, 1024) == "yes"
    assert template_holds(chosen, 512) == "no"  # 0.4 vCPU does not fit in 0.29
    assert template_holds(chosen, None) == "-"


def test_a_batch_s_calls_overlap_their_latency_and_share_the_cpu() -> None:
    batch, one = ForwarderCpu(single_cpu_ms=1.0, batch_cpu_ms=10.0, latency_ms=50).modelled_ms(1769)
    assert (batch, one) == (60.0, 51.0)
