"""Forward queued connector events to AWS IoT managed integrations, one SQS FIFO batch at a time.

The domain of the forwarder: what to do with each queued message (forward it, park it in the dead-letter
queue, or hand it back to SQS for a later attempt) and how a FIFO batch is worked through. It talks to AWS
only through the two ports below, so tests run it against in-memory fakes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from botocore.exceptions import ClientError, ParamValidationError

from .errors import Failure, classify
from .queued_event import QueuedEvent

OPERATION_NAME = "SendConnectorEvent"
MALFORMED_MESSAGE = "MalformedMessage"
UNEXPECTED_ERROR = "UnexpectedError"
CONNECTOR_EVENT_OPERATIONS = frozenset(
    {"DEVICE_COMMAND_RESPONSE", "DEVICE_DISCOVERY", "DEVICE_EVENT", "DEVICE_COMMAND_REQUEST"}
)
ATTRIBUTE_VALUE_MAX_CHARS = 256

# Characters SQS accepts in a String message attribute; anything else would fail the whole send.
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Parameter names in botocore's validation report; the report also quotes values, which must not leak.
_REPORTED_PARAMETER = re.compile(r'parameter(?: in input:)? "?([A-Za-z0-9_.\[\]]+)"?')


# --- Ports -------------------------------------------------------------------------------------------


class ConnectorEvents(Protocol):
    """AWS IoT managed integrations, as far as the forwarder needs it."""

    def send_connector_event(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """Send one event; return the parsed response. Raises botocore's errors (ClientError and the rest)."""
        ...


class DeadLetterQueue(Protocol):
    """The FIFO dead-letter queue where events that can never be delivered are parked for an operator."""

    def put(self, body: str, *, group_id: str, deduplication_id: str, attributes: Mapping[str, str]) -> None:
        """Store one message. Raises on any failure: the caller must not acknowledge what was not stored."""
        ...


# --- The batch as SQS hands it over --------------------------------------------------------------------


class NotAnSqsEvent(ValueError):
    """The invocation event is not an SQS batch (a wiring mistake, not a message problem)."""


@dataclass(frozen=True, slots=True)
class SqsRecord:
    """One message of an SQS event, with only what the forwarder reads."""

    message_id: str
    body: str
    group_id: str | None = None
    deduplication_id: str | None = None
    receive_count: int = 1

    @classmethod
    def from_event_record(cls, record: object) -> SqsRecord:
        if not isinstance(record, Mapping):
            raise NotAnSqsEvent("every item of 'Records' must be an object")
        message_id = record.get("messageId")
        body = record.get("body")
        if not isinstance(message_id, str) or not message_id or not isinstance(body, str):
            raise NotAnSqsEvent("an SQS record needs a 'messageId' and a string 'body'")
        attributes = record.get("attributes")
        attributes = attributes if isinstance(attributes, Mapping) else {}
        receive_count = str(attributes.get("ApproximateReceiveCount") or "1")
        return cls(
            message_id=message_id,
            body=body,
            group_id=attributes.get("MessageGroupId") or None,
            deduplication_id=attributes.get("MessageDeduplicationId") or None,
            receive_count=int(receive_count) if receive_count.isdigit() else 1,
        )


def records_from_event(event: object) -> list[SqsRecord]:
    """The records of an SQS event, in delivery order. Raises NotAnSqsEvent on anything else."""
    if not isinstance(event, Mapping) or not isinstance(event.get("Records"), list):
        raise NotAnSqsEvent("expected an SQS event: an object with a 'Records' list")
    return [SqsRecord.from_event_record(record) for record in event["Records"]]


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
class Outcome:
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
    outcomes: tuple[Outcome, ...]  # in the batch's order

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

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The partial batch response Lambda expects with ReportBatchItemFailures."""
        return {
            "batchItemFailures": [
                {"itemIdentifier": outcome.record.message_id}
                for outcome in self.outcomes
                if not outcome.disposition.acknowledged
            ]
        }


# --- Deciding ------------------------------------------------------------------------------------------


class MalformedMessage(ValueError):
    """A queued message the forwarder cannot turn into a request. Its text never quotes the body."""


def parse_queued_event(body: str) -> QueuedEvent:
    try:
        queued = QueuedEvent.from_message_body(body)
    except json.JSONDecodeError:
        raise MalformedMessage("message body is not valid JSON") from None
    except KeyError as exc:
        raise MalformedMessage(f"message body lacks the member {exc.args[0]!r}") from None
    except (ValueError, TypeError):
        # The exception text may quote a value from the body, so it is not passed on.
        raise MalformedMessage("message body is not a queued connector event") from None
    if not queued.connector_id:
        raise MalformedMessage("message body names no connector")
    if queued.event.get("ConnectorId", queued.connector_id) != queued.connector_id:
        # Routing comes from the envelope the receiver authenticated, never from the payload.
        raise MalformedMessage("event names a different connector than its envelope")
    return queued


def safe_error_message(exc: BaseException, failure: Failure) -> str:
    """A description of a failed send fit for logs and message attributes: service texts may quote values."""
    if isinstance(exc, ParamValidationError):
        names = sorted(set(_REPORTED_PARAMETER.findall(str(exc.kwargs.get("report", "")))))
        listed = f": {', '.join(names)}" if names else ""
        return f"{OPERATION_NAME} request failed parameter validation{listed}"
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        suffix = f" (HTTP {status})" if status else ""
        return f"{OPERATION_NAME} failed with {failure.code}{suffix}"
    return f"{OPERATION_NAME} failed with {failure.code}"


def retries_made(exc_or_response: BaseException | Mapping[str, Any], max_attempts: int) -> int:
    """In-call retries botocore made, from the response metadata it records on results and on errors."""
    response: Any = exc_or_response
    if isinstance(exc_or_response, BaseException):
        response = getattr(exc_or_response, "response", None)
        if not isinstance(response, Mapping):
            # No HTTP response at all (connection failures, timeouts): botocore's standard mode retries these
            # until its attempts run out, so this is the count, or an upper bound if its retry quota ran dry.
            return max(0, max_attempts - 1)
    metadata = response.get("ResponseMetadata") if isinstance(response, Mapping) else None
    attempts = metadata.get("RetryAttempts") if isinstance(metadata, Mapping) else None
    return attempts if isinstance(attempts, int) and attempts >= 0 else 0


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
    return operation if operation in CONNECTOR_EVENT_OPERATIONS else None


class Forwarder:
    """Forwards one record, or a whole FIFO batch, and says what became of each record."""

    def __init__(
        self,
        events: ConnectorEvents,
        dead_letters: DeadLetterQueue,
        *,
        workers: int = 10,
        max_attempts: int = 3,
        time_margin_seconds: float = 0.0,
    ) -> None:
        self._events = events
        self._dead_letters = dead_letters
        self._workers = max(1, workers)
        self._max_attempts = max_attempts
        self._time_margin = time_margin_seconds

    def forward(self, record: SqsRecord) -> Outcome:
        try:
            queued = parse_queued_event(record.body)
        except MalformedMessage as exc:
            return self._dead_letter(record, None, MALFORMED_MESSAGE, str(exc), retries=0)
        try:
            response = self._events.send_connector_event(queued.send_connector_event_params())
        except Exception as exc:
            failure = classify(exc)
            retries = retries_made(exc, self._max_attempts)
            if failure.transient:
                return self._outcome(record, queued, Disposition.RETRY, retries, error_code=failure.code)
            return self._dead_letter(record, queued, failure.code, safe_error_message(exc, failure), retries)
        return self._outcome(
            record, queued, Disposition.FORWARDED, retries_made(response, self._max_attempts)
        )

    def forward_batch(
        self, records: Sequence[SqsRecord], *, time_left: Callable[[], float] | None = None
    ) -> BatchReport:
        """Forward a batch: message groups side by side, each group in order, stopping at its first failure.

        Lambda's guidance for FIFO sources is to stop at the first failure and report it with every record
        after it. Ordering in SQS FIFO holds only within a message group (one device here), so stopping
        just the failed group keeps every guarantee SQS makes while the other devices' events go on; this
        is what Powertools' SqsFifoPartialProcessor(skip_group_on_error=True) does, but that processor
        works through the records one at a time, and groups are independent, so here they run in parallel.
        """
        groups: dict[str, list[int]] = {}
        for position, record in enumerate(records):
            # A record without a group (a standard queue) has no ordering to keep.
            groups.setdefault(record.group_id or f"message:{record.message_id}", []).append(position)
        outcomes: list[Outcome | None] = [None] * len(records)

        def work_through(positions: Iterable[int]) -> None:
            stopped = False
            for position in positions:
                record = records[position]
                if not stopped and time_left is not None and time_left() < self._time_margin:
                    stopped = True
                if stopped:
                    outcomes[position] = Outcome(record, Disposition.HELD_BACK)
                    continue
                outcome = self._forward_containing_surprises(record)
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

    def _forward_containing_surprises(self, record: SqsRecord) -> Outcome:
        try:
            return self.forward(record)
        except Exception:
            # A defect must not take the other groups down: SQS retries this record, then dead-letters it.
            return Outcome(record, Disposition.RETRY, error_code=UNEXPECTED_ERROR)

    def _dead_letter(
        self, record: SqsRecord, queued: QueuedEvent | None, code: str, message: str, retries: int
    ) -> Outcome:
        attributes = {"ErrorCode": code, "ErrorMessage": message, "SourceMessageId": record.message_id}
        if queued is not None:
            attributes |= {"ConnectorId": queued.connector_id, "WebhookId": queued.webhook_id}
        group_id = record.group_id or (queued.message_group_id if queued is not None else MALFORMED_MESSAGE)
        try:
            self._dead_letters.put(
                record.body,
                group_id=group_id,
                deduplication_id=dead_letter_deduplication_id(record),
                attributes={name: _attribute_text(value) for name, value in attributes.items() if value},
            )
        except Exception as exc:
            return self._outcome(
                record,
                queued,
                Disposition.DEAD_LETTER_FAILED,
                retries,
                error_code=code,
                dead_letter_error_code=classify(exc).code,
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
    ) -> Outcome:
        return Outcome(
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
