"""The signature schemes of a connector profile, each against the senders' own libraries, published vectors
or an independent signer (the standard library's hmac, `cryptography`'s ed25519), never against our signer."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.signature import Clock, SignatureVerifier
from standardwebhooks import Webhook

from iotbridge.profile.verification import HmacScheme, StandardWebhooksScheme, TokenScheme
from iotbridge.signatures.standard_webhooks import (
    MAX_SIGNATURE_HEADER_CHARS,
    MAX_V1A_ENTRIES,
    SMALL_ORDER_PUBLIC_KEYS,
    SecretFormatError,
    SignatureError,
    parse_public_key,
)
from iotbridge.webhook_receiver.domain.verification import Verified, secret_values, verify

NOW = 1_790_000_000
BODY = b'{"devices":[{"id":"lamp-1","power":"on"}]}'
NOT_UTF8 = b'{"name":"\xff\xfe caf\xe9"}'
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER_WHSEC = "whsec_" + base64.b64encode(b"fedcba9876543210fedcba9876543210").decode()


def standard_webhooks(**fields: Any) -> StandardWebhooksScheme:
    return StandardWebhooksScheme.model_validate({"scheme": "standard-webhooks", **fields})


def hmac_scheme(**fields: Any) -> HmacScheme:
    return HmacScheme.model_validate({"scheme": "hmac", **fields})


def token_scheme(header: str) -> TokenScheme:
    return TokenScheme.model_validate({"scheme": "token", "header": header})


def reason(
    scheme: Any, headers: dict[str, str], body: bytes, secrets: tuple[str, ...], now: float = NOW
) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(scheme, headers, body, secrets, now)
    return caught.value.reason


def raw_hmac(key: bytes, content: bytes, digest: str = "sha256") -> bytes:
    return hmac.new(key, content, digest).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- Standard Webhooks v1 (the reference library signs) -----------------------------------------------------


def webhook_headers(signature: str, *, msg_id: str = "msg_1", timestamp: int = NOW) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def reference_v1(secret: str, body: bytes, *, msg_id: str = "msg_1", timestamp: int = NOW) -> str:
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode())


def test_standard_webhooks_v1_signed_by_the_reference_library_verifies_and_names_its_id() -> None:
    headers = webhook_headers(reference_v1(WHSEC, BODY))
    assert verify(standard_webhooks(), headers, BODY, (WHSEC,), NOW) == Verified("msg_1")


def test_standard_webhooks_v1_refuses_a_tampered_body_and_a_wrong_secret() -> None:
    headers = webhook_headers(reference_v1(WHSEC, BODY))
    assert reason(standard_webhooks(), headers, BODY.replace(b"on", b"of"), (WHSEC,)) == "signature_mismatch"
    assert reason(standard_webhooks(), headers, BODY, (OTHER_WHSEC,)) == "signature_mismatch"


def test_standard_webhooks_rotation_any_value_of_the_stored_secret_may_match() -> None:
    stored = secret_values(f"{OTHER_WHSEC}\n{WHSEC}\n")
    assert stored == (OTHER_WHSEC, WHSEC)
    for signer in (WHSEC, OTHER_WHSEC):
        headers = webhook_headers(reference_v1(signer, BODY))
        assert verify(standard_webhooks(), headers, BODY, stored, NOW).message_id == "msg_1"


def test_secret_values_are_one_per_line_with_blanks_ignored() -> None:
    assert secret_values("  first \n\n\tsecond\n") == ("first", "second")
    assert secret_values("\n \n") == ()


def test_standard_webhooks_tolerance_is_the_schemes_own() -> None:
    scheme = standard_webhooks(toleranceSeconds=60)
    headers = webhook_headers(reference_v1(WHSEC, BODY))
    verify(scheme, headers, BODY, (WHSEC,), NOW + 60)
    assert reason(scheme, headers, BODY, (WHSEC,), now=NOW + 61) == "timestamp_too_old"
    assert reason(scheme, headers, BODY, (WHSEC,), now=NOW - 61) == "timestamp_in_future"


# --- Standard Webhooks v1a (ed25519, signed as a sender does) -----------------------------------------------


def public_value(key: Ed25519PrivateKey) -> str:
    return "whpk_" + b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def v1a_entry(key: Ed25519PrivateKey, body: bytes, *, msg_id: str = "msg_1", timestamp: int = NOW) -> str:
    return "v1a," + b64(key.sign(f"{msg_id}.{timestamp}.".encode() + body))


SENDER_KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()


def test_v1a_signed_with_the_senders_private_key_verifies_under_its_public_key() -> None:
    headers = webhook_headers(v1a_entry(SENDER_KEY, BODY))
    scheme = standard_webhooks(versions=["v1a"])
    assert verify(scheme, headers, BODY, (public_value(SENDER_KEY),), NOW) == Verified("msg_1")


@pytest.mark.parametrize(
    ("body", "secrets"),
    [
        (BODY + b" ", (public_value(SENDER_KEY),)),
        (BODY, (public_value(OTHER_KEY),)),
    ],
    ids=["tampered-body", "other-public-key"],
)
def test_v1a_refuses_a_tampered_body_or_another_senders_key(body: bytes, secrets: tuple[str, ...]) -> None:
    headers = webhook_headers(v1a_entry(SENDER_KEY, BODY))
    assert reason(standard_webhooks(versions=["v1a"]), headers, body, secrets) == "signature_mismatch"


def test_v1a_refuses_a_signature_made_for_another_id_or_timestamp() -> None:
    scheme = standard_webhooks(versions=["v1a"])
    secrets = (public_value(SENDER_KEY),)
    other_id = webhook_headers(v1a_entry(SENDER_KEY, BODY, msg_id="msg_2"))
    other_time = webhook_headers(v1a_entry(SENDER_KEY, BODY, timestamp=NOW - 1))
    assert reason(scheme, other_id, BODY, secrets) == "signature_mismatch"
    assert reason(scheme, other_time, BODY, secrets) == "signature_mismatch"


def test_v1a_rotation_any_public_key_may_match_and_a_whsec_value_is_not_taken_for_one() -> None:
    stored = secret_values(f"{WHSEC}\n{public_value(OTHER_KEY)}\n{public_value(SENDER_KEY)}")
    headers = webhook_headers(v1a_entry(SENDER_KEY, BODY))
    assert verify(standard_webhooks(versions=["v1a"]), headers, BODY, stored, NOW).message_id == "msg_1"


def test_a_scheme_of_both_versions_accepts_either_signature() -> None:
    scheme = standard_webhooks(versions=["v1", "v1a"])
    stored = (WHSEC, public_value(SENDER_KEY))
    verify(scheme, webhook_headers(reference_v1(WHSEC, BODY)), BODY, stored, NOW)
    verify(scheme, webhook_headers(v1a_entry(SENDER_KEY, BODY)), BODY, stored, NOW)
    both = f"{v1a_entry(OTHER_KEY, BODY)} {reference_v1(WHSEC, BODY)}"
    verify(scheme, webhook_headers(both), BODY, stored, NOW)


def test_a_v1_only_scheme_ignores_v1a_entries() -> None:
    scheme = standard_webhooks()
    stored = (WHSEC, public_value(SENDER_KEY))
    assert reason(scheme, webhook_headers(v1a_entry(SENDER_KEY, BODY)), BODY, stored) == "no_v1_signature"
    mixed = f"{v1a_entry(SENDER_KEY, BODY)} {reference_v1(WHSEC, BODY)}"
    verify(scheme, webhook_headers(mixed), BODY, stored, NOW)


def test_a_v1a_only_scheme_ignores_v1_entries() -> None:
    scheme = standard_webhooks(versions=["v1a"])
    stored = (WHSEC, public_value(SENDER_KEY))
    assert reason(scheme, webhook_headers(reference_v1(WHSEC, BODY)), BODY, stored) == "no_v1_signature"


def test_a_malformed_public_key_is_an_unusable_secret() -> None:
    headers = webhook_headers(v1a_entry(SENDER_KEY, BODY))
    short = "whpk_" + b64(b"\x01" * 31)
    assert reason(standard_webhooks(versions=["v1a"]), headers, BODY, (short,)) == "unusable_secret"


# RFC 8032 section 7.1, TEST 1..3: secret key, public key, message, signature (hex).
RFC8032_VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032_VECTORS, ids=["1", "2", "3"])
def test_rfc8032_key_pairs_sign_as_published_and_verify_deliveries(
    secret: str, public: str, message: str, signature: str
) -> None:
    """The published pairs make the sender's side trustworthy (it derives the published public key and
    reproduces the published signature); our check then takes a delivery signed with the published secret
    key under `whpk_<published public key>`, and refuses it once any part of the signature is altered.
    The RFC's own messages cannot go through as they are: a v1a signature always covers `{id}.{timestamp}.`
    before the body."""
    # GIVEN a published key pair, which reproduces its published public key and signature
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex() == public
    assert key.sign(bytes.fromhex(message)).hex() == signature
    scheme = standard_webhooks(versions=["v1a"])
    stored = ("whpk_" + b64(bytes.fromhex(public)),)
    body = bytes.fromhex(message)
    good = key.sign(f"msg_1.{NOW}.".encode() + body)

    # WHEN a delivery signed with it is checked, THEN it is accepted
    verify(scheme, webhook_headers("v1a," + b64(good)), body, stored, NOW)
    # WHEN any part of its signature is altered, THEN it is refused
    for index in (0, 31, 32, 63):  # R and S, first and last bytes
        altered = bytearray(good)
        altered[index] ^= 0x01
        headers = webhook_headers("v1a," + b64(bytes(altered)))
        assert reason(scheme, headers, body, stored) == "signature_mismatch"
    assert reason(scheme, webhook_headers("v1a," + b64(good)), body + b"\x00", stored) == "signature_mismatch"


def test_rfc8032_signatures_of_one_pair_do_not_verify_under_another() -> None:
    first, second = RFC8032_VECTORS[0], RFC8032_VECTORS[1]
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(first[0]))
    headers = webhook_headers("v1a," + b64(key.sign(f"msg_1.{NOW}.".encode() + BODY)))
    stored = ("whpk_" + b64(bytes.fromhex(second[1])),)
    assert reason(standard_webhooks(versions=["v1a"]), headers, BODY, stored) == "signature_mismatch"


# --- HMAC, GitHub style -------------------------------------------------------------------------------------

GITHUB = hmac_scheme(signatureHeader="X-Hub-Signature-256", prefix="sha256=")
# GitHub's docs, "Validating webhook deliveries": this secret and payload give this signature.
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_PAYLOAD = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_published_example_verifies() -> None:
    headers = {"x-hub-signature-256": GITHUB_SIGNATURE}
    assert verify(GITHUB, headers, GITHUB_PAYLOAD, (GITHUB_SECRET,), NOW) == Verified(None)


def test_github_header_name_is_matched_lower_cased() -> None:
    assert GITHUB.signature_header == "x-hub-signature-256"


@pytest.mark.parametrize(
    ("headers", "body", "secret", "expected"),
    [
        ({"x-hub-signature-256": GITHUB_SIGNATURE}, b"Hello, World?", GITHUB_SECRET, "signature_mismatch"),
        (
            {"x-hub-signature-256": GITHUB_SIGNATURE},
            GITHUB_PAYLOAD,
            "It's a secret to everybody",
            "signature_mismatch",
        ),
        ({"x-hub-signature-256": GITHUB_SIGNATURE[7:]}, GITHUB_PAYLOAD, GITHUB_SECRET, "malformed_signature"),
        (
            {"x-hub-signature-256": "sha1=" + GITHUB_SIGNATURE[7:]},
            GITHUB_PAYLOAD,
            GITHUB_SECRET,
            "malformed_signature",
        ),
        (
            {"x-hub-signature-256": GITHUB_SIGNATURE[:-1] + "g"},
            GITHUB_PAYLOAD,
            GITHUB_SECRET,
            "malformed_signature",
        ),
        (
            {"x-hub-signature-256": GITHUB_SIGNATURE[:-1]},
            GITHUB_PAYLOAD,
            GITHUB_SECRET,
            "malformed_signature",
        ),
        ({"x-hub-signature-256": GITHUB_SIGNATURE[:-2]}, GITHUB_PAYLOAD, GITHUB_SECRET, "signature_mismatch"),
        ({"x-hub-signature": GITHUB_SIGNATURE}, GITHUB_PAYLOAD, GITHUB_SECRET, "missing_header"),
        ({"x-hub-signature-256": ""}, GITHUB_PAYLOAD, GITHUB_SECRET, "missing_header"),
    ],
    ids=[
        "body-one-byte-changed",
        "wrong-secret",
        "prefix-missing",
        "other-prefix",
        "not-hex",
        "odd-length-hex",
        "truncated",
        "header-missing",
        "header-empty",
    ],
)
def test_github_style_signature_failures_are_named_by_reason(
    headers: dict[str, str], body: bytes, secret: str, expected: str
) -> None:
    assert reason(GITHUB, headers, body, (secret,)) == expected


def test_github_style_any_stored_secret_may_match() -> None:
    headers = {"x-hub-signature-256": GITHUB_SIGNATURE}
    verify(GITHUB, headers, GITHUB_PAYLOAD, ("an old secret", GITHUB_SECRET), NOW)


# --- HMAC, Slack style (slack_sdk signs, and judges) --------------------------------------------------------

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK = hmac_scheme(
    signatureHeader="X-Slack-Signature",
    prefix="v0=",
    signedContent="v0:{timestamp}:{body}",
    timestampHeader="X-Slack-Request-Timestamp",
    toleranceSeconds=300,
)


class FixedClock(Clock):
    def now(self) -> float:
        return NOW


SLACK_SDK = SignatureVerifier(SLACK_SECRET, clock=FixedClock())


def slack_headers(signature: str, timestamp: str) -> dict[str, str]:
    return {"x-slack-signature": signature, "x-slack-request-timestamp": timestamp}


def slack_signature(body: bytes, timestamp: str, secret: str = SLACK_SECRET) -> str:
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return signature


def ours_accepts(scheme: Any, headers: dict[str, str], body: bytes, secrets: tuple[str, ...]) -> bool:
    try:
        verify(scheme, headers, body, secrets, NOW)
    except SignatureError:
        return False
    return True


# Slack's docs, "Verifying requests from Slack": this signing secret, timestamp and body give this signature.
SLACK_EXAMPLE_TIMESTAMP = 1531420618
SLACK_EXAMPLE_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_EXAMPLE_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_slacks_published_example_verifies() -> None:
    headers = slack_headers(SLACK_EXAMPLE_SIGNATURE, str(SLACK_EXAMPLE_TIMESTAMP))
    assert verify(SLACK, headers, SLACK_EXAMPLE_BODY, (SLACK_SECRET,), SLACK_EXAMPLE_TIMESTAMP) == Verified(
        None
    )
    assert slack_signature(SLACK_EXAMPLE_BODY, str(SLACK_EXAMPLE_TIMESTAMP)) == SLACK_EXAMPLE_SIGNATURE


def test_slack_signature_from_slack_sdk_verifies() -> None:
    headers = slack_headers(slack_signature(BODY, str(NOW)), str(NOW))
    assert verify(SLACK, headers, BODY, (SLACK_SECRET,), NOW) == Verified(None)


SLACK_CASES = {
    "valid": (BODY, str(NOW), BODY, SLACK_SECRET),
    "body-changed": (BODY, str(NOW), BODY[:-1] + b"]", SLACK_SECRET),
    "body-extended": (BODY, str(NOW), BODY + b"\n", SLACK_SECRET),
    "timestamp-replaced": (BODY, str(NOW), BODY, SLACK_SECRET),
    "other-secret": (BODY, str(NOW), BODY, "another-signing-secret"),
    "stale": (BODY, str(NOW - 301), BODY, SLACK_SECRET),
    "edge-of-window-past": (BODY, str(NOW - 300), BODY, SLACK_SECRET),
    "edge-of-window-future": (BODY, str(NOW + 300), BODY, SLACK_SECRET),
    "from-the-future": (BODY, str(NOW + 301), BODY, SLACK_SECRET),
}


@pytest.mark.parametrize("case", list(SLACK_CASES))
def test_slack_style_agrees_with_slack_sdk(case: str) -> None:
    signed_body, timestamp, sent_body, signer = SLACK_CASES[case]
    signature = slack_signature(signed_body, timestamp, signer)
    sent_timestamp = str(NOW - 1) if case == "timestamp-replaced" else timestamp
    headers = slack_headers(signature, sent_timestamp)
    expected = SLACK_SDK.is_valid(body=sent_body, timestamp=sent_timestamp, signature=signature)
    assert ours_accepts(SLACK, headers, sent_body, (SLACK_SECRET,)) is expected
    assert expected is (case in {"valid", "edge-of-window-past", "edge-of-window-future"})


@settings(max_examples=60, deadline=None)
@given(
    body=st.text(alphabet=st.characters(codec="utf-8"), max_size=200).map(str.encode),
    offset=st.integers(min_value=-400, max_value=400),
    flip=st.one_of(st.none(), st.integers(min_value=0, max_value=199)),
)
def test_slack_style_accepts_exactly_what_slack_sdk_accepts(
    body: bytes, offset: int, flip: int | None
) -> None:
    timestamp = str(NOW + offset)
    signature = slack_signature(body, timestamp)
    sent = body
    if flip is not None and body:
        index = flip % len(body)
        sent = body[:index] + bytes([body[index] ^ 0x20]) + body[index + 1 :]
    try:
        sent.decode("utf-8")
    except UnicodeDecodeError:
        return  # slack_sdk reads text only; raw bytes are covered below
    expected = SLACK_SDK.is_valid(body=sent, timestamp=timestamp, signature=signature)
    assert ours_accepts(SLACK, slack_headers(signature, timestamp), sent, (SLACK_SECRET,)) is expected


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [("", "missing_header"), ("17900000O0", "malformed_timestamp"), ("-1790000000", "malformed_timestamp")],
    ids=["empty", "letter", "negative"],
)
def test_slack_style_timestamp_must_be_digits(timestamp: str, expected: str) -> None:
    headers = slack_headers(slack_signature(BODY, str(NOW)), timestamp)
    assert reason(SLACK, headers, BODY, (SLACK_SECRET,)) == expected


def test_slack_style_missing_timestamp_header_is_refused() -> None:
    headers = {"x-slack-signature": slack_signature(BODY, str(NOW))}
    assert reason(SLACK, headers, BODY, (SLACK_SECRET,)) == "missing_header"


# --- HMAC, Stripe style (signed as stripe's library signs, checked by it too) -------------------------------

STRIPE_SECRET = "whsec_test_secret_for_the_relay"
STRIPE = hmac_scheme(
    signatureHeader="Stripe-Signature",
    signedContent="{timestamp}.{body}",
    entries={"separator": ",", "signatureKey": "v1", "timestampKey": "t"},
)


def stripe_v1(body: bytes, timestamp: int, secret: str = STRIPE_SECRET) -> str:
    return stripe.WebhookSignature._compute_signature(f"{timestamp}.{body.decode()}", secret)


def stripe_accepts(body: bytes, header: str, secret: str = STRIPE_SECRET) -> bool:
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance=None)
    except stripe.SignatureVerificationError:
        return False
    return True


def test_stripe_header_from_stripes_own_generator_verifies() -> None:
    header = stripe.WebhookSignature.generate_signature_header(BODY.decode(), STRIPE_SECRET, timestamp=NOW)
    assert stripe_accepts(BODY, header)
    assert verify(STRIPE, {"stripe-signature": header}, BODY, (STRIPE_SECRET,), NOW) == Verified(None)


@pytest.mark.parametrize(
    "header",
    [
        f"t={NOW},v1={stripe_v1(BODY, NOW)}",
        f"t={NOW},v1={stripe_v1(BODY, NOW, 'whsec_old')},v1={stripe_v1(BODY, NOW)}",
        f"t={NOW},v1={stripe_v1(BODY, NOW)},v1={stripe_v1(BODY, NOW, 'whsec_old')}",
        f"t={NOW},v1={stripe_v1(BODY, NOW)},v0={'0' * 64}",
        f"v1={stripe_v1(BODY, NOW)},t={NOW},v0=not-hex-at-all",
    ],
    ids=["one-v1", "second-v1-matches", "first-v1-matches", "v0-ignored", "order-free-v0-not-judged"],
)
def test_stripe_style_accepts_what_stripe_accepts(header: str) -> None:
    assert stripe_accepts(BODY, header)
    verify(STRIPE, {"stripe-signature": header}, BODY, (STRIPE_SECRET,), NOW)


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [
        (f"t={NOW},v1={stripe_v1(BODY, NOW)}", BODY.replace(b"lamp", b"lamq"), "signature_mismatch"),
        (f"t={NOW - 1},v1={stripe_v1(BODY, NOW)}", BODY, "signature_mismatch"),
        (f"t={NOW},v1={stripe_v1(BODY, NOW, 'whsec_other')}", BODY, "signature_mismatch"),
        (f"t={NOW},v0={stripe_v1(BODY, NOW)}", BODY, "no_signature"),
    ],
    ids=["body-changed", "timestamp-changed", "other-secret", "only-v0"],
)
def test_stripe_style_refuses_what_stripe_refuses(header: str, body: bytes, expected: str) -> None:
    assert not stripe_accepts(body, header)
    assert reason(STRIPE, {"stripe-signature": header}, body, (STRIPE_SECRET,)) == expected


def test_stripe_style_timestamp_comes_from_the_header_and_is_bounded() -> None:
    old = NOW - 301
    header = f"t={old},v1={stripe_v1(BODY, old)}"
    assert stripe_accepts(BODY, header)  # stripe's signature holds; its age is for the tolerance to judge
    assert reason(STRIPE, {"stripe-signature": header}, BODY, (STRIPE_SECRET,)) == "timestamp_too_old"
    inside = NOW - 299
    verify(
        STRIPE, {"stripe-signature": f"t={inside},v1={stripe_v1(BODY, inside)}"}, BODY, (STRIPE_SECRET,), NOW
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"v1={stripe_v1(BODY, NOW)}", "missing_header"),
        (f"t=soon,v1={stripe_v1(BODY, NOW)}", "malformed_timestamp"),
        (f"t={NOW},v1", "malformed_signature"),
        (f"t={NOW},v1=zz{stripe_v1(BODY, NOW)[2:]}", "malformed_signature"),
        (",".join([f"t={NOW}"] + [f"v1={stripe_v1(BODY, NOW)}"] * 10), "malformed_signature"),
        (" , ", "malformed_signature"),
    ],
    ids=[
        "no-timestamp",
        "timestamp-not-digits",
        "entry-without-value",
        "not-hex",
        "too-many-entries",
        "empty",
    ],
)
def test_stripe_style_malformed_headers(header: str, expected: str) -> None:
    assert reason(STRIPE, {"stripe-signature": header}, BODY, (STRIPE_SECRET,)) == expected


# --- HMAC, Shopify style (base64 over the raw body) ---------------------------------------------------------

SHOPIFY_SECRET = "shpss_0123456789abcdef"
SHOPIFY = hmac_scheme(signatureHeader="X-Shopify-Hmac-Sha256", encoding="base64")


def test_shopify_style_base64_hmac_of_the_raw_body_verifies() -> None:
    signature = b64(raw_hmac(SHOPIFY_SECRET.encode(), BODY))
    verify(SHOPIFY, {"x-shopify-hmac-sha256": signature}, BODY, (SHOPIFY_SECRET,), NOW)


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        (b64(raw_hmac(SHOPIFY_SECRET.encode(), BODY + b" ")), "signature_mismatch"),
        (raw_hmac(SHOPIFY_SECRET.encode(), BODY).hex(), "signature_mismatch"),  # hex is base64 text too
        (b64(raw_hmac(SHOPIFY_SECRET.encode(), BODY)).rstrip("="), "malformed_signature"),
        ("!" + b64(raw_hmac(SHOPIFY_SECRET.encode(), BODY))[1:], "malformed_signature"),
    ],
    ids=["other-body", "hex-instead-of-base64", "padding-dropped", "not-base64"],
)
def test_shopify_style_signature_failures_are_named_by_reason(signature: str, expected: str) -> None:
    assert reason(SHOPIFY, {"x-shopify-hmac-sha256": signature}, BODY, (SHOPIFY_SECRET,)) == expected


# --- HMAC with EventBridge's settings (base64 secret, several signatures separated by spaces) ---------------

EVENTBRIDGE_KEY = b"\x00\x01binary key \xff\xfe bytes"
EVENTBRIDGE_SECRET = "whsec_" + b64(EVENTBRIDGE_KEY)
EVENTBRIDGE = hmac_scheme(
    signatureHeader="X-Webhook-Signature",
    prefix="sha256=",
    secretEncoding="base64",
    entries={"separator": " "},
)


def test_eventbridge_style_key_is_the_base64_after_whsec_and_any_entry_may_match() -> None:
    good = "sha256=" + raw_hmac(EVENTBRIDGE_KEY, BODY).hex()
    stale = "sha256=" + raw_hmac(b"retired key", BODY).hex()
    for header in (good, f"{stale} {good}", f"{good} {stale}", f"  {stale}   {good} "):
        verify(EVENTBRIDGE, {"x-webhook-signature": header}, BODY, (EVENTBRIDGE_SECRET,), NOW)
    bare = b64(EVENTBRIDGE_KEY)  # the prefix is optional
    verify(EVENTBRIDGE, {"x-webhook-signature": good}, BODY, (bare,), NOW)


def test_eventbridge_style_the_secret_text_itself_is_not_the_key() -> None:
    keyed_by_text = "sha256=" + raw_hmac(EVENTBRIDGE_SECRET.encode(), BODY).hex()
    headers = {"x-webhook-signature": keyed_by_text}
    assert reason(EVENTBRIDGE, headers, BODY, (EVENTBRIDGE_SECRET,)) == "signature_mismatch"


def test_eventbridge_style_refuses_when_no_entry_matches_or_one_is_malformed() -> None:
    stale = "sha256=" + raw_hmac(b"retired key", BODY).hex()
    good = "sha256=" + raw_hmac(EVENTBRIDGE_KEY, BODY).hex()
    headers = {"x-webhook-signature": f"{stale} {stale}"}
    assert reason(EVENTBRIDGE, headers, BODY, (EVENTBRIDGE_SECRET,)) == "signature_mismatch"
    headers = {"x-webhook-signature": f"{good} {stale[7:]}"}
    assert reason(EVENTBRIDGE, headers, BODY, (EVENTBRIDGE_SECRET,)) == "malformed_signature"


def test_a_secret_that_is_not_base64_is_unusable_under_base64_encoding() -> None:
    good = "sha256=" + raw_hmac(EVENTBRIDGE_KEY, BODY).hex()
    headers = {"x-webhook-signature": good}
    assert reason(EVENTBRIDGE, headers, BODY, ("whsec_not base64!",)) == "unusable_secret"


# --- Other algorithms, and {id}.{timestamp}.{body} ----------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha512"])
def test_other_algorithms_verify_and_are_not_confused_with_sha256(algorithm: str) -> None:
    scheme = hmac_scheme(signatureHeader="X-Signature", algorithm=algorithm, prefix=f"{algorithm}=")
    secret = "shared-secret"
    signature = f"{algorithm}=" + raw_hmac(secret.encode(), BODY, algorithm).hex()
    verify(scheme, {"x-signature": signature}, BODY, (secret,), NOW)
    as_sha256 = f"{algorithm}=" + raw_hmac(secret.encode(), BODY, "sha256").hex()
    assert reason(scheme, {"x-signature": as_sha256}, BODY, (secret,)) == "signature_mismatch"


def test_github_legacy_sha1_header() -> None:
    scheme = hmac_scheme(signatureHeader="X-Hub-Signature", algorithm="sha1", prefix="sha1=")
    signature = "sha1=" + hashlib.sha1(b"").hexdigest()  # a sha1 hex is not an HMAC: refused
    assert (
        reason(scheme, {"x-hub-signature": signature}, GITHUB_PAYLOAD, (GITHUB_SECRET,))
        == "signature_mismatch"
    )
    good = "sha1=" + raw_hmac(GITHUB_SECRET.encode(), GITHUB_PAYLOAD, "sha1").hex()
    verify(scheme, {"x-hub-signature": good}, GITHUB_PAYLOAD, (GITHUB_SECRET,), NOW)


# Standard Webhooks v1 written as HMAC settings: the reference library is the signer.
ID_SIGNED = hmac_scheme(
    signatureHeader="webhook-signature",
    encoding="base64",
    prefix="v1,",
    signedContent="{id}.{timestamp}.{body}",
    timestampHeader="webhook-timestamp",
    messageIdHeader="webhook-id",
    secretEncoding="base64",
)


def test_id_timestamp_body_content_verifies_against_the_reference_library_and_names_the_id() -> None:
    headers = webhook_headers(reference_v1(WHSEC, BODY, msg_id="msg_2Kx"))
    headers["webhook-id"] = "msg_2Kx"
    assert verify(ID_SIGNED, headers, BODY, (WHSEC,), NOW) == Verified("msg_2Kx")


def test_id_timestamp_body_content_covers_the_id() -> None:
    headers = webhook_headers(reference_v1(WHSEC, BODY, msg_id="msg_1"))
    headers["webhook-id"] = "msg_2"
    assert reason(ID_SIGNED, headers, BODY, (WHSEC,)) == "signature_mismatch"


@pytest.mark.parametrize(
    ("message_id", "expected"),
    [
        (None, "missing_header"),
        ("", "missing_header"),
        ("msg\x07bell", "malformed_id"),
        ("m" * 257, "malformed_header"),
    ],
    ids=["missing", "empty", "control-character", "too-long"],
)
def test_message_id_header_must_be_present_and_printable(message_id: str | None, expected: str) -> None:
    headers = webhook_headers(reference_v1(WHSEC, BODY))
    if message_id is None:
        del headers["webhook-id"]
    else:
        headers["webhook-id"] = message_id
    assert reason(ID_SIGNED, headers, BODY, (WHSEC,)) == expected


def test_message_id_header_without_id_in_the_content_is_still_reported() -> None:
    scheme = hmac_scheme(
        signatureHeader="X-Hub-Signature-256", prefix="sha256=", messageIdHeader="X-GitHub-Delivery"
    )
    headers = {
        "x-hub-signature-256": GITHUB_SIGNATURE,
        "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    }
    assert (
        verify(scheme, headers, GITHUB_PAYLOAD, (GITHUB_SECRET,), NOW).message_id
        == headers["x-github-delivery"]
    )


# --- Static token -------------------------------------------------------------------------------------------

TOKEN = token_scheme("Authorization")


def test_token_matches_the_whole_header_value() -> None:
    assert verify(
        TOKEN, {"authorization": "Bearer s3cr3t-t0ken"}, BODY, ("Bearer s3cr3t-t0ken",), NOW
    ) == Verified(None)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Bearer s3cr3t-t0ken", "s3cr3t-t0ken"),
        ("s3cr3t-t0ken", "Bearer s3cr3t-t0ken"),
        ("s3cr3t", "s3cr3t-t0ken"),
        ("t0ken", "s3cr3t-t0ken"),
        ("s3cr3t-t0ken-and-more", "s3cr3t-t0ken"),
        ("S3CR3T-T0KEN", "s3cr3t-t0ken"),
    ],
    ids=["bearer-sent-bare-stored", "bare-sent-bearer-stored", "prefix", "suffix", "extended", "other-case"],
)
def test_token_part_or_superset_of_the_secret_is_refused(sent: str, stored: str) -> None:
    assert reason(TOKEN, {"authorization": sent}, BODY, (stored,)) == "signature_mismatch"


def test_token_rotation_any_stored_value_may_match() -> None:
    stored = secret_values("old-token\nnew-token")
    verify(token_scheme("X-Webhook-Secret"), {"x-webhook-secret": "old-token"}, BODY, stored, NOW)
    verify(token_scheme("X-Webhook-Secret"), {"x-webhook-secret": "new-token"}, BODY, stored, NOW)


def test_token_missing_header_is_refused() -> None:
    assert (
        reason(TOKEN, {"x-other": "Bearer s3cr3t-t0ken"}, BODY, ("Bearer s3cr3t-t0ken",)) == "missing_header"
    )


# --- Failures every scheme shares ---------------------------------------------------------------------------

SIGNED_HEADER = {"x-hub-signature-256": GITHUB_SIGNATURE}


@pytest.mark.parametrize(
    ("scheme", "headers"),
    [
        (standard_webhooks(), webhook_headers(reference_v1(WHSEC, BODY))),
        (GITHUB, SIGNED_HEADER),
        (STRIPE, {"stripe-signature": f"t={NOW},v1={stripe_v1(BODY, NOW)}"}),
        (TOKEN, {"authorization": "Bearer x"}),
    ],
    ids=["standard-webhooks", "hmac", "hmac-entries", "token"],
)
def test_an_empty_secret_list_is_refused(scheme: Any, headers: dict[str, str]) -> None:
    assert reason(scheme, headers, BODY, ()) == "unusable_secret"


@pytest.mark.parametrize(
    ("scheme", "header", "expected"),
    [
        (GITHUB, "x-hub-signature-256", "malformed_header"),
        (TOKEN, "authorization", "malformed_header"),
        (standard_webhooks(), "webhook-signature", "malformed_signature"),
    ],
    ids=["hmac", "token", "standard-webhooks"],
)
def test_an_oversized_header_is_refused(scheme: Any, header: str, expected: str) -> None:
    oversized = "sha256=" + "a" * MAX_SIGNATURE_HEADER_CHARS
    headers = {**webhook_headers("v1,AAAA"), header: oversized}
    assert reason(scheme, headers, BODY, (WHSEC, oversized, GITHUB_SECRET)) == expected


def test_a_header_at_the_size_limit_is_still_judged() -> None:
    padded = GITHUB_SIGNATURE + " " * (MAX_SIGNATURE_HEADER_CHARS - len(GITHUB_SIGNATURE))
    verify(GITHUB, {"x-hub-signature-256": padded}, GITHUB_PAYLOAD, (GITHUB_SECRET,), NOW)


@pytest.mark.parametrize(
    ("scheme", "headers", "secret", "expected"),
    [
        (GITHUB, {"x-hub-signature-256": GITHUB_SIGNATURE + "\u00e9"}, GITHUB_SECRET, "malformed_header"),
        (
            GITHUB,
            {"x-hub-signature-256": "sha256=\uff17" + GITHUB_SIGNATURE[8:]},
            GITHUB_SECRET,
            "malformed_header",
        ),
        (TOKEN, {"authorization": "Bearer caf\u00e9"}, "Bearer caf\u00e9", "malformed_header"),
        (
            SLACK,
            slack_headers(slack_signature(BODY, str(NOW)), "\u0661" * 10),
            SLACK_SECRET,
            "malformed_timestamp",
        ),
    ],
    ids=["hmac-accent", "hmac-fullwidth-digit", "token", "arabic-indic-timestamp-digits"],
)
def test_non_ascii_headers_are_refused(
    scheme: Any, headers: dict[str, str], secret: str, expected: str
) -> None:
    assert reason(scheme, headers, BODY, (secret,)) == expected


def test_timestamp_window_of_an_hmac_scheme_is_inclusive_and_its_own() -> None:
    scheme = hmac_scheme(
        signatureHeader="X-Slack-Signature",
        prefix="v0=",
        signedContent="v0:{timestamp}:{body}",
        timestampHeader="X-Slack-Request-Timestamp",
        toleranceSeconds=30,
    )
    signed_at = str(NOW)
    headers = slack_headers(slack_signature(BODY, signed_at), signed_at)
    for now in (NOW - 30, NOW, NOW + 30):
        verify(scheme, headers, BODY, (SLACK_SECRET,), now)
    assert reason(scheme, headers, BODY, (SLACK_SECRET,), now=NOW + 31) == "timestamp_too_old"
    assert reason(scheme, headers, BODY, (SLACK_SECRET,), now=NOW - 31) == "timestamp_in_future"


def test_a_timestamp_too_long_to_be_a_time_is_refused() -> None:
    headers = slack_headers(slack_signature(BODY, "1" * 13), "1" * 13)
    assert reason(SLACK, headers, BODY, (SLACK_SECRET,)) == "malformed_timestamp"


# --- Raw bytes ----------------------------------------------------------------------------------------------


def test_every_verifier_works_over_bytes_that_are_not_utf8() -> None:
    # GIVEN a body that is not UTF-8
    with pytest.raises(UnicodeDecodeError):
        NOT_UTF8.decode("utf-8")
    # WHEN each scheme checks it signed as its sender signs, THEN each accepts it
    key = WHSEC.removeprefix("whsec_")
    v1 = "v1," + b64(raw_hmac(base64.b64decode(key), f"msg_1.{NOW}.".encode() + NOT_UTF8))
    verify(standard_webhooks(), webhook_headers(v1), NOT_UTF8, (WHSEC,), NOW)
    v1a = webhook_headers(v1a_entry(SENDER_KEY, NOT_UTF8))
    verify(standard_webhooks(versions=["v1a"]), v1a, NOT_UTF8, (public_value(SENDER_KEY),), NOW)
    github = "sha256=" + raw_hmac(GITHUB_SECRET.encode(), NOT_UTF8).hex()
    verify(GITHUB, {"x-hub-signature-256": github}, NOT_UTF8, (GITHUB_SECRET,), NOW)
    slack = "v0=" + raw_hmac(SLACK_SECRET.encode(), f"v0:{NOW}:".encode() + NOT_UTF8).hex()
    verify(SLACK, slack_headers(slack, str(NOW)), NOT_UTF8, (SLACK_SECRET,), NOW)
    stripe_header = f"t={NOW},v1=" + raw_hmac(STRIPE_SECRET.encode(), f"{NOW}.".encode() + NOT_UTF8).hex()
    verify(STRIPE, {"stripe-signature": stripe_header}, NOT_UTF8, (STRIPE_SECRET,), NOW)
    shopify = b64(raw_hmac(SHOPIFY_SECRET.encode(), NOT_UTF8))
    verify(SHOPIFY, {"x-shopify-hmac-sha256": shopify}, NOT_UTF8, (SHOPIFY_SECRET,), NOW)
    verify(TOKEN, {"authorization": "Bearer x"}, NOT_UTF8, ("Bearer x",), NOW)


def test_one_changed_byte_of_a_binary_body_is_refused() -> None:
    github = "sha256=" + raw_hmac(GITHUB_SECRET.encode(), NOT_UTF8).hex()
    changed = NOT_UTF8[:-3] + b"\xea" + NOT_UTF8[-2:]
    assert reason(GITHUB, {"x-hub-signature-256": github}, changed, (GITHUB_SECRET,)) == "signature_mismatch"


# --- A scheme no dispatch knows ------------------------------------------------------------------------


class UnknownScheme:
    """What a fourth scheme model would look like to a dispatch that missed it."""

    scheme = "ed25519-detached"
    header = "x-token"
    signature_header = "x-signature"
    message_id_header = None


def test_verify_refuses_a_scheme_it_does_not_know_rather_than_checking_it_as_another() -> None:
    # GIVEN a header that would pass as a static token WHEN verified under an unknown scheme THEN it raises
    with pytest.raises(AssertionError):
        verify(UnknownScheme(), {"x-token": "s3cret"}, b"{}", ("s3cret",), now=0.0)  # type: ignore[arg-type]


def test_sign_refuses_a_scheme_it_does_not_know_rather_than_signing_it_as_hmac() -> None:
    from iotbridge.webhook_receiver.domain.verification import sign

    with pytest.raises(AssertionError):
        sign(UnknownScheme(), "s3cret", b"{}", message_id="m-1", now=0.0)  # type: ignore[arg-type]


# --- v1a keys and entries that would make forging cheap or checking dear --------------------------------


def made_up_signature_verifies_for_some_id(raw_key: bytes) -> bool:
    """Whether cryptography itself takes R = identity, S = 0 for any of 64 webhook ids under `raw_key`."""
    key = Ed25519PublicKey.from_public_bytes(raw_key)
    forged = bytes.fromhex("01" + "00" * 63)
    for index in range(64):
        try:
            key.verify(forged, f"msg_{index}.{NOW}.".encode() + BODY)
        except InvalidSignature:
            continue
        return True
    return False


@pytest.mark.parametrize("raw_key", sorted(SMALL_ORDER_PUBLIC_KEYS), ids=lambda k: k.hex()[:8] + k.hex()[-2:])
def test_a_small_order_public_key_is_refused_when_the_secret_is_read(raw_key: bytes) -> None:
    # GIVEN a small-order key, under which the ed25519 library verifies a made-up signature
    assert made_up_signature_verifies_for_some_id(raw_key)
    headers = webhook_headers("v1a," + b64(bytes.fromhex("01" + "00" * 63)))
    # WHEN it is the stored key / parsed
    # THEN it is no key: every request to its connector is refused as unusable, and parsing says why
    assert reason(standard_webhooks(versions=["v1a"]), headers, BODY, ("whpk_" + b64(raw_key),)) == (
        "unusable_secret"
    )
    with pytest.raises(SecretFormatError, match="small-order"):
        parse_public_key("whpk_" + b64(raw_key))


def test_an_all_zero_key_no_longer_lets_an_all_zero_signature_through() -> None:
    # GIVEN a whpk_ of 32 zero bytes and the all-zero signature, which verified for about 1 id in 4
    scheme = standard_webhooks(versions=["v1a"])
    stored = ("whpk_" + b64(bytes(32)),)
    # WHEN 16 ids are each sent with it
    reasons = {
        reason(scheme, webhook_headers("v1a," + b64(bytes(64)), msg_id=f"msg_{i}"), BODY, stored)
        for i in range(16)
    }
    # THEN none is accepted
    assert reasons == {"unusable_secret"}


@pytest.mark.parametrize("y", [2**255 - 19, 2**255 - 18, 2**255 - 1], ids=["p", "p+1", "2^255-1"])
def test_a_non_canonical_public_key_encoding_is_refused(y: int) -> None:
    # GIVEN an encoding whose y is at or above the field prime (another spelling of a point, or none)
    raw = y.to_bytes(32, "little")
    # WHEN it is parsed THEN it is refused
    with pytest.raises(SecretFormatError, match="canonical"):
        parse_public_key("whpk_" + b64(raw))


def test_more_v1a_entries_than_the_bound_are_refused_before_any_is_tried() -> None:
    # GIVEN a header with one v1a entry more than the bound, the valid one last
    forged = [v1a_entry(OTHER_KEY, BODY)] * MAX_V1A_ENTRIES
    headers = webhook_headers(" ".join([*forged, v1a_entry(SENDER_KEY, BODY)]))
    scheme = standard_webhooks(versions=["v1a"])
    # WHEN it is verified THEN it is refused as malformed
    assert reason(scheme, headers, BODY, (public_value(SENDER_KEY),)) == "malformed_signature"


def test_rotation_on_both_sides_still_verifies_within_the_entry_bound() -> None:
    # GIVEN a sender signing with its old and new keys, and a secret holding both public keys and another
    old, new = OTHER_KEY, SENDER_KEY
    headers = webhook_headers(f"{v1a_entry(old, BODY)} {v1a_entry(new, BODY)}")
    stored = (public_value(Ed25519PrivateKey.generate()), public_value(new), public_value(old))
    # WHEN it is verified THEN it is accepted
    assert verify(standard_webhooks(versions=["v1a"]), headers, BODY, stored, NOW) == Verified("msg_1")
