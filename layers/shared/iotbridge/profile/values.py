"""Where a SendConnectorEvent member's value comes from: an expression, an expression and its transform, a
literal, a template of text and expressions, or a lookup of what the connector function recorded."""

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, Discriminator, Field, PrivateAttr, Tag, model_validator

from iotbridge.wire import CamelModel

from .expressions import _PLACEHOLDER, Expression, ExpressionText, _expression
from .transforms import Transforms


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
    def _compile(self) -> "TemplateValue":
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


# The member each kind of lookup fills: the id of the request of managed integrations the event answers.
LOOKUP_MEMBERS: Final[dict[str, str]] = {"command": "TraceId", "discovery": "DeviceDiscoveryId"}


class LookupValue(CamelModel):
    """A value the connector function recorded when it handed a request to the device cloud, found by what
    the event carries: for a cloud whose webhooks do not echo the request id it was sent.

    - `command`: the TraceId of the command the device cloud knows by its own request id (the one its
      answer to the command carried, found by the profile's `deviceCloud.requestId`); `by` finds that id in
      the event.
    - `discovery`: the DeviceDiscoveryId of the latest discovery of the user `by` finds, while it is open
      (until its deadline); without `by`, the latest of the connector.

    `otherwise` says what a miss does: `skip` leaves the event out (reported), `reject` is a problem of the
    event, `{"value": ...}` a literal to use instead.
    """

    lookup: Literal["command", "discovery"]
    by: ExpressionText | None = None
    otherwise: Literal["skip", "reject"] | LiteralValue = "reject"

    @model_validator(mode="after")
    def _command_needs_by(self) -> "LookupValue":
        if self.lookup == "command" and self.by is None:
            raise ValueError(
                "a command lookup needs by: the expression that finds the device cloud's request id"
            )
        return self


def misplaced_lookups(members: Mapping[str, Any]) -> list[str]:
    """What is wrong with where a rule's members put lookups: each kind fills one member only."""
    return [
        f"{member} cannot be a {spec.lookup} lookup (it fills {LOOKUP_MEMBERS[spec.lookup]})"
        for member, spec in members.items()
        if isinstance(spec, LookupValue) and LOOKUP_MEMBERS[spec.lookup] != member
    ]


# An object's form, by the member that names it.
_FORMS: Final = (
    ("lookup", "LookupValue"),
    ("template", "TemplateValue"),
    ("from", "FromValue"),
    ("value", "LiteralValue"),
)


def _member_form(value: Any) -> str | None:
    """Which form a member's value takes, by its shape, so that a mistake in one is reported for that form
    alone (the tags are the names the document's problem paths leave out)."""
    if isinstance(value, BaseModel):
        return type(value).__name__
    if isinstance(value, dict):
        return next((form for key, form in _FORMS if key in value), None)
    return "str"


MemberValue = Annotated[
    Annotated[ExpressionText, Tag("str")]
    | Annotated[FromValue, Tag("FromValue")]
    | Annotated[LiteralValue, Tag("LiteralValue")]
    | Annotated[TemplateValue, Tag("TemplateValue")]
    | Annotated[LookupValue, Tag("LookupValue")],
    Discriminator(
        _member_form,
        custom_error_type="member_form",
        custom_error_message="must be an expression, or an object with from, value, template or lookup",
    ),
]
