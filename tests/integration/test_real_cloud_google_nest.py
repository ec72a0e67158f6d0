"""Google Nest (SDM events over Cloud Pub/Sub push) as a real cloud on the local stack: the documented SDM
events (events/profiles/google-nest/), wrapped in the default push envelope and sent with the OIDC token
Pub/Sub signs (minted by google-auth with the test key whose JWKS the local key server publishes), posted to
the relay over HTTP, reach the IoT stand-in's SendConnectorEvent with the Matter values their traits stand
for; a device added to a structure answers the user's open discovery, or is skipped when none is open."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bridge_local.real_cloud_endpoints import RealCloudEndpoints
from bridge_local.signing import Reply
from bridge_local.stack import LocalStack, StackConfig
from iot_standin.caller import oauth
from samples import google_nest
from samples.real_clouds import (
    GOOGLE_JWKS_PATH,
    GOOGLE_NEST,
    GOOGLE_NEST_REQUESTS_PATH,
    events_path,
    google_nest_push,
)

from .local_stack_clouds import RelayOnStack, botocore_problems, eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONNECTOR = GOOGLE_NEST.connector_id
PATH = events_path(CONNECTOR)
# The SDM user of every documented event, and the device its resource name ends with.
USER = "AVPHwEuBfnPOnTqzVFT4IONX2Qqhu9EJ4ubO-bNnQ-yi"
DEVICE = "device-id"

# Per documented event: the clusters of endpoint 1 it reports (None: nothing Matter has a cluster for, so the
# event is acknowledged and counted, not queued).
EXPECTED: dict[str, list[dict[str, Any]] | None] = {
    # 20.1 °C in hundredths: the room's temperature, and the thermostat's own reading.
    "trait-temperature": [
        {"id": "0x0402", "attributes": {"0x0000": 2010}},
        {"id": "0x0201", "attributes": {"0x0000": 2010}},
    ],
    "trait-humidity": [{"id": "0x0405", "attributes": {"0x0000": 3500}}],
    # HEATCOOL is SystemMode Auto (1); the setpoints 22 °C and 28 °C in hundredths.
    "trait-thermostat-mode-setpoint": [
        {"id": "0x0201", "attributes": {"0x001C": 1, "0x0012": 2200, "0x0011": 2800}},
    ],
    # HEATING: ThermostatRunningState's Heat bit.
    "trait-thermostat-hvac": [{"id": "0x0201", "attributes": {"0x0029": 1}}],
    "trait-connectivity": [{"id": "0x0039", "attributes": {"0x0011": True}}],
    # Motion and a person are occupancy (OccupancyChanged with Occupancy 1); a chime is a press of a switch.
    "event-camera-motion": [{"id": "0x0406", "attributes": {"0x0000": 1}, "events": {"0x00": {"0x0000": 1}}}],
    "event-camera-person": [{"id": "0x0406", "attributes": {"0x0000": 1}, "events": {"0x00": {"0x0000": 1}}}],
    "event-doorbell-chime": [{"id": "0x003B", "events": {"0x01": {"0x0000": 1}}}],
    "event-camera-sound": None,
}


class NestOnStack(RelayOnStack):
    """The local stack as Pub/Sub meets it: the endpoint, and the stand-in for Google's key server (the
    seeded profile's jwksUrl) and for the service the connector function hands the Nest connector's
    requests to."""

    @property
    def endpoints(self) -> RealCloudEndpoints:
        assert self.stack.real_cloud_endpoints is not None, "the stack seeds the real clouds"
        return self.stack.real_cloud_endpoints

    def push(self, event: bytes, **options: Any) -> Reply:
        """Publish a native SDM event: Pub/Sub pushes it, wrapped, with a token issued now."""
        body, headers = google_nest_push(event, now=time.time(), **options)
        return self.post(PATH, body, headers)

    def device_events(self, device: str, count: int = 1) -> list[dict[str, Any]]:
        return eventually(
            lambda: [e for e in self.events(CONNECTOR) if e.get("ConnectorDeviceId") == device],
            lambda found: len(found) >= count,
            f"{count} event(s) for {device}",
        )

    def discovery(self, operation: str, **members: Any) -> dict[str, Any]:
        """An operation of managed integrations for the Nest connector, made by the user of the events (their
        access token's `sub`, as the seeded profile's deviceCloud.userIdClaim reads it)."""
        return self.standin.invoke_connector(operation, CONNECTOR, oauth(user_token(USER)), **members)


@pytest.fixture(scope="module")
def nest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NestOnStack]:
    config = StackConfig(api_port=0, state_dir=tmp_path_factory.mktemp("google-nest"), fleet_size=5)
    with LocalStack(config) as stack:
        yield NestOnStack(stack)


def user_token(user: str) -> str:
    """An access token whose claims name the user (read, not verified, by the connector function)."""
    claims = json.dumps({"sub": user, "exp": int(time.time()) + 3600}).encode()
    return "e30." + base64.urlsafe_b64encode(claims).rstrip(b"=").decode() + ".c2ln"


def for_device(name: str, device: str) -> bytes:
    """A documented event as it would come from another device (a new id, to tell its events apart)."""
    return GOOGLE_NEST.payload(name).replace(f"/devices/{DEVICE}".encode(), f"/devices/{device}".encode())


def test_every_documented_event_has_its_expected_matter_values_or_its_own_test() -> None:
    assert set(GOOGLE_NEST.payload_names()) == set(EXPECTED) | {"relation-created"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_pushed_documented_event_reaches_send_connector_event_as_matter_values(
    nest: NestOnStack, name: str
) -> None:
    # GIVEN an SDM event as documented, from a device of its own, pushed by Pub/Sub with its token
    device = f"{name}-{uuid.uuid4().hex[:8]}"
    event = for_device(name, device)

    # WHEN Pub/Sub pushes it
    reply = nest.push(event)

    # THEN it reaches SendConnectorEvent for the event's user and device with the Matter values of its traits
    # (or, for what Matter has no cluster for, is acknowledged with nothing queued)
    assert reply.status == 202, reply.body
    clusters = EXPECTED[name]
    if clusters is None:
        assert reply.json()["queued"] == 0
        return
    assert reply.json()["queued"] == 1
    [sent] = nest.device_events(device)
    assert (sent["Operation"], sent["UserId"]) == ("DEVICE_EVENT", USER)
    assert sent["MatterEndpoint"] == {"id": "1", "clusters": clusters}
    assert botocore_problems({"ConnectorId": CONNECTOR, **sent}) == ""


def test_forged_expired_and_altered_tokens_get_the_single_401_and_nothing_is_queued(
    nest: NestOnStack,
) -> None:
    # GIVEN pushes for devices of their own, each with a token that must not pass: signed by a key Google
    # never published, expired an hour ago, for another audience, for another service account, and one
    # whose claims were changed after signing
    now = time.time()
    token = google_nest.push_token(now=now)
    header, claims, signature = token.split(".")
    widened = json.loads(base64.urlsafe_b64decode(claims + "=="))
    widened["aud"] = "https://somewhere.example/else"
    widened_claims = base64.urlsafe_b64encode(json.dumps(widened).encode()).decode().rstrip("=")
    altered = f"{header}.{widened_claims}.{signature}"
    tokens = {
        "forged": google_nest.push_token(now=now, signed_by=google_nest.other_signer()),
        "expired": google_nest.push_token(now=now - 2 * google_nest.TOKEN_LIFETIME_SECONDS),
        "other audience": google_nest.push_token(now=now, audience="https://somewhere.example/else"),
        "other account": google_nest.push_token(now=now, email="someone@else.iam.gserviceaccount.com"),
        "altered": altered,
    }
    refused = {name: f"refused-{uuid.uuid4().hex[:8]}" for name in tokens}

    # WHEN Pub/Sub's endpoint gets them, then one push with a good token
    replies = {
        name: nest.push(for_device("trait-connectivity", refused[name]), token=token)
        for name, token in tokens.items()
    }
    unsigned = nest.post(PATH, google_nest_push(GOOGLE_NEST.payload("trait-humidity"), now=now)[0], {})
    sentinel = f"accepted-{uuid.uuid4().hex[:8]}"
    assert nest.push(for_device("trait-connectivity", sentinel)).status == 202

    # THEN each is refused with the one 401 that says nothing of why, and none reached managed integrations
    assert {name: reply.status for name, reply in replies.items()} == dict.fromkeys(tokens, 401)
    assert unsigned.status == 401
    assert len({reply.body for reply in [*replies.values(), unsigned]}) == 1
    nest.device_events(sentinel)
    devices = {e.get("ConnectorDeviceId") for e in nest.events(CONNECTOR)}
    assert devices.isdisjoint(refused.values())


def test_googles_keys_are_fetched_from_the_jwks_url_and_kept(nest: NestOnStack) -> None:
    fetched = len(nest.endpoints.seen(GOOGLE_JWKS_PATH))

    for _ in range(3):
        assert nest.push(for_device("trait-humidity", f"kept-{uuid.uuid4().hex[:8]}")).status == 202

    assert nest.endpoints.seen(GOOGLE_JWKS_PATH)
    assert len(nest.endpoints.seen(GOOGLE_JWKS_PATH)) - fetched <= 1


def test_a_device_added_with_no_discovery_open_is_skipped_and_reported(nest: NestOnStack) -> None:
    # GIVEN a relation event of a user with no discovery open
    event = GOOGLE_NEST.payload("relation-created").replace(USER.encode(), b"a-user-with-no-discovery")

    # WHEN Pub/Sub pushes it
    reply = nest.push(event)

    # THEN it is acknowledged with nothing queued, and the skipped event is named by its rule
    assert reply.status == 202, reply.body
    assert reply.json()["queued"] == 0
    assert [skipped["rule"] for skipped in reply.json()["skipped"]] == ["device-added"]


def test_a_device_added_answers_the_users_open_discovery(nest: NestOnStack) -> None:
    # GIVEN a discovery managed integrations began for the user through the connector function, handed to
    # the service that speaks SDM (which answers nothing: the discovery stays open)
    discovery = "nest" + uuid.uuid4().hex
    call = nest.discovery("AWS.DiscoverDevices", deviceDiscoveryId=discovery)
    assert call["answer"]["header"]["responseCode"] == 200, call
    eventually(
        lambda: nest.endpoints.seen(GOOGLE_NEST_REQUESTS_PATH), bool, "the discovery handed to the SDM side"
    )

    # WHEN Pub/Sub pushes the documented relation event: a device added to the user's structure
    reply = nest.push(GOOGLE_NEST.payload("relation-created"))

    # THEN it is that discovery's answer: the device, by the last part of its resource name
    assert reply.status == 202, reply.body
    assert reply.json()["queued"] == 1
    [found] = eventually(
        lambda: [e for e in nest.events(CONNECTOR) if e.get("DeviceDiscoveryId") == discovery],
        bool,
        f"the DEVICE_DISCOVERY of {discovery}",
    )
    assert (found["Operation"], found["UserId"], found["StatusCode"]) == ("DEVICE_DISCOVERY", USER, 200)
    assert [device["ConnectorDeviceId"] for device in found["Devices"]] == [DEVICE]
    assert botocore_problems({"ConnectorId": CONNECTOR, **found}) == ""
