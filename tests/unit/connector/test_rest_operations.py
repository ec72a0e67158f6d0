"""Managed integrations' operations answered by the connector's domain over a REST device cloud: a profile
with `outbound` read from (in-memory) SSM, its cloud a real HTTP server on loopback, the relay's FIFO queue,
the correlation table and Secrets Manager in memory.

A command a `sync` cloud answers at once is queued as a DEVICE_COMMAND_RESPONSE with the command's TraceId
and marked answered; an `async` cloud's own id of the command is recorded; a retried invocation asks the
cloud once; a discovery becomes a job for the worker, the cloud not asked; a General Authorization secret
outside the profile's ARN patterns is refused before it is read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from fakes.aws import InMemorySecretsManager, InMemorySqs
from fakes.connector import CONNECTOR, InMemoryPendingRequests, InMemoryUserDirectory, SteppingClock, jwt
from iot_standin.caller import envelope, general_authorization, matter_command, oauth
from iotbridge.connector.adapters import SecretsManagerAuthorizations, WebhookDeviceClouds
from iotbridge.connector.domain.invocations import ConnectorOperations, InvocationOutcome
from iotbridge.connector.domain.requests import (
    ACTIVATE_USER,
    DISCOVER_DEVICES,
    SEND_COMMAND,
    parse_invocation,
)
from iotbridge.connector.outbound import OutboundExchanges
from iotbridge.connector.ports import DiscoveryJob
from iotbridge.correlation.model import Status
from iotbridge.registry.profiles import SsmConnectorProfiles
from iotbridge.registry.secrets import SecretsManagerSigningKeys
from iotbridge.send_connector_event.queue import SqsFifoEventQueue
from iotbridge.send_connector_event.queued import QueuedEvent
from loopback import LoopbackHandler, LoopbackServer

PREFIX = "/iot-bridge/profiles/"
GROUP_KEY = b"k" * 40
TRACE_ID = "9b75f3839b6140f=_1"
DEVICE = "C47C8D6A2B11"
ACCOUNT = "111122223333"
ALLOWED_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:switchbot/home-Ab12Cd"
OTHER_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:nuki/home-Ab12Cd"
USER = "sb-acct-2291"
TOKEN = jwt({"sub": USER})


class Seconds:
    """A budget with a fixed time left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def remaining_seconds(self) -> float:
        return self.seconds


PLENTY = Seconds(1.5)


@dataclass
class Cloud:
    """What the REST cloud answers, and every request it got."""

    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


class _Handler(LoopbackHandler):
    server: Any

    def _any(self) -> None:
        cloud: Cloud = self.server.cloud
        cloud.requests.append(
            {
                "line": self.requestline,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": self.read_body(),
            }
        )
        status, body = cloud.answers.pop(0) if cloud.answers else (200, {"statusCode": 100})
        self.answer(status, json.dumps(body).encode(), [("Content-Type", "application/json")])

    do_GET = do_POST = _any

    def log_message(self, *_: Any) -> None:
        pass


def profile(base_url: str, **outbound: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "verification": {"scheme": "path-token"},
        "deduplication": {"digest": True},
        "rules": [
            {
                "name": "power",
                "operation": "DEVICE_EVENT",
                "members": {"ConnectorDeviceId": "event.deviceMac"},
                "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.power == 'on'"}]},
            }
        ],
        "generalAuthorization": {"secretArns": [f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:switchbot/*"]},
        "outbound": {
            "baseUrl": base_url,
            "headers": {"Authorization": "{secret.token || token}"},
            "auth": {"type": "headers"},
            "userIdClaim": "sub",
            "discoverDevices": {
                "request": {"path": "/v1.1/devices"},
                "devices": "body.body.deviceList",
                "device": {"connectorDeviceId": "device.deviceId", "deviceType": "OnOffPlugInUnit"},
            },
            "sendCommand": {
                "request": {
                    "method": "POST",
                    "path": "/v1.1/devices/{device.id}/commands",
                    "body": "{command}",
                },
                "commands": [
                    {
                        "name": "on",
                        "command": "OnOff.On",
                        "body": {"command": "turnOn", "parameter": "default"},
                        "response": {"set": [{"attribute": "OnOff.OnOff", "value": True}]},
                    },
                    {"name": "off", "command": "OnOff.Off", "body": {"command": "turnOff"}},
                ],
                "answer": {
                    "mode": "sync",
                    "success": "body.statusCode == `100`",
                    "failureStatus": 503,
                    "message": "body.message",
                },
            },
            **outbound,
        },
    }


class RecordedJobs:
    def __init__(self) -> None:
        self.jobs: list[DiscoveryJob] = []

    def submit(self, job: DiscoveryJob) -> None:
        self.jobs.append(job)


@dataclass
class Stack:
    cloud: Cloud
    sqs: InMemorySqs
    pending: InMemoryPendingRequests
    secrets: InMemorySecretsManager
    jobs: RecordedJobs
    operations: ConnectorOperations

    def queued(self) -> list[QueuedEvent]:
        return [QueuedEvent.from_message_body(body) for body in self.sqs.bodies]


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(_Handler) as running:
        running.cloud = Cloud()  # type: ignore[attr-defined]
        yield running


def stack(server: LoopbackServer, *, event_queue: bool = True, **outbound: Any) -> Stack:
    clock = SteppingClock()
    ssm_profiles = SsmConnectorProfiles(
        _Ssm({f"{PREFIX}{CONNECTOR}": json.dumps(profile(server.url, **outbound))}),
        prefix=PREFIX,
        max_age_seconds=300,
    )
    secrets = _Secrets(
        {ALLOWED_ARN: json.dumps({"token": "sb-open-token", "userId": "sb-user-1"}), OTHER_ARN: "{}"}
    )
    sqs = InMemorySqs()
    jobs = RecordedJobs()
    pending = InMemoryPendingRequests(clock=clock)
    clouds = WebhookDeviceClouds(
        ssm_profiles,
        SecretsManagerSigningKeys(InMemorySecretsManager({}), prefix="x/", max_age_seconds=300),
        exchanges=OutboundExchanges(allow_loopback=True),
        allow_loopback=True,
        jobs=jobs,
        queues_answers=event_queue,
    )

    def scope(connector_id: str) -> Any:
        found = ssm_profiles.profile_for(connector_id)
        return found.general_authorization if found is not None else None

    operations = ConnectorOperations(
        device_clouds=clouds,
        requests=pending,
        users=InMemoryUserDirectory(),
        authorizations=SecretsManagerAuthorizations(
            secrets, scopes=scope, prefix="iot-bridge/authorization/", max_age_seconds=300
        ),
        clock=clock,
        events=SqsFifoEventQueue(sqs, "https://sqs.example/events.fifo", group_key=GROUP_KEY)
        if event_queue
        else None,
    )
    return Stack(server.cloud, sqs, pending, secrets, jobs, operations)  # type: ignore[attr-defined]


class _Secrets(InMemorySecretsManager):
    """Secrets by ARN, whatever version is named."""

    def get_secret_value(self, SecretId: str, VersionId: str | None = None) -> dict[str, Any]:
        return super().get_secret_value(SecretId)


class _Ssm:
    def __init__(self, parameters: dict[str, str]) -> None:
        self.parameters = parameters

    def get_parameter(self, Name: str) -> dict[str, Any]:
        return {"Parameter": {"Name": Name, "Type": "String", "Value": self.parameters[Name]}}


def invoke(
    operations: ConnectorOperations, operation: str, auth: dict[str, Any] | None = None, **members: Any
) -> InvocationOutcome:
    event = envelope(operation, CONNECTOR, auth or oauth(TOKEN), **members)
    return operations.handle(parse_invocation(event), PLENTY)


def turn_on(operations: ConnectorOperations, **auth: Any) -> InvocationOutcome:
    return invoke(
        operations,
        SEND_COMMAND,
        traceId=TRACE_ID,
        connectorDeviceId=DEVICE,
        endpoints=matter_command("1", "0x0006", "0x01"),
        **auth,
    )


def measured(outcome: InvocationOutcome) -> dict[str, float]:
    return {m.name: m.value for m in outcome.all_measurements()}


# --- AWS.SendCommand --------------------------------------------------------------------------------------


def test_a_sync_command_queues_its_response_with_the_same_trace_id_and_is_marked_answered(
    server: LoopbackServer,
) -> None:
    # GIVEN a cloud that answers commands at once
    up = stack(server)
    up.cloud.answers.append((200, {"statusCode": 100, "message": "success", "body": {}}))

    # WHEN managed integrations turns the plug on
    outcome = turn_on(up.operations)

    # THEN the cloud got the profile's request, and the response is on the relay's queue
    assert outcome.code == 200
    assert [r["line"] for r in up.cloud.requests] == [f"POST /v1.1/devices/{DEVICE}/commands HTTP/1.1"]
    assert up.cloud.requests[0]["body"] == b'{"command":"turnOn","parameter":"default"}'
    assert up.cloud.requests[0]["headers"]["authorization"] == TOKEN
    (queued,) = up.queued()
    assert (queued.connector_id, queued.webhook_id, queued.index) == (CONNECTOR, f"command:{TRACE_ID}", 0)
    assert queued.event == {
        "Operation": "DEVICE_COMMAND_RESPONSE",
        "OperationVersion": "1.0",
        "TraceId": TRACE_ID,
        "ConnectorDeviceId": DEVICE,
        "UserId": USER,
        "StatusCode": 200,
        "Message": "success",
        "MatterEndpoint": {
            "id": "1",
            "clusters": [{"id": "0x0006", "commands": {"0x01": {}}, "attributes": {"0x0000": True}}],
        },
    }
    assert up.pending.status_of(TRACE_ID) is Status.ANSWERED
    assert measured(outcome) == {"CommandsRequested": 1, "CommandsAnsweredSynchronously": 1}


def test_a_sync_command_the_cloud_says_failed_is_answered_with_the_failure_status(
    server: LoopbackServer,
) -> None:
    up = stack(server)
    up.cloud.answers.append((200, {"statusCode": 161, "message": "device offline!"}))

    outcome = turn_on(up.operations)

    assert outcome.code == 200
    (queued,) = up.queued()
    assert queued.event["StatusCode"] == 503
    assert queued.event["Message"] == "device offline"
    # No attribute: the device's state is not known to have changed.
    assert queued.event["MatterEndpoint"]["clusters"] == [{"id": "0x0006", "commands": {"0x01": {}}}]


def test_a_retried_invocation_asks_the_cloud_once(server: LoopbackServer) -> None:
    up = stack(server)

    first, retried = turn_on(up.operations), turn_on(up.operations)

    assert (first.code, retried.code) == (200, 200)
    assert retried.reason == "handed_over_before"
    assert len(up.cloud.requests) == 1
    assert len(up.queued()) == 1


def test_an_async_cloud_s_own_id_of_the_command_is_recorded(server: LoopbackServer) -> None:
    up = stack(
        server,
        sendCommand={
            "request": {"method": "POST", "path": "/smartlock/{device.id}/action", "body": {"action": 1}},
            "commands": [{"name": "unlock", "command": "DoorLock.UnlockDoor"}],
            "answer": {"mode": "async", "requestId": 'headers."x-request-id" || body.requestId'},
        },
    )
    up.cloud.answers.append((200, {"requestId": "68c4242a9e1f4b7d8a3cfede"}))

    outcome = invoke(
        up.operations,
        SEND_COMMAND,
        traceId=TRACE_ID,
        connectorDeviceId=DEVICE,
        endpoints=matter_command("1", "0x0101", "0x01"),
    )

    assert outcome.code == 200
    assert up.pending.cloud_requests == {(CONNECTOR, "68c4242a9e1f4b7d8a3cfede"): TRACE_ID}
    assert up.pending.status_of(TRACE_ID) is Status.PENDING
    assert up.queued() == []


def test_a_command_no_rule_maps_is_a_400_and_the_cloud_is_not_asked(server: LoopbackServer) -> None:
    up = stack(server)

    outcome = invoke(
        up.operations,
        SEND_COMMAND,
        traceId=TRACE_ID,
        connectorDeviceId=DEVICE,
        endpoints=matter_command("1", "0x0300", "0x07", {"ColorTemperatureMireds": 250}),
    )

    assert (outcome.code, outcome.reason) == (400, "unsupported_command")
    assert (
        outcome.message == "The device cloud's profile maps no such command (cluster 0x0300, command 0x07)."
    )
    assert up.cloud.requests == []
    assert up.pending.status_of(TRACE_ID) is None


def test_a_response_that_cannot_be_queued_is_a_503_and_the_retry_asks_the_cloud_again(
    server: LoopbackServer,
) -> None:
    # The cloud carried the command out, but its response could not be queued: the record is released so
    # that managed integrations' retry gets a response at all (the command is asked again).
    up = stack(server)
    up.sqs.failure = "error"

    failed = turn_on(up.operations)
    up.sqs.failure = None
    retried = turn_on(up.operations)

    assert (failed.code, failed.reason) == (503, "unavailable_queue")
    assert retried.code == 200
    assert len(up.cloud.requests) == 2
    assert len(up.queued()) == 1


def test_without_an_event_queue_a_sync_command_is_a_500_and_the_cloud_is_not_asked(
    server: LoopbackServer,
) -> None:
    up = stack(server, event_queue=False)

    outcome = turn_on(up.operations)

    assert (outcome.code, outcome.reason) == (500, "setup_no_event_queue")
    assert up.cloud.requests == []


def test_a_cloud_that_refuses_the_command_is_answered_with_its_status(server: LoopbackServer) -> None:
    up = stack(server)
    up.cloud.answers.append((404, {"message": "device not found"}))

    outcome = turn_on(up.operations)

    assert (outcome.code, outcome.reason) == (404, "device_cloud_refused")
    assert up.queued() == []
    assert up.pending.status_of(TRACE_ID) is None


# --- AWS.DiscoverDevices, AWS.ActivateUser ---------------------------------------------------------------


def test_a_discovery_becomes_a_job_for_the_worker_and_the_cloud_is_not_asked(server: LoopbackServer) -> None:
    up = stack(server)

    outcome = invoke(up.operations, DISCOVER_DEVICES, deviceDiscoveryId="8f3a9c2e71d54b0c")

    assert outcome.code == 200
    assert up.cloud.requests == []
    (job,) = up.jobs.jobs
    assert (job.connector_id, job.device_discovery_id, job.user_id) == (CONNECTOR, "8f3a9c2e71d54b0c", USER)
    assert job.credential.as_wire() == {"type": "OAuth2.0", "token": TOKEN}


def test_activate_user_asks_the_profiles_request_for_the_user_id(server: LoopbackServer) -> None:
    up = stack(
        server,
        userIdClaim=None,
        activateUser={"request": {"method": "GET", "path": "/v1/users/me"}, "userId": "body.id"},
    )
    up.cloud.answers.append((200, {"id": "sb-user-77"}))

    outcome = invoke(up.operations, ACTIVATE_USER, oauth("opaque-token-1"))

    assert outcome.response()["payload"]["userId"] == "sb-user-77"
    assert [r["line"] for r in up.cloud.requests] == ["GET /v1/users/me HTTP/1.1"]


def test_a_deactivation_without_a_revoking_request_learns_the_user_from_the_activation_request(
    server: LoopbackServer,
) -> None:
    # GIVEN a cloud whose tokens name no user and that has no call to revoke one (Nuki's Web API)
    up = stack(
        server,
        userIdClaim=None,
        activateUser={"request": {"method": "GET", "path": "/account"}, "userId": "body.accountId"},
    )
    up.cloud.answers.append((200, {"accountId": 987654321}))

    # WHEN managed integrations deactivates the user
    outcome = invoke(up.operations, "AWS.DeactivateUser", oauth("opaque-token-1"))

    # THEN the activation's request names the user, who is recorded deactivated
    assert outcome.code == 200
    assert [r["line"] for r in up.cloud.requests] == ["GET /account HTTP/1.1"]


# --- General Authorization ------------------------------------------------------------------------------


def test_a_general_authorization_secret_the_profile_allows_is_read_and_its_members_fill_templates(
    server: LoopbackServer,
) -> None:
    up = stack(server)

    outcome = turn_on(up.operations, auth=general_authorization(ALLOWED_ARN))

    assert outcome.code == 200
    assert up.cloud.requests[0]["headers"]["authorization"] == "sb-open-token"


def test_a_general_authorization_arn_the_profile_does_not_allow_is_a_401_and_nothing_is_read(
    server: LoopbackServer,
) -> None:
    up = stack(server)

    outcome = turn_on(up.operations, auth=general_authorization(OTHER_ARN))

    assert (outcome.code, outcome.reason) == (401, "credential_not_allowed")
    assert up.secrets.calls == 0
    assert up.cloud.requests == []


def test_a_discovery_job_names_the_general_authorization_secret_never_its_text(
    server: LoopbackServer,
) -> None:
    up = stack(server)

    invoke(
        up.operations, DISCOVER_DEVICES, general_authorization(ALLOWED_ARN, "v-1"), deviceDiscoveryId="8f3a"
    )

    (job,) = up.jobs.jobs
    assert job.credential.as_wire() == {
        "type": "GeneralAuthorization",
        "arn": ALLOWED_ARN,
        "versionId": "v-1",
    }
    assert "sb-open-token" not in repr(job)


def test_a_sync_command_on_an_endpoint_a_response_cannot_name_is_refused_before_the_cloud_is_asked(
    server: LoopbackServer,
) -> None:
    up = stack(server)

    outcome = invoke(
        up.operations,
        SEND_COMMAND,
        traceId=TRACE_ID,
        connectorDeviceId=DEVICE,
        endpoints=matter_command("ep-1", "0x0006", "0x01"),
    )

    assert (outcome.code, outcome.reason) == (400, "invalid_command_fields")
    assert up.cloud.requests == []
