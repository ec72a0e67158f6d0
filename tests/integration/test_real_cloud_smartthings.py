"""SmartThings as a real cloud on the local stack: its documented payloads (events/profiles/smartthings/),
signed as SmartThings signs them (samples.smartthings: draft-cavage rsa-sha256 over (request-target), Digest
and Date) with the test key whose certificate the local key server publishes at the keyId's path, posted to
the relay over HTTP, reach the IoT stand-in's SendConnectorEvent (checked against botocore's model) with the
Matter values their capabilities stand for; the lifecycle handshakes are answered and nothing else gets in."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bridge_local.real_cloud_endpoints import RealCloudEndpoints
from bridge_local.signing import Reply
from bridge_local.stack import LocalStack, StackConfig
from samples import smartthings
from samples.real_clouds import SMARTTHINGS, LocalEndpoints, events_path, smartthings_confirmation_url

from .local_stack_clouds import RelayOnStack, botocore_problems, eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONNECTOR = SMARTTHINGS.connector_id
PATH = events_path(CONNECTOR)

# Per documented payload: each device event SmartThings reports, as managed integrations gets it (user, device
# and the clusters of endpoint 1), in the order of the payload's events. A TIMER_EVENT has no device: ignored.
EXPECTED: dict[str, list[tuple[str, str, list[dict[str, Any]]]]] = {
    "device-event-switch": [
        (
            "07891f14-82da-4239-9900-42e437c49f45",
            "2e4b6630-41ad-4527-8b91-135021b0dbb7",
            [{"id": "0x0006", "attributes": {"0x0000": True}}],
        )
    ],
    "device-event-contact": [
        (
            "d46a1c60-b6bd-4f82-b124-028e0f14a4f4",
            "6cc2a018-a918-484e-a405-97838d874623",
            # open: no contact, StateValue false; the change is a StateChange event too.
            [{"id": "0x0045", "attributes": {"0x0000": False}, "events": {"0x00": {"0x0000": False}}}],
        )
    ],
    "device-events-motion-lock": [
        (
            "8a0dcdc9-1ab4-4c60-9de7-cb78f59a1121",
            "6f5ea629-4c05-4a90-a244-cc129b0a80c3",
            [{"id": "0x0406", "attributes": {"0x0000": 1}, "events": {"0x00": {"0x0000": 1}}}],
        ),
        (
            "8a0dcdc9-1ab4-4c60-9de7-cb78f59a1121",
            "45cae340-bc11-41f9-b46c-abfaf82189fe",
            # locked (LockState 1) by hand: a LockOperation of type Lock (0) from a Manual (1) source.
            [{"id": "0x0101", "attributes": {"0x0000": 1}, "events": {"0x02": {"0x0000": 0, "0x0001": 1}}}],
        ),
    ],
    "device-health-offline": [
        (
            "a7dfaa78-cce7-459c-8d0c-d593f0d55b76",
            "1ed46054-c643-4153-b50d-7509de9b237b",
            # OFFLINE: not Reachable, and a ReachableChanged event saying so.
            [{"id": "0x0039", "attributes": {"0x0011": False}, "events": {"0x03": {"0x0000": False}}}],
        )
    ],
    "device-events-dimmer-thermometers": [
        # 70 % of 254 levels; 3000 K = 333 mireds; 67 °F = 19.44 °C and 26 °C, in hundredths.
        (
            "b4c71ab2-116d-4d79-9125-b1909fa9b0c7",
            "cb958955-b015-498c-9e62-fc0c51abd054",
            [{"id": "0x0008", "attributes": {"0x0000": 178}}],
        ),
        (
            "b4c71ab2-116d-4d79-9125-b1909fa9b0c7",
            "cb958955-b015-498c-9e62-fc0c51abd054",
            [{"id": "0x0300", "attributes": {"0x0007": 333}}],
        ),
        (
            "b4c71ab2-116d-4d79-9125-b1909fa9b0c7",
            "7d246592-93db-4d72-a10d-5a51793ece8f",
            [{"id": "0x0402", "attributes": {"0x0000": 1944}}],
        ),
        (
            "b4c71ab2-116d-4d79-9125-b1909fa9b0c7",
            "4c8f2f56-7e0b-4bd4-8f5a-2f2b7e1c0d11",
            [{"id": "0x0402", "attributes": {"0x0000": 2600}}],
        ),
    ],
}
# Payloads that are not device events: the handshakes' (their own tests) and a device added outside a
# discovery (its own test).
NOT_EVENTS = {"ping", "confirmation", "device-lifecycle-create"}


class SmartThingsOnStack(RelayOnStack):
    """The local stack as SmartThings meets it: its endpoint, and the stand-ins for SmartThings' key server
    and API (the seeded profile's keyUrl, keyHosts and confirm.hosts name them)."""

    @property
    def endpoints(self) -> RealCloudEndpoints:
        assert self.stack.real_cloud_endpoints is not None, "the stack seeds the real clouds"
        return self.stack.real_cloud_endpoints

    @property
    def local(self) -> LocalEndpoints:
        return LocalEndpoints(self.endpoints.url)

    def deliver(self, body: bytes, headers: dict[str, str]) -> Reply:
        return self.post(PATH, body, headers)

    def device_events(self, device: str, count: int = 1) -> list[dict[str, Any]]:
        """The device's events, once `count` of them reached SendConnectorEvent."""
        return eventually(
            lambda: [e for e in self.events(CONNECTOR) if e.get("ConnectorDeviceId") == device],
            lambda found: len(found) >= count,
            f"{count} event(s) for {device}",
        )


@pytest.fixture(scope="module")
def clouds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartThingsOnStack]:
    config = StackConfig(api_port=0, state_dir=tmp_path_factory.mktemp("smartthings"), fleet_size=5)
    with LocalStack(config) as stack:
        yield SmartThingsOnStack(stack)


def signed(body: bytes, **options: Any) -> dict[str, str]:
    return smartthings.signed_headers(body, path=PATH, **options)


def with_device(name: str, device: str) -> bytes:
    """The switch payload as it would come from another device (a new id, so its events can be told apart)."""
    return SMARTTHINGS.payload(name).replace(b"2e4b6630-41ad-4527-8b91-135021b0dbb7", device.encode())


def test_every_documented_payload_has_its_expected_matter_values_or_its_own_test() -> None:
    assert set(SMARTTHINGS.payload_names()) == set(EXPECTED) | NOT_EVENTS


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_signed_documented_payload_reaches_send_connector_event_as_matter_values(
    clouds: SmartThingsOnStack, name: str
) -> None:
    # GIVEN a payload as SmartThings documents it, signed now as SmartThings signs it
    body = SMARTTHINGS.payload(name)
    expected = EXPECTED[name]

    # WHEN SmartThings delivers it
    reply = clouds.deliver(body, signed(body))

    # THEN each device event is queued, and reaches SendConnectorEvent with the Matter values it stands for
    assert reply.status == 202, reply.body
    assert reply.json()["queued"] == len(expected)
    for device in dict.fromkeys(d for _, d, _ in expected):
        wanted = [(user, clusters) for user, d, clusters in expected if d == device]
        events = clouds.device_events(device, count=len(wanted))[-len(wanted) :]
        assert [(e["Operation"], e["UserId"], e["MatterEndpoint"]) for e in events] == [
            ("DEVICE_EVENT", user, {"id": "1", "clusters": clusters}) for user, clusters in wanted
        ]
        problems = [botocore_problems({"ConnectorId": CONNECTOR, **event}) for event in events]
        assert problems == [""] * len(events)


def test_forged_tampered_and_stale_deliveries_get_the_single_401_and_nothing_is_queued(
    clouds: SmartThingsOnStack,
) -> None:
    # GIVEN deliveries for devices of their own: signed with a key SmartThings never published, changed after
    # signing, and signed ten minutes ago
    now = time.time()
    forged, tampered, stale = (f"refused-{uuid.uuid4()}" for _ in range(3))
    forged_body = with_device("device-event-switch", forged)
    tampered_body = with_device("device-event-switch", tampered)
    stale_body = with_device("device-event-switch", stale)
    deliveries = {
        "forged": (forged_body, signed(forged_body, key=smartthings.other_key())),
        "tampered": (tampered_body.replace(b'"on"', b'"off"'), signed(tampered_body)),
        "stale": (stale_body, signed(stale_body, now=now - 600)),
        "unsigned": (forged_body, {"Content-Type": "application/json"}),
    }

    # WHEN SmartThings' endpoint gets them, then one signed delivery
    replies = {name: clouds.deliver(body, headers) for name, (body, headers) in deliveries.items()}
    sentinel = f"accepted-{uuid.uuid4()}"
    good = with_device("device-event-switch", sentinel)
    assert clouds.deliver(good, signed(good)).status == 202

    # THEN each is refused with the one 401 that says nothing of why, and none of them reached managed
    # integrations (the signed one, sent after them, did)
    assert {name: reply.status for name, reply in replies.items()} == dict.fromkeys(deliveries, 401)
    assert len({reply.body for reply in replies.values()}) == 1
    clouds.device_events(sentinel)
    devices = {e.get("ConnectorDeviceId") for e in clouds.events(CONNECTOR)}
    assert devices.isdisjoint({forged, tampered, stale})


def test_a_ping_is_answered_with_its_challenge_and_queues_nothing(clouds: SmartThingsOnStack) -> None:
    # GIVEN SmartThings' PING, sent (as at registration, before the app has its key) unsigned
    challenge = str(uuid.uuid4())
    body = smartthings.ping(challenge)
    before = len(clouds.events(CONNECTOR))

    # WHEN it reaches the relay
    reply = clouds.deliver(body, {"Content-Type": "application/json"})

    # THEN the challenge is echoed as the lifecycle documentation says, and nothing is sent on
    assert reply.status == 200, reply.body
    assert reply.json() == {"pingData": {"challenge": challenge}}
    assert len(clouds.events(CONNECTOR)) == before


def test_the_documented_ping_is_answered_signed_too(clouds: SmartThingsOnStack) -> None:
    body = SMARTTHINGS.payload("ping")

    reply = clouds.deliver(body, signed(body))

    assert reply.status == 200, reply.body
    assert reply.json() == {"pingData": {"challenge": "1a904d57-4fab-4b15-a11e-1c4bfe7cb502"}}


def test_a_confirmation_gets_its_confirmation_url_and_is_answered_200(clouds: SmartThingsOnStack) -> None:
    # GIVEN a CONFIRMATION whose URL is at the local stand-in for api.smartthings.com (the seeded profile's
    # confirm.hosts names it), signed
    url = smartthings_confirmation_url(clouds.local)
    body = smartthings.confirmation(url)
    path = url.removeprefix(clouds.local.base_url)

    # WHEN SmartThings sends it
    reply = clouds.deliver(body, signed(body))

    # THEN the relay GETs the confirmation URL once, then answers 200
    assert reply.status == 200, reply.body
    assert [(seen.method, seen.path, seen.status) for seen in clouds.endpoints.seen(path)] == [
        ("GET", path, 200)
    ]


def test_an_unsigned_confirmation_gets_no_url_and_the_single_401(clouds: SmartThingsOnStack) -> None:
    url = smartthings_confirmation_url(clouds.local)
    body = smartthings.confirmation(url)

    reply = clouds.deliver(body, {"Content-Type": "application/json"})

    assert reply.status == 401
    assert clouds.endpoints.seen(url.removeprefix(clouds.local.base_url)) == []


def test_a_device_added_outside_a_discovery_is_skipped_and_reported(clouds: SmartThingsOnStack) -> None:
    # GIVEN the device lifecycle CREATE event, with no discovery of that installed app open
    body = SMARTTHINGS.payload("device-lifecycle-create")

    # WHEN SmartThings delivers it
    reply = clouds.deliver(body, signed(body))

    # THEN it is acknowledged with nothing queued, and the skipped event named by its rule
    assert reply.status == 202, reply.body
    answer = reply.json()
    assert answer["queued"] == 0
    assert [skipped["rule"] for skipped in answer["skipped"]] == ["device-added"]


def test_the_certificate_is_fetched_from_the_key_ids_url_and_kept(clouds: SmartThingsOnStack) -> None:
    # GIVEN the certificate's URL at the local key server: the profile's keyUrl with the keyId filled in
    path = f"/smartthings/keys{smartthings.KEY_ID}"
    fetched = len(clouds.endpoints.seen(path))

    # WHEN three deliveries are signed with its key
    for _ in range(3):
        body = with_device("device-event-switch", f"kept-{uuid.uuid4()}")
        assert clouds.deliver(body, signed(body)).status == 202

    # THEN it was fetched (by this test or an earlier one), and at most once for the three
    assert clouds.endpoints.seen(path)
    assert len(clouds.endpoints.seen(path)) - fetched <= 1
