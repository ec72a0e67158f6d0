"""SwitchBot's webhooks through the local stack over HTTP: SwitchBot signs nothing, so each documented
payload is posted, as SwitchBot posts it, to the registered URL with the connector's token in its path, and
reaches the IoT stand-in's SendConnectorEvent with the Matter values the profile gives (a temperature in the
unit its `scale` names, a colour written "r:g:b", a leak as a number) in a shape botocore's own model
accepts; a wrong token, no token, or an address outside the profile's sourceAddresses get the single 401 and
queue nothing; a Keypad's result carries the TraceId recorded for the commandId the API answered its command
with. And the API v1.1 request signer gives what another implementation gives."""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bridge_local.stack import LocalStack, StackConfig
from iot_standin.caller import matter_command, oauth
from iotbridge.__main__ import profile_warnings
from samples import switchbot
from samples.real_clouds import SWITCHBOT

from .local_stack_clouds import AnsweringDeviceCloud, RelayOnStack, botocore_problems, eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PATH = switchbot.webhook_path()
UNAUTHORIZED = {"message": "The request could not be authenticated."}
# A SwitchBot report's timeOfSample, one per test that needs the device's next report (the body's digest is
# what tells deliveries apart).
SAMPLE_TIMES = itertools.count(1_742_807_100_000)

# What each documented payload becomes: its Matter clusters, by the arithmetic of the profile's transforms
# (Matter's scales: hundredths of a degree and of a percent, half-percents of battery, level 0..254).
CLIMATE_22_5_C = [
    {"id": "0x0402", "attributes": {"0x0000": 2250}},  # 22.5 °C
    {"id": "0x0405", "attributes": {"0x0000": 3100}},  # 31 %
    {"id": "0x002F", "attributes": {"0x000C": 200}},  # battery 100 %
]
# 255:245:235 in HSV: hue 30° (30 * 254 / 360 = 21.2), saturation 20/255 (* 254 = 19.9); 10 % of 254 = 25.4.
WARM_WHITE_AT_10_PERCENT = [
    {"id": "0x0006", "attributes": {"0x0000": True}},
    {"id": "0x0008", "attributes": {"0x0000": 25}},
    {"id": "0x0300", "attributes": {"0x0000": 21, "0x0001": 20, "0x0007": 286}},  # 10^6 / 3500 K = 285.7
]
LOCKED_FULL_BATTERY = [
    {"id": "0x0101", "attributes": {"0x0000": 1}},
    {"id": "0x002F", "attributes": {"0x000C": 200}},
]
EXPECTED: dict[str, list[dict[str, Any]]] = {
    "meter": CLIMATE_22_5_C,
    "meter-plus": CLIMATE_22_5_C,
    "outdoor-meter": CLIMATE_22_5_C,
    "meter-pro-co2": CLIMATE_22_5_C,
    "hub-2": [
        {"id": "0x0402", "attributes": {"0x0000": 1300}},
        {"id": "0x0405", "attributes": {"0x0000": 1800}},
    ],
    "hub-3": [
        {"id": "0x0402", "attributes": {"0x0000": 3030}},
        {"id": "0x0405", "attributes": {"0x0000": 4500}},
        {"id": "0x0406", "attributes": {"0x0000": 1}},
    ],
    "color-bulb": WARM_WHITE_AT_10_PERCENT,
    "led-strip-light": [
        *WARM_WHITE_AT_10_PERCENT[:2],
        {"id": "0x0300", "attributes": {"0x0000": 21, "0x0001": 20}},
    ],
    "lock": LOCKED_FULL_BATTERY,
    "lock-pro": LOCKED_FULL_BATTERY,
    "contact-sensor": [
        {"id": "0x0045", "attributes": {"0x0000": False}},  # open
        {"id": "0x0406", "attributes": {"0x0000": 0}},
        {"id": "0x002F", "attributes": {"0x000C": 200}},
    ],
    "presence-sensor": [
        {"id": "0x0406", "attributes": {"0x0000": 0}},
        {"id": "0x002F", "attributes": {"0x000C": 200}},
    ],
    "motion-sensor": [
        {"id": "0x0406", "attributes": {"0x0000": 0}},
        {"id": "0x002F", "attributes": {"0x000C": 200}},
    ],
    "water-leak-detector": [
        {"id": "0x0045", "attributes": {"0x0000": False}},  # 0: dry
        {"id": "0x002F", "attributes": {"0x000C": 200}},
    ],
}
# A Keypad's result answers a command: without one of the relay's, it is skipped (test below for one).
KEYPAD = ("keypad-create-passcode", "keypad-delete-passcode")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = StackConfig(api_port=0, state_dir=tmp_path_factory.mktemp("state"), fleet_size=10)
    with LocalStack(config) as running:
        yield running


@pytest.fixture(scope="module")
def relay(stack: LocalStack) -> RelayOnStack:
    return RelayOnStack(stack)


def next_report(name: str, **context: Any) -> bytes:
    """The device's next report: the documented payload with a new timeOfSample and these values."""
    document = json.loads(SWITCHBOT.payload(name))
    document["context"].update({"timeOfSample": next(SAMPLE_TIMES), **context})
    return json.dumps(document, indent=4).encode()


def device(name: str) -> str:
    return str(json.loads(SWITCHBOT.payload(name))["context"]["deviceMac"])


def clusters(event: dict[str, Any]) -> list[dict[str, Any]]:
    return list(event["MatterEndpoint"].get("clusters", []))


def events_of(relay: RelayOnStack, mac: str) -> list[dict[str, Any]]:
    return [e for e in relay.events(switchbot.CONNECTOR_ID) if e.get("ConnectorDeviceId") == mac]


def await_next_events(relay: RelayOnStack, mac: str, before: int) -> list[dict[str, Any]]:
    """The device's events after the first `before`, once at least one has arrived."""
    found = eventually(
        lambda: events_of(relay, mac), lambda got: len(got) > before, "the device's next event"
    )
    return found[before:]


def test_profile_validate_warns_of_the_token_no_timestamp_and_no_source_addresses() -> None:
    warnings = [w for w in profile_warnings(SWITCHBOT.profile()) if not w.startswith("outbound")]

    assert [w.split(": ", 1)[0] for w in warnings] == ["verification"] * 3
    assert "path token" in warnings[0]
    assert "no timestamp is signed" in warnings[1]
    assert "no sourceAddresses" in warnings[2]


def test_the_request_signer_gives_what_openssl_gives() -> None:
    # The README gives the recipe but no worked example: the expected value is
    # printf '%s' "$token$t$nonce" | openssl dgst -sha256 -hmac "$secret" -binary | base64
    # with the README's own t (1661927531000).
    sign = switchbot.request_signature(
        "my-open-token", "my-secret-key", t=1661927531000, nonce="a8c3b2e0-5f1d-4c3e-9b7a-2d6e8f0a1b4c"
    )

    assert sign == "XPYJpz7Hqjhmv35GPlGZ2baMnhtJwjE0sUVm3xSR8Lk="


def test_a_signed_request_carries_the_headers_the_readme_example_builds() -> None:
    headers = switchbot.request_headers("my-open-token", "my-secret-key", t=1661927531000, nonce="n-1")

    assert headers == {
        "Authorization": "my-open-token",
        "Content-Type": "application/json",
        "charset": "utf8",
        "t": "1661927531000",
        "sign": switchbot.request_signature("my-open-token", "my-secret-key", t=1661927531000, nonce="n-1"),
        "nonce": "n-1",
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_documented_report_reaches_send_connector_event_with_its_matter_values(
    relay: RelayOnStack, name: str
) -> None:
    # GIVEN SwitchBot's documented webhook of this device, as SwitchBot posts it to the registered URL
    body = SWITCHBOT.payload(name)

    # WHEN it is posted
    reply = relay.post(PATH, body, switchbot.webhook_headers())

    # THEN it is accepted, and SendConnectorEvent gets the device's state in Matter's terms
    assert reply.status == 202, reply.body
    assert reply.json()["queued"] == 1
    event = relay.await_event(switchbot.CONNECTOR_ID, ConnectorDeviceId=device(name))
    assert event["Operation"] == "DEVICE_EVENT"
    assert clusters(event) == EXPECTED[name]
    assert botocore_problems({"ConnectorId": switchbot.CONNECTOR_ID, **event}) == ""


@pytest.mark.parametrize("name", KEYPAD)
def test_a_keypad_result_for_no_command_of_the_relay_is_skipped_and_reported(
    relay: RelayOnStack, name: str
) -> None:
    body = SWITCHBOT.payload(name)

    reply = relay.post(PATH, body, switchbot.webhook_headers())

    assert reply.status == 202
    answer = reply.json()
    assert answer["queued"] == 0
    assert [(s["rule"], s["path"]) for s in answer["skipped"]] == [("keypad-result", "context.commandId")]


def test_a_fahrenheit_reading_is_converted_from_its_scale(relay: RelayOnStack) -> None:
    # GIVEN a Meter set to show Fahrenheit: 72.5 °F is 22.5 °C
    body = next_report("meter", temperature=72.5, scale="FAHRENHEIT")
    before = len(events_of(relay, device("meter")))

    # WHEN its report is posted
    reply = relay.post(PATH, body, switchbot.webhook_headers())

    # THEN the temperature reaches SendConnectorEvent in Matter's hundredths of a degree Celsius
    assert reply.status == 202
    (event,) = await_next_events(relay, device("meter"), before)
    assert clusters(event)[0] == {"id": "0x0402", "attributes": {"0x0000": 2250}}


def test_a_jammed_lock_is_not_fully_locked_and_raises_the_lock_jammed_alarm(relay: RelayOnStack) -> None:
    # GIVEN the Lock's report that its motor jammed while rotating
    body = next_report("lock", lockState="JAMMED")
    before = len(events_of(relay, device("lock")))

    # WHEN it is posted
    reply = relay.post(PATH, body, switchbot.webhook_headers())

    # THEN DoorLock's LockState is NotFullyLocked (0), with its DoorLockAlarm event (0x00), AlarmCode (field
    # 0x0000) LockJammed (0)
    assert reply.status == 202
    (event,) = await_next_events(relay, device("lock"), before)
    assert clusters(event)[0] == {
        "id": "0x0101",
        "attributes": {"0x0000": 0},
        "events": {"0x00": {"0x0000": 0}},
    }
    assert botocore_problems({"ConnectorId": switchbot.CONNECTOR_ID, **event}) == ""


def test_a_reading_in_a_unit_the_profile_does_not_know_is_skipped_and_reported(relay: RelayOnStack) -> None:
    body = next_report("meter", temperature=295.65, scale="KELVIN")

    reply = relay.post(PATH, body, switchbot.webhook_headers())

    assert reply.status == 202
    answer = reply.json()
    assert answer["queued"] == 0
    assert [(s["rule"], s["path"]) for s in answer["skipped"]] == [("climate", "context.scale")]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(switchbot.webhook_path(token="0" * 32), id="wrong-token"),
        pytest.param(switchbot.webhook_path(token=switchbot.PATH_TOKEN.upper()), id="token-in-other-case"),
        pytest.param(switchbot.webhook_path(token=switchbot.PATH_TOKEN[:-1]), id="token-cut-short"),
        pytest.param(f"/connectors/{switchbot.CONNECTOR_ID}/events", id="no-token"),
    ],
)
def test_a_delivery_without_the_token_gets_the_single_401_and_queues_nothing(
    relay: RelayOnStack, path: str
) -> None:
    # GIVEN a Lock's report sent without the token, and its next report sent with it
    forged, genuine = next_report("lock", lockState="UNLOCKED"), next_report("lock", lockState="LOCKED")
    before = len(events_of(relay, device("lock")))

    # WHEN both are posted, the one without the token first
    refused = relay.post(path, forged, switchbot.webhook_headers())
    accepted = relay.post(PATH, genuine, switchbot.webhook_headers())

    # THEN the first gets the 401 every refusal gets; only the second reaches SendConnectorEvent (the lock's
    # events keep their order: had the first been queued, it would have come first)
    assert (refused.status, refused.json()) == (401, UNAUTHORIZED)
    assert accepted.status == 202
    new = await_next_events(relay, device("lock"), before)
    assert [clusters(e)[0]["attributes"]["0x0000"] for e in new] == [1]
    relay.quiet_events(switchbot.CONNECTOR_ID)
    assert len(events_of(relay, device("lock"))) == before + 1


def test_the_token_is_checked_against_sources_only_from_the_profiles_addresses(relay: RelayOnStack) -> None:
    # GIVEN two SwitchBot connectors with the same token: one takes webhooks only from SwitchBot's servers
    # (a documentation range here), the other from this machine, where the local stack's requests come from
    profile = json.loads(SWITCHBOT.profile_file.read_text())
    elsewhere, here = (f"switchbot-{place}-{uuid.uuid4().hex[:6]}" for place in ("elsewhere", "here"))
    relay.add_connector(
        elsewhere, {**profile, "sourceAddresses": ["192.0.2.0/24"]}, secret=switchbot.PATH_TOKEN
    )
    relay.add_connector(
        here, {**profile, "sourceAddresses": ["127.0.0.0/8", "::1/128"]}, secret=switchbot.PATH_TOKEN
    )
    body = SWITCHBOT.payload("lock")

    # WHEN the same documented report, with the right token, is posted to each from 127.0.0.1
    refused = relay.post(switchbot.webhook_path(connector_id=elsewhere), body, switchbot.webhook_headers())
    accepted = relay.post(switchbot.webhook_path(connector_id=here), body, switchbot.webhook_headers())

    # THEN the connector that lists other addresses refuses it as any unauthenticated request, queuing nothing
    assert (refused.status, refused.json()) == (401, UNAUTHORIZED)
    assert accepted.status == 202
    assert relay.await_events(here, 1)[0]["ConnectorDeviceId"] == device("lock")
    assert relay.quiet_events(elsewhere) == []


def test_a_keypad_result_carries_the_trace_id_recorded_for_its_command_id(relay: RelayOnStack) -> None:
    # GIVEN a SwitchBot connector whose device cloud answers a Keypad command as the API does: a commandId
    connector = f"switchbot-keypad-{uuid.uuid4().hex[:8]}"
    outbound = "whsec_" + base64.b64encode(f"{connector} requests, local use only".encode()).decode()
    webhook = json.loads(SWITCHBOT.payload("keypad-create-passcode"))
    cloud = AnsweringDeviceCloud(
        outbound,
        user="switchbot-user-1",
        command_answer=switchbot.command_answer(webhook["context"]["commandId"]),
    ).start()
    try:
        profile = json.loads(SWITCHBOT.profile_file.read_text())
        # The relay's outbound webhook instead of the profile's REST calls: this cloud answers those.
        profile.pop("outbound", None)
        profile["deviceCloud"] = {"url": cloud.requests_url, "requestId": "body.commandId"}
        relay.add_connector(connector, profile, secret=switchbot.PATH_TOKEN, outbound_secret=outbound)
        trace = f"keypad-{uuid.uuid4().hex[:12]}"
        keypad = webhook["context"]["deviceMac"]

        # WHEN managed integrations sends DoorLock.SetCredential, and the Keypad's webhook then reports it
        call = relay.standin.invoke_connector(
            "AWS.SendCommand",
            connector,
            oauth("switchbot-open-token"),
            traceId=trace,
            connectorDeviceId=keypad,
            endpoints=matter_command("1", "0x0101", "0x22"),
        )
        body = SWITCHBOT.payload("keypad-create-passcode")
        reply = relay.post(switchbot.webhook_path(connector_id=connector), body, switchbot.webhook_headers())
    finally:
        cloud.stop()

    # THEN SendConnectorEvent gets the command's response under its TraceId
    assert call["answer"]["header"]["responseCode"] == 200, call
    assert [(t.type, t.verified) for t in cloud.taken] == [("sendCommand", True)]
    assert reply.status == 202, reply.body
    event = relay.await_event(connector, Operation="DEVICE_COMMAND_RESPONSE")
    assert (event["TraceId"], event["ConnectorDeviceId"], event["StatusCode"]) == (trace, keypad, 200)
    assert clusters(event) == [{"id": "0x0101", "commands": {"0x22": {}}}]
    assert botocore_problems({"ConnectorId": connector, **event}) == ""
