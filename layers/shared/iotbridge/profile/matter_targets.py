"""What a rule builds in Matter's terms: the attributes, commands and events of the event's endpoint, and
the devices of a discovery answer; each name checked against the Matter catalogue as the profile is read."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated

from pydantic import Field, StrictBool, field_validator, model_validator

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
