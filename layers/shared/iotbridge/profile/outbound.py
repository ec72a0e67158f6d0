"""How the connector function reaches a device cloud's own REST API (the profile's `outbound`): the base URL,
headers and authentication every request carries, and for each operation of managed integrations the
request it sends and how the answer reads. The other way to reach a cloud, the webhook-style `deviceCloud`,
is in `device_cloud`; a profile has one or the other.

Requests are templates (`templates`) over the request's context (the connector, the user, the device, the
mapped command, the secret of a General Authorization...); answers are read with JMESPath over
`{"status", "headers", "body"}`. A General Authorization's secrets may be limited to ARN patterns
(`generalAuthorization`).
"""

import functools
import re
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, WithJsonSchema, field_validator, model_validator

from iotbridge import matter
from iotbridge.wire import CamelModel

from .device_cloud import ClaimName, DeviceCloudUrl, is_loopback_url
from .expressions import _HEADER, Expression, ExpressionText, HeaderName, _expression
from .matter_targets import DevicesMapping, DeviceSpec, MatterEndpointMapping, _in_catalogue
from .rules import Rule
from .templates import JsonTemplateField, TextTemplate, TextTemplateField, place_templates
from .transforms import Transforms

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

MAX_HEADERS = 32
MAX_QUERY_MEMBERS = 32
MAX_FORM_MEMBERS = 64
MAX_EXPECTED_STATUSES = 16
MAX_COMMAND_RULES = 100
MAX_COMMAND_VALUES = 16
MAX_SECRET_ARN_PATTERNS = 20
MAX_ARN_PATTERN_CHARS = 2048
MAX_PAGES, DEFAULT_MAX_PAGES = 50, 10
MAX_DEVICES, DEFAULT_MAX_DEVICES = 5000, 1000

# Headers the connection itself sets, or that only mean something between two hops: never the profile's.
_CONNECTION_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade"}
)
_NAME = re.compile(r"[A-Za-z0-9_.~-]{1,128}")
_VALUE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _no_control_characters(template: TextTemplate) -> None:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in template.literal_text):
        raise ValueError("a header value has no control characters (line breaks among them)")


def _headers(value: Any) -> Any:
    """Header names as HTTP writes them, none twice in any case, none the connection's own."""
    if not isinstance(value, dict):
        return value  # the dict's own type check reports it
    if len(value) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    seen: set[str] = set()
    for name in value:
        if not isinstance(name, str) or not _HEADER.fullmatch(name):
            raise ValueError(f"{str(name)[:64]!r} is not an HTTP header name (letters, digits and '-')")
        if name.lower() in _CONNECTION_HEADERS:
            raise ValueError(f"{name} is set by the connection, not by the profile")
        if name.lower() in seen:
            raise ValueError(f"{name} is named twice (header names ignore case)")
        seen.add(name.lower())
    return value


def _checked_headers(value: dict[str, TextTemplate]) -> dict[str, TextTemplate]:
    for name, template in value.items():
        try:
            _no_control_characters(template)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return value


def _names(what: str, most: int) -> Any:
    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if len(value) > most:
            raise ValueError(f"at most {most} {what} members")
        for name in value:
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ValueError(f"{what} names are 1..128 letters, digits and _.~-")
        return value

    return check


class RequestSpec(CamelModel):
    """One request to the device cloud: its method, path under the base URL, query, headers besides the
    profile's, and body (JSON or a form); `expect` lists the statuses taken as success (None: any 2xx)."""

    method: HttpMethod = "GET"
    path: TextTemplateField
    query: dict[str, TextTemplateField] = {}
    headers: dict[str, TextTemplateField] = {}
    body: JsonTemplateField | None = None
    form: dict[str, TextTemplateField] | None = None
    expect: Annotated[list[int], Field(min_length=1, max_length=MAX_EXPECTED_STATUSES)] | None = None

    _query_names = field_validator("query", mode="before")(_names("query", MAX_QUERY_MEMBERS))
    _form_names = field_validator("form", mode="before")(_names("form", MAX_FORM_MEMBERS))
    _header_names = field_validator("headers", mode="before")(_headers)
    _header_values = field_validator("headers")(_checked_headers)

    @field_validator("path")
    @classmethod
    def _under_the_base_url(cls, value: TextTemplate) -> TextTemplate:
        if not value.source.startswith("/") or value.source.startswith("//"):
            raise ValueError("a path starts with a single '/' (it follows the base URL)")
        if any(ch in value.literal_text for ch in "?#") or any(
            ord(ch) <= 32 or ord(ch) == 127 for ch in value.literal_text
        ):
            raise ValueError("a path has no '?', '#', spaces or control characters (the query is `query`)")
        return value

    @field_validator("expect")
    @classmethod
    def _success_statuses(cls, value: list[int] | None) -> list[int] | None:
        for status in value or ():
            if not (200 <= status <= 299 or 400 <= status <= 499):
                raise ValueError(
                    "an expected status is a 2xx or a 4xx (redirects are not followed; a 5xx is a failure)"
                )
        return value

    @model_validator(mode="after")
    def _one_body(self) -> "RequestSpec":
        if self.body is not None and self.form is not None:
            raise ValueError("choose body (JSON) or form, not both")
        if self.method in ("GET", "DELETE") and (self.body is not None or self.form is not None):
            raise ValueError(f"a {self.method} request has no body or form")
        return self


class BearerAuth(CamelModel):
    """`Authorization: Bearer <token>`: the invocation's OAuth token, or `token` (a General Authorization's
    secret: `{secret.accessToken}`)."""

    type: Literal["bearer"]
    token: TextTemplateField | None = None


class HeadersAuth(CamelModel):
    """Nothing added: the profile's headers carry the credentials (`"x-api-key": "{secret.apiKey}"`)."""

    type: Literal["headers"]


class HmacAuth(CamelModel):
    """A signature of each request: encode(HMAC(key, message)) in `header`, and `{signature}` for headers."""

    type: Literal["hmac"]
    key: TextTemplateField
    message: TextTemplateField
    algorithm: Literal["sha256", "sha1", "sha512"] = "sha256"
    encoding: Literal["base64", "hex", "base64url"] = "base64"
    case: Literal["as-is", "upper", "lower"] = "as-is"
    header: HeaderName


AUTH_TYPES = ("bearer", "headers", "hmac")
OutboundAuth = Annotated[BearerAuth | HeadersAuth | HmacAuth, Field(discriminator="type")]


class ActivateUser(CamelModel):
    request: RequestSpec
    # Where the answer holds the user's id.
    user_id: ExpressionText


class DeactivateUser(CamelModel):
    # None: nothing to call.
    request: RequestSpec | None = None
    user_id: ExpressionText | None = None


class NextPage(CamelModel):
    """Where the next page is: a token in the answer sent back as the query member `query`, or a URL (on the
    base URL's scheme and host, checked when it is followed)."""

    token: ExpressionText | None = None
    query: Annotated[str, Field(pattern=_NAME.pattern)] | None = None
    url: ExpressionText | None = None

    @model_validator(mode="after")
    def _one_form(self) -> "NextPage":
        by_token = self.token is not None and self.query is not None
        if self.url is not None and (self.token is not None or self.query is not None):
            raise ValueError("choose token and query, or url, not both")
        if self.url is None and not by_token:
            raise ValueError("give token and query (the query member that sends it back), or url")
        return self


class DiscoverDevices(CamelModel):
    """How the devices are listed: the request of a page, where its devices are, where the next page is, and
    how each device becomes one of the DEVICE_DISCOVERY event's."""

    request: RequestSpec
    devices: ExpressionText
    next_page: NextPage | None = None
    max_pages: Annotated[int, Field(ge=1, le=MAX_PAGES)] = DEFAULT_MAX_PAGES
    max_devices: Annotated[int, Field(ge=1, le=MAX_DEVICES)] = DEFAULT_MAX_DEVICES
    device: DeviceSpec
    when: ExpressionText | None = None
    user_id: ExpressionText | None = None
    on_error: Literal["skip", "reject"] = "skip"

    @functools.cached_property
    def _rule(self) -> Rule:
        device = self.device
        rule = Rule(
            name="discovery",
            operation="DEVICE_DISCOVERY",
            devices=DevicesMapping(
                from_=_expression("[event]"),
                connector_device_id=device.connector_device_id,
                name=device.name,
                device_type=device.device_type,
                endpoint=device.endpoint,
                add_clusters=device.add_clusters,
            ),
            on_error=self.on_error,
        )
        # Set after validation, which would compile the text again.
        return rule if self.when is None else rule.model_copy(update={"when": _device_as_event(self.when)})

    def mapping_rule(self) -> Rule:
        """The DEVICE_DISCOVERY rule the inbound mapping maps each native device with (as one event): named
        "discovery", its devices read from `[event]`, `when` as the rule's. Built once."""
        return self._rule


# Nodes whose children all read the value the node reads, and nodes whose first child alone does (the rest
# read what that child found, or each item of it).
_SAME_VALUE = frozenset(
    {
        "comparator",
        "and_expression",
        "or_expression",
        "not_expression",
        "function_expression",
        "multi_select_list",
        "multi_select_dict",
        "key_val_pair",
    }
)
_FIRST_CHILD = frozenset(
    {
        "subexpression",
        "index_expression",
        "pipe",
        "projection",
        "filter_projection",
        "value_projection",
        "flatten",
    }
)


def _renamed(node: dict[str, Any]) -> dict[str, Any]:
    kind, children = node["type"], node.get("children", [])
    if kind == "field" and node.get("value") == "device":
        return {**node, "value": "event"}
    if kind in _SAME_VALUE:
        return {**node, "children": [_renamed(c) if isinstance(c, dict) else c for c in children]}
    if kind in _FIRST_CHILD and children and isinstance(children[0], dict):
        return {**node, "children": [_renamed(children[0]), *children[1:]]}
    return node


def _device_as_event(when: Expression) -> Expression:
    """`when` for the rule of a discovery's devices. The discovery's expressions read a native device as
    `device` (or `event`); a rule's `when` is evaluated where only `event` is that device, so `device` at the
    top of the context reads `event` instead (inside a filter or a projection, `device` is an item's member
    and stays as written). The text is the profile's, for the messages."""
    from jmespath.parser import ParsedResult

    from .expressions import _fast

    parsed = _renamed(when.compiled.parsed)
    expression = Expression(str(when))
    expression.compiled = ParsedResult(str(when), parsed)
    expression.fast = _fast(parsed)
    return expression


class CommandValue(CamelModel):
    """A value a command's body reads as `{values.<name>}`: from the Matter command's fields (`from`, with its
    `transform`), or a literal (`value`)."""

    from_: Annotated[ExpressionText | None, Field(alias="from")] = None
    value: Any = None
    transform: Transforms | None = None
    # Refuse the command when the value is missing, instead of leaving it null.
    required: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> "CommandValue":
        literal = "value" in self.model_fields_set
        if (self.from_ is None) == (not literal):
            raise ValueError("choose exactly one of from and value")
        if literal and self.model_fields_set & {"transform", "required"}:
            raise ValueError("a literal value takes no transform or required")
        return self


@functools.cache
def _command_ids(name: str) -> tuple[int, int]:
    cluster, command = matter.command(name)
    return cluster.id, command


class CommandRule(CamelModel):
    """How one Matter command (`Cluster.Command`, from the catalogue) is asked of the device cloud."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_.-]+$")]
    command: str
    when: ExpressionText | None = None
    body: JsonTemplateField | None = None
    values: Annotated[dict[str, CommandValue], Field(max_length=MAX_COMMAND_VALUES)] = {}
    # What a sync answer reports of the endpoint besides the command (attributes only).
    response: MatterEndpointMapping | None = None

    @field_validator("command")
    @classmethod
    def _known(cls, value: str) -> str:
        return _in_catalogue(matter.command, value)

    @field_validator("values", mode="before")
    @classmethod
    def _value_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for name in value:
                if not isinstance(name, str) or not _VALUE_NAME.fullmatch(name):
                    raise ValueError("value names are identifiers: letters, digits and _, not first a digit")
        return value

    @field_validator("response")
    @classmethod
    def _attributes_only(cls, value: MatterEndpointMapping | None) -> MatterEndpointMapping | None:
        if value is not None and value.model_fields_set - {"set"}:
            raise ValueError("a command's response sets attributes only (set), on the command's endpoint")
        return value

    @property
    def cluster_id(self) -> int:
        return _command_ids(self.command)[0]

    @property
    def command_id(self) -> int:
        return _command_ids(self.command)[1]


class CommandAnswer(CamelModel):
    """How the cloud answers a command: at once (`sync`: `success` says whether it was done) or later, in a
    webhook (`async`: `requestId` finds the cloud's own id of the command, recorded to find it again)."""

    mode: Literal["sync", "async"]
    request_id: ExpressionText | None = None
    success: ExpressionText | None = None
    failure_status: Annotated[int, Field(ge=400, le=599)] = 500
    message: ExpressionText | None = None

    @model_validator(mode="after")
    def _fits_its_mode(self) -> "CommandAnswer":
        if self.mode == "async" and self.request_id is None:
            raise ValueError(
                "an async answer needs requestId: where the answer holds the cloud's id of the command"
            )
        return self


class SendCommand(CamelModel):
    request: RequestSpec
    # False: one request per mapped command; true: one request for all, its body reading {commands}.
    together: bool = False
    commands: Annotated[list[CommandRule], Field(min_length=1, max_length=MAX_COMMAND_RULES)]
    answer: CommandAnswer

    @field_validator("commands")
    @classmethod
    def _unique_names(cls, value: list[CommandRule]) -> list[CommandRule]:
        names = [rule.name for rule in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"command rule names must be unique: {', '.join(repeated)}")
        return value


class Outbound(CamelModel):
    """The device cloud's REST API, as the connector function calls it."""

    base_url: DeviceCloudUrl
    headers: dict[str, TextTemplateField] = {}
    auth: OutboundAuth
    user_id_claim: ClaimName | None = None
    activate_user: ActivateUser | None = None
    deactivate_user: DeactivateUser | None = None
    discover_devices: DiscoverDevices
    send_command: SendCommand

    _header_names = field_validator("headers", mode="before")(_headers)
    _header_values = field_validator("headers")(_checked_headers)

    @field_validator("base_url")
    @classmethod
    def _no_query(cls, value: str) -> str:
        if "?" in value:
            raise ValueError("a base URL has no query (a request's query is its `query`)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> "Outbound":
        names = {name.lower() for name in self.headers}
        if isinstance(self.auth, BearerAuth) and "authorization" in names:
            raise ValueError("bearer auth sets Authorization: the headers must not")
        if isinstance(self.auth, HmacAuth) and self.auth.header in names:
            raise ValueError(f"hmac auth sets {self.auth.header}: the headers must not")
        place_templates(self, "")
        return self

    def requests(self) -> Iterator[tuple[str, RequestSpec]]:
        """Every request the profile declares, with its path in the document."""
        if self.activate_user is not None:
            yield "activateUser.request", self.activate_user.request
        if self.deactivate_user is not None and self.deactivate_user.request is not None:
            yield "deactivateUser.request", self.deactivate_user.request
        yield "discoverDevices.request", self.discover_devices.request
        yield "sendCommand.request", self.send_command.request


def _arn_pattern(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ARN_PATTERN_CHARS or not value.isascii():
        raise ValueError(f"an ARN pattern is text of at most {MAX_ARN_PATTERN_CHARS} characters")
    if not value.isprintable() or any(ch.isspace() for ch in value):
        raise ValueError("an ARN pattern has no spaces or control characters")
    if "[" in value or "]" in value:
        raise ValueError("an ARN pattern's only wildcards are * and ?")
    parts = value.split(":", 6)
    if (
        len(parts) < 7
        or parts[0] != "arn"
        or not parts[1].startswith("aws")
        or parts[2] != "secretsmanager"
        or parts[5] != "secret"
        or not parts[6]
    ):
        raise ValueError(
            "must be a Secrets Manager secret's ARN pattern: "
            "arn:aws:secretsmanager:<region>:<account>:secret:<name>"
        )
    return value


ArnPattern = Annotated[
    str,
    PlainValidator(_arn_pattern),
    WithJsonSchema(
        {"type": "string", "description": "A secret's ARN, * and ? matching any text and any one character."}
    ),
]


class GeneralAuthorizationScope(CamelModel):
    """The secrets a General Authorization invocation may name: ARN patterns (`*`, `?`), matched against the
    whole ARN, case-sensitive."""

    secret_arns: Annotated[list[ArnPattern], Field(min_length=1, max_length=MAX_SECRET_ARN_PATTERNS)]

    def allows(self, arn: str) -> bool:
        """Whether the secret `arn` matches one of the patterns."""
        if not isinstance(arn, str) or len(arn) > MAX_ARN_PATTERN_CHARS:
            return False
        return any(fnmatchcase(arn, pattern) for pattern in self.secret_arns)


# --- What `profile validate` warns of ----------------------------------------------------------------------


def _root(expression: Expression) -> str | None:
    """The name an expression starts from (`secret` for `secret.apiKey`), or None."""
    node = expression.compiled.parsed
    while node.get("type") in ("subexpression", "index_expression", "projection") and node.get("children"):
        node = node["children"][0]
    return node.get("value") if node.get("type") == "field" else None


def _template_reads(node: Any) -> Iterator[Expression]:
    from pydantic import BaseModel

    from .templates import JsonTemplate

    if isinstance(node, TextTemplate | JsonTemplate):
        yield from node.reads()
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _template_reads(getattr(node, name))
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _template_reads(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from _template_reads(item)


def outbound_warnings(outbound: Outbound, scope: GeneralAuthorizationScope | None) -> list[str]:
    """What a valid `outbound` block does not protect against, or does less than it may seem to: each a
    sentence for `profile validate`, prefixed with where it is."""
    found = []
    auth = outbound.auth
    if isinstance(auth, HmacAuth) and not {_root(e) for e in auth.message.reads()} & {"timestamp", "nonce"}:
        found.append(
            "outbound.auth.message: the signed message reads no timestamp or nonce: a captured request is "
            "replayable"
        )
    if isinstance(auth, BearerAuth) and is_loopback_url(outbound.base_url):
        found.append(
            "outbound.baseUrl: plain http: the bearer token travels unencrypted (a device cloud on this "
            "machine only)"
        )
    if outbound.activate_user is None and outbound.user_id_claim is None:
        found.append(
            "outbound: no userIdClaim and no activateUser: the user id is the General Authorization "
            "secret's userId member, and an OAuth invocation cannot be activated"
        )
    if outbound.discover_devices.next_page is None:
        found.append("outbound.discoverDevices: no nextPage: discovery reads one page only")
    if scope is None and any(_root(e) == "secret" for e in _template_reads(outbound)):
        found.append(
            "outbound: templates read secret but the profile has no generalAuthorization: General "
            "Authorization secrets are read from this stack's prefix only"
        )
    return found
