"""A connector for a lock cloud in Nuki's style, whose webhooks name the cloud's own request id or the user's
account, never the ids the connector sent: its profile's lookups find the TraceId of a command and the user's
latest DeviceDiscoveryId again. Signed as Nuki signs (samples.nuki); the payloads follow Nuki's documented
shapes: a lock action answered at once with `{"requestId": ...}` and its outcome a later webhook naming that
id (docs.nuki.io/guide/webhooks/type-api/), and a lock's master data naming its account
(docs.nuki.io/guide/webhooks/type-device/).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from samples import nuki

CONNECTOR_ID = "lock-lookups"
SECRET = nuki.SECRET
# The whsec_ secret the connector function signs its requests to this cloud with: published, tests only.
OUTBOUND_SECRET = "whsec_" + base64.b64encode(b"lock-lookups device cloud requests, tests only").decode()
DEVICE_CLOUD_URL = "https://api.lock-lookups.example/aws-iot/requests"
ACCOUNT_ID = 987654321
SMARTLOCK_ID = 123456789


def profile_document(url: str = DEVICE_CLOUD_URL, *, otherwise: Any = "skip") -> dict[str, Any]:
    """The connector's profile: an action's outcome is the DEVICE_COMMAND_RESPONSE of the command the cloud
    knows by its requestId; a lock's master data a DEVICE_DISCOVERY of its account's latest discovery. Both
    lookups miss as `otherwise` says."""
    return {
        "version": 1,
        "description": "A lock cloud in Nuki's style (tests of lookups).",
        "verification": {
            "scheme": "hmac",
            "signatureHeader": nuki.SIGNATURE_HEADER,
            "algorithm": "sha256",
            "encoding": "hex",
        },
        "deduplication": {"digest": True},
        "deviceCloud": {"url": url, "requestId": "requestId", "userIdClaim": "sub"},
        "unmatched": "ignore",
        "rules": [
            {
                "name": "action-result",
                "when": "event.requestId && event.type",
                "operation": "DEVICE_COMMAND_RESPONSE",
                "members": {
                    "TraceId": {"lookup": "command", "by": "event.requestId", "otherwise": otherwise},
                    "ConnectorDeviceId": "to_string(event.smartlockId)",
                    "StatusCode": {"value": 200},
                },
            },
            {
                "name": "lock-found",
                "when": "event.feature == 'DEVICE_MASTERDATA'",
                "operation": "DEVICE_DISCOVERY",
                "members": {
                    "UserId": "to_string(event.accountId)",
                    "DeviceDiscoveryId": {
                        "lookup": "discovery",
                        "by": "event.accountId",
                        "otherwise": otherwise,
                    },
                    "StatusCode": {"value": 200},
                },
                "devices": {
                    "from": "[event]",
                    "connectorDeviceId": "to_string(device.smartlockId)",
                    "name": "device.name",
                    "deviceType": "DoorLock",
                },
            },
        ],
    }


def action_result(
    request_id: str, *, smartlock_id: int = SMARTLOCK_ID, success: bool = True
) -> dict[str, Any]:
    """The webhook of a lock action's outcome, naming the request id the cloud answered the action with."""
    return {"type": "UnlockAction", "requestId": request_id, "smartlockId": smartlock_id, "success": success}


def masterdata(
    *, account_id: int = ACCOUNT_ID, smartlock_id: int = SMARTLOCK_ID, name: str = "Front door"
) -> dict[str, Any]:
    """The webhook of a lock's master data (sent for each lock when a sync is triggered)."""
    return {
        "feature": "DEVICE_MASTERDATA",
        "smartlockId": smartlock_id,
        "accountId": account_id,
        "type": 4,
        "name": name,
        "serverState": 0,
        "adminPinState": 0,
    }


def encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def signed(body: bytes) -> dict[str, str]:
    """The headers the cloud sends with `body`."""
    return nuki.signed_headers(body)
