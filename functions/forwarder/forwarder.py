"""Lambda handler: forward queued connector events from the SQS FIFO queue to AWS IoT managed integrations."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from forwarder_adapters import ManagedIntegrationsConnectorEvents, SqsDeadLetterQueue
from iotbridge.clients import client
from iotbridge.forwarding import BatchReport, Disposition, Forwarder, Outcome, records_from_event
from iotbridge.settings import settings

logger = Logger()
# The template sets the namespace; the fallback keeps a local run from failing on a missing variable.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "IoTBridge")


def _connector_events_client() -> Any:
    return client("iot-managed-integrations", max_attempts=settings().send_max_attempts)


def _sqs_client() -> Any:
    return client("sqs")


@cache
def build_forwarder() -> Forwarder:
    """The forwarder with its real adapters, built on first use (settings are read once per process)."""
    cfg = settings()
    return Forwarder(
        ManagedIntegrationsConnectorEvents(_connector_events_client),
        SqsDeadLetterQueue(lambda: settings().dead_letter_queue_url, _sqs_client),
        workers=cfg.forward_workers,
        max_attempts=cfg.send_max_attempts,
        # A record is only started while one full attempt of it still fits in the invocation.
        time_margin_seconds=cfg.connect_timeout_seconds + cfg.read_timeout_seconds,
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings().require("dead_letter_queue_url")
    records = records_from_event(event)
    report = build_forwarder().forward_batch(
        records, time_left=lambda: context.get_remaining_time_in_millis() / 1000
    )
    _log(report)
    _measure(report)
    return report.response()


def _log(report: BatchReport) -> None:
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
            "batch_item_failures": len(report.response()["batchItemFailures"]),
            "retries": report.retries,
        },
    )


def _log_fields(outcome: Outcome) -> dict[str, Any]:
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


def _measure(report: BatchReport) -> None:
    metrics.add_metric(name="Forwarded", unit=MetricUnit.Count, value=report.count(Disposition.FORWARDED))
    metrics.add_metric(name="Retried", unit=MetricUnit.Count, value=report.retries)
    metrics.add_metric(name="TransientFailure", unit=MetricUnit.Count, value=report.count(Disposition.RETRY))
    metrics.add_metric(
        name="DeadLetterFailure", unit=MetricUnit.Count, value=report.count(Disposition.DEAD_LETTER_FAILED)
    )
    metrics.add_metric(name="HeldBack", unit=MetricUnit.Count, value=report.count(Disposition.HELD_BACK))
    for code, count in sorted(report.dead_lettered_by_code().items()):
        # Its own metric: the ErrorCode dimension must not apply to the batch's other metrics.
        dimensions = {"ErrorCode": code} | ({"service": str(metrics.service)} if metrics.service else {})
        with single_metric(
            name="DeadLettered",
            unit=MetricUnit.Count,
            value=count,
            namespace=metrics.namespace,
            default_dimensions=dimensions,
        ):
            pass
