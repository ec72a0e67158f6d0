"""The webhook receiver's Lambda handler wired to in-memory stand-ins of Secrets Manager, SQS and DynamoDB.

The stand-ins behave like the services for the receiver's purposes: keys per connector, a FIFO list of
queued events, and an idempotency record per (connector, webhook id) that is released when the action
fails. Each can be told to fail, so the failure paths run through the real handler too.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import webhook_receiver
from bridge_local.samples import DEMO_CONNECTOR_ID, DEMO_SECRET, http_api_event, signed_headers
from intake import InProgress, IntakeLimits, WebhookIntake
from iotbridge.queued_event import QueuedEvent
from iotbridge.webhook_signature import parse_secrets

NOW = 1_790_000_000
TOLERANCE_SECONDS = 300
# Every status the receiver documents; anything else (a 500 above all) is a defect.
DOCUMENTED_STATUSES = frozenset({202, 400, 401, 413, 415, 422, 503})

# Bounded by default (a few seconds per test); HYPOTHESIS_PROFILE=record runs 20 times as many examples.
EXAMPLES = {"record": 2000}.get(os.environ.get("HYPOTHESIS_PROFILE", ""), 100)
bounded = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


class InMemorySigningKeys:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.failure: Exception | None = None

    def keys_for(self, connector_id: str) -> tuple[bytes, ...] | None:
        if self.failure is not None:
            raise self.failure
        value = self.secrets.get(connector_id)
        return parse_secrets(value) if value else None


class InMemoryFifoQueue:
    def __init__(self) -> None:
        self.messages: list[QueuedEvent] = []
        self.failure: Exception | None = None

    def enqueue(self, events: Sequence[QueuedEvent]) -> None:
        if self.failure is not None:
            raise self.failure
        # What SQS receives is the message body: keep what the forwarder will read back, not the object.
        self.messages.extend(QueuedEvent.from_message_body(e.to_message_body()) for e in events)


class InMemoryIdempotencyTable:
    """Like the idempotency table's record: kept on success, released when the action raises."""

    def __init__(self) -> None:
        self.context: Any = None
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.in_progress: set[tuple[str, str]] = set()
        self.failure: Exception | None = None

    def bind_context(self, context: Any) -> None:
        self.context = context

    def once(
        self, connector_id: str, webhook_id: str, action: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        if self.failure is not None:
            raise self.failure
        key = (connector_id, webhook_id)
        if key in self.in_progress:
            raise InProgress
        if key in self.records:
            return self.records[key], True
        self.in_progress.add(key)
        try:
            result = action()
        finally:
            self.in_progress.discard(key)
        self.records[key] = result
        return result, False


@dataclass
class Receiver:
    keys: InMemorySigningKeys
    queue: InMemoryFifoQueue
    table: InMemoryIdempotencyTable
    context: Any
    invocations: int = field(default=0)

    def reset(self) -> None:
        self.keys.failure = self.queue.failure = self.table.failure = None
        self.queue.messages.clear()
        self.table.records.clear()
        self.table.in_progress.clear()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.invocations += 1
        return webhook_receiver.lambda_handler(event, self.context)

    def post(
        self,
        body: bytes,
        *,
        webhook_id: str | None = None,
        connector_id: str = DEMO_CONNECTOR_ID,
        content_type: str = "application/json",
        base64_encoded: bool | None = None,
        secret: str = DEMO_SECRET,
    ) -> dict[str, Any]:
        """POST `body`, correctly signed, as API Gateway would pass it on."""
        webhook_id = webhook_id or f"msg_{self.invocations}"
        headers = {
            **signed_headers(body, webhook_id=webhook_id, timestamp=NOW, secret=secret),
            "content-type": content_type,
        }
        event = http_api_event(body, headers, connector_id=connector_id, timestamp=NOW)
        if base64_encoded is True and not event["isBase64Encoded"]:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
        return self.invoke(event)


def response_body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


class _Context:
    function_name = "webhook-receiver"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:webhook-receiver"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/webhook-receiver"
    log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@contextmanager
def wired_receiver(*, max_body_bytes: int = 1024 * 1024) -> Iterator[Receiver]:
    """The real handler and domain, with the adapters swapped for the in-memory stand-ins."""
    keys = InMemorySigningKeys({DEMO_CONNECTOR_ID: DEMO_SECRET})
    queue = InMemoryFifoQueue()
    table = InMemoryIdempotencyTable()
    intake = WebhookIntake(
        keys=keys,
        queue=queue,
        deduplicator=table,
        contract=webhook_receiver.validate_body,
        limits=IntakeLimits(max_body_bytes=max_body_bytes, tolerance_seconds=TOLERANCE_SECONDS),
        clock=lambda: NOW,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(webhook_receiver, "_wiring", lambda: (intake, table))
        yield Receiver(keys, queue, table, _Context())
