"""Standard Webhooks signatures over `{id}.{timestamp}.{raw body}`: v1 (HMAC-SHA256 with a `whsec_` secret)
and v1a (ed25519 with a `whpk_` public key), base64, in `version,signature` entries."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Imported with the module (at init, with burst CPU: about 20 ms here), not on the first v1a request,
# where the invoke phase's share of a CPU would make it several times slower.
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from iotbridge.errors import PermanentError

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
PUBLIC_KEY_PREFIX = "whpk_"
ED25519_SIGNATURE_BYTES = 64
ED25519_PUBLIC_KEY_BYTES = 32
# Bounds on what a sender controls, so a hostile header cannot make verification expensive.
MAX_WEBHOOK_ID_CHARS = 256
MAX_SIGNATURE_HEADER_CHARS = 4096
MAX_SIGNATURE_ENTRIES = 10
# v1a entries tried per request (each against every stored public key): a sender rotating its key signs
# with the old and the new one. An ed25519 check costs far more than an HMAC; more entries are refused.
MAX_V1A_ENTRIES = 2
MAX_TIMESTAMP_DIGITS = 12
# The encodings of ed25519's eight small-order points (and the two with x = 0 written with the sign bit set).
# Under such a key a made-up signature verifies for a share of messages, so none is taken as a key.
_P = 2**255 - 19
SMALL_ORDER_PUBLIC_KEYS = frozenset(
    bytes.fromhex(value)
    for value in (
        "0100000000000000000000000000000000000000000000000000000000000000",  # order 1 (the identity)
        "0100000000000000000000000000000000000000000000000000000000000080",  # the identity, sign bit set
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # order 2, sign bit set
        "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
        "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
    )
)


class SignatureError(PermanentError):
    """The request is not authentically from the connector. `reason` is for logs and metrics only:
    callers must answer every reason with the same generic 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SecretFormatError(PermanentError):
    """A stored signing secret is not a `whsec_` base64 value."""


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    webhook_id: str
    timestamp: int
    signatures: tuple[bytes, ...]  # decoded v1 signatures; entries of versions not accepted are ignored
    ed25519_signatures: tuple[bytes, ...] = ()  # decoded v1a signatures, when v1a is accepted


def parse_secret(value: str) -> bytes:
    """The HMAC key inside a `whsec_<base64>` secret."""
    encoded = value.strip()
    encoded = encoded.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SecretFormatError("signing secret is not base64 after its whsec_ prefix") from None
    if len(key) < 16:
        raise SecretFormatError("signing secret is shorter than 16 bytes")
    return key


def parse_secrets(secret_string: str) -> tuple[bytes, ...]:
    """All keys of a stored secret: one or more `whsec_` values separated by white space (rotation)."""
    keys = tuple(parse_secret(part) for part in secret_string.split())
    if not keys:
        raise SecretFormatError("secret holds no signing secret")
    return keys


def secret_values(secret_string: str) -> tuple[str, ...]:
    """The values of a stored secret: one per line (several during a rotation), blank lines ignored."""
    return tuple(line.strip() for line in secret_string.splitlines() if line.strip())


def _is_printable_ascii(value: str) -> bool:
    return value.isascii() and value.isprintable()


def parse_headers(
    webhook_id: str | None,
    timestamp: str | None,
    signature: str | None,
    *,
    versions: frozenset[str] = frozenset({"v1"}),
) -> SignedHeaders:
    """Check the three headers' form, keeping the entries of the accepted `versions` ("v1", "v1a").
    Raises SignatureError naming what is wrong."""
    if not webhook_id or not timestamp or not signature:
        raise SignatureError("missing_header")
    if len(webhook_id) > MAX_WEBHOOK_ID_CHARS or not _is_printable_ascii(webhook_id):
        raise SignatureError("malformed_id")
    if len(timestamp) > MAX_TIMESTAMP_DIGITS or not timestamp.isascii() or not timestamp.isdigit():
        raise SignatureError("malformed_timestamp")
    if len(signature) > MAX_SIGNATURE_HEADER_CHARS:
        raise SignatureError("malformed_signature")
    entries = signature.split()
    if not entries or len(entries) > MAX_SIGNATURE_ENTRIES:
        raise SignatureError("malformed_signature")
    decoded: dict[str, list[bytes]] = {"v1": [], "v1a": []}
    for entry in entries:
        version, sep, value = entry.partition(",")
        if not sep:
            raise SignatureError("malformed_signature")
        if version not in versions or version not in decoded:
            continue  # a version not accepted here, or a future one: not ours to judge
        try:
            decoded[version].append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise SignatureError("malformed_signature") from None
    if not decoded["v1"] and not decoded["v1a"]:
        raise SignatureError("no_v1_signature")
    if len(decoded["v1a"]) > MAX_V1A_ENTRIES:
        raise SignatureError("malformed_signature")
    return SignedHeaders(
        webhook_id=webhook_id,
        timestamp=int(timestamp),
        signatures=tuple(decoded["v1"]),
        ed25519_signatures=tuple(decoded["v1a"]),
    )


def expected_signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> bytes:
    mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode(), hashlib.sha256)
    mac.update(body)
    return mac.digest()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for `body` (for local tools and tests)."""
    digest = expected_signature(parse_secret(secret), webhook_id, timestamp, body)
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_signature(
    headers: SignedHeaders,
    body: bytes,
    keys: Sequence[bytes],
    *,
    now: float,
    tolerance_seconds: int,
    public_keys: Sequence[bytes] = (),
) -> None:
    """Accept when the timestamp is within tolerance and any v1 signature matches any key, or any v1a
    signature verifies under any public key.

    Raises SignatureError otherwise. The timestamp is checked first: a stale request costs no HMAC.
    """
    check_timestamp(headers.timestamp, now=now, tolerance_seconds=tolerance_seconds)
    matched = _any_match(headers, body, keys)
    if headers.ed25519_signatures and public_keys:
        matched |= _any_ed25519_match(headers, body, public_keys)
    if matched:
        return
    raise SignatureError("signature_mismatch")


def check_timestamp(timestamp: int, *, now: float, tolerance_seconds: int) -> None:
    """Raises SignatureError when a signed timestamp is further than the tolerance from now."""
    if timestamp < now - tolerance_seconds:
        raise SignatureError("timestamp_too_old")
    if timestamp > now + tolerance_seconds:
        raise SignatureError("timestamp_in_future")


def parse_public_key(value: str) -> bytes:
    """The ed25519 public key inside a `whpk_<base64>` value."""
    encoded = value.strip().removeprefix(PUBLIC_KEY_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SecretFormatError("public key is not base64 after its whpk_ prefix") from None
    if len(key) != ED25519_PUBLIC_KEY_BYTES:
        raise SecretFormatError("public key is not 32 bytes")
    # y (the low 255 bits) at or above p is a second spelling of another point: only one spelling is a key.
    if int.from_bytes(key, "little") & ((1 << 255) - 1) >= _P:
        raise SecretFormatError("public key is not a canonical ed25519 encoding")
    if key in SMALL_ORDER_PUBLIC_KEYS:
        raise SecretFormatError("public key is a small-order point, under which forged signatures verify")
    return key


def _any_ed25519_match(headers: SignedHeaders, body: bytes, public_keys: Iterable[bytes]) -> bool:
    content = f"{headers.webhook_id}.{headers.timestamp}.".encode() + body
    matched = False
    for raw in public_keys:
        key = Ed25519PublicKey.from_public_bytes(raw)
        for candidate in headers.ed25519_signatures:
            if len(candidate) != ED25519_SIGNATURE_BYTES:
                continue
            try:
                key.verify(candidate, content)
            except InvalidSignature:
                continue
            matched = True
    return matched


def _any_match(headers: SignedHeaders, body: bytes, keys: Iterable[bytes]) -> bool:
    matched = False
    for key in keys:
        expected = expected_signature(key, headers.webhook_id, headers.timestamp, body)
        for candidate in headers.signatures:
            # No early exit: the work done does not depend on which entry matched.
            matched |= hmac.compare_digest(expected, candidate)
    return matched
