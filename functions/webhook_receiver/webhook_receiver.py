"""Webhook receiver: API Gateway HTTP API (payload 2.0) -> verify, validate, deduplicate, queue -> 202."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from iotbridge.budget import LambdaBudget
from iotbridge.composition import BuiltAtInit
from iotbridge.telemetry import failure_fields, publish
from iotbridge.webhook_receiver.domain.intake import BODY_NOT_BASE64, TRY_LATER
from iotbridge.webhook_receiver.edge import UndecodableBodyError, http_response, log_outcome, read_request
from iotbridge.webhook_receiver.wiring import ReceiverWiring

logger = Logger()
metrics = Metrics()
wiring = BuiltAtInit(ReceiverWiring.from_environment)


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = read_request(event)
        logger.append_keys(**request.log_keys())
        answer = wiring.get().intake.handle(request, LambdaBudget(context))
    except UndecodableBodyError:
        answer = BODY_NOT_BASE64
    except Exception as exc:
        # Never a 500: the sender retries a 503, so nothing it sent is lost to a fault of ours.
        logger.error("unexpected failure", extra=failure_fields(exc))
        answer = TRY_LATER
    publish(metrics, answer.measurements())
    log_outcome(logger, answer)
    return http_response(answer)
