"""The relay's answer to one webhook, worked out on a workstation: the same intake as the function, with the
connector's profile and secret given, and nothing queued or remembered. What `python -m iotbridge profile
test` prints, so a connector team sees the verdict the deployed relay would give.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iotbridge.profile.document import ConnectorProfile
from iotbridge.send_connector_event.queued import QueuedEvent

from .domain.intake import Answer, IntakeLimits, WebhookIntake, WebhookRequest
from .domain.verification import secret_values
from .ports import DEFAULT_LEASE_SECONDS
from .settings import ReceiverSettings

TEST_CONNECTOR_ID = "profile-test"


@dataclass(frozen=True, slots=True)
class Verdict:
    answer: Answer
    # The SendConnectorEvent bodies the relay would queue (with their ConnectorId), in order.
    events: list[dict[str, Any]] = field(default_factory=list)


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
) -> Verdict:
    """What the relay answers `body` with `headers` (any case) for a connector with this profile and secret
    (the secret's text as stored: one value per line), and what it would queue."""
    kept = _Kept()
    defaults = ReceiverSettings(idempotency_table="", event_queue_url="", message_group_key=b"")
    intake = WebhookIntake(
        keys=_GivenSecret(secret),
        queue=kept,
        deduplicator=_FirstDelivery(),
        limits=IntakeLimits(
            max_body_bytes=defaults.max_body_bytes, tolerance_seconds=defaults.signature_tolerance_seconds
        ),
        profiles=_GivenProfile(profile),
        clock=(lambda: now) if now is not None else time.time,
    )
    request = WebhookRequest(
        connector_id=connector_id,
        headers={"content-type": "application/json"} | {k.lower(): v for k, v in headers.items()},
        body=body,
    )
    answer = intake.handle(request)
    return Verdict(answer, [item.send_connector_event_params() for item in kept.events])
