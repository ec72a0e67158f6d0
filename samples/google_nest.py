"""Google's side of SDM events over Cloud Pub/Sub push, built as Google documents it (not from the relay's
verifier).

cloud.google.com/pubsub/docs/authenticate-push-subscriptions: a push subscription with authentication sends
`Authorization: Bearer <JWT>`, an OpenID Connect token Google signs with RS256, whose claims are `aud` (the
audience the subscription names), `iss` (`https://accounts.google.com`), `email` and `email_verified` (the
subscription's service account), `azp`, `sub`, `iat` and `exp` (an hour later); its keys are Google's JWKS.
cloud.google.com/pubsub/docs/push: the default (wrapped) push body is `{"message": {"data": <base64>,
"messageId", "publishTime", "attributes"}, "subscription": ...}`. The token is minted here with Google's own
library (`google.auth.jwt.encode` and `google.auth.crypt.RSASigner`).

The key below is a test key made for the local stack and published on purpose: nothing signed with it comes
from Google. Kept fixed so that the sample events signed with it stay the same.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt
from google.auth import jwt as google_jwt

KEY_ID = "iot-bridge-local-test-key-1"
ISSUER = "https://accounts.google.com"
# What the profile names: the push subscription's audience and service account.
AUDIENCE = "https://relay.example.com/connectors/google-nest/events"
PUSH_SERVICE_ACCOUNT = "sdm-push@my-gcp-project.iam.gserviceaccount.com"
SUBSCRIPTION = "projects/my-gcp-project/subscriptions/sdm-events-push"
# Google's lifetime for the tokens it signs.
TOKEN_LIFETIME_SECONDS = 3600

PRIVATE_KEY_PEM = b"""\
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDQ4aNAKmfeMb6P
tAQVdAh/7BbuEonYWnId5eeEeAK2TjyE9gjQDxZHcSNkpaMc5x2v9Wo1WUXhd5tm
Dwfo7aREQlpTBxy4iNA0duhs5xltzvQRerGAAnfxlUPZtCPfLpM7pBxCaA9NPBrS
HDEjGpr0u0pbFslCVJ6mnI2WQ+HujSo64wxnS2JVnfhiT7VMj435ZVrUNmrnKu9u
2dK30EzBkBU1S5csOqgJz5inOCu3K7B2DqUOkKl60X90YISkUfm+bQ6M+nuqb13k
qS087doS48APoFTkEGneuChwEq1udaqQDmjmtCz7AlAfY8FYbxtFi1OKUr6b0S63
wYEJgVq7AgMBAAECggEAAvRXI1nWMt2Ghh+evbNXJsUd72DZjHt986dw/OiClD5o
2O3MwLX0UZ4JWid0JTScUtpQ88KwMZSl8gLn0KLGyg9xADg9Xdt+Emj3fAmD1O3Q
V3tZnqND5pRt79Ixj0wB2ZWswMjnAwmvkOXVyMFb8rsVLKgwWdRlcSOnABh4kkDS
jvBbcdV5AQtncJlx/T6tI0hGNLg31Klrnh+L3RrvKC9F3MXRlO1BJtoxeKC29IPQ
h8ZyZZLHB5Bg3ooGx7qB3d3Gg4ptpSYMRpXpt2AkoLdgCkWzEPY7IeicOyNh7scY
tO7g69VfcAqAMlgHcGWNyq/YGXePF2rNzED0Nu8GoQKBgQDnnYPKlqbINtzQqSc7
94FgUkBFFgriZzCOItNDh28rwNSTlZ0fxVl6/NjXxPwOfklHVZTa4TxMJMVh6VNS
lx7ib1+kmtgN/u5ltA0YUxq2IvRRqmRci+6yiCKxiQmRQAoL//7VzTYF72objOv5
ma52Ut3cV/uyr2aZPr0+njJvGwKBgQDm32ZjBbMXJ+AETuRkX6t4jWSwpegRyhQi
Smf6J1SxfVT4UWuXOPOoW8UvCGMPC+n5cltrOXEtb9bhDqNoc3NBelzRbmrmMlv7
0R0GVbUz4imtoAwlMhg+wGssBP8JtRTxeEljtvm8t1fPhMDqKG90IzWHZ5swZyNf
vegZUcBc4QKBgEHNO1MEB/AbvhI97FqaD5SI6Z93CrKVtHK9LB4kTQ42I26mc9RB
4hER4p0yZpXLhRASHU8t7E6Jp9YQTs7JBko4cAi4wScAxUP5qjq96XnTZmwJJ6gv
TSpFiO29TA2LDw+ntAOT4IRBJ3kaSTRJWApfso5WJLj4IgLpkyRGF3f/AoGBAIEi
edFvUbHlAt9GBWfDP1TpuWU5FypEHqjjd28raqrwUIOofwaRu2/zDML27Plwj4mQ
FmRON+jTQpyVpH76/H+mYp5eJXrmth6O4640aGtB2FAeUkzHzVnkJM31aXXTjIhX
4KzenqeY4YvYVFNlFJogS4OWRu528glOXrEy0ebhAoGAD7M7gHNGxUycIPqYeU3x
7R9JAY69WtS2gYzTAd3ptePFfFEM7P5/LVRG56txEDfkDIFKAqrlreVYI5q5/il/
cnIXXkZjEpFcSXdpJDx5Sxmp6fSVSFICvkTLIzDod+GjdTo7RmKpLPNF/+RVXL6m
zisIvQVz7ricKBwJrvuERjU=
-----END PRIVATE KEY-----
"""


@functools.cache
def private_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(PRIVATE_KEY_PEM, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the test key is not an RSA key")
    return key


def signer(pem: bytes = PRIVATE_KEY_PEM, key_id: str = KEY_ID) -> crypt.RSASigner:
    return crypt.RSASigner.from_string(pem, key_id=key_id)


def other_signer(key_id: str = KEY_ID) -> crypt.RSASigner:
    """A key Google never published (under the same key id): what a forger signs with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return signer(pem, key_id)


def push_token(
    *,
    now: float | None = None,
    audience: str = AUDIENCE,
    email: str = PUSH_SERVICE_ACCOUNT,
    issuer: str = ISSUER,
    lifetime: int = TOKEN_LIFETIME_SECONDS,
    signed_by: crypt.RSASigner | None = None,
) -> str:
    """The JWT Pub/Sub sends with a push, issued at `now`."""
    issued = int(time.time() if now is None else now)
    subject = "113774264463038321964"
    claims = {
        "aud": audience,
        "azp": subject,
        "email": email,
        "email_verified": True,
        "exp": issued + lifetime,
        "iat": issued,
        "iss": issuer,
        "sub": subject,
    }
    return google_jwt.encode(signed_by or signer(), claims).decode("ascii")


def push_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def jwks() -> dict[str, Any]:
    """The public half of the key, as Google publishes its keys (https://www.googleapis.com/oauth2/v3/certs)."""
    numbers = private_key().public_key().public_numbers()
    return {
        "keys": [
            {
                "kty": "RSA",
                "alg": "RS256",
                "use": "sig",
                "kid": KEY_ID,
                "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
            }
        ]
    }


def push_envelope(
    event: bytes, *, message_id: str, published: float, subscription: str = SUBSCRIPTION
) -> bytes:
    """The default push body around a native SDM event (`event`, the message's data, as published)."""
    publish_time = datetime.fromtimestamp(published, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    message = {
        "attributes": {},
        "data": base64.b64encode(event).decode("ascii"),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": publish_time,
        "publish_time": publish_time,
    }
    return json.dumps({"message": message, "subscription": subscription}, separators=(",", ":")).encode()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
