"""Injected faults: latency, throttling, server errors and per-item failures, per operation, repeatable."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .service_models import (
    BATCH_OPERATIONS,
    ITEM_ERROR_CODES,
    OPERATIONS,
    PUBLISH,
    SEND_CONNECTOR_EVENT,
    error_codes,
)

ALL_OPERATIONS = "*"
RATE_KEYS = ("throttleRate", "error500Rate", "error503Rate", "itemThrottleRate")
MILLISECOND_KEYS = ("latencyMs", "latencyJitterMs")
KNOWN_KEYS = frozenset({*RATE_KEYS, *MILLISECOND_KEYS, "itemErrors", "errorCodes", "maxRps"})
ITEM_KEYS = frozenset({"itemThrottleRate", "itemErrors"})


class FaultPlanError(ValueError):
    """A fault plan that cannot be applied; the message says which entry and why."""


@dataclass(frozen=True, slots=True)
class OperationFaults:
    """The faults in force for one operation ('*' merged with the operation's own entry)."""

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    throttle_rate: float = 0.0
    error500_rate: float = 0.0
    error503_rate: float = 0.0
    item_throttle_rate: float = 0.0
    item_errors: Mapping[str, str] = field(default_factory=dict)
    error_codes: Mapping[str, str] = field(default_factory=dict)
    max_rps: float | None = None
    # Which bucket a rate cap draws from: the operation's own, or one shared by every operation.
    rps_scope: str = ALL_OPERATIONS


def validate_plan(plan: object) -> dict[str, dict[str, Any]]:
    """Check a fault plan document and return it as plain data, or raise FaultPlanError."""
    if not isinstance(plan, dict):
        raise FaultPlanError("a fault plan must be a JSON object keyed by operation name or '*'")
    checked: dict[str, dict[str, Any]] = {}
    for operation, entry in plan.items():
        if operation != ALL_OPERATIONS and operation not in OPERATIONS:
            raise FaultPlanError(
                f"unknown operation {operation!r}; expected one of {', '.join(OPERATIONS)} or '*'"
            )
        if not isinstance(entry, dict):
            raise FaultPlanError(f"{operation}: faults must be a JSON object")
        checked[operation] = _validate_entry(operation, entry)
    return checked


def _validate_entry(operation: str, entry: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(entry) - KNOWN_KEYS)
    if unknown:
        raise FaultPlanError(f"{operation}: unknown fault setting(s) {', '.join(unknown)}")
    for key in RATE_KEYS:
        if key in entry and not (_is_number(entry[key]) and 0 <= entry[key] <= 1):
            raise FaultPlanError(f"{operation}.{key} must be a number from 0 to 1")
    for key in MILLISECOND_KEYS:
        if key in entry and not (_is_number(entry[key]) and 0 <= entry[key] <= 600_000):
            raise FaultPlanError(f"{operation}.{key} must be a number of milliseconds from 0 to 600000")
    if (
        "maxRps" in entry
        and entry["maxRps"] is not None
        and not (_is_number(entry["maxRps"]) and entry["maxRps"] > 0)
    ):
        raise FaultPlanError(f"{operation}.maxRps must be a number above 0 (or null for no cap)")
    _check_operation_settings(operation, entry)
    return dict(entry)


def _check_operation_settings(operation: str, entry: dict[str, Any]) -> None:
    """The settings that apply to some operations only, and the error codes each may answer with."""
    if operation == PUBLISH:
        # One message a call: throttleRate throttles messages; itemErrors refuses a detector's messages.
        if "itemThrottleRate" in entry:
            raise FaultPlanError(
                f"{operation}: one message a call, so use throttleRate, not itemThrottleRate"
            )
        if "itemErrors" in entry:
            _check_code_map(f"{operation}.itemErrors", entry["itemErrors"], tuple(error_codes(PUBLISH)))
    elif operation not in (ALL_OPERATIONS, *BATCH_OPERATIONS) and ITEM_KEYS & set(entry):
        raise FaultPlanError(f"{operation}: itemThrottleRate and itemErrors apply to batch operations only")
    elif "itemErrors" in entry:
        _check_code_map(f"{operation}.itemErrors", entry["itemErrors"], ITEM_ERROR_CODES)
    if "errorCodes" in entry:
        if operation not in (ALL_OPERATIONS, SEND_CONNECTOR_EVENT):
            raise FaultPlanError(f"{operation}: errorCodes applies to {SEND_CONNECTOR_EVENT} only")
        _check_code_map(
            f"{operation}.errorCodes", entry["errorCodes"], tuple(error_codes(SEND_CONNECTOR_EVENT))
        )


def _check_code_map(where: str, value: object, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise FaultPlanError(f"{where} must be a JSON object of identifier -> error code")
    for code in value.values():
        if code not in allowed:
            raise FaultPlanError(f"{where}: error code must be one of {', '.join(allowed)}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class TokenBucket:
    """At most `rate` calls a second on average, with bursts up to one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._stamp = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Faults:
    """The fault plan in force, its random source and its rate-cap buckets. Safe to share across threads."""

    def __init__(
        self,
        plan: object = None,
        *,
        random_seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._random_seed = random_seed
        self._random = random.Random(random_seed)  # noqa: S311 - repeatable test faults, not security
        self._plan: dict[str, dict[str, Any]] = validate_plan(plan or {})
        self._buckets: dict[str, TokenBucket] = {}

    def plan(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {op: dict(entry) for op, entry in self._plan.items()}

    def replace(self, plan: object) -> None:
        checked = validate_plan(plan)
        with self._lock:
            self._plan = checked
            self._buckets.clear()

    def restart_random(self) -> None:
        """Start the random sequence over, so a reset test run sees the same faults again."""
        with self._lock:
            self._random = random.Random(self._random_seed)  # noqa: S311
            self._buckets.clear()

    def for_operation(self, operation: str) -> OperationFaults:
        with self._lock:
            common = self._plan.get(ALL_OPERATIONS, {})
            own = self._plan.get(operation, {})
        merged = {**common, **own}
        return OperationFaults(
            latency_ms=float(merged.get("latencyMs", 0)),
            latency_jitter_ms=float(merged.get("latencyJitterMs", 0)),
            throttle_rate=float(merged.get("throttleRate", 0)),
            error500_rate=float(merged.get("error500Rate", 0)),
            error503_rate=float(merged.get("error503Rate", 0)),
            item_throttle_rate=float(merged.get("itemThrottleRate", 0)),
            item_errors=dict(merged.get("itemErrors", {})),
            error_codes=dict(merged.get("errorCodes", {})),
            max_rps=merged.get("maxRps"),
            rps_scope=operation if own.get("maxRps") is not None else ALL_OPERATIONS,
        )

    def latency_seconds(self, faults: OperationFaults) -> float:
        if faults.latency_ms <= 0 and faults.latency_jitter_ms <= 0:
            return 0.0
        jitter = 0.0
        if faults.latency_jitter_ms > 0:
            with self._lock:
                jitter = self._random.uniform(-faults.latency_jitter_ms, faults.latency_jitter_ms)
        return max(0.0, faults.latency_ms + jitter) / 1000.0

    def chance(self, rate: float) -> bool:
        """True with probability `rate`, from the seeded sequence (no draw when the rate is 0 or 1)."""
        if rate <= 0:
            return False
        if rate >= 1:
            return True
        with self._lock:
            return self._random.random() < rate

    def over_rate_cap(self, faults: OperationFaults) -> bool:
        if faults.max_rps is None:
            return False
        with self._lock:
            bucket = self._buckets.get(faults.rps_scope)
            if bucket is None or bucket.rate != faults.max_rps:
                bucket = self._buckets[faults.rps_scope] = TokenBucket(float(faults.max_rps), self._clock)
            return not bucket.take()
