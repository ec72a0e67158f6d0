"""What crosses the connector function's Lambda edge: an invocation by managed integrations (or the sweep's
schedule) read into the domain's terms and answered, and the outcome's log line."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from iotbridge.budget import CappedBudget, TimeBudget

from .domain.invocations import ConnectorOperations, InvocationOutcome, failure
from .domain.requests import (
    InvalidInvocationError,
    UnknownOperationError,
    operation_name_of,
    parse_invocation,
)

# EventBridge Scheduler's input for the sweep of unanswered requests (template.yaml, CorrelationSweep).
SWEEP_EVENT = {"sweep": "correlation"}
INTERNAL_FAILURE = failure(500, "internal", "The connector failed; retry.")
# An invalid invocation's answer names at most this many problems (each a path and a rule, never a value).
MAX_LISTED_PROBLEMS = 10


def is_sweep(event: Any) -> bool:
    return event == SWEEP_EVENT


def answer(
    event: Any, operations: ConnectorOperations, budget: TimeBudget, answer_within: float
) -> InvocationOutcome:
    """The outcome of one invocation of the function: the sweep when the schedule invokes it, otherwise the
    operation managed integrations asks for, within `answer_within` seconds."""
    if is_sweep(event):
        return operations.sweep(budget)
    try:
        invocation = parse_invocation(event)
    except InvalidInvocationError as exc:
        return refused(exc, event)
    return operations.handle(invocation, CappedBudget(budget, answer_within))


def refused(exc: InvalidInvocationError, event: Any) -> InvocationOutcome:
    """A 400 that says what is wrong, each problem by its path (values are never quoted)."""
    listed = exc.descriptions()[:MAX_LISTED_PROBLEMS]
    more = len(exc.problems) - len(listed)
    what = "; ".join(listed) + (f"; and {more} more" if more > 0 else "")
    unknown = isinstance(exc, UnknownOperationError)
    name = operation_name_of(event)
    return InvocationOutcome(
        400,
        ("Unknown operation: " if unknown else "Invalid invocation: ") + what,
        "unknown_operation" if unknown else "invalid_invocation",
        # An operation's name is logged only when it is one of the four (it is the caller's text).
        operation=None if unknown or name is None else name,
    )


def log_outcome(logger: Logger, outcome: InvocationOutcome) -> None:
    # Identifiers and codes only: tokens, secrets, user and device ids never reach a log.
    fields = {
        "operation": outcome.operation,
        "connector_id": outcome.connector_id,
        "request_id": outcome.request_id,
        "response_code": outcome.code,
        "outcome": outcome.reason,
    }
    present = {name: value for name, value in fields.items() if value is not None}
    if outcome.code >= 500:
        logger.warning("invocation answered", extra=present)
    else:
        logger.info("invocation answered", extra=present)
