"""The reset job: stream the detectors a plan selects, reset them in batches on a few workers, report.

Listing runs on the calling thread and feeds a bounded queue, so memory stays at about one page plus the
queue whatever the fleet size. When the time budget runs low the job stops at a page boundary, lets the
workers finish what is queued, and hands the rest of the run to a continuation, so that no detector is
reset twice or skipped.
"""

from __future__ import annotations

import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from aws_lambda_powertools import Logger

from iotbridge.budget import TimeBudget
from iotbridge.errors import ServiceCallError

from ..ports import (
    ContinuationSink,
    DetectorRef,
    DetectorService,
    DetectorSnapshot,
    DetectorUpdate,
    InputMessage,
    ItemError,
)
from ..settings import ResetSettings
from .plan import (
    MAX_MESSAGES_PER_REQUEST,
    Listing,
    MessageAction,
    ResetPlan,
    UpdateAction,
    render_payload,
)
from .progress import Continuation, Cursor, ResetReport, Status, Tally, Totals

logger = Logger(child=True)

MAX_PAGE_SIZE = 250  # ListDetectors maxResults
NOT_FOUND = "ResourceNotFoundException"

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class JobOptions:
    batch_size: int = 10
    workers: int = 4
    max_item_attempts: int = 8
    time_margin_seconds: float = 60.0
    page_size: int = MAX_PAGE_SIZE
    backoff_base_seconds: float = 0.05
    backoff_cap_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings: ResetSettings) -> JobOptions:
        return cls(
            batch_size=settings.batch_size,
            workers=settings.workers,
            max_item_attempts=settings.max_item_attempts,
            time_margin_seconds=settings.time_margin_seconds,
        )


class ResetJob:
    def __init__(
        self,
        service: DetectorService,
        *,
        options: JobOptions,
        budget: TimeBudget,
        continuation_sink: ContinuationSink | None = None,
        progress: Callable[[Totals], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._service = service
        self._options = options
        self._budget = budget
        self._sink = continuation_sink
        self._progress = progress
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._clock = clock
        self._wall_clock = wall_clock

    # ------------------------------------------------------------------ run

    def run(self, plan: ResetPlan, *, resume: Continuation | None = None) -> ResetReport:
        started = self._clock()
        run_id = resume.run_id if resume else uuid.uuid4().hex
        carried = resume.totals if resume else Totals()
        invocation = resume.invocation if resume else 1
        cursor = resume.cursor if resume else Cursor()
        run = _Run(self, plan, run_id)
        if plan.verify is not None and plan.verify.sample_size is not None:
            used = carried.verified + carried.verify_errors
            run.tally.verify_slots = max(0, plan.verify.sample_size - used)

        status, reason, next_cursor = run.execute(cursor)
        this_invocation = run.tally.snapshot()
        totals = carried.plus(this_invocation)
        elapsed = (resume.elapsed_seconds if resume else 0.0) + (self._clock() - started)

        if status == "continued":
            assert next_cursor is not None and self._sink is not None
            continuation = Continuation(
                run_id=run_id,
                plan=plan,
                cursor=next_cursor,
                totals=totals,
                invocation=invocation + 1,
                started_at=resume.started_at if resume else self._wall_clock() - elapsed,
                elapsed_seconds=elapsed,
            )
            try:
                self._sink.continue_later(continuation.to_event())
            except ServiceCallError as exc:
                logger.error("could not start the continuation", extra={"code": exc.failure.code})
                status, reason = "incomplete", f"could not start the continuation ({exc.failure.code})"
        return ResetReport(
            run_id=run_id,
            plan_name=plan.name,
            dry_run=plan.dry_run,
            status=status,
            totals=totals,
            this_invocation=this_invocation,
            invocation=invocation,
            duration_seconds=elapsed,
            reason=reason,
        )

    # ------------------------------------------------------------ retrying

    def backoff(self, attempt: int) -> None:
        """Exponential backoff with full jitter before attempt `attempt + 1`."""
        options = self._options
        ceiling = min(options.backoff_cap_seconds, options.backoff_base_seconds * 2 ** (attempt - 1))
        self._sleep(self._rng.uniform(0.0, ceiling))

    def call(self, operation: Callable[[], R]) -> R:
        """One call, retried while it fails transiently, up to the attempt bound."""
        attempt = 1
        while True:
            try:
                return operation()
            except ServiceCallError as exc:
                if not exc.failure.transient or attempt >= self._options.max_item_attempts:
                    raise
            self.backoff(attempt)
            attempt += 1

    def deliver(
        self, items: list[T], send: Callable[[list[tuple[str, T]]], list[ItemError]]
    ) -> tuple[list[int], list[tuple[int, str]]]:
        """Send `items` in one batch call, resending throttled or failed entries (and failed calls).

        Returns the indexes of the items delivered and (index, code) of those that were not.
        """
        pending = list(range(len(items)))
        delivered: list[int] = []
        failed: list[tuple[int, str]] = []
        attempt = 1
        while pending:
            ids = {f"r{uuid.uuid4().hex}": index for index in pending}
            try:
                errors = send([(message_id, items[index]) for message_id, index in ids.items()])
            except ServiceCallError as exc:
                if not exc.failure.transient or attempt >= self._options.max_item_attempts:
                    failed.extend((index, exc.failure.code) for index in pending)
                    return delivered, failed
                self.backoff(attempt)
                attempt += 1
                continue
            by_id = {error.message_id: error for error in errors}
            retry = []
            for message_id, index in ids.items():
                error = by_id.get(message_id)
                if error is None:
                    delivered.append(index)
                elif error.retryable and attempt < self._options.max_item_attempts:
                    retry.append(index)
                else:
                    failed.append((index, error.code))
            pending = retry
            if pending:
                self.backoff(attempt)
                attempt += 1
        return delivered, failed


class _Run:
    """One invocation's share of a run: the listing thread, the queue and the workers."""

    def __init__(self, job: ResetJob, plan: ResetPlan, run_id: str) -> None:
        self.job = job
        self.plan = plan
        self.run_id = run_id
        self.tally = Tally()
        options = job._options
        batch_size = options.batch_size
        if isinstance(plan.action, MessageAction):
            batch_size = min(batch_size, MAX_MESSAGES_PER_REQUEST)
        self.batch_size = batch_size
        self.page_size = max(1, min(options.page_size, MAX_PAGE_SIZE))
        self.batches: queue.Queue[list[DetectorRef] | None] = queue.Queue(maxsize=options.workers * 2)

    # -------------------------------------------------------------- listing

    def execute(self, cursor: Cursor) -> tuple[Status, str, Cursor | None]:
        workers = [
            threading.Thread(target=self._work, name=f"reset-worker-{n}", daemon=True)
            for n in range(self.job._options.workers)
        ]
        for worker in workers:
            worker.start()
        try:
            status, reason, next_cursor = self._list_from(cursor)
        finally:
            for _ in workers:
                self.batches.put(None)
            for worker in workers:
                worker.join()
        return status, reason, next_cursor

    def _out_of_time(self) -> bool:
        job = self.job
        return job._sink is not None and job._budget.remaining_seconds() < job._options.time_margin_seconds

    def _list_from(self, cursor: Cursor) -> tuple[Status, str, Cursor | None]:
        sources = self.plan.listings()
        pages_done = 0
        while cursor.source < len(sources):
            # Stop only between pages, and only after at least one page, so every invocation makes progress.
            if pages_done and self._out_of_time():
                return "continued", "", cursor
            source = sources[cursor.source]
            try:
                detectors, cursor = self._page(source, cursor, len(sources))
            except ServiceCallError as exc:
                logger.warning(
                    "listing detectors failed", extra={"code": exc.failure.code, "state": source.state_name}
                )
                return "incomplete", f"listing detectors failed ({exc.failure.code})", None
            self._enqueue(detectors, listed=source.key_values is None)
            pages_done += 1
            if self.job._progress is not None:
                self.job._progress(self.tally.snapshot())
        return "complete", "", None

    def _page(self, source: Listing, cursor: Cursor, count: int) -> tuple[list[DetectorRef], Cursor]:
        """The detectors of the page at `cursor`, and the cursor just after that page."""
        if source.key_values is not None:
            end = cursor.offset + self.page_size
            detectors = [DetectorRef(key) for key in source.key_values[cursor.offset : end]]
            if end >= len(source.key_values):
                return detectors, Cursor(source=cursor.source + 1)
            return detectors, Cursor(source=cursor.source, offset=end)
        plan = self.plan
        page = self.job.call(
            lambda: self.job._service.list_detectors(
                plan.detector_model_name,
                state_name=source.state_name,
                next_token=cursor.next_token,
                max_results=self.page_size,
            )
        )
        if page.next_token:
            return page.detectors, Cursor(source=cursor.source, next_token=page.next_token)
        return page.detectors, Cursor(source=cursor.source + 1)

    def _enqueue(self, detectors: list[DetectorRef], *, listed: bool) -> None:
        dry_run = self.plan.dry_run
        # A dry run of listed detectors knows all it needs already; key values are looked up by the workers.
        self.tally.add_matched(
            [d.state_name for d in detectors], [d.key_value for d in detectors], skipped=dry_run
        )
        if dry_run and listed:
            return
        for start in range(0, len(detectors), self.batch_size):
            self.batches.put(detectors[start : start + self.batch_size])

    # -------------------------------------------------------------- workers

    def _work(self) -> None:
        while True:
            batch = self.batches.get()
            if batch is None:
                return
            try:
                if self.plan.dry_run:
                    self._look_up(batch)
                elif isinstance(self.plan.action, UpdateAction):
                    self._update(batch, self.plan.action)
                else:
                    self._send_messages(batch, self.plan.action)
            except Exception as exc:
                # A fault of ours in one batch must not stop the others; it is counted, not hidden.
                logger.exception("reset batch failed unexpectedly", extra={"error": type(exc).__name__})
                for detector in batch:
                    self.tally.add_failed("InternalError", detector.key_value)

    def _describe(self, key_value: str) -> DetectorSnapshot:
        plan = self.plan
        return self.job.call(lambda: self.job._service.describe_detector(plan.detector_model_name, key_value))

    def _look_up(self, batch: list[DetectorRef]) -> None:
        for detector in batch:
            try:
                snapshot = self._describe(detector.key_value)
            except ServiceCallError as exc:
                if exc.failure.code == NOT_FOUND:
                    self.tally.add_state("(not found)")
                else:
                    self.tally.add_failed(exc.failure.code, detector.key_value)
                continue
            self.tally.add_state(snapshot.state_name)

    def _update(self, batch: list[DetectorRef], action: UpdateAction) -> None:
        preserve = list(action.preserve_variables)
        base_variables = tuple((v.name, v.value) for v in action.variables)
        timers = tuple((t.name, t.seconds) for t in action.timers)
        updates: list[DetectorUpdate] = []
        preserved_counts: list[int] = []
        for detector in batch:
            carried: tuple[tuple[str, str], ...] = ()
            if preserve:
                try:
                    current = self._describe(detector.key_value)
                except ServiceCallError as exc:
                    self.tally.add_failed(exc.failure.code, detector.key_value)
                    continue
                carried = tuple((n, current.variables[n]) for n in preserve if n in current.variables)
            variables = base_variables + carried
            updates.append(DetectorUpdate(detector.key_value, action.state_name, variables, timers))
            preserved_counts.append(len(carried))
        if not updates:
            return
        model = self.plan.detector_model_name
        delivered, failed = self.job.deliver(
            updates, lambda entries: self.job._service.update_detectors(model, entries)
        )
        for index, code in failed:
            self.tally.add_failed(code, updates[index].key_value)
        self.tally.add_reset(len(delivered), sum(preserved_counts[i] for i in delivered))
        if self.plan.verify is not None:
            for index in delivered:
                if self.tally.take_verify_slot():
                    self._verify(updates[index])

    def _verify(self, update: DetectorUpdate) -> None:
        try:
            current = self._describe(update.key_value)
        except ServiceCallError:
            self.tally.add_verify_error()
            return
        expected = dict(update.variables)
        matches = current.state_name == update.state_name and all(
            current.variables.get(name) == value for name, value in expected.items()
        )
        self.tally.add_verified(update.key_value, matches=matches)

    def _send_messages(self, batch: list[DetectorRef], action: MessageAction) -> None:
        now = datetime.fromtimestamp(self.job._wall_clock(), UTC).isoformat()
        destination = self.plan.message_destination(action)
        messages = [
            InputMessage(
                destination,
                render_payload(
                    action.payload_template,
                    key_value=detector.key_value,
                    plan_name=self.plan.name,
                    run_id=self.run_id,
                    time=now,
                ),
            )
            for detector in batch
        ]
        delivered, failed = self.job.deliver(messages, self.job._service.put_messages)
        for index, code in failed:
            self.tally.add_failed(code, batch[index].key_value)
        self.tally.add_reset(len(delivered))
