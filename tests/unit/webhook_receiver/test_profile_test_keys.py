"""`profile test` (the offline intake) with the schemes that need more than a secret: a sender's public key
given rather than fetched, the path a signature covers, and a token in the path."""

from __future__ import annotations

import json
import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from fakes.cavage_sender import public_pem, signed_by_httpsig
from iotbridge.profile.document import parse_profile
from iotbridge.webhook_receiver.offline import GivenPublicKeys, try_webhook

NOW = 1_790_000_000
KEY_ID = "/pl/useast2/1a-2b-3c"
RULE: dict[str, Any] = {
    "name": "state",
    "operation": "DEVICE_EVENT",
    "members": {"UserId": "event.user", "ConnectorDeviceId": "event.id"},
    "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
}
BODY = json.dumps({"user": "user-1", "id": "lamp-1", "on": True}).encode()


def profile(verification: dict[str, Any]) -> Any:
    return parse_profile(
        {"version": 1, "verification": verification, "deduplication": {"digest": True}, "rules": [RULE]}
    )


SMARTTHINGS = profile(
    {
        "scheme": "http-signature",
        "format": "cavage",
        "keyUrl": "https://key.smartthings.com{keyId}",
        "keyHosts": ["key.smartthings.com"],
        "algorithms": ["rsa-sha256"],
    }
)


def test_a_captured_signed_delivery_verifies_with_the_key_given_for_its_url() -> None:
    # GIVEN a delivery signed for the connector's events URL, and the key its key id names, given
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers = signed_by_httpsig(key, BODY, path="/connectors/smartthings/events", now=NOW, key_id=KEY_ID)
    given = GivenPublicKeys({f"https://key.smartthings.com{KEY_ID}": public_pem(key).encode()})

    # WHEN `profile test` tries it for the connector
    verdict = try_webhook(
        SMARTTHINGS,
        body=BODY,
        headers=headers,
        secret="",
        connector_id="smartthings",
        now=NOW,
        public_keys=given,
    )

    # THEN the relay would queue its event
    assert verdict.answer.status == 202, verdict.answer
    assert len(verdict.events) == 1


def test_a_key_not_given_is_the_single_401() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers = signed_by_httpsig(key, BODY, path="/connectors/smartthings/events", now=NOW, key_id=KEY_ID)

    verdict = try_webhook(
        SMARTTHINGS,
        body=BODY,
        headers=headers,
        secret="",
        connector_id="smartthings",
        now=NOW,
        public_keys=GivenPublicKeys({}),
    )

    assert (verdict.answer.status, verdict.answer.outcome) == (401, "unauthorized.key_unavailable")


def test_a_path_token_profile_is_tried_with_the_secret_as_its_token_unless_one_is_given() -> None:
    token = secrets.token_urlsafe(32)
    path_token = profile({"scheme": "path-token"})

    with_secret = try_webhook(path_token, body=BODY, headers={}, secret=token, now=NOW)
    wrong = try_webhook(path_token, body=BODY, headers={}, secret=token, now=NOW, path_token="not-the-token")

    assert with_secret.answer.status == 202
    assert (wrong.answer.status, wrong.answer.outcome) == (401, "unauthorized.signature_mismatch")
