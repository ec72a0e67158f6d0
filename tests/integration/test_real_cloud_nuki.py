"""Nuki's decentral webhooks through the local stack over HTTP: each documented payload, signed as Nuki's
documentation says (samples.nuki, not the relay's verifier), reaches the IoT stand-in's SendConnectorEvent
with the Matter values its profile gives, in a shape botocore's own model accepts; forged deliveries get the
single 401 and queue nothing; a lock action's result carries the TraceId the connector function recorded for
the Web API's requestId; a door-sensor state Matter has no value for is left out and reported."""

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
from samples import nuki
from samples.real_clouds import NUKI

from .local_stack_clouds import AnsweringDeviceCloud, RelayOnStack, botocore_problems, eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PATH = f"/connectors/{nuki.CONNECTOR_ID}/events"
SMARTLOCK = "123456789"
# Battery levels of the lock's next webhooks, one per test that needs a new one (the body's digest is its id).
BATTERY_LEVELS = itertools.count(11)
NO_MATTER_VALUE = "value has no entry in the map"
UNAUTHORIZED = {"message": "The request could not be authenticated."}
# Matter's values (DoorLock 0x0101: LockState 0x0000, DoorState 0x0003; PowerSource 0x002F:
# BatPercentRemaining 0x000C in half-percents, BatChargeLevel 0x000E, BatChargeState 0x001A).
LOCKED_AT_90_PERCENT = [
    {"id": "0x0101", "attributes": {"0x0000": 1}},
    {"id": "0x002F", "attributes": {"0x000C": 180, "0x000E": 0, "0x001A": 3}},
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = StackConfig(api_port=0, state_dir=tmp_path_factory.mktemp("state"), fleet_size=10)
    with LocalStack(config) as running:
        yield running


@pytest.fixture(scope="module")
def relay(stack: LocalStack) -> RelayOnStack:
    return RelayOnStack(stack)


def status_with(**state: Any) -> bytes:
    """The documented DEVICE_STATUS webhook with some of its state changed: the lock's next webhook."""
    document = json.loads(NUKI.payload("device-status"))
    document["state"].update(state)
    return json.dumps(document, indent=2).encode()


def skips(answer: dict[str, Any]) -> list[tuple[str, str, str]]:
    """What the 202 reports as skipped: rule, native path, and the reason's first words."""
    return [(s["rule"], s["path"], s["reason"][: len(NO_MATTER_VALUE)]) for s in answer.get("skipped", [])]


def clusters(event: dict[str, Any]) -> list[dict[str, Any]]:
    return list(event["MatterEndpoint"].get("clusters", []))


def test_profile_validate_warns_that_nuki_signs_no_timestamp() -> None:
    # Nor a delivery id, but the profile tells deliveries apart by the body's digest, which is signed.
    warnings = profile_warnings(NUKI.profile())

    assert [w.split(": ", 1)[0] for w in warnings if not w.startswith("outbound")] == ["verification"]
    assert "no timestamp is signed" in warnings[0]


def test_the_signer_gives_the_hmac_sha256_openssl_gives_for_the_documented_status() -> None:
    # The expected value is `openssl dgst -sha256 -hmac <secret> device-status.json`: another
    # implementation's HMAC of the file's exact bytes, in lower-case hex as Nuki's webhook log shows it.
    headers = nuki.signed_headers(NUKI.payload("device-status"))

    assert (
        headers[nuki.SIGNATURE_HEADER] == "7db1b4ae1fb3ac531a5ce49e1b99adb80eb04097a6b1f94544f0861ad6e5982e"
    )


def test_the_documented_device_status_reaches_send_connector_event_locked_and_charged(
    relay: RelayOnStack,
) -> None:
    # GIVEN Nuki's documented DEVICE_STATUS webhook, signed with the connector's secret
    body = NUKI.payload("device-status")
    already = len(relay.events(nuki.CONNECTOR_ID))

    # WHEN Nuki posts it
    reply = relay.post(PATH, body, nuki.signed_headers(body))

    # THEN it is accepted, its door state reported as skipped, and SendConnectorEvent gets the lock's state
    assert reply.status == 202, reply.body
    answer = reply.json()
    assert answer["queued"] == 1
    assert skips(answer) == [("smartlock-status", "state.doorState", NO_MATTER_VALUE)]
    event = relay.await_events(nuki.CONNECTOR_ID, already + 1)[already]
    assert (event["Operation"], event["ConnectorDeviceId"]) == ("DEVICE_EVENT", SMARTLOCK)
    assert clusters(event) == LOCKED_AT_90_PERCENT
    assert botocore_problems({"ConnectorId": nuki.CONNECTOR_ID, **event}) == ""


def test_a_door_state_matter_has_is_set_and_one_it_has_not_is_left_out_and_reported(
    relay: RelayOnStack,
) -> None:
    # GIVEN the lock's next webhooks: door closed (2), then a door sensor "removed" (240), unknown to Matter
    closed, removed = status_with(doorState=2, state=3), status_with(doorState=240, state=3)
    already = len(relay.events(nuki.CONNECTOR_ID))

    # WHEN both are posted
    first = relay.post(PATH, closed, nuki.signed_headers(closed))
    second = relay.post(PATH, removed, nuki.signed_headers(removed))

    # THEN both are queued: the first with DoorState closed (1), the second without a DoorState, reported
    assert (first.status, second.status) == (202, 202)
    assert "skipped" not in first.json()
    assert skips(second.json()) == [("smartlock-status", "state.doorState", NO_MATTER_VALUE)]
    events = relay.await_events(nuki.CONNECTOR_ID, already + 2)[already:]
    assert clusters(events[0])[0] == {"id": "0x0101", "attributes": {"0x0000": 2, "0x0003": 1}}
    assert clusters(events[1])[0] == {"id": "0x0101", "attributes": {"0x0000": 2}}


def test_the_webhook_log_sample_is_acknowledged_and_nothing_queued(relay: RelayOnStack) -> None:
    body = NUKI.payload("device-masterdata")

    reply = relay.post(PATH, body, nuki.signed_headers(body))

    assert reply.status == 202
    assert reply.json()["queued"] == 0


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda body: (body, nuki.signed_headers(body, secret="not nuki's secret")), id="other-secret"
        ),
        pytest.param(
            lambda body: (body.replace(b'"state": 1', b'"state": 3'), nuki.signed_headers(body)),
            id="tampered",
        ),
        pytest.param(lambda body: (body, {"Content-Type": nuki.CONTENT_TYPE}), id="unsigned"),
        pytest.param(
            lambda body: (
                body,
                {nuki.SIGNATURE_HEADER: base64.b64encode(bytes.fromhex(nuki.signature(body))).decode()},
            ),
            id="base64-not-hex",
        ),
    ],
)
def test_a_forged_delivery_gets_the_single_401_and_queues_nothing(relay: RelayOnStack, forge: Any) -> None:
    # GIVEN a delivery Nuki did not sign, and the lock's next genuine webhook after it
    forged_body, forged_headers = forge(NUKI.payload("device-status"))
    genuine = status_with(batteryCharge=next(BATTERY_LEVELS))
    already = len(relay.events(nuki.CONNECTOR_ID))

    # WHEN both are posted, the forged one first
    refused = relay.post(PATH, forged_body, forged_headers)
    accepted = relay.post(PATH, genuine, nuki.signed_headers(genuine))

    # THEN the forged one gets the 401 every refusal gets; only the genuine one reaches SendConnectorEvent
    # (one message group per device: had the forged one been queued, it would have come first)
    assert (refused.status, refused.json()) == (401, UNAUTHORIZED)
    assert accepted.status == 202
    arrived = relay.await_events(nuki.CONNECTOR_ID, already + 1)[already:]
    assert [clusters(e)[1]["attributes"]["0x000C"] for e in arrived] == [
        json.loads(genuine)["state"]["batteryCharge"] * 2
    ]
    assert relay.quiet_events(nuki.CONNECTOR_ID)[already:] == arrived


def test_a_repeated_delivery_is_a_duplicate(relay: RelayOnStack) -> None:
    # GIVEN a webhook accepted once (Nuki sends no delivery id: the body's digest tells deliveries apart)
    body = status_with(batteryCharge=77)
    first = relay.post(PATH, body, nuki.signed_headers(body))
    duplicates = relay.receiver_metrics()["WebhooksDuplicate"]

    # WHEN the same bytes come again
    again = relay.post(PATH, body, nuki.signed_headers(body))

    # THEN they are answered as the first was, and counted as a duplicate
    assert (first.status, again.status) == (202, 202)
    assert again.json() == first.json()
    counted = eventually(
        lambda: relay.receiver_metrics()["WebhooksDuplicate"],
        lambda n: n >= duplicates + 1,
        "the duplicates counted",
    )
    assert counted == duplicates + 1


def test_a_lock_action_result_carries_the_trace_id_recorded_for_its_request_id(relay: RelayOnStack) -> None:
    # GIVEN a Nuki connector whose device cloud answers a lock action as the Web API does, with a requestId
    connector = f"nuki-actions-{uuid.uuid4().hex[:8]}"
    outbound = "whsec_" + base64.b64encode(f"{connector} requests, local use only".encode()).decode()
    result = json.loads(NUKI.payload("unlock-action-result"))
    cloud = AnsweringDeviceCloud(
        outbound, user="nuki-account-1", command_answer=nuki.action_answer(result["requestId"])
    ).start()
    try:
        profile = json.loads(NUKI.profile_file.read_text())
        # The relay's outbound webhook instead of the profile's REST calls: this cloud answers those.
        profile.pop("outbound", None)
        profile["deviceCloud"] = {"url": cloud.requests_url, "requestId": "requestId"}
        relay.add_connector(connector, profile, secret=nuki.SECRET, outbound_secret=outbound)
        trace = f"nuki-unlock-{uuid.uuid4().hex[:12]}"

        # WHEN managed integrations sends DoorLock.UnlockDoor, and Nuki's webhook then reports its outcome
        call = relay.standin.invoke_connector(
            "AWS.SendCommand",
            connector,
            oauth("nuki-web-api-token"),
            traceId=trace,
            connectorDeviceId=SMARTLOCK,
            endpoints=matter_command("1", "0x0101", "0x01"),
        )
        body = NUKI.payload("unlock-action-result")
        reply = relay.post(f"/connectors/{connector}/events", body, nuki.signed_headers(body))
    finally:
        cloud.stop()

    # THEN the command was handed over, and SendConnectorEvent gets its answer under the command's TraceId
    assert call["answer"]["header"]["responseCode"] == 200, call
    assert [(t.type, t.verified) for t in cloud.taken] == [("sendCommand", True)]
    assert reply.status == 202, reply.body
    assert reply.json()["queued"] == 1
    event = relay.await_event(connector, Operation="DEVICE_COMMAND_RESPONSE")
    assert (event["TraceId"], event["ConnectorDeviceId"], event["StatusCode"]) == (trace, SMARTLOCK, 200)
    assert clusters(event) == [{"id": "0x0101", "attributes": {"0x0000": 2}}]
    assert botocore_problems({"ConnectorId": connector, **event}) == ""


def test_an_api_result_for_no_command_of_the_relay_is_skipped_and_reported(relay: RelayOnStack) -> None:
    # GIVEN Nuki's documented failed AuthCreation: its requestId names no command the relay sent
    body = NUKI.payload("auth-creation-failed")

    # WHEN it is posted
    reply = relay.post(PATH, body, nuki.signed_headers(body))

    # THEN it is acknowledged, nothing is queued, and the lookup's miss is reported
    assert reply.status == 202
    answer = reply.json()
    assert answer["queued"] == 0
    assert [(s["rule"], s["path"]) for s in answer["skipped"]] == [("lock-action-result", "requestId")]
