"""The connector's whole loop on the local stack: the IoT stand-in invokes ConnectorFunction through the
local Lambda endpoint as managed integrations does (its envelope, its own 2 s timeout, up to 5 retries), the
fake device cloud takes the requests and answers through the relay with its own signed webhooks, and the
relay's SendConnectorEvent calls, the correlation table and the functions' metrics show each answer."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bridge_local.connector_walk import CORRELATION_METRICS, SWEEP_EVENT, emitted_metrics
from bridge_local.device_cloud import DEMO_TOKEN, DEMO_USER, FakeDeviceCloud
from bridge_local.stack import LocalStack, StackConfig
from iot_standin.caller import CALLER_TIMEOUT_SECONDS, general_authorization, matter_command, oauth
from iot_standin.testing import Standin
from iotbridge.correlation.model import COMMAND, DISCOVERY, record_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Short, so that a command never answered is counted within seconds; long enough that the device cloud's
# answers (a moment after each request) come well before it.
COMMAND_DEADLINE_SECONDS = 4
# Every wait polls for its condition up to this long: generous, for a busy machine.
CEILING_SECONDS = 30.0
BULB = "lmn-bulb-0042"
# A device only the test of a command never answered sends to: the device cloud never answers it.
SILENT_PLUG = "lmn-plug-0099"


def eventually[T](probe: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """Poll `probe` until `done` holds of its value (or fail after the ceiling, saying what was awaited)."""
    deadline = time.monotonic() + CEILING_SECONDS
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {CEILING_SECONDS:.0f} s for {what}; last: {value!r}")
        time.sleep(0.1)


class Loop:
    """The running stack, as the tests drive it: the caller, the device cloud, the relay's records."""

    def __init__(self, stack: LocalStack) -> None:
        assert stack.device_cloud is not None, "the stack runs the fake device cloud"
        name = stack.connector_function()
        assert name is not None, "the template has a connector function"
        self.stack = stack
        self.function = name
        self.cloud: FakeDeviceCloud = stack.device_cloud
        self.connector = self.cloud.cloud.connector_id
        self.standin = Standin(stack.processes["iot"])
        self.dynamodb = stack.client("dynamodb")
        self.correlation_table = stack.tables["CorrelationTable"]
        self.user_table = stack.tables["ConnectorUserTable"]

    def invoke(self, operation: str, auth: dict[str, Any] | None = None, **members: Any) -> dict[str, Any]:
        """One operation as managed integrations makes it: the call's tries and the answer it kept."""
        return self.standin.invoke_connector(operation, self.connector, auth or oauth(DEMO_TOKEN), **members)

    def events(self, operation: str, member: str, value: str) -> list[dict[str, Any]]:
        bodies = [e["body"] for e in self.standin.connector_events(self.connector)]
        return [b for b in bodies if b.get("Operation") == operation and b.get(member) == value]

    def await_events(self, operation: str, member: str, value: str) -> list[dict[str, Any]]:
        return eventually(
            lambda: self.events(operation, member, value), bool, f"{operation} with {member} {value}"
        )

    def entry(self, kind: str, request_id: str) -> dict[str, Any] | None:
        key = record_key(kind, self.connector, request_id)
        found = self.dynamodb.get_item(
            TableName=self.correlation_table, Key={"id": {"S": key}}, ConsistentRead=True
        )
        item = found.get("Item")
        return dict(item) if item is not None else None

    def await_status(self, kind: str, request_id: str, status: str) -> dict[str, Any]:
        item = eventually(
            lambda: self.entry(kind, request_id),
            lambda found: found is not None and found["status"]["S"] == status,
            f"the {kind} {request_id} {status} in the correlation table",
        )
        assert item is not None
        return item

    def sweep(self) -> dict[str, Any]:
        """The sweep, as EventBridge Scheduler invokes it: the function's answer."""
        answer: dict[str, Any] = self.stack.invokers[self.function].invoke(SWEEP_EVENT)
        return answer

    def metrics(self) -> Counter[str]:
        names = dict.fromkeys([self.function, *self.stack.spec.functions])
        return emitted_metrics([self.stack.logs_dir / f"{name}.log" for name in names])

    def add_user(self, user: str) -> dict[str, Any]:
        """`header.auth` (OAuth 2.0) of a user of the device cloud of their own, so that what a test does to
        them (deactivating them) leaves the other tests' users alone."""
        token = f"lumen-loop-token-{uuid.uuid4().hex}"
        self.cloud.credentials[token] = user
        return oauth(token)

    def add_general_user(self, user: str) -> dict[str, Any]:
        """`header.auth` (General Authorization) of a user of their own: a secret under the function's prefix
        whose text the device cloud takes as the user's credential."""
        text = f"lumen-loop-service-key-{uuid.uuid4().hex}"
        self.cloud.credentials[text] = user
        created = self.stack.client("secretsmanager").create_secret(
            Name=f"iot-bridge/authorization/{self.connector}/{uuid.uuid4().hex[:8]}", SecretString=text
        )
        return general_authorization(created["ARN"], created["VersionId"])

    def unasked_command_result(self, trace: str) -> dict[str, Any]:
        """The device cloud's own webhook of a command result for a request nobody made."""
        result = {
            "type": "command.result",
            "deviceId": BULB,
            "requestId": trace,
            "command": "turnOn",
            "result": "ok",
            "state": {"power": "on"},
        }
        return {"accountId": DEMO_USER, "sentAt": "2026-12-02T00:00:00Z", "events": [result]}


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    config = StackConfig(
        api_port=0,
        state_dir=tmp_path_factory.mktemp("connector-loop"),
        fleet_size=5,
        # As the demo sets them: a short command deadline, and a deactivation that applies at once.
        parameter_overrides={"CommandDeadlineSeconds": COMMAND_DEADLINE_SECONDS, "UserStatusCacheSeconds": 0},
    )
    with LocalStack(config) as stack:
        yield Loop(stack)


def discovery_id() -> str:
    return "loop" + uuid.uuid4().hex


def trace_id() -> str:
    return f"loop-{uuid.uuid4().hex[:16]}=_1"


def off(device: str) -> dict[str, Any]:
    """SendCommand's members for OnOff.Off on endpoint 1 of the device, with a new traceId."""
    return {
        "traceId": trace_id(),
        "connectorDeviceId": device,
        "endpoints": matter_command("1", "0x0006", "0x00"),
    }


def assert_answered_in_time(call: dict[str, Any], code: int = 200) -> dict[str, Any]:
    """The answer the caller kept came within its own timeout, as it measured it, and is a valid one."""
    answered = call["attempts"][-1]
    assert answered["outcome"] == "answered", call["attempts"]
    assert answered["seconds"] <= CALLER_TIMEOUT_SECONDS
    assert call["answeredWithinTimeout"] is True
    answer = call["answer"]
    assert answer["header"]["responseCode"] == code, answer
    assert isinstance(answer["payload"]["responseMessage"], str) and answer["payload"]["responseMessage"]
    return dict(answer)


def on_off(body: dict[str, Any]) -> Any:
    (cluster,) = [c for c in body["MatterEndpoint"]["clusters"] if c["id"] == "0x0006"]
    return cluster["attributes"]["0x0000"]


# --- every operation within the caller's 2 s --------------------------------------------------------------


@pytest.mark.parametrize("variant", ["OAuth2.0", "GeneralAuthorization"])
def test_every_operation_is_answered_within_the_callers_two_seconds(loop: Loop, variant: str) -> None:
    # GIVEN a user of the device cloud, by their token or by a General Authorization secret
    user = f"lumen-loop-{uuid.uuid4().hex[:8]}"
    auth = loop.add_user(user) if variant == "OAuth2.0" else loop.add_general_user(user)
    discovery, command = discovery_id(), off(BULB)

    # WHEN managed integrations makes each operation
    activated = loop.invoke("AWS.ActivateUser", auth)
    discovered = loop.invoke("AWS.DiscoverDevices", auth, deviceDiscoveryId=discovery)
    commanded = loop.invoke("AWS.SendCommand", auth, **command)
    # (the cloud's answers come before the user is deactivated: after it, the relay refuses them)
    loop.await_status(DISCOVERY, discovery, "ANSWERED")
    loop.await_status(COMMAND, command["traceId"], "ANSWERED")
    deactivated = loop.invoke("AWS.DeactivateUser", auth)

    # THEN each answer came within the caller's own timeout; ActivateUser's names the device cloud's user
    assert assert_answered_in_time(activated)["payload"]["userId"] == user
    for call in (discovered, commanded, deactivated):
        assert "userId" not in assert_answered_in_time(call)["payload"]
    # and the device cloud got the credential of the variant, for the user the relay's answers name
    (asked,) = loop.cloud.requests(discovery)
    assert asked.verified and asked.type == "discoverDevices"
    (body,) = loop.await_events("DEVICE_DISCOVERY", "DeviceDiscoveryId", discovery)
    assert body["UserId"] == user


def test_an_unknown_operation_is_answered_400_naming_it_within_two_seconds(loop: Loop) -> None:
    call = loop.invoke("AWS.RebootDevice")

    answer = assert_answered_in_time(call, code=400)
    assert answer["payload"]["responseMessage"].startswith("Unknown operation: payload.operationName")
    assert len(call["attempts"]) == 1  # a 4xx is an answer: not retried


def test_a_send_command_without_its_device_is_answered_400_naming_the_field(loop: Loop) -> None:
    call = loop.invoke("AWS.SendCommand", traceId=trace_id(), endpoints=matter_command("1", "0x0006", "0x00"))

    answer = assert_answered_in_time(call, code=400)
    assert "payload.connectorDeviceId" in answer["payload"]["responseMessage"]


# --- discovery and commands answered through the relay ----------------------------------------------------


def test_a_discovery_is_answered_through_the_relay_with_the_same_id_and_marked_answered(loop: Loop) -> None:
    # GIVEN a discovery managed integrations starts
    discovery = discovery_id()

    # WHEN it invokes the connector with it
    call = loop.invoke("AWS.DiscoverDevices", deviceDiscoveryId=discovery)

    # THEN it is acknowledged, and the device cloud's two devices reach SendConnectorEvent with the same id
    assert_answered_in_time(call)
    (body,) = loop.await_events("DEVICE_DISCOVERY", "DeviceDiscoveryId", discovery)
    assert sorted(d["ConnectorDeviceId"] for d in body["Devices"]) == ["lmn-bulb-0042", "lmn-plug-0007"]
    assert body["UserId"] == DEMO_USER
    # and the correlation table has the request answered, after it was asked
    item = loop.await_status(DISCOVERY, discovery, "ANSWERED")
    assert float(item["answeredAt"]["N"]) >= float(item["requestedAt"]["N"])
    assert "due" not in item  # no longer among what the sweep reads


def test_send_command_off_is_answered_with_the_same_trace_id_and_marked_answered(loop: Loop) -> None:
    command = off(BULB)

    call = loop.invoke("AWS.SendCommand", **command)

    assert_answered_in_time(call)
    (body,) = loop.await_events("DEVICE_COMMAND_RESPONSE", "TraceId", command["traceId"])
    assert body["ConnectorDeviceId"] == BULB
    assert body["StatusCode"] == 200
    assert on_off(body) is False  # the light the cloud turned off
    (asked,) = loop.cloud.requests(command["traceId"])
    assert asked.verified and asked.commands == ["OnOff.Off"]
    loop.await_status(COMMAND, command["traceId"], "ANSWERED")


@pytest.mark.parametrize("operation", ["AWS.SendCommand", "AWS.DiscoverDevices"])
def test_a_retried_invocation_reaches_the_device_cloud_once(loop: Loop, operation: str) -> None:
    # GIVEN an invocation the device cloud was handed
    if operation == "AWS.SendCommand":
        members: dict[str, Any] = off(BULB)
        kind, request_id = COMMAND, str(members["traceId"])
    else:
        kind, request_id = DISCOVERY, discovery_id()
        members = {"deviceDiscoveryId": request_id}
    assert_answered_in_time(loop.invoke(operation, **members))

    # WHEN managed integrations tries the same invocation again (the same id)
    again = loop.invoke(operation, **members)

    # THEN it is acknowledged again, the device cloud received the request once, and it was answered once
    assert_answered_in_time(again)
    loop.await_status(kind, request_id, "ANSWERED")
    assert len(loop.cloud.requests(request_id)) == 1
    member = "TraceId" if kind == COMMAND else "DeviceDiscoveryId"
    operation_answered = "DEVICE_COMMAND_RESPONSE" if kind == COMMAND else "DEVICE_DISCOVERY"
    assert len(loop.await_events(operation_answered, member, request_id)) == 1


# --- never answered, deactivated ----------------------------------------------------------------------------


def test_a_command_the_device_cloud_never_answers_is_counted_by_the_sweep_once(loop: Loop) -> None:
    # GIVEN a command for a device whose cloud never answers it
    loop.cloud.silent_devices.add(SILENT_PLUG)
    command = off(SILENT_PLUG)
    assert_answered_in_time(loop.invoke("AWS.SendCommand", **command))
    assert loop.cloud.requests(command["traceId"])  # handed over, and silence from then on
    pending = loop.entry(COMMAND, command["traceId"])
    assert pending is not None and pending["status"]["S"] == "PENDING"

    # WHEN the sweep runs (on its schedule; here until the deadline has passed)
    def swept() -> str | None:
        loop.sweep()
        found = loop.entry(COMMAND, command["traceId"])
        return found["status"]["S"] if found else None

    eventually(swept, lambda status: status == "EXPIRED", "the sweep to expire the unanswered command")

    # THEN the entry is EXPIRED, and a later sweep leaves it as it was (it is counted once)
    expired = loop.entry(COMMAND, command["traceId"])
    assert expired is not None and "due" not in expired
    assert loop.sweep()["header"]["responseCode"] == 200
    assert loop.entry(COMMAND, command["traceId"]) == expired
    assert not loop.events("DEVICE_COMMAND_RESPONSE", "TraceId", command["traceId"])


def test_after_deactivate_user_the_users_next_event_is_dropped_and_nothing_is_queued(loop: Loop) -> None:
    # GIVEN a user with an active account, whose events the relay takes
    user = f"lumen-loop-{uuid.uuid4().hex[:8]}"
    auth = loop.add_user(user)
    assert_answered_in_time(loop.invoke("AWS.ActivateUser", auth))
    device = f"lmn-bulb-{uuid.uuid4().hex[:6]}"
    assert loop.cloud.report_state(user, device, {"power": "on"}).status == 202
    loop.await_events("DEVICE_EVENT", "ConnectorDeviceId", device)

    # WHEN the user is deactivated
    assert_answered_in_time(loop.invoke("AWS.DeactivateUser", auth))

    # THEN their next event is acknowledged and dropped (a 410 would stop the endpoint all users share)
    reply = loop.cloud.report_state(user, device, {"power": "off", "brightness": 5})
    assert reply.status == 202
    assert reply.json()["queued"] == 0
    # and nothing of it was queued: a later event of the same device (the same FIFO group, so delivered
    # after anything queued before it) for an active user arrives alone
    assert loop.cloud.report_state(DEMO_USER, device, {"power": "on", "brightness": 77}).status == 202
    of_device = eventually(
        lambda: loop.events("DEVICE_EVENT", "ConnectorDeviceId", device),
        lambda bodies: any(b["UserId"] == DEMO_USER for b in bodies),
        "the active user's event of the same device",
    )
    assert [b["UserId"] for b in of_device] == [user, DEMO_USER]


# --- the correlation metrics ------------------------------------------------------------------------------


def test_the_correlation_metrics_in_the_functions_logs_match_the_table(loop: Loop) -> None:
    # GIVEN the metrics so far (every answer the device cloud owed sent, so its metrics are written)
    assert loop.cloud.wait_idle(CEILING_SECONDS)
    before = loop.metrics()

    # WHEN a discovery and a command are answered, the command is retried, another is never answered,
    # and the device cloud sends an answer to a command nobody asked for
    discovery, answered, silent = discovery_id(), off(BULB), off(SILENT_PLUG)
    loop.cloud.silent_devices.add(SILENT_PLUG)
    for operation, members in (
        ("AWS.DiscoverDevices", {"deviceDiscoveryId": discovery}),
        ("AWS.SendCommand", answered),
        ("AWS.SendCommand", answered),
        ("AWS.SendCommand", silent),
    ):
        assert_answered_in_time(loop.invoke(operation, **members))
    answered_entries = [
        loop.await_status(DISCOVERY, discovery, "ANSWERED"),
        loop.await_status(COMMAND, answered["traceId"], "ANSWERED"),
    ]
    unasked = trace_id()
    assert loop.cloud.send(loop.unasked_command_result(unasked)).status == 202
    loop.await_events("DEVICE_COMMAND_RESPONSE", "TraceId", unasked)

    def swept() -> str | None:
        loop.sweep()
        found = loop.entry(COMMAND, silent["traceId"])
        return found["status"]["S"] if found else None

    eventually(swept, lambda status: status == "EXPIRED", "the sweep to expire the silent command")

    # THEN the metrics the functions wrote count each exactly as the table shows it
    late = [float(e["answeredAt"]["N"]) > float(e["deadline"]["N"]) for e in answered_entries]
    expected = {
        "DiscoveriesRequested": 1,
        "CommandsRequested": 2,  # the retry asked nobody, and counts no request
        "DiscoveriesAnswered": 0 if late[0] else 1,
        "DiscoveriesAnsweredLate": 1 if late[0] else 0,
        "CommandsAnswered": 0 if late[1] else 1,
        "CommandsAnsweredLate": 1 if late[1] else 0,
        "CommandsNeverAnswered": 1,
        "DiscoveriesNeverAnswered": 0,
        "AnswersUnmatched": 1,
        "AnswersRepeated": 0,
    }
    assert set(expected) == set(CORRELATION_METRICS)

    def grown() -> dict[str, int]:
        now = loop.metrics()
        return {name: now[name] - before[name] for name in CORRELATION_METRICS}

    assert eventually(grown, lambda delta: delta == expected, "the metrics to be written") == expected


def test_a_try_the_device_cloud_could_not_take_is_retried_by_the_caller_and_handed_over_once(
    loop: Loop,
) -> None:
    # GIVEN a device cloud that answers the next request 503
    command = off(BULB)
    loop.cloud.unavailable_next = 1

    # WHEN managed integrations sends a command
    call = loop.invoke("AWS.SendCommand", **command)

    # THEN the first try is a failure the caller retries, and the retry hands the command over
    first, *_, last = call["attempts"]
    assert (first["outcome"], first["responseCode"]) == ("service_error", 502)
    assert last["outcome"] == "answered"
    assert_answered_in_time(call)
    # the device cloud took it once (the failed try left no record behind that would stop the retry)
    statuses = [r.status for r in loop.cloud.requests(command["traceId"])]
    assert statuses.count(202) == 1 and statuses[0] == 503
    loop.await_status(COMMAND, command["traceId"], "ANSWERED")
    assert len(loop.await_events("DEVICE_COMMAND_RESPONSE", "TraceId", command["traceId"])) == 1
