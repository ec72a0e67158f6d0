"""Detector reset: an EventBridge Scheduler payload (a reset plan) or a continuation -> reset -> summary."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from iotbridge.composition import BuiltAtInit
from iotbridge.detector_reset.domain.plan import PlanError
from iotbridge.detector_reset.edge import INVALID_PLAN, log_keys, measurements, read_event, result
from iotbridge.detector_reset.wiring import ResetWiring
from iotbridge.telemetry import publish

logger = Logger()
metrics = Metrics()
wiring = BuiltAtInit(ResetWiring.from_environment)


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        plan, resume = read_event(event)
    except PlanError as exc:
        logger.error("invalid reset plan", extra={"problems": exc.descriptions()})
        publish(metrics, INVALID_PLAN)
        raise
    logger.append_keys(**log_keys(plan, resume))
    reset = wiring.get()
    report = reset.lambda_job(context, plan.backend).run(plan, resume=resume)
    publish(metrics, measurements(report, reset.settings.failure_share), dimensions={"plan": plan.name})
    logger.info("reset summary", extra={"summary": report.to_dict()})
    return result(report, reset.settings.failure_share)
