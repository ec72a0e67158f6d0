"""A device cloud's handshakes (SmartThings' PING and CONFIRMATION lifecycles), answered by the intake from
the profile after the request is verified and its body read: nothing queued, nothing recorded for
deduplication, counted by name. A confirmation GETs its URL (a real server on 127.0.0.1) first; a URL the
profile does not allow is refused before any request, a GET that fails is a 503 the cloud retries."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest

from fakes.confirmation_server import LOOPBACK, ConfirmationServer, confirmation_server
from fakes.receiver import (
    InMemoryConnectorProfiles,
    InMemoryDeduplicator,
    InMemoryEventQueue,
    InMemorySigningKeys,
)
from iotbridge.profile.document import parse_profile
from iotbridge.settings import Environment
from iotbridge.telemetry import Measurement
from iotbridge.webhook_receiver.confirmations import UrllibConfirmations
from iotbridge.webhook_receiver.domain.intake import (
    RETRY_AFTER_SECONDS,
    UNAUTHORIZED_MESSAGE,
    Answer,
    IntakeLimits,
    WebhookIntake,
    WebhookRequest,
)
from iotbridge.webhook_receiver.edge import http_response
from iotbridge.webhook_receiver.settings import ReceiverSettings

NOW = 1_790_000_000
CONNECTOR = "c-lifecycles"
SECRET = "lifecycle-signing-secret"
CHALLENGE = "1a904d57-4fab-4b15-a11e-1c4bfe7cb502"

# The lifecycle requests as SmartThings documents them (developer.smartthings.com/docs/connected-services/
# lifecycles, and its community answer for PING's shape). Verification is an HMAC here: what is tested is the
# handshake, answered after whatever the profile's scheme is.
PING = {
    "lifecycle": "PING",
    "executionId": "8F8FA33E-2A5B-4BC5-826C-4B2AB73FE9DD",
    "locale": "en",
    "version": "1.0.0",
    "pingData": {"challenge": CHALLENGE},
}


def confirmation(url: str) -> dict[str, Any]:
    return {
        "lifecycle": "CONFIRMATION",
        "executionId": "8F8FA33E-2A5B-4BC5-826C-4B2AB73FE9DD",
        "appId": "fd9949ee-a3bf-4069-b4b3-3e9c1c922e29",
        "locale": "en",
        "version": "0.1.0",
        "confirmationData": {"appId": "fd9949ee-a3bf-4069-b4b3-3e9c1c922e29", "confirmationUrl": url},
        "settings": {},
    }


PROFILE: dict[str, Any] = {
    "version": 1,
    "verification": {"scheme": "hmac", "signatureHeader": "X-Signature"},
    "deduplication": {"digest": True},
    "handshakes": [
        {
            "name": "ping",
            "when": "body.lifecycle == 'PING'",
            "respond": {"status": 200, "body": {"pingData": {"challenge": "{body.pingData.challenge}"}}},
        },
        {
            "name": "confirmation",
            "when": "body.lifecycle == 'CONFIRMATION'",
            "confirm": {"url": "body.confirmationData.confirmationUrl", "hosts": [LOOPBACK]},
            "respond": {"status": 200, "body": {"targetUrl": "{body.confirmationData.confirmationUrl}"}},
        },
    ],
    "events": "body.eventData.events",
    "rules": [
        {
            "name": "switch",
            "operation": "DEVICE_EVENT",
            "members": {
                "UserId": "body.eventData.installedApp.locationId",
                "ConnectorDeviceId": "event.deviceEvent.deviceId",
            },
            "matterEndpoint": {
                "set": [
                    {
                        "attribute": "OnOff.OnOff",
                        "from": "event.deviceEvent.value",
                        "transform": {"equals": "on"},
                    }
                ]
            },
        }
    ],
}
EVENT = {
    "lifecycle": "EVENT",
    "eventData": {
        "installedApp": {"installedAppId": "d692699d", "locationId": "e675a3d9"},
        "events": [{"eventType": "DEVICE_EVENT", "deviceEvent": {"deviceId": "6f5ea629", "value": "on"}}],
    },
}


class Relay:
    """An intake with the lifecycle profile (changed as a test says), its queue and deduplication records."""

    def __init__(self, confirmations: UrllibConfirmations | None = None, **changes: Any) -> None:
        document = copy.deepcopy(PROFILE)
        for path, value in changes.items():
            holder = document
            *parents, last = path.split("__")
            for name in parents:
                holder = holder[int(name)] if isinstance(holder, list) else holder[name]
            holder[last] = value
        self.queue = InMemoryEventQueue()
        self.dedupe = InMemoryDeduplicator()
        self.intake = WebhookIntake(
            keys=InMemorySigningKeys({CONNECTOR: SECRET}),
            queue=self.queue,
            deduplicator=self.dedupe,
            limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
            profiles=InMemoryConnectorProfiles({CONNECTOR: parse_profile(document)}),
            confirmations=confirmations or UrllibConfirmations(allow_loopback=True),
            clock=lambda: NOW,
        )

    def send(self, body: Any, *, signed: bool = True) -> Answer:
        raw = json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if signed:
            headers["x-signature"] = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        return self.intake.handle(WebhookRequest(connector_id=CONNECTOR, headers=headers, body=raw))

    def nothing_kept(self) -> bool:
        return self.queue.messages == [] and self.dedupe.records == {}


@pytest.fixture
def server() -> Iterator[ConfirmationServer]:
    with confirmation_server() as running:
        yield running


# --- Echo ---------------------------------------------------------------------------------------------------


def test_a_ping_is_answered_with_its_challenge_and_queues_nothing() -> None:
    relay = Relay()
    answer = relay.send(PING)
    assert (answer.status, answer.outcome, answer.handshake) == (200, "handshake", "ping")
    assert answer.body == {"pingData": {"challenge": CHALLENGE}}
    assert relay.nothing_kept()


def test_a_handshake_is_counted_by_its_name_and_nothing_else() -> None:
    assert Relay().send(PING).measurements() == [
        Measurement("Handshakes", 1, dimensions={"Handshake": "ping"})
    ]


def test_the_answer_is_the_json_the_cloud_expects() -> None:
    response = http_response(Relay().send(PING))
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert json.loads(response["body"]) == {"pingData": {"challenge": CHALLENGE}}


def test_a_whole_value_placeholder_keeps_the_values_json_type() -> None:
    relay = Relay(handshakes__0__respond={"status": 202, "body": {"echo": "{body.pingData}", "n": 1}})
    answer = relay.send(PING)
    assert (answer.status, answer.body) == (202, {"echo": {"challenge": CHALLENGE}, "n": 1})


def test_a_text_placeholder_fills_text() -> None:
    relay = Relay(
        handshakes__0__respond={"body": {"text": "challenge={body.pingData.challenge};v={body.version}"}}
    )
    assert relay.send(PING).body == {"text": f"challenge={CHALLENGE};v=1.0.0"}


def test_a_text_placeholder_that_finds_nothing_is_422_naming_where() -> None:
    relay = Relay(handshakes__0__respond={"body": {"text": "challenge={body.pingData.missing}"}})
    answer = relay.send(PING)
    assert (answer.status, answer.outcome) == (422, "invalid_handshake")
    assert answer.body["errors"] == [
        {"path": "pingData.missing", "rule": "a text template needs a text or number here"}
    ]
    assert relay.nothing_kept()


def test_an_answer_larger_than_its_bound_is_422() -> None:
    answer = Relay().send({**PING, "pingData": {"challenge": "x" * 20_000}})
    assert (answer.status, answer.outcome) == (422, "invalid_handshake")


def test_a_request_no_handshake_matches_is_a_delivery() -> None:
    relay = Relay()
    answer = relay.send(EVENT)
    assert (answer.status, answer.outcome, answer.handshake) == (202, "accepted", None)
    assert len(relay.queue.messages) == 1


def test_a_when_that_cannot_be_evaluated_on_the_body_does_not_hold() -> None:
    relay = Relay(handshakes__0__when="length(body.lifecycle) > `3`")
    assert relay.send({**EVENT, "lifecycle": 7}).outcome == "accepted"


# --- Unsigned handshakes ------------------------------------------------------------------------------------


def test_an_unsigned_ping_is_the_single_401_unless_the_profile_answers_it_unsigned() -> None:
    answer = Relay().send(PING, signed=False)
    assert (answer.status, answer.body) == (401, {"message": UNAUTHORIZED_MESSAGE})


def test_an_unsigned_ping_is_answered_when_the_profile_says_it_comes_unsigned() -> None:
    # GIVEN a profile whose ping is answered unsigned (SmartThings' SDK answers PING before verifying)
    relay = Relay(handshakes__0__verified=False)
    # WHEN an unsigned ping comes
    answer = relay.send(PING, signed=False)
    # THEN it is echoed, and nothing is kept
    assert (answer.status, answer.outcome, answer.body) == (
        200,
        "handshake",
        {"pingData": {"challenge": CHALLENGE}},
    )
    assert relay.nothing_kept()


@pytest.mark.parametrize(
    "body",
    [EVENT, {"lifecycle": "CONFIRMATION"}, {"lifecycle": "PING", "pingData": {"challenge": "x" * 30_000}}],
)
def test_an_unsigned_request_that_is_no_unsigned_handshake_is_the_single_401(body: dict[str, Any]) -> None:
    relay = Relay(handshakes__0__verified=False)
    answer = relay.send(body, signed=False)
    assert (answer.status, answer.outcome.split(".")[0]) == (401, "unauthorized")
    assert relay.nothing_kept()


def test_an_unsigned_request_whose_body_cannot_be_read_is_the_single_401() -> None:
    relay = Relay(handshakes__0__verified=False)
    request = WebhookRequest(connector_id=CONNECTOR, headers={"content-type": "text/plain"}, body=b"PING")
    assert relay.intake.handle(request).status == 401


def test_an_unsigned_ping_from_outside_the_profiles_source_addresses_is_the_single_401() -> None:
    # GIVEN a profile that answers pings unsigned, from 192.0.2.0/24 only
    relay = Relay(handshakes__0__verified=False, sourceAddresses=["192.0.2.0/24"])
    raw = json.dumps(PING).encode()

    def from_address(source_ip: str) -> Answer:
        request = WebhookRequest(
            connector_id=CONNECTOR,
            headers={"content-type": "application/json"},
            body=raw,
            source_ip=source_ip,
        )
        return relay.intake.handle(request)

    # WHEN unsigned pings come from inside and from outside, THEN only the one from inside is answered
    assert from_address("192.0.2.7").outcome == "handshake"
    assert from_address("198.51.100.7").status == 401


def test_a_signed_ping_is_answered_by_a_handshake_answered_unsigned_too() -> None:
    assert Relay(handshakes__0__verified=False).send(PING).outcome == "handshake"


# --- Confirmation -------------------------------------------------------------------------------------------


def test_a_confirmation_gets_its_url_then_answers_with_it(server: ConfirmationServer) -> None:
    # GIVEN a CONFIRMATION naming the loopback server's confirmation URL, on the profile's allow-list
    relay = Relay()
    url = server.url()
    # WHEN it is sent, signed
    answer = relay.send(confirmation(url))
    # THEN the URL was fetched once, and the answer names it, with nothing kept
    assert len(server.received) == 1 and url.endswith(server.received[0])
    assert (answer.status, answer.outcome, answer.handshake) == (200, "handshake", "confirmation")
    assert answer.body == {"targetUrl": url}
    assert relay.nothing_kept()


def test_an_unsigned_confirmation_gets_nothing(server: ConfirmationServer) -> None:
    relay = Relay(handshakes__0__verified=False)
    answer = relay.send(confirmation(server.url()), signed=False)
    assert answer.status == 401 and server.received == []


def test_a_confirmation_url_off_the_allow_list_is_refused_before_any_request(
    server: ConfirmationServer,
) -> None:
    # GIVEN a profile that allows only api.smartthings.com, and a CONFIRMATION naming the loopback server
    relay = Relay(
        handshakes__1__confirm={
            "url": "body.confirmationData.confirmationUrl",
            "hosts": ["api.smartthings.com"],
        }
    )
    # WHEN it is sent, signed
    answer = relay.send(confirmation(server.url()))
    # THEN it is a 422 naming where the URL was, and the server was never asked
    assert (answer.status, answer.outcome) == (422, "invalid_handshake")
    assert answer.body["errors"] == [
        {
            "path": "confirmationData.confirmationUrl",
            "rule": "the confirmation URL's host is not one the profile lists",
        }
    ]
    assert server.received == [] and relay.nothing_kept()


@pytest.mark.parametrize("url", [None, 12, "", "not a url", "http://[::1"])
def test_a_confirmation_without_a_usable_url_is_422(url: Any) -> None:
    answer = Relay().send(confirmation(url))
    assert (answer.status, answer.outcome) == (422, "invalid_handshake")
    assert answer.body["errors"][0]["path"] == "confirmationData.confirmationUrl"


def test_a_deployed_relay_refuses_plain_http_to_loopback(server: ConfirmationServer) -> None:
    relay = Relay(confirmations=UrllibConfirmations())
    answer = relay.send(confirmation(server.url()))
    assert (answer.status, answer.outcome) == (422, "invalid_handshake")
    assert "not_https" in answer.body["errors"][0]["rule"]
    assert server.received == []


def test_a_confirmation_endpoint_that_does_not_answer_in_time_is_a_503_to_retry(
    server: ConfirmationServer,
) -> None:
    # GIVEN a confirmation endpoint that never answers
    server.script.hold = True
    relay = Relay(confirmations=UrllibConfirmations(allow_loopback=True, timeout_seconds=0.3))
    # WHEN a CONFIRMATION naming it is sent
    answer = relay.send(confirmation(server.url()))
    # THEN the cloud is told to try the lifecycle again, and nothing is kept
    assert (answer.status, answer.outcome) == (503, "unavailable.confirmation")
    assert answer.headers == {"Retry-After": str(RETRY_AFTER_SECONDS)}
    assert relay.nothing_kept()


def test_a_confirmation_endpoint_that_refuses_is_a_503_to_retry(server: ConfirmationServer) -> None:
    server.script.status = 500
    answer = Relay().send(confirmation(server.url()))
    assert (answer.status, answer.outcome) == (503, "unavailable.confirmation")


def test_an_oversized_confirmation_answer_still_confirms(server: ConfirmationServer) -> None:
    server.script.body_bytes = 8 * 1024 * 1024
    answer = Relay().send(confirmation(server.url()))
    assert (answer.status, answer.outcome) == (200, "handshake")


def test_the_same_confirmation_again_gets_its_url_again(server: ConfirmationServer) -> None:
    # A handshake is not deduplicated: each lifecycle request is answered as itself.
    relay = Relay()
    relay.send(confirmation(server.url()))
    relay.send(confirmation(server.url()))
    assert len(server.received) == 2


# --- Settings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "allowed"), [(None, False), ("false", False), ("true", True)])
def test_the_receiver_allows_loopback_confirmations_only_when_told(value: str | None, allowed: bool) -> None:
    variables = {"IDEMPOTENCY_TABLE": "t", "EVENT_QUEUE_URL": "q", "MESSAGE_GROUP_KEY": "k" * 40}
    if value is not None:
        variables["ALLOW_LOOPBACK_DEVICE_CLOUDS"] = value
    assert ReceiverSettings.from_environment(Environment(variables)).allow_loopback_device_clouds is allowed
