"""The webhook receiver's domain: from a raw HTTP request to an answer, with no AWS SDK in sight.

Order of checks: size (bounds the work), signature (before the body is parsed), content type, JSON,
the SendConnectorEvent contract, then deduplication and the durable hand-off to the queue.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from iotbridge.queued_event import QueuedEvent
from iotbridge.webhook_signature import SignatureError, parse_headers, verify_signature

# ConnectorId in the service model: length 1..64, pattern [A-Za-z0-9-_]+ (not anchored: Smithy semantics).
_CONNECTOR_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
MAX_CONNECTOR_ID_CHARS = 64
# SQS's limit on one message (and on one SendMessageBatch request).
MAX_QUEUE_MESSAGE_BYTES = 1024 * 1024
RETRY_AFTER_SECONDS = 5
UNAUTHORIZED_MESSAGE = "The request could not be authenticated."


class TemporarilyUnavailable(Exception):
    """A dependency failed in a way that a later retry of the same webhook may not."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InProgress(Exception):
    """The same webhook is being handled by another request right now."""


class SigningKeys(Protocol):
    def keys_for(self, connector_id: str) -> tuple[bytes, ...] | None:
        """The connector's HMAC keys, or None for an unknown connector. Raises TemporarilyUnavailable."""
        ...


class EventQueue(Protocol):
    def enqueue(self, events: Sequence[QueuedEvent]) -> None:
        """Queue every event durably, in order, or raise TemporarilyUnavailable."""
        ...


class Deduplicator(Protocol):
    def once(
        self, connector_id: str, webhook_id: str, action: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """Run `action` once per (connector, webhook id) in the window; return (result, was_duplicate).
        Raises InProgress or TemporarilyUnavailable."""
        ...


class BodyContract(Protocol):
    def __call__(self, data: object, connector_id: str) -> list[dict[str, Any]]:
        """Validated events (wire form, without ConnectorId). Raises ContractViolation."""
        ...


class ContractViolation(Exception):
    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    connector_id: str | None
    headers: Mapping[str, str]  # names lower-cased
    body: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    outcome: str  # "accepted", "duplicate" or the rejection reason, for logs and metrics
    headers: dict[str, str] = field(default_factory=dict)
    queued: int = 0


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    max_body_bytes: int
    tolerance_seconds: int


def _error(status: int, outcome: str, message: str, **extra: Any) -> Answer:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
    return Answer(status=status, body={"message": message, **extra}, outcome=outcome, headers=headers)


def _unauthorized(reason: str) -> Answer:
    # One message for every reason, so a caller cannot tell a missing connector from a wrong secret.
    return _error(401, f"unauthorized.{reason}", UNAUTHORIZED_MESSAGE)


def _is_json_media_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def connector_id_is_valid(connector_id: str | None) -> bool:
    return (
        connector_id is not None
        and 1 <= len(connector_id) <= MAX_CONNECTOR_ID_CHARS
        and _CONNECTOR_ID_PATTERN.search(connector_id) is not None
    )


class WebhookIntake:
    def __init__(
        self,
        *,
        keys: SigningKeys,
        queue: EventQueue,
        deduplicator: Deduplicator,
        contract: BodyContract,
        limits: IntakeLimits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._queue = queue
        self._dedupe = deduplicator
        self._contract = contract
        self._limits = limits
        self._clock = clock

    def handle(self, request: WebhookRequest) -> Answer:
        if len(request.body) > self._limits.max_body_bytes:
            return _error(413, "too_large", f"The body is larger than {self._limits.max_body_bytes} bytes.")
        connector_id = request.connector_id
        try:
            signed = parse_headers(
                request.headers.get("webhook-id"),
                request.headers.get("webhook-timestamp"),
                request.headers.get("webhook-signature"),
            )
            if connector_id is None or not connector_id_is_valid(connector_id):
                raise SignatureError("unknown_connector")
            keys = self._keys.keys_for(connector_id)
            if not keys:
                raise SignatureError("unknown_connector")
            verify_signature(
                signed,
                request.body,
                keys,
                now=self._clock(),
                tolerance_seconds=self._limits.tolerance_seconds,
            )
        except SignatureError as exc:
            return _unauthorized(exc.reason)
        except TemporarilyUnavailable as exc:
            return _error(503, f"unavailable.{exc.reason}", "Try again later.")

        if not _is_json_media_type(request.headers.get("content-type")):
            return _error(
                415, "unsupported_media_type", "The body must be JSON (Content-Type: application/json)."
            )
        try:
            data = json.loads(request.body, parse_constant=_reject_constant)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return _error(400, "malformed_json", "The body is not valid JSON.")
        try:
            events = self._contract(data, connector_id)
        except ContractViolation as exc:
            return _error(
                422,
                "invalid_event",
                "The body does not satisfy the SendConnectorEvent contract.",
                errors=exc.problems,
            )

        received_at = int(self._clock())
        queued = [
            QueuedEvent(
                connector_id=connector_id,
                webhook_id=signed.webhook_id,
                index=index,
                received_at=received_at,
                event=event,
            )
            for index, event in enumerate(events)
        ]
        for item in queued:
            if item.message_size > MAX_QUEUE_MESSAGE_BYTES:
                prefix = f"[{item.index}]" if isinstance(data, list) else "body"
                return _error(
                    413, "event_too_large", f"Event {prefix} is larger than one queue message can hold."
                )

        def enqueue() -> dict[str, Any]:
            self._queue.enqueue(queued)
            return {"webhookId": signed.webhook_id, "queued": len(queued)}

        try:
            result, duplicate = self._dedupe.once(connector_id, signed.webhook_id, enqueue)
        except InProgress:
            return _error(503, "in_progress", "This webhook is being processed; try again later.")
        except TemporarilyUnavailable as exc:
            return _error(503, f"unavailable.{exc.reason}", "Try again later.")
        if duplicate:
            return Answer(status=202, body=result, outcome="duplicate", queued=0)
        return Answer(status=202, body=result, outcome="accepted", queued=len(queued))
