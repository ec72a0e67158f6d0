"""What the connector's domain needs from the outside world, and the errors those ports raise.

The device cloud is the port a team replaces to plug in its cloud's own API: four calls, one per operation,
each given the request and the time it may take. The default (`adapters.WebhookDeviceClouds`) POSTs each
request to the connector's device-cloud URL as a signed webhook; the cloud answers discoveries and commands
later, through the relay. Every port may also raise iotbridge.errors.DependencyUnavailableError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from iotbridge.budget import TimeBudget
from iotbridge.correlation.model import Begun, PendingRequest, SweepReport
from iotbridge.errors import PermanentError, TransientError

CloudOperation = Literal["activateUser", "discoverDevices", "sendCommand", "deactivateUser"]


@dataclass(frozen=True, slots=True)
class Credential:
    """The end user's credential as the device cloud gets it: their OAuth access token, or the text of the
    General Authorization secret managed integrations named."""

    type: Literal["OAuth2.0", "GeneralAuthorization"]
    value: str = field(repr=False)

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

    def send_command(self, request: CloudRequest, *, timeout_seconds: float) -> str | None:
        """Hand the command over; the cloud reports its outcome later, through the relay. The cloud's own id
        of the command, when its answer gives one (None: it gave none, or it is not looked for)."""
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

    def expire_overdue(self, budget: TimeBudget, *, page_size: int = 100) -> SweepReport: ...


class UserDirectory(Protocol):
    def set_status(self, connector_id: str, user_id: str, *, active: bool) -> None:
        """Record the user linked (active) or unlinked: the relay refuses events of unlinked users."""
        ...


class Authorizations(Protocol):
    def secret_for(self, connector_id: str, arn: str, version_id: str | None) -> str:
        """The text of a General Authorization secret the connector may use (one named under its own part
        of the authorization prefix). Raises UnusableCredentialError."""
        ...
