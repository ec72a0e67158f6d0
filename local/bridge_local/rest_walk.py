"""The demo's walk through two real clouds' REST APIs: managed integrations (the IoT stand-in) invokes the
connector function, which calls SwitchBot's API v1.1 and Nuki's Web API (their local stand-ins) as the
connectors' profiles declare, with no code of the connector's own.

- SwitchBot: General Authorization (the customer's secret holds the open token and secret key), every
  request HMAC-signed; a command's result is in the API's answer, so the DEVICE_COMMAND_RESPONSE is queued
  at once.
- Nuki: the user's OAuth bearer token; a lock action is answered with the Web API's requestId, and the
  outcome comes later in Nuki's own webhook, which the relay matches to the command by that id.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iot_standin.caller import general_authorization, matter_command, oauth

from .aws import local_client
from .connector_walk import ConnectorWalk
from .rest_clouds import NUKI_TOKEN, SWITCHBOT_USER, NukiWebApi, SwitchBotApi

EVENT_WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class Walk:
    """One REST cloud's loop: its connector, the credential managed integrations sends, the user it
    should come out as, a device and a Matter command to send it, and what discovery should find."""

    connector_id: str
    auth: dict[str, Any]
    user: str
    devices: int
    device: str
    command: tuple[str, str, str]  # endpoint, cluster id, command id
    command_name: str


class RestCloudWalk(ConnectorWalk):
    """The connector walk's invocations and records, over the REST clouds' connectors."""

    def run(self) -> None:
        self.say(
            "\n9. Real clouds' REST APIs: the connector function calls SwitchBot's API v1.1 and Nuki's Web "
            "API as their profiles' `outbound` blocks declare"
        )
        switchbot = self.stack.rest_clouds.get("switchbot")
        nuki = self.stack.rest_clouds.get("nuki")
        arn = self.stack.authorization_secrets.get("switchbot")
        if not isinstance(switchbot, SwitchBotApi) or not isinstance(nuki, NukiWebApi) or arn is None:
            self.record("REST clouds", "SwitchBot and Nuki stand-ins", "not running", False)
            return
        bulb = "C1A2B3C4D501"
        self.loop(
            Walk(
                "switchbot",
                general_authorization(arn),
                SWITCHBOT_USER,
                len(switchbot.devices),
                bulb,
                ("1", "0x0006", "0x01"),
                "OnOff.On",
            ),
            check=lambda: switchbot.status[bulb].get("power") == "on",
        )
        lock = str(nuki.smartlocks[0]["smartlockId"])
        self.loop(
            Walk(
                "nuki",
                oauth(NUKI_TOKEN),
                str(nuki.account["accountId"]),
                1,  # the Opener is not a Matter door lock: left out
                lock,
                ("1", "0x0101", "0x01"),
                "DoorLock.UnlockDoor",
            ),
            check=lambda: nuki.smartlocks[0]["state"]["state"] == 3,
        )

    def invoke_as(self, walk: Walk, operation: str, **members: Any) -> dict[str, Any]:
        call = self.standin.invoke_connector(operation, walk.connector_id, walk.auth, **members)
        attempts = call.get("attempts") or [{}]
        self.say(
            f"   {walk.connector_id:<9} {operation:<20} -> responseCode {call.get('responseCode')} after "
            f"{len(attempts)} {'try' if len(attempts) == 1 else 'tries'}, "
            f"{attempts[-1].get('seconds', 0) * 1000:.0f} ms"
        )
        return call

    def events_of(self, connector_id: str, operation: str, member: str, value: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + EVENT_WAIT_SECONDS
        while True:
            bodies = [e["body"] for e in self.standin.connector_events(connector_id)]
            found = [b for b in bodies if b.get("Operation") == operation and b.get(member) == value]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def loop(self, walk: Walk, check: Callable[[], bool]) -> None:
        name = walk.connector_id
        call = self.invoke_as(walk, "AWS.ActivateUser")
        user = ((call.get("answer") or {}).get("payload") or {}).get("userId")
        self.answered(f"{name} AWS.ActivateUser", call, str(user), user == walk.user)

        discovery = f"{name}{uuid.uuid4().hex[:12]}"
        self.answered(
            f"{name} AWS.DiscoverDevices",
            self.invoke_as(walk, "AWS.DiscoverDevices", deviceDiscoveryId=discovery),
        )
        found = self.events_of(name, "DEVICE_DISCOVERY", "DeviceDiscoveryId", discovery)
        devices = sum(len(event.get("Devices") or []) for event in found)
        users = {event.get("UserId") for event in found}
        self.record(
            f"{name} DEVICE_DISCOVERY",
            f"same id, {walk.devices} devices",
            f"{len(found)} event(s), {devices} devices",
            bool(found) and devices == walk.devices and users == {walk.user},
        )
        self.say(f"   DEVICE_DISCOVERY {discovery}: {devices} devices reached SendConnectorEvent")

        trace = f"{name}-{uuid.uuid4().hex[:12]}=_1"
        endpoint, cluster, command = walk.command
        members = {
            "traceId": trace,
            "connectorDeviceId": walk.device,
            "endpoints": matter_command(endpoint, cluster, command),
        }
        self.answered(
            f"{name} AWS.SendCommand {walk.command_name}", self.invoke_as(walk, "AWS.SendCommand", **members)
        )
        found = self.events_of(name, "DEVICE_COMMAND_RESPONSE", "TraceId", trace)
        status = found[0].get("StatusCode") if found else None
        acted = check()
        self.record(
            f"{name} DEVICE_COMMAND_RESPONSE",
            "same TraceId, 200, done",
            f"{len(found)}x, {status}, device acted={acted}",
            len(found) == 1 and status == 200 and acted,
        )
        self.say(f"   DEVICE_COMMAND_RESPONSE {trace}: StatusCode {status}, the device acted: {acted}")
        cloud = self.stack.rest_clouds[name]
        before = len(cloud.received(method="POST"))
        self.answered(f"{name} AWS.SendCommand retried", self.invoke_as(walk, "AWS.SendCommand", **members))
        again = len(cloud.received(method="POST")) - before
        self.record(f"{name} retry asked the cloud", "not again", f"{again}x", again == 0)

        self.answered(f"{name} AWS.DeactivateUser", self.invoke_as(walk, "AWS.DeactivateUser"))
        self.correlation(name, discovery, trace, walk.devices)

    def correlation(self, name: str, discovery: str, trace: str, devices: int) -> None:
        if self.table is None:
            self.record(f"{name} correlation table", "2 ANSWERED", "no table", False)
            return
        dynamodb = local_client("dynamodb", self.stack.moto_url)
        items = dynamodb.scan(TableName=self.table)["Items"]
        by_request = {i["requestId"]["S"]: i for i in items if "requestId" in i}
        statuses = [by_request.get(key, {}).get("status", {}).get("S") for key in (discovery, trace)]
        counted = by_request.get(discovery, {}).get("devices", {}).get("N")
        self.say(f"   correlation table: discovery {statuses[0]} ({counted} devices), command {statuses[1]}")
        self.record(
            f"{name} correlation table",
            f"2 ANSWERED, {devices} devices",
            f"{', '.join(str(s) for s in statuses)}, {counted} devices",
            statuses == ["ANSWERED", "ANSWERED"] and counted == str(devices),
        )
