"""An unexpected exception's log fields are bounded, however deep its trace."""

from __future__ import annotations

import json

from iotbridge.telemetry import failure_fields


def _recurse(depth: int) -> None:
    if depth:
        _recurse(depth - 1)
    raise RecursionError


def test_a_deep_trace_is_logged_by_its_ends_in_a_bounded_line() -> None:
    # GIVEN an exception raised 900 frames deep
    try:
        _recurse(900)
    except RecursionError as exc:
        # WHEN its log fields are made
        fields = failure_fields(exc)
    # THEN they name it, keep its outermost and innermost frames, count the rest, and stay small
    assert fields["error"] == "RecursionError"
    assert "test_a_deep_trace_is_logged_by_its_ends_in_a_bounded_line" in fields["trace"][0]
    assert any("frames left out" in line for line in fields["trace"])
    assert len(json.dumps(fields)) < 8 * 1024


def test_a_short_trace_is_logged_whole() -> None:
    # GIVEN an exception raised two frames deep
    try:
        _recurse(1)
    except RecursionError as exc:
        # WHEN its log fields are made
        fields = failure_fields(exc)
    # THEN every frame is there
    assert len(fields["trace"]) == 3
