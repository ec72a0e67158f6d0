"""A bearer JWT, as Google Cloud Pub/Sub push sends one (an OpenID Connect ID token in `Authorization:
Bearer`): its signature checked with the issuer's published keys, then its issuer, audience, times and, when
the profile names one, its verified email.

PyJWT verifies the signature and the issuer and audience claims, with only the algorithms the profile lists
(RS256, ES256: never `none`, never an HMAC that a public key could be misused as the secret of), and with a
key bound to its algorithm. The times (`exp`, `nbf`, `iat`) are checked here against the relay's clock, with
the profile's leeway. PyJWT is imported on first use, so a connector that does not use JWTs loads nothing
more. The keys come through the PublicKeys port: the profile's `jwksUrl`, or the `jwks_uri` of the issuer's
OpenID configuration; a `kid` not in the cached set makes it fetch the set again, at most once a minute.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from iotbridge.profile.verification import JwtScheme, url_host
from iotbridge.signatures.standard_webhooks import SignatureError

from ..ports import KeyUnavailableError, PublicKeys
from .verified import Verified

MAX_TOKEN_CHARS = 8192
MAX_KEY_ID_CHARS = 256
OPENID_CONFIGURATION = "/.well-known/openid-configuration"


def _token(value: str | None) -> str:
    if not value:
        raise SignatureError("missing_header")
    if len(value) > MAX_TOKEN_CHARS or not value.isascii():
        raise SignatureError("malformed_token")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SignatureError("malformed_token")
    return token.strip()


@functools.lru_cache(maxsize=16)
def _key_set(document: bytes) -> Any:
    """The JWK set in a fetched document, by PyJWT (keys of kinds it cannot use are left out)."""
    import jwt

    try:
        data = json.loads(document)
        return jwt.PyJWKSet.from_dict(data if isinstance(data, dict) else {})
    except (ValueError, RecursionError, jwt.PyJWTError):
        raise SignatureError("unusable_key") from None


@functools.lru_cache(maxsize=16)
def _jwks_uri(document: bytes) -> str:
    try:
        data = json.loads(document)
    except (ValueError, RecursionError):
        data = None
    uri = data.get("jwks_uri") if isinstance(data, dict) else None
    if not isinstance(uri, str) or not url_host(uri):
        raise SignatureError("unusable_key")
    return uri


def _fetch(keys: PublicKeys, url: str, *, refresh: bool = False) -> bytes:
    try:
        return keys.document(url, hosts=frozenset({url_host(url)}), refresh=refresh)
    except KeyUnavailableError:
        raise SignatureError("key_unavailable") from None


def _keys_url(scheme: JwtScheme, keys: PublicKeys) -> str:
    if scheme.jwks_url is not None:
        return scheme.jwks_url
    issuer = scheme.discovery_issuer or ""
    return _jwks_uri(_fetch(keys, issuer.rstrip("/") + OPENID_CONFIGURATION))


def _signing_key(scheme: JwtScheme, keys: PublicKeys, kid: str | None) -> Any:
    """The issuer's key the token names: by its `kid`, or the set's only key when the token names none."""
    url = _keys_url(scheme, keys)
    for refresh in (False, True):
        found = list(_key_set(_fetch(keys, url, refresh=refresh)))
        if kid is None and len(found) == 1:
            return found[0]
        match = next((key for key in found if key.key_id == kid), None) if kid is not None else None
        if match is not None:
            return match
    raise SignatureError("unknown_key")


def _claims(scheme: JwtScheme, token: str, key: Any) -> dict[str, Any]:
    import jwt

    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=list(scheme.algorithms),
            audience=scheme.audience,
            issuer=scheme.issuers,
            options={
                "require": ["exp", "iat", "iss", "aud"],
                # Checked below, against the relay's clock rather than the system's.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidAudienceError:
        raise SignatureError("wrong_audience") from None
    except jwt.InvalidIssuerError:
        raise SignatureError("wrong_issuer") from None
    except jwt.MissingRequiredClaimError:
        raise SignatureError("missing_claim") from None
    except jwt.InvalidSignatureError:
        raise SignatureError("signature_mismatch") from None
    except jwt.InvalidAlgorithmError:
        raise SignatureError("algorithm_not_allowed") from None
    except jwt.PyJWTError:
        raise SignatureError("invalid_token") from None
    return claims


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignatureError("invalid_token")
    return float(value)


def _check_times(claims: Mapping[str, Any], now: float, leeway: int) -> None:
    expires, not_before, issued = _number(claims, "exp"), _number(claims, "nbf"), _number(claims, "iat")
    if expires is not None and now > expires + leeway:
        raise SignatureError("expired")
    if (not_before is not None and not_before > now + leeway) or (
        issued is not None and issued > now + leeway
    ):
        raise SignatureError("not_yet_valid")


def verify_jwt(
    scheme: JwtScheme, headers: Mapping[str, str], now: float, keys: PublicKeys | None
) -> Verified:
    import jwt

    token = _token(headers.get(scheme.header))
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise SignatureError("malformed_token") from None
    # Before any key is fetched: `none`, HS256 and whatever else the profile does not list end here.
    if header.get("alg") not in scheme.algorithms:
        raise SignatureError("algorithm_not_allowed")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= MAX_KEY_ID_CHARS):
        raise SignatureError("malformed_token")
    if keys is None:
        raise SignatureError("key_unavailable")
    claims = _claims(scheme, token, _signing_key(scheme, keys, kid))
    _check_times(claims, now, scheme.leeway_seconds)
    if scheme.email is not None:
        if claims.get("email") != scheme.email:
            raise SignatureError("wrong_email")
        if claims.get("email_verified") is not True:
            raise SignatureError("email_not_verified")
    # The token covers no byte of the request: nothing before the body is signed.
    return Verified(None)
