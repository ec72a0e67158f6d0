"""Lambda's SQS event source mapping, on one machine: receive a batch, invoke, delete what succeeded.

Failed records are left alone, so they come back after the queue's visibility timeout and, after
the redrive policy's maxReceiveCount receives, SQS moves them to the dead-letter queue. (Those behind the
first failed record of a FIFO message group are made visible at once, which keeps moto's FIFO order; and
a retry delay, when given, brings failed records back sooner than the visibility timeout.)
"""

from __future__ import annotations

import base64
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from .lambda_runtime import FunctionError, Invoker

log = logging.getLogger("bridge_local.sqs")

MAX_BATCH_SIZE = 10  # what ReceiveMessage returns at most; also the largest batch for a FIFO source


@dataclass
class BatchOutcome:
    received: int = 0
    deleted: int = 0
    failed: int = 0
    whole_batch_failed: bool = False


@dataclass
class PollerStats:
    batches: int = 0
    received: int = 0
    deleted: int = 0
    failed: int = 0
    batches_failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: BatchOutcome) -> None:
        with self._lock:
            self.batches += 1
            self.received += outcome.received
            self.deleted += outcome.deleted
            self.failed += outcome.failed
            self.batches_failed += int(outcome.whole_batch_failed)


def sqs_record(message: dict[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """One record of the event Lambda builds from a received SQS message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _record_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _record_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # Lambda's records carry camel-cased attribute members, binary values base64-encoded.
    converted: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [_b64(v) for v in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = _b64(value["BinaryValue"])
    return converted


def _b64(value: bytes | str) -> str:
    return base64.b64encode(value if isinstance(value, bytes) else value.encode("utf-8")).decode("ascii")


def failed_message_ids(result: Any, batch_ids: set[str]) -> set[str] | None:
    """The ids a partial batch response reports as failed; None when the response means the whole batch.

    As Lambda does: no response or one without failures is full success; a failure entry whose
    itemIdentifier is missing, empty or not in the batch makes the whole batch a failure.
    """
    if not isinstance(result, dict):
        return set()
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    ids: set[str] = set()
    for entry in failures:
        identifier = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return None
        ids.add(identifier)
    return ids


class SqsEventSource:
    """Feeds one queue to one function, batch by batch, until stopped."""

    def __init__(
        self,
        sqs: Any,
        *,
        queue_url: str,
        function: Invoker,
        batch_size: int = MAX_BATCH_SIZE,
        wait_seconds: int = 1,
        region: str = "us-east-1",
        retry_delay: int | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE}")
        self._sqs = sqs
        self.queue_url = queue_url
        self._function = function
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self._region = region
        # Seconds before a failed record is delivered again; None: the queue's visibility timeout, as Lambda.
        self._retry_delay = retry_delay
        self._queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.stats = PollerStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqs-event-source", daemon=True)

    def start(self) -> SqsEventSource:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def __enter__(self) -> SqsEventSource:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:
                # The mapping keeps polling through errors, as Lambda's does; back off a little.
                log.error("polling %s failed: %s", self.queue_url, exc)
                self._stop.wait(1.0)

    def poll_once(self) -> BatchOutcome:
        """Receive one batch (waiting up to the poll wait), invoke the function, delete what succeeded."""
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages") or []
        if not messages:
            return BatchOutcome()
        records = [sqs_record(m, queue_arn=self._queue_arn, region=self._region) for m in messages]
        outcome = self._deliver(records)
        self.stats.add(outcome)
        return outcome

    def _deliver(self, records: list[dict[str, Any]]) -> BatchOutcome:
        batch_ids = {r["messageId"] for r in records}
        try:
            result = self._function.invoke({"Records": records})
        except FunctionError as exc:
            log.warning("batch of %d failed as a whole: %s", len(records), exc.error_type)
            self._hand_back(records, batch_ids)
            return BatchOutcome(received=len(records), failed=len(records), whole_batch_failed=True)
        failed = failed_message_ids(result, batch_ids)
        if failed is None:
            log.warning("batch of %d failed as a whole: malformed batchItemFailures", len(records))
            self._hand_back(records, batch_ids)
            return BatchOutcome(received=len(records), failed=len(records), whole_batch_failed=True)
        done = [r for r in records if r["messageId"] not in failed]
        for start in range(0, len(done), MAX_BATCH_SIZE):
            chunk = done[start : start + MAX_BATCH_SIZE]
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)],
            )
        if failed:
            self._hand_back(records, failed)
            log.info(
                "%d of %d record(s) failed; they return after the retry delay or the visibility timeout",
                len(failed),
                len(records),
            )
        return BatchOutcome(received=len(records), deleted=len(done), failed=len(failed))

    def _hand_back(self, records: list[dict[str, Any]], failed: set[str]) -> None:
        """Set when the failed records come back.

        Each message group's first failed record comes back after the retry delay when one is set (else
        after the queue's visibility timeout, as with Lambda). The failed records behind it in its group are
        made visible at once: SQS delivers nothing more of a FIFO group until its first failed message is
        back, so for a consumer nothing changes, while moto, when several messages of one group come back
        together, hands out the later ones first.
        """
        groups: set[str] = set()
        changes: list[tuple[dict[str, Any], int]] = []
        for record in records:
            group = record["attributes"].get("MessageGroupId")
            if record["messageId"] not in failed:
                continue
            if group and group in groups:
                changes.append((record, 0))
            elif self._retry_delay is not None:
                changes.append((record, self._retry_delay))
            if group:
                groups.add(group)
        for start in range(0, len(changes), MAX_BATCH_SIZE):
            chunk = changes[start : start + MAX_BATCH_SIZE]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": delay}
                    for i, (r, delay) in enumerate(chunk)
                ],
            )
