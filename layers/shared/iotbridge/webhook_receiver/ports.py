"""What the receiver's domain needs from the outside world, and the errors those ports raise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from iotbridge.correlation.model import AnswerMatch
from iotbridge.errors import (
    DependencyUnavailableError,  # noqa: F401 - what every port raises
    PermanentError,
    TransientError,
)
from iotbridge.profile.document import ConnectorProfile
from iotbridge.profile.limits import ConnectorLimits
from iotbridge.send_connector_event.queued import QueuedEvent

from .domain.archived import ArchivedWebhook

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


class WebhookArchive(Protocol):
    def keep(self, webhook: ArchivedWebhook) -> None:
        """Store the webhook under its key (`webhook.key`), encrypted at rest, for a replay. Raises
        DependencyUnavailableError."""
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


class Lookups(Protocol):
    def lookup(self, kind: str, connector_id: str, key: str | None) -> str | None:
        """What the connector function recorded, for a profile's `lookup` member: for `command`, the traceId
        of the command the device cloud knows by its own request id `key`; for `discovery`, the
        deviceDiscoveryId of the latest open discovery of the user `key` (None: of the connector). None when
        there is none. Raises DependencyUnavailableError."""
        ...


class ConfirmationRefusedError(PermanentError):
    """A confirmation URL the relay does not GET: not https:// (http:// only to a loopback name, when the
    deployment allows it), a host off the profile's allow-list, or a name that resolves to an internal
    address."""


class Confirmations(Protocol):
    def confirm(self, url: str, hosts: tuple[str, ...]) -> None:
        """GET `url` once, to confirm the endpoint to the device cloud that sent it (SmartThings'
        CONFIRMATION lifecycle); the answer's body is discarded. Raises ConfirmationRefusedError before any
        request for a URL it does not GET, and DependencyUnavailableError("confirmation") when the GET gets
        no 2xx answer in time."""
        ...


class KeyUnavailableError(TransientError):
    """A sender's public key (a PEM, a JWK set, an OpenID configuration) could not be had: its URL is not one
    the profile allows, or the fetch failed, timed out, or answered something too large. The request gets
    the single 401 (`unauthorized.key_unavailable`): a caller cannot make the relay look down on demand."""


class PublicKeys(Protocol):
    def document(self, url: str, *, hosts: frozenset[str], refresh: bool = False) -> bytes:
        """The document at `url` (https://, or http:// to a loopback name where the deployment allows it),
        whose host must be one of `hosts`; from a cache of bounded age. `refresh`: the caller did not find the
        key it looked for in the cached copy: fetched again, unless it was fetched within the last minute.
        Raises KeyUnavailableError."""
        ...


@dataclass(frozen=True, slots=True)
class Grant:
    """What a connector's shared bucket gave: `tokens` webhooks' worth, or none and how long until one
    refills."""

    tokens: int
    retry_after_seconds: float = 0.0


class RateBuckets(Protocol):
    def take(self, connector_id: str, limits: ConnectorLimits, wanted: int, now: float) -> Grant:
        """Up to `wanted` tokens from the connector's bucket, shared by every execution environment and
        refilled at `limits.rate` per second up to `limits.burst`: all of them, as many as are left, or none
        (with the seconds until one refills). Raises DependencyUnavailableError."""
        ...
