"""RFC 9421 HTTP Message Signatures, against the RFC's own examples (Appendix B.2.2 and B.2.3, with its test
key B.1.2) and requests signed by `http_message_signatures.HTTPMessageSigner`, a sender's library, with the
RFC's ECDSA test key (B.1.3)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms

from fakes.key_server import key_server
from iotbridge.profile.verification import HttpSignatureScheme
from iotbridge.registry.public_keys import REFRESH_SECONDS, HttpsPublicKeys
from iotbridge.signatures.standard_webhooks import SignatureError
from iotbridge.webhook_receiver.domain.verification import RequestLine, verify

# --- RFC 9421, Appendix B ---------------------------------------------------------------------------------
# B.1.2 test-key-rsa-pss (its public key, here as SubjectPublicKeyInfo; the RFC prints the same key as
# PKCS#1 "RSA PUBLIC KEY").
RFC_RSA_PSS_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr4tmm3r20Wd/PbqvP1s2
+QEtvpuRaV8Yq40gjUR8y2Rjxa6dpG2GXHbPfvMs8ct+Lh1GH45x28Rw3Ry53mm+
oAXjyQ86OnDkZ5N8lYbggD4O3w6M6pAvLkhk95AndTrifbIFPNU8PPMO7OyrFAHq
gDsznjPFmTOtCEcN2Z1FpWgchwuYLPL+Wokqltd11nqqzi+bJ9cvSKADYdUAAN5W
Utzdpiy6LbTgSxP7ociU4Tn0g5I6aDZJ7A8Lzo0KSyZYoA485mqcO0GVAdVw9lq4
aOT9v6d+nb4bnNkQVklLQ3fVAvJm+xdDOp9LCNCN48V2pnDOkFV6+U9nV5oyc6XI
2wIDAQAB
-----END PUBLIC KEY-----
"""
# B.1.3 test-key-ecc-p256 (the private key, as the RFC prints it).
RFC_ECC_P256_PRIVATE_KEY = b"""-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIFKbhfNZfpDsW43+0+JjUr9K+bTeuxopu653+hBaXGA7oAoGCCqGSM49
AwEHoUQDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lfw0EkjqF7xB4FivAxzic30tMM
4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==
-----END EC PRIVATE KEY-----
"""
# B.2: the test request, `POST /foo?param=Value&Pet=dog`.
RFC_LINE = RequestLine("POST", "/foo", "param=Value&Pet=dog")
RFC_BODY = b'{"hello": "world"}'
RFC_HEADERS = {
    "host": "example.com",
    "date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "content-type": "application/json",
    "content-digest": (
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
    ),
    "content-length": "18",
}
RFC_CREATED = 1618884473
# B.2.2 "Selective Covered Components Using rsa-pss-sha512".
B22_INPUT = (
    'sig-b22=("@authority" "content-digest" "@query-param";name="Pet");created=1618884473'
    ';keyid="test-key-rsa-pss";tag="header-example"'
)
B22_SIGNATURE = (
    "sig-b22=:LjbtqUbfmvjj5C5kr1Ugj4PmLYvx9wVjZvD9GsTT4F7GrcQ"
    "EdJzgI9qHxICagShLRiLMlAJjtq6N4CDfKtjvuJyE5qH7KT8UCMkSowOB4+ECxCmT"
    "8rtAmj/0PIXxi0A0nxKyB09RNrCQibbUjsLS/2YyFYXEu4TRJQzRw1rLEuEfY17SA"
    "RYhpTlaqwZVtR8NV7+4UKkjqpcAoFqWFQh62s7Cl+H2fjBSpqfZUJcsIk4N6wiKYd"
    "4je2U/lankenQ99PZfB4jY3I5rSV2DSBVkSFsURIjYErOs0tFTQosMTAoxk//0RoK"
    "UqiYY8Bh0aaUEb0rQl3/XaVe4bXTugEjHSw==:"
)
# B.2.3 "Full Coverage Using rsa-pss-sha512".
B23_INPUT = (
    'sig-b23=("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest"'
    ' "content-length")'
    ';created=1618884473;keyid="test-key-rsa-pss"'
)
B23_SIGNATURE = (
    "sig-b23=:bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yB"
    "iMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp768ZrCUb38K0fU"
    "xN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1"
    "pFkh/aYA2HXXZzNBXmIkoQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9"
    "bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpvRX2Zbhl5Z"
    "JzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA==:"
)


def rfc_scheme(**fields: Any) -> HttpSignatureScheme:
    return HttpSignatureScheme.model_validate(
        {
            "scheme": "http-signature",
            "format": "rfc9421",
            "keys": [{"keyId": "test-key-rsa-pss", "pem": RFC_RSA_PSS_PUBLIC_KEY}],
            "algorithms": ["rsa-pss-sha512"],
            **fields,
        }
    )


def reason(
    scheme: HttpSignatureScheme, headers: dict[str, str], body: bytes, now: float, **kwargs: Any
) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(scheme, headers, body, (), now, **kwargs)
    return caught.value.reason


def test_the_rfcs_full_coverage_example_verifies() -> None:
    headers = RFC_HEADERS | {"signature-input": B23_INPUT, "signature": B23_SIGNATURE}
    scheme = rfc_scheme(requiredComponents=["@method", "@path", "@query", "@authority", "content-digest"])

    verified = verify(scheme, headers, RFC_BODY, (), RFC_CREATED, line=RFC_LINE)

    # The signed bytes before the body are the RFC's signature base for B.2.3.
    assert verified.signed_head.startswith(b'"date": Tue, 20 Apr 2021 02:07:55 GMT\n"@method": POST\n')
    assert verified.signed_head.endswith(b';created=1618884473;keyid="test-key-rsa-pss"\n')


def test_the_rfcs_selective_example_verifies_when_the_profile_names_its_tag() -> None:
    headers = RFC_HEADERS | {"signature-input": B22_INPUT, "signature": B22_SIGNATURE}
    scheme = rfc_scheme(requiredComponents=["@authority", "content-digest"], tag="header-example")

    assert verify(scheme, headers, RFC_BODY, (), RFC_CREATED, line=RFC_LINE).message_id is None


def test_the_rfcs_example_fails_for_another_query() -> None:
    headers = RFC_HEADERS | {"signature-input": B23_INPUT, "signature": B23_SIGNATURE}
    scheme = rfc_scheme(requiredComponents=["@query", "content-digest"])

    found = reason(
        scheme, headers, RFC_BODY, RFC_CREATED, line=RequestLine("POST", "/foo", "param=Value&Pet=cat")
    )

    assert found == "signature_mismatch"


def test_the_rfcs_example_with_another_body_fails_on_its_digest() -> None:
    headers = RFC_HEADERS | {"signature-input": B23_INPUT, "signature": B23_SIGNATURE}

    scheme = rfc_scheme(requiredComponents=["@method", "@path", "content-digest"])

    found = reason(scheme, headers, b'{"hello": "mallory"}', RFC_CREATED, line=RFC_LINE)

    assert found == "digest_mismatch"


def test_the_rfcs_example_is_stale_after_the_tolerance() -> None:
    headers = RFC_HEADERS | {"signature-input": B23_INPUT, "signature": B23_SIGNATURE}

    scheme = rfc_scheme(requiredComponents=["@method", "@path", "content-digest"], toleranceSeconds=300)

    found = reason(scheme, headers, RFC_BODY, RFC_CREATED + 301, line=RFC_LINE)

    assert found == "timestamp_too_old"


def test_a_signature_that_leaves_out_a_required_component_is_refused() -> None:
    # B.2.2 covers neither the method nor the target URI
    headers = RFC_HEADERS | {"signature-input": B22_INPUT, "signature": B22_SIGNATURE}

    found = reason(rfc_scheme(), headers, RFC_BODY, RFC_CREATED, line=RFC_LINE)

    assert found == "insufficient_coverage"


# --- Signed by HTTPMessageSigner with the RFC's ECDSA test key ----------------------------------------------

NOW = 1_790_000_000
BODY = b'{"events": [{"id": "lamp-1", "on": true}]}'
LINE = RequestLine("POST", "/connectors/c1/events", "")


@dataclass
class Request:
    """A request as `http_message_signatures` signs one."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class Keys(HTTPSignatureKeyResolver):
    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys

    def resolve_private_key(self, key_id: str) -> Any:
        return self.keys[key_id]

    def resolve_public_key(self, key_id: str) -> Any:
        return self.keys[key_id].public_key()


RFC_ECC_KEY: Any = load_pem_private_key(RFC_ECC_P256_PRIVATE_KEY, password=None)


def sent_by_library(
    key: Any = RFC_ECC_KEY,
    *,
    key_id: str = "test-key-ecc-p256",
    label: str = "sig1",
    created: float = NOW,
    covered: tuple[str, ...] = ("@method", "@target-uri"),
    body: bytes = BODY,
    algorithm: Any = algorithms.ECDSA_P256_SHA256,
    into: dict[str, str] | None = None,
) -> dict[str, str]:
    request = Request("POST", "https://relay.example.com/connectors/c1/events", dict(into or {}))
    request.headers.setdefault("Host", "relay.example.com")
    request.headers.setdefault("Content-Type", "application/json")
    signer = HTTPMessageSigner(signature_algorithm=algorithm, key_resolver=Keys({key_id: key}))
    signer.sign(
        request,
        key_id=key_id,
        label=label,
        created=datetime.fromtimestamp(created, tz=UTC),
        covered_component_ids=covered,
        body=body,
        append_if_signature_exists=bool(into),
        use_existing_digest=bool(into),
    )
    return {name.lower(): value for name, value in request.headers.items()}


def ecc_scheme(**fields: Any) -> HttpSignatureScheme:
    public = RFC_ECC_KEY.public_key()
    numbers = public.public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }
    return HttpSignatureScheme.model_validate(
        {
            "scheme": "http-signature",
            "format": "rfc9421",
            "keys": [{"keyId": "test-key-ecc-p256", "jwk": jwk}],
            "algorithms": ["ecdsa-p256-sha256"],
            **fields,
        }
    )


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_request_the_senders_library_signs_verifies_with_the_key_as_a_jwk() -> None:
    headers = sent_by_library()

    verified = verify(ecc_scheme(), headers, BODY, (), NOW, line=LINE)

    assert b'"content-digest": sha-256=:' in verified.signed_head


def test_a_body_changed_after_signing_fails_on_its_digest() -> None:
    assert reason(ecc_scheme(), sent_by_library(), BODY + b" ", NOW, line=LINE) == "digest_mismatch"


def test_a_signature_by_another_key_fails() -> None:
    headers = sent_by_library(ec.generate_private_key(ec.SECP256R1()))

    assert reason(ecc_scheme(), headers, BODY, NOW, line=LINE) == "signature_mismatch"


def test_a_signature_for_another_url_fails() -> None:
    headers = sent_by_library()

    found = reason(ecc_scheme(), headers, BODY, NOW, line=RequestLine("POST", "/connectors/c2/events", ""))

    assert found == "signature_mismatch"


def test_a_signature_created_in_the_future_is_refused() -> None:
    assert (
        reason(ecc_scheme(), sent_by_library(created=NOW + 600), BODY, NOW, line=LINE)
        == "timestamp_in_future"
    )


def test_an_algorithm_the_profile_does_not_list_is_refused() -> None:
    headers = sent_by_library(ed25519.Ed25519PrivateKey.generate(), algorithm=algorithms.ED25519)

    assert 'alg="ed25519"' in headers["signature-input"]
    assert reason(ecc_scheme(), headers, BODY, NOW, line=LINE) == "algorithm_not_allowed"


def test_an_algorithm_that_does_not_fit_the_key_is_refused() -> None:
    headers = sent_by_library(ed25519.Ed25519PrivateKey.generate(), algorithm=algorithms.ED25519)
    scheme = ecc_scheme(algorithms=["ecdsa-p256-sha256", "ed25519"])

    assert reason(scheme, headers, BODY, NOW, line=LINE) == "algorithm_mismatch"


def test_of_two_signatures_the_profiles_label_is_the_one_verified() -> None:
    # GIVEN a request with the sender's signature, and a second one under another label by another key
    headers = sent_by_library(label="sig1")
    headers = sent_by_library(
        ec.generate_private_key(ec.SECP256R1()), key_id="proxy", label="proxy", into=headers
    )

    # WHEN the relay verifies it with and without a label
    verified = verify(ecc_scheme(label="sig1"), headers, BODY, (), NOW, line=LINE)
    unlabelled = reason(ecc_scheme(), headers, BODY, NOW, line=LINE)

    # THEN the profile's label picks the sender's; without one, which to verify is not the sender's choice
    assert verified.message_id is None
    assert unlabelled == "ambiguous_signature"


def test_a_label_the_request_does_not_carry_is_refused() -> None:
    assert reason(ecc_scheme(label="sig9"), sent_by_library(), BODY, NOW, line=LINE) == "no_signature"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"signature-input": 'sig1=("@method"'}, "malformed_signature"),
        ({"signature-input": "x" * 5000}, "malformed_header"),
        ({"signature": ""}, "missing_header"),
    ],
)
def test_a_malformed_signature_is_refused(change: dict[str, str], expected: str) -> None:
    headers = sent_by_library() | change

    assert reason(ecc_scheme(), headers, BODY, NOW, line=LINE) == expected


def test_a_key_set_that_does_not_list_the_key_yet_is_fetched_again_at_most_once_a_minute() -> None:
    # GIVEN a sender publishing its key set at one URL, before the new key is listed
    with key_server() as server:
        url = server.serve("/keys.json", json.dumps({"keys": []}).encode())
        scheme = HttpSignatureScheme.model_validate(
            {
                "scheme": "http-signature",
                "format": "rfc9421",
                "keyUrl": url,
                "keyHosts": ["127.0.0.1"],
                "algorithms": ["ecdsa-p256-sha256"],
            }
        )
        clock = [0.0]
        keys = HttpsPublicKeys(allow_loopback=True, clock=lambda: clock[0])
        headers = sent_by_library()

        # WHEN a request signed with the new key arrives, twice within a minute, then after the key is listed
        first = reason(scheme, headers, BODY, NOW, line=LINE, keys=keys)
        again = reason(scheme, headers, BODY, NOW, line=LINE, keys=keys)
        jwk = ecc_scheme().keys[0].jwk or {}
        server.serve("/keys.json", json.dumps({"keys": [{**jwk, "kid": "test-key-ecc-p256"}]}).encode())
        clock[0] += REFRESH_SECONDS
        verified = verify(scheme, headers, BODY, (), NOW, line=LINE, keys=keys)

        # THEN the set was fetched once for the first two, and once more a minute later
        assert (first, again) == ("unknown_key", "unknown_key")
        assert verified.message_id is None
        assert server.fetches("/keys.json") == 2
