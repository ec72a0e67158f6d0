"""In-memory stand-ins of the two services the forwarder calls, at the botocore client's level, so the
forwarder's real adapters run over them."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.exceptions import ClientError, ParamValidationError
from botocore.validate import ParamValidator

from fakes.aws import client_error
from iotbridge.forwarder.adapters import ManagedIntegrationsConnectorEvents, SqsDeadLetterQueue
from iotbridge.forwarder.domain.forwarding import Forwarder

MAX_ATTEMPTS = 3
DEAD_LETTER_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq.fifo"


def _send_connector_event_input() -> Any:
    model = botocore.session.get_session().get_service_model("iot-managed-integrations")
    return model.operation_model("SendConnectorEvent").input_shape


class FakeManagedIntegrations:
    """Behaves like a botocore client's SendConnectorEvent: validates with botocore's own model, and makes
    the client's in-call retries of throttling (reported in RetryAttempts, as botocore does)."""

    _input = _send_connector_event_input()

    def __init__(self, *, latency: float = 0.0, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.latency = latency
        self.max_attempts = max_attempts
        self.accepted: list[dict[str, Any]] = []
        self.calls: list[tuple[str, float, float]] = []  # (webhook id, started, ended)
        self._throttles: dict[str, int] = {}
        self._errors: dict[str, deque[BaseException]] = {}
        self._lock = threading.Lock()

    def throttle(self, webhook_id: str, *, attempts: int) -> None:
        """Throttle the next `attempts` attempts for this webhook's events."""
        self._throttles[webhook_id] = attempts

    def fail(self, webhook_id: str, error: BaseException) -> None:
        self._errors.setdefault(webhook_id, deque()).append(error)

    def send_connector_event(self, **params: Any) -> dict[str, Any]:
        report = ParamValidator().validate(dict(params), self._input)
        if report.has_errors():
            raise ParamValidationError(report=report.generate_report())
        started = time.monotonic()
        if self.latency:
            time.sleep(self.latency)
        webhook_id = self.webhook_id(params)
        with self._lock:
            self.calls.append((webhook_id, started, time.monotonic()))
            queued = self._errors.get(webhook_id)
            if queued:
                raise queued.popleft()
            throttled = self._throttles.get(webhook_id, 0)
            if throttled >= self.max_attempts:
                self._throttles[webhook_id] = throttled - self.max_attempts
                raise client_error("ThrottlingException", retries=self.max_attempts - 1)
            self._throttles[webhook_id] = 0
            self.accepted.append(dict(params))
        return {
            "ConnectorId": params["ConnectorId"],
            "ResponseMetadata": {"HTTPStatusCode": 202, "RetryAttempts": throttled},
        }

    @staticmethod
    def webhook_id(params: Any) -> str:
        # The tests give every event a Message naming its webhook, so faults can target one event.
        return str(params.get("Message", "")).split(" ")[-1]

    def accepted_webhooks(self) -> list[str]:
        return [self.webhook_id(params) for params in self.accepted]


@dataclass
class FakeDeadLetterQueue:
    """A FIFO queue's SendMessage: validates what SQS checks on send and drops a repeated deduplication id.
    `messages` keeps each as {"body", "group_id", "attributes"} (attribute values as strings)."""

    broken: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send_message(self, **params: Any) -> dict[str, Any]:
        if self.broken:
            raise ClientError(
                {
                    "Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue", "Message": "no queue"},
                    "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 0},
                },
                "SendMessage",
            )
        group_id, deduplication_id = params["MessageGroupId"], params["MessageDeduplicationId"]
        assert 1 <= len(group_id) <= 128 and 1 <= len(deduplication_id) <= 128
        attributes = {name: value["StringValue"] for name, value in params["MessageAttributes"].items()}
        assert all(isinstance(value, str) and value for value in attributes.values())
        with self._lock:
            if deduplication_id not in self._seen:
                self._seen.add(deduplication_id)
                self.messages.append(
                    {"body": params["MessageBody"], "group_id": group_id, "attributes": attributes}
                )
        return {"MessageId": f"dlq-{len(self.messages)}"}


def forwarder_over(
    service: Any,
    dead_letters: Any,
    *,
    attempts: int = MAX_ATTEMPTS,
    workers: int = 10,
    time_margin_seconds: float = 0.0,
) -> Forwarder:
    """The real Forwarder and its real adapters over the given client-level stand-ins."""
    return Forwarder(
        ManagedIntegrationsConnectorEvents(service, attempts=attempts),
        SqsDeadLetterQueue(dead_letters, DEAD_LETTER_QUEUE_URL),
        workers=workers,
        time_margin_seconds=time_margin_seconds,
    )
