"""What crosses the forwarder's Lambda edge: an SQS event read into records, a batch report rendered as
the partial batch response, with its log lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from iotbridge.errors import PermanentError

from .domain.forwarding import BatchReport, Disposition, RecordOutcome, SqsRecord


class NotAnSqsEventError(PermanentError):
    """The invocation event is not an SQS batch (a wiring mistake, not a message problem)."""


def record_of(record: object) -> SqsRecord:
    if not isinstance(record, Mapping):
        raise NotAnSqsEventError("every item of 'Records' must be an object")
    message_id = record.get("messageId")
    body = record.get("body")
    if not isinstance(message_id, str) or not message_id or not isinstance(body, str):
        raise NotAnSqsEventError("an SQS record needs a 'messageId' and a string 'body'")
    attributes = record.get("attributes")
    attributes = attributes if isinstance(attributes, Mapping) else {}
    receive_count = str(attributes.get("ApproximateReceiveCount") or "1")
    return SqsRecord(
        message_id=message_id,
        body=body,
        group_id=attributes.get("MessageGroupId") or None,
        deduplication_id=attributes.get("MessageDeduplicationId") or None,
        receive_count=int(receive_count) if receive_count.isdigit() else 1,
    )


def records_from_event(event: object) -> list[SqsRecord]:
    """The records of an SQS event, in delivery order. Raises NotAnSqsEventError on anything else."""
    if not isinstance(event, Mapping) or not isinstance(event.get("Records"), list):
        raise NotAnSqsEventError("expected an SQS event: an object with a 'Records' list")
    return [record_of(record) for record in event["Records"]]


def batch_response(report: BatchReport) -> dict[str, list[dict[str, str]]]:
    """The partial batch response Lambda expects with ReportBatchItemFailures."""
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.unacknowledged()]}


def log_report(logger: Logger, report: BatchReport) -> None:
    for outcome in report.outcomes:
        fields = _log_fields(outcome)
        match outcome.disposition:
            case Disposition.FORWARDED:
                logger.debug("event forwarded", extra=fields)
            case Disposition.DEAD_LETTERED:
                logger.warning("event dead-lettered: it can never be delivered as it is", extra=fields)
            case Disposition.RETRY:
                logger.warning("event not forwarded this time: SQS will deliver it again", extra=fields)
            case Disposition.DEAD_LETTER_FAILED:
                logger.error("event could not be dead-lettered: SQS will deliver it again", extra=fields)
            case Disposition.HELD_BACK:
                logger.info("event held back behind a failure in its group", extra=fields)
    logger.info(
        "batch done",
        extra={
            "records": len(report.outcomes),
            "forwarded": report.count(Disposition.FORWARDED),
            "dead_lettered": report.count(Disposition.DEAD_LETTERED),
            "batch_item_failures": len(report.unacknowledged()),
            "retries": report.retries,
        },
    )


def _log_fields(outcome: RecordOutcome) -> dict[str, Any]:
    # Identifiers and codes only: user ids, device ids, messages and attribute values stay out of logs.
    fields: dict[str, Any] = {
        "correlation_id": outcome.webhook_id,
        "connector_id": outcome.connector_id,
        "webhook_id": outcome.webhook_id,
        "index": outcome.index,
        "operation": outcome.operation,
        "message_group_id": outcome.record.group_id,
        "message_id": outcome.record.message_id,
        "receive_count": outcome.record.receive_count,
        "retries": outcome.retries,
        "error_code": outcome.error_code,
        "dead_letter_error_code": outcome.dead_letter_error_code,
    }
    return {name: value for name, value in fields.items() if value is not None}
