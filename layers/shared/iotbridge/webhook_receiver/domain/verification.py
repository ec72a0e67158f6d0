"""Signature schemes of a connector profile, each a small verifier over the raw bytes.

Every failure is a SignatureError (answered with the same single 401 whatever its reason), every compare is
constant-time, and what a sender controls is bounded before any hash is computed. The public-key schemes
(HTTP Signatures, bearer JWTs) have modules of their own. Each scheme with a shared secret also signs, for
the local tools and the demo device clouds; tests check the verifiers against the senders' own libraries
or published vectors, never against these signers alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import assert_never

from iotbridge.profile.verification import (
    BasicScheme,
    HmacScheme,
    HttpSignatureScheme,
    JwtScheme,
    Network,
    PathTokenScheme,
    SignatureScheme,
    StandardWebhooksScheme,
    TokenScheme,
)
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

from ..ports import PublicKeys
from .verified import RequestLine, Verified

MAX_MESSAGE_ID_CHARS = 256
_DIGESTS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1, "sha512": hashlib.sha512}
# A path token or basic credential: the longest a request's may be before it is compared.
MAX_CREDENTIAL_CHARS = 1024
# What a stored path token must be to be used: long, and not a word or a pattern.
MIN_PATH_TOKEN_CHARS = 32
MIN_PATH_TOKEN_BITS_PER_CHAR = 3.0


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


def _matches_a_secret(given: bytes, secrets: Sequence[str]) -> None:
    """`given` equals one of the secret's values, compared in constant time with each (no early exit: the
    work does not depend on which matched). Raises SignatureError otherwise."""
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(given, secret.encode("utf-8"))
    if not matched:
        raise SignatureError("signature_mismatch")


# --- A static token -----------------------------------------------------------------------------------------


def verify_token(
    scheme: TokenScheme, headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float
) -> Verified:
    value = _header(headers, scheme.header, limit=MAX_SIGNATURE_HEADER_CHARS)
    if not value:
        raise SignatureError("missing_header")
    if not secrets:
        raise SignatureError("unusable_secret")
    _matches_a_secret(value.encode("utf-8"), secrets)
    return Verified(None)


# --- A token in the URL -------------------------------------------------------------------------------------


def entropy_bits_per_char(text: str) -> float:
    """The text's entropy by the frequency of its characters (Shannon), per character: about 4 for a random
    hex string, about 6 for a random base64 one, 2 or less for a word repeated or a short pattern."""
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _usable_path_token(secret: str) -> bool:
    return (
        len(secret) >= MIN_PATH_TOKEN_CHARS and entropy_bits_per_char(secret) >= MIN_PATH_TOKEN_BITS_PER_CHAR
    )


def verify_path_token(line: RequestLine, secrets: Sequence[str]) -> Verified:
    """The path's token equals one of the secret's values (compared in constant time, with every value)."""
    if not secrets or not all(_usable_path_token(secret) for secret in secrets):
        error = SignatureError("unusable_secret")
        error.add_note(
            f"a path token must be at least {MIN_PATH_TOKEN_CHARS} characters of high entropy (e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
        raise error
    token = line.path_token
    if not token:
        raise SignatureError("missing_token")
    if len(token) > MAX_CREDENTIAL_CHARS:
        raise SignatureError("malformed_token")
    given = token.encode("utf-8", errors="surrogatepass")
    _matches_a_secret(given, secrets)
    return Verified(None)


# --- HTTP Basic authentication ------------------------------------------------------------------------------


def verify_basic(headers: Mapping[str, str], secrets: Sequence[str]) -> Verified:
    """`Authorization: Basic base64(user:password)` equals one of the secret's `user:password` values."""
    value = _header(headers, "authorization", limit=MAX_CREDENTIAL_CHARS)
    if not value:
        raise SignatureError("missing_header")
    kind, _, encoded = value.strip().partition(" ")
    if kind.lower() != "basic":
        raise SignatureError("malformed_header")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("malformed_header") from None
    if b":" not in given:
        raise SignatureError("malformed_header")
    if not secrets or not all(":" in secret for secret in secrets):
        raise SignatureError("unusable_secret")
    _matches_a_secret(given, secrets)
    return Verified(None)


# --- Where a request comes from -----------------------------------------------------------------------------


def check_source_address(allowed: Sequence[Network] | None, source_ip: str | None) -> None:
    """The request comes from one of the profile's `sourceAddresses` (when it lists any); an IPv4 address
    seen as IPv4-mapped IPv6 counts as itself. Raises SignatureError."""
    if allowed is None:
        return
    try:
        address = ipaddress.ip_address(source_ip or "")
    except ValueError:
        raise SignatureError("source_address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not any(address in network for network in allowed):
        raise SignatureError("source_address")


def verify(
    scheme: SignatureScheme,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: float,
    *,
    line: RequestLine | None = None,
    keys: PublicKeys | None = None,
) -> Verified:
    """Verify a request under a profile's scheme (header names lower-cased): `secrets` for the schemes that
    read one, `line` for those that cover the method and path or take a path token, `keys` for the sender's
    public keys. Raises SignatureError."""
    line = line or RequestLine()
    match scheme:
        case StandardWebhooksScheme():
            return verify_standard_webhooks(scheme, headers, body, secrets, now)
        case HmacScheme():
            return verify_hmac(scheme, headers, body, secrets, now)
        case TokenScheme():
            return verify_token(scheme, headers, body, secrets, now)
        case HttpSignatureScheme() if scheme.format == "cavage":
            # The public-key schemes' modules load with the first connector that uses them.
            from .http_signatures import verify_cavage

            return verify_cavage(scheme, headers, body, line=line, now=now, keys=keys)
        case HttpSignatureScheme():
            from .http_signatures import verify_rfc9421

            return verify_rfc9421(scheme, headers, body, line=line, now=now, keys=keys)
        case JwtScheme():
            from .bearer_jwt import verify_jwt

            return verify_jwt(scheme, headers, now, keys)
        case PathTokenScheme():
            return verify_path_token(line, secrets)
        case BasicScheme():
            return verify_basic(headers, secrets)
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
        case BasicScheme():
            return {"authorization": "Basic " + base64.b64encode(value.encode("utf-8")).decode("ascii")}
        case PathTokenScheme():
            return {}  # the token travels in the URL: the secret's value itself
        case HttpSignatureScheme():
            raise ValueError("an HTTP signature is made with the sender's private key")
        case JwtScheme():
            raise ValueError("a JWT is signed by its issuer's private key")
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
