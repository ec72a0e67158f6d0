"""Managed integrations' four operations, each answered within the time the caller waits.

Managed integrations invokes a connector with a 2 s timeout and tries a failed invocation 5 more times. So:

- AWS.ActivateUser answers the user's id: the claim of the user's token the profile names (no call), or
  what the device cloud answers;
- AWS.DiscoverDevices and AWS.SendCommand record the request (its id, connector, user and deadline), hand
  it to the device cloud and acknowledge at once; the cloud answers later, through the relay, with the same
  id, or with its own id of a command, which its answer to the command gave and the function records. A
  device cloud that answers a command at once (a REST cloud whose profile says `sync`) gives its outcome
  as a DEVICE_COMMAND_RESPONSE, which is queued for managed integrations here and the request marked
  answered. A retried invocation finds the record and acknowledges without asking the cloud again;
- AWS.DeactivateUser has the device cloud revoke the user's credentials and records the user deactivated,
  after which the relay takes no more of their events.

Every failure is an answer: a non-2xx `responseCode` and a message, never an exception. No value of the
request (token, secret, user, device) is ever part of an answer's message or a log field.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from iotbridge import matter
from iotbridge.budget import TimeBudget
from iotbridge.correlation.model import COMMAND, DISCOVERY, METRIC_NOUNS, Begun, PendingRequest
from iotbridge.errors import DependencyUnavailableError
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.telemetry import Measurement

from ..ports import (
    Authorizations,
    CloudRequest,
    CommandHandedOver,
    ConnectorSetupError,
    Credential,
    DeviceCloudClient,
    DeviceCloudRefusedError,
    DeviceClouds,
    DeviceCloudUnavailableError,
    EventQueue,
    PendingRequests,
    RequestedCommand,
    UnmappableCommandError,
    UnusableCredentialError,
    UserDirectory,
)
from .requests import (
    ACTIVATE_USER,
    DEACTIVATE_USER,
    DiscoverDevicesInvocation,
    DiscoverDevicesPayload,
    GeneralAuthorization,
    Invocation,
    SendCommandInvocation,
    response,
    user_id_problems,
)

# What is kept of the caller's wait after the device cloud's call: recording the hand-over, answering.
ANSWER_MARGIN_SECONDS = 0.25
# Below this, the device cloud is not asked at all: no answer could come in time.
MIN_CLOUD_SECONDS = 0.1
MAX_JWT_PAYLOAD_CHARS = 8192
# A device cloud's 4xx that means "not now" (timeout, too early, too many requests): answered with a 5xx,
# which managed integrations' retries are for, rather than as a refusal.
TRY_LATER_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long after a request its answer may come before it counts as never answered."""

    discovery_seconds: int = 600
    command_seconds: int = 60


@dataclass(frozen=True, slots=True)
class InvocationOutcome:
    """An invocation's answer, with what its log line and metrics say about it."""

    code: int
    message: str
    reason: str  # "ok", "handed_over_before", "device_cloud_timeout", ...: for logs and metrics
    operation: str | None = None
    connector_id: str | None = None
    request_id: str | None = None  # the deviceDiscoveryId or traceId (not sensitive in AWS's model)
    user_id: str | None = field(default=None, repr=False)
    measurements: tuple[Measurement, ...] = ()

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    def response(self) -> dict[str, Any]:
        return response(self.code, self.message, user_id=self.user_id if self.ok else None)

    def all_measurements(self) -> list[Measurement]:
        if self.ok:
            return list(self.measurements)
        # One metric per reason, as the receiver's rejections: the handler's one dimension set for all.
        return [
            *self.measurements,
            Measurement("InvocationsFailed", 1),
            Measurement(f"Failed_{self.reason}", 1),
        ]


def failure(code: int, reason: str, message: str, invocation: Invocation | None = None) -> InvocationOutcome:
    payload = invocation.payload if invocation is not None else None
    return InvocationOutcome(
        code,
        message,
        reason,
        operation=payload.operation_name if payload is not None else None,
        connector_id=payload.connector_id if payload is not None else None,
        request_id=request_id_of(invocation) if invocation is not None else None,
    )


def request_id_of(invocation: Invocation) -> str | None:
    if isinstance(invocation, DiscoverDevicesInvocation):
        return invocation.payload.device_discovery_id
    if isinstance(invocation, SendCommandInvocation):
        return invocation.payload.trace_id
    return None


def claim_of(token: str, claim: str) -> str | None:
    """The claim of a JWT's payload, as text; None when the token is no JWT or has no such claim.

    The claim is read, not verified: the token comes from managed integrations, which had it from the
    authorization server, and the device cloud checks it whenever it is used.
    """
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > MAX_JWT_PAYLOAD_CHARS:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return None
    value = decoded.get(claim) if isinstance(decoded, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def matter_commands(invocation: SendCommandInvocation) -> tuple[RequestedCommand, ...]:
    """The command's endpoints, clusters and commands, each named from the catalogue when it is there."""
    found = []
    for endpoint in invocation.payload.endpoints:
        for cluster in endpoint.clusters:
            for command_id, fields in cluster.commands.items():
                found.append(
                    RequestedCommand(
                        endpoint=endpoint.id,
                        cluster_id=cluster.id,
                        command_id=command_id,
                        name=_catalogue_name(cluster.id, command_id),
                        fields=fields,
                    )
                )
    return tuple(found)


def _catalogue_name(cluster_id: str, command_id: str) -> str | None:
    try:
        return matter.command_name(matter.parse_id(cluster_id), matter.parse_id(command_id))
    except ValueError:
        return None


class ConnectorOperations:
    """The connector's side of managed integrations' four operations."""

    def __init__(
        self,
        *,
        device_clouds: DeviceClouds,
        requests: PendingRequests,
        users: UserDirectory,
        authorizations: Authorizations,
        deadlines: Deadlines | None = None,
        device_cloud_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        events: EventQueue | None = None,
    ) -> None:
        self._clouds = device_clouds
        # Where the outcome of a command a device cloud answers at once goes (None: no such cloud here).
        self._events = events
        self._requests = requests
        self._users = users
        self._authorizations = authorizations
        self._deadlines = deadlines or Deadlines()
        self._cloud_seconds = device_cloud_seconds
        self._clock = clock

    def handle(self, invocation: Invocation, budget: TimeBudget) -> InvocationOutcome:
        """The answer to one invocation, within `budget` (what is left of the caller's wait)."""
        try:
            return self._handle(invocation, budget)
        except DependencyUnavailableError as exc:
            return failure(
                503,
                f"unavailable_{exc.reason}",
                "A service the connector needs is unavailable; retry.",
                invocation,
            )
        except ConnectorSetupError as exc:
            return failure(
                500,
                f"setup_{exc.reason}",
                "The connector's device cloud is not set up to be asked.",
                invocation,
            )
        except UnmappableCommandError as exc:
            return failure(400, exc.reason, exc.message, invocation)
        except UnusableCredentialError as exc:
            return failure(
                401, f"credential_{exc.reason}", "The authorization's secret cannot be used.", invocation
            )
        except DeviceCloudRefusedError as exc:
            if exc.status in TRY_LATER_STATUSES:
                return failure(
                    503,
                    f"device_cloud_status_{exc.status}",
                    "The device cloud could not take the request; retry.",
                    invocation,
                )
            code = exc.status if 400 <= exc.status < 500 else 400
            return failure(
                code,
                "device_cloud_refused",
                f"The device cloud refused the request ({exc.status}).",
                invocation,
            )
        except DeviceCloudUnavailableError as exc:
            code = 504 if exc.reason in ("timeout", "unreachable", "no_time_left") else 502
            return failure(
                code,
                f"device_cloud_{exc.reason}",
                "The device cloud could not take the request; retry.",
                invocation,
            )

    def _handle(self, invocation: Invocation, budget: TimeBudget) -> InvocationOutcome:
        payload = invocation.payload
        cloud = self._clouds.for_connector(payload.connector_id)
        if cloud is None:
            return failure(404, "unknown_connector", "The connector has no device cloud set up.", invocation)
        credential = self._credential(invocation)
        if isinstance(invocation, DiscoverDevicesInvocation | SendCommandInvocation):
            return self._hand_over(invocation, cloud, credential, budget)
        if payload.operation_name == ACTIVATE_USER:
            return self._activate(invocation, cloud, credential, budget)
        return self._deactivate(invocation, cloud, credential, budget)

    def _credential(self, invocation: Invocation) -> Credential:
        auth = invocation.header.auth
        if isinstance(auth, GeneralAuthorization):
            secret = auth.secrets_manager
            return Credential(
                "GeneralAuthorization",
                self._authorizations.secret_for(
                    invocation.payload.connector_id, secret.arn, secret.version_id
                ),
                arn=secret.arn,
                version_id=secret.version_id,
            )
        return Credential("OAuth2.0", auth.token)

    def _claimed_user(self, cloud: DeviceCloudClient, credential: Credential) -> str | None:
        if cloud.user_id_claim is None or credential.type != "OAuth2.0":
            return None
        return claim_of(credential.value, cloud.user_id_claim)

    def _cloud_time(self, budget: TimeBudget) -> float:
        seconds = min(self._cloud_seconds, budget.remaining_seconds() - ANSWER_MARGIN_SECONDS)
        if seconds < MIN_CLOUD_SECONDS:
            raise DeviceCloudUnavailableError("no_time_left")
        return seconds

    # --- AWS.ActivateUser, AWS.DeactivateUser -----------------------------------------------------------

    def _activate(
        self, invocation: Invocation, cloud: DeviceCloudClient, credential: Credential, budget: TimeBudget
    ) -> InvocationOutcome:
        user_id = self._claimed_user(cloud, credential)
        if user_id is None:
            request = self._cloud_request("activateUser", invocation, credential)
            user_id = cloud.activate_user(request, timeout_seconds=self._cloud_time(budget))
        return self._set_user_status(invocation, user_id, active=True)

    def _deactivate(
        self, invocation: Invocation, cloud: DeviceCloudClient, credential: Credential, budget: TimeBudget
    ) -> InvocationOutcome:
        claimed = self._claimed_user(cloud, credential)
        request = self._cloud_request("deactivateUser", invocation, credential, user_id=claimed)
        user_id = cloud.deactivate_user(request, timeout_seconds=self._cloud_time(budget)) or claimed
        return self._set_user_status(invocation, user_id, active=False)

    def _set_user_status(
        self, invocation: Invocation, user_id: str | None, *, active: bool
    ) -> InvocationOutcome:
        """Record the user the device cloud named as activated or deactivated, and the answer that says so."""
        usable = self._usable_user(user_id, invocation)
        if isinstance(usable, InvocationOutcome):
            return usable
        connector_id = invocation.payload.connector_id
        self._users.set_status(connector_id, usable, active=active)
        return InvocationOutcome(
            200,
            "The user is activated." if active else "The user is deactivated.",
            "ok",
            operation=ACTIVATE_USER if active else DEACTIVATE_USER,
            connector_id=connector_id,
            user_id=usable if active else None,
            measurements=(Measurement("UsersActivated" if active else "UsersDeactivated", 1),),
        )

    @staticmethod
    def _usable_user(user_id: str | None, invocation: Invocation) -> str | InvocationOutcome:
        """The user id the device cloud gave, or the failure to answer when it cannot be used."""
        if user_id is None:
            return failure(502, "no_user_id", "The device cloud gave no user id.", invocation)
        if user_id_problems(user_id):
            return failure(
                502,
                "unusable_user_id",
                "The device cloud's user id cannot be the UserId of SendConnectorEvent "
                "(1 to 64 of a-z A-Z 0-9 _ . , @ -).",
                invocation,
            )
        return user_id

    # --- AWS.DiscoverDevices, AWS.SendCommand -----------------------------------------------------------

    def _hand_over(
        self,
        invocation: DiscoverDevicesInvocation | SendCommandInvocation,
        cloud: DeviceCloudClient,
        credential: Credential,
        budget: TimeBudget,
    ) -> InvocationOutcome:
        payload = invocation.payload
        discovery = isinstance(invocation, DiscoverDevicesInvocation)
        kind = DISCOVERY if discovery else COMMAND
        request_id = (
            payload.device_discovery_id if isinstance(payload, DiscoverDevicesPayload) else payload.trace_id
        )
        now = self._clock()
        user_id = self._claimed_user(cloud, credential)
        deadline = self._deadlines.discovery_seconds if discovery else self._deadlines.command_seconds
        pending = PendingRequest(kind, payload.connector_id, request_id, user_id, now, now + deadline)
        done = InvocationOutcome(
            200,
            "Handed to the device cloud; its answer follows asynchronously.",
            "ok",
            operation=payload.operation_name,
            connector_id=payload.connector_id,
            request_id=request_id,
        )
        # The record's lease: as long as this invocation may still be working on it.
        begun = self._requests.begin(pending, lease_seconds=max(budget.remaining_seconds(), 1.0))
        if begun is Begun.HANDED_OVER:
            return replace(done, reason="handed_over_before")
        if begun is Begun.IN_PROGRESS:
            return failure(
                503, "in_progress", "This request is being handed to the device cloud; retry.", invocation
            )
        if isinstance(invocation, SendCommandInvocation):
            request = self._cloud_request(
                "sendCommand",
                invocation,
                credential,
                user_id=user_id,
                request_id=request_id,
                connector_device_id=invocation.payload.connector_device_id,
                commands=matter_commands(invocation),
            )
            ask: Callable[..., CommandHandedOver | None] = cloud.send_command
        else:
            request = self._cloud_request(
                "discoverDevices", invocation, credential, user_id=user_id, request_id=request_id
            )
            ask = cloud.discover_devices
        try:
            handed = ask(request, timeout_seconds=self._cloud_time(budget))
            if isinstance(handed, CommandHandedOver) and handed.response is not None:
                return self._answered_at_once(pending, handed, done)
        except BaseException:
            # Not handed over: a retried invocation must ask again.
            # When even that fails, the record's lease ends and a retry takes the request over then.
            with contextlib.suppress(DependencyUnavailableError):
                self._requests.release(pending)
            raise
        cloud_request_id = handed.cloud_request_id if isinstance(handed, CommandHandedOver) else None
        measurements = [Measurement(f"{METRIC_NOUNS[kind]}Requested", 1)]
        if cloud_request_id is not None:
            measurements.append(self._record_cloud_request_id(pending, cloud_request_id))
        # The device cloud has it: acknowledged even when this fails. The record then stays "being handed
        # over" until its lease ends; the relay still marks it answered.
        with contextlib.suppress(DependencyUnavailableError):
            self._requests.handed_over(pending)
        return replace(done, measurements=tuple(measurements))

    def _answered_at_once(
        self, pending: PendingRequest, handed: CommandHandedOver, done: InvocationOutcome
    ) -> InvocationOutcome:
        """Queue the DEVICE_COMMAND_RESPONSE of a command the device cloud carried out at once, then mark
        the command answered.

        The response is queued before anything is marked: when queuing fails (DependencyUnavailableError,
        raised to the caller, which releases the record and answers 503), managed integrations' retry asks
        the device cloud again, so the cloud may carry the command out twice. That is harmless for the
        commands profiles map (on, off, a level, a colour, lock, unlock: each sets a state) and would repeat
        a toggle; the other way round (marked, then not queued) would lose the response for good, as a
        retry finds the command handed over. A response queued by a try whose answer was lost is not
        queued twice: its queue message's deduplication id is the same on every try."""
        assert handed.response is not None
        if self._events is None:
            raise ConnectorSetupError("no_event_queue")
        queued = QueuedEvent(
            connector_id=pending.connector_id,
            webhook_id=f"command:{pending.request_id}",
            index=0,
            received_at=int(self._clock()),
            event=handed.response,
        )
        self._events.enqueue([queued])
        measurements = [Measurement("CommandsRequested", 1), Measurement("CommandsAnsweredSynchronously", 1)]
        if handed.cloud_request_id is not None:
            measurements.append(self._record_cloud_request_id(pending, handed.cloud_request_id))
        try:
            self._requests.answered(COMMAND, pending.connector_id, pending.request_id)
        except DependencyUnavailableError:
            # The response is queued: acknowledged all the same. The record stays "being handed over"
            # until its lease ends; the sweep counts it never answered after its deadline.
            measurements.append(Measurement("CommandsUnmarked", 1))
        return replace(
            done,
            message="The device cloud carried out the command; its response is queued.",
            measurements=tuple(measurements),
        )

    def _record_cloud_request_id(self, pending: PendingRequest, cloud_request_id: str) -> Measurement:
        """Record the device cloud's own id of the command, before the command is marked handed over (its
        answer may come any moment). The cloud has the command whatever becomes of this: a failure is
        counted, not answered, as a retry would not ask the cloud again to learn the id."""
        try:
            recorded = self._requests.record_cloud_request_id(pending, cloud_request_id)
        except DependencyUnavailableError:
            recorded = False
        return Measurement("CloudRequestIdsRecorded" if recorded else "CloudRequestIdsUnrecorded", 1)

    @staticmethod
    def _cloud_request(
        operation: Any,
        invocation: Invocation,
        credential: Credential,
        *,
        user_id: str | None = None,
        request_id: str | None = None,
        connector_device_id: str | None = None,
        commands: tuple[RequestedCommand, ...] = (),
    ) -> CloudRequest:
        return CloudRequest(
            operation=operation,
            connector_id=invocation.payload.connector_id,
            credential=credential,
            request_id=request_id,
            user_id=user_id,
            connector_device_id=connector_device_id,
            commands=commands,
            # As managed integrations sent it: the members it set, those this project does not know included.
            payload=invocation.payload.model_dump(mode="json", by_alias=True, exclude_unset=True),
        )

    # --- the scheduled sweep ----------------------------------------------------------------------------

    def sweep(self, budget: TimeBudget) -> InvocationOutcome:
        """Count the requests past their deadline that were never answered (each once)."""
        try:
            report = self._requests.expire_overdue(budget)
        except DependencyUnavailableError as exc:
            return failure(503, f"unavailable_{exc.reason}", "The correlation table is unavailable.")
        measurements = [
            Measurement(f"{METRIC_NOUNS[kind]}NeverAnswered", n) for kind, n in report.expired.items()
        ]
        if not report.complete:
            measurements.append(Measurement("SweepsIncomplete", 1))
        counts = ", ".join(f"{n} {kind}" for kind, n in report.expired.items())
        return InvocationOutcome(
            200,
            f"Expired unanswered: {counts}." + ("" if report.complete else " (more left for the next sweep)"),
            "ok" if report.complete else "incomplete",
            operation="sweep",
            measurements=tuple(measurements),
        )
