"""The discovery worker: a job from the discovery queue, the device cloud's pages fetched from a real HTTP
server on loopback through the profile's `outbound` block (RestCalls), each native device mapped by the
inbound engine, and DEVICE_DISCOVERY events queued; failures retried by SQS or dead-lettered. The event
queue, the correlation table and the dead-letter queue are in-memory fakes that keep state as the services
do (the FIFO queue drops a duplicate deduplication id; the table marks an entry answered once)."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from iotbridge.connector.discovery import (
    MAX_DEVICES_PER_EVENT,
    DiscoveryBatchOutcome,
    DiscoveryWorker,
    JobDelivery,
    job_message,
)
from iotbridge.connector.edge import dispatch, internal_failure
from iotbridge.connector.outbound import OutboundExchanges
from iotbridge.connector.ports import DiscoveryJob, JobCredential, UnusableCredentialError
from iotbridge.connector.rest import RestCalls, template_context
from iotbridge.correlation.model import DISCOVERY, AnswerMatch
from iotbridge.errors import DependencyUnavailableError
from iotbridge.profile.document import ConnectorProfile, parse_profile
from iotbridge.send_connector_event.queued import QueuedEvent
from loopback import LoopbackHandler, LoopbackServer

CONNECTOR = "switchbot-home"
DISCOVERY_ID = "358275hbk3qr"
USER = "user-7f3a"
SECRET_ARN = (
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:iot-bridge/authorization/switchbot-home/k-Ab12"
)


def jwt(claims: dict[str, Any]) -> str:
    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


TOKEN = jwt({"sub": USER})


# --- the device cloud -----------------------------------------------------------------------------------


@dataclass
class Cloud:
    """The device cloud's device list, served in pages of `page_size`: the next page named by a token
    (`?pageToken=`) or, `by_url`, by its whole URL. `statuses` are answered, in turn, before any page;
    `advance` moves the test's clock on each request (a slow cloud)."""

    devices: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 40
    by_url: bool = False
    statuses: list[int] = field(default_factory=list)
    me: dict[str, Any] = field(default_factory=lambda: {"id": "cloud-user-1"})
    seconds_per_request: float = 0.0
    clock: Clock | None = None
    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        parts = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        with self.lock:
            self.requests.append({"path": parts.path, "query": query, "headers": headers})
            if self.clock is not None:
                self.clock.now += self.seconds_per_request
            if self.statuses:
                status = self.statuses.pop(0)
                return status, {"message": "not now"}
        if parts.path == "/v1/me":
            return 200, self.me
        start = int(query.get("pageToken") or query.get("page") or 0)
        page = self.devices[start : start + self.page_size]
        following = start + self.page_size if start + self.page_size < len(self.devices) else None
        body: dict[str, Any] = {"statusCode": 100, "body": {"deviceList": page}}
        if following is not None and self.by_url:
            body["links"] = {"next": f"{self.base_url}/v1/devices?page={following}"}
        elif following is not None:
            body["nextPageToken"] = str(following)
        return 200, body

    def pages_asked(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == "/v1/devices"]


class _Handler(LoopbackHandler):
    server: Any

    def do_GET(self) -> None:
        cloud: Cloud = self.server.cloud
        status, body = cloud.answer(self.path, {k.lower(): v for k, v in self.headers.items()})
        self.answer(status, json.dumps(body).encode(), [("Content-Type", "application/json")])

    def log_message(self, *_: Any) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):
            super().handle()


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    server = LoopbackServer(_Handler)
    state = Cloud()
    server.cloud = state  # type: ignore[attr-defined]
    with server:
        state.base_url = server.url
        yield state


# --- the profile ----------------------------------------------------------------------------------------


def profile_document(base_url: str, **discover: Any) -> dict[str, Any]:
    discover_devices: dict[str, Any] = {
        "request": {"path": "/v1/devices"},
        "devices": "body.body.deviceList",
        "nextPage": {"token": "body.nextPageToken", "query": "pageToken"},
        "device": {"connectorDeviceId": "device.id", "name": "device.name", "deviceType": "OnOffLight"},
        "when": "device.hidden != `true`",
        **discover,
    }
    return {
        "version": 1,
        "verification": {"scheme": "hmac", "signatureHeader": "X-Signature"},
        "deduplication": {"digest": True},
        "rules": [
            {
                "name": "state",
                "operation": "DEVICE_EVENT",
                "members": {"ConnectorDeviceId": "event.id"},
                "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
            }
        ],
        "outbound": {
            "baseUrl": base_url,
            "auth": {"type": "bearer"},
            "userIdClaim": "sub",
            "activateUser": {"request": {"path": "/v1/me"}, "userId": "body.id"},
            "discoverDevices": discover_devices,
            "sendCommand": {
                "request": {
                    "method": "POST",
                    "path": "/v1/devices/{device.id}/commands",
                    "body": "{command}",
                },
                "commands": [{"name": "on", "command": "OnOff.On", "body": {"command": "turnOn"}}],
                "answer": {"mode": "sync"},
            },
        },
    }


def devices(count: int, prefix: str = "plug") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}-{n:04d}", "name": f"Plug {n}"} for n in range(count)]


# --- the services, in memory ----------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1_795_430_400.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Seconds:
    def __init__(self, seconds: float = 9.5) -> None:
        self.seconds = seconds

    def remaining_seconds(self) -> float:
        return self.seconds


class FifoEventQueue:
    """The relay's FIFO queue: a message whose deduplication id it has seen is accepted and dropped."""

    def __init__(self) -> None:
        self.events: list[QueuedEvent] = []
        self.seen: set[str] = set()
        self.failure: BaseException | None = None

    def enqueue(self, events: Sequence[QueuedEvent]) -> None:
        if self.failure is not None:
            raise self.failure
        for event in events:
            if event.deduplication_id not in self.seen:
                self.seen.add(event.deduplication_id)
                self.events.append(event)

    def devices(self) -> list[dict[str, Any]]:
        return [device for event in self.events for device in event.event["Devices"]]


@dataclass
class Entry:
    status: str = "PENDING"
    devices: int | None = None
    failure: str | None = None


class CorrelationEntries:
    """The correlation table's discovery entries: answered once (then REPEATED); the fetch's outcome
    recorded only on an entry that exists."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Entry] = {(CONNECTOR, DISCOVERY_ID): Entry()}
        self.failure: BaseException | None = None

    def is_answered(self, kind: str, connector_id: str, request_id: str) -> bool:
        assert kind == DISCOVERY
        if self.failure is not None:
            raise self.failure
        entry = self.entries.get((connector_id, request_id))
        return entry is not None and entry.status == "ANSWERED"

    def answered(self, kind: str, connector_id: str, request_id: str) -> AnswerMatch:
        entry = self.entries.get((connector_id, request_id))
        if entry is None:
            return AnswerMatch.UNMATCHED
        if entry.status == "ANSWERED":
            return AnswerMatch.REPEATED
        entry.status = "ANSWERED"
        return AnswerMatch.ANSWERED

    def record_discovery(
        self, connector_id: str, discovery_id: str, *, devices: int | None, failure: str | None
    ) -> bool:
        entry = self.entries.get((connector_id, discovery_id))
        if entry is None:
            return False
        entry.devices, entry.failure = (None, failure) if failure is not None else (devices or 0, None)
        return True


class DeadLetterQueue:
    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.broken = False

    def put(self, body: str) -> None:
        if self.broken:
            raise DependencyUnavailableError("discovery_dead_letter_queue")
        self.bodies.append(body)

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.bodies]


class Profiles:
    def __init__(self, profiles: dict[str, ConnectorProfile]) -> None:
        self.profiles = profiles

    def profile_for(self, connector_id: str) -> ConnectorProfile | None:
        return self.profiles.get(connector_id)


class Authorizations:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.reads: list[str] = []

    def secret_for(self, connector_id: str, arn: str, version_id: str | None) -> str:
        self.reads.append(arn)
        if arn not in self.secrets:
            raise UnusableCredentialError("unreadable")
        return self.secrets[arn]


@dataclass
class World:
    cloud: Cloud
    clock: Clock = field(default_factory=Clock)
    timer: Clock = field(default_factory=lambda: Clock(100.0))
    events: FifoEventQueue = field(default_factory=FifoEventQueue)
    records: CorrelationEntries = field(default_factory=CorrelationEntries)
    dead_letters: DeadLetterQueue = field(default_factory=DeadLetterQueue)
    authorizations: Authorizations = field(default_factory=lambda: Authorizations({}))
    document: dict[str, Any] = field(default_factory=dict)
    fetch_seconds: float = 8.0

    def discover(self, **members: Any) -> None:
        """Change the profile's discoverDevices block."""
        self.document["outbound"]["discoverDevices"].update(members)

    def worker(self) -> DiscoveryWorker:
        profile = parse_profile(self.document)
        exchanges = OutboundExchanges(allow_loopback=True, max_answer_bytes=1024 * 1024)
        return DiscoveryWorker(
            profiles=Profiles({CONNECTOR: profile}),
            authorizations=self.authorizations,
            calls_for=lambda outbound: RestCalls(outbound, exchanges, allow_loopback=True),
            template_context=template_context,
            events=self.events,
            records=self.records,
            dead_letters=self.dead_letters,
            max_receive_count=5,
            fetch_seconds=self.fetch_seconds,
            device_cloud_seconds=1.0,
            clock=self.clock,
            timer=self.timer,
        )

    def run(self, *bodies: str, receive_count: int = 1) -> DiscoveryBatchOutcome:
        deliveries = [
            JobDelivery(f"message-{n}", body, receive_count) for n, body in enumerate(bodies or [job_body()])
        ]
        return self.worker().run(deliveries, Seconds())


@pytest.fixture
def world(cloud: Cloud) -> World:
    return World(cloud=cloud, document=profile_document(cloud.base_url))


def job(**changes: Any) -> DiscoveryJob:
    members: dict[str, Any] = {
        "connector_id": CONNECTOR,
        "device_discovery_id": DISCOVERY_ID,
        "user_id": None,
        "credential": JobCredential.oauth(TOKEN),
        "payload": {"connectorId": CONNECTOR, "deviceDiscoveryId": DISCOVERY_ID},
        "requested_at": 1_795_430_399.5,
        **changes,
    }
    return DiscoveryJob(**members)


def job_body(**changes: Any) -> str:
    return json.dumps(job_message(job(**changes)))


def measured(outcome: DiscoveryBatchOutcome) -> dict[str, float]:
    found: dict[str, float] = {}
    for m in outcome.all_measurements():
        found[m.name] = found.get(m.name, 0) + m.value
    return found


# --- fetching and reporting -----------------------------------------------------------------------------


def test_every_page_is_fetched_and_the_devices_are_reported_fifty_an_event(world: World) -> None:
    world.cloud.devices = devices(120)

    outcome = world.run()

    assert outcome.response() == {"batchItemFailures": []}
    pages = world.cloud.pages_asked()
    assert [p["query"].get("pageToken") for p in pages] == [None, "40", "80"]
    assert all(p["headers"]["authorization"] == f"Bearer {TOKEN}" for p in pages)
    assert [len(e.event["Devices"]) for e in world.events.events] == [50, 50, 20]
    for index, queued in enumerate(world.events.events):
        assert queued.connector_id == CONNECTOR
        assert (queued.webhook_id, queued.index) == (f"discovery:{DISCOVERY_ID}", index)
        assert {k: v for k, v in queued.event.items() if k != "Devices"} == {
            "Operation": "DEVICE_DISCOVERY",
            "OperationVersion": "1.0",
            "StatusCode": 200,
            "DeviceDiscoveryId": DISCOVERY_ID,
            "UserId": USER,
        }
    reported = world.events.devices()
    assert [d["ConnectorDeviceId"] for d in reported] == [f"plug-{n:04d}" for n in range(120)]
    assert reported[0]["ConnectorDeviceName"] == "Plug 0"
    assert reported[0]["CapabilityReport"]["endpoints"][0]["id"] == "1"
    assert world.records.entries[(CONNECTOR, DISCOVERY_ID)] == Entry("ANSWERED", devices=120)
    assert measured(outcome) == {
        "DiscoveriesFetched": 1,
        "DiscoveredDevices": 120,
        "DiscoveryDevicesSkipped": 0,
        "DiscoveriesAnswered": 1,
    }


def test_events_never_carry_more_than_fifty_devices(world: World) -> None:
    world.cloud.devices = devices(MAX_DEVICES_PER_EVENT * 3 + 1)
    world.cloud.page_size = 500

    world.run()

    assert [len(e.event["Devices"]) for e in world.events.events] == [50, 50, 50, 1]


def test_the_next_page_may_be_named_by_its_url(world: World) -> None:
    world.cloud.devices = devices(90)
    world.cloud.by_url = True
    world.discover(nextPage={"url": "body.links.next"})

    world.run()

    assert [p["query"].get("page") for p in world.cloud.pages_asked()] == [None, "40", "80"]
    assert len(world.events.devices()) == 90


def test_the_listing_stops_at_max_pages_and_reports_what_it_found(world: World) -> None:
    world.cloud.devices = devices(200)
    world.discover(maxPages=2)

    outcome = world.run()

    assert len(world.cloud.pages_asked()) == 2
    assert len(world.events.devices()) == 80
    assert outcome.jobs[0].truncated == "max_pages"
    assert measured(outcome)["DiscoveriesTruncated"] == 1


def test_the_listing_stops_at_max_devices(world: World) -> None:
    world.cloud.devices = devices(200)
    world.discover(maxDevices=70)

    outcome = world.run()

    assert len(world.cloud.pages_asked()) == 2
    assert len(world.events.devices()) == 70
    assert outcome.jobs[0].truncated == "max_devices"


def test_the_listing_stops_when_its_wall_clock_time_is_spent(world: World) -> None:
    world.cloud.devices = devices(400)
    world.cloud.clock, world.cloud.seconds_per_request = world.timer, 1.0
    world.fetch_seconds = 3.5

    outcome = world.run()

    # Requests start at 0, 1, 2 and 3 s (0.5 s left for the fourth); none at 4 s.
    assert len(world.cloud.pages_asked()) == 4
    assert len(world.events.devices()) == 160
    assert outcome.jobs[0].truncated == "time"


def test_devices_that_cannot_be_mapped_are_skipped_and_counted_and_filtered_ones_left_out(
    world: World,
) -> None:
    world.cloud.devices = [
        {"id": "plug-1", "name": "Kitchen"},
        {"name": "no id"},
        {"id": "plug-2", "name": "Hall", "hidden": True},
        {"id": "plug-1", "name": "Kitchen again"},
        {"id": "plug-3", "name": "***"},
    ]

    outcome = world.run()

    reported = world.events.devices()
    assert [d["ConnectorDeviceId"] for d in reported] == ["plug-1", "plug-3"]
    # A name SendConnectorEvent does not take is left out, not the device.
    assert "ConnectorDeviceName" not in reported[1]
    assert measured(outcome)["DiscoveryDevicesSkipped"] == 1
    assert outcome.jobs[0].skipped == 1


def test_a_cloud_with_no_devices_is_reported_by_one_event_with_none(world: World) -> None:
    outcome = world.run()

    [queued] = world.events.events
    assert queued.event["Devices"] == []
    assert queued.event["DeviceDiscoveryId"] == DISCOVERY_ID
    assert world.records.entries[(CONNECTOR, DISCOVERY_ID)] == Entry("ANSWERED", devices=0)
    assert measured(outcome)["DiscoveredDevices"] == 0


def test_the_user_id_the_job_carries_is_reported(world: World) -> None:
    world.run(job_body(user_id="given-user"))

    assert world.events.events[0].event["UserId"] == "given-user"


def test_without_a_claim_the_user_id_comes_from_the_activate_user_request(world: World) -> None:
    world.run(job_body(credential=JobCredential.oauth("opaque-token")))

    assert world.cloud.requests[0]["path"] == "/v1/me"
    assert world.events.events[0].event["UserId"] == "cloud-user-1"


def test_the_device_list_may_name_the_user(world: World) -> None:
    world.cloud.devices = devices(3)
    world.discover(userId="body.statusCode")

    world.run(job_body(credential=JobCredential.oauth("opaque-token")))

    assert [r["path"] for r in world.cloud.requests] == ["/v1/devices"]
    assert world.events.events[0].event["UserId"] == "100"


def test_a_general_authorization_secret_is_read_again_and_fills_the_templates(world: World) -> None:
    world.document["outbound"]["auth"] = {"type": "headers"}
    world.document["outbound"]["headers"] = {"x-api-key": "{secret.apiKey}"}
    world.authorizations.secrets[SECRET_ARN] = json.dumps({"apiKey": "key-51", "userId": "secret-user"})
    world.cloud.devices = devices(2)

    world.run(job_body(credential=JobCredential.general_authorization(SECRET_ARN, None)))

    assert world.authorizations.reads == [SECRET_ARN]
    assert world.cloud.pages_asked()[0]["headers"]["x-api-key"] == "key-51"
    assert world.events.events[0].event["UserId"] == "secret-user"


# --- failures -------------------------------------------------------------------------------------------


def test_a_cloud_that_says_not_now_leaves_the_job_for_another_delivery(world: World) -> None:
    world.cloud.statuses = [429]

    outcome = world.run()

    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert outcome.jobs[0].reason == "device_cloud_status_429"
    assert world.events.events == [] and world.dead_letters.bodies == []
    assert measured(outcome) == {"DiscoveryJobsRetried": 1}


@pytest.mark.parametrize("status", [500, 503])
def test_on_its_last_delivery_a_failing_job_is_dead_lettered_without_its_token(
    world: World, status: int
) -> None:
    world.cloud.statuses = [status]

    outcome = world.run(receive_count=5)

    assert outcome.response() == {"batchItemFailures": []}
    [message] = world.dead_letters.messages()
    assert TOKEN not in world.dead_letters.bodies[0]
    assert "credential" not in message
    assert message["reason"] == "device_cloud_status_5xx"
    assert message["receiveCount"] == 5
    assert message["failedAt"] == world.clock.now
    assert (message["connectorId"], message["deviceDiscoveryId"]) == (CONNECTOR, DISCOVERY_ID)
    assert world.records.entries[(CONNECTOR, DISCOVERY_ID)] == Entry(
        "PENDING", failure="device_cloud_status_5xx"
    )
    assert measured(outcome) == {"DiscoveryJobsDeadLettered": 1}


def test_a_refusal_dead_letters_the_job_at_once(world: World) -> None:
    world.cloud.statuses = [401]

    outcome = world.run(receive_count=1)

    assert outcome.response() == {"batchItemFailures": []}
    assert world.dead_letters.messages()[0]["reason"] == "device_cloud_status_401"
    assert outcome.jobs[0].disposition == "dead_lettered"


def test_a_job_that_cannot_be_dead_lettered_is_left_on_the_queue(world: World) -> None:
    world.cloud.statuses = [401]
    world.dead_letters.broken = True

    outcome = world.run()

    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert outcome.jobs[0].disposition == "dead_letter_failed"
    assert world.records.entries[(CONNECTOR, DISCOVERY_ID)].failure is None


def test_an_event_queue_that_is_unavailable_is_retried(world: World) -> None:
    world.events.failure = DependencyUnavailableError("queue")

    outcome = world.run()

    assert outcome.jobs[0].reason == "unavailable_queue"
    assert outcome.response()["batchItemFailures"] == [{"itemIdentifier": "message-0"}]
    assert world.records.entries[(CONNECTOR, DISCOVERY_ID)].status == "PENDING"


def test_a_discovery_already_answered_is_not_fetched_again(world: World) -> None:
    world.cloud.devices = devices(3)
    world.run()
    asked = len(world.cloud.requests)

    again = world.run(receive_count=2)

    assert len(world.cloud.requests) == asked
    assert again.response() == {"batchItemFailures": []}
    assert again.jobs[0].disposition == "repeated"
    assert len(world.events.events) == 1


def test_a_job_tried_again_queues_the_same_events_which_the_fifo_queue_drops(world: World) -> None:
    world.cloud.devices = devices(60)
    world.run()
    world.records.entries[(CONNECTOR, DISCOVERY_ID)].status = "PENDING"  # as if the mark had failed

    world.run(receive_count=2)

    assert len(world.events.events) == 2
    assert len(world.cloud.pages_asked()) == 4


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"kind": "discovery"}),
        job_body().replace(DISCOVERY_ID, ""),
        json.dumps({**json.loads(job_body()), "credential": {"type": "Basic", "token": "x"}}),
    ],
)
def test_a_malformed_job_is_dead_lettered_never_raised(world: World, body: str) -> None:
    outcome = world.run(body)

    assert outcome.jobs[0].disposition == "dead_lettered"
    assert world.dead_letters.messages()[0]["reason"] == "malformed_job"
    assert world.cloud.requests == []


def test_a_connector_without_outbound_is_dead_lettered_at_once(world: World) -> None:
    del world.document["outbound"]

    outcome = world.run()

    assert world.dead_letters.messages()[0]["reason"] == "no_outbound"
    assert outcome.response() == {"batchItemFailures": []}


def test_a_secret_that_cannot_be_read_is_dead_lettered_at_once(world: World) -> None:
    outcome = world.run(job_body(credential=JobCredential.general_authorization(SECRET_ARN, "v1")))

    assert world.dead_letters.messages()[0]["reason"] == "credential_unreadable"
    assert SECRET_ARN not in json.dumps(world.dead_letters.messages()[0])
    assert outcome.jobs[0].disposition == "dead_lettered"


def test_a_profile_that_rejects_unmappable_devices_fails_the_job(world: World) -> None:
    world.discover(onError="reject")
    world.cloud.devices = [{"name": "no id"}]

    world.run()

    assert world.dead_letters.messages()[0]["reason"] == "unmappable_devices"


# --- the Lambda edge ------------------------------------------------------------------------------------


# Discovery jobs never reach managed integrations' operations.
NO_OPERATIONS: Any = None


def sqs_event(*bodies: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{n}",
                "receiptHandle": "handle",
                "body": body,
                "attributes": {"ApproximateReceiveCount": str(receive_count)},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:DiscoveryQueue",
                "awsRegion": "us-east-1",
            }
            for n, body in enumerate(bodies)
        ]
    }


def test_the_edge_hands_sqs_records_to_the_worker_and_answers_with_batch_item_failures(world: World) -> None:
    world.cloud.statuses = [503]

    outcome = dispatch(sqs_event(job_body()), NO_OPERATIONS, Seconds(), 1.5, discovery=world.worker())

    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}


def test_jobs_delivered_to_a_function_that_cannot_work_are_left_on_the_queue() -> None:
    event = sqs_event("a", "b")

    assert internal_failure(event).response() == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}]
    }
    assert internal_failure({"sweep": "correlation"}).response()["header"] == {"responseCode": 500}


def test_a_deployment_without_the_worker_leaves_jobs_on_the_queue() -> None:
    outcome = dispatch(sqs_event("a"), NO_OPERATIONS, Seconds(), 1.5)

    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}


def test_the_job_message_round_trips_without_losing_a_member() -> None:
    from iotbridge.connector.discovery import parse_job

    original = job(user_id="u-1", credential=JobCredential.general_authorization(SECRET_ARN, "v-2"))

    assert parse_job(json.dumps(job_message(original))) == original


# --- the handler ----------------------------------------------------------------------------------------


def handler_wiring(world: World) -> Any:
    from fakes.connector import ConnectorFakes
    from iotbridge.composition import BuiltAtInit
    from iotbridge.connector.settings import ConnectorSettings
    from iotbridge.connector.wiring import ConnectorWiring

    settings = ConnectorSettings(correlation_table="CorrelationTable", user_table="ConnectorUserTable")
    built = ConnectorWiring(
        settings=settings, operations=ConnectorFakes().operations(), discovery=world.worker()
    )
    return BuiltAtInit.fixed(built)


def test_the_handler_works_off_a_job_and_logs_no_token_user_or_device(
    world: World, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import connector
    from fakes.lambda_context import FakeLambdaContext
    from fakes.log_capture import captured_logs

    world.cloud.devices = devices(3, prefix="secret-device")
    monkeypatch.setattr(connector, "wiring", handler_wiring(world))
    event = sqs_event(job_body(), job_body(connector_id="other-connector"))

    with captured_logs(capfd, [connector.logger], [TOKEN, USER, "secret-device"]) as logs:
        answered = connector.lambda_handler(event, FakeLambdaContext(remaining_millis=9_500))
        text = logs.assert_nothing_sensitive()

    # The second job's connector has no profile: dead-lettered, so both are acknowledged.
    assert answered == {"batchItemFailures": []}
    assert len(world.events.devices()) == 3
    assert world.dead_letters.messages()[0]["reason"] == "no_outbound"
    assert "DiscoveredDevices" in text and "DiscoveryJobsDeadLettered" in text
    reported = [line for line in logs.structured() if line.get("message") == "discovery reported"]
    assert reported[0]["request_id"] == DISCOVERY_ID and reported[0]["devices"] == 3


def test_the_handler_leaves_jobs_on_the_queue_when_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import connector
    from fakes.lambda_context import FakeLambdaContext
    from iotbridge.composition import BuiltAtInit
    from iotbridge.settings import SettingsError

    def unusable() -> Any:
        raise SettingsError([])

    monkeypatch.setattr(connector, "wiring", BuiltAtInit(unusable))

    answered = connector.lambda_handler(sqs_event("job"), FakeLambdaContext())

    assert answered == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}


def test_a_malformed_job_s_credential_is_not_kept_either(world: World) -> None:
    body = json.dumps({**json.loads(job_body()), "requestedAt": "yesterday"})

    world.run(body)

    [message] = world.dead_letters.messages()
    assert TOKEN not in world.dead_letters.bodies[0]
    assert message["reason"] == "malformed_job" and message["deviceDiscoveryId"] == DISCOVERY_ID


# --- a real cloud's profile -----------------------------------------------------------------------------


def test_nuki_s_smartlocks_are_discovered_with_its_profile_from_its_web_api() -> None:
    from pathlib import Path

    from bridge_local.rest_clouds import NUKI_ACCOUNT, NUKI_SMARTLOCKS, NUKI_TOKEN, NukiWebApi

    document = json.loads((Path(__file__).resolve().parents[3] / "events/profiles/nuki.json").read_text())
    with NukiWebApi() as nuki:
        document["outbound"]["baseUrl"] = nuki.url
        world = World(cloud=Cloud(), document=document)
        nuki_job = job_body(connector_id=CONNECTOR, credential=JobCredential.oauth(NUKI_TOKEN))

        outcome = world.run(nuki_job)

    assert outcome.response() == {"batchItemFailures": []}
    [queued] = world.events.events
    assert queued.event["UserId"] == str(NUKI_ACCOUNT["accountId"])
    # The profile's `when` keeps smart locks (types 0, 3, 4, 5): the opener (type 2) is left out.
    kept = [lock for lock in NUKI_SMARTLOCKS if lock["type"] in (0, 3, 4, 5)]
    assert [d["ConnectorDeviceId"] for d in queued.event["Devices"]] == [str(s["smartlockId"]) for s in kept]
    assert outcome.jobs[0].filtered == len(NUKI_SMARTLOCKS) - len(kept)


def test_smartthings_devices_are_discovered_following_its_next_page_links() -> None:
    from pathlib import Path

    from fakes.smartthings_api import DEVICES, INSTALLED_APP_ID, SmartThingsApi
    from fakes.smartthings_api import TOKEN as ST_TOKEN

    document = json.loads(
        (Path(__file__).resolve().parents[3] / "events/profiles/smartthings.json").read_text()
    )
    with SmartThingsApi(page_size=2) as smartthings:
        document["outbound"]["baseUrl"] = smartthings.url
        world = World(cloud=Cloud(), document=document)

        outcome = world.run(job_body(credential=JobCredential.oauth(ST_TOKEN)))
        paths = [(r["path"], r["query"].get("page")) for r in smartthings.requests]

    assert outcome.response() == {"batchItemFailures": []}
    # The user id first (the installed app's id), then the three pages of the device list.
    assert paths[0][0] == "/v1/installedapps"
    assert len([p for p in paths if p[0].endswith("/devices")]) == 3
    [queued] = world.events.events
    assert queued.event["UserId"] == INSTALLED_APP_ID
    assert [d["ConnectorDeviceId"] for d in queued.event["Devices"]] == [d["deviceId"] for d in DEVICES]
