"""Forward queued connector events to AWS IoT managed integrations, one SQS FIFO batch at a time.

What to do with each queued message (forward it, park it in the dead-letter queue, or hand it back to SQS
for a later attempt) and how a FIFO batch is worked through. It talks to AWS only through the ports, so
tests run it against in-memory fakes.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

from iotbridge.budget import TimeBudget
from iotbridge.errors import PermanentError, ServiceCallError
from iotbridge.send_connector_event.operations import OPERATIONS
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.telemetry import Measurement

from ..ports import ConnectorEvents, DeadLetterQueue

MALFORMED_MESSAGE = "MalformedMessage"
UNEXPECTED_ERROR = "UnexpectedError"
ATTRIBUTE_VALUE_MAX_CHARS = 256

# Characters SQS accepts in a String message attribute; anything else would fail the whole send.
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# --- The batch as SQS hands it over --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SqsRecord:
    """One message of an SQS event, with only what the forwarder reads."""

    message_id: str
    body: str
    group_id: str | None = None
    deduplication_id: str | None = None
    receive_count: int = 1


# --- What happened to each record -----------------------------------------------------------------------


class Disposition(StrEnum):
    FORWARDED = "forwarded"
    DEAD_LETTERED = "dead_lettered"
    # A transient failure: SQS delivers the record again (and after maxReceiveCount moves it itself).
    RETRY = "retry"
    # Permanent failure, but the dead-letter queue did not take it either: SQS delivers it again.
    DEAD_LETTER_FAILED = "dead_letter_failed"
    # Not attempted: an earlier record of its message group failed, or the invocation ran out of time.
    HELD_BACK = "held_back"

    @property
    def acknowledged(self) -> bool:
        """True when SQS may delete the record: it reached AWS, or it is safely in the dead-letter queue."""
        return self in (Disposition.FORWARDED, Disposition.DEAD_LETTERED)


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """The fate of one record. Holds nothing sensitive: safe to log and to turn into metrics."""

    record: SqsRecord
    disposition: Disposition
    retries: int = 0
    error_code: str | None = None
    dead_letter_error_code: str | None = None
    connector_id: str | None = None
    webhook_id: str | None = None
    index: int | None = None
    operation: str | None = None


@dataclass(frozen=True, slots=True)
class BatchReport:
    outcomes: tuple[RecordOutcome, ...]  # in the batch's order

    def count(self, disposition: Disposition) -> int:
        return sum(1 for outcome in self.outcomes if outcome.disposition is disposition)

    @property
    def retries(self) -> int:
        return sum(outcome.retries for outcome in self.outcomes)

    def dead_lettered_by_code(self) -> Counter[str]:
        return Counter(
            outcome.error_code or MALFORMED_MESSAGE
            for outcome in self.outcomes
            if outcome.disposition is Disposition.DEAD_LETTERED
        )

    def unacknowledged(self) -> list[str]:
        """Message ids of the records SQS must deliver again, in the batch's order."""
        return [o.record.message_id for o in self.outcomes if not o.disposition.acknowledged]

    def measurements(self) -> list[Measurement]:
        found = [
            Measurement("Forwarded", self.count(Disposition.FORWARDED)),
            Measurement("Retried", self.retries),
            Measurement("TransientFailure", self.count(Disposition.RETRY)),
            Measurement("DeadLetterFailure", self.count(Disposition.DEAD_LETTER_FAILED)),
            Measurement("HeldBack", self.count(Disposition.HELD_BACK)),
        ]
        # Each code its own metric: the ErrorCode dimension must not apply to the batch's other metrics.
        found.extend(
            Measurement("DeadLettered", count, dimensions={"ErrorCode": code})
            for code, count in sorted(self.dead_lettered_by_code().items())
        )
        return found


# --- Deciding ------------------------------------------------------------------------------------------


class MalformedMessageError(PermanentError):
    """A queued message the forwarder cannot turn into a request. Its text never quotes the body."""


def parse_queued_event(body: str) -> QueuedEvent:
    try:
        queued = QueuedEvent.from_message_body(body)
    except json.JSONDecodeError:
        raise MalformedMessageError("message body is not valid JSON") from None
    except KeyError as exc:
        raise MalformedMessageError(f"message body lacks the member {exc.args[0]!r}") from None
    except (ValueError, TypeError, OverflowError):
        # The exception text may quote a value from the body, so it is not passed on.
        raise MalformedMessageError("message body is not a queued connector event") from None
    except RecursionError:
        raise MalformedMessageError("message body nests too deep to be read") from None
    if not queued.connector_id:
        raise MalformedMessageError("message body names no connector")
    if queued.event.get("ConnectorId", queued.connector_id) != queued.connector_id:
        # Routing comes from the envelope the receiver authenticated, never from the payload.
        raise MalformedMessageError("event names a different connector than its envelope")
    return queued


def dead_letter_deduplication_id(record: SqsRecord) -> str:
    """One id per source message: a redelivery of it is deduplicated by SQS, a later redrive of it is not.

    The original deduplication id would make SQS silently drop a message that is redriven to the source
    queue and dead-lettered again within the five-minute deduplication window.
    """
    return hashlib.sha256(f"dead-letter\x00{record.message_id}".encode()).hexdigest()


def _attribute_text(value: str) -> str:
    return _NOT_SQS_TEXT.sub("?", value)[:ATTRIBUTE_VALUE_MAX_CHARS]


def _operation_of(queued: QueuedEvent | None) -> str | None:
    operation = queued.event.get("Operation") if queued is not None else None
    return operation if operation in OPERATIONS else None


class Forwarder:
    """Forwards one record, or a whole FIFO batch, and says what became of each record.

    It is the one retry layer of SendConnectorEvent (see iotbridge.clients): the client makes one try per
    call, and a transient failure is tried again, up to `max_attempts` tries in all, only while the worst
    case of one more try and of the dead-letter put after it still fits in the invocation. A record is
    started only while one try and one put fit. So an invocation never runs past its deadline on a slow or
    hanging service, and no record that was forwarded is sent again because the batch timed out.
    """

    def __init__(
        self,
        events: ConnectorEvents,
        dead_letters: DeadLetterQueue,
        *,
        workers: int = 10,
        max_attempts: int = 3,
        call_seconds: float = 0.0,
        max_receives: int | None = None,
        backoff_base_seconds: float = 0.1,
        backoff_cap_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._events = events
        self._dead_letters = dead_letters
        self._workers = max(1, workers)
        self._max_attempts = max(1, max_attempts)
        # The longest one call may take (connect and read timeouts): a try, or the dead-letter put.
        self._call_seconds = call_seconds
        # The delivery after which SQS moves a record to the dead-letter queue itself, without a reason.
        self._max_receives = max_receives
        self._backoff = (backoff_base_seconds, backoff_cap_seconds)
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def forward(self, record: SqsRecord, budget: TimeBudget | None = None) -> RecordOutcome:
        try:
            queued = parse_queued_event(record.body)
        except MalformedMessageError as exc:
            return self._dead_letter(record, None, MALFORMED_MESSAGE, str(exc), retries=0)
        params = queued.send_connector_event_params()
        retries = 0
        while True:
            try:
                self._events.send_connector_event(params)
            except ServiceCallError as exc:
                # Transient or permanent by the one retry rule: iotbridge.errors.code_is_transient.
                if not exc.transient:
                    return self._dead_letter(record, queued, exc.code, exc.failure.message, retries)
                pause = self._pause(retries + 1)
                if retries + 1 < self._max_attempts and self._fits(budget, pause):
                    self._sleep(pause)
                    retries += 1
                    continue
                if self._max_receives is not None and record.receive_count >= self._max_receives:
                    # Its last delivery: dead-lettered here, with why, rather than by SQS without a reason.
                    reason = f"{exc.failure.message}; still failing at delivery {record.receive_count}"
                    return self._dead_letter(record, queued, exc.code, reason, retries)
                return self._outcome(record, queued, Disposition.RETRY, retries, error_code=exc.code)
            return self._outcome(record, queued, Disposition.FORWARDED, retries)

    def _pause(self, attempt: int) -> float:
        """Exponential backoff with full jitter before try `attempt + 1`."""
        base, cap = self._backoff
        return self._rng.uniform(0.0, min(cap, base * 2 ** (attempt - 1)))

    def _fits(self, budget: TimeBudget | None, pause: float = 0.0) -> bool:
        """Whether a pause, one more try and a dead-letter put after it all fit in what is left."""
        return budget is None or budget.remaining_seconds() >= pause + 2 * self._call_seconds

    def forward_batch(self, records: Sequence[SqsRecord], budget: TimeBudget | None = None) -> BatchReport:
        """Forward a batch: message groups side by side, each group in order, stopping at its first failure.

        Lambda's guidance for FIFO sources is to stop at the first failure and report it with every record
        after it. Ordering in SQS FIFO holds only within a message group (one device here), so stopping
        just the failed group keeps every guarantee SQS makes while the other devices' events go on; this
        is what Powertools' SqsFifoPartialProcessor(skip_group_on_error=True) does, but that processor
        works through the records one at a time, and groups are independent, so here they run in parallel: a
        batch of 10 groups takes less than twice one call's time, not ten times (docs/benchmarks.md,
        "Forwarder").
        """
        groups: dict[str, list[int]] = {}
        for position, record in enumerate(records):
            # A record without a group (a standard queue) has no ordering to keep.
            groups.setdefault(record.group_id or f"message:{record.message_id}", []).append(position)
        outcomes: list[RecordOutcome | None] = [None] * len(records)

        def work_through(positions: Iterable[int]) -> None:
            stopped = False
            for position in positions:
                record = records[position]
                if not stopped and not self._fits(budget):
                    stopped = True
                if stopped:
                    outcomes[position] = RecordOutcome(record, Disposition.HELD_BACK)
                    continue
                outcome = self._forward_containing_surprises(record, budget)
                outcomes[position] = outcome
                stopped = not outcome.disposition.acknowledged

        workers = min(self._workers, len(groups))
        if workers <= 1:
            for positions in groups.values():
                work_through(positions)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="forward") as pool:
                for running in [pool.submit(work_through, positions) for positions in groups.values()]:
                    running.result()
        return BatchReport(tuple(outcome for outcome in outcomes if outcome is not None))

    def _forward_containing_surprises(self, record: SqsRecord, budget: TimeBudget | None) -> RecordOutcome:
        try:
            return self.forward(record, budget)
        except Exception:
            # A defect must not take the other groups down: SQS retries this record, then dead-letters it.
            return RecordOutcome(record, Disposition.RETRY, error_code=UNEXPECTED_ERROR)

    def _dead_letter(
        self, record: SqsRecord, queued: QueuedEvent | None, code: str, message: str, retries: int
    ) -> RecordOutcome:
        attributes = {"ErrorCode": code, "ErrorMessage": message, "SourceMessageId": record.message_id}
        if queued is not None:
            attributes |= {"ConnectorId": queued.connector_id, "WebhookId": queued.webhook_id}
        # A record always has its group on a FIFO queue; without one, the connector's (or one for all).
        group_id = record.group_id or (queued.connector_id if queued is not None else MALFORMED_MESSAGE)
        try:
            self._dead_letters.put(
                record.body,
                group_id=group_id,
                deduplication_id=dead_letter_deduplication_id(record),
                attributes={name: _attribute_text(value) for name, value in attributes.items() if value},
            )
        except Exception as exc:
            failed_with = exc.code if isinstance(exc, ServiceCallError) else type(exc).__name__
            return self._outcome(
                record,
                queued,
                Disposition.DEAD_LETTER_FAILED,
                retries,
                error_code=code,
                dead_letter_error_code=failed_with,
            )
        return self._outcome(record, queued, Disposition.DEAD_LETTERED, retries, error_code=code)

    @staticmethod
    def _outcome(
        record: SqsRecord,
        queued: QueuedEvent | None,
        disposition: Disposition,
        retries: int,
        *,
        error_code: str | None = None,
        dead_letter_error_code: str | None = None,
    ) -> RecordOutcome:
        return RecordOutcome(
            record=record,
            disposition=disposition,
            retries=retries,
            error_code=error_code,
            dead_letter_error_code=dead_letter_error_code,
            connector_id=queued.connector_id if queued is not None else None,
            webhook_id=queued.webhook_id if queued is not None else None,
            index=queued.index if queued is not None else None,
            operation=_operation_of(queued),
        )
