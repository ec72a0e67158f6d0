"""draft-cavage HTTP Signatures (SmartThings' scheme), against the draft's own published test vectors, the
`httpsig` library as the sender's implementation, and ECDSA signatures made with `cryptography` over a signing
string written out by hand; never against a signer of ours (the relay has none for this scheme)."""

from __future__ import annotations

import base64
import hashlib
import importlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from fakes.cavage_sender import SMARTTHINGS_HEADERS, digest_of, public_pem, signed_by_httpsig
from fakes.key_server import KeyServer, key_server
from iotbridge.profile.verification import HttpSignatureScheme
from iotbridge.registry.public_keys import HttpsPublicKeys
from iotbridge.signatures.public_keys import load_pem
from iotbridge.signatures.standard_webhooks import MAX_SIGNATURE_HEADER_CHARS, SignatureError
from iotbridge.webhook_receiver.domain.http_signatures import check_cavage, read_cavage
from iotbridge.webhook_receiver.domain.verification import RequestLine, Verified, verify

# --- draft-cavage-http-signatures-12, Appendix C ("Test Values") -------------------------------------------
# The key, request and signatures as the draft publishes them (the draft's XML source, commit 63bdfcb "Bump
# version to 12" of github.com/w3c-ccg/http-signatures, index.xml, section "Test Values"). The draft calls
# the key "RSA 2048-bit"; it is 1024 bits.

DRAFT_PUBLIC_KEY = b"""-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----
"""
DRAFT_PRIVATE_KEY = b"""-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF
NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F
UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB
AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA
QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK
kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg
f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u
412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc
mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7
kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA
gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW
G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI
7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==
-----END RSA PRIVATE KEY-----
"""
# "All examples use this request": POST /foo?param=value&pet=dog HTTP/1.1
DRAFT_LINE = RequestLine("POST", "/foo", "param=value&pet=dog")
DRAFT_BODY = b'{"hello": "world"}'
DRAFT_HEADERS = {
    "host": "example.com",
    "date": "Sun, 05 Jan 2014 21:31:40 GMT",
    "content-type": "application/json",
    "digest": "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
    "content-length": "18",
}
DRAFT_NOW = 1388957500  # the request's Date
# C.1 "Default Test": no headers parameter, the date alone is signed.
C1 = (
    'keyId="Test",algorithm="rsa-sha256",signature="SjWJWbWN7i0wzBvtPl8rbASWz5xQW6mcJmn+ibttBqtifLN7Sazz'
    "6m79cNfwwb8DMJ5cou1s7uEGKKCs+FLEEaDV5lp7q25WqS+lavg7T8hc0GppauB"
    '6hbgEKTwblDHYGEtbGmtdHgVCk9SuS13F0hZ8FD0k/5OxEPXe5WozsbM="'
)
# C.2 "Basic Test": (request-target) host date.
C2 = (
    'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date",'
    'signature="qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS'
    "2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe8VfEdKFYRqzic+efkb3"
    'nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="'
)
# C.3 "All Headers Test": the signature, over the signing string the draft prints for it.
C3_SIGNATURE = (
    "vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvRs"
    "8rgOp+63LEM3v+MFHB32NfpB2bEKBIvB1q52LaEUHFv120V01IL+TAD48XaERZF"
    "ukWgHoBTLMhYS2Gb51gWxpeIq8knRmPnYePbF5MOkR0Zkly4zKH7s1dE="
)
C3_SIGNING_STRING = (
    "(request-target): post /foo?param=value&pet=dog\n"
    "host: example.com\n"
    "date: Sun, 05 Jan 2014 21:31:40 GMT\n"
    "content-type: application/json\n"
    "digest: SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=\n"
    "content-length: 18"
)
C3 = (
    'keyId="Test",algorithm="rsa-sha256",'
    'headers="(request-target) host date content-type digest content-length",'
    f'signature="{C3_SIGNATURE}"'
)
# C.3 as the draft prints its header: created, expires and their pseudo-headers added to the list, over a
# signature that does not cover them (the draft warns that its test vectors are "old and possibly wrong").
C3_AS_PRINTED = (
    'keyId="Test",algorithm="rsa-sha256",created=1402170695, expires=1402170699,'
    'headers="(request-target) (created) (expires) host date content-type digest content-length",'
    f'signature="{C3_SIGNATURE}"'
)


def signed_by_draft(signature: str, **changed: str) -> dict[str, str]:
    return DRAFT_HEADERS | {"authorization": f"Signature {signature}"} | changed


def draft_scheme(**fields: Any) -> HttpSignatureScheme:
    return HttpSignatureScheme.model_validate(
        {
            "scheme": "http-signature",
            "format": "cavage",
            "keys": [{"keyId": "Test", "pem": DRAFT_PUBLIC_KEY.decode()}],
            "algorithms": ["rsa-sha256"],
            **fields,
        }
    )


def reason(scheme: HttpSignatureScheme, headers: dict[str, str], body: bytes, **kwargs: Any) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(scheme, headers, body, (), kwargs.pop("now", NOW), **kwargs)
    return caught.value.reason


def test_the_drafts_default_test_vector_verifies_over_the_date_alone() -> None:
    # GIVEN the C.1 header, which names no headers
    signed = read_cavage(signed_by_draft(C1))

    # WHEN its signature is checked with the draft's key
    signing_string = check_cavage(signed, load_pem(DRAFT_PUBLIC_KEY), DRAFT_HEADERS, DRAFT_LINE)

    # THEN the date alone was signed, as the draft's C.1 prints it
    assert signed.covered == ("date",)
    assert signing_string == b"date: Sun, 05 Jan 2014 21:31:40 GMT"


def test_the_drafts_basic_test_vector_covers_the_request_target_host_and_date() -> None:
    signed = read_cavage(signed_by_draft(C2))

    signing_string = check_cavage(signed, load_pem(DRAFT_PUBLIC_KEY), DRAFT_HEADERS, DRAFT_LINE)

    assert signing_string.decode() == "\n".join(C3_SIGNING_STRING.splitlines()[:3])


def test_the_drafts_basic_test_vector_fails_for_another_request_target() -> None:
    signed = read_cavage(signed_by_draft(C2))

    with pytest.raises(SignatureError) as caught:
        check_cavage(
            signed, load_pem(DRAFT_PUBLIC_KEY), DRAFT_HEADERS, RequestLine("POST", "/foo", "pet=cat")
        )

    assert caught.value.reason == "signature_mismatch"


def test_the_drafts_all_headers_vector_verifies_through_the_profile_scheme() -> None:
    # GIVEN a profile with the draft's key, requiring what SmartThings signs
    scheme = draft_scheme(requiredHeaders=["(request-target)", "digest", "date"])

    # WHEN the C.3 request arrives at the time of its Date
    verified = verify(scheme, signed_by_draft(C3), DRAFT_BODY, (), DRAFT_NOW, line=DRAFT_LINE)

    # THEN it verifies; the signed bytes before the body are the draft's signing string
    assert verified == Verified(None)
    assert verified.signed_head == C3_SIGNING_STRING.encode() + b"\n"


def test_the_all_headers_vector_as_the_draft_prints_it_does_not_verify() -> None:
    # The printed header adds (created) and (expires) to the list; its signature is over the string without
    # them, so a verifier that builds the signing string from the list (as the draft says) refuses it.
    signed = read_cavage(signed_by_draft(C3_AS_PRINTED))

    with pytest.raises(SignatureError) as caught:
        check_cavage(signed, load_pem(DRAFT_PUBLIC_KEY), DRAFT_HEADERS, DRAFT_LINE)

    assert signed.covered[:3] == ("(request-target)", "(created)", "(expires)")
    assert caught.value.reason == "signature_mismatch"


def test_the_all_headers_vector_with_another_body_fails_on_its_digest() -> None:
    scheme = draft_scheme(requiredHeaders=["(request-target)", "digest", "date"])

    found = reason(scheme, signed_by_draft(C3), b'{"hello": "mallory"}', now=DRAFT_NOW, line=DRAFT_LINE)

    assert found == "digest_mismatch"


def test_the_all_headers_vector_with_a_digest_of_another_body_fails_on_its_signature() -> None:
    # GIVEN another body, and a Digest header that matches it (the signature covers the original one)
    body = b'{"hello": "mallory"}'
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    scheme = draft_scheme(requiredHeaders=["(request-target)", "digest", "date"])

    # WHEN it is verified
    found = reason(scheme, signed_by_draft(C3, digest=digest), body, now=DRAFT_NOW, line=DRAFT_LINE)

    # THEN the signature does not cover this digest
    assert found == "signature_mismatch"


def test_the_all_headers_vector_is_stale_five_minutes_after_its_date() -> None:
    scheme = draft_scheme(requiredHeaders=["(request-target)", "digest", "date"], toleranceSeconds=300)

    found = reason(scheme, signed_by_draft(C3), DRAFT_BODY, now=DRAFT_NOW + 301, line=DRAFT_LINE)

    assert found == "timestamp_too_old"


# --- Signed by httpsig, a sender's implementation ----------------------------------------------------------

NOW = 1_790_000_000
BODY = b'{"lifecycle": "EVENT", "eventData": {"events": []}}'
PATH = "/connectors/smartthings/events"
LINE = RequestLine("POST", PATH, "")


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sent_by_httpsig(
    key: rsa.RSAPrivateKey,
    body: bytes = BODY,
    *,
    key_id: str = "k1",
    covered: list[str] | None = None,
    now: float = NOW,
    sign_header: str = "authorization",
    path: str = PATH,
) -> dict[str, str]:
    """The headers a sender using httpsig puts on `body` (SmartThings' choice of covered headers)."""
    return signed_by_httpsig(
        key, body, path=path, now=now, key_id=key_id, covered=covered, sign_header=sign_header
    )


def scheme_with(key: Any, **fields: Any) -> HttpSignatureScheme:
    return HttpSignatureScheme.model_validate(
        {
            "scheme": "http-signature",
            "format": "cavage",
            "keys": [{"keyId": "k1", "pem": public_pem(key)}],
            "algorithms": ["rsa-sha256", "hs2019", "ecdsa-sha256"],
            **fields,
        }
    )


def test_a_request_httpsig_signs_verifies_and_httpsigs_own_verifier_agrees(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    # GIVEN a request signed by httpsig as SmartThings signs: (request-target) digest date
    headers = sent_by_httpsig(rsa_key)

    # WHEN the relay verifies it
    verified = verify(scheme_with(rsa_key), headers, BODY, (), NOW, line=LINE)

    # THEN it passes, and so it does for httpsig's own verifier
    assert verified.message_id is None
    assert verified.signed_head.startswith(f"(request-target): post {PATH}\n".encode())
    reference = importlib.import_module("httpsig.verify").HeaderVerifier(
        headers, public_pem(rsa_key).encode(), required_headers=SMARTTHINGS_HEADERS, method="POST", path=PATH
    )
    assert reference.verify()


def test_a_signature_in_the_signature_header_verifies(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = sent_by_httpsig(rsa_key, sign_header="signature")

    assert "authorization" not in headers
    assert verify(scheme_with(rsa_key), headers, BODY, (), NOW, line=LINE).message_id is None


def test_hs2019_takes_rsa_pkcs1_sha256_from_an_rsa_key(rsa_key: rsa.RSAPrivateKey) -> None:
    # Deployed hs2019 senders (the fediverse's) sign with RSASSA-PKCS1-v1_5 SHA-256 and call it hs2019.
    headers = sent_by_httpsig(rsa_key)
    headers["authorization"] = headers["authorization"].replace(
        'algorithm="rsa-sha256"', 'algorithm="hs2019"'
    )

    verify(scheme_with(rsa_key), headers, BODY, (), NOW, line=LINE)

    assert reason(scheme_with(rsa_key, algorithms=["rsa-sha256"]), headers, BODY, line=LINE) == (
        "algorithm_not_allowed"
    )


def test_a_body_changed_after_signing_fails_on_the_digest(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = sent_by_httpsig(rsa_key)

    assert reason(scheme_with(rsa_key), headers, BODY + b" ", line=LINE) == "digest_mismatch"


def test_a_digest_changed_with_the_body_fails_on_the_signature(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = sent_by_httpsig(rsa_key) | {"digest": digest_of(b"{}")}

    assert reason(scheme_with(rsa_key), headers, b"{}", line=LINE) == "signature_mismatch"


def test_a_digest_of_another_algorithm_only_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = sent_by_httpsig(rsa_key) | {
        "digest": "MD5=" + base64.b64encode(hashlib.md5(BODY).digest()).decode()
    }

    assert reason(scheme_with(rsa_key), headers, BODY, line=LINE) == "unsupported_digest"


def test_a_signature_by_another_key_under_the_same_key_id_fails(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    headers = sent_by_httpsig(other_rsa_key)

    assert reason(scheme_with(rsa_key), headers, BODY, line=LINE) == "signature_mismatch"


def test_a_request_signed_for_another_path_fails(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = sent_by_httpsig(rsa_key, path="/connectors/other/events")

    assert reason(scheme_with(rsa_key), headers, BODY, line=LINE) == "signature_mismatch"


@pytest.mark.parametrize(("age", "expected"), [(301, "timestamp_too_old"), (-301, "timestamp_in_future")])
def test_a_date_outside_the_tolerance_is_refused_before_the_signature(
    rsa_key: rsa.RSAPrivateKey, age: int, expected: str
) -> None:
    headers = sent_by_httpsig(rsa_key, now=NOW - age)

    assert reason(scheme_with(rsa_key, toleranceSeconds=300), headers, BODY, line=LINE) == expected


def test_a_signature_that_leaves_out_a_required_header_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    # GIVEN a signature over digest and date, without the request target the profile requires
    headers = sent_by_httpsig(rsa_key, covered=["digest", "date"])

    assert reason(scheme_with(rsa_key), headers, BODY, line=LINE) == "insufficient_coverage"


def test_a_covered_header_missing_from_the_request_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = sent_by_httpsig(rsa_key, covered=[*SMARTTHINGS_HEADERS, "content-type"])
    del headers["content-type"]

    assert reason(scheme_with(rsa_key), headers, BODY, line=LINE) == "missing_header"


def test_a_request_with_no_signature_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = sent_by_httpsig(rsa_key)
    del headers["authorization"]

    assert reason(scheme_with(rsa_key), headers, BODY, line=LINE) == "missing_header"


def test_an_oversized_signature_header_is_refused_unparsed(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = sent_by_httpsig(rsa_key)
    headers["authorization"] += "," + "x" * MAX_SIGNATURE_HEADER_CHARS

    assert reason(scheme_with(rsa_key), headers, BODY, line=LINE) == "malformed_header"


@pytest.mark.parametrize(
    "parameters",
    [
        'keyId="k1",keyId="k2",signature="AAAA"',  # a parameter twice
        'keyId="k1",signature="AAAA",' + ",".join(f'p{chr(97 + i)}="x"' for i in range(8)),  # too many
        'keyId="k1" signature="AAAA"',  # no comma
        'keyId="k1",signature="not base64!"',
        'signature="AAAA"',  # no keyId
        'keyId="k1",headers="",signature="AAAA"',  # an empty list
    ],
)
def test_a_malformed_signature_header_is_refused(rsa_key: rsa.RSAPrivateKey, parameters: str) -> None:
    headers = sent_by_httpsig(rsa_key) | {"authorization": f"Signature {parameters}"}

    assert reason(scheme_with(rsa_key), headers, BODY, line=LINE) == "malformed_signature"


def test_a_key_id_the_profile_does_not_give_is_unknown(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = sent_by_httpsig(rsa_key, key_id="k2")

    assert reason(scheme_with(rsa_key), headers, BODY, line=LINE) == "unknown_key"


@pytest.mark.parametrize("key_id", ["/pl/../../etc/passwd", "k1?x=1", "k1@evil.example", "k" * 257])
def test_a_key_id_that_could_leave_its_place_in_a_url_is_refused(
    rsa_key: rsa.RSAPrivateKey, key_id: str
) -> None:
    headers = sent_by_httpsig(rsa_key, key_id=key_id)

    assert reason(scheme_with(rsa_key), headers, BODY, line=LINE) == "malformed_key_id"


# --- ECDSA P-256 (signed with `cryptography` over a signing string written out here) ------------------------


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ecdsa_signed(key: ec.EllipticCurvePrivateKey, algorithm: str, *, raw: bool) -> dict[str, str]:
    date = formatdate(NOW, usegmt=True)
    digest = digest_of(BODY)
    signing_string = f"(request-target): post {PATH}\ndigest: {digest}\ndate: {date}"
    der = key.sign(signing_string.encode(), ec.ECDSA(hashes.SHA256()))
    if raw:
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = der
    encoded = base64.b64encode(signature).decode()
    return {
        "date": date,
        "digest": digest,
        "authorization": f'Signature keyId="k1",algorithm="{algorithm}",'
        'headers="(request-target) digest date",'
        f'signature="{encoded}"',
    }


@pytest.mark.parametrize("algorithm", ["ecdsa-sha256", "hs2019"])
@pytest.mark.parametrize("raw", [False, True], ids=["der", "r-s"])
def test_an_ecdsa_p256_signature_verifies(
    ec_key: ec.EllipticCurvePrivateKey, algorithm: str, raw: bool
) -> None:
    headers = ecdsa_signed(ec_key, algorithm, raw=raw)

    assert verify(scheme_with(ec_key), headers, BODY, (), NOW, line=LINE).message_id is None


def test_an_rsa_algorithm_named_for_an_ec_key_is_refused(ec_key: ec.EllipticCurvePrivateKey) -> None:
    headers = ecdsa_signed(ec_key, "rsa-sha256", raw=False)

    assert reason(scheme_with(ec_key), headers, BODY, line=LINE) == "algorithm_mismatch"


# --- SmartThings: an x.509 certificate at https://key.smartthings.com<keyId> --------------------------------

SMARTTHINGS_KEY_ID = "/pl/useast2/1a-2b-3c-4d-5e6f7a8b9c0d"


def certificate_pem(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SmartThings Webhook Signer")])
    start = datetime(2024, 1, 1, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def smartthings(rsa_key: rsa.RSAPrivateKey) -> Iterator[tuple[KeyServer, HttpSignatureScheme]]:
    """A key host serving the signer's certificate at <host><keyId>, and a profile that names it."""
    with key_server() as server:
        server.serve(
            SMARTTHINGS_KEY_ID, certificate_pem(rsa_key), headers={"Content-Type": "application/x-pem-file"}
        )
        scheme = HttpSignatureScheme.model_validate(
            {
                "scheme": "http-signature",
                "format": "cavage",
                "keyUrl": server.base + "{keyId}",
                "keyHosts": ["127.0.0.1"],
                "algorithms": ["rsa-sha256"],
                "requiredHeaders": SMARTTHINGS_HEADERS,
            }
        )
        yield server, scheme


def test_a_key_id_names_a_certificate_fetched_once_from_the_key_host(
    rsa_key: rsa.RSAPrivateKey, smartthings: tuple[KeyServer, HttpSignatureScheme]
) -> None:
    # GIVEN the key host, and the relay's fetcher (plain HTTP allowed to loopback, as the local stack does)
    server, scheme = smartthings
    keys = HttpsPublicKeys(allow_loopback=True)
    headers = sent_by_httpsig(rsa_key, key_id=SMARTTHINGS_KEY_ID)

    # WHEN two requests signed with that key arrive
    verify(scheme, headers, BODY, (), NOW, line=LINE, keys=keys)
    verify(scheme, headers, BODY, (), NOW, line=LINE, keys=keys)

    # THEN the certificate was fetched once, at the key id's URL
    assert server.received == [SMARTTHINGS_KEY_ID]


def test_a_key_id_the_key_host_does_not_know_is_unavailable(
    rsa_key: rsa.RSAPrivateKey, smartthings: tuple[KeyServer, HttpSignatureScheme]
) -> None:
    server, scheme = smartthings
    headers = sent_by_httpsig(rsa_key, key_id="/pl/useast2/made-up")

    found = reason(scheme, headers, BODY, line=LINE, keys=HttpsPublicKeys(allow_loopback=True))

    assert found == "key_unavailable"
    assert server.received == ["/pl/useast2/made-up"]


def test_a_key_id_that_moves_the_url_off_the_key_hosts_fetches_nothing(
    rsa_key: rsa.RSAPrivateKey, smartthings: tuple[KeyServer, HttpSignatureScheme]
) -> None:
    # GIVEN a key id that makes the template's host longer (`127.0.0.1.example`) or changes its port
    server, scheme = smartthings
    keys = HttpsPublicKeys(allow_loopback=True)

    # WHEN requests naming them arrive
    found = [
        reason(scheme, sent_by_httpsig(rsa_key, key_id=key_id), BODY, line=LINE, keys=keys)
        for key_id in (".example/k", "0.nip.io/k")
    ]

    # THEN nothing is fetched
    assert found == ["key_unavailable", "key_unavailable"]
    assert server.received == []


def test_a_stale_request_costs_no_key_fetch(
    rsa_key: rsa.RSAPrivateKey, smartthings: tuple[KeyServer, HttpSignatureScheme]
) -> None:
    server, scheme = smartthings
    headers = sent_by_httpsig(rsa_key, key_id=SMARTTHINGS_KEY_ID, now=NOW - 3600)

    found = reason(scheme, headers, BODY, line=LINE, keys=HttpsPublicKeys(allow_loopback=True))

    assert found == "timestamp_too_old"
    assert server.received == []


def test_a_key_url_without_a_fetcher_is_unavailable(
    rsa_key: rsa.RSAPrivateKey, smartthings: tuple[KeyServer, HttpSignatureScheme]
) -> None:
    _, scheme = smartthings

    assert reason(scheme, sent_by_httpsig(rsa_key, key_id=SMARTTHINGS_KEY_ID), BODY, line=LINE) == (
        "key_unavailable"
    )


def created_signed(key: ec.EllipticCurvePrivateKey, created: int, expires: int) -> dict[str, str]:
    """hs2019 over (request-target) (created) (expires) digest, the draft's Section 2.3 signing string."""
    digest = digest_of(BODY)
    signing_string = (
        f"(request-target): post {PATH}\n(created): {created}\n(expires): {expires}\ndigest: {digest}"
    )
    signature = base64.b64encode(key.sign(signing_string.encode(), ec.ECDSA(hashes.SHA256()))).decode()
    return {
        "digest": digest,
        "signature": f'keyId="k1",algorithm="hs2019",created={created},expires={expires},'
        f'headers="(request-target) (created) (expires) digest",signature="{signature}"',
    }


@pytest.mark.parametrize(
    ("created", "expires", "expected"),
    [
        (NOW - 10, NOW + 290, None),
        (NOW - 400, NOW + 290, "timestamp_too_old"),
        (NOW - 100, NOW - 1, "expired"),
    ],
)
def test_a_signature_dated_by_its_created_parameter_is_held_to_the_tolerance(
    ec_key: ec.EllipticCurvePrivateKey, created: int, expires: int, expected: str | None
) -> None:
    scheme = scheme_with(ec_key, requiredHeaders=["(request-target)", "digest", "(created)"])
    headers = created_signed(ec_key, created, expires)

    if expected is None:
        assert verify(scheme, headers, BODY, (), NOW, line=LINE).message_id is None
    else:
        assert reason(scheme, headers, BODY, line=LINE) == expected


@pytest.mark.parametrize("date", ["yesterday", "", "Sun, 05 Jan 2014 25:61:40 GMT", "x" * 100])
def test_a_date_that_is_not_an_http_date_is_refused(rsa_key: rsa.RSAPrivateKey, date: str) -> None:
    headers = sent_by_httpsig(rsa_key) | {"date": date}

    assert reason(scheme_with(rsa_key), headers, BODY, line=LINE) == "malformed_timestamp"
