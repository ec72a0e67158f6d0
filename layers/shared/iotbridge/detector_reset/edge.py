"""What crosses the reset job's Lambda edge: the event read as a plan (EventBridge Scheduler's payload)
or a continuation, and the report turned into the function's result, its metrics and log fields."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from iotbridge.errors import PermanentError, Problem
from iotbridge.telemetry import Measurement

from .domain.plan import TOO_DEEP, PlanError, ResetPlan, parse_plan, plan_problems
from .domain.progress import Continuation, ResetReport

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
INVALID_PLAN = [Measurement("ResetPlansInvalid", 1)]


class ResetRunFailedError(PermanentError):
    """A run that should be seen as failed by whoever started it (scheduler retries, dead-letter queue)."""


def read_event(event: Any) -> tuple[ResetPlan, Continuation | None]:
    """The plan to run, and where to resume it: an EventBridge Scheduler payload is the plan itself; a
    continuation payload is `{"continuation": {...}}`. Raises PlanError listing every problem."""
    if isinstance(event, dict) and "continuation" in event:
        try:
            resume = Continuation.model_validate(event["continuation"])
        except ValidationError as exc:
            raise PlanError(
                [
                    Problem("continuation" + (f".{p.path}" if p.path else ""), p.rule)
                    for p in plan_problems(exc)
                ]
            ) from None
        except RecursionError:
            raise PlanError([TOO_DEEP]) from None
        return resume.plan, resume
    return parse_plan(event), None


def log_keys(plan: ResetPlan, resume: Continuation | None) -> dict[str, Any]:
    # Identifiers an operator needs to find a failed detector; the plan's values are never logged.
    return {
        "plan": plan.name,
        "detector_model": plan.detector_model_name,
        "run_id": resume.run_id if resume else None,
    }


def measurements(report: ResetReport, failure_share: float) -> list[Measurement]:
    """Per-plan metrics of this invocation (the plan is their dimension, see `publish`)."""
    counts = report.this_invocation
    found = [Measurement(name, getattr(counts, attribute)) for name, attribute in METRICS.items()]
    found.append(Measurement("DetectorsFailed", counts.failed_total))
    found.append(Measurement("ResetContinuations", 1 if report.status == "continued" else 0))
    if report.status != "continued":
        failed = report.problem(failure_share) is not None
        found.append(Measurement("ResetRunsFailed", 1 if failed else 0))
        found.append(Measurement("ResetRunSeconds", report.duration_seconds, unit="Seconds"))
    return found


def result(report: ResetReport, failure_share: float) -> dict[str, Any]:
    """The function's result, or ResetRunFailedError when the run as a whole failed."""
    problem = report.problem(failure_share)
    if problem:
        raise ResetRunFailedError(problem)
    return report.to_dict()
