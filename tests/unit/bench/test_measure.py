"""How samples are taken: candidates in turns, warm-up turns dropped, each candidate's turns merged; and
the Lambda context the measuring processes hand their handlers.

No timing is asserted here: benchmarks never fail on a slow machine.
"""

from __future__ import annotations

import random

from bench.lambda_context import LambdaContext
from bench.measure import alternating, cpu_and_wall_us, timed


def test_candidates_take_turns_and_the_warm_up_turns_are_dropped() -> None:
    order: list[str] = []

    def measure(candidate: str) -> str:
        order.append(candidate)
        return f"{candidate}{len(order)}"

    merged = alternating(["ours", "theirs"], measure, ",".join, turns=2, warmup_turns=1)

    assert order == ["ours", "theirs"] * 3
    assert merged == {"ours": "ours3,ours5", "theirs": "theirs4,theirs6"}


def test_a_shuffled_order_is_the_shuffler_s_each_turn_and_every_candidate_runs_once_a_turn() -> None:
    order: list[int] = []
    alternating(list(range(5)), order.append, list, turns=3, shuffler=random.Random(7))

    expected: list[int] = []
    shuffler = random.Random(7)
    for _ in range(3):
        turn = list(range(5))
        shuffler.shuffle(turn)
        expected += turn
    assert order == expected
    assert all(sorted(order[i : i + 5]) == list(range(5)) for i in range(0, 15, 5))


def test_a_timed_call_returns_what_the_call_returned() -> None:
    cpu_us, wall_us, result = cpu_and_wall_us(lambda: "answer")
    answer, wall_s, cpu_s = timed(lambda: 42)

    assert result == "answer"
    assert answer == 42
    assert min(cpu_us, wall_us, wall_s, cpu_s) >= 0


def test_a_warm_context_keeps_its_full_timeout_and_a_first_invocation_s_counts_down() -> None:
    warm = LambdaContext("bench-forwarder", timeout_seconds=30.0)
    first = LambdaContext("bench-reset", memory_limit_in_mb=1024, timeout_seconds=900.0, counts_down=True)

    assert warm.get_remaining_time_in_millis() == 30_000
    assert 0 < first.get_remaining_time_in_millis() <= 900_000
    assert first.invoked_function_arn == "arn:aws:lambda:us-east-1:000000000000:function:bench-reset"
    assert first.log_group_name == "/aws/lambda/bench-reset"
    assert first.memory_limit_in_mb == 1024
