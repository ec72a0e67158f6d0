"""The FIFO queue of SendConnectorEvent requests, as its senders (the webhook receiver, and the connector
function for the answers it gets itself) put events on it; the forwarder takes them off.

The only code that sees SQS's errors for sending: they become DependencyUnavailableError("queue").
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from iotbridge.clients import failure_of
from iotbridge.errors import DependencyUnavailableError

from .queued import QueuedEvent

logger = Logger(child=True)


class SqsFifoEventQueue:
    """SendMessageBatch to the FIFO queue: at most 10 entries and 1 MiB a request.

    The one retry layer of this call (iotbridge.clients): the client makes one attempt, and this loop
    sends each chunk at most ATTEMPTS times in all, whether a whole call failed transiently or some of its
    entries did.
    """

    MAX_ENTRIES = 10
    MAX_REQUEST_BYTES = 1024 * 1024
    ATTEMPTS = 3
    # The client this adapter needs: one try per call (the loop below is the retry layer).
    CLIENT_ATTEMPTS = 1

    def __init__(
        self, client: Any, queue_url: str, *, group_key: bytes, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._group_key = group_key
        self._sleep = sleep

    def enqueue(self, events: Sequence[QueuedEvent]) -> None:
        # Requests go one after another: FIFO order within a group follows the order of sends.
        for chunk in self._chunks(events):
            self._send(chunk)

    def _chunks(self, events: Sequence[QueuedEvent]) -> list[list[tuple[QueuedEvent, str]]]:
        chunks: list[list[tuple[QueuedEvent, str]]] = []
        current: list[tuple[QueuedEvent, str]] = []
        size = 0
        for event in events:
            body = event.to_message_body()
            length = event.message_size
            if current and (len(current) == self.MAX_ENTRIES or size + length > self.MAX_REQUEST_BYTES):
                chunks.append(current)
                current, size = [], 0
            current.append((event, body))
            size += length
        if current:
            chunks.append(current)
        return chunks

    def _send(self, chunk: list[tuple[QueuedEvent, str]]) -> None:
        pending = {str(i): item for i, item in enumerate(chunk)}
        for attempt in range(self.ATTEMPTS):
            entries = [
                {
                    "Id": entry_id,
                    "MessageBody": body,
                    "MessageGroupId": event.message_group_id(self._group_key),
                    "MessageDeduplicationId": event.deduplication_id,
                }
                for entry_id, (event, body) in pending.items()
            ]
            try:
                response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                failure = failure_of(exc)
                logger.warning("queueing failed", extra={"error_code": failure.code, "attempt": attempt + 1})
                if not failure.transient:
                    raise DependencyUnavailableError("queue") from None
            else:
                failed = {f["Id"] for f in response.get("Failed", [])}
                for entry in response.get("Failed", []):
                    logger.warning(
                        "queue entry failed",
                        extra={"error_code": entry.get("Code"), "sender_fault": entry.get("SenderFault")},
                    )
                pending = {k: v for k, v in pending.items() if k in failed}
                if not pending:
                    return
            if attempt + 1 < self.ATTEMPTS:
                self._sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter, not crypto
        # Entries already sent carry deterministic deduplication ids: a retry by the sender won't repeat them.
        raise DependencyUnavailableError("queue")
