"""Bearer JWTs as Google Cloud Pub/Sub push sends them, minted with Google's own library (`google.auth.jwt`)
and verified against a JWK set served by a real HTTP server on 127.0.0.1.

The claims are the ones Google documents for authenticated push (cloud.google.com/pubsub/docs/
authenticate-push-subscriptions, "JWT format"): a header `{"alg": "RS256", "kid": ..., "typ": "JWT"}` and
the claims `aud`, `azp`, `email`, `email_verified`, `exp`, `iat`, `iss` (`https://accounts.google.com`),
`sub`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from google.auth import crypt as google_crypt
from google.auth import jwt as google_jwt

from fakes.key_server import KeyServer, key_server
from iotbridge.profile.verification import JwtScheme
from iotbridge.registry.public_keys import REFRESH_SECONDS, HttpsPublicKeys
from iotbridge.signatures.standard_webhooks import SignatureError
from iotbridge.webhook_receiver.domain.verification import Verified, verify

NOW = 1_790_000_000
AUDIENCE = "https://relay.example.com/connectors/google-nest/events"
PUSH_ACCOUNT = "sdm-push@my-gcp-project.iam.gserviceaccount.com"
BODY = b'{"message": {"data": "e30=", "messageId": "2070443601311540"}, "subscription": "projects/p/subs/s"}'
CERTS = "/oauth2/v3/certs"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def private_pem(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes(3, "big")),
    }


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "alg": "ES256",
        "use": "sig",
        "kid": kid,
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def claims(**changed: Any) -> dict[str, Any]:
    """A push's claims as Google documents them."""
    return {
        "aud": AUDIENCE,
        "azp": "113774264463038321964",
        "email": PUSH_ACCOUNT,
        "sub": "113774264463038321964",
        "email_verified": True,
        "exp": NOW + 3600,
        "iat": NOW,
        "iss": "https://accounts.google.com",
    } | changed


def minted(key: Any, kid: str, **changed: Any) -> str:
    """A token Google's library signs, as Pub/Sub's push service account would."""
    signer = google_crypt.RSASigner.from_string(private_pem(key), kid)
    return google_jwt.encode(signer, claims(**changed)).decode()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "content-type": "application/json"}


@dataclass
class Google:
    """Google's key host on loopback, its current key, and a profile that names it."""

    server: KeyServer
    key: rsa.RSAPrivateKey
    kid: str
    clock: list[float]
    keys: HttpsPublicKeys

    def scheme(self, **fields: Any) -> JwtScheme:
        return JwtScheme.model_validate(
            {
                "scheme": "jwt",
                "issuers": ["https://accounts.google.com", "accounts.google.com"],
                "audience": AUDIENCE,
                "jwksUrl": self.server.url(CERTS),
                "algorithms": ["RS256"],
                "leewaySeconds": 60,
                "email": PUSH_ACCOUNT,
                **fields,
            }
        )

    def publish(self, *jwks: dict[str, str]) -> None:
        self.server.serve(
            CERTS, json.dumps({"keys": list(jwks)}).encode(), headers={"Content-Type": "application/json"}
        )

    def verify(self, token: str, scheme: JwtScheme | None = None, now: float = NOW) -> Verified:
        return verify(scheme or self.scheme(), bearer(token), BODY, (), now, keys=self.keys)

    def reason(self, token: str, scheme: JwtScheme | None = None, now: float = NOW) -> str:
        with pytest.raises(SignatureError) as caught:
            self.verify(token, scheme, now)
        return caught.value.reason


@pytest.fixture(scope="module")
def google_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def pubsub(google_key: rsa.RSAPrivateKey) -> Iterator[Google]:
    with key_server() as server:
        clock = [0.0]
        cloud = Google(
            server,
            google_key,
            "7d680d8c70d44e947133cbd499ebc1a61c3d5abc",
            clock,
            HttpsPublicKeys(allow_loopback=True, clock=lambda: clock[0]),
        )
        cloud.publish(rsa_jwk(google_key, cloud.kid))
        yield cloud


def test_a_push_token_minted_by_googles_library_verifies(pubsub: Google) -> None:
    verified = pubsub.verify(minted(pubsub.key, pubsub.kid))

    # No delivery id is signed: the profile takes it from the body (message.messageId).
    assert verified == Verified(None)
    assert pubsub.server.fetches(CERTS) == 1


def test_the_key_set_is_fetched_once_for_many_tokens(pubsub: Google) -> None:
    for _ in range(3):
        pubsub.verify(minted(pubsub.key, pubsub.kid))

    assert pubsub.server.fetches(CERTS) == 1


@pytest.mark.parametrize(("exp", "expected"), [(NOW - 61, "expired"), (NOW - 59, None)])
def test_an_expired_token_is_refused_beyond_the_leeway(
    pubsub: Google, exp: int, expected: str | None
) -> None:
    token = minted(pubsub.key, pubsub.kid, exp=exp, iat=exp - 3600)

    if expected is None:
        pubsub.verify(token)
    else:
        assert pubsub.reason(token) == expected


def test_a_token_issued_in_the_future_is_refused(pubsub: Google) -> None:
    assert pubsub.reason(minted(pubsub.key, pubsub.kid, iat=NOW + 120)) == "not_yet_valid"


def test_a_token_for_another_audience_is_refused(pubsub: Google) -> None:
    token = minted(pubsub.key, pubsub.kid, aud="https://relay.example.com/connectors/other/events")

    assert pubsub.reason(token) == "wrong_audience"


def test_a_token_from_another_issuer_is_refused(pubsub: Google) -> None:
    assert pubsub.reason(minted(pubsub.key, pubsub.kid, iss="https://issuer.example.com")) == "wrong_issuer"


def test_a_token_without_an_expiry_is_refused(pubsub: Google) -> None:
    signer = google_crypt.RSASigner.from_string(private_pem(pubsub.key), pubsub.kid)
    without = {k: v for k, v in claims().items() if k != "exp"}

    assert pubsub.reason(google_jwt.encode(signer, without).decode()) == "missing_claim"


def test_a_token_of_another_service_account_is_refused(pubsub: Google) -> None:
    token = minted(pubsub.key, pubsub.kid, email="someone-else@other-project.iam.gserviceaccount.com")

    assert pubsub.reason(token) == "wrong_email"


def test_a_token_whose_email_is_not_verified_is_refused(pubsub: Google) -> None:
    assert pubsub.reason(minted(pubsub.key, pubsub.kid, email_verified=False)) == "email_not_verified"


def test_a_token_signed_by_another_key_under_googles_kid_is_refused(pubsub: Google) -> None:
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    assert pubsub.reason(minted(forger, pubsub.kid)) == "signature_mismatch"


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    encode = lambda part: b64url(json.dumps(part).encode())  # noqa: E731
    return f"{encode(header)}.{encode(payload)}.{b64url(signature)}"


def test_an_alg_none_token_is_refused_before_any_key_is_fetched(pubsub: Google) -> None:
    token = unsigned({"alg": "none", "typ": "JWT"}, claims())

    assert pubsub.reason(token) == "algorithm_not_allowed"
    assert pubsub.server.received == []


def test_an_hs256_token_keyed_with_googles_public_key_is_refused(pubsub: Google) -> None:
    # GIVEN a token whose HMAC key is the public key (the key-confusion attack on RS256 verifiers)
    public = pubsub.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": pubsub.kid, "typ": "JWT"}
    signing_input = unsigned(header, claims()).rsplit(".", 1)[0]
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()

    # WHEN it is verified THEN it is refused for its algorithm
    assert pubsub.reason(f"{signing_input}.{b64url(mac)}") == "algorithm_not_allowed"


def test_an_unknown_kid_fetches_the_set_again_at_most_once_a_minute(pubsub: Google) -> None:
    # GIVEN a token signed with a key Google has just rotated in, not in the set the relay first fetched
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = minted(rotated, "rotated-kid")

    # WHEN it arrives now, again within the minute, and once more a minute later (the set still lacks it)
    first = pubsub.reason(token)
    within = pubsub.reason(token)
    pubsub.clock[0] += REFRESH_SECONDS
    later = pubsub.reason(token)
    after_later = pubsub.server.fetches(CERTS)

    # THEN the set is fetched once, then once more a minute later
    assert (first, within, later) == ("unknown_key", "unknown_key", "unknown_key")
    assert after_later == 2

    # AND once the set lists the key, the token verifies on the next refresh
    pubsub.publish(rsa_jwk(pubsub.key, pubsub.kid), rsa_jwk(rotated, "rotated-kid"))
    pubsub.clock[0] += REFRESH_SECONDS
    assert pubsub.verify(token) == Verified(None)
    assert pubsub.server.fetches(CERTS) == 3


def test_an_es256_token_verifies_only_where_the_profile_lists_es256(pubsub: Google) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pubsub.publish(rsa_jwk(pubsub.key, pubsub.kid), ec_jwk(key, "ec-kid"))
    signer = google_crypt.ES256Signer.from_string(private_pem(key), "ec-kid")
    token = google_jwt.encode(signer, claims()).decode()

    assert pubsub.verify(token, pubsub.scheme(algorithms=["RS256", "ES256"])) == Verified(None)
    assert pubsub.reason(token) == "algorithm_not_allowed"


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (None, "missing_header"),
        ("Basic dXNlcjpwYXNz", "malformed_token"),
        ("Bearer not-a-jwt", "malformed_token"),
        ("Bearer " + "a" * 9000, "malformed_token"),
    ],
)
def test_a_missing_or_malformed_bearer_is_refused(
    pubsub: Google, authorization: str | None, expected: str
) -> None:
    headers = {"authorization": authorization} if authorization is not None else {}

    with pytest.raises(SignatureError) as caught:
        verify(pubsub.scheme(), headers, BODY, (), NOW, keys=pubsub.keys)

    assert caught.value.reason == expected


def test_the_keys_are_found_through_the_issuers_openid_configuration(pubsub: Google) -> None:
    # GIVEN an issuer whose OpenID configuration names its key set (as accounts.google.com's does)
    issuer = pubsub.server.base
    configuration = {"issuer": issuer, "jwks_uri": pubsub.server.url(CERTS)}
    pubsub.server.serve("/.well-known/openid-configuration", json.dumps(configuration).encode())
    scheme = pubsub.scheme(jwksUrl=None, discovery=True, issuers=[issuer])

    # WHEN a token of that issuer arrives
    verified = pubsub.verify(minted(pubsub.key, pubsub.kid, iss=issuer), scheme)

    # THEN the configuration, then the set, were fetched
    assert verified == Verified(None)
    assert pubsub.server.received == ["/.well-known/openid-configuration", CERTS]


def test_an_unreachable_key_set_is_the_single_401(pubsub: Google) -> None:
    pubsub.server.serve(CERTS, b"unavailable", status=503)

    assert pubsub.reason(minted(pubsub.key, pubsub.kid)) == "key_unavailable"
