"""What crosses the connector function's Lambda edge: an invocation by managed integrations (or the sweep's
schedule) read into the domain's terms and answered, or a batch of the discovery queue's jobs worked off and
answered with the partial batch response; and the outcome's log lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from iotbridge.budget import CappedBudget, TimeBudget
from iotbridge.telemetry import Measurement

from .discovery import DiscoveryBatchOutcome, DiscoveryWorker, JobDelivery, JobOutcome
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


Outcome = InvocationOutcome | DiscoveryBatchOutcome


def is_sweep(event: Any) -> bool:
    return event == SWEEP_EVENT


def job_deliveries(event: Any) -> list[JobDelivery] | None:
    """The records of an SQS event (the discovery queue is the function's one SQS event source); None for
    any other event. A record without a message id cannot be named in a batch item failure and is left out
    (SQS always gives one)."""
    if not isinstance(event, Mapping):
        return None
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        return None
    if not all(isinstance(record, Mapping) and record.get("eventSource") == "aws:sqs" for record in records):
        return None
    deliveries = []
    for record in records:
        message_id = record.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            continue
        body = record.get("body")
        attributes = record.get("attributes")
        count = str(
            (attributes if isinstance(attributes, Mapping) else {}).get("ApproximateReceiveCount") or "1"
        )
        deliveries.append(
            JobDelivery(
                message_id,
                body if isinstance(body, str) else "",
                int(count) if count.isdigit() else 1,
            )
        )
    return deliveries


def dispatch(
    event: Any,
    operations: ConnectorOperations,
    budget: TimeBudget,
    answer_within: float,
    discovery: DiscoveryWorker | None = None,
) -> Outcome:
    """The outcome of one invocation of the function: the discovery jobs when the discovery queue invokes
    it, otherwise as `answer` says."""
    deliveries = job_deliveries(event)
    if deliveries is None:
        return answer(event, operations, budget, answer_within)
    if discovery is None:
        # Kept on the queue: a deployment that delivers jobs without the worker is being set up.
        return _all_failed(deliveries, "no_discovery_worker")
    return discovery.run(deliveries, budget)


def answer(
    event: Any, operations: ConnectorOperations, budget: TimeBudget, answer_within: float
) -> InvocationOutcome:
    """The outcome of an invocation by managed integrations or the schedule: the sweep when the schedule
    invokes the function, otherwise the operation managed integrations asks for, within `answer_within`
    seconds."""
    if is_sweep(event):
        return operations.sweep(budget)
    try:
        invocation = parse_invocation(event)
    except InvalidInvocationError as exc:
        return refused(exc, event)
    return operations.handle(invocation, CappedBudget(budget, answer_within))


def internal_failure(event: Any) -> Outcome:
    """The answer when the function cannot work at all (settings it cannot run with, a failure not
    foreseen): a 500 for managed integrations to retry, or, for discovery jobs, every one left on the queue
    (an answer without batch item failures would acknowledge them)."""
    deliveries = job_deliveries(event)
    if deliveries is not None:
        return _all_failed(deliveries, "internal")
    return INTERNAL_FAILURE


def _all_failed(deliveries: list[JobDelivery], reason: str) -> DiscoveryBatchOutcome:
    retried = (Measurement("DiscoveryJobsRetried", 1),)
    return DiscoveryBatchOutcome(
        tuple(
            JobOutcome(
                d.message_id, "retry", reason=reason, receive_count=d.receive_count, measurements=retried
            )
            for d in deliveries
        )
    )


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


def log_outcome(logger: Logger, outcome: Outcome) -> None:
    # Identifiers and codes only: tokens, secrets, user and device ids never reach a log.
    if isinstance(outcome, DiscoveryBatchOutcome):
        for job in outcome.jobs:
            log_job(logger, job)
        return
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


_JOB_LOG_LINES = {
    "reported": "discovery reported",
    "repeated": "discovery job delivered again after its devices were reported: nothing fetched",
    "retry": "discovery job failed: SQS will deliver it again",
    "dead_lettered": "discovery job given up on: moved to the discovery dead-letter queue",
    "dead_letter_failed": "discovery job could not be dead-lettered: SQS will deliver it again",
}


def log_job(logger: Logger, job: JobOutcome) -> None:
    fields = {
        "operation": "discoverDevices",
        "connector_id": job.connector_id,
        "request_id": job.discovery_id,
        "message_id": job.message_id,
        "receive_count": job.receive_count,
        "outcome": job.reason,
        "devices": job.devices,
        "skipped": job.skipped or None,
        "filtered": job.filtered or None,
        "truncated": job.truncated,
    }
    present = {name: value for name, value in fields.items() if value is not None}
    message = _JOB_LOG_LINES[job.disposition]
    if job.disposition == "dead_letter_failed":
        logger.error(message, extra=present)
    elif job.disposition in ("retry", "dead_lettered"):
        logger.warning(message, extra=present)
    else:
        logger.info(message, extra=present)
