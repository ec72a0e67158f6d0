"""Handshakes: requests a device cloud sends to check the endpoint before (or between) its events, answered
by the relay without queuing anything.

```json
"handshakes": [
  {"name": "ping", "when": "body.lifecycle == 'PING'",
   "respond": {"status": 200, "body": {"pingData": {"challenge": "{body.pingData.challenge}"}}}},
  {"name": "confirmation", "when": "body.lifecycle == 'CONFIRMATION'",
   "confirm": {"url": "body.confirmationData.confirmationUrl", "hosts": ["api.smartthings.com"]},
   "respond": {"status": 200, "body": {"targetUrl": "{body.confirmationData.confirmationUrl}"}}}
]
```

Expressions read `{"body": <the parsed body>, "headers": <the request's headers, names lower-cased>}`.
`respond.body` is a JSON template: a string that is exactly one `{expression}` takes the value found (any
JSON type), any other string is a text template, everything else is literal. `confirm` GETs the URL its
expression finds, on the `hosts` allow-list, before answering. `verified: false` answers a handshake that
arrives unsigned (SmartThings' PING): only one that echoes, never one that confirms.
"""

import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    PlainValidator,
    PrivateAttr,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

from iotbridge.wire import CamelModel

from .expressions import _PLACEHOLDER, Evaluation, Expression, ExpressionText, _expression, scalar_text

MAX_HANDSHAKES = 8
MAX_HOSTS = 16
# A template's JSON text, at most, and how deep it nests; an answer's JSON text, at most.
MAX_TEMPLATE_CHARS = 4096
MAX_TEMPLATE_NESTING = 8
MAX_ANSWER_CHARS = 16 * 1024

# A DNS name in lower case, or `*.` and one: the name's subdomains (at any depth, not the name itself).
_HOST = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
_LOOPBACK_LITERALS = frozenset({"127.0.0.1", "::1"})


class TemplateError(ValueError):
    """A template that cannot be filled from this request: `expression` is the one that found no usable
    value."""

    def __init__(self, expression: str, rule: str) -> None:
        super().__init__(rule)
        self.expression = expression
        self.rule = rule


type _Render = Callable[[dict[str, Any], Evaluation], Any]


def _text_template(text: str) -> _Render:
    whole = _PLACEHOLDER.fullmatch(text)
    if whole is not None:
        expression = _expression(whole.group(1))
        return expression.search
    parts: list[str | Expression] = []
    last = 0
    for found in _PLACEHOLDER.finditer(text):
        parts.extend((text[last : found.start()], _expression(found.group(1))))
        last = found.end()
    parts.append(text[last:])
    if len(parts) == 1:
        return lambda values, evaluation: text

    def filled(values: dict[str, Any], evaluation: Evaluation) -> str:
        pieces = []
        for part in parts:
            if not isinstance(part, Expression):  # an Expression is a str too: its text
                pieces.append(part)
                continue
            found = part.search(values, evaluation)
            if found is None or isinstance(found, dict | list):
                raise TemplateError(str(part), "a text template needs a text or number here")
            pieces.append(found if isinstance(found, str) else scalar_text(found))
        return "".join(pieces)

    return filled


def _template(value: Any, depth: int = 0) -> _Render:
    """The template as a function of the request's values (raising ExpressionError, TemplateError)."""
    if depth > MAX_TEMPLATE_NESTING:
        raise ValueError(f"the template nests deeper than {MAX_TEMPLATE_NESTING} levels")
    if isinstance(value, str):
        return _text_template(value)
    if isinstance(value, dict):
        members = [(key, _template(item, depth + 1)) for key, item in value.items()]
        return lambda values, evaluation: {key: render(values, evaluation) for key, render in members}
    if isinstance(value, list):
        items = [_template(item, depth + 1) for item in value]
        return lambda values, evaluation: [render(values, evaluation) for render in items]
    return lambda values, evaluation: value


class HandshakeResponse(CamelModel):
    """The answer: a 2xx status and a JSON object, filled from the request."""

    status: Annotated[StrictInt, Field(ge=200, le=299)] = 200
    body: dict[str, Any] = {}
    _render: _Render | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _compile(self) -> "HandshakeResponse":
        try:
            text = json.dumps(self.body, allow_nan=False)
        except (ValueError, RecursionError):
            raise ValueError("body must be a JSON object of at most 8 levels") from None
        if len(text) > MAX_TEMPLATE_CHARS:
            raise ValueError(f"body is longer than {MAX_TEMPLATE_CHARS} characters of JSON")
        self._render = _template(self.body)
        return self

    def rendered(self, values: dict[str, Any], evaluation: Evaluation) -> dict[str, Any]:
        """The body filled from `values`. Raises ExpressionError, TemplateError."""
        render = self._render or _template(self.body)  # compiled when validated
        found: dict[str, Any] = render(values, evaluation)
        return found


def _host_pattern(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a host name")
    if value in _LOOPBACK_LITERALS or (len(value) <= 253 and _HOST.fullmatch(value)):
        return value
    raise ValueError("must be a host name in lower case, optionally after `*.` (its subdomains)")


HostPattern = Annotated[
    str,
    PlainValidator(_host_pattern),
    WithJsonSchema({"type": "string", "description": "A host name, or *. and a domain (its subdomains)."}),
]


def host_allowed(host: str, hosts: tuple[str, ...] | list[str]) -> bool:
    """Whether a URL's host is on the allow-list: equal to an entry, or a subdomain of a `*.` entry."""
    host = host.lower().rstrip(".")
    return any(
        host.endswith(pattern[1:]) if pattern.startswith("*.") else host == pattern for pattern in hosts
    )


class Confirmation(CamelModel):
    """A GET of the URL `url` finds in the request, to confirm the endpoint (SmartThings' CONFIRMATION),
    made only to an https:// URL whose host is on `hosts`: an exact name, or `*.example.com` for its
    subdomains."""

    url: ExpressionText
    hosts: Annotated[list[HostPattern], Field(min_length=1, max_length=MAX_HOSTS)]


class Handshake(CamelModel):
    """A request answered with `respond` (after the `confirm` GET, when there is one) whenever `when` holds
    for it. `verified: false` answers it without a valid signature too: for a cloud that sends it unsigned,
    and only for one that echoes (an unsigned request must not make the relay GET anything)."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_.-]+$")]
    when: ExpressionText
    respond: HandshakeResponse = HandshakeResponse()
    confirm: Confirmation | None = None
    verified: StrictBool = True

    @model_validator(mode="before")
    @classmethod
    def _not_standard_webhooks(cls, data: Any) -> Any:
        if isinstance(data, dict) and "standardWebhooksChallenge" in data:
            raise ValueError(
                "the Standard Webhooks specification documents no endpoint challenge: there is nothing to "
                "answer (write the cloud's own handshake with when and respond)"
            )
        return data

    @model_validator(mode="after")
    def _unsigned_only_echoes(self) -> "Handshake":
        if not self.verified and self.confirm is not None:
            raise ValueError("a handshake answered unsigned (verified: false) must not confirm")
        return self


def _unique_names(handshakes: list[Handshake]) -> list[Handshake]:
    names = [handshake.name for handshake in handshakes]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"handshake names must be unique: {', '.join(repeated)}")
    return handshakes


Handshakes = Annotated[list[Handshake], Field(max_length=MAX_HANDSHAKES), AfterValidator(_unique_names)]
