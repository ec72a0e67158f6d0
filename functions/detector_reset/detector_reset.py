"""Detector reset: an EventBridge Scheduler payload (a reset plan) or a continuation -> reset -> summary."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from iotbridge.reset.plan import PlanError
from iotbridge.reset.runner import check, lambda_reset_job, publish_metrics, read_event

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        plan, resume = read_event(event)
    except PlanError as exc:
        logger.error("invalid reset plan", extra={"problems": exc.problems})
        metrics.add_metric(name="ResetPlansInvalid", unit=MetricUnit.Count, value=1)
        raise
    # Identifiers an operator needs to find a failed detector; the plan's values are never logged.
    logger.append_keys(
        plan=plan.name, detector_model=plan.detector_model_name, run_id=resume.run_id if resume else None
    )
    report = lambda_reset_job(context).run(plan, resume=resume)
    publish_metrics(metrics, report)
    logger.info("reset summary", extra={"summary": report.to_dict()})
    return check(report).to_dict()
