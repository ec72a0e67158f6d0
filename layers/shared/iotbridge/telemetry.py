"""Metrics, one way for every function: a domain result lists its measurements, the handler publishes them."""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "IoTBridge"


@dataclass(frozen=True, slots=True)
class Measurement:
    name: str
    value: float
    unit: str = "Count"
    # Dimensions of this metric alone; a measurement with any is emitted as its own metric, so that they
    # do not apply to the invocation's other metrics.
    dimensions: Mapping[str, str] = field(default_factory=dict)


def publish(
    metrics: Any, measurements: Iterable[Measurement], *, dimensions: Mapping[str, str] | None = None
) -> None:
    """Add each measurement to a Powertools Metrics object (flushed by its log_metrics decorator);
    `dimensions` apply to every metric of the invocation."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    for name, value in (dimensions or {}).items():
        metrics.add_dimension(name=name, value=value)
    for m in measurements:
        unit = MetricUnit(m.unit)
        if not m.dimensions:
            metrics.add_metric(name=m.name, unit=unit, value=m.value)
            continue
        service = {"service": str(metrics.service)} if metrics.service else {}
        with single_metric(
            name=m.name,
            unit=unit,
            value=m.value,
            namespace=metrics.namespace or NAMESPACE,
            default_dimensions={**m.dimensions, **service},
        ):
            pass


# Frames of an unexpected exception's trace kept at each end: a RecursionError's 1,000 frames made a 140 KB
# log line per request.
_TRACE_FRAMES = 8


def failure_fields(exc: BaseException) -> dict[str, Any]:
    """An unexpected exception for the log: its type and where it was raised (the outermost and innermost
    frames), never its message (it may quote the request)."""
    frames = list(traceback.walk_tb(exc.__traceback__))
    if len(frames) <= 2 * _TRACE_FRAMES:
        return {"error": type(exc).__name__, "trace": traceback.StackSummary.extract(iter(frames)).format()}
    left_out = f"... {len(frames) - 2 * _TRACE_FRAMES} frames left out\n"
    outer = traceback.StackSummary.extract(iter(frames[:_TRACE_FRAMES])).format()
    inner = traceback.StackSummary.extract(iter(frames[-_TRACE_FRAMES:])).format()
    return {"error": type(exc).__name__, "trace": [*outer, left_out, *inner]}
