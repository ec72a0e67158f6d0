"""What the connector's domain needs from the outside world, and the errors those ports raise.

The device cloud is the port a team replaces to plug in its cloud's own API: four calls, one per operation,
each given the request and the time it may take. `adapters.WebhookDeviceClouds` gives one of two by the
connector's profile: `deviceCloud` POSTs each request to the cloud's URL as a signed webhook, and the cloud
answers discoveries and commands later, through the relay; `outbound` drives the cloud's own REST API
(`rest.RestDeviceCloud`), whose discoveries a worker fetches after the invocation (`DiscoveryJobs`) and whose
commands' outcomes, when it gives them at once, the function queues itself (`EventQueue`). Every port
may also raise iotbridge.errors.DependencyUnavailableError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from iotbridge.budget import TimeBudget
from iotbridge.correlation.model import AnswerMatch, Begun, PendingRequest, SweepReport
from iotbridge.errors import PermanentError, TransientError
from iotbridge.send_connector_event.queued import QueuedEvent

CloudOperation = Literal["activateUser", "discoverDevices", "sendCommand", "deactivateUser"]


@dataclass(frozen=True, slots=True)
class Credential:
    """The end user's credential as the device cloud gets it: their OAuth access token, or the text of the
    General Authorization secret managed integrations named (and where that secret is: its ARN and version,
    for work done later, which reads it again rather than carry its text)."""

    type: Literal["OAuth2.0", "GeneralAuthorization"]
    value: str = field(repr=False)
    # Where the value came from: not part of what the credential is.
    arn: str | None = field(default=None, compare=False)
    version_id: str | None = field(default=None, compare=False)

    def as_wire(self) -> dict[str, str]:
        if self.type == "OAuth2.0":
            return {"type": self.type, "token": self.value}
        return {"type": self.type, "secret": self.value}


@dataclass(frozen=True, slots=True)
class RequestedCommand:
    """One command of a SendCommand: where, which (its ids, and its catalogue name when the catalogue has
    it, e.g. "OnOff.Off") and its fields as given."""

    endpoint: str
    cluster_id: str
    command_id: str
    name: str | None
    fields: Any = field(default=None, repr=False)

    def as_wire(self) -> dict[str, Any]:
        wire = {"endpoint": self.endpoint, "clusterId": self.cluster_id, "commandId": self.command_id}
        if self.name is not None:
            wire["name"] = self.name
        return {**wire, "fields": self.fields if self.fields is not None else {}}


@dataclass(frozen=True, slots=True)
class CloudRequest:
    """One request for the device cloud. `request_id` (the deviceDiscoveryId or traceId) is what the cloud
    echoes when it answers through the relay."""

    operation: CloudOperation
    connector_id: str
    credential: Credential
    request_id: str | None = None
    user_id: str | None = field(default=None, repr=False)
    connector_device_id: str | None = field(default=None, repr=False)
    commands: tuple[RequestedCommand, ...] = ()
    # The operation's payload as managed integrations sent it, members this project does not know included.
    payload: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class JobCredential:
    """The credential a discovery job carries to the worker: the user's OAuth access token, or where the
    General Authorization secret is (its ARN and version), never the secret's text: the worker reads it
    again."""

    type: Literal["OAuth2.0", "GeneralAuthorization"]
    token: str | None = field(default=None, repr=False)
    arn: str | None = None
    version_id: str | None = None

    @classmethod
    def oauth(cls, token: str) -> JobCredential:
        return cls(type="OAuth2.0", token=token)

    @classmethod
    def general_authorization(cls, arn: str, version_id: str | None) -> JobCredential:
        return cls(type="GeneralAuthorization", arn=arn, version_id=version_id)

    def as_wire(self) -> dict[str, Any]:
        if self.type == "OAuth2.0":
            return {"type": self.type, "token": self.token}
        return {"type": self.type, "arn": self.arn, "versionId": self.version_id}


@dataclass(frozen=True, slots=True)
class DiscoveryJob:
    """A discovery the connector answered and the worker fetches afterwards: whose, which, with what
    credential, and the DiscoverDevices payload as managed integrations sent it. `requested_at` is in
    seconds since the epoch."""

    connector_id: str
    device_discovery_id: str
    user_id: str | None = field(repr=False)
    credential: JobCredential
    payload: Mapping[str, Any] = field(repr=False)
    requested_at: float


class DiscoveryJobs(Protocol):
    """The queue of discoveries waiting to be fetched from the device cloud."""

    def submit(self, job: DiscoveryJob) -> None:
        """Queue the job. Raises DependencyUnavailableError("discovery_queue")."""
        ...


class DiscoveryRecords(Protocol):
    """The correlation table, as the discovery worker uses it (iotbridge.correlation.tables)."""

    def is_answered(self, kind: str, connector_id: str, request_id: str) -> bool:
        """Whether the request's answer was queued already (by the relay or by the worker)."""
        ...

    def answered(self, kind: str, connector_id: str, request_id: str) -> AnswerMatch: ...

    def record_discovery(
        self, connector_id: str, discovery_id: str, *, devices: int | None, failure: str | None
    ) -> bool:
        """Record on the discovery's entry how its fetch ended: how many devices were reported, or why it
        failed. False when the entry is gone."""
        ...


@dataclass(frozen=True, slots=True)
class CommandHandedOver:
    """What a device cloud made of a command: its own id of the command, when its answer gives one (None: it
    gave none, or it is not looked for); and, from a cloud that answers commands at once, the
    DEVICE_COMMAND_RESPONSE to queue for managed integrations (a SendConnectorEvent body without
    ConnectorId; None: the answer follows later, through the relay)."""

    cloud_request_id: str | None = None
    response: dict[str, Any] | None = field(default=None, repr=False)


class EventQueue(Protocol):
    """The relay's FIFO queue of SendConnectorEvent requests (iotbridge.send_connector_event.queue)."""

    def enqueue(self, events: Sequence[QueuedEvent]) -> None:
        """Queue every event durably, in order, or raise DependencyUnavailableError("queue")."""
        ...


class DeviceCloudRefusedError(PermanentError):
    """The device cloud refused the request (a 4xx: a credential it does not take, a device it does not
    know). `status` is its HTTP status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the device cloud answered {status}")
        self.status = status


class DeviceCloudUnavailableError(TransientError):
    """The device cloud could not take the request now (no answer in time, unreachable, a 5xx, an answer
    that is not what the protocol says). `reason` is for logs and metrics."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectorSetupError(PermanentError):
    """The connector is not set up so that its device cloud can be asked: its profile or its outbound secret
    cannot be used, or its URL is not allowed here. `reason` is for the operator's log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnmappableCommandError(PermanentError):
    """A SendCommand the connector's profile cannot put in its device cloud's terms: a command no rule maps
    (`unsupported_command`), or fields a rule cannot use (`invalid_command_fields`). `message` names the
    cluster and command ids, the rule and the value, never a value; the cloud is not asked."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


class UnusableCredentialError(PermanentError):
    """A General Authorization secret the connector may not read, or that does not exist."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeviceCloudClient(Protocol):
    """One connector's device cloud. `user_id_claim` names the claim of a user's OAuth token (a JWT) that
    holds their user id, when the cloud's tokens carry one. Each call raises DeviceCloudRefusedError,
    DeviceCloudUnavailableError or ConnectorSetupError."""

    @property
    def user_id_claim(self) -> str | None: ...

    def activate_user(self, request: CloudRequest, *, timeout_seconds: float) -> str | None:
        """Link the user's account; the cloud's id of the user (None: it gave none)."""
        ...

    def discover_devices(self, request: CloudRequest, *, timeout_seconds: float) -> None:
        """Hand the discovery over; the cloud reports the devices later, through the relay."""
        ...

    def send_command(self, request: CloudRequest, *, timeout_seconds: float) -> CommandHandedOver:
        """Hand the command over: the cloud's own id of it, when its answer gives one; and its outcome as a
        DEVICE_COMMAND_RESPONSE when the cloud answers commands at once (otherwise it reports the outcome
        later, through the relay)."""
        ...

    def deactivate_user(self, request: CloudRequest, *, timeout_seconds: float) -> str | None:
        """Revoke the user's credentials; the cloud's id of the user (None: it gave none)."""
        ...


class DeviceClouds(Protocol):
    def for_connector(self, connector_id: str) -> DeviceCloudClient | None:
        """The connector's device cloud, or None for a connector that has none (no profile, or a profile
        without `deviceCloud`). Raises ConnectorSetupError."""
        ...


class PendingRequests(Protocol):
    """The correlation table, as the connector function uses it (iotbridge.correlation.tables). Beginning a
    discovery also makes it the latest of its user and of its connector, for the relay's lookups; releasing it
    undoes that."""

    def begin(self, request: PendingRequest, lease_seconds: float) -> Begun: ...

    def handed_over(self, request: PendingRequest) -> None: ...

    def release(self, request: PendingRequest) -> None: ...

    def record_cloud_request_id(self, request: PendingRequest, cloud_request_id: str) -> bool:
        """Record the device cloud's own id of a command it took, so that the relay finds the command by it
        (a profile's `lookup`); False when that id already names another command."""
        ...

    def answered(self, kind: str, connector_id: str, request_id: str) -> AnswerMatch:
        """Mark the request answered (the connector function queued its answer itself); what it was before
        (an AnswerMatch) says whether in time."""
        ...

    def expire_overdue(self, budget: TimeBudget, *, page_size: int = 100) -> SweepReport: ...


class UserDirectory(Protocol):
    def set_status(self, connector_id: str, user_id: str, *, active: bool) -> None:
        """Record the user linked (active) or unlinked: the relay refuses events of unlinked users."""
        ...


class Authorizations(Protocol):
    def secret_for(self, connector_id: str, arn: str, version_id: str | None) -> str:
        """The text of a General Authorization secret the connector may use: one its profile's
        `generalAuthorization.secretArns` allows, or without those, one named under the connector's own part
        of the authorization prefix. A name not allowed is refused before anything is read. Raises
        UnusableCredentialError."""
        ...
