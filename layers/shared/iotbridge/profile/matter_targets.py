"""What a rule builds in Matter's terms: the attributes, commands and events of the event's endpoint, and
the devices of a discovery answer; each name checked against the Matter catalogue as the profile is read."""

import functools
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field, StrictBool, ValidationInfo, field_validator, model_validator

from iotbridge import matter
from iotbridge.wire import CamelModel

from .expressions import ExpressionText
from .transforms import Transforms


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


class MatterValue(CamelModel):
    """A Matter value (an attribute's, an event field's): from a native value (`from`, with its
    `transform`), or a literal (`value`), exactly one of the two."""

    from_: Annotated[ExpressionText | None, Field(alias="from")] = None
    value: Any = None
    transform: Transforms | None = None
    # Put a value outside the target's range into it, instead of refusing the event.
    clamp: StrictBool = False
    # Refuse the event when the value is missing, instead of leaving the target out.
    required: StrictBool = False

    @model_validator(mode="after")
    def _one_source(self) -> "MatterValue":
        if (self.from_ is None) == (not self.is_literal):
            raise ValueError("choose exactly one of from and value")
        if self.is_literal and self.model_fields_set & {"transform", "clamp", "required"}:
            raise ValueError("a literal value takes no transform, clamp or required")
        return self

    @property
    def is_literal(self) -> bool:
        """Whether the value is the profile's own (`value`, which may be null) rather than the event's."""
        return "value" in self.model_fields_set

    def _literal_fits(self, spec: matter.AttributeSpec | matter.FieldSpec, what: str) -> None:
        broken = spec.problem(self.value) if self.is_literal else None
        if broken is not None:
            raise ValueError(f"{what}: the value {broken}")


class SetAttribute(MatterValue):
    """One Matter attribute of the event's endpoint, from a native value or a literal."""

    attribute: str

    @field_validator("attribute")
    @classmethod
    def _known(cls, value: str) -> str:
        return _in_catalogue(matter.attribute, value)

    @model_validator(mode="after")
    def _literal_fits_the_attribute(self) -> "SetAttribute":
        self._literal_fits(self.target[2], self.attribute)
        return self

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
    def _known(self) -> "CommandMapping":
        if (self.command is None) == (self.from_ is None):
            raise ValueError("choose exactly one of command or from (with map)")
        if self.from_ is not None and not self.map:
            raise ValueError("from needs a map of native values to Cluster.Command names")
        for name in [self.command] if self.command else self.map.values():
            _in_catalogue(matter.command, name)
        return self


class MatterEvent(CamelModel):
    """A Matter event the native event stands for (a button press, a lock operation): `Cluster.Event`, with
    its fields by name (`{"OperationSource": {"value": 7}}`), each checked against the catalogue's type and
    values of the field."""

    event: str
    when: ExpressionText | None = None
    fields: Annotated[dict[str, MatterValue], Field(max_length=16)] = {}

    @field_validator("event")
    @classmethod
    def _known(cls, value: str) -> str:
        return _in_catalogue(matter.event, value)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, MatterValue], info: ValidationInfo) -> dict[str, MatterValue]:
        event = info.data.get("event")
        if event is None:  # the event's own problem is reported already
            return value
        problems = []
        for name, spec in value.items():
            try:
                _in_catalogue(functools.partial(matter.event_field, event), name)
                spec._literal_fits(matter.event_field(event, name), name)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def target(self, name: str) -> matter.FieldSpec:
        """The catalogue's entry of the field `name` (one of `fields`)."""
        return matter.event_field(self.event, name)


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


class DeviceSpec(CamelModel):
    """One native device as a device of a discovery answer: its id, name, device type and added clusters."""

    connector_device_id: ExpressionText
    name: ExpressionText | None = None
    device_type: str | DeviceTypeChoice
    endpoint: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9a-zA-Z]+$")] = "1"
    add_clusters: AddedClusters | None = None

    @field_validator("device_type")
    @classmethod
    def _known(cls, value: str | DeviceTypeChoice) -> str | DeviceTypeChoice:
        return _known_device_type(value) if isinstance(value, str) else value


class DevicesMapping(DeviceSpec):
    """The devices of a discovery answer, each with a capability report built from its device type."""

    from_: Annotated[ExpressionText, Field(alias="from")]
