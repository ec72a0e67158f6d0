"""Sign webhook bodies the way a Standard Webhooks sender does, and send them to the local stack."""

from __future__ import annotations

import base64
import json
import shlex
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook


class SigningError(ValueError):
    """The secret or the body cannot be used to sign a webhook."""


def new_webhook_id() -> str:
    return "msg_" + uuid.uuid4().hex


def sign_headers(
    secret: str, body: bytes, *, webhook_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, signed now (or at `timestamp`) with `secret`."""
    webhook_id = webhook_id or new_webhook_id()
    timestamp = int(time.time()) if timestamp is None else timestamp
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SigningError("the body is not UTF-8 text; Standard Webhooks signs text bodies") from None
    try:
        webhook = Webhook(secret)
    except Exception:
        raise SigningError("the secret is not a whsec_ base64 secret") from None
    signature = webhook.sign(webhook_id, datetime.fromtimestamp(timestamp, tz=UTC), text)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def curl_command(
    url: str, headers: dict[str, str], *, body_file: Path | None = None, body: bytes = b""
) -> str:
    """A curl command that sends exactly the signed bytes (from the file when there is one)."""
    parts = ["curl", "-sS", "-i", "-X", "POST", url, "-H", "content-type: application/json"]
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    data = f"@{body_file}" if body_file is not None else body.decode("utf-8")
    parts += ["--data-binary", data]
    return " ".join(shlex.quote(p) for p in parts)


def webhook_body(document: Any) -> tuple[bytes, str | None]:
    """The body in a file's JSON: an API Gateway event's body (and connector), or the JSON itself."""
    if is_event(document):
        raw = document.get("body") or ""
        body = base64.b64decode(raw) if document.get("isBase64Encoded") else str(raw).encode("utf-8")
        return body, (document.get("pathParameters") or {}).get("connectorId")
    return json.dumps(document, separators=(",", ":")).encode("utf-8"), None


def read_webhook_file(path: Path) -> tuple[bytes, str | None]:
    """A file's body to sign: an API Gateway event's body, or else the file's bytes exactly as they are."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SigningError(f"{path}: no such file") from None
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise SigningError(f"{path} is not JSON: {exc}") from None
    body, connector = webhook_body(document)
    return (body, connector) if connector is not None or is_event(document) else (raw, None)


def is_event(document: Any) -> bool:
    return isinstance(document, dict) and document.get("version") == "2.0" and "body" in document


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = 15.0) -> Reply:
    request = urllib.request.Request(  # noqa: S310 - the local stack's URL
        url, data=body, method="POST", headers={"content-type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Reply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers.items()), exc.read())


def send_signed(
    api_url: str, connector_id: str, body: bytes, secret: str, *, webhook_id: str | None = None
) -> Reply:
    url = f"{api_url}/connectors/{urllib.parse.quote(connector_id, safe='')}/events"
    return post(url, body, sign_headers(secret, body, webhook_id=webhook_id))
