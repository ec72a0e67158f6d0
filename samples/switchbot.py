"""SwitchBot's API v1.1 webhooks and request signing, as the OpenWonderLabs/SwitchBotAPI README documents
them, with secrets published for the local stack only.

A webhook carries nothing to verify: no signature, token, timestamp or delivery id ("Receive events from
webhook"). The receiver chooses the URL it registers with `POST /v1.1/webhook/setupWebhook`, so the only
shared secret is a token in that URL's path: `<relay>/connectors/switchbot/events/<token>`.

Requests to the API are signed instead ("How to Sign?"): headers `Authorization` (the open token), `t` (a
13-digit millisecond timestamp), `nonce`, and `sign` = base64(HMAC-SHA256(secret, token + t + nonce)). The
README's prose also says to upper-case the signature, while its Python, JavaScript, C# and Java examples do
not (its PHP and Go examples do); this follows the majority of the code, which base64 keeps case-sensitive.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

CONNECTOR_ID = "switchbot"
# The token in the registered webhook URL: the connector's secret. Published on purpose, for the local
# stack; hex, so that it needs no escaping in a path.
PATH_TOKEN = "5b1f0c2e9a7d4e3b8c6a1f0e2d4c6b8a"  # noqa: S105 - published for the local stack
CONTENT_TYPE = "application/json"


def webhook_path(token: str = PATH_TOKEN, connector_id: str = CONNECTOR_ID) -> str:
    """The path of the URL registered with SwitchBot, under the relay's endpoint."""
    return f"/connectors/{connector_id}/events/{token}"


def webhook_headers() -> dict[str, str]:
    """What a SwitchBot webhook POST carries besides its body: its content type, nothing signed."""
    return {"Content-Type": CONTENT_TYPE}


def request_signature(token: str, secret: str, *, t: int, nonce: str) -> str:
    """`sign` for an API v1.1 request: base64 of HMAC-SHA256 keyed with the secret over token + t + nonce."""
    message = f"{token}{t}{nonce}".encode()
    return base64.b64encode(hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()).decode(
        "ascii"
    )


def request_headers(token: str, secret: str, *, t: int, nonce: str | None = None) -> dict[str, str]:
    """The headers of one signed API v1.1 request, as the README's Python 3 example builds them."""
    nonce = nonce if nonce is not None else str(uuid.uuid4())
    return {
        "Authorization": token,
        "Content-Type": CONTENT_TYPE,
        "charset": "utf8",
        "t": str(t),
        "sign": request_signature(token, secret, t=t, nonce=nonce),
        "nonce": nonce,
    }


def command_answer(command_id: str) -> dict[str, object]:
    """What `POST /v1.1/devices/{id}/commands` answers a Keypad's createKey or deleteKey with: the
    commandId that the Keypad's later webhook carries."""
    return {"statusCode": 100, "body": {"commandId": command_id}, "message": "success"}
