"""Signature schemes of a connector profile, each a small verifier over the raw bytes.

Every failure is a SignatureError (answered with the same single 401 whatever its reason), every compare is
constant-time, and what a sender controls is bounded before any hash is computed. Each scheme also signs,
for the local tools and the demo device clouds; tests check the verifiers against the senders' own
libraries or published vectors, never against these signers alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import assert_never

from iotbridge.profile.verification import HmacScheme, SignatureScheme, StandardWebhooksScheme, TokenScheme
from iotbridge.signatures.standard_webhooks import (
    MAX_SIGNATURE_ENTRIES,
    MAX_SIGNATURE_HEADER_CHARS,
    MAX_TIMESTAMP_DIGITS,
    SECRET_PREFIX,
    SecretFormatError,
    SignatureError,
    check_timestamp,
    parse_headers,
    parse_public_key,
    parse_secret,
    secret_values,
    verify_signature,
)

MAX_MESSAGE_ID_CHARS = 256
_DIGESTS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1, "sha512": hashlib.sha512}


@dataclass(frozen=True, slots=True)
class Verified:
    """What a verified request says about itself: its delivery id, when the scheme carries one, and the
    signed bytes that come before the raw body (what tells a replay from a new delivery when the id is not
    signed)."""

    message_id: str | None
    signed_head: bytes = field(default=b"", compare=False)


def _header(headers: Mapping[str, str], name: str | None, *, limit: int) -> str | None:
    if name is None:
        return None
    value = headers.get(name)
    if value is not None and (len(value) > limit or not value.isascii()):
        raise SignatureError("malformed_header")
    return value


def _message_id(headers: Mapping[str, str], name: str | None) -> str | None:
    value = _header(headers, name, limit=MAX_MESSAGE_ID_CHARS)
    if name is not None and not value:
        raise SignatureError("missing_header")
    if value is not None and not value.isprintable():
        raise SignatureError("malformed_id")
    return value


def _timestamp(text: str | None) -> int:
    if not text:
        raise SignatureError("missing_header")
    if len(text) > MAX_TIMESTAMP_DIGITS or not text.isascii() or not text.isdigit():
        raise SignatureError("malformed_timestamp")
    return int(text)


# --- Standard Webhooks --------------------------------------------------------------------------------------


def verify_standard_webhooks(
    scheme: StandardWebhooksScheme,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: float,
) -> Verified:
    signed = parse_headers(
        headers.get("webhook-id"),
        headers.get("webhook-timestamp"),
        headers.get("webhook-signature"),
        versions=frozenset(scheme.versions),
    )
    keys: list[bytes] = []
    public_keys: list[bytes] = []
    try:
        for value in (part for secret in secrets for part in secret.split()):
            if value.startswith(SECRET_PREFIX):
                # A whsec_ value is never a public key: under a v1a-only scheme it is not ours to use.
                if "v1" in scheme.versions:
                    keys.append(parse_secret(value))
            elif "v1a" in scheme.versions:
                public_keys.append(parse_public_key(value))
    except SecretFormatError:
        raise SignatureError("unusable_secret") from None
    if not keys and not public_keys:
        raise SignatureError("unusable_secret")
    verify_signature(
        signed, body, keys, now=now, tolerance_seconds=scheme.tolerance_seconds, public_keys=public_keys
    )
    return Verified(signed.webhook_id, f"{signed.webhook_id}.{signed.timestamp}.".encode())


# --- HMAC of the sender's choosing --------------------------------------------------------------------------


def _hmac_key(scheme: HmacScheme, secret: str) -> bytes:
    if scheme.secret_encoding == "utf8":  # noqa: S105 - an encoding's name
        return secret.encode("utf-8")
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("unusable_secret") from None


def _decoded(scheme: HmacScheme, text: str) -> bytes:
    if scheme.prefix:
        if not text.startswith(scheme.prefix):
            raise SignatureError("malformed_signature")
        text = text[len(scheme.prefix) :]
    try:
        return bytes.fromhex(text) if scheme.encoding == "hex" else base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("malformed_signature") from None


def _hmac_signatures(scheme: HmacScheme, header: str) -> tuple[list[bytes], str | None]:
    """The signatures a header carries, and the timestamp it carries when the scheme puts one in it."""
    entries = scheme.entries
    if entries is None:
        return [_decoded(scheme, header.strip())], None
    parts = [part.strip() for part in header.split(entries.separator) if part.strip()]
    if not parts or len(parts) > MAX_SIGNATURE_ENTRIES:
        raise SignatureError("malformed_signature")
    signatures: list[bytes] = []
    timestamp: str | None = None
    for part in parts:
        if entries.signature_key is None and entries.timestamp_key is None:
            signatures.append(_decoded(scheme, part))
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise SignatureError("malformed_signature")
        if key == entries.timestamp_key:
            timestamp = value
        elif entries.signature_key is None or key == entries.signature_key:
            signatures.append(_decoded(scheme, value))
        # Entries of other keys (another version) are not ours to judge.
    if not signatures:
        raise SignatureError("no_signature")
    return signatures, timestamp


def hmac_content(scheme: HmacScheme, body: bytes, *, timestamp: str | None, message_id: str | None) -> bytes:
    """The signed bytes: the content template's text before `{body}`, then the raw body."""
    return _hmac_head(scheme, timestamp=timestamp, message_id=message_id) + body


def _hmac_head(scheme: HmacScheme, *, timestamp: str | None, message_id: str | None) -> bytes:
    head = scheme.signed_content[: -len("{body}")]
    return head.replace("{timestamp}", timestamp or "").replace("{id}", message_id or "").encode("utf-8")


def verify_hmac(
    scheme: HmacScheme, headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float
) -> Verified:
    header = _header(headers, scheme.signature_header, limit=MAX_SIGNATURE_HEADER_CHARS)
    if not header:
        raise SignatureError("missing_header")
    signatures, entry_timestamp = _hmac_signatures(scheme, header)
    message_id = _message_id(headers, scheme.message_id_header)
    timestamp: str | None = None
    if "{timestamp}" in scheme.signed_content:
        timestamp = (
            entry_timestamp if scheme.timestamp_header is None else headers.get(scheme.timestamp_header)
        )
        # Checked before any hash: a stale request costs no HMAC.
        check_timestamp(_timestamp(timestamp), now=now, tolerance_seconds=scheme.tolerance_seconds)
    head = _hmac_head(scheme, timestamp=timestamp, message_id=message_id)
    content = head + body
    keys = [_hmac_key(scheme, secret) for secret in secrets]
    if not keys:
        raise SignatureError("unusable_secret")
    matched = False
    digest = _DIGESTS[scheme.algorithm]
    for key in keys:
        expected = hmac.new(key, content, digest).digest()
        for candidate in signatures:
            # No early exit: the work done does not depend on which entry matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("signature_mismatch")
    return Verified(message_id, head)


# --- A static token -----------------------------------------------------------------------------------------


def verify_token(
    scheme: TokenScheme, headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float
) -> Verified:
    value = _header(headers, scheme.header, limit=MAX_SIGNATURE_HEADER_CHARS)
    if not value:
        raise SignatureError("missing_header")
    if not secrets:
        raise SignatureError("unusable_secret")
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(value.encode("utf-8"), secret.encode("utf-8"))
    if not matched:
        raise SignatureError("signature_mismatch")
    return Verified(None)


def verify(
    scheme: SignatureScheme, headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float
) -> Verified:
    """Verify a request under a profile's scheme (header names lower-cased). Raises SignatureError."""
    match scheme:
        case StandardWebhooksScheme():
            return verify_standard_webhooks(scheme, headers, body, secrets, now)
        case HmacScheme():
            return verify_hmac(scheme, headers, body, secrets, now)
        case TokenScheme():
            return verify_token(scheme, headers, body, secrets, now)
        case _:
            assert_never(scheme)


# --- Signing, as the sender does (local tools, demo device clouds) ------------------------------------------


def sign(
    scheme: SignatureScheme,
    secret: str,
    body: bytes,
    *,
    message_id: str,
    now: float | None = None,
) -> dict[str, str]:
    """The headers a sender of this scheme puts on `body`, signed with `secret` (its first value)."""
    timestamp = str(int(time.time() if now is None else now))
    value = secret_values(secret)[0] if secret_values(secret) else secret
    match scheme:
        case StandardWebhooksScheme():
            return _sign_standard_webhooks(scheme, value, body, message_id=message_id, timestamp=timestamp)
        case HmacScheme():
            return _sign_hmac(scheme, value, body, message_id=message_id, timestamp=timestamp)
        case TokenScheme():
            return {scheme.header: value}
        case _:
            assert_never(scheme)


def _sign_standard_webhooks(
    scheme: StandardWebhooksScheme, secret: str, body: bytes, *, message_id: str, timestamp: str
) -> dict[str, str]:
    from iotbridge.signatures.standard_webhooks import sign as sign_v1

    if "v1" not in scheme.versions:
        raise ValueError("a v1a signature needs the sender's private key")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": sign_v1(secret, message_id, int(timestamp), body),
    }


def _sign_hmac(
    scheme: HmacScheme, secret: str, body: bytes, *, message_id: str, timestamp: str
) -> dict[str, str]:
    headers = {}
    if scheme.message_id_header:
        headers[scheme.message_id_header] = message_id
    if scheme.timestamp_header and "{timestamp}" in scheme.signed_content:
        headers[scheme.timestamp_header] = timestamp
    content = hmac_content(scheme, body, timestamp=timestamp, message_id=message_id)
    raw = hmac.new(_hmac_key(scheme, secret), content, _DIGESTS[scheme.algorithm]).digest()
    text = scheme.prefix + (raw.hex() if scheme.encoding == "hex" else base64.b64encode(raw).decode("ascii"))
    entries = scheme.entries
    if entries is not None and entries.signature_key is not None:
        text = f"{entries.signature_key}={text}"
        if entries.timestamp_key is not None:
            text = f"{entries.timestamp_key}={timestamp}{entries.separator}{text}"
    headers[scheme.signature_header] = text
    return headers
