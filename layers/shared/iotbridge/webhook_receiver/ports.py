"""What the receiver's domain needs from the outside world, and the errors those ports raise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from iotbridge.correlation.model import AnswerMatch
from iotbridge.errors import (
    DependencyUnavailableError,  # noqa: F401 - what every port raises
    PermanentError,
    TransientError,
)
from iotbridge.profile.document import ConnectorProfile
from iotbridge.send_connector_event.queued import QueuedEvent

# How long a record stays "in progress" when the invocation's deadline is not known (no Lambda context).
DEFAULT_LEASE_SECONDS = 60.0


class WebhookInProgressError(TransientError):
    """The same webhook is being handled by another request right now."""


class WebhookConflictError(PermanentError):
    """The webhook id was already accepted, for a different body."""


class SigningKeys(Protocol):
    def keys_for(self, connector_id: str) -> tuple[bytes, ...] | None:
        """The connector's Standard Webhooks keys, or None for an unknown connector (or an unusable secret).
        Raises DependencyUnavailableError."""
        ...

    def secret_values(self, connector_id: str, secret_name: str | None) -> tuple[str, ...] | None:
        """The values of a profiled connector's secret (the named one, or the connector's signing secret), or
        None when there is no usable secret. Raises DependencyUnavailableError."""
        ...


class ConnectorProfiles(Protocol):
    def profile_for(self, connector_id: str) -> ConnectorProfile | None:
        """The connector's profile, or None: no profile (the connector takes Standard Webhooks and
        SendConnectorEvent bodies), or one that cannot be used (logged; the connector is then unknown).
        Raises DependencyUnavailableError."""
        ...


class EventQueue(Protocol):
    def enqueue(self, events: Sequence[QueuedEvent]) -> None:
        """Queue every event durably, in order, or raise DependencyUnavailableError."""
        ...


class Deduplicator(Protocol):
    def once(
        self,
        connector_id: str,
        webhook_id: str,
        action: Callable[[], dict[str, Any]],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        body_digest: str = "",
    ) -> tuple[dict[str, Any], bool]:
        """Run `action` once per (connector, webhook id) in the window; return (result, was_duplicate).

        `lease_seconds` is how long this call may still run: until then, the same webhook seen elsewhere
        is "in progress". `body_digest` identifies the body: the same id seen again with another body raises
        WebhookConflictError. Raises WebhookInProgressError or DependencyUnavailableError too.
        """
        ...


class UserStatus(Protocol):
    def is_deactivated(self, connector_id: str, user_id: str) -> bool:
        """Whether the connector's function deactivated this user (AWS.DeactivateUser): the relay then
        takes no more events for them. Raises DependencyUnavailableError."""
        ...


class Correlation(Protocol):
    def answered(self, kind: str, connector_id: str, request_id: str) -> AnswerMatch:
        """Mark the connector's pending request of this kind and id answered (a discovery by its
        deviceDiscoveryId, a command by its traceId), and say what it found. Raises
        DependencyUnavailableError."""
        ...
