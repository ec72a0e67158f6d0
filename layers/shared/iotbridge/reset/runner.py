"""Wiring shared by the Lambda handler and the operator CLI: one code path from a plan to a report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from iotbridge.clients import client
from iotbridge.settings import settings

from .adapters import IotEventsDataService, LambdaSelfInvoker
from .job import JobOptions, ResetJob
from .plan import PlanError, ResetPlan, parse_plan, problems_of
from .ports import ContinuationSink, LambdaBudget, TimeBudget, UnlimitedBudget
from .progress import Continuation, ResetReport, Totals


class ResetFailed(RuntimeError):
    """A run that should be seen as failed by whoever started it (scheduler retries, dead-letter queue)."""


def read_event(event: Any) -> tuple[ResetPlan, Continuation | None]:
    """The plan to run, and where to resume it: an EventBridge Scheduler payload is the plan itself; a
    continuation payload is `{"continuation": {...}}`. Raises PlanError listing every problem."""
    if isinstance(event, dict) and "continuation" in event:
        try:
            resume = Continuation.model_validate(event["continuation"])
        except ValidationError as exc:
            raise PlanError([f"continuation.{p}" for p in problems_of(exc)]) from None
        return resume.plan, resume
    return parse_plan(event), None


def reset_job(
    *,
    budget: TimeBudget,
    continuation_sink: ContinuationSink | None = None,
    progress: Callable[[Totals], None] | None = None,
) -> ResetJob:
    # One attempt per call: the job retries with its own backoff, per call and per batch entry.
    service = IotEventsDataService(client("iotevents-data", max_attempts=1))
    return ResetJob(
        service,
        options=JobOptions.from_settings(settings()),
        budget=budget,
        continuation_sink=continuation_sink,
        progress=progress,
    )


def lambda_reset_job(context: Any) -> ResetJob:
    """A job bounded by the invocation's remaining time, continued by invoking this same function."""
    return reset_job(
        budget=LambdaBudget(context),
        continuation_sink=LambdaSelfInvoker(lambda: client("lambda"), context.invoked_function_arn),
    )


def cli_reset_job(progress: Callable[[Totals], None] | None = None) -> ResetJob:
    """A job with no deadline: it runs until done."""
    return reset_job(budget=UnlimitedBudget(), progress=progress)


def check(report: ResetReport) -> ResetReport:
    """The report, or ResetFailed when the run as a whole failed."""
    problem = report.problem(settings().reset_failure_share)
    if problem:
        raise ResetFailed(problem)
    return report


# Metric per count of one invocation; CloudWatch sums them over the invocations of a run.
METRICS = {
    "DetectorsMatched": "matched",
    "DetectorsReset": "reset",
    "DetectorsSkipped": "skipped",
    "PreservedVariables": "preserved_variables",
    "DetectorsVerified": "verified",
    "VerifyMismatches": "verify_mismatches",
    "VerifyErrors": "verify_errors",
}


def publish_metrics(metrics: Any, report: ResetReport) -> None:
    """Per-plan metrics of this invocation, through a Powertools Metrics object."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_dimension(name="plan", value=report.plan_name)
    counts = report.this_invocation
    for name, attribute in METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=getattr(counts, attribute))
    metrics.add_metric(name="DetectorsFailed", unit=MetricUnit.Count, value=counts.failed_total)
    metrics.add_metric(
        name="ResetContinuations", unit=MetricUnit.Count, value=1 if report.status == "continued" else 0
    )
    if report.status != "continued":
        failed = report.problem(settings().reset_failure_share) is not None
        metrics.add_metric(name="ResetRunsFailed", unit=MetricUnit.Count, value=1 if failed else 0)
        metrics.add_metric(name="ResetRunSeconds", unit=MetricUnit.Seconds, value=report.duration_seconds)
