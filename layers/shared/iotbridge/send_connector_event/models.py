"""The SendConnectorEvent request body: one pydantic model per wire shape, every constraint of AWS's model.

A third-party cloud POSTs to `/connectors/{connectorId}/events` the body of AWS IoT managed integrations'
`SendConnectorEvent` request without `ConnectorId` (the path carries it), or a JSON array of 1 to 50 of them.
`parse_webhook_body` checks it against these models and answers either the events or one
`EventValidationError` naming every failing member, without ever quoting a value (values may be sensitive).

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
from functools import lru_cache
from typing import Annotated, Any, Final, Literal, TypeVar, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import ErrorDetails, PydanticCustomError, core_schema

from iotbridge.errors import InvalidInputError, Problem, render_path
from iotbridge.send_connector_event.operations import OPERATION_MEMBERS, OPERATIONS, ConnectorEventOperation
from iotbridge.send_connector_event.smithy import SmithyLength, SmithyPattern, SmithyRange

MAX_EVENTS_PER_BODY: Final = 50
# A 422 lists at most this many problems, and counts the rest.
MAX_LISTED_PROBLEMS: Final = 100
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


# ----------------------------------------------------------------------------------------------------
# The webhook body


class EventValidationError(InvalidInputError):
    """The webhook body breaks the SendConnectorEvent contract; `problems` lists every failing member."""

    subject = "body"
    whole = "(body)"


# Built once at import: validation is the hot path of every webhook.
_ONE_EVENT: Final = TypeAdapter(ConnectorEvent)
_MANY_EVENTS: Final = TypeAdapter(list[ConnectorEvent])
_CONNECTOR_ID: Final = TypeAdapter(ConnectorIdText)

_RULES: Final = {
    "missing": "required",
    "extra_forbidden": "unknown member",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "list_type": "must be an array",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}
# Error types raised by our own validators: their messages name rules and bounds, never values.
_OWN_TYPE_PREFIXES: Final = ("smithy_", "event_")
# Where the model has maps (MatterCluster.commands / .events): what follows in a location is a sender's key.
_MAP_PARENT: Final = ("MatterEndpoint", "clusters")
_MAP_MEMBERS: Final = frozenset({"commands", "events"})


_NAME_CHARACTERS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _plain_name(name: str) -> bool:
    """Whether an unknown member's name is an identifier worth echoing back, not arbitrary text."""
    return 0 < len(name) <= 64 and all(ch in _NAME_CHARACTERS for ch in name)


def _problem(error: ErrorDetails, prefix: tuple[int | str, ...]) -> Problem | None:
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "event_operation_members":
        return None  # reported member by member from the raw body, see _operation_problems
    rule = _RULES.get(kind)
    if rule is None:
        if kind == "literal_error":
            allowed = str(error.get("ctx", {}).get("expected", "")).replace("'", "").replace(" or ", ", ")
            rule = f"must be one of {allowed}"
        elif kind.startswith(_OWN_TYPE_PREFIXES):
            rule = error["msg"]
        else:
            rule = "is not valid"
    # A map's keys are the sender's text: name the map, and say whether a key or a value breaks the rule.
    if len(loc) > 4 and loc[:2] == _MAP_PARENT and loc[3] in _MAP_MEMBERS:
        rule = ("each key: " if loc[-1] == "[key]" else "each value: ") + rule
        loc = loc[:4]
    elif kind == "extra_forbidden" and loc and isinstance(loc[-1], str) and not _plain_name(loc[-1]):
        loc = loc[:-1]
        rule = "unknown member (name not shown)"
    return Problem(render_path(prefix + loc), rule)


def _operation_problems(data: object, prefix: tuple[int | str, ...]) -> list[Problem]:
    """The operation's own required members that the raw body leaves out (mirrors the model validator)."""
    if not isinstance(data, dict):
        return []
    operation = data.get("Operation")
    if not isinstance(operation, str) or operation not in OPERATIONS:
        return []
    return [
        Problem(render_path((*prefix, name)), f"required for Operation {operation}")
        for name in OPERATION_MEMBERS[operation]
        if name not in data
    ]


def _problems(exc: ValidationError, items: list[object], array: bool) -> list[Problem]:
    problems: list[Problem] = []
    failed: dict[int, list[Problem]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])
        index = loc[0] if array and loc and isinstance(loc[0], int) else 0
        prefix: tuple[int | str, ...] = (index,) if array else ()
        problem = _problem({**error, "loc": loc[1:] if array else loc}, prefix)
        bucket = failed.setdefault(index, [])
        if problem is not None:
            bucket.append(problem)
    for index in sorted(failed):
        problems.extend(failed[index])
        problems.extend(_operation_problems(items[index], (index,) if array else ()))
    # Several keys of one map can break the same rule: say it once.
    return list(dict.fromkeys(problems))


def wire_events(data: object, connector_id: str) -> list[dict[str, object]]:
    """The events of a valid webhook body exactly as the sender wrote them, without `ConnectorId`.

    The models are strict and forbid unknown members, so a body they accept is already the wire form and
    is queued as it came. Raises EventValidationError as parse_webhook_body does.
    """
    parse_webhook_body(data, connector_id)
    # Valid, so one object or a list of objects.
    items = cast(list[dict[str, object]], data if isinstance(data, list) else [data])
    return [{k: v for k, v in item.items() if k != "ConnectorId"} for item in items]


@lru_cache(maxsize=1024)
def connector_id_problems(connector_id: str) -> tuple[Problem, ...]:
    """What is wrong with a connector id (the path's `connectorId`), nothing for a valid one: the model's
    ConnectorId rule, the one source of it. Ids repeat on every request of a connector: each is checked
    once."""
    try:
        _CONNECTOR_ID.validate_python(connector_id)
    except ValidationError as exc:
        return tuple(Problem("connectorId", p.rule) for p in _problems(exc, [connector_id], array=False))
    return ()


def parse_webhook_body(data: object, connector_id: str) -> list[ConnectorEvent]:
    """The events in a webhook body (already parsed JSON): one event object, or an array of 1 to 50.

    Raises EventValidationError listing the failing members (the first MAX_LISTED_PROBLEMS, and a count of
    the rest), each as a path such as `[3].Devices[0].CapabilityReport.endpoints[2].id` and a rule; neither
    ever quotes the sender's values.
    """
    problems = connector_id_problems(connector_id)
    if problems:
        raise EventValidationError(problems)
    context = {"connector_id": connector_id}
    if isinstance(data, list):
        if not 1 <= len(data) <= MAX_EVENTS_PER_BODY:
            raise EventValidationError([Problem("", f"array must hold 1..{MAX_EVENTS_PER_BODY} events")])
        try:
            return _MANY_EVENTS.validate_python(data, context=context)
        except ValidationError as exc:
            raise _refusal(exc, data, context) from None
    if isinstance(data, dict):
        try:
            return [_ONE_EVENT.validate_python(data, context=context)]
        except ValidationError as exc:
            raise _refusal(exc, data, context) from None
    raise EventValidationError(
        [Problem("", f"must be an event object or an array of 1..{MAX_EVENTS_PER_BODY} event objects")]
    )


# Up to this many errors are rendered one by one; beyond it, the first ones are found on a trimmed copy of
# the body, so that neither the work nor the answer grows with the number of problems.
_RENDERED_ERRORS_LIMIT: Final = 1000


def _refusal(exc: ValidationError, data: object, context: dict[str, str]) -> EventValidationError:
    array = isinstance(data, list)
    items = cast(list[object], data if array else [data])
    total = exc.error_count()
    if total <= _RENDERED_ERRORS_LIMIT:
        problems = _problems(exc, items, array)
        listed = problems[:MAX_LISTED_PROBLEMS]
        return EventValidationError(listed, more=len(problems) - len(listed))
    listed = _first_problems(data, context)[:MAX_LISTED_PROBLEMS]
    return EventValidationError(listed, more=max(0, total - len(listed)))


def _first_problems(data: object, context: dict[str, str]) -> list[Problem]:
    """The first problems of a body with very many, from copies of it cut ever less short.

    The copy keeps the first `keep` items of each array of objects (an array longer than its bound is kept
    whole: its length is its one problem), and every known member of each object but only its first `keep`
    unknown ones. It breaks no rule the body keeps, so its problems are the body's own.
    """
    array = isinstance(data, list)
    adapter = _MANY_EVENTS if array else _ONE_EVENT
    schema, definitions = _body_schema(array)
    keep = 8
    while True:
        copy, cut = _trimmed(data, schema, definitions, keep)
        try:
            adapter.validate_python(copy, context=context)
            problems: list[Problem] = []
        except ValidationError as exc:
            problems = _problems(exc, cast(list[object], copy if array else [copy]), array)
        if len(problems) >= MAX_LISTED_PROBLEMS or not cut:
            return problems
        keep *= 4


@lru_cache(maxsize=2)
def _body_schema(array: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON Schema of a body (the models' own), and its definitions."""
    schema = (_MANY_EVENTS if array else _ONE_EVENT).json_schema(ref_template="#/$defs/{model}")
    definitions = schema.pop("$defs", {})
    return schema, definitions


def _trimmed(value: Any, schema: dict[str, Any], definitions: dict[str, Any], keep: int) -> tuple[Any, bool]:
    """`value` cut as `_first_problems` says, and whether anything was left out."""
    while "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[-1]]
    if type(value) is dict and "properties" in schema:
        members = schema["properties"]
        copy: dict[str, Any] = {}
        cut = False
        unknown = 0
        for name, member in value.items():
            if name in members:
                copy[name], inner_cut = _trimmed(member, members[name], definitions, keep)
                cut |= inner_cut
            elif unknown < keep:
                copy[name] = member
                unknown += 1
            else:
                cut = True
        return copy, cut
    items = schema.get("items")
    if type(value) is list and isinstance(items, dict) and len(value) <= schema.get("maxItems", len(value)):
        kept = [
            _trimmed(item, items, definitions, keep) for item in value[: max(keep, schema.get("minItems", 0))]
        ]
        return [item for item, _ in kept], len(kept) < len(value) or any(cut for _, cut in kept)
    return value, False
