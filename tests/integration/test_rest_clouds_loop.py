"""Two real clouds' REST APIs driven by their profiles alone, through the whole local stack: the IoT stand-in
invokes the connector function as managed integrations does (2 s timeout, 5 retries), the function calls
the cloud's API (its local stand-in, which follows the cloud's documentation), and what the cloud answers
reaches SendConnectorEvent with AWS's ids.

- SwitchBot API v1.1: General Authorization (the customer's secret), HMAC-signed requests, commands
  answered at once: the DEVICE_COMMAND_RESPONSE is queued by the connector function itself.
- Nuki Web API: the user's bearer token, lock actions answered with a requestId, the outcome in Nuki's own
  webhook, which the relay matches to the command through the id the connector function recorded.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bridge_local.aws import local_client
from bridge_local.rest_clouds import NUKI_TOKEN, SWITCHBOT_USER, NukiWebApi, SwitchBotApi
from bridge_local.stack import LocalStack, StackConfig
from iot_standin.caller import CALLER_TIMEOUT_SECONDS, general_authorization, matter_command, oauth
from iot_standin.testing import StandinAdmin
from samples import switchbot as switchbot_signer

BULB = "C1A2B3C4D501"
PLUG = "C1A2B3C4D505"
WAIT_SECONDS = 20.0


class Loop:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        state = stack.describe()
        self.standin = StandinAdmin(state["iotUrl"])
        self.table = state["tables"]["CorrelationTable"]
        switchbot, nuki = stack.rest_clouds["switchbot"], stack.rest_clouds["nuki"]
        assert isinstance(switchbot, SwitchBotApi) and isinstance(nuki, NukiWebApi)
        self.switchbot, self.nuki = switchbot, nuki
        self.switchbot_auth = general_authorization(stack.authorization_secrets["switchbot"])

    def invoke(self, connector: str, auth: dict[str, Any], operation: str, **members: Any) -> dict[str, Any]:
        return dict(self.standin.invoke_connector(operation, connector, auth, **members))

    def events(self, connector: str, operation: str, member: str, value: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            bodies = [e["body"] for e in self.standin.connector_events(connector)]
            found = [b for b in bodies if b.get("Operation") == operation and b.get(member) == value]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def entry(self, request_id: str) -> dict[str, Any]:
        dynamodb = local_client("dynamodb", self.stack.moto_url)
        items = dynamodb.scan(TableName=self.table)["Items"]
        (item,) = [i for i in items if i.get("requestId", {}).get("S") == request_id]
        return dict(item)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    config = StackConfig(
        api_port=0,
        state_dir=tmp_path_factory.mktemp("rest-clouds"),
        fleet_size=5,
        parameter_overrides={"UserStatusCacheSeconds": 0},
    )
    with LocalStack(config) as stack:
        yield Loop(stack)


def answered(call: dict[str, Any], code: int = 200) -> dict[str, Any]:
    """The answer the caller kept: within its own timeout, as it measured it, with the expected code."""
    last = call["attempts"][-1]
    assert last["outcome"] == "answered", call["attempts"]
    assert last["seconds"] <= CALLER_TIMEOUT_SECONDS
    assert call["answeredWithinTimeout"] is True
    assert call["answer"]["header"]["responseCode"] == code, call["answer"]
    return dict(call["answer"])


def clusters(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in body["MatterEndpoint"]["clusters"]}


def new_trace() -> str:
    return f"rest-{uuid.uuid4().hex[:16]}=_1"


# --- SwitchBot API v1.1 ----------------------------------------------------------------------------------


def test_switchbot_activation_names_the_user_the_customers_secret_gives(loop: Loop) -> None:
    answer = answered(loop.invoke("switchbot", loop.switchbot_auth, "AWS.ActivateUser"))

    assert answer["payload"]["userId"] == SWITCHBOT_USER


def test_switchbot_discovery_reaches_send_connector_event_with_every_device(loop: Loop) -> None:
    # GIVEN the cloud's six devices (and one infrared remote, which is no Matter device)
    discovery = "sb" + uuid.uuid4().hex

    # WHEN managed integrations asks for a discovery
    answered(
        loop.invoke("switchbot", loop.switchbot_auth, "AWS.DiscoverDevices", deviceDiscoveryId=discovery)
    )

    # THEN the devices reach SendConnectorEvent as DEVICE_DISCOVERY with the same id and the user's id
    found = loop.events("switchbot", "DEVICE_DISCOVERY", "DeviceDiscoveryId", discovery)
    devices = {d["ConnectorDeviceId"]: d for event in found for d in event["Devices"]}
    assert set(devices) == {d["deviceId"] for d in loop.switchbot.devices}
    assert {event["UserId"] for event in found} == {SWITCHBOT_USER}
    assert devices[BULB]["ConnectorDeviceName"] == "Kitchen bulb"
    endpoint = devices[BULB]["CapabilityReport"]["endpoints"][0]
    assert endpoint["deviceTypes"] == ["0x010D"]  # Extended Color Light
    assert {"0x0006", "0x0008", "0x0300"} <= {c["id"] for c in endpoint["clusters"]}
    # AND the correlation table shows it answered, with its count of devices
    entry = loop.entry(discovery)
    assert entry["status"]["S"] == "ANSWERED"
    assert entry["devices"]["N"] == str(len(devices))


def test_a_switchbot_command_is_answered_at_once_with_the_same_trace_id(loop: Loop) -> None:
    # GIVEN the kitchen bulb, off
    loop.switchbot.status[BULB]["power"] = "off"
    trace = new_trace()
    before = len(loop.switchbot.received("POST"))

    # WHEN managed integrations sends OnOff.On
    command = {
        "traceId": trace,
        "connectorDeviceId": BULB,
        "endpoints": matter_command("1", "0x0006", "0x01"),
    }
    answered(loop.invoke("switchbot", loop.switchbot_auth, "AWS.SendCommand", **command))

    # THEN the API got one signed turnOn for the bulb, and the bulb is on
    (request,) = loop.switchbot.received("POST")[before:]
    assert request.path == f"/v1.1/devices/{BULB}/commands"
    assert request.json() == {"command": "turnOn", "parameter": "default", "commandType": "command"}
    headers = request.headers
    expected = switchbot_signer.request_signature(
        loop.switchbot.token, loop.switchbot.secret, t=int(headers["t"]), nonce=headers["nonce"]
    )
    assert headers["sign"] == expected
    assert loop.switchbot.status[BULB]["power"] == "on"
    # AND the response reached SendConnectorEvent with the same TraceId, the bulb on
    (response,) = loop.events("switchbot", "DEVICE_COMMAND_RESPONSE", "TraceId", trace)
    assert response["StatusCode"] == 200
    assert response["ConnectorDeviceId"] == BULB
    assert clusters(response)["0x0006"]["attributes"] == {"0x0000": True}
    assert loop.entry(trace)["status"]["S"] == "ANSWERED"

    # AND a retried invocation of the same command is acknowledged without asking the cloud again
    answered(loop.invoke("switchbot", loop.switchbot_auth, "AWS.SendCommand", **command))
    assert len(loop.switchbot.received("POST")) == before + 1


def test_a_switchbot_level_is_sent_as_the_apis_percent(loop: Loop) -> None:
    before = len(loop.switchbot.received("POST"))
    command = {
        "traceId": new_trace(),
        "connectorDeviceId": BULB,
        "endpoints": [{"id": "1", "clusters": [{"id": "0x0008", "commands": {"0x00": {"Level": 127}}}]}],
    }

    answered(loop.invoke("switchbot", loop.switchbot_auth, "AWS.SendCommand", **command))

    (request,) = loop.switchbot.received("POST")[before:]
    assert request.json()["command"] == "setBrightness"
    assert request.json()["parameter"] == 50  # 127 of 254
    assert loop.switchbot.status[BULB]["brightness"] == 50


def test_a_command_the_device_cannot_carry_out_is_reported_failed_with_the_clouds_message(loop: Loop) -> None:
    # GIVEN a plug the API reports offline (statusCode 161)
    loop.switchbot.offline.add(PLUG)
    trace = new_trace()
    try:
        command = {
            "traceId": trace,
            "connectorDeviceId": PLUG,
            "endpoints": matter_command("1", "0x0006", "0x00"),
        }

        # WHEN managed integrations turns it off
        answered(loop.invoke("switchbot", loop.switchbot_auth, "AWS.SendCommand", **command))
    finally:
        loop.switchbot.offline.discard(PLUG)

    # THEN the command's outcome is a failure, with the API's message, and no state
    (response,) = loop.events("switchbot", "DEVICE_COMMAND_RESPONSE", "TraceId", trace)
    assert response["StatusCode"] == 500
    assert response["Message"]
    assert "attributes" not in clusters(response)["0x0006"]


def test_a_general_authorization_secret_outside_the_profiles_patterns_is_refused(loop: Loop) -> None:
    # GIVEN a secret of another connector's part of the prefix
    arn = loop.stack.authorization_secrets["switchbot"].replace("/switchbot/", "/nuki/")

    call = loop.invoke("switchbot", general_authorization(arn), "AWS.ActivateUser")

    answered(call, 401)


# --- Nuki Web API ----------------------------------------------------------------------------------------


def test_nuki_activation_names_the_account_the_token_belongs_to(loop: Loop) -> None:
    answer = answered(loop.invoke("nuki", oauth(NUKI_TOKEN), "AWS.ActivateUser"))

    assert answer["payload"]["userId"] == str(loop.nuki.account["accountId"])


def test_nuki_discovery_reports_its_door_locks(loop: Loop) -> None:
    discovery = "nk" + uuid.uuid4().hex

    answered(loop.invoke("nuki", oauth(NUKI_TOKEN), "AWS.DiscoverDevices", deviceDiscoveryId=discovery))

    found = loop.events("nuki", "DEVICE_DISCOVERY", "DeviceDiscoveryId", discovery)
    devices = [d for event in found for d in event["Devices"]]
    # The Opener (type 2) is no Matter door lock: left out
    assert [d["ConnectorDeviceId"] for d in devices] == [str(loop.nuki.smartlocks[0]["smartlockId"])]
    assert devices[0]["CapabilityReport"]["endpoints"][0]["deviceTypes"] == ["0x000A"]  # Door Lock


def test_a_nuki_unlock_is_answered_through_nukis_webhook_with_the_same_trace_id(loop: Loop) -> None:
    # GIVEN a locked smartlock
    lock = loop.nuki.smartlocks[0]
    lock["state"]["state"] = 1
    trace = new_trace()
    command = {
        "traceId": trace,
        "connectorDeviceId": str(lock["smartlockId"]),
        "endpoints": matter_command("1", "0x0101", "0x01"),
    }

    # WHEN managed integrations sends DoorLock.UnlockDoor
    answered(loop.invoke("nuki", oauth(NUKI_TOKEN), "AWS.SendCommand", **command))

    # THEN the Web API's advanced unlock was called, and its webhook's outcome carries the command's TraceId
    assert any(
        r.path == f"/smartlock/{lock['smartlockId']}/action/unlock/advanced"
        for r in loop.nuki.received("POST")
    )
    (response,) = loop.events("nuki", "DEVICE_COMMAND_RESPONSE", "TraceId", trace)
    assert response["StatusCode"] == 200
    assert clusters(response)["0x0101"]["attributes"] == {"0x0000": 2}  # LockState unlocked
    assert loop.entry(trace)["status"]["S"] == "ANSWERED"


def test_nuki_deactivation_is_acknowledged(loop: Loop) -> None:
    answered(loop.invoke("nuki", oauth(NUKI_TOKEN), "AWS.DeactivateUser"))
