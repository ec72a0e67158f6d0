"""SmartThings as a REST device cloud written only as a profile: the `outbound` block of
events/profiles/smartthings.json drives the connector function against SmartThingsApi (the fake of
api.smartthings.com on loopback, following its public API), through the domain (ConnectorOperations) and
the discovery worker, with the relay's FIFO queue, the correlation table and SSM in memory.

The profile's baseUrl is rewritten to the fake's loopback URL, and the adapter is built as the local stack
builds it (loopback allowed); everything else is the profile as shipped."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from fakes.aws import InMemorySecretsManager, InMemorySqs, InMemorySsm
from fakes.connector import InMemoryAuthorizations, InMemoryPendingRequests, InMemoryUserDirectory
from fakes.lambda_context import FakeLambdaContext
from fakes.smartthings_api import DEVICES, INSTALLED_APP_ID, TOKEN, SmartThingsApi
from iot_standin.caller import envelope, matter_command, oauth
from iotbridge import matter
from iotbridge.__main__ import main, profile_warnings
from iotbridge.budget import CappedBudget, LambdaBudget
from iotbridge.connector.adapters import WebhookDeviceClouds
from iotbridge.connector.discovery import DiscoveryWorker, JobDelivery, JobOutcome, job_message
from iotbridge.connector.domain.invocations import ConnectorOperations, InvocationOutcome
from iotbridge.connector.domain.requests import (
    ACTIVATE_USER,
    DISCOVER_DEVICES,
    SEND_COMMAND,
    parse_invocation,
)
from iotbridge.connector.outbound import OutboundExchanges
from iotbridge.connector.ports import DiscoveryJob
from iotbridge.connector.rest import RestCalls, RestDeviceCloud, template_context
from iotbridge.connector.settings import ConnectorSettings
from iotbridge.correlation.model import Status
from iotbridge.profile.document import parse_profile
from iotbridge.profile.outbound import Outbound
from iotbridge.registry.profiles import SsmConnectorProfiles
from iotbridge.registry.secrets import SecretsManagerSigningKeys
from iotbridge.send_connector_event.queue import SqsFifoEventQueue
from iotbridge.send_connector_event.queued import QueuedEvent
from samples.real_clouds import SMARTTHINGS

pytestmark = pytest.mark.integration

CONNECTOR = SMARTTHINGS.connector_id
SETTINGS = ConnectorSettings(correlation_table="CorrelationTable", user_table="ConnectorUserTable")
PREFIX = "/iot-bridge/profiles/"
GROUP_KEY = b"k" * 40
TRACE_ID = "st-trace-0001"
DISCOVERY_ID = "st-discovery-0001"
PORCH_LIGHT, READING_LAMP = DEVICES[0]["deviceId"], DEVICES[1]["deviceId"]
# A device with none of the capabilities the profile maps (its `when` leaves it out).
HUB = {
    **DEVICES[0],
    "deviceId": "0a1b2c3d-0000-4000-8000-000000000006",
    "name": "Hub",
    "label": "Hub",
    "components": [
        {
            "id": "main",
            "label": "main",
            "capabilities": [{"id": "refresh", "version": 1}, {"id": "healthCheck", "version": 1}],
            "categories": [{"name": "Hub", "categoryType": "manufacturer"}],
        }
    ],
}
# Six devices in pages of two: three pages, linked by `_links.next.href`.
PAGE_SIZE = 2


@pytest.fixture
def api() -> Iterator[SmartThingsApi]:
    with SmartThingsApi(devices=[*DEVICES, HUB], page_size=PAGE_SIZE) as running:
        yield running


def local_document(api: SmartThingsApi) -> dict[str, Any]:
    """The shipped profile, its baseUrl the fake's loopback URL."""
    document = json.loads(SMARTTHINGS.profile_file.read_text(encoding="utf-8"))
    document["outbound"]["baseUrl"] = api.url
    return document


# --- The connector over the fake: the function's adapters, the AWS services in memory -----------------


class CorrelationEntries(InMemoryPendingRequests):
    """The correlation table as the discovery worker reads it too: whether a discovery is answered, and
    the count of devices its fetch found."""

    def __init__(self) -> None:
        super().__init__()
        self.discoveries: dict[tuple[str, str], tuple[int | None, str | None]] = {}

    def is_answered(self, kind: str, connector_id: str, request_id: str) -> bool:
        return self.status_of(request_id) is Status.ANSWERED

    def record_discovery(
        self, connector_id: str, discovery_id: str, *, devices: int | None, failure: str | None
    ) -> bool:
        self.discoveries[(connector_id, discovery_id)] = (devices, failure)
        return True


class RecordedJobs:
    def __init__(self) -> None:
        self.jobs: list[DiscoveryJob] = []

    def submit(self, job: DiscoveryJob) -> None:
        self.jobs.append(job)


class DeadLetters:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def put(self, body: str) -> None:
        self.bodies.append(body)


@dataclass
class Connector:
    api: SmartThingsApi
    operations: ConnectorOperations
    worker: DiscoveryWorker
    entries: CorrelationEntries
    users: InMemoryUserDirectory
    jobs: RecordedJobs
    sqs: InMemorySqs
    dead_letters: DeadLetters = field(default_factory=DeadLetters)

    def invoke(self, operation: str, **members: Any) -> InvocationOutcome:
        """An invocation as managed integrations sends it, with the user's token, answered within the budget
        the handler gives the domain."""
        event = envelope(operation, CONNECTOR, oauth(TOKEN), **members)
        budget = CappedBudget(LambdaBudget(FakeLambdaContext()), SETTINGS.answer_within_seconds)
        return self.operations.handle(parse_invocation(event), budget)

    def work_off_jobs(self) -> list[JobOutcome]:
        """The discovery queue delivering each job put on it to the worker, as its event source does."""
        deliveries = [
            JobDelivery(f"message-{n}", json.dumps(job_message(job))) for n, job in enumerate(self.jobs.jobs)
        ]
        budget = LambdaBudget(FakeLambdaContext(remaining_millis=30_000))
        return list(self.worker.run(deliveries, budget).jobs)

    def queued(self) -> list[QueuedEvent]:
        return [QueuedEvent.from_message_body(body) for body in self.sqs.bodies]


@pytest.fixture
def up(api: SmartThingsApi) -> Connector:
    ssm = InMemorySsm({f"{PREFIX}{CONNECTOR}": json.dumps(local_document(api))})
    profiles = SsmConnectorProfiles(ssm, prefix=PREFIX, max_age_seconds=300)
    exchanges = OutboundExchanges(allow_loopback=True)
    jobs = RecordedJobs()
    clouds = WebhookDeviceClouds(
        profiles,
        SecretsManagerSigningKeys(InMemorySecretsManager({}), prefix="unused/", max_age_seconds=300),
        exchanges=exchanges,
        allow_loopback=True,
        jobs=jobs,
        queues_answers=True,
    )
    entries = CorrelationEntries()
    users = InMemoryUserDirectory()
    sqs = InMemorySqs()
    events = SqsFifoEventQueue(sqs, "https://sqs.example/events.fifo", group_key=GROUP_KEY)
    authorizations = InMemoryAuthorizations({})
    operations = ConnectorOperations(
        device_clouds=clouds,
        requests=entries,
        users=users,
        authorizations=authorizations,
        device_cloud_seconds=SETTINGS.device_cloud_timeout_seconds,
        events=events,
    )
    dead_letters = DeadLetters()

    def calls_for(outbound: Outbound) -> RestCalls:
        return RestCalls(outbound, exchanges, allow_loopback=True)

    worker = DiscoveryWorker(
        profiles=profiles,
        authorizations=authorizations,
        calls_for=calls_for,
        template_context=template_context,
        events=events,
        records=entries,
        dead_letters=dead_letters,
        max_receive_count=SETTINGS.discovery_max_receive_count,
        fetch_seconds=SETTINGS.discovery_fetch_seconds,
        device_cloud_seconds=SETTINGS.device_cloud_timeout_seconds,
    )
    assert isinstance(clouds.for_connector(CONNECTOR), RestDeviceCloud)
    return Connector(api, operations, worker, entries, users, jobs, sqs, dead_letters)


def asked(api: SmartThingsApi) -> list[tuple[str, str, dict[str, list[str]]]]:
    return [(r["method"], r["path"], r["query"]) for r in api.requests]


def bearer(api: SmartThingsApi) -> set[str | None]:
    return {r["headers"].get("authorization") for r in api.requests}


# --- profile validate -----------------------------------------------------------------------------------


def test_profile_validate_passes_and_warns_of_nothing_outbound() -> None:
    # GIVEN the shipped profile WHEN `profile validate` reads it
    out, err = io.StringIO(), io.StringIO()
    code = main(["profile", "validate", str(SMARTTHINGS.profile_file)], out=out, err=err)

    # THEN it is valid, and its outbound block has nothing to warn of (https, an activateUser, linked pages)
    assert code == 0
    assert "valid" in out.getvalue()
    assert "outbound" not in err.getvalue()
    assert [w for w in profile_warnings(SMARTTHINGS.profile()) if w.startswith("outbound")] == []


def test_the_local_rewrite_to_plain_http_is_warned_of(api: SmartThingsApi) -> None:
    # GIVEN the profile with its baseUrl on loopback WHEN its warnings are listed
    warnings = profile_warnings(parse_profile(local_document(api)))

    # THEN the bearer token over plain HTTP is named (a device cloud on this machine only)
    assert [w for w in warnings if w.startswith("outbound")] == [
        "outbound.baseUrl: plain http: the bearer token travels unencrypted (a device cloud on this "
        "machine only)"
    ]


# --- AWS.ActivateUser -----------------------------------------------------------------------------------


def test_activate_user_answers_the_installed_app_id_the_profile_reads(up: Connector) -> None:
    # WHEN managed integrations activates the user with their token
    outcome = up.invoke(ACTIVATE_USER)

    # THEN the user id is the installed app's id, the one SmartThings' webhooks give as UserId
    assert outcome.code == 200
    assert outcome.response()["payload"]["userId"] == INSTALLED_APP_ID
    assert up.users.status == {(CONNECTOR, INSTALLED_APP_ID): True}
    assert asked(up.api) == [("GET", "/v1/installedapps", {})]
    assert bearer(up.api) == {f"Bearer {TOKEN}"}


# --- AWS.SendCommand ------------------------------------------------------------------------------------


def test_on_sends_the_documented_switch_command_and_queues_its_response(up: Connector) -> None:
    # WHEN managed integrations turns the porch light on
    outcome = up.invoke(
        SEND_COMMAND,
        traceId=TRACE_ID,
        connectorDeviceId=PORCH_LIGHT,
        endpoints=matter_command("1", "0x0006", "0x01"),
    )

    # THEN SmartThings got the command as its API documents it, with the user's token
    assert outcome.code == 200
    (request,) = up.api.requests
    assert (request["method"], request["path"], request["status"]) == (
        "POST",
        f"/v1/devices/{PORCH_LIGHT}/commands",
        200,
    )
    assert json.loads(request["body"]) == {
        "commands": [{"component": "main", "capability": "switch", "command": "on", "arguments": []}]
    }
    assert request["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["content-type"] == "application/json"
    assert request["headers"]["accept"] == "application/json"
    assert up.api.status[PORCH_LIGHT] == {"switch": {"command": "on", "arguments": []}}

    # AND, the profile's answer being sync, the response is queued with the same TraceId, no attribute
    # (SmartThings reports the new state as a device event), and the command is marked answered
    (queued,) = up.queued()
    assert (queued.connector_id, queued.webhook_id, queued.index) == (CONNECTOR, f"command:{TRACE_ID}", 0)
    assert queued.event == {
        "Operation": "DEVICE_COMMAND_RESPONSE",
        "OperationVersion": "1.0",
        "TraceId": TRACE_ID,
        "ConnectorDeviceId": PORCH_LIGHT,
        "StatusCode": 200,
        "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x0006", "commands": {"0x01": {}}}]},
    }
    assert up.entries.status_of(TRACE_ID) is Status.ANSWERED


def test_move_to_level_sends_set_level_in_percent(up: Connector) -> None:
    # WHEN managed integrations moves the reading lamp to level 127 of 254
    fields = {"Level": 127, "TransitionTime": 0, "OptionsMask": 0, "OptionsOverride": 0}
    outcome = up.invoke(
        SEND_COMMAND,
        traceId=TRACE_ID,
        connectorDeviceId=READING_LAMP,
        endpoints=matter_command("1", "0x0008", "0x00", fields),
    )

    # THEN SmartThings got setLevel with 50 (percent), the body compact JSON as sent
    assert outcome.code == 200
    (request,) = up.api.requests
    assert (request["method"], request["path"]) == ("POST", f"/v1/devices/{READING_LAMP}/commands")
    assert request["body"] == (
        b'{"commands":[{"component":"main","capability":"switchLevel","command":"setLevel","arguments":[50]}]}'
    )
    assert up.api.status[READING_LAMP] == {"switchLevel": {"command": "setLevel", "arguments": [50]}}
    (queued,) = up.queued()
    assert queued.event["TraceId"] == TRACE_ID
    assert queued.event["StatusCode"] == 200
    # The command answered, by its id (a response carries no fields of the command's)
    assert queued.event["MatterEndpoint"] == {
        "id": "1",
        "clusters": [{"id": "0x0008", "commands": {"0x00": {}}}],
    }


def test_the_commands_of_one_invocation_go_together_in_one_request(up: Connector) -> None:
    # WHEN managed integrations turns the reading lamp on and sets its level in one invocation
    endpoints = [
        {
            "id": "1",
            "clusters": [
                {"id": "0x0006", "commands": {"0x01": {}}},
                {"id": "0x0008", "commands": {"0x00": {"Level": 254}}},
            ],
        }
    ]
    outcome = up.invoke(SEND_COMMAND, traceId=TRACE_ID, connectorDeviceId=READING_LAMP, endpoints=endpoints)

    # THEN the profile's `together` makes them one request, in the invocation's order
    assert outcome.code == 200
    (request,) = up.api.requests
    assert json.loads(request["body"])["commands"] == [
        {"component": "main", "capability": "switch", "command": "on", "arguments": []},
        {"component": "main", "capability": "switchLevel", "command": "setLevel", "arguments": [100]},
    ]
    assert len(up.queued()) == 1


def test_a_command_the_device_cannot_take_is_refused_with_smartthings_status_and_not_queued(
    up: Connector,
) -> None:
    # WHEN managed integrations sets a level on the porch light, which has no switchLevel
    outcome = up.invoke(
        SEND_COMMAND,
        traceId=TRACE_ID,
        connectorDeviceId=PORCH_LIGHT,
        endpoints=matter_command("1", "0x0008", "0x00", {"Level": 127}),
    )

    # THEN SmartThings' 422 is the answer; nothing is queued, and the entry is released for a retry
    assert (outcome.code, outcome.reason) == (422, "device_cloud_refused")
    assert [r["status"] for r in up.api.requests] == [422]
    assert up.queued() == []
    assert up.entries.status_of(TRACE_ID) is None


# --- AWS.DiscoverDevices and the discovery worker -------------------------------------------------------


def test_discovery_reports_every_mapped_device_of_every_page_under_the_discovery_id(up: Connector) -> None:
    # GIVEN managed integrations' DiscoverDevices, answered at once with a job for the worker
    outcome = up.invoke(DISCOVER_DEVICES, deviceDiscoveryId=DISCOVERY_ID)
    assert outcome.code == 200
    assert up.api.requests == []
    assert [job.device_discovery_id for job in up.jobs.jobs] == [DISCOVERY_ID]

    # WHEN the discovery queue delivers the job to the worker
    (job,) = up.work_off_jobs()

    # THEN the user id was asked for (the token names none), and every page was followed by its next link
    assert (job.disposition, job.devices, job.filtered, job.truncated) == ("reported", 5, 1, None)
    assert asked(up.api) == [
        ("GET", "/v1/installedapps", {}),
        ("GET", "/v1/devices", {}),
        ("GET", "/devices", {"max": ["2"], "page": ["1"]}),
        ("GET", "/devices", {"max": ["2"], "page": ["2"]}),
    ]
    assert bearer(up.api) == {f"Bearer {TOKEN}"}

    # AND one DEVICE_DISCOVERY with the discovery's id carries the five devices the profile maps (the hub,
    # with none of its capabilities, left out), each with the device type and clusters it maps
    (queued,) = up.queued()
    assert (queued.connector_id, queued.webhook_id, queued.index) == (
        CONNECTOR,
        f"discovery:{DISCOVERY_ID}",
        0,
    )
    event = queued.event
    assert (event["Operation"], event["DeviceDiscoveryId"], event["UserId"], event["StatusCode"]) == (
        "DEVICE_DISCOVERY",
        DISCOVERY_ID,
        INSTALLED_APP_ID,
        200,
    )
    reported = {device["ConnectorDeviceId"]: device for device in event["Devices"]}
    assert list(reported) == [d["deviceId"] for d in DEVICES]
    assert {d: reported[d]["ConnectorDeviceName"] for d in reported} == {
        d["deviceId"]: d["label"] for d in DEVICES
    }
    assert {d: endpoint_of(reported[d]) for d in reported} == {
        DEVICES[0]["deviceId"]: reported_as("OnOffPlugInUnit", "OnOff"),
        DEVICES[1]["deviceId"]: reported_as("ColorTemperatureLight", "OnOff", "LevelControl", "ColorControl"),
        DEVICES[2]["deviceId"]: reported_as("DoorLock", "DoorLock", "PowerSource"),
        DEVICES[3]["deviceId"]: reported_as("OccupancySensor", "OccupancySensing", "PowerSource"),
        DEVICES[4]["deviceId"]: reported_as("TemperatureSensor", "TemperatureMeasurement"),
    }

    # AND the discovery is marked answered, with the count of its devices
    assert up.entries.status_of(DISCOVERY_ID) is Status.ANSWERED
    assert up.entries.discoveries == {(CONNECTOR, DISCOVERY_ID): (5, None)}
    assert up.dead_letters.bodies == []


def endpoint_of(device: dict[str, Any]) -> tuple[str, list[str], list[int]]:
    """A discovered device's one endpoint: its id, the device types its capability report names, and the
    ids of its clusters."""
    (endpoint,) = device["CapabilityReport"]["endpoints"]
    return endpoint["id"], endpoint["deviceTypes"], [matter.parse_id(c["id"]) for c in endpoint["clusters"]]


def reported_as(device_type: str, *clusters: str) -> tuple[str, list[str], list[int]]:
    """Endpoint 1 of the device type the profile maps, with its clusters (the type's own, then those the
    profile adds for the device's other capabilities), by the Matter catalogue."""
    return "1", [matter.device_type(device_type).hex_id], [matter.cluster(name).id for name in clusters]
