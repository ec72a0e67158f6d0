"""What the forwarder's domain needs from AWS, as Protocols. Both raise iotbridge.errors.ServiceCallError
(transient or permanent, with the service's error code) and nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class ConnectorEvents(Protocol):
    """AWS IoT managed integrations, as far as the forwarder needs it."""

    def send_connector_event(self, params: Mapping[str, Any]) -> None:
        """Send one event: one try, no retry (the caller is the retry layer)."""
        ...


class DeadLetterQueue(Protocol):
    """The FIFO dead-letter queue where events that can never be delivered are parked for an operator."""

    def put(self, body: str, *, group_id: str, deduplication_id: str, attributes: Mapping[str, str]) -> None:
        """Store one message. Raises on any failure: the caller must not acknowledge what was not stored."""
        ...
