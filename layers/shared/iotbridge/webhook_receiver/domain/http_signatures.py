"""HTTP Signatures over a request, verified with the sender's public key: the draft-cavage form SmartThings
sends (`Authorization: Signature keyId=...,headers="(request-target) digest date",signature=...`), and RFC
9421 (`Signature-Input`, `Signature`).

What a sender controls is bounded and checked before any key is fetched or any signature computed: the
header's size and parameters, the covered headers against the profile's, the time (`date`, `created`,
`expires`) against the tolerance, and the body against the signed digest (in constant time). Every failure
is a SignatureError, answered with the single 401. RFC 9421 is verified by the `http_message_signatures`
library (its signature base, its structured-field parsing); it is imported here, on first use, so a
connector that does not use it loads nothing more.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

from iotbridge.profile.verification import (
    KEY_ID_PLACEHOLDER,
    GivenKey,
    HttpSignatureScheme,
    is_usable_key_id,
)
from iotbridge.signatures.public_keys import UnusableKeyError, load_document, load_jwk, load_pem
from iotbridge.signatures.standard_webhooks import MAX_SIGNATURE_HEADER_CHARS, SignatureError, check_timestamp

from ..ports import KeyUnavailableError, PublicKeys
from .verified import RequestLine, Verified

if TYPE_CHECKING:
    from iotbridge.signatures.public_keys import PublicKey

MAX_PARAMETERS = 8
MAX_SIGNED_HEADERS = 32
# An RSA signature of 8192 bits, the largest key taken.
MAX_SIGNATURE_BYTES = 1024
MAX_DIGEST_HEADER_CHARS = 512
MAX_DATE_CHARS = 64
MAX_RFC9421_SIGNATURES = 8
_DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
# One `name="value"` or `name=123` parameter and the comma after it. No nested quantifiers: linear time.
_PARAMETER = re.compile(
    r'[ \t]*([A-Za-z]{1,16})[ \t]*=[ \t]*(?:"([^"]*)"|(\d{1,12}(?:\.\d{1,9})?))[ \t]*(?:,|$)'
)


# --- Keys: given in the profile, or at the sender's URL -----------------------------------------------------


def resolve_key(scheme: HttpSignatureScheme, key_id: str, keys: PublicKeys | None) -> PublicKey:
    """The key `key_id` names: one the profile gives, else the one at `keyUrl`. Raises SignatureError."""
    if not is_usable_key_id(key_id):
        raise SignatureError("malformed_key_id")
    for given in scheme.keys:
        if given.key_id == key_id:
            return _given_key(given)
    if scheme.key_url is None:
        raise SignatureError("unknown_key")
    if keys is None:
        raise SignatureError("key_unavailable")
    url = scheme.key_url.replace(KEY_ID_PLACEHOLDER, key_id)
    hosts = frozenset(host.lower() for host in scheme.key_hosts)
    key = _fetched_key(keys, url, hosts, key_id, refresh=False)
    if key is None and KEY_ID_PLACEHOLDER not in scheme.key_url:
        # A key set at one URL that does not list this id (yet): fetched again, at most once a minute.
        key = _fetched_key(keys, url, hosts, key_id, refresh=True)
    if key is None:
        raise SignatureError("unknown_key")
    return key


def _given_key(given: GivenKey) -> PublicKey:
    if given.pem is not None:
        return load_pem(given.pem.encode("ascii", errors="replace"))
    return _jwk_key(json.dumps(given.jwk, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _jwk_key(text: str) -> PublicKey:
    return load_jwk(json.loads(text))


def _fetched_key(keys: PublicKeys, url: str, hosts: frozenset[str], key_id: str, *, refresh: bool) -> Any:
    try:
        document = keys.document(url, hosts=hosts, refresh=refresh)
    except KeyUnavailableError:
        raise SignatureError("key_unavailable") from None
    try:
        return load_document(document, key_id)
    except UnusableKeyError:
        raise SignatureError("unusable_key") from None


# --- draft-cavage-http-signatures-12 ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CavageSignature:
    """A parsed draft-cavage signature header: who signed (`keyId`), how, what it covers, the signature."""

    key_id: str
    algorithm: str  # as the header names it, lower-case; "hs2019" when it names none
    covered: tuple[str, ...]
    signature: bytes
    parameters: Mapping[str, str] = field(default_factory=dict)


def _signature_header(headers: Mapping[str, str]) -> str:
    authorization = headers.get("authorization")
    if authorization is not None and authorization[:10].lower() == "signature ":
        value: str | None = authorization[10:]
    else:
        value = headers.get("signature")
    if not value:
        raise SignatureError("missing_header")
    if len(value) > MAX_SIGNATURE_HEADER_CHARS or not value.isascii():
        raise SignatureError("malformed_header")
    return value


def _parameters(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    position = 0
    text = text.strip()
    while position < len(text):
        match = _PARAMETER.match(text, position)
        if match is None or match.end() == position:
            raise SignatureError("malformed_signature")
        name = match.group(1)
        # The draft forbids a parameter twice: which one a verifier takes would be a guess.
        if name in found or len(found) >= MAX_PARAMETERS:
            raise SignatureError("malformed_signature")
        found[name] = match.group(2) if match.group(2) is not None else match.group(3)
        position = match.end()
    return found


def read_cavage(headers: Mapping[str, str]) -> CavageSignature:
    """The signature the request carries in `Authorization: Signature ...` or `Signature:`. Raises
    SignatureError."""
    parameters = _parameters(_signature_header(headers))
    key_id = parameters.get("keyId")
    encoded = parameters.get("signature")
    if not key_id or not encoded:
        raise SignatureError("malformed_signature")
    named = parameters.get("algorithm")
    algorithm = named.lower() if named else "hs2019"
    if "headers" in parameters:
        covered = tuple(parameters["headers"].lower().split())
    else:
        # Without a list: `date` for the algorithms named after their hash (the draft's Appendix C.1),
        # `(created)` for hs2019 (its Section 2.1.6).
        covered = ("(created)",) if algorithm == "hs2019" else ("date",)
    if not covered or len(covered) > MAX_SIGNED_HEADERS:
        raise SignatureError("malformed_signature")
    if len(encoded) > (MAX_SIGNATURE_BYTES * 4 + 2) // 3 + 3:
        raise SignatureError("malformed_signature")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("malformed_signature") from None
    return CavageSignature(key_id, algorithm, covered, signature, parameters)


def cavage_signing_string(signed: CavageSignature, headers: Mapping[str, str], line: RequestLine) -> str:
    """The signing string (the draft's Section 2.3): one `name: value` line per covered header, in order."""
    lines = []
    for name in signed.covered:
        if name == "(request-target)":
            target = (line.path or "/") + (f"?{line.query}" if line.query else "")
            value = f"{line.method.lower()} {target}"
        elif name in ("(created)", "(expires)"):
            found = signed.parameters.get(name[1:-1])
            if found is None:
                raise SignatureError("malformed_signature")
            value = found
        else:
            header = headers.get(name)
            if header is None:
                raise SignatureError("missing_header")
            value = header.strip()
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def check_cavage(
    signed: CavageSignature, key: PublicKey, headers: Mapping[str, str], line: RequestLine
) -> bytes:
    """Verify the signature over the signing string with `key`; the signing string. RSA PKCS#1 v1.5 with
    SHA-256 (`rsa-sha256`), ECDSA P-256 with SHA-256 (`ecdsa-sha256`, DER or r||s), and, for `hs2019`, the
    one the key's type implies (those two, or Ed25519). Raises SignatureError."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

    data = cavage_signing_string(signed, headers, line).encode("utf-8")
    signature, algorithm = signed.signature, signed.algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm in ("rsa-sha256", "hs2019"):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif (
            isinstance(key, ec.EllipticCurvePublicKey)
            and key.curve.name == "secp256r1"
            and algorithm in ("ecdsa-sha256", "hs2019")
        ):
            if len(signature) == 64:  # r||s, as some senders encode it, rather than DER
                signature = utils.encode_dss_signature(
                    int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                )
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey) and algorithm == "hs2019":
            key.verify(signature, data)
        else:
            raise SignatureError("algorithm_mismatch")
    except InvalidSignature:
        raise SignatureError("signature_mismatch") from None
    return data


def _unix_time(text: str) -> int:
    try:
        return int(float(text))
    except ValueError:
        raise SignatureError("malformed_timestamp") from None


def _check_cavage_times(
    signed: CavageSignature, headers: Mapping[str, str], now: float, tolerance_seconds: int
) -> None:
    if "date" in signed.covered:
        text = headers.get("date", "")
        try:
            parsed = email.utils.parsedate_to_datetime(text) if 0 < len(text) <= MAX_DATE_CHARS else None
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is None:
            raise SignatureError("malformed_timestamp")
        if parsed.tzinfo is None:  # `-0000`: the zone unknown; HTTP dates are GMT
            parsed = parsed.replace(tzinfo=UTC)
        check_timestamp(int(parsed.timestamp()), now=now, tolerance_seconds=tolerance_seconds)
    if "(created)" in signed.covered and "created" in signed.parameters:
        check_timestamp(
            _unix_time(signed.parameters["created"]), now=now, tolerance_seconds=tolerance_seconds
        )
    expires = signed.parameters.get("expires") if "(expires)" in signed.covered else None
    if expires is not None and _unix_time(expires) < now:
        raise SignatureError("expired")


def check_digest(value: str | None, body: bytes) -> None:
    """Every SHA-256 or SHA-512 entry of a `Digest` header (`SHA-256=<base64>`, RFC 3230) matches the body,
    compared in constant time; at least one must be there. Raises SignatureError."""
    if not value:
        raise SignatureError("missing_header")
    if len(value) > MAX_DIGEST_HEADER_CHARS or not value.isascii():
        raise SignatureError("malformed_digest")
    known = False
    for entry in value.split(","):
        name, found, encoded = entry.strip().partition("=")
        if not found:
            raise SignatureError("malformed_digest")
        digest = _DIGESTS.get(name.strip().lower())
        if digest is None:
            continue  # another algorithm, not ours to judge
        known = True
        try:
            expected = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("malformed_digest") from None
        if not hmac.compare_digest(digest(body).digest(), expected):
            raise SignatureError("digest_mismatch")
    if not known:
        raise SignatureError("unsupported_digest")


def verify_cavage(
    scheme: HttpSignatureScheme,
    headers: Mapping[str, str],
    body: bytes,
    *,
    line: RequestLine,
    now: float,
    keys: PublicKeys | None,
) -> Verified:

    signed = read_cavage(headers)
    if signed.algorithm not in scheme.allowed_algorithms:
        raise SignatureError("algorithm_not_allowed")
    if not set(scheme.covered) <= set(signed.covered):
        raise SignatureError("insufficient_coverage")
    # Cheap checks first: a stale or tampered request costs no key fetch and no signature check.
    _check_cavage_times(signed, headers, now, scheme.tolerance_seconds)
    if "digest" in signed.covered:
        check_digest(headers.get("digest"), body)
    key = resolve_key(scheme, signed.key_id, keys)
    signing_string = check_cavage(signed, key, headers, line)
    return Verified(None, signing_string + b"\n")


# --- RFC 9421 HTTP Message Signatures -----------------------------------------------------------------------

_RFC9421_KEY_TYPES = {
    "rsa-pss-sha512": "rsa",
    "rsa-v1_5-sha256": "rsa",
    "ecdsa-p256-sha256": "secp256r1",
    "ecdsa-p384-sha384": "secp384r1",
    "ed25519": "ed25519",
}


def _key_type(key: PublicKey) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.curve.name
    return "ed25519"


def _bounded_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise SignatureError("missing_header")
    if len(value) > MAX_SIGNATURE_HEADER_CHARS or not value.isascii():
        raise SignatureError("malformed_header")
    return value


@dataclass(frozen=True, slots=True)
class _Selected:
    """The one signature the profile chooses: its label, parameters, the components it covers with no
    parameters of their own, and the two header fields holding it alone."""

    label: str
    params: dict[str, Any]
    covered: set[str]
    signature_input: str
    signature: str


def _dictionary(value: str) -> dict[str, Any]:
    import http_sf

    try:
        parsed: Any = http_sf.parse(value.encode("ascii"), tltype="dictionary")
    except Exception:  # http_sf raises ValueError and its own errors for malformed fields
        raise SignatureError("malformed_signature") from None
    if not isinstance(parsed, dict) or not parsed or len(parsed) > MAX_RFC9421_SIGNATURES:
        raise SignatureError("malformed_signature")
    return parsed


def _selected(scheme: HttpSignatureScheme, signature_input: str, signature: str) -> _Selected:
    """The signature the profile chooses: by its label, by its signed tag, or the only one. The sender does
    not choose which of several is verified."""
    import http_sf

    parsed = _dictionary(signature_input)
    signatures = _dictionary(signature)
    candidates = [
        (label, params)
        for label, (_member, params) in parsed.items()
        if (scheme.label is None or label == scheme.label)
        and (scheme.tag is None or params.get("tag") == scheme.tag)
    ]
    if len(candidates) != 1:
        raise SignatureError("no_signature" if not candidates else "ambiguous_signature")
    label, params = candidates[0]
    member = parsed[label][0]
    if not isinstance(member, list) or label not in signatures:
        raise SignatureError("malformed_signature")
    covered = {value for value, item_params in member if isinstance(value, str) and not item_params}
    try:
        alone = (http_sf.ser({label: parsed[label]}), http_sf.ser({label: signatures[label]}))
    except Exception:  # a member http_sf parsed but cannot write again
        raise SignatureError("malformed_signature") from None
    return _Selected(label, dict(params), covered, *alone)


def _rfc9421_algorithm(scheme: HttpSignatureScheme, named: Any, key: PublicKey) -> str:
    kind = _key_type(key)
    if named is not None:
        if not isinstance(named, str) or named not in scheme.allowed_algorithms:
            raise SignatureError("algorithm_not_allowed")
        if _RFC9421_KEY_TYPES.get(named) != kind:
            raise SignatureError("algorithm_mismatch")
        return named
    for algorithm in scheme.allowed_algorithms:
        if _RFC9421_KEY_TYPES.get(algorithm) == kind:
            return algorithm
    raise SignatureError("algorithm_mismatch")


def _check_rfc9421_times(params: Mapping[str, Any], now: float, tolerance_seconds: int) -> None:
    created = params.get("created")
    if type(created) is not int:
        raise SignatureError("missing_timestamp" if created is None else "malformed_timestamp")
    check_timestamp(created, now=now, tolerance_seconds=tolerance_seconds)
    expires = params.get("expires")
    if expires is not None and (type(expires) is not int or expires < now):
        raise SignatureError("expired")


@dataclass(frozen=True, slots=True)
class _Message:
    """A request as `http_message_signatures` reads one."""

    method: str
    url: str
    headers: Mapping[str, str]


class _OneKey:
    def __init__(self, key_id: str, key: PublicKey) -> None:
        self._key_id, self._key = key_id, key

    def resolve_public_key(self, key_id: str) -> PublicKey | None:
        return self._key if key_id == self._key_id else None

    def resolve_private_key(self, key_id: str) -> None:
        raise SignatureError("no_private_key")


@functools.cache
def _verifier_type() -> Any:
    """The library's verifier, with the relay's clock and tolerance for `created` and `expires` (its own
    reads the system clock)."""
    from http_message_signatures import HTTPMessageVerifier

    class RelayVerifier(HTTPMessageVerifier):
        def __init__(self, *, now: float, tolerance_seconds: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.now, self.tolerance_seconds = now, tolerance_seconds

        def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
            _check_rfc9421_times(sig_input.params, self.now, self.tolerance_seconds)

    return RelayVerifier


def _algorithm_type(name: str) -> Any:
    from http_message_signatures import algorithms

    return {
        "rsa-pss-sha512": algorithms.RSA_PSS_SHA512,
        "rsa-v1_5-sha256": algorithms.RSA_V1_5_SHA256,
        "ecdsa-p256-sha256": algorithms.ECDSA_P256_SHA256,
        "ecdsa-p384-sha384": algorithms.ECDSA_P384_SHA384,
        "ed25519": algorithms.ED25519,
    }[name]


def verify_rfc9421(
    scheme: HttpSignatureScheme,
    headers: Mapping[str, str],
    body: bytes,
    *,
    line: RequestLine,
    now: float,
    keys: PublicKeys | None,
) -> Verified:
    from http_message_signatures import ContentDigest, HTTPMessageSignaturesException, InvalidSignature

    selected = _selected(
        scheme, _bounded_header(headers, "signature-input"), _bounded_header(headers, "signature")
    )
    params = selected.params
    host = headers.get("host")
    if not host:
        raise SignatureError("missing_header")
    key_id = params.get("keyid")
    if not isinstance(key_id, str):
        raise SignatureError("malformed_signature")
    # Cheap checks first: a stale, partial or tampered request costs no key fetch and no signature check.
    if not set(scheme.covered) <= selected.covered:
        raise SignatureError("insufficient_coverage")
    _check_rfc9421_times(params, now, scheme.tolerance_seconds)
    try:
        ContentDigest.verify(_bounded_header(headers, "content-digest"), body)
    except InvalidSignature:
        raise SignatureError("digest_mismatch") from None
    key = resolve_key(scheme, key_id, keys)
    algorithm = _rfc9421_algorithm(scheme, params.get("alg"), key)
    verifier = _verifier_type()(
        now=now,
        tolerance_seconds=scheme.tolerance_seconds,
        signature_algorithm=_algorithm_type(algorithm),
        key_resolver=_OneKey(key_id, key),
    )
    target = (line.path or "/") + (f"?{line.query}" if line.query else "")
    # The message as sent, with the chosen signature alone: the library then verifies that one.
    alone = {"signature-input": selected.signature_input, "signature": selected.signature}
    message = _Message(line.method.upper(), f"https://{host}{target}", {**headers, **alone})
    try:
        results = verifier.verify(message, max_age=None, require_components=scheme.covered, body=body)
    except InvalidSignature:
        raise SignatureError("signature_mismatch") from None
    except (HTTPMessageSignaturesException, ValueError, TypeError, KeyError):
        raise SignatureError("malformed_signature") from None
    base = "\n".join(f"{name}: {value}" for name, value in results[0].covered_components.items())
    return Verified(None, base.encode("ascii") + b"\n")
