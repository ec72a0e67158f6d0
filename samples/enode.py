"""Enode's webhooks, signed the way developers.enode.com/docs/webhooks documents them, with a secret
published for the local stack only; and the 100-event delivery of events/profiles/enode/batch-100.json.

Each delivery is a POST of a JSON array of up to 100 events, with `x-enode-delivery` (the delivery's id)
and `x-enode-signature`: `sha1=` and the hex HMAC-SHA1 of the raw body keyed with the secret given to
Create Webhook. The delivery id is not signed. Failed deliveries are retried, with the same events, for a
day before the webhook is marked inactive.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

CONNECTOR_ID = "enode"
# Enode asks for at least 128 random bits (its example: 32 random bytes in hex). Published on purpose, for
# the local stack.
SECRET = "3f6b1d9e0c8a4f2e7b5d1a9c3e7f0b2d4a6c8e0f1b3d5a7c9e1f3a5b7d9c1e3f"  # noqa: S105 - local stack only
SIGNATURE_HEADER = "x-enode-signature"
DELIVERY_HEADER = "x-enode-delivery"
MAX_EVENTS_PER_DELIVERY = 100


def signature(body: bytes, secret: str = SECRET) -> str:
    """`x-enode-signature` for `body`: "sha1=" and the hex HMAC-SHA1 of the raw body."""
    return "sha1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def signed_headers(body: bytes, *, delivery_id: str | None = None, secret: str = SECRET) -> dict[str, str]:
    """The headers of one delivery of `body` (a new delivery id unless one is given: a retry repeats it)."""
    return {
        DELIVERY_HEADER: delivery_id or str(uuid.uuid4()),
        SIGNATURE_HEADER: signature(body, secret),
        "Content-Type": "application/json",
    }


# The 100-event delivery: three vehicles and a charger of one user, their updates interleaved as a busy
# delivery interleaves them, after a heartbeat. Ids and field names are those of the sample events beside
# it; each vehicle's battery rises by one percent per update and the charger's rate by 0.5 kW, so that the
# order of each device's events can be told from what arrives.
BATCH_USER = "1ab23cd4"
BATCH_VEHICLES = (
    "c6198bd9-9a25-425d-afc3-a61ee974d1a8",
    "4b1e2f8a-6c3d-4a7e-9b5f-2d8c1e0a3f6b",
    "9e7a3c1b-2f4d-4e6a-8b0c-5d7f9a1b3c5e",
)
BATCH_CHARGER = "8c2e4f6a-1b3d-4e5f-9a7b-0c1d2e3f4a5b"
BATCH_UPDATES_PER_VEHICLE = 30
BATCH_CHARGER_UPDATES = 9
BATCH_START = datetime(2020, 4, 7, 17, 4, 26, tzinfo=UTC)
BATCH_FIRST_LEVEL = 40
BATCH_FIRST_RATE = 1.0


def _at(second: int) -> str:
    return (BATCH_START + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _vehicle_update(vehicle_id: str, level: int, second: int) -> dict[str, Any]:
    return {
        "event": "user:vehicle:updated",
        "createdAt": _at(second),
        "version": "2024-10-01",
        "user": {"id": BATCH_USER},
        "vehicle": {
            "id": vehicle_id,
            "userId": BATCH_USER,
            "isReachable": True,
            "chargeState": {
                "batteryLevel": level,
                "isPluggedIn": True,
                "isCharging": True,
                "isFullyCharged": False,
                "powerDeliveryState": "PLUGGED_IN:CHARGING",
                "lastUpdated": _at(second),
            },
        },
        "updatedFields": ["chargeState.batteryLevel"],
    }


def _charger_update(rate: float, second: int) -> dict[str, Any]:
    return {
        "event": "user:charger:updated",
        "createdAt": _at(second),
        "version": "2024-10-01",
        "user": {"id": BATCH_USER},
        "charger": {
            "id": BATCH_CHARGER,
            "userId": BATCH_USER,
            "isReachable": True,
            "chargeState": {
                "isPluggedIn": True,
                "isCharging": True,
                "chargeRate": rate,
                "powerDeliveryState": "PLUGGED_IN:CHARGING",
                "lastUpdated": _at(second),
            },
        },
        "updatedFields": ["chargeState.chargeRate"],
    }


def batch_events() -> list[dict[str, Any]]:
    """The delivery's events, in the order they are sent."""
    events: list[dict[str, Any]] = [
        {"event": "system:heartbeat", "createdAt": _at(0), "version": "2024-10-01", "pendingEvents": 99}
    ]
    charger_updates = 0
    for round_ in range(BATCH_UPDATES_PER_VEHICLE):
        for vehicle_id in BATCH_VEHICLES:
            events.append(_vehicle_update(vehicle_id, BATCH_FIRST_LEVEL + round_, len(events)))
        if round_ % 3 == 2 and charger_updates < BATCH_CHARGER_UPDATES:
            events.append(_charger_update(BATCH_FIRST_RATE + 0.5 * charger_updates, len(events)))
            charger_updates += 1
    if len(events) != MAX_EVENTS_PER_DELIVERY:
        raise ValueError(f"the batch holds {len(events)} events, not {MAX_EVENTS_PER_DELIVERY}")
    return events


def batch_body() -> bytes:
    """The delivery's body as events/profiles/enode/batch-100.json holds it: one event a line."""
    lines = ",\n".join("  " + json.dumps(event, separators=(", ", ": ")) for event in batch_events())
    return f"[\n{lines}\n]\n".encode()
