"""The demo connector, its (public, demo-only) secret, and the sample webhooks: bodies, signatures and the
API Gateway events that carry them, shared by the tests, the local stack and the benchmarks."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from iotbridge.signatures.standard_webhooks import sign

DEMO_CONNECTOR_ID = "demo-connector"
# Published on purpose so anyone can sign requests for the local stack. Never use it for a real connector.
DEMO_SECRET = "whsec_" + base64.b64encode(b"iot-bridge demo secret: local use only").decode()
SIGNING_SECRET_PREFIX = "iot-bridge/connectors/"  # noqa: S105 - a secret name prefix
# The local stack's key for message group ids (a deployed stack has Secrets Manager generate its own).
DEMO_MESSAGE_GROUP_KEY = "local-only-message-group-key-0123456789abcdef"
# Sample events carry a fixed timestamp; events/env.json widens the tolerance to accept them.
SAMPLE_TIMESTAMP = 1_790_000_000

BODIES: dict[str, dict[str, Any]] = {
    "device-discovery": {
        "Operation": "DEVICE_DISCOVERY",
        "OperationVersion": "1.0",
        "StatusCode": 200,
        "UserId": "user-8842",
        "DeviceDiscoveryId": "3f9a27c1d04b",
        "Devices": [
            {
                "ConnectorDeviceId": "lamp-0042",
                "ConnectorDeviceName": "Kitchen lamp",
                "CapabilityReport": {
                    "version": "1.0.0",
                    "nodeId": "1",
                    "endpoints": [
                        {
                            "id": "1",
                            "deviceTypes": ["0x0100"],
                            "clusters": [
                                {
                                    "id": "0x0006",
                                    "revision": 4,
                                    "attributes": [{"id": "0x0000", "name": "OnOff", "value": False}],
                                    "commands": ["0x00", "0x01", "0x02"],
                                    "events": [],
                                }
                            ],
                        }
                    ],
                },
            }
        ],
    },
    "device-event": {
        "Operation": "DEVICE_EVENT",
        "OperationVersion": "1.0",
        "StatusCode": 200,
        "UserId": "user-8842",
        "ConnectorDeviceId": "lamp-0042",
        "Message": "uri: auc://lamp-0042/switch",
        "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x0006", "attributes": {"0x0000": True}}]},
    },
    "command-response": {
        "Operation": "DEVICE_COMMAND_RESPONSE",
        "OperationVersion": "1.0",
        "StatusCode": 200,
        "UserId": "user-8842",
        "ConnectorDeviceId": "lamp-0042",
        "TraceId": "9b75f3839b6140f=_1",
        "MatterEndpoint": {
            "id": "1",
            "clusters": [{"id": "0x0006", "attributes": {"0x0000": True}, "commands": {"0x01": {}}}],
        },
    },
    "command-request": {
        "Operation": "DEVICE_COMMAND_REQUEST",
        "OperationVersion": "1.0",
        "UserId": "user-8842",
        "ConnectorDeviceId": "lamp-0042",
        "TraceId": "req-77a1",
        "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x0006", "commands": {"0x02": {}}}]},
    },
}

# StatusCode above 550 and no MatterEndpoint for a DEVICE_EVENT: answered 422 naming both fields.
INVALID_BODY: dict[str, Any] = {
    "Operation": "DEVICE_EVENT",
    "StatusCode": 551,
    "ConnectorDeviceId": "lamp-0042",
}


def signed_headers(
    body: bytes, *, webhook_id: str, timestamp: int, secret: str = DEMO_SECRET
) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }


def http_api_event(
    body: bytes,
    headers: dict[str, str],
    *,
    connector_id: str = DEMO_CONNECTOR_ID,
    timestamp: int = SAMPLE_TIMESTAMP,
    request_id: str = "sample-request",
    token: str | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event for POST /connectors/{connectorId}/events, or, with a
    `token`, for POST /connectors/{connectorId}/events/{token} (a URL whose path carries the secret)."""
    path = f"/connectors/{connector_id}/events" + (f"/{token}" if token is not None else "")
    route_key = "POST /connectors/{connectorId}/events" + ("/{token}" if token is not None else "")
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    all_headers = {
        "content-length": str(len(body)),
        "content-type": "application/json",
        "host": "abc123defg.execute-api.us-east-1.amazonaws.com",
        "user-agent": "device-cloud-webhooks/1.0",
        "x-forwarded-for": "203.0.113.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **headers,
    }
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "domainName": "abc123defg.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123defg",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": all_headers["user-agent"],
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": timestamp * 1000,
        },
        "pathParameters": {"connectorId": connector_id, **({"token": token} if token is not None else {})},
        **_body_fields(body),
    }


def _body_fields(body: bytes) -> dict[str, Any]:
    # Like API Gateway: text as is, anything that is not UTF-8 base64-encoded.
    try:
        return {"body": body.decode("utf-8"), "isBase64Encoded": False}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(body).decode("ascii"), "isBase64Encoded": True}


def encode(body: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    """A webhook body as senders write it: compact JSON, one event or a batch of them."""
    return json.dumps(body, separators=(",", ":")).encode("utf-8")
