"""The relay's answer to one webhook, worked out on a workstation: the same intake as the function, with the
connector's profile and secret given, and nothing queued or remembered. What `python -m iotbridge profile
test` prints, so a connector team sees the verdict the deployed relay would give. What the connector function
would have recorded for the profile's lookups is given too (`--lookups FILE`), and every miss is named.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iotbridge.profile.document import ConnectorProfile
from iotbridge.profile.verification import PathTokenScheme
from iotbridge.send_connector_event.queued import QueuedEvent

from .domain.explain import MappingTrace
from .domain.intake import Answer, IntakeLimits, WebhookIntake, WebhookRequest
from .domain.verification import secret_values
from .ports import DEFAULT_LEASE_SECONDS, KeyUnavailableError, PublicKeys
from .settings import ReceiverSettings

TEST_CONNECTOR_ID = "profile-test"


@dataclass(frozen=True, slots=True)
class Verdict:
    answer: Answer
    # The SendConnectorEvent bodies the relay would queue (with their ConnectorId), in order.
    events: list[dict[str, Any]] = field(default_factory=list)
    # How each native event was mapped, when asked for (`explain`): names and types, never values.
    trace: MappingTrace | None = None
    # The lookups that found nothing given: their kind and key (None: the connector's latest discovery).
    lookup_misses: list[tuple[str, str | None]] = field(default_factory=list)


# In a lookups file, the key of the connector's latest discovery (a lookup without `by`).
CONNECTOR_LATEST = "*"


def given_lookups(data: Any) -> dict[str, dict[str, str]]:
    """What a lookups file says the connector function recorded: `{"command": {"<the device cloud's request
    id>": "<TraceId>"}, "discovery": {"<user id, or * for the connector's latest>": "<DeviceDiscoveryId>"}}`,
    both optional. Raises ValueError naming what is wrong."""
    if not isinstance(data, dict) or set(data) - {"command", "discovery"}:
        raise ValueError('must be a JSON object with "command" and "discovery" (both optional)')
    for kind, ids in data.items():
        if not isinstance(ids, dict) or not all(isinstance(v, str) for v in ids.values()):
            raise ValueError(f"{kind} must be a JSON object of text values")
    return {kind: dict(ids) for kind, ids in data.items()}


class _GivenLookups:
    """The given lookups, whatever the connector; remembers each miss."""

    def __init__(self, recorded: Mapping[str, Mapping[str, str]]) -> None:
        self._recorded = recorded
        self.misses: list[tuple[str, str | None]] = []

    def lookup(self, kind: str, connector_id: str, key: str | None) -> str | None:
        found = self._recorded.get(kind, {}).get(CONNECTOR_LATEST if key is None else key)
        if found is None:
            self.misses.append((kind, key))
        return found


class GivenPublicKeys:
    """Senders' public keys given rather than fetched: the document each URL would answer with (a PEM key or
    certificate, a JWK set, an OpenID configuration)."""

    def __init__(self, documents: Mapping[str, bytes]) -> None:
        self._documents = dict(documents)

    def document(self, url: str, *, hosts: frozenset[str], refresh: bool = False) -> bytes:
        found = self._documents.get(url)
        if found is None:
            raise KeyUnavailableError(f"no document given for {url[:200]}")
        return found


class _GivenProfile:
    def __init__(self, profile: ConnectorProfile) -> None:
        self._profile = profile

    def profile_for(self, connector_id: str) -> ConnectorProfile:
        return self._profile


class _GivenSecret:
    def __init__(self, secret: str) -> None:
        self._values = secret_values(secret)

    def keys_for(self, connector_id: str) -> None:
        return None  # a profiled connector is verified by its profile's scheme

    def secret_values(self, connector_id: str, secret_name: str | None) -> tuple[str, ...] | None:
        return self._values or None


class _Kept:
    def __init__(self) -> None:
        self.events: list[QueuedEvent] = []

    def enqueue(self, events: Sequence[QueuedEvent]) -> None:
        self.events.extend(events)


class _FirstDelivery:
    def once(
        self,
        connector_id: str,
        webhook_id: str,
        action: Callable[[], dict[str, Any]],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        body_digest: str = "",
    ) -> tuple[dict[str, Any], bool]:
        return action(), False


def try_webhook(
    profile: ConnectorProfile,
    *,
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    connector_id: str = TEST_CONNECTOR_ID,
    now: float | None = None,
    explain: bool = False,
    lookups: Mapping[str, Mapping[str, str]] | None = None,
    public_keys: PublicKeys | None = None,
    path: str | None = None,
    query: str = "",
    path_token: str | None = None,
    source_ip: str | None = None,
) -> Verdict:
    """What the relay answers `body` with `headers` (any case) for a connector with this profile and secret
    (the secret's text as stored: one value per line), and what it would queue; with `explain`, how the
    profile mapped each native event. `lookups` are what the connector function recorded (see
    `given_lookups`; none: every lookup misses).

    The senders' public keys come from `public_keys` (e.g. `GivenPublicKeys`), else are fetched as the relay
    fetches them. The request is a POST to `path` (default: the connector's events URL, with the path token
    when there is one) from `source_ip` (default: the first of the profile's `sourceAddresses`); a
    path-token profile is tried with the secret's first value as the token unless `path_token` is given."""
    kept = _Kept()
    if path_token is None and isinstance(profile.verification, PathTokenScheme):
        path_token = next(iter(secret_values(secret)), None)
    if path is None:
        path = f"/connectors/{connector_id}/events" + (f"/{path_token}" if path_token else "")
    if source_ip is None and profile.source_addresses:
        source_ip = str(profile.source_addresses[0].network_address)
    if public_keys is None:
        from iotbridge.registry.public_keys import HttpsPublicKeys

        public_keys = HttpsPublicKeys()
    recorded = _GivenLookups(lookups or {})
    trace = MappingTrace() if explain else None
    defaults = ReceiverSettings(idempotency_table="", event_queue_url="", message_group_key=b"")
    intake = WebhookIntake(
        keys=_GivenSecret(secret),
        queue=kept,
        deduplicator=_FirstDelivery(),
        limits=IntakeLimits(
            max_body_bytes=defaults.max_body_bytes, tolerance_seconds=defaults.signature_tolerance_seconds
        ),
        profiles=_GivenProfile(profile),
        lookups=recorded,
        public_keys=public_keys,
        clock=(lambda: now) if now is not None else time.time,
        tracer=trace,
    )
    request = WebhookRequest(
        connector_id=connector_id,
        headers={"content-type": "application/json"} | {k.lower(): v for k, v in headers.items()},
        body=body,
        path=path,
        query=query,
        source_ip=source_ip,
        path_token=path_token,
    )
    answer = intake.handle(request)
    events = [item.send_connector_event_params() for item in kept.events]
    return Verdict(answer, events, trace, lookup_misses=recorded.misses)
