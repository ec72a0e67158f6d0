"""The connector function's calls to a device cloud's own REST API (a profile's `outbound`), answered through
the domain (ConnectorOperations.handle) over clouds on loopback that misbehave on purpose: answers a byte at a
time, `100 Continue` without end, redirects, 2xx answers that are not JSON or are 10 MB, names that resolve
to internal addresses, and the statuses that mean "not now" or "no".

Each case is AWS.ActivateUser (the profile's `activateUser` request) and AWS.SendCommand with a cloud that
answers commands at once (`sync`) or later (`async`). The answer's `responseCode` is the one the domain
documents (iotbridge.connector.domain.invocations: 504 not in time, 502 not usable, 503 not now, 500 the
profile cannot be asked, the cloud's own 4xx). Within the caller's budget: each test gives the domain the
budget the handler gives it (a CappedBudget of ANSWER_WITHIN_SECONDS over the Lambda's remaining time) and
checks the function's own deadline logic, not a stopwatch: every request to the cloud was given at most
DEVICE_CLOUD_TIMEOUT_SECONDS, and at most what the budget said was left less the margin kept for answering;
a cloud that never finishes is cut by the exchange's watchdog at that deadline (the cloud sees the client
close the connection)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

import connector
from bridge_local.processes import LOOPBACK
from fakes.aws import InMemorySecretsManager, InMemorySqs, InMemorySsm
from fakes.connector import (
    CONNECTOR,
    SECRET_ARN,
    InMemoryAuthorizations,
    InMemoryPendingRequests,
    InMemoryUserDirectory,
    SteppingClock,
)
from fakes.lambda_context import FakeLambdaContext
from fakes.log_capture import captured_logs
from integration.test_device_cloud_hostile import (
    SERVER_CEILING,
    HostileCloud,
    Resolver,
    endless_continue,
    trickled_body,
    trickled_headers,
)
from iot_standin.caller import envelope, general_authorization, matter_command, oauth
from iotbridge.budget import CappedBudget, LambdaBudget
from iotbridge.connector.adapters import WebhookDeviceClouds
from iotbridge.connector.domain.invocations import (
    ANSWER_MARGIN_SECONDS,
    ConnectorOperations,
    InvocationOutcome,
)
from iotbridge.connector.domain.requests import ACTIVATE_USER, SEND_COMMAND, parse_invocation
from iotbridge.connector.edge import log_outcome
from iotbridge.connector.outbound import Answer, OutboundExchanges
from iotbridge.connector.ports import DiscoveryJob
from iotbridge.connector.settings import ConnectorSettings
from iotbridge.correlation.model import Status
from iotbridge.errors import DependencyUnavailableError
from iotbridge.registry.profiles import SsmConnectorProfiles
from iotbridge.registry.secrets import SecretsManagerSigningKeys
from iotbridge.send_connector_event.queue import SqsFifoEventQueue
from iotbridge.send_connector_event.queued import QueuedEvent

pytestmark = pytest.mark.integration

# The function's own settings: the caller's answer budget and the device cloud's share of it.
SETTINGS = ConnectorSettings(correlation_table="CorrelationTable", user_table="ConnectorUserTable")
PREFIX = "/iot-bridge/profiles/"
GROUP_KEY = b"k" * 40
TOKEN = "SentinelAccessToken-hostile-9d4e"
SECRET_TOKEN = "SentinelSecretToken-hostile-5b7a"
DEVICE = "dev.SentinelDevice.7731"
TRACE_ID = "trace-hostile-0001"
HOST = "api.hostile-cloud.example"
OPERATIONS = ["activate", "sync", "async"]


# --- Device clouds that misbehave -----------------------------------------------------------------------


class RestCloud(HostileCloud):
    """A hostile cloud that reads requests with or without a body (a REST API is asked with GET too) and
    keeps each request's line."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.lines: list[str] = []
        super().__init__(answer)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            self.lines.append(_read_request(connection))
            try:
                self._answer(connection)
                self.endings.append("gave up")
            except OSError:
                self.endings.append("closed by the client")
            self.ended.set()


def _read_request(connection: socket.socket) -> str:
    """The request line, once the whole request (its body too, when it has one) is read."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return ""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    ]
    while lengths and len(body) < lengths[0]:
        body += connection.recv(65536)
    return head.split(b"\r\n", 1)[0].decode("latin-1")


def answering(
    status: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> Callable[..., None]:
    """An answer written at once: the status line, the headers and the body."""
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def answer(connection: socket.socket) -> None:
        connection.sendall(message)

    return answer


def ten_megabytes(connection: socket.socket) -> None:
    """A 2xx of 10 MB of JSON, written for as long as the client reads it."""
    size = 10 * 1024 * 1024
    connection.sendall(
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode()
    )
    start = b'{"id": "u-1", "result": "ok", "requestId": "r-1", "padding": "'
    connection.sendall(start)
    written, chunk = len(start), b"a" * 65536
    while written < size:
        connection.sendall(chunk)
        written += len(chunk)


@pytest.fixture
def hostile() -> Iterator[Callable[[Callable[[socket.socket], None]], RestCloud]]:
    started: list[RestCloud] = []

    def start(answer: Callable[[socket.socket], None]) -> RestCloud:
        server = RestCloud(answer)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def listener() -> Iterator[RestCloud]:
    """A well-behaved cloud elsewhere: where a redirect points, and where an internal address leads."""
    server = RestCloud(answering("200 OK", b'{"id": "u-1", "result": "ok", "requestId": "r-1"}'))
    yield server
    server.stop()


# --- The connector: its profile in (in-memory) SSM, the relay's FIFO queue, the correlation table ------


def profile(base_url: str, mode: str) -> dict[str, Any]:
    """A REST cloud's profile: the user id from `GET /v1/users/me`, a command as `POST .../commands`; a
    `sync` cloud's answer says whether the command succeeded, an `async` one's gives its own id of it."""
    answer: dict[str, Any] = (
        {"mode": "sync", "success": "body.result == 'ok'", "message": "body.message"}
        if mode == "sync"
        else {"mode": "async", "requestId": "body.requestId"}
    )
    return {
        "version": 1,
        "verification": {"scheme": "path-token"},
        "deduplication": {"digest": True},
        "rules": [
            {
                "name": "power",
                "operation": "DEVICE_EVENT",
                "members": {"ConnectorDeviceId": "event.id"},
                "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
            }
        ],
        "outbound": {
            "baseUrl": base_url,
            # The invocation's OAuth token, or a General Authorization secret's accessToken.
            "auth": {"type": "bearer", "token": "{secret.accessToken || token}"},
            "activateUser": {"request": {"method": "GET", "path": "/v1/users/me"}, "userId": "body.id"},
            "discoverDevices": {
                "request": {"path": "/v1/devices"},
                "devices": "body.devices",
                "device": {"connectorDeviceId": "device.id", "deviceType": "OnOffPlugInUnit"},
            },
            "sendCommand": {
                "request": {
                    "method": "POST",
                    "path": "/v1/devices/{device.id}/commands",
                    "body": "{command}",
                },
                "commands": [
                    {"name": "on", "command": "OnOff.On", "body": {"command": "on"}},
                    {"name": "off", "command": "OnOff.Off", "body": {"command": "off"}},
                ],
                "answer": answer,
            },
        },
    }


class WatchedExchanges(OutboundExchanges):
    """The function's exchanges, keeping the deadline each request to the cloud was given."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.deadlines: list[float] = []

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        *,
        timeout_seconds: float,
        read_body: bool,
        max_answer_bytes: int | None = None,
    ) -> Answer:
        self.deadlines.append(timeout_seconds)
        return super().request(
            method,
            url,
            body,
            headers,
            timeout_seconds=timeout_seconds,
            read_body=read_body,
            max_answer_bytes=max_answer_bytes,
        )


class WatchedBudget:
    """The budget the handler gives the domain (ANSWER_WITHIN_SECONDS of the Lambda's remaining time),
    keeping every reading the domain takes of it."""

    def __init__(self) -> None:
        self._budget = CappedBudget(LambdaBudget(FakeLambdaContext()), SETTINGS.answer_within_seconds)
        self.readings: list[float] = []

    def remaining_seconds(self) -> float:
        seconds = self._budget.remaining_seconds()
        self.readings.append(seconds)
        return seconds


class RecordedJobs:
    def __init__(self) -> None:
        self.jobs: list[DiscoveryJob] = []

    def submit(self, job: DiscoveryJob) -> None:
        self.jobs.append(job)


@dataclass
class Connector:
    operations: ConnectorOperations
    exchanges: WatchedExchanges
    pending: InMemoryPendingRequests
    users: InMemoryUserDirectory
    sqs: InMemorySqs
    clock: SteppingClock

    def handle(self, event: dict[str, Any]) -> InvocationOutcome:
        budget = WatchedBudget()
        outcome = self.operations.handle(parse_invocation(event), budget)
        self.assert_within(budget)
        return outcome

    def assert_within(self, budget: WatchedBudget) -> None:
        """The function's deadline logic, as the domain and the exchange applied it: each request to the
        cloud had at most the device cloud's timeout, and at most the budget's last reading before it less
        the margin kept for recording and answering."""
        assert self.exchanges.deadlines, "the device cloud was not asked"
        assert budget.readings[0] <= SETTINGS.answer_within_seconds
        assert max(self.exchanges.deadlines) <= SETTINGS.device_cloud_timeout_seconds
        assert max(self.exchanges.deadlines) <= min(budget.readings) - ANSWER_MARGIN_SECONDS

    def queued(self) -> list[QueuedEvent]:
        return [QueuedEvent.from_message_body(body) for body in self.sqs.bodies]


def connector_at(base_url: str, mode: str = "sync", *, resolver: Resolver | None = None) -> Connector:
    """The connector's domain over its REST cloud at `base_url`: plain HTTP to loopback as on the local
    stack, or, with a resolver, an https name as deployed (no loopback)."""
    local = resolver is None
    exchanges = (
        WatchedExchanges(allow_loopback=True)
        if resolver is None
        else WatchedExchanges(allow_loopback=False, resolver=resolver)
    )
    profiles = SsmConnectorProfiles(
        InMemorySsm({f"{PREFIX}{CONNECTOR}": json.dumps(profile(base_url, mode))}),
        prefix=PREFIX,
        max_age_seconds=300,
    )
    clouds = WebhookDeviceClouds(
        profiles,
        SecretsManagerSigningKeys(InMemorySecretsManager({}), prefix="unused/", max_age_seconds=300),
        exchanges=exchanges,
        allow_loopback=local,
        jobs=RecordedJobs(),
        queues_answers=True,
    )
    clock = SteppingClock()
    pending = InMemoryPendingRequests(clock=clock)
    users = InMemoryUserDirectory()
    sqs = InMemorySqs()
    operations = ConnectorOperations(
        device_clouds=clouds,
        requests=pending,
        users=users,
        authorizations=InMemoryAuthorizations(
            {(SECRET_ARN, None): json.dumps({"accessToken": SECRET_TOKEN})}
        ),
        device_cloud_seconds=SETTINGS.device_cloud_timeout_seconds,
        clock=clock,
        events=SqsFifoEventQueue(sqs, "https://sqs.example/events.fifo", group_key=GROUP_KEY),
    )
    return Connector(operations, exchanges, pending, users, sqs, clock)


def invocation(operation: str, auth: dict[str, Any] | None = None) -> dict[str, Any]:
    """AWS.ActivateUser, or AWS.SendCommand turning the device on."""
    if operation == "activate":
        return envelope(ACTIVATE_USER, CONNECTOR, auth or oauth(TOKEN))
    return envelope(
        SEND_COMMAND,
        CONNECTOR,
        auth or oauth(TOKEN),
        traceId=TRACE_ID,
        connectorDeviceId=DEVICE,
        endpoints=matter_command("1", "0x0006", "0x01"),
    )


def mode_of(operation: str) -> str:
    return "async" if operation == "async" else "sync"


def assert_nothing_came_of_it(up: Connector, operation: str) -> None:
    """A failed invocation leaves nothing behind: no user recorded, no response queued, no entry kept (so
    that the caller's retry asks again)."""
    assert up.users.status == {}
    assert up.queued() == []
    assert up.pending.status_of(TRACE_ID) is None
    if operation != "activate":
        assert up.pending.calls[-1] == "release"


def assert_handed_over_without_an_id(up: Connector) -> None:
    """An async cloud's 2xx took the command, whatever its body: handed over, no id of its own recorded."""
    assert up.pending.status_of(TRACE_ID) is Status.PENDING
    assert up.pending.cloud_requests == {}
    assert up.queued() == []


# --- A deadline on the whole exchange -------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("answer", [trickled_headers, endless_continue], ids=["headers", "continue"])
def test_a_cloud_that_never_finishes_its_status_and_headers_is_a_504_at_the_deadline(
    hostile: Callable[..., RestCloud], answer: Callable[[socket.socket], None], operation: str
) -> None:
    # GIVEN a REST cloud that keeps sending its headers (or `100 Continue`), a little at a time
    server = hostile(answer)
    up = connector_at(server.base_url, mode_of(operation))

    # WHEN managed integrations invokes the operation with the caller's 1.5 s
    outcome = up.handle(invocation(operation))

    # THEN it is a timeout, the connection closed by the function at its deadline, and nothing kept
    assert (outcome.code, outcome.reason) == (504, "device_cloud_timeout")
    assert server.ended.wait(SERVER_CEILING + 5)
    assert server.endings == ["closed by the client"]
    assert len(server.lines) == 1
    assert_nothing_came_of_it(up, operation)


@pytest.mark.parametrize("operation", ["activate", "sync"])
def test_a_body_a_byte_at_a_time_that_the_profile_reads_is_a_504_at_the_deadline(
    hostile: Callable[..., RestCloud], operation: str
) -> None:
    # GIVEN a REST cloud that answers 200 and then drips its body
    server = hostile(trickled_body)
    up = connector_at(server.base_url, mode_of(operation))

    # WHEN the user id (or a sync command's outcome) must be read from that body
    outcome = up.handle(invocation(operation))

    # THEN the body did not come in time: a timeout, the connection closed at the deadline
    assert (outcome.code, outcome.reason) == (504, "device_cloud_timeout")
    assert server.ended.wait(SERVER_CEILING + 5)
    assert server.endings == ["closed by the client"]
    assert_nothing_came_of_it(up, operation)


def test_an_async_commands_2xx_whose_body_drips_is_handed_over_at_the_deadline(
    hostile: Callable[..., RestCloud],
) -> None:
    # GIVEN an async REST cloud that takes the command (200) and then drips the body with its id
    server = hostile(trickled_body)
    up = connector_at(server.base_url, "async")

    # WHEN managed integrations sends a command
    outcome = up.handle(invocation("async"))

    # THEN the 2xx took it: acknowledged, without the cloud's own id, the body cut at the deadline
    assert (outcome.code, outcome.reason) == (200, "ok")
    assert server.ended.wait(SERVER_CEILING + 5)
    assert server.endings == ["closed by the client"]
    assert_handed_over_without_an_id(up)


# --- Redirects: never followed --------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "307 Temporary Redirect"])
def test_a_redirect_is_a_502_and_never_followed(
    hostile: Callable[..., RestCloud], listener: RestCloud, status: str, operation: str
) -> None:
    # GIVEN a REST cloud that redirects every request to another host
    server = hostile(answering(status, headers={"Location": f"{listener.base_url}/v1/users/me"}))
    up = connector_at(server.base_url, mode_of(operation))

    # WHEN managed integrations invokes the operation
    outcome = up.handle(invocation(operation))

    # THEN the redirect is the answer, a failure to retry; the other host is never asked
    assert (outcome.code, outcome.reason) == (502, "device_cloud_redirect")
    assert len(server.lines) == 1
    assert listener.connections == 0
    assert_nothing_came_of_it(up, operation)


# --- 2xx answers the profile cannot read ----------------------------------------------------------------

GARBAGE = [
    pytest.param(answering("200 OK", b"OK", {"Content-Type": "text/plain"}), id="text"),
    pytest.param(
        answering("200 OK", b"<html><body>ok</body></html>", {"Content-Type": "text/html"}), id="html"
    ),
    pytest.param(answering("200 OK", b'{"id": ', {"Content-Type": "application/json"}), id="cut"),
    pytest.param(ten_megabytes, id="10MB"),
]


@pytest.mark.parametrize("operation", ["activate", "sync"])
@pytest.mark.parametrize("answer", GARBAGE)
def test_a_2xx_whose_body_the_profile_must_read_and_cannot_is_a_502(
    hostile: Callable[..., RestCloud], answer: Callable[[socket.socket], None], operation: str
) -> None:
    # GIVEN a REST cloud whose 2xx is not JSON, is cut short, or is larger than any answer is read
    server = hostile(answer)
    up = connector_at(server.base_url, mode_of(operation))

    # WHEN the user id (or a sync command's outcome) must be read from it
    outcome = up.handle(invocation(operation))

    # THEN it is an answer that cannot be used, a failure to retry, and nothing is kept
    assert (outcome.code, outcome.reason) == (502, "device_cloud_unreadable_answer")
    assert len(server.lines) == 1
    assert_nothing_came_of_it(up, operation)


@pytest.mark.parametrize("answer", GARBAGE)
def test_an_async_commands_2xx_takes_it_whatever_its_body(
    hostile: Callable[..., RestCloud], answer: Callable[[socket.socket], None]
) -> None:
    # GIVEN an async REST cloud whose 2xx carries no id it can be read for
    server = hostile(answer)
    up = connector_at(server.base_url, "async")

    # WHEN managed integrations sends a command THEN it is handed over, without the cloud's own id
    outcome = up.handle(invocation("async"))
    assert (outcome.code, outcome.reason) == (200, "ok")
    assert_handed_over_without_an_id(up)


# --- Internal addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["::ffff:127.0.0.1"],
        ["10.0.0.7"],
        ["192.168.1.20"],
        ["169.254.7.1"],
        ["169.254.169.254"],
        ["fd00:ec2::254"],
        ["203.0.113.9", "127.0.0.1"],
    ],
    ids=[
        "loopback",
        "mapped",
        "private-10",
        "private-192",
        "link-local",
        "metadata",
        "metadata-v6",
        "one-of-two",
    ],
)
def test_an_https_name_that_resolves_to_an_internal_address_is_refused_before_connecting(
    listener: RestCloud, addresses: list[str], operation: str
) -> None:
    # GIVEN a deployed function and a profile whose https name resolves to an internal address (the port
    # is where a cloud listens on this machine, so that a connection would be seen)
    resolver = Resolver({HOST: addresses})
    up = connector_at(f"https://{HOST}:{listener.port}", mode_of(operation), resolver=resolver)

    # WHEN managed integrations invokes the operation
    outcome = up.handle(invocation(operation))

    # THEN the profile's cloud cannot be asked: a 500, the name resolved once, nothing connected to
    assert (outcome.code, outcome.reason) == (500, "setup_internal_address")
    assert resolver.asked == [HOST]
    assert listener.connections == 0
    assert_nothing_came_of_it(up, operation)


# --- "Not now" and "no" ---------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        ("429 Too Many Requests", 503, "device_cloud_status_429"),
        # A cloud's 5xx is the domain's 502 (a bad gateway), retried by the caller as a 503 would be.
        ("503 Service Unavailable", 502, "device_cloud_status_5xx"),
        ("404 Not Found", 404, "device_cloud_refused"),
        ("403 Forbidden", 403, "device_cloud_refused"),
    ],
)
def test_a_cloud_that_says_not_now_or_no_is_answered_with_the_documented_code(
    hostile: Callable[..., RestCloud], status: str, code: int, reason: str, operation: str
) -> None:
    # GIVEN a REST cloud that answers every request with the status (and a Retry-After)
    server = hostile(
        answering(
            status,
            b'{"message": "not now"}',
            {"Content-Type": "application/json", "Retry-After": "30"},
        )
    )
    up = connector_at(server.base_url, mode_of(operation))

    # WHEN managed integrations invokes the operation
    outcome = up.handle(invocation(operation))

    # THEN the answer is the documented code; a refused command is not queued, and its entry is released
    assert (outcome.code, outcome.reason) == (code, reason)
    assert len(server.lines) == 1
    assert_nothing_came_of_it(up, operation)


# --- The caller's retry ---------------------------------------------------------------------------------


def test_a_sync_command_that_timed_out_is_released_and_its_retry_asks_the_cloud_again(
    hostile: Callable[..., RestCloud],
) -> None:
    # GIVEN a sync REST cloud that never finishes its answer
    server = hostile(trickled_headers)
    up = connector_at(server.base_url, "sync")

    # WHEN managed integrations sends a command, and retries it after the 504
    first = up.handle(invocation("sync"))
    released = up.pending.status_of(TRACE_ID)
    retried = up.handle(invocation("sync"))

    # THEN the first was released (the function cannot know whether the cloud carried it out: commands
    # set a state, so asking again is the documented choice), and the retry asks the cloud again
    assert (first.code, first.reason) == (504, "device_cloud_timeout")
    assert released is None
    assert (retried.code, retried.reason) == (504, "device_cloud_timeout")
    assert len(server.lines) == 2
    assert up.queued() == []


def test_a_sync_command_whose_release_failed_is_not_asked_again_until_its_lease_ends(
    hostile: Callable[..., RestCloud],
) -> None:
    # GIVEN a sync REST cloud that never finishes its answer, and a correlation table that cannot release
    server = hostile(trickled_headers)
    up = connector_at(server.base_url, "sync")
    up.pending.failures["release"] = DependencyUnavailableError("correlation_table")

    # WHEN managed integrations sends a command, and retries it after the 504 at once
    first = up.handle(invocation("sync"))
    held = up.pending.status_of(TRACE_ID)
    retried = up.operations.handle(parse_invocation(invocation("sync")), WatchedBudget())

    # THEN the entry stays being handed over: the retry is told to come back, the cloud is not asked
    assert (first.code, first.reason) == (504, "device_cloud_timeout")
    assert held is Status.DISPATCHING
    assert (retried.code, retried.reason) == (503, "in_progress")
    assert len(server.lines) == 1

    # AND once the first invocation's lease has ended, a retry takes the command over and asks again
    up.clock.advance(SETTINGS.answer_within_seconds + 1)
    again = up.handle(invocation("sync"))
    assert (again.code, again.reason) == (504, "device_cloud_timeout")
    assert len(server.lines) == 2


# --- Logs -----------------------------------------------------------------------------------------------


def test_no_token_secret_or_device_id_reaches_the_logs(
    hostile: Callable[..., RestCloud], listener: RestCloud, capfd: pytest.CaptureFixture[str]
) -> None:
    # GIVEN clouds that time out, redirect, throttle, refuse and answer garbage, and a name that resolves
    # to the metadata address
    clouds = {
        "timeout": hostile(endless_continue),
        "redirect": hostile(answering("302 Found", headers={"Location": f"{listener.base_url}/{TOKEN}"})),
        "throttled": hostile(answering("429 Too Many Requests", headers={"Retry-After": "30"})),
        "refused": hostile(answering("403 Forbidden", f'{{"token": "{TOKEN}"}}'.encode())),
        "garbage": hostile(answering("200 OK", f"<html>{TOKEN} {DEVICE}</html>".encode())),
    }
    internal = connector_at(f"https://{HOST}", "sync", resolver=Resolver({HOST: ["169.254.169.254"]}))
    sensitive = [TOKEN, SECRET_TOKEN, DEVICE, "Sentinel"]

    # WHEN commands and activations, with an OAuth token and with a General Authorization secret, are
    # answered and logged as the handler logs them
    with captured_logs(capfd, [connector.logger], sensitive) as logs:
        outcomes = []
        for server in clouds.values():
            for operation, auth in [("sync", None), ("activate", general_authorization(SECRET_ARN))]:
                up = connector_at(server.base_url, mode_of(operation))
                outcomes.append(up.handle(invocation(operation, auth)))
        outcomes.append(internal.handle(invocation("sync")))
        for outcome in outcomes:
            log_outcome(connector.logger, outcome)
        text = logs.assert_nothing_sensitive()

    # THEN every failure was logged, by its reason, and none of the values
    reasons = {outcome.reason for outcome in outcomes}
    assert reasons == {
        "device_cloud_timeout",
        "device_cloud_redirect",
        "device_cloud_status_429",
        "device_cloud_refused",
        "device_cloud_unreadable_answer",
        "setup_internal_address",
    }
    assert all(reason in text for reason in reasons)
