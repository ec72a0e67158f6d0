"""Counts of a reset run, carried from one invocation to the next, and the report a run ends with."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, FiniteFloat, NonNegativeInt, StringConstraints, ValidationInfo, field_validator

from iotbridge.wire import CamelModel

from .plan import ResetPlan

SAMPLE_KEYS = 20  # key values kept per list (failed, mismatched, dry-run sample) for the operator to look at

RunId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")]


class Totals(CamelModel):
    """What a run has done so far. Keys: detector key values (not marked sensitive in the service model)."""

    matched: NonNegativeInt = 0
    reset: NonNegativeInt = 0
    preserved_variables: NonNegativeInt = 0
    failed: dict[str, NonNegativeInt] = {}
    verified: NonNegativeInt = 0
    verify_mismatches: NonNegativeInt = 0
    verify_errors: NonNegativeInt = 0
    skipped: NonNegativeInt = 0
    matched_by_state: dict[str, NonNegativeInt] = {}
    failed_keys: list[str] = []
    mismatched_keys: list[str] = []
    sample_keys: list[str] = []

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    def plus(self, other: Totals) -> Totals:
        def merged(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
            return dict(Counter(a) + Counter(b))

        return Totals(
            matched=self.matched + other.matched,
            reset=self.reset + other.reset,
            preserved_variables=self.preserved_variables + other.preserved_variables,
            failed=merged(self.failed, other.failed),
            verified=self.verified + other.verified,
            verify_mismatches=self.verify_mismatches + other.verify_mismatches,
            verify_errors=self.verify_errors + other.verify_errors,
            skipped=self.skipped + other.skipped,
            matched_by_state=merged(self.matched_by_state, other.matched_by_state),
            failed_keys=(self.failed_keys + other.failed_keys)[:SAMPLE_KEYS],
            mismatched_keys=(self.mismatched_keys + other.mismatched_keys)[:SAMPLE_KEYS],
            sample_keys=(self.sample_keys + other.sample_keys)[:SAMPLE_KEYS],
        )


class Cursor(CamelModel):
    """Where the next invocation starts: which listing (state) and the page token, or the offset into the
    plan's key values. Always a page boundary: every detector before it is done, none after it is started."""

    source: Annotated[int, Field(ge=0)] = 0
    next_token: str | None = None
    offset: Annotated[int, Field(ge=0)] = 0


class Continuation(CamelModel):
    """The payload of the asynchronous invocation that carries a run on.

    Anyone allowed to invoke the function can send one, so it is checked as strictly as a plan: a cursor
    must point at work the plan still has (the job never hands over a run that is done).
    """

    run_id: RunId
    plan: ResetPlan
    cursor: Cursor
    totals: Totals
    invocation: Annotated[int, Field(ge=2)]
    started_at: FiniteFloat
    elapsed_seconds: Annotated[FiniteFloat, Field(ge=0)] = 0.0

    @field_validator("cursor")
    @classmethod
    def _within_the_plan(cls, cursor: Cursor, info: ValidationInfo) -> Cursor:
        plan = info.data.get("plan")
        if plan is None:
            return cursor  # the plan itself is invalid, and reported
        listings = plan.listings()
        if cursor.source >= len(listings):
            raise ValueError(f"source {cursor.source} is past the plan's {len(listings)} listing(s)")
        keys = listings[cursor.source].key_values
        if keys is None:
            if cursor.offset:
                raise ValueError("an offset goes only with a list of key values")
        elif cursor.next_token is not None:
            raise ValueError("a nextToken cannot go with a list of key values")
        elif cursor.offset >= len(keys):
            raise ValueError(f"offset {cursor.offset} is past the plan's {len(keys)} key value(s)")
        return cursor

    def to_event(self) -> dict[str, Any]:
        return {"continuation": self.model_dump(mode="json", by_alias=True)}


Status = Literal["complete", "continued", "incomplete"]


@dataclass(frozen=True, slots=True)
class ResetReport:
    run_id: str
    plan_name: str
    dry_run: bool
    status: Status
    totals: Totals  # the whole run so far
    this_invocation: Totals
    invocation: int
    duration_seconds: float  # the whole run so far, invocations only (not the time between them)
    reason: str = ""  # why a run is incomplete

    @property
    def continuations(self) -> int:
        return self.invocation - 1 + (1 if self.status == "continued" else 0)

    def problem(self, failure_share: float) -> str | None:
        """Why this run should count as failed, or None. Judged once the run has ended."""
        if self.status == "incomplete":
            return f"run {self.run_id} stopped before the end: {self.reason}"
        if self.status != "complete" or self.dry_run:
            return None
        failed = self.totals.failed_total
        attempted = self.totals.reset + failed
        if attempted and not self.totals.reset:
            return f"nothing could be reset: {failed} of {attempted} detector(s) failed"
        if attempted and failed / attempted > failure_share:
            return (
                f"{failed} of {attempted} detector(s) failed ({failed / attempted:.1%}), "
                f"more than the allowed {failure_share:.1%}"
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "plan": self.plan_name,
            "dryRun": self.dry_run,
            "status": self.status,
            **({"reason": self.reason} if self.reason else {}),
            **self.totals.model_dump(mode="json", by_alias=True),
            "durationSeconds": round(self.duration_seconds, 3),
            "continuations": self.continuations,
        }


@dataclass
class Tally:
    """The counts of one invocation, updated by every worker thread."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    matched: int = 0
    reset: int = 0
    preserved_variables: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    verified: int = 0
    verify_mismatches: int = 0
    verify_errors: int = 0
    skipped: int = 0
    matched_by_state: Counter[str] = field(default_factory=Counter)
    failed_keys: list[str] = field(default_factory=list)
    mismatched_keys: list[str] = field(default_factory=list)
    sample_keys: list[str] = field(default_factory=list)
    verify_slots: int | None = None  # how many more detectors may be verified; None = every one

    def add_matched(self, states: list[str | None], keys: list[str], *, skipped: bool) -> None:
        with self._lock:
            self.matched += len(states)
            self.matched_by_state.update(s for s in states if s is not None)
            if skipped:
                self.skipped += len(states)
                self.sample_keys.extend(keys[: max(0, SAMPLE_KEYS - len(self.sample_keys))])

    def add_state(self, state: str) -> None:
        with self._lock:
            self.matched_by_state[state] += 1

    def add_reset(self, count: int, preserved_variables: int = 0) -> None:
        with self._lock:
            self.reset += count
            self.preserved_variables += preserved_variables

    def add_failed(self, code: str, key_value: str) -> None:
        with self._lock:
            self.failed[code] += 1
            if len(self.failed_keys) < SAMPLE_KEYS:
                self.failed_keys.append(key_value)

    def take_verify_slot(self) -> bool:
        with self._lock:
            if self.verify_slots is None:
                return True
            if self.verify_slots <= 0:
                return False
            self.verify_slots -= 1
            return True

    def add_verified(self, key_value: str, *, matches: bool) -> None:
        with self._lock:
            self.verified += 1
            if not matches:
                self.verify_mismatches += 1
                if len(self.mismatched_keys) < SAMPLE_KEYS:
                    self.mismatched_keys.append(key_value)

    def add_verify_error(self) -> None:
        with self._lock:
            self.verify_errors += 1

    def snapshot(self) -> Totals:
        with self._lock:
            return Totals(
                matched=self.matched,
                reset=self.reset,
                preserved_variables=self.preserved_variables,
                failed=dict(self.failed),
                verified=self.verified,
                verify_mismatches=self.verify_mismatches,
                verify_errors=self.verify_errors,
                skipped=self.skipped,
                matched_by_state=dict(self.matched_by_state),
                failed_keys=list(self.failed_keys),
                mismatched_keys=list(self.mismatched_keys),
                sample_keys=list(self.sample_keys),
            )
