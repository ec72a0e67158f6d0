"""Enode's webhooks through the local stack over HTTP: deliveries signed as Enode documents (samples.enode,
checked against the documentation's own worked example) reach the IoT stand-in's SendConnectorEvent with
the Matter values the profile gives, in a shape botocore's own model accepts; a delivery of 100 events is
accepted and each device's events arrive in order; a redelivery is a duplicate, and so is a captured delivery
replayed under a new (unsigned) x-enode-delivery; forged deliveries get the single 401 and queue nothing; a
discovered vehicle or charger answers the user's open discovery."""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bridge_local.stack import LocalStack, StackConfig
from iot_standin.caller import oauth
from iotbridge.__main__ import profile_warnings
from samples import enode
from samples.real_clouds import ENODE

from .local_stack_clouds import AnsweringDeviceCloud, RelayOnStack, botocore_problems, eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PATH = f"/connectors/{enode.CONNECTOR_ID}/events"
UNAUTHORIZED = {"message": "The request could not be authenticated."}
USER = "1ab23cd4"
VEHICLE = "c6198bd9-9a25-425d-afc3-a61ee974d1a8"
CHARGER = "8c2e4f6a-1b3d-4e5f-9a7b-0c1d2e3f4a5b"
# Battery levels of the vehicle's next updates, one per test that needs one (a new body is a new delivery).
LEVELS = itertools.count(60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = StackConfig(api_port=0, state_dir=tmp_path_factory.mktemp("state"), fleet_size=10)
    with LocalStack(config) as running:
        yield running


@pytest.fixture(scope="module")
def relay(stack: LocalStack) -> RelayOnStack:
    return RelayOnStack(stack)


def events_of(relay: RelayOnStack, device: str, connector: str = enode.CONNECTOR_ID) -> list[dict[str, Any]]:
    return [e for e in relay.events(connector) if e.get("ConnectorDeviceId") == device]


def await_next_events(relay: RelayOnStack, device: str, before: int, count: int = 1) -> list[dict[str, Any]]:
    """The device's events after the first `before`, once `count` of them have arrived."""
    found = eventually(
        lambda: events_of(relay, device),
        lambda got: len(got) >= before + count,
        f"{count} events of {device}",
    )
    return found[before:]


def vehicle_update(level: int) -> bytes:
    """The vehicle's next update: the sample event at another battery level (so another delivery)."""
    events = json.loads(ENODE.payload("vehicle-updated"))
    events[0]["vehicle"]["chargeState"]["batteryLevel"] = level
    return json.dumps(events, indent=2).encode()


def attributes(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each cluster's attributes, by cluster id."""
    return {c["id"]: c.get("attributes", {}) for c in event["MatterEndpoint"].get("clusters", [])}


def test_profile_validate_warns_that_the_delivery_id_and_no_timestamp_are_signed() -> None:
    warnings = profile_warnings(ENODE.profile())

    assert [w.split(": ", 1)[0] for w in warnings] == ["verification"] * 2
    assert "delivery id is not covered" in warnings[0]
    assert "no timestamp is signed" in warnings[1]


def test_the_signer_gives_the_signature_of_enodes_worked_example() -> None:
    # developers.enode.com/docs/webhooks: `{"payload":"example"}` signed with `example-secret`.
    assert enode.signature(b'{"payload":"example"}', "example-secret") == (
        "sha1=e417e6fc2e7f8a78c93a35a7b344d36ce179fc8d"
    )


def test_the_batch_file_is_what_its_recipe_builds() -> None:
    body = ENODE.payload("batch-100")

    assert body == enode.batch_body()
    assert len(json.loads(body)) == enode.MAX_EVENTS_PER_DELIVERY


def test_a_vehicle_update_reaches_send_connector_event_as_its_battery(relay: RelayOnStack) -> None:
    # GIVEN the vehicle's update event, in a delivery signed as Enode signs
    body = ENODE.payload("vehicle-updated")
    before = len(events_of(relay, VEHICLE))

    # WHEN Enode delivers it
    reply = relay.post(PATH, body, enode.signed_headers(body))

    # THEN SendConnectorEvent gets its battery: 38 % (76 half-percents), charging (1)
    assert reply.status == 202, reply.body
    assert reply.json()["queued"] == 1
    (event,) = await_next_events(relay, VEHICLE, before)
    assert (event["Operation"], event["UserId"]) == ("DEVICE_EVENT", USER)
    assert attributes(event) == {"0x002F": {"0x000C": 76, "0x001A": 1}}
    assert botocore_problems({"ConnectorId": enode.CONNECTOR_ID, **event}) == ""


def test_a_charger_update_reaches_send_connector_event_as_on_and_its_power(relay: RelayOnStack) -> None:
    body = ENODE.payload("charger-updated")
    before = len(events_of(relay, CHARGER))

    reply = relay.post(PATH, body, enode.signed_headers(body))

    assert reply.status == 202, reply.body
    (event,) = await_next_events(relay, CHARGER, before)
    # Charging at 7.4 kW: on, and 7,400,000 mW.
    assert attributes(event) == {"0x0006": {"0x0000": True}, "0x0090": {"0x0008": 7_400_000}}
    assert botocore_problems({"ConnectorId": enode.CONNECTOR_ID, **event}) == ""


def test_a_heartbeat_is_acknowledged_and_nothing_queued(relay: RelayOnStack) -> None:
    body = ENODE.payload("heartbeat")

    reply = relay.post(PATH, body, enode.signed_headers(body))

    assert reply.status == 202
    assert reply.json() == {"webhookId": reply.json()["webhookId"], "queued": 0}


def test_the_documented_envelope_alone_is_skipped_and_reported(relay: RelayOnStack) -> None:
    # The documentation's schema example names an event but carries no vehicle: nothing to map.
    body = ENODE.payload("envelope")

    reply = relay.post(PATH, body, enode.signed_headers(body))

    assert reply.status == 202
    answer = reply.json()
    assert answer["queued"] == 0
    assert [(s["rule"], s["path"]) for s in answer["skipped"]] == [
        ("vehicle-updated", "[0].vehicle.chargeState.batteryLevel")
    ]


def test_a_discovered_device_without_an_open_discovery_is_skipped_and_reported(relay: RelayOnStack) -> None:
    body = ENODE.payload("vehicle-discovered")

    reply = relay.post(PATH, body, enode.signed_headers(body))

    assert reply.status == 202
    assert reply.json()["queued"] == 0
    assert [s["rule"] for s in reply.json()["skipped"]] == ["vehicle-discovered"]


def test_a_delivery_of_100_events_is_queued_and_each_devices_events_arrive_in_order(
    relay: RelayOnStack,
) -> None:
    # GIVEN a delivery of the most events Enode sends at once: a heartbeat, 90 updates of three vehicles and
    # 9 of a charger, interleaved
    body = ENODE.payload("batch-100")
    sent = json.loads(body)
    devices = {e.get("vehicle", e.get("charger", {})).get("id") for e in sent} - {None}
    before = {device: len(events_of(relay, device)) for device in devices}

    # WHEN it is delivered
    reply = relay.post(PATH, body, enode.signed_headers(body))

    # THEN all but the heartbeat are queued, and each device's events reach SendConnectorEvent in the order
    # they were sent (each vehicle's battery rising, the charger's power rising)
    assert reply.status == 202, reply.body
    assert reply.json()["queued"] == 99
    for device in devices:
        expected = [e for e in sent if e.get("vehicle", e.get("charger", {})).get("id") == device]
        arrived = await_next_events(relay, device, before[device], len(expected))
        if device == enode.BATCH_CHARGER:
            rates = [round(e["charger"]["chargeState"]["chargeRate"] * 1_000_000) for e in expected]
            assert [attributes(a)["0x0090"]["0x0008"] for a in arrived] == rates
        else:
            levels = [e["vehicle"]["chargeState"]["batteryLevel"] * 2 for e in expected]
            assert [attributes(a)["0x002F"]["0x000C"] for a in arrived] == levels
        assert all(botocore_problems({"ConnectorId": enode.CONNECTOR_ID, **a}) == "" for a in arrived)


def test_a_redelivery_and_a_replay_under_a_new_delivery_id_are_duplicates(relay: RelayOnStack) -> None:
    # GIVEN a delivery accepted once, its event arrived
    body = vehicle_update(next(LEVELS))
    before = len(events_of(relay, VEHICLE))
    first = relay.post(PATH, body, enode.signed_headers(body, delivery_id="dlv-first"))
    assert first.status == 202 and first.json()["queued"] == 1
    await_next_events(relay, VEHICLE, before)
    duplicates = relay.receiver_metrics()["WebhooksDuplicate"]

    # WHEN Enode redelivers it (same delivery id), and someone replays its captured bytes under a new id
    redelivered = relay.post(PATH, body, enode.signed_headers(body, delivery_id="dlv-first"))
    replayed = relay.post(PATH, body, enode.signed_headers(body, delivery_id=f"dlv-{uuid.uuid4()}"))

    # THEN both are answered as the first was, counted as duplicates, and queue nothing more
    assert (redelivered.status, redelivered.json()) == (202, first.json())
    assert (replayed.status, replayed.json()) == (202, first.json())
    counted = eventually(
        lambda: relay.receiver_metrics()["WebhooksDuplicate"],
        lambda n: n >= duplicates + 2,
        "the duplicates counted",
    )
    assert counted == duplicates + 2
    relay.quiet_events(enode.CONNECTOR_ID)
    assert len(events_of(relay, VEHICLE)) == before + 1


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda body: (body, enode.signed_headers(body, secret="not enode's secret")), id="other-secret"
        ),
        pytest.param(
            lambda body: (
                body.replace(b'"batteryLevel": 9', b'"batteryLevel": 1'),
                enode.signed_headers(body),
            ),
            id="tampered",
        ),
        pytest.param(
            lambda body: (
                body,
                {**enode.signed_headers(body), enode.SIGNATURE_HEADER: enode.signature(body)[5:]},
            ),
            id="no-sha1-prefix",
        ),
        pytest.param(
            lambda body: (
                body,
                {k: v for k, v in enode.signed_headers(body).items() if k != enode.SIGNATURE_HEADER},
            ),
            id="unsigned",
        ),
    ],
)
def test_a_forged_delivery_gets_the_single_401_and_queues_nothing(relay: RelayOnStack, forge: Any) -> None:
    # GIVEN a delivery Enode did not sign, and the vehicle's next genuine update after it
    forged_body, forged_headers = forge(vehicle_update(90))
    genuine = vehicle_update(next(LEVELS))
    before = len(events_of(relay, VEHICLE))

    # WHEN both are delivered, the forged one first
    refused = relay.post(PATH, forged_body, forged_headers)
    accepted = relay.post(PATH, genuine, enode.signed_headers(genuine))

    # THEN the forged one gets the 401 every refusal gets, and only the genuine one reaches SendConnectorEvent
    # (the vehicle's events keep their order: had the forged one been queued, it would have come first)
    assert (refused.status, refused.json()) == (401, UNAUTHORIZED)
    assert accepted.status == 202
    arrived = await_next_events(relay, VEHICLE, before)
    level = json.loads(genuine)[0]["vehicle"]["chargeState"]["batteryLevel"]
    assert [attributes(e)["0x002F"]["0x000C"] for e in arrived] == [level * 2]
    relay.quiet_events(enode.CONNECTOR_ID)
    assert len(events_of(relay, VEHICLE)) == before + 1


def jwt_of(claims: dict[str, Any]) -> str:
    """An access token shaped as a JWT (the connector function reads its claims; it is not verified here)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.signature"


def test_discovered_devices_answer_the_users_open_discovery(relay: RelayOnStack) -> None:
    # GIVEN an Enode connector whose users are named by their access token's `sub`, and a discovery of
    # managed integrations handed over for user 1ab23cd4
    connector = f"enode-discovery-{uuid.uuid4().hex[:8]}"
    outbound = "whsec_" + base64.b64encode(f"{connector} requests, local use only".encode()).decode()
    cloud = AnsweringDeviceCloud(outbound, user=USER, command_answer={}).start()
    try:
        profile = json.loads(ENODE.profile_file.read_text())
        profile["deviceCloud"] = {**profile["deviceCloud"], "url": cloud.requests_url}
        relay.add_connector(connector, profile, secret=enode.SECRET, outbound_secret=outbound)
        discovery = uuid.uuid4().hex
        call = relay.standin.invoke_connector(
            "AWS.DiscoverDevices", connector, oauth(jwt_of({"sub": USER})), deviceDiscoveryId=discovery
        )

        # WHEN Enode announces, unasked, the user's vehicle and charger
        vehicle, charger = ENODE.payload("vehicle-discovered"), ENODE.payload("charger-discovered")
        path = f"/connectors/{connector}/events"
        replies = [relay.post(path, body, enode.signed_headers(body)) for body in (vehicle, charger)]
    finally:
        cloud.stop()

    # THEN each becomes a DEVICE_DISCOVERY of that discovery: the vehicle a PowerSource, the charger an
    # on/off plug-in unit that measures its power
    assert call["answer"]["header"]["responseCode"] == 200, call
    assert [r.status for r in replies] == [202, 202]
    assert [r.json()["queued"] for r in replies] == [1, 1]
    events = eventually(lambda: relay.events(connector), lambda got: len(got) >= 2, "two discoveries")
    assert {e["DeviceDiscoveryId"] for e in events} == {discovery}
    assert {e["UserId"] for e in events} == {USER}
    reported = {e["Devices"][0]["ConnectorDeviceId"]: e["Devices"][0] for e in events}
    assert set(reported) == {VEHICLE, CHARGER}
    vehicle_types = reported[VEHICLE]["CapabilityReport"]["endpoints"][0]["deviceTypes"]
    charger_report = reported[CHARGER]["CapabilityReport"]["endpoints"][0]
    assert vehicle_types == ["0x0011"]  # PowerSource
    assert charger_report["deviceTypes"] == ["0x010A"]  # OnOffPlugInUnit
    assert {c["id"] for c in charger_report["clusters"]} >= {"0x0006", "0x0090"}
    assert reported[VEHICLE]["ConnectorDeviceName"] == "TESLA Model S Sedan"
    assert all(botocore_problems({"ConnectorId": connector, **e}) == "" for e in events)
