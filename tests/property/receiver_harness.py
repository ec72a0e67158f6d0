"""The webhook receiver's Lambda handler wired to in-memory stand-ins of Secrets Manager, SQS and DynamoDB.

The stand-ins behave like the services for the receiver's purposes: keys per connector, a FIFO list of
queued events, and an idempotency record per (connector, webhook id) that is released when the action
fails. Each can be told to fail, so the failure paths run through the real handler too.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import webhook_receiver
from fakes.lambda_context import FakeLambdaContext
from fakes.receiver import InMemoryDeduplicator, InMemoryEventQueue, InMemorySigningKeys
from iotbridge.composition import BuiltAtInit
from iotbridge.webhook_receiver.domain.intake import IntakeLimits, WebhookIntake
from iotbridge.webhook_receiver.wiring import ReceiverWiring
from samples.webhooks import DEMO_CONNECTOR_ID, DEMO_SECRET, http_api_event, signed_headers

NOW = 1_790_000_000
TOLERANCE_SECONDS = 300
# Every status the receiver documents; anything else (a 500 above all) is a defect.
DOCUMENTED_STATUSES = frozenset({202, 400, 401, 409, 413, 415, 422, 503})

# Bounded by default (a few seconds per test); HYPOTHESIS_PROFILE=record runs 20 times as many examples.
EXAMPLES = {"record": 2000}.get(os.environ.get("HYPOTHESIS_PROFILE", ""), 100)
bounded = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@dataclass
class Receiver:
    keys: InMemorySigningKeys
    queue: InMemoryEventQueue
    table: InMemoryDeduplicator
    context: Any
    invocations: int = field(default=0)

    def reset(self) -> None:
        self.keys.failure = self.queue.failure = None
        self.queue.messages.clear()
        self.table.clear()

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


@contextmanager
def wired_receiver(*, max_body_bytes: int = 1024 * 1024) -> Iterator[Receiver]:
    """The real handler and domain, with the adapters swapped for the in-memory stand-ins."""
    keys = InMemorySigningKeys({DEMO_CONNECTOR_ID: DEMO_SECRET})
    queue = InMemoryEventQueue()
    table = InMemoryDeduplicator()
    intake = WebhookIntake(
        keys=keys,
        queue=queue,
        deduplicator=table,
        limits=IntakeLimits(max_body_bytes=max_body_bytes, tolerance_seconds=TOLERANCE_SECONDS),
        clock=lambda: NOW,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(webhook_receiver, "wiring", BuiltAtInit.fixed(ReceiverWiring(intake)))
        yield Receiver(keys, queue, table, FakeLambdaContext(function_name="webhook-receiver"))
