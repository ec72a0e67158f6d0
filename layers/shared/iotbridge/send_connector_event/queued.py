"""The message the webhook receiver puts on the FIFO queue and the forwarder takes off it."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

# The FIFO queue's limit on MessageGroupId and MessageDeduplicationId is 128 characters.
_HASH_CHARS = 40


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def device_key(event: dict[str, Any]) -> str:
    """What identifies the device (or job) an event is about, so its events share one ordered group."""
    for member in ("ConnectorDeviceId", "DeviceDiscoveryId", "TraceId"):
        value = event.get(member)
        if value:
            return f"{member}:{value}"
    return "connector"


@dataclass(frozen=True)
class QueuedEvent:
    connector_id: str
    webhook_id: str
    index: int
    received_at: int  # unix seconds at which the receiver accepted the webhook
    event: dict[str, Any]  # the SendConnectorEvent body, as received, without ConnectorId

    def message_group_id(self, key: bytes) -> str:
        """The FIFO group of the event's device: its connector and a keyed hash of the device.

        Keyed with the deployment's own key: device ids are sensitive, group ids show up in SQS metadata and
        in logs, and an unkeyed hash of a guessable id can be reversed by trying candidates.
        """
        digest = hmac.new(key, device_key(self.event).encode("utf-8"), hashlib.sha256).hexdigest()
        return f"{self.connector_id}.{digest[:_HASH_CHARS]}"

    @property
    def deduplication_id(self) -> str:
        return _digest(self.connector_id, self.webhook_id, str(self.index))

    def send_connector_event_params(self) -> dict[str, Any]:
        """Keyword arguments for iot-managed-integrations send_connector_event."""
        return {"ConnectorId": self.connector_id, **self.event}

    def to_message_body(self) -> str:
        return self._message_body

    @cached_property
    def message_size(self) -> int:
        """Bytes of the message body, as SQS counts them against its limits."""
        return len(self._message_body.encode("utf-8"))

    # Computed once: the receiver needs the body for the size check and again for the queue request.
    @cached_property
    def _message_body(self) -> str:
        return json.dumps(
            {
                "connectorId": self.connector_id,
                "webhookId": self.webhook_id,
                "index": self.index,
                "receivedAt": self.received_at,
                "event": self.event,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_message_body(cls, body: str) -> QueuedEvent:
        """Parse a queued message. Raises ValueError (or KeyError/TypeError) on a malformed one."""
        data = json.loads(body)
        if not isinstance(data, dict) or not isinstance(data.get("event"), dict):
            raise ValueError("queued message is not an object with an 'event' object")
        return cls(
            connector_id=str(data["connectorId"]),
            webhook_id=str(data["webhookId"]),
            index=int(data["index"]),
            received_at=int(data["receivedAt"]),
            event=data["event"],
        )
