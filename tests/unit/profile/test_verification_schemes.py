"""The public-key and unsigned verification schemes of a profile (http-signature, jwt, path-token, basic) and
`sourceAddresses`: what a profile may say, every problem named by its path, which delivery ids they sign, and
the weaknesses `profile validate` warns about."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from iotbridge.profile.document import ConnectorProfile, ProfileError, parse_profile
from iotbridge.profile.verification import (
    BasicScheme,
    Deduplication,
    HttpSignatureScheme,
    JwtScheme,
    PathTokenScheme,
    delivery_id_is_signed,
    reads_secret,
    weaknesses,
)

RULE: dict[str, Any] = {
    "name": "state",
    "operation": "DEVICE_EVENT",
    "members": {"ConnectorDeviceId": "event.id"},
    "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
}


def public_pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


EC_PEM = public_pem(ec.generate_private_key(ec.SECP256R1()))
# A 512-bit RSA public key (cryptography generates none under 1024 bits; a public key needs only n and e).
SMALL_RSA_PEM = (
    rsa.RSAPublicNumbers(65537, (1 << 511) + 0x1235)
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
SMARTTHINGS: dict[str, Any] = {
    "scheme": "http-signature",
    "format": "cavage",
    "keyUrl": "https://key.smartthings.com{keyId}",
    "keyHosts": ["key.smartthings.com"],
    "algorithms": ["rsa-sha256"],
    "requiredHeaders": ["(request-target)", "digest", "date"],
}
RFC9421: dict[str, Any] = {
    "scheme": "http-signature",
    "format": "rfc9421",
    "keys": [{"keyId": "k1", "pem": EC_PEM}],
    "algorithms": ["ecdsa-p256-sha256"],
}
PUBSUB: dict[str, Any] = {
    "scheme": "jwt",
    "issuers": ["https://accounts.google.com", "accounts.google.com"],
    "audience": "https://relay.example.com/connectors/nest/events",
    "jwksUrl": "https://www.googleapis.com/oauth2/v3/certs",
    "email": "push@my-project.iam.gserviceaccount.com",
}


def profile(verification: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "verification": verification,
        "deduplication": {"digest": True},
        "rules": [RULE],
    } | (copy.deepcopy(changes))


def problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ProfileError) as caught:
        parse_profile(document)
    return [(p.path, p.rule) for p in caught.value.problems]


def rules_at(document: dict[str, Any], path: str) -> list[str]:
    found = [rule for where, rule in problems(document) if where == path]
    assert found, problems(document)
    return found


@pytest.mark.parametrize(
    "verification",
    [SMARTTHINGS, RFC9421, PUBSUB, {"scheme": "path-token"}, {"scheme": "basic"}],
    ids=["cavage", "rfc9421", "jwt", "path-token", "basic"],
)
def test_each_new_scheme_reads_as_written(verification: dict[str, Any]) -> None:
    parsed = parse_profile(profile(verification))

    assert parsed.verification.scheme == verification["scheme"]
    assert parsed.verification.message_id_header is None


def test_the_smartthings_scheme_covers_what_it_requires() -> None:
    scheme = parse_profile(profile(SMARTTHINGS)).verification

    assert isinstance(scheme, HttpSignatureScheme)
    assert scheme.covered == ("(request-target)", "digest", "date")
    assert scheme.allowed_algorithms == ("rsa-sha256",)


def test_a_jwk_key_is_taken_like_a_pem() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "n": _b64url(key.n.to_bytes(256, "big")),
        "e": _b64url(key.e.to_bytes(3, "big")),
    }

    parsed = parse_profile(
        profile(RFC9421 | {"keys": [{"keyId": "k2", "jwk": jwk}], "algorithms": ["rsa-pss-sha512"]})
    )

    assert isinstance(parsed.verification, HttpSignatureScheme)
    assert parsed.verification.keys[0].jwk == jwk


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("changes", "path", "expected"),
    [
        ({"requiredHeaders": ["(request-target)", "date"]}, "verification", "must hold digest"),
        ({"requiredHeaders": ["(request-target)", "digest"]}, "verification", "date or (created)"),
        ({"requiredHeaders": ["Date"]}, "verification.requiredHeaders[0]", "pattern"),
        ({"keyUrl": None, "keyHosts": []}, "verification", "give the sender's keys, or keyUrl"),
        ({"keyHosts": []}, "verification", "keyUrl needs keyHosts"),
        ({"keyHosts": ["other.example.com"]}, "verification", "its own among them"),
        ({"keyUrl": "http://key.smartthings.com{keyId}"}, "verification.keyUrl", "https://"),
        ({"keyUrl": "https://key.smartthings.com{keyId}{keyId}"}, "verification.keyUrl", "{keyId} once"),
        ({"keyUrl": "https://key.smartthings.com/{kid}"}, "verification.keyUrl", "no other placeholder"),
        ({"keyUrl": "https://169.254.169.254{keyId}"}, "verification.keyUrl", "internal address"),
        ({"algorithms": ["rsa-pss-sha512"]}, "verification", "the cavage algorithms are"),
        ({"requiredComponents": ["@method", "content-digest"]}, "verification", "belong to the rfc9421"),
        ({"label": "sig1"}, "verification", "belong to the rfc9421"),
        ({"toleranceSeconds": 7200}, "verification.toleranceSeconds", "less than or equal to 3600"),
    ],
)
def test_a_cavage_scheme_that_cannot_be_used_names_its_problem(
    changes: dict[str, Any], path: str, expected: str
) -> None:
    document = profile({k: v for k, v in (SMARTTHINGS | changes).items() if v is not None})

    assert any(expected in rule for rule in rules_at(document, path))


@pytest.mark.parametrize(
    ("key", "path", "expected"),
    [
        (
            {"keyId": "k1", "pem": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"},
            "verification.keys[0]",
            "not a PEM public key",
        ),
        (
            {"keyId": "k1", "pem": EC_PEM, "jwk": {"kty": "EC"}},
            "verification.keys[0]",
            "exactly one of pem or jwk",
        ),
        ({"keyId": "k1", "jwk": {"kty": "oct", "k": "c2VjcmV0"}}, "verification.keys[0]", "RSA, EC"),
        (
            {"keyId": "k1", "jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}},
            "verification.keys[0]",
            "usable public key",
        ),
        ({"keyId": "../k1", "pem": EC_PEM}, "verification.keys[0].keyId", "'..'"),
        ({"keyId": "k 1", "pem": EC_PEM}, "verification.keys[0].keyId", "pattern"),
        ({"keyId": "k1", "pem": SMALL_RSA_PEM}, "verification.keys[0]", "1024 to 8192 bits"),
    ],
)
def test_a_given_key_that_cannot_be_used_names_its_problem(
    key: dict[str, Any], path: str, expected: str
) -> None:
    document = profile(RFC9421 | {"keys": [key]})

    assert any(expected in rule for rule in rules_at(document, path))


def test_an_rfc9421_scheme_must_cover_the_body() -> None:
    document = profile(RFC9421 | {"requiredComponents": ["@method", "@target-uri"]})

    assert any("content-digest" in rule for rule in rules_at(document, "verification"))


def test_key_ids_are_unique() -> None:
    document = profile(RFC9421 | {"keys": [{"keyId": "k1", "pem": EC_PEM}, {"keyId": "k1", "pem": EC_PEM}]})

    assert rules_at(document, "verification") == ["key ids must be unique"]


@pytest.mark.parametrize(
    ("changes", "path", "expected"),
    [
        ({"algorithms": ["none"]}, "verification.algorithms[0]", "'RS256' or 'ES256'"),
        ({"algorithms": ["HS256"]}, "verification.algorithms[0]", "'RS256' or 'ES256'"),
        ({"discovery": True}, "verification", "exactly one of jwksUrl or discovery"),
        ({"jwksUrl": None}, "verification", "exactly one of jwksUrl or discovery"),
        (
            {"jwksUrl": None, "discovery": True, "issuers": ["accounts.google.com"]},
            "verification",
            "discovery needs an issuer that is an https:// URL",
        ),
        ({"jwksUrl": "http://www.googleapis.com/oauth2/v3/certs"}, "verification.jwksUrl", "https://"),
        ({"issuers": []}, "verification.issuers", "at least 1"),
        ({"leewaySeconds": 3600}, "verification.leewaySeconds", "less than or equal to 300"),
        ({"email": "not-an-email"}, "verification.email", "pattern"),
    ],
)
def test_a_jwt_scheme_that_cannot_be_used_names_its_problem(
    changes: dict[str, Any], path: str, expected: str
) -> None:
    document = profile({k: v for k, v in (PUBSUB | changes).items() if v is not None})

    assert any(expected in rule for rule in rules_at(document, path))


def test_discovery_with_an_https_issuer_is_taken() -> None:
    verification = PUBSUB | {"discovery": True}
    del verification["jwksUrl"]

    scheme = parse_profile(profile(verification)).verification

    assert isinstance(scheme, JwtScheme)
    assert scheme.discovery_issuer == "https://accounts.google.com"


@pytest.mark.parametrize(
    "verification", [{"scheme": "path-token", "token": "x"}, {"scheme": "basic", "user": "x"}]
)
def test_the_unsigned_schemes_take_nothing_more(verification: dict[str, Any]) -> None:
    field = next(name for name in verification if name != "scheme")

    assert rules_at(profile(verification), f"verification.{field}") == ["Extra inputs are not permitted"]


def test_a_new_scheme_without_deduplication_is_told_to_say_how_deliveries_are_told_apart() -> None:
    document = profile({"scheme": "path-token"})
    del document["deduplication"]

    assert any("deduplication" in rule for rule in rules_at(document, ""))


# --- sourceAddresses ----------------------------------------------------------------------------------------


def test_source_addresses_are_read_as_networks() -> None:
    parsed = parse_profile(
        profile({"scheme": "basic"}, sourceAddresses=["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"])
    )

    assert parsed.source_addresses == [
        ipaddress.ip_network("192.0.2.0/24"),
        ipaddress.ip_network("2001:db8::/32"),
        ipaddress.ip_network("198.51.100.7/32"),
    ]
    assert parsed.model_dump(by_alias=True)["sourceAddresses"] == [
        "192.0.2.0/24",
        "2001:db8::/32",
        "198.51.100.7/32",
    ]


@pytest.mark.parametrize(
    ("addresses", "path"),
    [
        (["192.0.2.1/24"], "sourceAddresses[0]"),  # host bits set: which network was meant?
        (["192.0.2.0/33"], "sourceAddresses[0]"),
        (["example.com"], "sourceAddresses[0]"),
        ([24], "sourceAddresses[0]"),
        ([], "sourceAddresses"),
        ([f"10.0.{n}.0/24" for n in range(65)], "sourceAddresses"),
    ],
)
def test_source_addresses_that_are_not_networks_are_named(addresses: list[Any], path: str) -> None:
    assert rules_at(profile({"scheme": "basic"}, sourceAddresses=addresses), path)


def test_a_source_address_problem_does_not_quote_the_value() -> None:
    found = problems(profile({"scheme": "basic"}, sourceAddresses=["secret-host.internal"]))

    assert all("secret-host" not in rule for _, rule in found)


# --- What the schemes sign and read ------------------------------------------------------------------------


def scheme_of(verification: dict[str, Any]) -> Any:
    return parse_profile(profile(verification)).verification


@pytest.mark.parametrize(
    ("verification", "deduplication", "signed"),
    [
        ({"scheme": "path-token"}, Deduplication(header="x-delivery"), False),
        ({"scheme": "basic"}, Deduplication(header="x-delivery"), False),
        (PUBSUB, Deduplication(header="x-delivery"), False),
        (PUBSUB, Deduplication.model_validate({"body": "body.message.messageId"}), True),
        ({"scheme": "path-token"}, Deduplication(digest=True), True),
        (SMARTTHINGS, Deduplication(header="x-delivery"), False),
        (
            SMARTTHINGS | {"requiredHeaders": ["(request-target)", "digest", "date", "x-delivery"]},
            Deduplication(header="x-delivery"),
            True,
        ),
        (
            RFC9421 | {"requiredComponents": ["@method", "content-digest", "x-delivery"]},
            Deduplication(header="x-delivery"),
            True,
        ),
        (RFC9421, Deduplication(header="x-delivery"), False),
    ],
)
def test_a_delivery_id_is_signed_only_where_the_signature_covers_it(
    verification: dict[str, Any], deduplication: Deduplication, signed: bool
) -> None:
    assert delivery_id_is_signed(scheme_of(verification), deduplication) is signed


@pytest.mark.parametrize(
    ("verification", "reads"),
    [
        (SMARTTHINGS, False),
        (RFC9421, False),
        (PUBSUB, False),
        ({"scheme": "path-token"}, True),
        ({"scheme": "basic"}, True),
        ({"scheme": "hmac", "signatureHeader": "X-Sig"}, True),
    ],
)
def test_only_the_shared_secret_schemes_read_a_secret(verification: dict[str, Any], reads: bool) -> None:
    assert reads_secret(scheme_of(verification)) is reads


# --- Weaknesses, for `profile validate` ---------------------------------------------------------------------


def warnings_for(verification: dict[str, Any], **changes: Any) -> list[str]:
    parsed: ConnectorProfile = parse_profile(profile(verification, **changes))
    return weaknesses(parsed.verification, parsed.deduplication, parsed.source_addresses)


def test_standard_webhooks_has_no_weakness() -> None:
    document = profile({"scheme": "standard-webhooks"})
    del document["deduplication"]
    parsed = parse_profile(document)

    assert weaknesses(parsed.verification, parsed.deduplication, parsed.source_addresses) == []


def test_a_path_token_warns_of_the_url_replays_and_missing_source_addresses() -> None:
    found = " | ".join(warnings_for({"scheme": "path-token"}))

    assert "static secret in the URL" in found
    assert "no timestamp is signed" in found
    assert "no sourceAddresses" in found


def test_a_path_token_with_source_addresses_does_not_ask_for_them() -> None:
    found = warnings_for({"scheme": "path-token"}, sourceAddresses=["192.0.2.0/24"])

    assert not any("sourceAddresses" in warning for warning in found)


def test_basic_and_a_static_token_warn_that_they_sign_nothing() -> None:
    assert any("static password" in w for w in warnings_for({"scheme": "basic"}))
    assert any(
        "static token signs nothing" in w for w in warnings_for({"scheme": "token", "header": "X-Token"})
    )


def test_an_hmac_without_a_timestamp_warns_of_replays() -> None:
    assert any("no timestamp" in w for w in warnings_for({"scheme": "hmac", "signatureHeader": "X-Sig"}))
    timed = {
        "scheme": "hmac",
        "signatureHeader": "X-Sig",
        "timestampHeader": "X-Time",
        "signedContent": "{timestamp}.{body}",
    }
    assert not any("no timestamp" in w for w in warnings_for(timed))


def test_an_unsigned_delivery_id_is_a_weakness() -> None:
    found = warnings_for({"scheme": "basic"}, deduplication={"header": "X-Delivery"})

    assert any("delivery id is not covered" in w for w in found)


def test_a_jwt_warns_that_the_body_is_not_covered_and_asks_for_the_email() -> None:
    without_email = {k: v for k, v in PUBSUB.items() if k != "email"}

    assert any("does not cover the body" in w for w in warnings_for(PUBSUB))
    assert not any("no email" in w for w in warnings_for(PUBSUB))
    assert any("no email" in w for w in warnings_for(without_email))


def test_an_http_signature_without_the_request_target_warns() -> None:
    assert warnings_for(SMARTTHINGS) == []
    assert any(
        "request target" in w for w in warnings_for(SMARTTHINGS | {"requiredHeaders": ["digest", "date"]})
    )
    assert any(
        "request target" in w
        for w in warnings_for(RFC9421 | {"requiredComponents": ["@method", "content-digest"]})
    )


def test_a_small_rsa_key_warns() -> None:
    small = public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))

    found = warnings_for(
        RFC9421 | {"keys": [{"keyId": "old", "pem": small}], "algorithms": ["rsa-pss-sha512"]}
    )

    assert any("key old is RSA of 1024 bits" in w for w in found)


def test_the_scheme_models_are_those_the_union_names() -> None:
    assert {PathTokenScheme, BasicScheme, JwtScheme, HttpSignatureScheme} <= set(
        type(scheme_of(v)) for v in (SMARTTHINGS, PUBSUB, {"scheme": "path-token"}, {"scheme": "basic"})
    )
