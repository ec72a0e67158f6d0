"""A rule: which native events it takes, the operation they become, and where each member and Matter value
comes from."""

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from iotbridge.send_connector_event.operations import CORRELATED_MEMBER, ConnectorEventOperation
from iotbridge.wire import CamelModel

from .expressions import ExpressionText
from .matter_targets import DevicesMapping, MatterEndpointMapping
from .values import MemberValue, misplaced_lookups

# Where a profile may put values: the SendConnectorEvent members an event carries besides the structures
# the profile builds (MatterEndpoint, Devices) and those the relay sets (Operation, ConnectorId).
MEMBER_NAMES = (
    "UserId",
    "OperationVersion",
    "StatusCode",
    "Message",
    "DeviceDiscoveryId",
    "ConnectorDeviceId",
    "TraceId",
)


class Rule(CamelModel):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_.-]+$")]
    when: ExpressionText | None = None
    operation: ConnectorEventOperation
    members: dict[str, MemberValue] = {}
    # The id of the request this event answers, as the device cloud echoes it (the connector function sends
    # each request's deviceDiscoveryId or traceId as its requestId): it fills in DeviceDiscoveryId or
    # TraceId when `members` leave them out.
    request: ExpressionText | None = None
    matter_endpoint: MatterEndpointMapping | None = None
    devices: DevicesMapping | None = None
    # What a problem of an event this rule maps does, instead of the profile's `onError`.
    on_error: Literal["reject", "skip"] | None = None

    @field_validator("members", mode="before")
    @classmethod
    def _member_expressions(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(MEMBER_NAMES))
        if unknown:
            raise ValueError(f"members are {', '.join(MEMBER_NAMES)}, not {', '.join(unknown)}")
        return value

    @field_validator("members")
    @classmethod
    def _lookups_fill_their_member(cls, value: dict[str, Any]) -> dict[str, Any]:
        misplaced = misplaced_lookups(value)
        if misplaced:
            raise ValueError("; ".join(misplaced))
        return value

    @model_validator(mode="after")
    def _fits_its_operation(self) -> "Rule":
        if self.devices is not None and self.operation != "DEVICE_DISCOVERY":
            raise ValueError("devices belong to a DEVICE_DISCOVERY rule")
        if self.operation == "DEVICE_DISCOVERY" and self.devices is None:
            raise ValueError("a DEVICE_DISCOVERY rule needs devices")
        if self.matter_endpoint is not None and self.operation == "DEVICE_DISCOVERY":
            raise ValueError("a DEVICE_DISCOVERY rule reports devices, not a matterEndpoint")
        if self.operation == "DEVICE_EVENT" and self.matter_endpoint is None:
            raise ValueError("a DEVICE_EVENT rule needs a matterEndpoint")
        if self.request is not None and self.operation not in CORRELATED_MEMBER:
            raise ValueError(
                f"request belongs to a rule that answers a request: {', '.join(CORRELATED_MEMBER)}"
            )
        return self
