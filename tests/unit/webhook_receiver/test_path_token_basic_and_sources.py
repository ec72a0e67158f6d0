"""The schemes for clouds that sign nothing (a token in the URL, HTTP Basic), the sourceAddresses check, and
what the receiver reads from API Gateway's event for them: each through the edge and the intake, ending in a
202 or the single 401."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
import urllib3

from fakes.receiver import (
    InMemoryConnectorProfiles,
    InMemoryDeduplicator,
    InMemoryEventQueue,
    InMemorySigningKeys,
)
from iotbridge.profile.document import parse_profile
from iotbridge.signatures.standard_webhooks import SignatureError
from iotbridge.webhook_receiver.domain.intake import Answer, IntakeLimits, WebhookIntake
from iotbridge.webhook_receiver.domain.verification import (
    RequestLine,
    entropy_bits_per_char,
    verify_basic,
    verify_path_token,
)
from iotbridge.webhook_receiver.edge import read_request

NOW = 1_790_000_000
CONNECTOR = "switchbot"
TOKEN = secrets.token_urlsafe(32)
BODY = json.dumps({"UserId": "user-1", "id": "lamp-1", "on": True}).encode()
RULE: dict[str, Any] = {
    "name": "state",
    "operation": "DEVICE_EVENT",
    "members": {"UserId": "event.UserId", "ConnectorDeviceId": "event.id"},
    "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
}


def api_gateway_event(
    *,
    token: str | None = None,
    source_ip: str = "192.0.2.10",
    headers: dict[str, str] | None = None,
    query: str = "",
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event as API Gateway sends the receiver one."""
    path = f"/connectors/{CONNECTOR}/events" + (f"/{token}" if token is not None else "")
    parameters = {"connectorId": CONNECTOR} | ({"token": token} if token is not None else {})
    return {
        "version": "2.0",
        "routeKey": "POST /connectors/{connectorId}/events" + ("/{token}" if token is not None else ""),
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json"} | (headers or {}),
        "requestContext": {"http": {"method": "POST", "path": path, "sourceIp": source_ip}},
        "pathParameters": parameters,
        "body": BODY.decode(),
        "isBase64Encoded": False,
    }


class Relay:
    def __init__(self, verification: dict[str, Any], secret: str, **profile: Any) -> None:
        document = {"version": 1, "verification": verification, "deduplication": {"digest": True}}
        self.keys = InMemorySigningKeys({CONNECTOR: secret})
        self.queue = InMemoryEventQueue()
        self.intake = WebhookIntake(
            keys=self.keys,
            queue=self.queue,
            deduplicator=InMemoryDeduplicator(),
            limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
            profiles=InMemoryConnectorProfiles(
                {CONNECTOR: parse_profile(document | {"rules": [RULE]} | profile)}
            ),
            clock=lambda: NOW,
        )

    def send(self, event: dict[str, Any]) -> Answer:
        return self.intake.handle(read_request(event))


# --- What the edge reads ------------------------------------------------------------------------------------


def test_the_edge_reads_the_method_path_query_source_and_token() -> None:
    request = read_request(api_gateway_event(token=TOKEN, source_ip="2001:db8::7", query="a=1&b=2"))

    assert (request.method, request.path, request.query) == (
        "POST",
        f"/connectors/{CONNECTOR}/events/{TOKEN}",
        "a=1&b=2",
    )
    assert (request.source_ip, request.path_token, request.connector_id) == ("2001:db8::7", TOKEN, CONNECTOR)


def test_the_edge_reads_no_token_from_the_route_without_one() -> None:
    assert read_request(api_gateway_event()).path_token is None


# --- A token in the path ------------------------------------------------------------------------------------


def test_the_path_token_route_queues_what_the_right_token_brings() -> None:
    relay = Relay({"scheme": "path-token"}, TOKEN)

    answer = relay.send(api_gateway_event(token=TOKEN))

    assert (answer.status, answer.outcome, len(relay.queue.messages)) == (202, "accepted", 1)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (None, "unauthorized.missing_token"),
        ("", "unauthorized.missing_token"),
        (secrets.token_urlsafe(32), "unauthorized.signature_mismatch"),
        (TOKEN[:-1], "unauthorized.signature_mismatch"),
        ("x" * 5000, "unauthorized.malformed_token"),
    ],
)
def test_a_wrong_or_missing_path_token_gets_the_single_401(token: str | None, expected: str) -> None:
    relay = Relay({"scheme": "path-token"}, TOKEN)

    answer = relay.send(api_gateway_event(token=token))

    assert (answer.status, answer.outcome) == (401, expected)
    assert relay.queue.messages == []


def test_either_value_of_a_rotating_secret_is_a_valid_token() -> None:
    old, new = secrets.token_hex(24), secrets.token_hex(24)
    line = RequestLine(path_token=old)

    assert verify_path_token(line, (new, old)).message_id is None
    assert verify_path_token(RequestLine(path_token=new), (new, old)).message_id is None


@pytest.mark.parametrize(
    "stored",
    [
        "short-token",  # fewer than 32 characters
        "a" * 64,  # long, and one character
        "abcd" * 16,  # long, and a short pattern
    ],
)
def test_a_stored_token_that_is_short_or_guessable_is_unusable_and_says_why(stored: str) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_path_token(RequestLine(path_token=stored), (stored,))

    assert caught.value.reason == "unusable_secret"
    assert "at least 32 characters of high entropy" in " ".join(caught.value.__notes__)


def test_random_hex_and_base64_tokens_have_the_entropy_a_token_needs() -> None:
    assert entropy_bits_per_char(secrets.token_hex(16)) >= 3.0
    assert entropy_bits_per_char(secrets.token_urlsafe(32)) >= 3.0
    assert entropy_bits_per_char("password" * 4) < 3.0


# --- HTTP Basic ---------------------------------------------------------------------------------------------

USER_PASSWORD = "relay:" + secrets.token_urlsafe(24)


def basic(user_password: str) -> dict[str, str]:
    """The header urllib3 (a sender's HTTP library) writes for these credentials."""
    return urllib3.util.make_headers(basic_auth=user_password)


def test_basic_credentials_a_sender_writes_are_accepted() -> None:
    relay = Relay({"scheme": "basic"}, USER_PASSWORD)

    answer = relay.send(api_gateway_event(headers={k.lower(): v for k, v in basic(USER_PASSWORD).items()}))

    assert (answer.status, answer.outcome) == (202, "accepted")


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (None, "missing_header"),
        ("Bearer abc", "malformed_header"),
        ("Basic not base64!", "malformed_header"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "malformed_header"),
        (basic("relay:wrong")["authorization"], "signature_mismatch"),
        (basic("other:" + USER_PASSWORD.split(":", 1)[1])["authorization"], "signature_mismatch"),
    ],
)
def test_wrong_or_malformed_basic_credentials_are_refused(authorization: str | None, expected: str) -> None:
    headers = {"authorization": authorization} if authorization is not None else {}

    with pytest.raises(SignatureError) as caught:
        verify_basic(headers, (USER_PASSWORD,))

    assert caught.value.reason == expected


def test_a_stored_basic_secret_without_a_user_is_unusable() -> None:
    with pytest.raises(SignatureError) as caught:
        verify_basic(basic(USER_PASSWORD), ("just-a-password",))

    assert caught.value.reason == "unusable_secret"


# --- sourceAddresses ----------------------------------------------------------------------------------------

SOURCES = ["192.0.2.0/24", "2001:db8::/32"]


@pytest.mark.parametrize("source_ip", ["192.0.2.10", "192.0.2.255", "2001:db8::7", "::ffff:192.0.2.10"])
def test_a_request_from_a_listed_network_is_verified(source_ip: str) -> None:
    relay = Relay({"scheme": "path-token"}, TOKEN, sourceAddresses=SOURCES)

    answer = relay.send(api_gateway_event(token=TOKEN, source_ip=source_ip))

    assert answer.status == 202


@pytest.mark.parametrize(
    "source_ip", ["198.51.100.10", "2001:db9::7", "::ffff:198.51.100.10", "", "not-an-ip"]
)
def test_a_request_from_elsewhere_gets_the_single_401_before_the_secret_is_read(source_ip: str) -> None:
    # GIVEN a profile that lists the sender's networks
    relay = Relay({"scheme": "path-token"}, TOKEN, sourceAddresses=SOURCES)

    # WHEN the right token comes from elsewhere
    answer = relay.send(api_gateway_event(token=TOKEN, source_ip=source_ip))

    # THEN it is refused, and no secret was looked up for it
    assert (answer.status, answer.outcome) == (401, "unauthorized.source_address")
    assert relay.keys.lookups == []


# --- Schemes that read no secret ----------------------------------------------------------------------------


def test_a_public_key_scheme_reads_no_secret() -> None:
    # GIVEN a connector whose profile verifies with a key it gives (the connector has no secret at all)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    verification = {"scheme": "http-signature", "format": "cavage", "keys": [{"keyId": "k1", "pem": public}]}
    relay = Relay(verification, "")

    # WHEN an unsigned request arrives
    answer = relay.send(api_gateway_event())

    # THEN the single 401 names the missing signature, not an unknown connector; no secret was read
    assert (answer.status, answer.outcome) == (401, "unauthorized.missing_header")
    assert relay.keys.lookups == []
