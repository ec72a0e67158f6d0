"""Forwarder: queued connector events from the SQS FIFO queue -> AWS IoT managed integrations."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from iotbridge.budget import LambdaBudget
from iotbridge.composition import BuiltAtInit
from iotbridge.forwarder.edge import batch_response, log_report, records_from_event
from iotbridge.forwarder.wiring import ForwarderWiring
from iotbridge.telemetry import publish

logger = Logger()
metrics = Metrics()
wiring = BuiltAtInit(ForwarderWiring.from_environment)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    forwarder = wiring.get().forwarder
    report = forwarder.forward_batch(records_from_event(event), LambdaBudget(context))
    log_report(logger, report)
    publish(metrics, report.measurements())
    return batch_response(report)
