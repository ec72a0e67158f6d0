"""Webhook receiver: API Gateway HTTP API (payload 2.0) -> verify, validate, deduplicate, queue -> 202."""

from __future__ import annotations

import base64
import binascii
import json
import traceback
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from intake import (
    ContractViolation,
    IntakeLimits,
    WebhookIntake,
    WebhookRequest,
)
from iotbridge.clients import client
from iotbridge.settings import settings
from receiver_adapters import IdempotencyTableDeduplicator, SecretsManagerSigningKeys, SqsFifoEventQueue

logger = Logger()
metrics = Metrics()

_JSON_HEADERS = {"content-type": "application/json"}


def validate_body(data: object, connector_id: str) -> list[dict[str, Any]]:
    # pydantic is imported where validation runs, not at cold start.
    from iotbridge.connector_event import EventValidationError, wire_events

    try:
        return wire_events(data, connector_id)
    except EventValidationError as exc:
        raise ContractViolation([{"path": p["path"], "rule": p["rule"]} for p in exc.problems]) from None


@cache
def _wiring() -> tuple[WebhookIntake, IdempotencyTableDeduplicator]:
    cfg = settings()
    cfg.require("idempotency_table", "event_queue_url")
    deduplicator = IdempotencyTableDeduplicator(
        client("dynamodb"),
        cfg.idempotency_table,
        # Never shorter than the signature tolerance: a replay the signature check still lets in must
        # still find its record.
        window_seconds=max(cfg.dedupe_window_seconds, cfg.signature_tolerance_seconds),
    )
    intake = WebhookIntake(
        keys=SecretsManagerSigningKeys(
            client("secretsmanager"),
            prefix=cfg.signing_secret_prefix,
            max_age_seconds=cfg.secret_cache_seconds,
        ),
        queue=SqsFifoEventQueue(client("sqs"), cfg.event_queue_url),
        deduplicator=deduplicator,
        contract=validate_body,
        limits=IntakeLimits(
            max_body_bytes=cfg.max_body_bytes, tolerance_seconds=cfg.signature_tolerance_seconds
        ),
    )
    return intake, deduplicator


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**_JSON_HEADERS, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def _request(event: dict[str, Any]) -> WebhookRequest | None:
    """The request as sent, or None when an encoded body cannot be decoded."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return None
    else:
        # API Gateway sends UTF-8 text; a direct invoke may not. Whatever arrives is checked as these bytes.
        body = raw.encode("utf-8", errors="surrogatepass")
    connector_id = (event.get("pathParameters") or {}).get("connectorId")
    return WebhookRequest(connector_id=connector_id, headers=headers, body=body)


def _count(outcome: str, queued: int) -> None:
    if outcome == "accepted":
        # One data point per accepted webhook: its Sum counts events, its SampleCount counts webhooks.
        metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=queued)
    elif outcome == "duplicate":
        metrics.add_metric(name="WebhooksDuplicate", unit=MetricUnit.Count, value=1)
    else:
        # One metric per reason keeps the handler's single dimension set (service) for every metric.
        reason = outcome.split(".", 1)[0]
        metrics.add_metric(name="WebhooksRejected", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name=f"Rejected_{reason}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = _request(event)
        if request is None:
            _count("malformed_body_encoding", 0)
            return _response(400, {"message": "The body is not valid base64."})
        webhook_id = request.headers.get("webhook-id", "")[:256]
        # Only a well-formed id becomes the correlation id: it is sender-controlled text.
        if webhook_id.isascii() and webhook_id.isprintable():
            logger.set_correlation_id(webhook_id)
        connector_id = request.connector_id or ""
        if connector_id.isascii() and connector_id.isprintable():
            logger.append_keys(connector_id=connector_id[:64])
        intake, deduplicator = _wiring()
        deduplicator.bind_context(context)
        answer = intake.handle(request)
    except Exception as exc:
        # Never a 500: the sender retries a 503, so nothing it sent is lost to a fault of ours.
        logger.error(
            "unexpected failure",
            extra={"error": type(exc).__name__, "trace": traceback.format_tb(exc.__traceback__)},
        )
        _count("internal", 0)
        return _response(503, {"message": "Try again later."}, {"Retry-After": "5"})
    _count(answer.outcome, answer.queued)
    # Accepted webhooks are counted by the metrics and by the forwarder's batch lines, so theirs is a DEBUG
    # line (a Powertools log line would add its formatting and write to every warm request); rejections
    # are INFO.
    if answer.status >= 500:
        log = logger.warning
    elif answer.status >= 300:
        log = logger.info
    else:
        log = logger.debug
    log(
        "webhook handled", extra={"status": answer.status, "outcome": answer.outcome, "queued": answer.queued}
    )
    return _response(answer.status, answer.body, answer.headers)
