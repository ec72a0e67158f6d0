"""The SendConnectorEvent request body: one pydantic model per wire shape, every constraint of AWS's model.

A third-party cloud POSTs to `/connectors/{connectorId}/events` the body of AWS IoT managed integrations'
`SendConnectorEvent` request without `ConnectorId` (the path carries it), or a JSON array of 1 to 50 of them.
`iotbridge.send_connector_event.body` checks a body against these models and answers either the events
or one `EventValidationError` naming every failing member, without ever quoting a value (values may be
sensitive).

Conventions, the same at every depth:
- Field names are the wire names (PascalCase at the top, camelCase inside the Matter capability report).
- Types are strict: an integer member takes a JSON integer only (not "200", 200.5, 200.0 or true), a string
  member a JSON string only.
- A member may be left out unless AWS requires it, but may not be null: botocore refuses None for any member.
- Unknown members are rejected, except inside document members, which take any JSON value.
- Constraints follow Smithy: patterns are unanchored (see `iotbridge.send_connector_event.smithy`), lengths
  count code points.
"""

import math
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from iotbridge.send_connector_event.operations import OPERATION_MEMBERS, ConnectorEventOperation
from iotbridge.send_connector_event.smithy import SmithyLength, SmithyPattern, SmithyRange

# botocore validates and serializes a document one Python frame per level of nesting, under Python's default
# recursion limit of 1000: a document of about 975 levels fails with RecursionError at the top of a thread,
# fewer the deeper the call. The forwarder calls it through the Lambda runtime, Powertools and its own frames,
# well under 100 of them; 512 levels leave that room several times over. A deeper document could be
# accepted here but never sent, so it is refused here.
MAX_DOCUMENT_DEPTH: Final = 512


# ----------------------------------------------------------------------------------------------------
# Building blocks


class _NotNull:
    """Makes `X | None` validate as `X`: a left-out member stays None, an explicit null is rejected."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        return schema["schema"] if schema["type"] == "nullable" else schema


_T = TypeVar("_T")
Omittable = Annotated[_T | None, _NotNull()]


class _JsonDocument:
    """A Smithy document: any JSON value (object, array, string, number, boolean or null).

    Where the document is a required member or a map value, a null is no value at all: AWS refuses it
    ("must not be null"), so `nullable=False` does too. Inside a document, null is content like any other.
    """

    def __init__(self, *, nullable: bool = True) -> None:
        self._nullable = nullable

    def _validate_value(self, value: Any) -> Any:
        if value is None and not self._nullable:
            raise PydanticCustomError("event_document_null", "must not be null")
        return self._validate(value)

    @staticmethod
    def _validate(value: Any) -> Any:
        # (item, how many arrays and objects hold it)
        pending: list[tuple[Any, int]] = [(value, 0)]
        while pending:
            item, depth = pending.pop()
            kind = type(item)
            if item is None or kind is bool or kind is int:
                continue
            if kind is str:
                ok = _is_text(item)
            elif kind is float:
                ok = math.isfinite(item)  # NaN and the infinities are not JSON, though json.loads reads them
            elif kind is list or kind is dict:
                if depth >= MAX_DOCUMENT_DEPTH:
                    raise PydanticCustomError(
                        "event_document_depth",
                        "must not nest arrays and objects more than {depth} levels deep",
                        {"depth": MAX_DOCUMENT_DEPTH},
                    )
                if kind is list:
                    pending.extend((member, depth + 1) for member in item)
                    ok = True
                else:
                    ok = all(type(key) is str and _is_text(key) for key in item)
                    pending.extend((member, depth + 1) for member in item.values())
            else:
                ok = False
            if not ok:
                raise PydanticCustomError(
                    "event_document", "must be a JSON value (finite numbers, Unicode text)"
                )
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self._validate_value)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if self._nullable:
            return {"description": "Any JSON value (a Smithy document)."}
        return {"not": {"type": "null"}, "description": "Any JSON value but null (a Smithy document)."}


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


Document = Annotated[Any, _JsonDocument()]
# A required member's or a map's value: any JSON value but null.
PresentDocument = Annotated[Any, _JsonDocument(nullable=False)]

# Smithy shapes of the AWS model, by shape name (suffixed where a member of that name would shadow it).
MATTER_ID_PATTERN: Final = r"0[xX][0-9a-fA-F]+$|^[0-9]+"
ConnectorIdText = Annotated[str, SmithyLength(1, 64), SmithyPattern(r"[A-Za-z0-9-_]+")]
ThirdPartyUserIdText = Annotated[str, SmithyLength(1, 64), SmithyPattern(r"[a-zA-Z0-9_.,@-]+")]
ConnectorEventOperationVersion = Annotated[str, SmithyLength(1, 6), SmithyPattern(r"[0-9.]+")]
ConnectorEventStatusCode = Annotated[int, SmithyRange(100, 550)]
ConnectorEventMessage = Annotated[str, SmithyLength(1, 256), SmithyPattern(r"[\sa-zA-Z0-9_.,@-]+")]
DeviceDiscoveryIdText = Annotated[str, SmithyLength(1, 200), SmithyPattern(r"[A-Za-z0-9]+")]
ConnectorDeviceIdText = Annotated[str, SmithyLength(1, 256), SmithyPattern(r"[a-zA-Z0-9_.,@-]+")]
TraceIdText = Annotated[str, SmithyLength(1, 128), SmithyPattern(r"[a-zA-Z0-9:=_-]+")]
ConnectorDeviceNameText = Annotated[str, SmithyLength(1, 256), SmithyPattern(r"[\p{L}\p{N} ._-]+")]
CapabilityReportVersion = Annotated[str, SmithyLength(1, 10), SmithyPattern(r"1\.0\.0")]
NodeId = Annotated[str, SmithyLength(1, 64), SmithyPattern(r"[a-zA-Z0-9=_.,@\+\-/]+")]
EndpointId = Annotated[str, SmithyLength(1, 64), SmithyPattern(r"[0-9a-zA-Z]+")]
DeviceType = Annotated[str, SmithyLength(0, 256), SmithyPattern(r"[a-zA-Z0-9=_. ,@\+\-/]+")]
ClusterId = Annotated[str, SmithyLength(1, 24), SmithyPattern(MATTER_ID_PATTERN)]
MatterAttributeId = Annotated[str, SmithyLength(1, 24), SmithyPattern(MATTER_ID_PATTERN)]
MatterCommandId = Annotated[str, SmithyLength(1, 24), SmithyPattern(MATTER_ID_PATTERN)]
MatterEventId = Annotated[str, SmithyLength(1, 24), SmithyPattern(MATTER_ID_PATTERN)]
ExtrinsicSchemaId = Annotated[str, SmithyLength(1, 10), SmithyPattern(MATTER_ID_PATTERN)]
RevisionId = Annotated[int, SmithyRange(1, 10)]  # MatterCapabilityReportClusterRevisionId
SchemaVersionedId = Annotated[
    str, SmithyLength(7, 128), SmithyPattern(r"[a-zA-Z0-9.]+@(\d+\.\d+(\.\d+)?|\$latest)")
]
CapabilityName = Annotated[str, SmithyLength(1, 128), SmithyPattern(r"[/a-zA-Z0-9\._ -]+")]
ActionName = Annotated[str, SmithyLength(1, 128), SmithyPattern(r"[/a-zA-Z0-9\._ -]+")]
SpecVersion = Annotated[str, SmithyLength(1, 64), SmithyPattern(r"\d+\.\d+")]
EndpointSemanticTag = Annotated[str, SmithyLength(1, 128), SmithyPattern(r"[0-9a-zA-Z._-]+")]
FeatureMap = Annotated[int, SmithyRange(0, 4294967295)]  # MatterCapabilityReportFeatureMap (a long)
FabricIndex = Annotated[int, SmithyRange(0, 4096)]  # MatterCapabilityReportFabricIndex
SchemaVersionFormat = Literal["AWS", "ZCL", "CONNECTOR"]


class _WireShape(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# ----------------------------------------------------------------------------------------------------
# Device discovery: the capability report of each device


class MatterCapabilityReportAttribute(_WireShape):
    """A Matter attribute of a cluster in a capability report."""

    id: Omittable[MatterAttributeId] = None
    name: Omittable[ActionName] = None
    value: Annotated[Document, Field(description="The attribute's value (sensitive).")] = None


class MatterCapabilityReportCluster(_WireShape):
    """A Matter cluster an endpoint implements, as reported at discovery."""

    id: ClusterId
    revision: RevisionId
    publicId: Omittable[SchemaVersionedId] = None
    name: Omittable[CapabilityName] = None
    specVersion: Omittable[SpecVersion] = None
    attributes: Omittable[Annotated[list[MatterCapabilityReportAttribute], SmithyLength(0, 100)]] = None
    commands: Omittable[Annotated[list[MatterCommandId], SmithyLength(0, 100)]] = None
    events: Omittable[Annotated[list[MatterEventId], SmithyLength(0, 100)]] = None
    featureMap: Omittable[FeatureMap] = None
    generatedCommands: Omittable[Annotated[list[MatterCommandId], SmithyLength(0, 50)]] = None
    fabricIndex: Omittable[FabricIndex] = None


class MatterCapabilityReportEndpoint(_WireShape):
    """A Matter endpoint of a device, with its device types and clusters."""

    id: EndpointId
    deviceTypes: Annotated[list[DeviceType], SmithyLength(0, 50)]
    clusters: Annotated[list[MatterCapabilityReportCluster], SmithyLength(0, 50)]
    parts: Omittable[Annotated[list[EndpointId], SmithyLength(0, 32)]] = None
    semanticTags: Omittable[Annotated[list[EndpointSemanticTag], SmithyLength(0, 32)]] = None
    clientClusters: Omittable[Annotated[list[ClusterId], SmithyLength(0, 32)]] = None


class MatterCapabilityReport(_WireShape):
    """What a device can do, in Matter terms."""

    version: CapabilityReportVersion
    nodeId: Omittable[NodeId] = None
    endpoints: Annotated[list[MatterCapabilityReportEndpoint], SmithyLength(0, 50)]


class CapabilitySchemaItem(_WireShape):
    """A capability schema a device supports."""

    Format: SchemaVersionFormat
    CapabilityId: SchemaVersionedId
    ExtrinsicId: ExtrinsicSchemaId
    ExtrinsicVersion: RevisionId
    Schema: PresentDocument


class Device(_WireShape):
    """A device found by a discovery job."""

    ConnectorDeviceId: Annotated[ConnectorDeviceIdText, Field(description="The device id (sensitive).")]
    ConnectorDeviceName: Omittable[ConnectorDeviceNameText] = None
    CapabilityReport: MatterCapabilityReport
    CapabilitySchemas: Omittable[Annotated[list[CapabilitySchemaItem], SmithyLength(0, 40)]] = None
    DeviceMetadata: Document = None


# ----------------------------------------------------------------------------------------------------
# Device state: one endpoint's clusters after an event or a command


class MatterCluster(_WireShape):
    """A Matter cluster's state: attributes, and commands and events keyed by their Matter ids."""

    id: Omittable[ClusterId] = None
    attributes: Annotated[Document, Field(description="The Matter attributes (sensitive).")] = None
    commands: Omittable[Annotated[dict[MatterCommandId, PresentDocument], SmithyLength(1, 5)]] = None
    events: Omittable[Annotated[dict[MatterEventId, PresentDocument], SmithyLength(1, 5)]] = None


class MatterEndpoint(_WireShape):
    """A device endpoint and the state of up to five of its clusters."""

    id: Omittable[EndpointId] = None
    clusters: Omittable[Annotated[list[MatterCluster], SmithyLength(1, 5)]] = None


# The member `MatterEndpoint` would shadow its own type inside the class body.
_MatterEndpoint = MatterEndpoint


# ----------------------------------------------------------------------------------------------------
# The event


class ConnectorEvent(_WireShape):
    """One SendConnectorEvent request body, as a third-party cloud sends it.

    `Operation` is the only member the AWS model requires (besides `ConnectorId`, which the webhook's path
    gives; when the body carries it too, it must equal the path's). On top of the model, each operation needs
    the members its documented flow cannot work without:

    - DEVICE_DISCOVERY: `DeviceDiscoveryId` (the job being answered) and `Devices` (possibly empty);
    - DEVICE_EVENT: `ConnectorDeviceId` (which device) and `MatterEndpoint` (its new state);
    - DEVICE_COMMAND_RESPONSE: `TraceId` (the command being answered);
    - DEVICE_COMMAND_REQUEST: nothing more. AWS documents no flow for it, so nothing beyond the model is
      known to be needed, and demanding more could turn away events AWS accepts.
    """

    ConnectorId: Annotated[
        Omittable[ConnectorIdText],
        Field(description="Optional here; when present, equals the path's connectorId."),
    ] = None
    UserId: Annotated[
        Omittable[ThirdPartyUserIdText], Field(description="Third-party user id (sensitive).")
    ] = None
    Operation: ConnectorEventOperation
    OperationVersion: Omittable[ConnectorEventOperationVersion] = None
    StatusCode: Omittable[ConnectorEventStatusCode] = None
    Message: Annotated[Omittable[ConnectorEventMessage], Field(description="Event payload (sensitive).")] = (
        None
    )
    DeviceDiscoveryId: Omittable[DeviceDiscoveryIdText] = None
    ConnectorDeviceId: Annotated[
        Omittable[ConnectorDeviceIdText], Field(description="The third-party device id (sensitive).")
    ] = None
    TraceId: Omittable[TraceIdText] = None
    Devices: Omittable[list[Device]] = None
    MatterEndpoint: Omittable[_MatterEndpoint] = None

    @field_validator("ConnectorId")
    @classmethod
    def _same_connector_as_path(cls, value: str, info: ValidationInfo) -> str:
        expected = info.context.get("connector_id") if isinstance(info.context, dict) else None
        if expected is not None and value != expected:
            raise PydanticCustomError("event_connector_id", "must equal the connector id in the path")
        return value

    @model_validator(mode="after")
    def _operation_members_present(self) -> "ConnectorEvent":
        missing = [name for name in OPERATION_MEMBERS[self.Operation] if getattr(self, name) is None]
        if missing:
            raise PydanticCustomError(
                "event_operation_members",
                "{members} required for Operation {operation}",
                {"members": ", ".join(missing), "operation": self.Operation},
            )
        return self
