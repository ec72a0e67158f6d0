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


class _Events:
    def register(self, *_: Any, **__: Any) -> None:
        """The adapter registers a response hook on a real client; a fake answers parsed, there is none."""


class _Meta:
    events = _Events()


def _send_connector_event_input() -> Any:
    model = botocore.session.get_session().get_service_model("iot-managed-integrations")
    return model.operation_model("SendConnectorEvent").input_shape


class FakeManagedIntegrations:
    """Behaves like a botocore client's SendConnectorEvent (of one try per call, as the forwarder's is):
    validates with botocore's own model, throttles chosen events a number of calls."""

    _input = _send_connector_event_input()

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self.meta = _Meta()
        self.accepted: list[dict[str, Any]] = []
        self.calls: list[tuple[str, float, float]] = []  # (webhook id, started, ended)
        self._throttles: dict[str, int] = {}
        self._errors: dict[str, deque[BaseException]] = {}
        self._lock = threading.Lock()

    def throttle(self, webhook_id: str, *, attempts: int) -> None:
        """Throttle the next `attempts` attempts for this webhook's events."""
        self._throttles[webhook_id] = attempts

    def fail(self, webhook_id: str, error: BaseException, *, times: int = 1) -> None:
        """Fail the next `times` calls for this webhook's events with `error`."""
        self._errors.setdefault(webhook_id, deque()).extend([error] * times)

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
            if throttled:
                self._throttles[webhook_id] = throttled - 1
                raise client_error("ThrottlingException")
            self.accepted.append(dict(params))
        return {
            "ConnectorId": params["ConnectorId"],
            "ResponseMetadata": {"HTTPStatusCode": 202, "RetryAttempts": 0},
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


def forwarder_over(service: Any, dead_letters: Any, **options: Any) -> Forwarder:
    """The real Forwarder and its real adapters over the given client-level stand-ins; it never sleeps
    between tries. Keyword options go to Forwarder (max_attempts defaults to MAX_ATTEMPTS)."""
    options = {"max_attempts": MAX_ATTEMPTS, "workers": 10, "sleep": lambda _: None, **options}
    return Forwarder(
        ManagedIntegrationsConnectorEvents(service),
        SqsDeadLetterQueue(dead_letters, DEAD_LETTER_QUEUE_URL),
        **options,
    )
