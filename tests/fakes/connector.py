"""In-memory stand-ins for the connector function's ports: device clouds that record what they were asked
and fail the way the webhook adapter does, the correlation table's entries with their statuses and leases,
the user table, and General Authorization secrets by ARN and version."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iotbridge.budget import TimeBudget
from iotbridge.composition import BuiltAtInit
from iotbridge.connector.domain.invocations import ConnectorOperations, Deadlines
from iotbridge.connector.ports import (
    CloudRequest,
    CommandHandedOver,
    DeviceCloudUnavailableError,
    UnusableCredentialError,
)
from iotbridge.connector.settings import ConnectorSettings
from iotbridge.connector.wiring import ConnectorWiring
from iotbridge.correlation.model import (
    DISCOVERY,
    AnswerMatch,
    Begun,
    PendingRequest,
    Status,
    SweepReport,
    kind_of_key,
)

CONNECTOR = "lumen-home"
ACCOUNT = "123456789012"
AUTHORIZATION_PREFIX = "iot-bridge/authorization/"
SECRET_ARN = (
    f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{AUTHORIZATION_PREFIX}{CONNECTOR}/token-Ab12Cd"
)


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT (header.payload.signature) carrying `claims`: what the connector reads of a token."""

    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


@dataclass
class FakeDeviceCloud:
    """One connector's device cloud: records every request (with the time it was given), answers the
    user id it knows for a credential, and fails the next calls with `failures` (ConnectorSetupError,
    DeviceCloudRefusedError, DeviceCloudUnavailableError, or anything else). With `latency` and a clock
    it advances, a call that takes longer than its timeout raises DeviceCloudUnavailableError("timeout"),
    as the webhook adapter does."""

    user_id_claim: str | None = None
    users: dict[str, str] = field(default_factory=dict)  # credential value -> the cloud's user id
    # A command's traceId -> the cloud's own id of it, which its answer gives (as deviceCloud.requestId finds)
    cloud_request_ids: dict[str, str] = field(default_factory=dict)
    failures: list[BaseException] = field(default_factory=list)
    latency: float = 0.0
    advance: Callable[[float], None] | None = None
    # Called with each request as it arrives (a test holds a call there to overlap another with it).
    on_request: Callable[[CloudRequest], None] | None = None
    requests: list[CloudRequest] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)

    def _take(self, request: CloudRequest, timeout_seconds: float) -> None:
        self.requests.append(request)
        self.timeouts.append(timeout_seconds)
        if self.on_request is not None:
            self.on_request(request)
        if self.failures:
            raise self.failures.pop(0)
        if self.advance is not None and self.latency:
            self.advance(min(self.latency, timeout_seconds))
        if self.latency > timeout_seconds:
            raise DeviceCloudUnavailableError("timeout")

    def activate_user(self, request: CloudRequest, *, timeout_seconds: float) -> str | None:
        self._take(request, timeout_seconds)
        return self.users.get(request.credential.value)

    def discover_devices(self, request: CloudRequest, *, timeout_seconds: float) -> None:
        self._take(request, timeout_seconds)

    def send_command(self, request: CloudRequest, *, timeout_seconds: float) -> CommandHandedOver:
        self._take(request, timeout_seconds)
        return CommandHandedOver(self.cloud_request_ids.get(request.request_id or ""))

    def deactivate_user(self, request: CloudRequest, *, timeout_seconds: float) -> str | None:
        self._take(request, timeout_seconds)
        return self.users.get(request.credential.value)

    def asked(self, operation: str) -> list[CloudRequest]:
        return [r for r in self.requests if r.operation == operation]


class InMemoryDeviceClouds:
    """Device clouds by connector id; `failure` (e.g. a ConnectorSetupError for a profile that cannot be
    used) is raised by every lookup while set."""

    def __init__(self, clouds: dict[str, FakeDeviceCloud] | None = None) -> None:
        self.clouds = dict(clouds or {})
        self.failure: BaseException | None = None
        self.lookups: list[str] = []

    def for_connector(self, connector_id: str) -> FakeDeviceCloud | None:
        self.lookups.append(connector_id)
        if self.failure is not None:
            raise self.failure
        return self.clouds.get(connector_id)


@dataclass
class Entry:
    request: PendingRequest
    status: Status
    lease_until: float | None
    lease: str | None = None  # the lease token of the invocation handing it over


class InMemoryPendingRequests:
    """The correlation table's entries, as CorrelationTable keeps them: `begin` records a request as being
    handed over (for its lease), finds one handed over before, or one another invocation holds; a lease
    that ended or an entry past its retention may be taken over; `handed_over` and `release` act only on an
    entry still being handed over under the caller's own lease. A discovery begun is the latest of its user
    and connector (`latest`, a newer one winning) until its release; a device cloud's own id of a command
    names it (`cloud_requests`, the first kept). `failures` maps a method name to the error its next call
    raises."""

    def __init__(self, clock: Callable[[], float] = time.time, retention_seconds: float = 7 * 86400) -> None:
        self.entries: dict[str, Entry] = {}
        # (connector, user or None) -> the latest discovery begun
        self.latest: dict[tuple[str, str | None], PendingRequest] = {}
        # (connector, the cloud's request id) -> the traceId
        self.cloud_requests: dict[tuple[str, str], str] = {}
        self.failures: dict[str, BaseException] = {}
        self.calls: list[str] = []
        self._clock = clock
        self._retention = retention_seconds
        self._lock = threading.Lock()

    def _called(self, name: str) -> None:
        self.calls.append(name)
        failure = self.failures.pop(name, None)
        if failure is not None:
            raise failure

    def begin(self, request: PendingRequest, lease_seconds: float) -> Begun:
        with self._lock:
            self._called("begin")
            now = self._clock()
            old = self.entries.get(request.key)
            if old is not None and old.request.deadline + self._retention >= now:
                lease_over = old.lease_until is not None and old.lease_until < now
                if old.status is not Status.DISPATCHING:
                    return Begun.HANDED_OVER
                if not lease_over:
                    return Begun.IN_PROGRESS
            self.entries[request.key] = Entry(
                request, Status.DISPATCHING, now + max(lease_seconds, 1.0), request.lease
            )
            if request.kind == DISCOVERY:
                for user in dict.fromkeys((request.user_id, None)):
                    older = self.latest.get((request.connector_id, user))
                    if older is None or older.requested_at <= request.requested_at:
                        self.latest[(request.connector_id, user)] = request
            return Begun.NEW

    def handed_over(self, request: PendingRequest) -> None:
        with self._lock:
            self._called("handed_over")
            entry = self.entries.get(request.key)
            if entry is not None and entry.status is Status.DISPATCHING and entry.lease == request.lease:
                entry.status, entry.lease_until, entry.lease = Status.PENDING, None, None

    def release(self, request: PendingRequest) -> None:
        with self._lock:
            self._called("release")
            entry = self.entries.get(request.key)
            if entry is not None and entry.status is Status.DISPATCHING and entry.lease == request.lease:
                del self.entries[request.key]
            for key, latest in list(self.latest.items()):
                if latest.request_id == request.request_id and latest.lease == request.lease:
                    del self.latest[key]

    def record_cloud_request_id(self, request: PendingRequest, cloud_request_id: str) -> bool:
        with self._lock:
            self._called("record_cloud_request_id")
            key = (request.connector_id, cloud_request_id)
            self.cloud_requests.setdefault(key, request.request_id)
            return self.cloud_requests[key] == request.request_id

    def answered(self, kind: str, connector_id: str, request_id: str) -> AnswerMatch:
        """CorrelationTable.answered: the entry of this request marked answered."""
        with self._lock:
            self._called("answered")
            entry = next(
                (
                    e
                    for e in self.entries.values()
                    if (e.request.kind, e.request.connector_id, e.request.request_id)
                    == (kind, connector_id, request_id)
                ),
                None,
            )
            if entry is None:
                return AnswerMatch.UNMATCHED
            if entry.status is Status.ANSWERED:
                return AnswerMatch.REPEATED
            entry.status, entry.lease_until, entry.lease = Status.ANSWERED, None, None
            return AnswerMatch.ANSWERED

    def answer(self, request: PendingRequest) -> None:
        """What the receiver does when it accepts the request's answer."""
        with self._lock:
            entry = self.entries[request.key]
            if entry.status in (Status.DISPATCHING, Status.PENDING, Status.EXPIRED):
                entry.status, entry.lease_until, entry.lease = Status.ANSWERED, None, None

    def expire_overdue(self, budget: TimeBudget, *, page_size: int = 100) -> SweepReport:
        with self._lock:
            self._called("expire_overdue")
            expired: dict[str, int] = {"discovery": 0, "command": 0}
            now = self._clock()
            for key, entry in self.entries.items():
                if entry.status in (Status.DISPATCHING, Status.PENDING) and entry.request.deadline < now:
                    entry.status, entry.lease_until, entry.lease = Status.EXPIRED, None, None
                    expired[kind_of_key(key)] += 1
            return SweepReport(expired)

    def status_of(self, request_id: str) -> Status | None:
        found = [e.status for e in self.entries.values() if e.request.request_id == request_id]
        return found[0] if found else None

    def entry_of(self, request_id: str) -> PendingRequest | None:
        found = [e.request for e in self.entries.values() if e.request.request_id == request_id]
        return found[0] if found else None


class InMemoryUserDirectory:
    """Users' status by (connector, user), as the user table keeps it; `failure` is raised while set."""

    def __init__(self) -> None:
        self.status: dict[tuple[str, str], bool] = {}
        self.failure: BaseException | None = None

    def set_status(self, connector_id: str, user_id: str, *, active: bool) -> None:
        if self.failure is not None:
            raise self.failure
        self.status[(connector_id, user_id)] = active

    def is_deactivated(self, connector_id: str, user_id: str) -> bool:
        return self.status.get((connector_id, user_id)) is False


class InMemoryAuthorizations:
    """General Authorization secrets by ARN and version (None: the current one), as the Secrets Manager
    adapter reads them: a name outside the prefix or outside the connector's own part of it
    (`<prefix><connector id>/`), or a secret that does not exist, is unusable; an empty one is not text;
    `failure` (e.g. DependencyUnavailableError) is raised while set."""

    def __init__(
        self, secrets: dict[tuple[str, str | None], str], prefix: str = AUTHORIZATION_PREFIX
    ) -> None:
        self.secrets = dict(secrets)
        self.prefix = prefix
        self.failure: BaseException | None = None
        self.reads: list[tuple[str, str | None]] = []

    def secret_for(self, connector_id: str, arn: str, version_id: str | None) -> str:
        self.reads.append((arn, version_id))
        if self.failure is not None:
            raise self.failure
        name = arn.split(":secret:", 1)[-1]
        if not name.startswith(self.prefix):
            raise UnusableCredentialError("outside_prefix")
        if not name.startswith(f"{self.prefix}{connector_id}/"):
            raise UnusableCredentialError("other_connector")
        value = self.secrets.get((arn, version_id))
        if value is None:
            raise UnusableCredentialError("unreadable")
        if not value:
            raise UnusableCredentialError("not_text")
        return value


class SteppingClock:
    """A clock a test (or a fake device cloud's latency) moves on."""

    def __init__(self, start: float = 1_795_430_400.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class ConnectorFakes:
    """Every port of the connector function, in memory, and the operations over them."""

    clock: SteppingClock = field(default_factory=SteppingClock)
    cloud: FakeDeviceCloud = field(default_factory=FakeDeviceCloud)
    clouds: InMemoryDeviceClouds = field(default_factory=InMemoryDeviceClouds)
    requests: InMemoryPendingRequests | None = None
    users: InMemoryUserDirectory = field(default_factory=InMemoryUserDirectory)
    authorizations: InMemoryAuthorizations = field(default_factory=lambda: InMemoryAuthorizations({}))
    deadlines: Deadlines = field(default_factory=Deadlines)

    def __post_init__(self) -> None:
        self.clouds.clouds.setdefault(CONNECTOR, self.cloud)
        if self.requests is None:
            self.requests = InMemoryPendingRequests(clock=self.clock)
        if self.cloud.advance is None:
            self.cloud.advance = self.clock.advance

    @property
    def pending(self) -> InMemoryPendingRequests:
        assert self.requests is not None
        return self.requests

    def operations(self, device_cloud_seconds: float = 1.0) -> ConnectorOperations:
        return ConnectorOperations(
            device_clouds=self.clouds,
            requests=self.pending,
            users=self.users,
            authorizations=self.authorizations,
            deadlines=self.deadlines,
            device_cloud_seconds=device_cloud_seconds,
            clock=self.clock,
        )

    def wiring(self, **settings: Any) -> BuiltAtInit[ConnectorWiring]:
        """The handler's composition root, over these fakes."""
        options = {"correlation_table": "CorrelationTable", "user_table": "ConnectorUserTable", **settings}
        built = ConnectorWiring(
            settings=ConnectorSettings(**options),
            operations=self.operations(ConnectorSettings(**options).device_cloud_timeout_seconds),
        )
        return BuiltAtInit.fixed(built)
