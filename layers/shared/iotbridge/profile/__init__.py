"""A connector profile: how one device cloud signs its webhooks and how its own JSON becomes
SendConnectorEvent bodies. A JSON document, validated here with every problem listed by its path.

```json
{
  "version": 1,
  "verification": {"scheme": "hmac", "signatureHeader": "X-Lumen-Signature-256", "prefix": "sha256="},
  "deduplication": {"header": "X-Lumen-Delivery"},
  "events": "body.devices",
  "rules": [{"name": "state", "when": "event.type == 'state'", "operation": "DEVICE_EVENT",
             "members": {"ConnectorDeviceId": "event.deviceId"},
             "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.state",
                                         "transform": {"equals": "on"}}]}}]
}
```

Expressions are JMESPath, evaluated against `{"event": <one native event>, "body": <the whole body>,
"headers": <the request's headers, names lower-cased>}`. Nothing in a profile is ever executed as code.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    FiniteFloat,
    PlainValidator,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from iotbridge import matter
from iotbridge.errors import InvalidInputError, PermanentError, Problem
from iotbridge.send_connector_event.operations import CORRELATED_MEMBER, OPERATIONS, ConnectorEventOperation
from iotbridge.wire import CamelModel, problems_of

PROFILE_VERSION = 1
# Where the functions read profiles unless told otherwise (SSM parameter `<prefix><connector id>`).
DEFAULT_PROFILE_PREFIX = "/iot-bridge/profiles/"
MAX_RULES = 50
MAX_TOLERANCE_SECONDS = 3600
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
# fullmatch, not match: "$" would let a trailing newline through.
_HEADER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,127}")
# Headers a sender does not set, or that a proxy rewrites: never a place for a signature or an id.
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "connection", "transfer-encoding", "upgrade", "te", "trailer"}
)
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class ProfileError(InvalidInputError):
    """A connector profile that cannot be used; every problem is listed by its path in the document."""

    subject = "connector profile"
    whole = "(profile)"


# --- Building blocks ---------------------------------------------------------------------------------------


def _compiled(text: str) -> Any:
    import jmespath  # botocore's own dependency: in the layer already
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.compile(text)
    except JMESPathError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"not a JMESPath expression ({first_line})") from None


class ExpressionError(PermanentError, ValueError):
    """An expression that cannot be evaluated on the values it was given (a ValueError too, so that pydantic
    reports it as a validation problem where a model evaluates one)."""

    def __init__(self, expression: str) -> None:
        super().__init__(expression)
        self.expression = expression


_Evaluate = Callable[[Any], Any]


def _is_false(value: Any) -> bool:
    # JMESPath's falsehood: null, false, and the empty string, list and object; 0 is true.
    return value is None or value is False or (isinstance(value, str | list | dict) and not value)


def _equal(left: Any, right: Any) -> bool:
    # JMESPath's equality: JSON values, where true is not 1 and false is not 0.
    numbers = (isinstance(left, int | float) and not isinstance(left, bool)) or (
        isinstance(right, int | float) and not isinstance(right, bool)
    )
    if numbers and (isinstance(left, bool) or isinstance(right, bool)):
        return False
    return bool(left == right)


def _fast(node: dict[str, Any]) -> _Evaluate | None:
    """The expression as a plain function, for what profiles mostly write (fields, literals, `==`, `!=`,
    `&&`, `||`, `!`), with JMESPath's meaning; None for anything else, which the interpreter evaluates."""
    kind, children = node["type"], [_fast(child) for child in node.get("children", [])]
    if any(child is None for child in children):
        return None
    parts: list[_Evaluate] = [c for c in children if c is not None]
    if kind == "field":
        name = node["value"]
        return lambda value: value.get(name) if isinstance(value, dict) else None
    if kind == "literal":
        constant = node["value"]
        return lambda _: constant
    if kind == "subexpression":

        def chained(value: Any) -> Any:
            for part in parts:
                value = part(value)
            return value

        return chained
    if kind == "comparator" and node["value"] in ("eq", "ne") and len(parts) == 2:
        left, right, same = parts[0], parts[1], node["value"] == "eq"
        return lambda value: _equal(left(value), right(value)) is same
    if kind == "and_expression" and len(parts) == 2:
        first, second = parts
        return lambda value: found if _is_false(found := first(value)) else second(value)
    if kind == "or_expression" and len(parts) == 2:
        first, second = parts
        return lambda value: second(value) if _is_false(found := first(value)) else found
    if kind == "not_expression" and len(parts) == 1:
        (inner,) = parts
        return lambda value: _is_false(inner(value))
    return None


class Expression(str):
    """A JMESPath expression, compiled once when the profile is read.

    What profiles mostly write (`event.state.power`, `event.type == 'state' && event.kind != 'plug'`) runs
    as plain functions with JMESPath's meaning, at a fraction of its interpreter's cost; anything else goes
    through one interpreter shared by all."""

    compiled: Any
    fast: _Evaluate | None

    def search(self, context: Any) -> Any:
        """What the expression finds in `context`. Raises ExpressionError when it cannot be evaluated there
        (a function given a value of the wrong type, `length(null)`, an ordering of text against a number)."""
        if self.fast is not None:
            return self.fast(context)
        from jmespath.exceptions import JMESPathError

        try:
            return _INTERPRETER.visit(self.compiled.parsed, context)
        except (JMESPathError, TypeError):
            # jmespath orders any two values it deems comparable, text among them, so text against a
            # number raises Python's TypeError rather than one of its own errors.
            raise ExpressionError(self) from None


def _interpreter() -> Any:
    from jmespath.visitor import Options, TreeInterpreter

    return TreeInterpreter(Options())


_INTERPRETER = _interpreter()


def _expression(text: Any) -> Expression:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("must be a JMESPath expression")
    expression = Expression(text)
    expression.compiled = _compiled(text)
    expression.fast = _fast(expression.compiled.parsed)
    return expression


def _header_name(name: Any) -> str:
    if not isinstance(name, str) or not _HEADER.fullmatch(name):
        raise ValueError("must be an HTTP header name (letters, digits and '-')")
    if name.lower() in _RESERVED_HEADERS or name.lower().startswith("x-forwarded-"):
        raise ValueError("is a header a sender does not control")
    return name.lower()


ExpressionText = Annotated[
    Expression,
    PlainValidator(_expression),
    WithJsonSchema({"type": "string", "description": "A JMESPath expression."}),
]
HeaderName = Annotated[
    str,
    PlainValidator(_header_name),
    WithJsonSchema({"type": "string", "description": "An HTTP header name."}),
]


# --- Verification -------------------------------------------------------------------------------------------


class StandardWebhooksScheme(CamelModel):
    """Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature` with `v1` (HMAC-SHA256, a
    `whsec_` secret) and, when listed, `v1a` (ed25519, a `whpk_` public key) entries."""

    scheme: Literal["standard-webhooks"]
    versions: Annotated[list[Literal["v1", "v1a"]], Field(min_length=1, max_length=2)] = ["v1"]
    tolerance_seconds: Annotated[StrictInt, Field(ge=1, le=MAX_TOLERANCE_SECONDS)] = 300

    @property
    def message_id_header(self) -> str:
        return "webhook-id"


class EntryList(CamelModel):
    """A signature header that lists entries, e.g. `t=1700000000,v1=<hex>,v1=<hex>` (keys) or several
    signatures separated by spaces (no keys)."""

    separator: Annotated[str, Field(min_length=1, max_length=1)] = ","
    # The key of a signature entry (`v1`); None: every entry is a signature.
    signature_key: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    # The key of the entry holding the signed timestamp (`t`), when the header carries it.
    timestamp_key: Annotated[str, Field(min_length=1, max_length=16)] | None = None


class HmacScheme(CamelModel):
    """A keyed hash over the raw body (and what the content template adds), in a header of the sender's
    choosing: GitHub, Slack, Stripe, Shopify, EventBridge's HMAC settings."""

    scheme: Literal["hmac"]
    signature_header: HeaderName
    algorithm: Literal["sha256", "sha1", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: Annotated[str, Field(max_length=32)] = ""
    entries: EntryList | None = None
    # What is signed: the raw body last, after any of {timestamp} and {id}: "{body}", "{timestamp}.{body}",
    # "v0:{timestamp}:{body}", "{id}.{timestamp}.{body}".
    signed_content: Annotated[str, Field(min_length=6, max_length=64)] = "{body}"
    timestamp_header: HeaderName | None = None
    tolerance_seconds: Annotated[StrictInt, Field(ge=1, le=MAX_TOLERANCE_SECONDS)] = 300
    message_id_header: HeaderName | None = None
    # How the stored secret becomes the HMAC key: its UTF-8 bytes (GitHub, Slack, Stripe, Shopify), or base64
    # (after an optional whsec_ prefix).
    secret_encoding: Literal["utf8", "base64"] = "utf8"  # noqa: S105 - an encoding's name

    @model_validator(mode="after")
    def _content_is_signed_consistently(self) -> HmacScheme:
        content = self.signed_content
        names = _PLACEHOLDER.findall(content)
        if not content.endswith("{body}") or names.count("body") != 1:
            raise ValueError("signedContent must end with {body}, once")
        unknown = sorted(set(names) - {"body", "timestamp", "id"})
        if unknown:
            raise ValueError(
                f"signedContent knows {{body}}, {{timestamp}} and {{id}}, not {', '.join(unknown)}"
            )
        timestamp_source = self.timestamp_header or (self.entries and self.entries.timestamp_key)
        if ("timestamp" in names) != bool(timestamp_source):
            raise ValueError(
                "a timestamp is signed exactly when the request carries one: {timestamp} in signedContent "
                "needs timestampHeader (or entries.timestampKey), and either of those needs {timestamp}"
            )
        if "id" in names and not self.message_id_header:
            raise ValueError("{id} in signedContent needs messageIdHeader")
        return self


class TokenScheme(CamelModel):
    """A static token in a header, compared with the whole value (EventBridge's static token)."""

    scheme: Literal["token"]
    header: HeaderName

    @property
    def message_id_header(self) -> None:
        return None


Verification = Annotated[StandardWebhooksScheme | HmacScheme | TokenScheme, Field(discriminator="scheme")]


class Deduplication(CamelModel):
    """What identifies one delivery, repeated on the sender's retries: exactly one of a header, a JMESPath
    expression over the body, or (when the cloud gives neither) a digest of the signed bytes."""

    header: HeaderName | None = None
    body: ExpressionText | None = None
    digest: StrictBool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> Deduplication:
        if sum((self.header is not None, self.body is not None, self.digest)) != 1:
            raise ValueError("choose exactly one of header, body or digest")
        return self


# --- Transforms ---------------------------------------------------------------------------------------------

NAMED_TRANSFORMS = (
    "percentToLevel",
    "levelToPercent",
    "kelvinToMireds",
    "miredsToKelvin",
    "celsiusToMatter",
    "fahrenheitToMatter",
    "percentToHumidity",
    "luxToMatter",
    "percentToBattery",
    "percentToPercent100ths",
    "invertPercent",
    "openPercentToClosed100ths",
    "degreesToHue",
    "percentToSaturation",
    "boolean",
    "not",
    "round",
)


class EqualsTransform(CamelModel):
    equals: Any


class MapTransform(CamelModel):
    map: Annotated[dict[str, Any], Field(min_length=1, max_length=256)]
    default: Any = None
    has_default: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _note_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "default" in data:
            return {**data, "hasDefault": True}
        return data


class ScaleTransform(CamelModel):
    scale: FiniteFloat = 1.0
    offset: FiniteFloat = 0.0


class Bounds(CamelModel):
    min: FiniteFloat | None = None
    max: FiniteFloat | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be above max")
        return self


class ClampTransform(CamelModel):
    """A number kept within bounds of the profile's choosing (to the attribute's own range: `clamp: true`)."""

    clamp: Bounds


Transform = (
    Literal[NAMED_TRANSFORMS]  # type: ignore[valid-type]
    | EqualsTransform
    | MapTransform
    | ScaleTransform
    | ClampTransform
)
Transforms = Transform | Annotated[list[Transform], Field(min_length=1, max_length=8)]


# --- Values of members --------------------------------------------------------------------------------------


class FromValue(CamelModel):
    from_: Annotated[ExpressionText, Field(alias="from")]
    transform: Transforms | None = None


class LiteralValue(CamelModel):
    value: Any


class TemplateValue(CamelModel):
    """Text with `{expression}` placeholders, each filled with what its expression finds."""

    template: Annotated[str, Field(min_length=1, max_length=512)]
    _parts: tuple[str | Expression, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _compile(self) -> TemplateValue:
        parts: list[str | Expression] = []
        last = 0
        for found in _PLACEHOLDER.finditer(self.template):
            parts.append(self.template[last : found.start()])
            parts.append(_expression(found.group(1)))
            last = found.end()
        parts.append(self.template[last:])
        self._parts = tuple(parts)
        return self

    @property
    def parts(self) -> tuple[str | Expression, ...]:
        """Literal text and expressions, in order."""
        return self._parts


MemberValue = Annotated[
    ExpressionText | FromValue | LiteralValue | TemplateValue, Field(union_mode="left_to_right")
]


# --- Matter -------------------------------------------------------------------------------------------------


def _in_catalogue(lookup: Callable[[str], object], name: str) -> str:
    """`name` when the Matter catalogue holds it; else the catalogue's own message, as a validation error."""
    try:
        lookup(name)
    except matter.CatalogueError as exc:
        raise ValueError(str(exc.args[0] if exc.args else exc)) from None
    return name


@functools.cache
def _attribute_target(name: str) -> tuple[str, str, matter.AttributeSpec]:
    # Looked up once per name: the catalogue parses `Cluster.Attribute` and formats ids on every call.
    cluster, spec = matter.attribute(name)
    return cluster.hex_id, spec.hex_id, spec


class SetAttribute(CamelModel):
    """One Matter attribute of the event's endpoint, from a native value."""

    attribute: str
    from_: Annotated[ExpressionText, Field(alias="from")]
    transform: Transforms | None = None
    # Put a value outside the attribute's range into it, instead of refusing the event.
    clamp: StrictBool = False
    # Refuse the event when the value is missing, instead of leaving the attribute out.
    required: StrictBool = False

    @field_validator("attribute")
    @classmethod
    def _known(cls, value: str) -> str:
        return _in_catalogue(matter.attribute, value)

    @property
    def target(self) -> tuple[str, str, matter.AttributeSpec]:
        """The cluster's and the attribute's hex ids, and the attribute's catalogue entry."""
        return _attribute_target(self.attribute)


class CommandMapping(CamelModel):
    """A command the event reports as done (a command response): `Cluster.Command`, or from a native value."""

    command: str | None = None
    from_: Annotated[ExpressionText | None, Field(alias="from")] = None
    map: Annotated[dict[str, str], Field(max_length=256)] = {}

    @model_validator(mode="after")
    def _known(self) -> CommandMapping:
        if (self.command is None) == (self.from_ is None):
            raise ValueError("choose exactly one of command or from (with map)")
        if self.from_ is not None and not self.map:
            raise ValueError("from needs a map of native values to Cluster.Command names")
        for name in [self.command] if self.command else self.map.values():
            _in_catalogue(matter.command, name)
        return self


class MatterEvent(CamelModel):
    """A Matter event the native event stands for (a button press): `Cluster.Event`."""

    event: str
    when: ExpressionText | None = None

    @field_validator("event")
    @classmethod
    def _known(cls, value: str) -> str:
        return _in_catalogue(matter.event, value)


class MatterEndpointMapping(CamelModel):
    endpoint: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9a-zA-Z]+$")] = "1"
    set: Annotated[list[SetAttribute], Field(max_length=100)] = []
    commands: Annotated[list[CommandMapping], Field(max_length=5)] = []
    events: Annotated[list[MatterEvent], Field(max_length=5)] = []


class DeviceTypeChoice(CamelModel):
    from_: Annotated[ExpressionText, Field(alias="from")]
    map: Annotated[dict[str, str], Field(min_length=1, max_length=256)]

    @field_validator("map")
    @classmethod
    def _known(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value.values():
            _known_device_type(name)
        return value


class AddedClusters(CamelModel):
    """Clusters a device has beyond its device type's, from a native list (e.g. features: ["battery"])."""

    from_: Annotated[ExpressionText, Field(alias="from")]
    map: Annotated[dict[str, str], Field(min_length=1, max_length=64)]

    @field_validator("map")
    @classmethod
    def _known(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value.values():
            if name not in matter.CLUSTERS:
                raise ValueError(f"unknown cluster {name!r}")
        return value


def _known_device_type(name: str) -> str:
    return _in_catalogue(matter.device_type, name)


class DevicesMapping(CamelModel):
    """The devices of a discovery answer, each with a capability report built from its device type."""

    from_: Annotated[ExpressionText, Field(alias="from")]
    connector_device_id: ExpressionText
    name: ExpressionText | None = None
    device_type: str | DeviceTypeChoice
    endpoint: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9a-zA-Z]+$")] = "1"
    add_clusters: AddedClusters | None = None

    @field_validator("device_type")
    @classmethod
    def _known(cls, value: str | DeviceTypeChoice) -> str | DeviceTypeChoice:
        return _known_device_type(value) if isinstance(value, str) else value


# --- Rules and the profile ----------------------------------------------------------------------------------


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

    @field_validator("members", mode="before")
    @classmethod
    def _member_expressions(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(MEMBER_NAMES))
        if unknown:
            raise ValueError(f"members are {', '.join(MEMBER_NAMES)}, not {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _fits_its_operation(self) -> Rule:
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


# --- The device cloud, for the connector function -------------------------------------------------------

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_URL_CHARS = 2048


def _device_cloud_url(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_URL_CHARS or not value.isascii():
        raise ValueError(f"must be a URL of at most {MAX_URL_CHARS} characters")
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port  # raises for a port that is not a number
    except ValueError:
        raise ValueError("is not a URL") from None
    whole = value.isprintable() and not any(ch.isspace() for ch in value)
    if not parts.hostname or parts.fragment or parts.username is not None or not whole:
        raise ValueError("must name a host, with no credentials and no fragment")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS and port is not None:
        return value  # a device cloud on this machine: the connector function takes it only when told to
    raise ValueError("must be an https:// URL (http:// only to a loopback address with a port)")


def is_loopback_url(url: str) -> bool:
    """Whether a (valid) device-cloud URL is plain HTTP to this machine."""
    return urllib.parse.urlsplit(url).scheme == "http"


DeviceCloudUrl = Annotated[
    str,
    PlainValidator(_device_cloud_url),
    WithJsonSchema({"type": "string", "format": "uri", "description": "An https:// URL."}),
]
SecretName = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9/_+=.@-]+$")]
ClaimName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_:.-]+$")]


class DeviceCloud(CamelModel):
    """Where the connector function hands managed integrations' requests to the device cloud: an outbound
    webhook to `url`, signed with Standard Webhooks v1 (the `whsec_` secret in `secret`, by default the
    connector's `<DeviceCloudSecretPrefix><connector id>`). `userIdClaim` names the claim of the user's OAuth
    access token (a JWT) that holds the user id; without it, the device cloud is asked."""

    url: DeviceCloudUrl
    secret: SecretName | None = None
    user_id_claim: ClaimName | None = None


class ConnectorProfile(CamelModel):
    version: Literal[1]
    description: Annotated[str, Field(max_length=512)] = ""
    verification: Verification
    # The Secrets Manager secret with the verification's secret(s); default: the connector's signing secret.
    secret: SecretName | None = None
    deduplication: Deduplication | None = None
    # Where the native events are: a list, or one object (the default: the whole body is one event).
    events: ExpressionText = Field(default_factory=lambda: _expression("body"))
    rules: Annotated[list[Rule], Field(min_length=1, max_length=MAX_RULES)]
    # A native event no rule matches: acknowledged and counted ("ignore"), or refused with a 422 ("reject").
    unmatched: Literal["ignore", "reject"] = "reject"
    # MatterEndpoint.clusters[].attributes as an object keyed by attribute id (what AWS's API reference and
    # SDK examples show), or as a list of one-key objects (what one devguide sample shows).
    attribute_form: Literal["object", "list"] = "object"
    # Where the connector function sends the connector's requests (the relay itself does not use it).
    device_cloud: DeviceCloud | None = None

    @model_validator(mode="after")
    def _dedupe_has_a_source(self) -> ConnectorProfile:
        names = [rule.name for rule in self.rules]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"rule names must be unique: {', '.join(repeated)}")
        if self.deduplication is None and self.verification.message_id_header is None:
            raise ValueError(
                "the scheme carries no message id: say how deliveries are told apart (deduplication)"
            )
        return self

    @property
    def message_id_header(self) -> str | None:
        """Where the delivery id is, when a header carries it."""
        if self.deduplication is not None:
            return self.deduplication.header
        return self.verification.message_id_header


def parse_profile(data: Any) -> ConnectorProfile:
    """The profile in `data` (parsed JSON), or ProfileError listing every problem."""
    if not isinstance(data, dict):
        raise ProfileError([Problem("", f"expected a JSON object, got {type(data).__name__}")])
    try:
        return ConnectorProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(problems_of(exc, location=_without_union_tags)) from None


def parse_profile_json(text: str | bytes) -> ConnectorProfile:
    import json

    def not_json(constant: str) -> None:
        raise ValueError(f"{constant} is not a JSON number")

    try:
        # NaN and the infinities are not JSON, though json.loads reads them: none may reach a scale or bound.
        data = json.loads(text, parse_constant=not_json)
    except (ValueError, RecursionError) as exc:
        raise ProfileError([Problem("", f"not valid JSON ({str(exc)[:120]})")]) from None
    return parse_profile(data)


_UNION_TAGS = frozenset(
    {"standard-webhooks", "hmac", "token", "str", "list[...]", "function-after[_expression()]"}
    | {"EqualsTransform", "MapTransform", "ScaleTransform", "ClampTransform"}
    | {"FromValue", "LiteralValue", "TemplateValue"}
    | {"DeviceTypeChoice", "literal['percentToLevel','levelToPercent']"}
)


def _is_union_tag(part: int | str) -> bool:
    return isinstance(part, str) and (
        part in _UNION_TAGS
        or part.startswith(("function-", "literal[", "list[", "is-instance", "json-or-python"))
    )


def _without_union_tags(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic names the union member it tried in the location: the document's own path leaves it out.
    # A map's keys are the profile's own text, kept whatever they spell ("token", "str").
    return tuple(
        part
        for index, part in enumerate(loc)
        if (index and loc[index - 1] == "map") or not _is_union_tag(part)
    )


__all__ = ["OPERATIONS", "ConnectorProfile", "ProfileError", "parse_profile", "parse_profile_json"]
