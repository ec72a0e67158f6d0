"""How much time an invocation has left: the one way every function's domain is told its deadline."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol


class TimeBudget(Protocol):
    def remaining_seconds(self) -> float: ...


class LambdaBudget:
    """The time an invocation has left, from its Lambda context."""

    def __init__(self, context: Any) -> None:
        self._context = context

    def remaining_seconds(self) -> float:
        return float(self._context.get_remaining_time_in_millis()) / 1000.0


class UnlimitedBudget:
    """No deadline (the operator command line)."""

    def remaining_seconds(self) -> float:
        return math.inf


class CappedBudget:
    """Another budget, cut to `seconds` from now: a caller that waits less than the invocation may run
    (managed integrations waits 2 s for a connector whose Lambda timeout is longer)."""

    def __init__(
        self, inner: TimeBudget, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._inner = inner
        self._clock = clock
        self._ends = clock() + seconds

    def remaining_seconds(self) -> float:
        return min(self._inner.remaining_seconds(), self._ends - self._clock())
