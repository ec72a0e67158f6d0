"""What managed integrations sends a cloud-to-cloud connector, and what it reads back: one pydantic model per
wire shape, in the style of the SendConnectorEvent models.

Managed integrations invokes the connector's Lambda function with a JSON document of two parts:

```json
{"header": {"auth": {"type": "OAuth2.0", "token": "<the end user's access token>"}},
 "payload": {"operationName": "AWS.SendCommand", "operationVersion": "1.0", "connectorId": "c-123",
             "traceId": "9b75f3839b6140f=_1", "connectorDeviceId": "lamp-42", "endpoints": [...]}}
```

`header.auth` is either the OAuth 2.0 variant (the user's token) or General Authorization (a Secrets Manager
secret's `arn` and `versionId`, which the connector reads itself). AWS documents only part of these
documents, so members not described here are kept, never refused; what is required is what the flow cannot
work without: the credential, the connector, the operation, and an operation's own id (`deviceDiscoveryId`,
`traceId`) and device (`connectorDeviceId`). The id, device and user members carry the constraints of the
SendConnectorEvent members they become. Tokens and secrets are sensitive: nothing here ever quotes a value.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError

from iotbridge.errors import InvalidInputError, Problem, render_path
from iotbridge.send_connector_event.models import (
    ConnectorDeviceIdText,
    ConnectorIdText,
    DeviceDiscoveryIdText,
    ThirdPartyUserIdText,
    TraceIdText,
)
from iotbridge.wire import CamelModel, problems_of

ACTIVATE_USER: Final = "AWS.ActivateUser"
DISCOVER_DEVICES: Final = "AWS.DiscoverDevices"
SEND_COMMAND: Final = "AWS.SendCommand"
DEACTIVATE_USER: Final = "AWS.DeactivateUser"
OPERATION_NAMES: Final = (ACTIVATE_USER, DISCOVER_DEVICES, SEND_COMMAND, DEACTIVATE_USER)
# A bearer token well above any an authorization server issues, and a bound on what is parsed for it.
MAX_TOKEN_CHARS: Final = 16_384
# The ARN of a Secrets Manager secret.
ARN_PATTERN: Final = r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$"
# Arrays and objects in an invocation, at most: what AWS documents nests under 10 levels, and pydantic
# serialises the payload for the device cloud only up to about 250.
MAX_INVOCATION_DEPTH: Final = 128


class InvalidInvocationError(InvalidInputError):
    """An invocation the connector cannot act on; every problem is listed by its path, never its value."""

    subject = "invocation"
    whole = "(invocation)"


class _Envelope(CamelModel):
    # Members AWS does not document are kept (model_extra), never refused.
    model_config = ConfigDict(extra="allow")


class OAuthAuthorization(_Envelope):
    type: Literal["OAuth2.0"]
    token: Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_CHARS, description="Sensitive.")]


class SecretReference(_Envelope):
    arn: Annotated[str, Field(max_length=2048, pattern=ARN_PATTERN)]
    # Without it, the secret's current version (AWSCURRENT).
    version_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class GeneralAuthorization(_Envelope):
    type: Literal["GeneralAuthorization"]
    secrets_manager: SecretReference


Authorization = Annotated[OAuthAuthorization | GeneralAuthorization, Field(discriminator="type")]


class Header(_Envelope):
    auth: Authorization


class Payload(_Envelope):
    operation_name: Literal[
        "AWS.ActivateUser", "AWS.DiscoverDevices", "AWS.SendCommand", "AWS.DeactivateUser"
    ]
    # "1.0.0" in AWS's ActivateUser samples, "1.0" in the others: taken as given.
    operation_version: Annotated[str, Field(max_length=32)] | None = None
    connector_id: ConnectorIdText


class DiscoverDevicesPayload(Payload):
    operation_name: Literal["AWS.DiscoverDevices"]
    device_discovery_id: DeviceDiscoveryIdText


def _ascii_id(text: str) -> str:
    # int() reads Arabic-Indic and other Unicode digits: such an id would resolve to a catalogue command.
    if not text.isascii():
        raise ValueError("a Matter id is ASCII: decimal digits, or 0x and hex digits")
    return text


MatterIdText = Annotated[str, Field(min_length=1, max_length=24), AfterValidator(_ascii_id)]


class MatterCommandCluster(_Envelope):
    id: MatterIdText
    # Command id -> its fields, as the Matter data model writes a command.
    commands: dict[MatterIdText, Any] = {}


class MatterCommandEndpoint(_Envelope):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    clusters: Annotated[list[MatterCommandCluster], Field(max_length=50)] = []


class SendCommandPayload(Payload):
    operation_name: Literal["AWS.SendCommand"]
    trace_id: TraceIdText
    connector_device_id: ConnectorDeviceIdText
    # The Matter command, when it comes as endpoints of clusters of commands (the documented data model).
    endpoints: Annotated[list[MatterCommandEndpoint], Field(max_length=50)] = []


class Invocation(_Envelope):
    """One invocation of the connector by managed integrations."""

    header: Header
    payload: Payload


class DiscoverDevicesInvocation(Invocation):
    payload: DiscoverDevicesPayload


class SendCommandInvocation(Invocation):
    payload: SendCommandPayload


_BY_OPERATION: Final[dict[str, TypeAdapter[Invocation]]] = {
    DISCOVER_DEVICES: TypeAdapter(DiscoverDevicesInvocation),
    SEND_COMMAND: TypeAdapter(SendCommandInvocation),
}
_ANY_OPERATION: Final[TypeAdapter[Invocation]] = TypeAdapter(Invocation)
USER_ID: Final = TypeAdapter(ThirdPartyUserIdText)


class UnknownOperationError(InvalidInvocationError):
    """`payload.operationName` is none of the four operations."""


def operation_name_of(event: Any) -> str | None:
    """The operation an invocation names, when it names one as text."""
    payload = event.get("payload") if isinstance(event, dict) else None
    name = payload.get("operationName") if isinstance(payload, dict) else None
    return name if isinstance(name, str) else None


def parse_invocation(event: Any) -> Invocation:
    """The invocation in `event` (the Lambda event, parsed JSON), with the model of its operation. Raises
    UnknownOperationError for an operation that is not one of the four, InvalidInvocationError listing
    every problem otherwise."""
    if not isinstance(event, dict):
        raise InvalidInvocationError([Problem("", f"expected a JSON object, got {type(event).__name__}")])
    name = operation_name_of(event)
    if name is not None and name not in OPERATION_NAMES:
        raise UnknownOperationError(
            [
                Problem(
                    "payload.operationName",
                    f"is not an operation of a connector: {', '.join(OPERATION_NAMES)}",
                )
            ]
        )
    too_deep = _nested_too_deeply(event)
    if too_deep is not None:
        rule = f"must not nest arrays and objects more than {MAX_INVOCATION_DEPTH} levels deep"
        raise InvalidInvocationError([Problem(too_deep, rule)])
    try:
        return _BY_OPERATION.get(name or "", _ANY_OPERATION).validate_python(event)
    except ValidationError as exc:
        raise InvalidInvocationError(problems_of(exc, location=_document_path, rules=_RULES)) from None
    except RecursionError:
        raise InvalidInvocationError([Problem("", "nested too deeply")]) from None


def _nested_too_deeply(event: dict[str, Any]) -> str | None:
    """The member (its first two levels) holding arrays and objects nested deeper than the models take, if
    any; walked without recursion, whatever the depth."""
    pending: list[tuple[Any, int, str]] = [(event, 0, "")]
    while pending:
        item, depth, where = pending.pop()
        if depth >= MAX_INVOCATION_DEPTH:
            return where
        members = (
            item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        )
        for key, member in members:
            if isinstance(member, dict | list):
                inner = where if depth >= 2 else render_path([*([where] if where else []), key])
                pending.append((member, depth + 1, inner))
    return None


def user_id_problems(user_id: str) -> list[Problem]:
    """Why a user id cannot be the UserId of the SendConnectorEvent answers (nothing for one that can)."""
    try:
        USER_ID.validate_python(user_id)
    except ValidationError as exc:
        return [Problem("userId", p.rule) for p in problems_of(exc)]
    return []


# Rules for the errors whose own message would quote the sender's value.
_RULES: Final = {
    "union_tag_invalid": "type must be OAuth2.0 or GeneralAuthorization",
    "union_tag_not_found": "needs a type: OAuth2.0 or GeneralAuthorization",
    "literal_error": f"must be one of {', '.join(OPERATION_NAMES)}",
}


def _document_path(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # A map's key is the sender's text: the path says "a key of this map" without it.
    if len(loc) >= 2 and loc[-1] == "[key]":
        loc = (*loc[:-2], "[key]")
    # pydantic names the variant of `auth` it tried: the document's own path leaves it out.
    return tuple(part for part in loc if part not in ("OAuth2.0", "GeneralAuthorization"))


def response(code: int, message: str, *, user_id: str | None = None) -> dict[str, Any]:
    """What the connector returns: `header.responseCode`, `payload.responseMessage` (and `payload.userId`
    for AWS.ActivateUser)."""
    payload: dict[str, Any] = {"responseMessage": message}
    if user_id is not None:
        payload["userId"] = user_id
    return {"header": {"responseCode": code}, "payload": payload}
