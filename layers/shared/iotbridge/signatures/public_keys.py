"""Senders' public keys as they publish them: a PEM public key or x.509 certificate (SmartThings' keys), a
JSON Web Key, or a JSON Web Key Set, each read into a `cryptography` key object.

Only what the signature schemes verify with is taken: RSA of at least MIN_RSA_BITS, ECDSA on P-256 or P-384,
and Ed25519. What costs start-up time (x.509, JSON) is imported when a key is first read, and the keys read
from the same bytes are remembered, so a key fetched once is parsed once per execution environment.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from iotbridge.errors import PermanentError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    type PublicKey = RSAPublicKey | EllipticCurvePublicKey | Ed25519PublicKey

# The published draft-cavage test key is 1024 bits; every deployed sender we know of uses 2048 or more.
MIN_RSA_BITS = 1024
MAX_RSA_BITS = 8192
MAX_PEM_BYTES = 16 * 1024
MAX_KEYS_IN_SET = 32
MAX_KEY_ID_CHARS = 256
_CURVES = ("P-256", "P-384")
_PARSED_DOCUMENTS = 64


class UnusableKeyError(PermanentError):
    """A key that cannot be read, or one no scheme verifies with (its type, curve or size)."""


def _checked(key: Any) -> PublicKey:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, rsa.RSAPublicKey):
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise UnusableKeyError(f"an RSA key must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise UnusableKeyError("an EC key must be on P-256 or P-384")
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise UnusableKeyError("the key must be RSA, EC (P-256, P-384) or Ed25519")


@functools.lru_cache(maxsize=_PARSED_DOCUMENTS)
def load_pem(data: bytes) -> PublicKey:
    """The public key of a PEM `PUBLIC KEY`, `RSA PUBLIC KEY` or `CERTIFICATE` (its subject's key; the
    certificate's own signature and dates are not what vouches for it: the URL it came from is). Raises
    UnusableKeyError."""
    if len(data) > MAX_PEM_BYTES:
        raise UnusableKeyError(f"a PEM key must be at most {MAX_PEM_BYTES} bytes")
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            from cryptography import x509

            key: Any = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = load_pem_public_key(data)
    except (ValueError, TypeError):
        raise UnusableKeyError("not a PEM public key or certificate") from None
    except Exception as exc:  # cryptography's Rust parser raises its own types for some malformed DER
        raise UnusableKeyError("not a PEM public key or certificate") from exc
    return _checked(key)


def _number(jwk: Mapping[str, Any], member: str, *, max_bytes: int) -> int:
    value = jwk.get(member)
    if not isinstance(value, str) or not 0 < len(value) <= (max_bytes * 4 + 2) // 3 + 2:
        raise UnusableKeyError(f"the JWK's {member} must be base64url text")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise UnusableKeyError(f"the JWK's {member} must be base64url text") from None
    return int.from_bytes(raw, "big")


def load_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """The public key of a JSON Web Key (RFC 7517): `RSA` (n, e), `EC` (crv, x, y) or `OKP` Ed25519 (x).
    Raises UnusableKeyError."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    kty = jwk.get("kty")
    try:
        if kty == "RSA":
            n = _number(jwk, "n", max_bytes=MAX_RSA_BITS // 8)
            e = _number(jwk, "e", max_bytes=8)
            return _checked(rsa.RSAPublicNumbers(e, n).public_key())
        if kty == "EC":
            crv = jwk.get("crv")
            if crv not in _CURVES:
                raise UnusableKeyError("an EC JWK must be on P-256 or P-384")
            curve = ec.SECP256R1() if crv == "P-256" else ec.SECP384R1()
            x = _number(jwk, "x", max_bytes=48)
            y = _number(jwk, "y", max_bytes=48)
            return _checked(ec.EllipticCurvePublicNumbers(x, y, curve).public_key())
        if kty == "OKP" and jwk.get("crv") == "Ed25519":
            raw = _number(jwk, "x", max_bytes=32).to_bytes(32, "big")
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, OverflowError):
        # A point off the curve, an exponent that cannot be one.
        raise UnusableKeyError("the JWK does not hold a usable public key") from None
    raise UnusableKeyError("a JWK must be RSA, EC (P-256, P-384) or OKP Ed25519")


@functools.lru_cache(maxsize=_PARSED_DOCUMENTS)
def load_key_set(data: bytes) -> Mapping[str, PublicKey]:
    """The keys of a JSON Web Key Set by their `kid`; keys without one, or of a kind no scheme uses, are left
    out (a set also lists keys for other uses). Raises UnusableKeyError when the document is not a set."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise UnusableKeyError("not JSON") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or len(keys) > MAX_KEYS_IN_SET:
        raise UnusableKeyError(f"not a JWK set (a `keys` list of at most {MAX_KEYS_IN_SET})")
    found: dict[str, PublicKey] = {}
    for jwk in keys:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KEY_ID_CHARS:
            continue
        try:
            found[kid] = load_jwk(jwk)
        except UnusableKeyError:
            continue
    return found


def load_document(data: bytes, key_id: str) -> PublicKey | None:
    """The key `key_id` names in a fetched document: a PEM key or certificate (the document is the key), or
    a JWK set (None when the set has no such key: it may have rotated). Raises UnusableKeyError."""
    if data.lstrip().startswith(b"{"):
        return load_key_set(data).get(key_id)
    return load_pem(data)
