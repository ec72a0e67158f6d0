"""In-memory stand-ins for the receiver's ports: secrets per connector (or by the name a profile gives),
profiles per connector, a FIFO queue, a dedupe table, the lookups of what the connector function recorded,
the archive of refused and skipped webhooks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from iotbridge.profile.document import ConnectorProfile
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.signatures.standard_webhooks import parse_secrets
from iotbridge.webhook_receiver.domain.archived import ArchivedWebhook
from iotbridge.webhook_receiver.domain.verification import secret_values
from iotbridge.webhook_receiver.ports import (
    DEFAULT_LEASE_SECONDS,
    DependencyUnavailableError,
    WebhookConflictError,
    WebhookInProgressError,
)

# The tests' key for message group ids and body fingerprints.
GROUP_KEY = b"test-message-group-key-0123456789abcdef"


class InMemorySigningKeys:
    """Signing secrets by connector id; records each lookup; raises `failure` when set."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.failure: Exception | None = None
        self.lookups: list[str] = []

    def keys_for(self, connector_id: str) -> tuple[bytes, ...] | None:
        self.lookups.append(connector_id)
        if self.failure is not None:
            raise self.failure
        value = self.secrets.get(connector_id)
        return parse_secrets(value) if value else None

    def secret_values(self, connector_id: str, secret_name: str | None) -> tuple[str, ...] | None:
        """A profiled connector's secret: the one its profile names, else the connector's own."""
        name = secret_name or connector_id
        self.lookups.append(name)
        if self.failure is not None:
            raise self.failure
        return secret_values(self.secrets.get(name, "")) or None


class InMemoryConnectorProfiles:
    """Connector profiles by connector id; records each lookup; raises `failure` when set."""

    def __init__(self, profiles: dict[str, ConnectorProfile] | None = None) -> None:
        self.profiles = dict(profiles or {})
        self.failure: Exception | None = None
        self.lookups: list[str] = []

    def profile_for(self, connector_id: str) -> ConnectorProfile | None:
        self.lookups.append(connector_id)
        if self.failure is not None:
            raise self.failure
        return self.profiles.get(connector_id)


class InMemoryEventQueue:
    """A FIFO queue keeping what SQS would keep: the message bodies, read back as the forwarder reads them."""

    def __init__(self) -> None:
        self.messages: list[QueuedEvent] = []
        self.failure: Exception | None = None

    def enqueue(self, events: Sequence[QueuedEvent]) -> None:
        if self.failure is not None:
            raise self.failure
        self.messages.extend(QueuedEvent.from_message_body(e.to_message_body()) for e in events)

    def fail(self) -> None:
        self.failure = DependencyUnavailableError("queue")


class InMemoryDeduplicator:
    """Like the idempotency table's record: kept on success, released when the action raises, "in
    progress" while it runs (or for every id, with `busy`)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.digests: dict[tuple[str, str], str] = {}
        self.in_progress: set[tuple[str, str]] = set()
        self.busy = False
        self.failure: Exception | None = None
        self.leases: list[float] = []

    def once(
        self,
        connector_id: str,
        webhook_id: str,
        action: Callable[[], dict[str, Any]],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        body_digest: str = "",
    ) -> tuple[dict[str, Any], bool]:
        self.leases.append(lease_seconds)
        if self.failure is not None:
            raise self.failure
        key = (connector_id, webhook_id)
        if self.busy or key in self.in_progress:
            raise WebhookInProgressError
        if key in self.records:
            if body_digest and self.digests.get(key, body_digest) != body_digest:
                raise WebhookConflictError
            return self.records[key], True
        self.in_progress.add(key)
        try:
            result = action()
        finally:
            self.in_progress.discard(key)
        self.records[key] = result
        self.digests[key] = body_digest
        return result, False

    def clear(self) -> None:
        self.records.clear()
        self.digests.clear()
        self.in_progress.clear()
        self.busy = False
        self.failure = None


class InMemoryLookups:
    """What the connector function recorded for profiles' lookups, as the correlation table answers them:
    commands by (connector, the device cloud's request id), the latest open discovery by (connector, user;
    None: the connector's). Records every read; raises `failure` when set."""

    def __init__(self) -> None:
        self.commands: dict[tuple[str, str], str] = {}
        self.discoveries: dict[tuple[str, str | None], str] = {}
        self.reads: list[tuple[str, str, str | None]] = []
        self.failure: Exception | None = None

    def lookup(self, kind: str, connector_id: str, key: str | None) -> str | None:
        self.reads.append((kind, connector_id, key))
        if self.failure is not None:
            raise self.failure
        if kind == "command":
            return self.commands.get((connector_id, key)) if key is not None else None
        return self.discoveries.get((connector_id, key))


class InMemoryWebhookArchive:
    """The archive bucket: kept webhooks by key, every put counted (`failing`: each put fails, as S3 down)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0
        self.failing = False

    def keep(self, webhook: ArchivedWebhook) -> None:
        self.puts += 1
        if self.failing:
            raise DependencyUnavailableError("archive")
        self.objects[webhook.key] = webhook.to_json()
