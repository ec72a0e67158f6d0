"""How much time an invocation has left: the one way every function's domain is told its deadline."""

from __future__ import annotations

import math
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
