"""Standard Webhooks v1 verification, with the reference library `standardwebhooks` as the signer."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from iotbridge.signatures.standard_webhooks import (
    MAX_SIGNATURE_ENTRIES,
    SecretFormatError,
    SignatureError,
    parse_headers,
    parse_secret,
    parse_secrets,
    sign,
    verify_signature,
)

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"fedcba9876543210fedcba9876543210").decode()
NOW = 1_790_000_000
BODY = b'{"Operation":"DEVICE_EVENT","ConnectorDeviceId":"dev-1","MatterEndpoint":{"id":"1"}}'
TOLERANCE = 300


def reference_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    return Webhook(secret).sign(msg_id, when, body.decode())


def check(
    *,
    msg_id: str = "msg_1",
    timestamp: str = str(NOW),
    signature: str | None = None,
    body: bytes = BODY,
    secrets: tuple[str, ...] = (SECRET,),
    now: float = NOW,
) -> None:
    if signature is None:
        signature = reference_signature(SECRET, msg_id, int(timestamp), body)
    headers = parse_headers(msg_id, timestamp, signature)
    verify_signature(headers, body, [parse_secret(s) for s in secrets], now=now, tolerance_seconds=TOLERANCE)


def reason_of(**kwargs: object) -> str:
    with pytest.raises(SignatureError) as caught:
        check(**kwargs)  # type: ignore[arg-type]
    return caught.value.reason


def test_signature_made_by_the_reference_library_verifies() -> None:
    check()


def test_own_signer_agrees_with_the_reference_library() -> None:
    assert sign(SECRET, "msg_1", NOW, BODY) == reference_signature(SECRET, "msg_1", NOW, BODY)


@pytest.mark.parametrize(
    "tamper",
    [
        {
            "body": BODY.replace(b"dev-1", b"dev-2"),
            "signature": reference_signature(SECRET, "msg_1", NOW, BODY),
        },
        {"body": BODY + b" ", "signature": reference_signature(SECRET, "msg_1", NOW, BODY)},
        {"msg_id": "msg_2", "signature": reference_signature(SECRET, "msg_1", NOW, BODY)},
        {"timestamp": str(NOW + 1), "signature": reference_signature(SECRET, "msg_1", NOW, BODY)},
    ],
    ids=["body-changed", "body-whitespace-added", "id-changed", "timestamp-changed"],
)
def test_tampered_request_is_rejected_as_mismatch(tamper: dict[str, object]) -> None:
    assert reason_of(**tamper) == "signature_mismatch"


def test_wrong_secret_is_rejected() -> None:
    assert reason_of(secrets=(OTHER_SECRET,)) == "signature_mismatch"


def test_timestamp_at_the_edge_of_tolerance_is_accepted_both_ways() -> None:
    check(now=NOW + TOLERANCE)
    check(now=NOW - TOLERANCE)


def test_expired_timestamp_is_rejected_before_any_hmac() -> None:
    assert reason_of(now=NOW + TOLERANCE + 1) == "timestamp_too_old"


def test_future_timestamp_is_rejected() -> None:
    assert reason_of(now=NOW - TOLERANCE - 1) == "timestamp_in_future"


def test_rotation_any_stored_secret_may_match() -> None:
    signature = reference_signature(OTHER_SECRET, "msg_1", NOW, BODY)
    check(signature=signature, secrets=(SECRET, OTHER_SECRET))


def test_rotation_any_signature_entry_may_match() -> None:
    old = reference_signature(OTHER_SECRET, "msg_1", NOW, BODY)
    new = reference_signature(SECRET, "msg_1", NOW, BODY)
    check(signature=f"{old} {new}")
    check(signature=f"{new} {old}")


def test_entries_of_other_versions_are_ignored() -> None:
    good = reference_signature(SECRET, "msg_1", NOW, BODY)
    check(signature=f"v2,abcd {good}")
    assert reason_of(signature="v1a,Zm9v v2,Zm9v") == "no_v1_signature"


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "signature", "reason"),
    [
        (None, str(NOW), "v1,Zm9v", "missing_header"),
        ("msg_1", None, "v1,Zm9v", "missing_header"),
        ("msg_1", str(NOW), None, "missing_header"),
        ("msg_1", str(NOW), "", "missing_header"),
        ("msg_1", "17900000.5", "v1,Zm9v", "malformed_timestamp"),
        ("msg_1", "-1790000000", "v1,Zm9v", "malformed_timestamp"),
        ("msg_1", "1" * 40, "v1,Zm9v", "malformed_timestamp"),
        ("msg_1", "١٧٩٠", "v1,Zm9v", "malformed_timestamp"),
        ("msg_1", str(NOW), "v1:Zm9v", "malformed_signature"),
        ("msg_1", str(NOW), "v1,not base64!", "malformed_signature"),
        ("msg_1", str(NOW), " ".join(["v1,Zm9v"] * (MAX_SIGNATURE_ENTRIES + 1)), "malformed_signature"),
        ("msg_1", str(NOW), "v1," + "A" * 5000, "malformed_signature"),
        ("m" * 257, str(NOW), "v1,Zm9v", "malformed_id"),
        ("msg\n1", str(NOW), "v1,Zm9v", "malformed_id"),
    ],
)
def test_missing_or_malformed_headers_are_rejected(
    msg_id: str | None, timestamp: str | None, signature: str | None, reason: str
) -> None:
    with pytest.raises(SignatureError) as caught:
        parse_headers(msg_id, timestamp, signature)
    assert caught.value.reason == reason


def test_secret_without_prefix_is_read_like_the_reference_library() -> None:
    assert parse_secret(SECRET) == parse_secret(SECRET.removeprefix("whsec_"))


@pytest.mark.parametrize("bad", ["whsec_not-base64!", "whsec_" + base64.b64encode(b"short").decode(), ""])
def test_malformed_secret_is_refused(bad: str) -> None:
    with pytest.raises(SecretFormatError):
        parse_secrets(bad)


def test_stored_secret_may_hold_several_values_for_rotation() -> None:
    keys = parse_secrets(f"{SECRET}\n  {OTHER_SECRET} ")
    assert keys == (parse_secret(SECRET), parse_secret(OTHER_SECRET))
