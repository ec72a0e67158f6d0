"""The Matter 1.4 data model the connectors speak, as plain data: clusters, attributes, commands, events, and
the device types that tie them together.

A connector maps a device cloud's JSON onto these names; the ids, types and bounds here are what AWS IoT
managed integrations expects inside `SendConnectorEvent` (it writes ids as `"0x…"` hex strings, see
`AttributeSpec.hex_id`, `command_hex`, `event_hex`).

Conventions:
- Bounds are inclusive and apply to the value as sent, in the attribute's own scale (`unit`): a temperature
  is an int16 in 0.01 °C, a battery level a uint8 in half-percent, a colour temperature a uint16 in mireds.
  A bound of None means the type's own range (`TYPE_RANGES`).
- Bounds follow the attribute's own constraints, not those a feature adds (CurrentLevel is 0..254 here, the
  Lighting feature's floor of 1 is the mapping's business) nor those that depend on another attribute's value
  (MeasuredValue between MinMeasuredValue and MaxMeasuredValue).
- `mandatory` means mandatory for the cluster itself; an attribute a feature makes mandatory is not.
- Only attributes of a plain type are here: struct-, list- and octet-string-valued ones are left out, and each
  cluster's comment says which.
- Commands are those a client sends to the server; the responses a server generates are left out.
- An event's fields are listed with their types as the specification gives them, where the type is plain;
  struct- and list-valued fields (a lock operation's Credentials) are left out, and the event's `note` in the
  data says which. An enum field lists its values by name (`FieldSpec.values`); a field id is written in a
  payload as an attribute id is (`field_hex`).
- A device type's required clusters are the application server clusters it makes mandatory, without
  Descriptor, Identify, Groups and ScenesManagement, which every endpoint has. A switch's OnOff and
  LevelControl are client clusters, so switches require no server cluster here. WaterValve, Pump,
  ElectricalSensor and RootNode are left out: they need clusters this catalogue does not hold
  (ValveConfigurationAndControl, PumpConfigurationAndControl, PowerTopology, AccessControl, ...); so is
  HeatPump, whose definition makes no cluster mandatory that a connector could report.
- Lookups raise `CatalogueError`, whose message names what is unknown and what is close to it.

The rows are data, in `catalogue.json` beside this module (ids in hex, as the specification writes them; each
cluster's `note` says what its rows leave out and why), read once at import into the frozen specs below.
Stdlib only: the layer imports this at cold start.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any, ClassVar, Final

from iotbridge.errors import PermanentError

# The value range of every type an attribute may have; None for the types that are not numbers.
TYPE_RANGES: Final[dict[str, tuple[int, int] | None]] = {
    "bool": None,
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
    "enum8": (0, 2**8 - 1),
    "bitmap8": (0, 2**8 - 1),
    "bitmap16": (0, 2**16 - 1),
    "bitmap32": (0, 2**32 - 1),
    "string": None,
}
TYPES: Final[frozenset[str]] = frozenset(TYPE_RANGES)


class CatalogueError(PermanentError, KeyError):
    """A cluster, attribute, command, event or device type the catalogue does not hold (a KeyError too, for
    the callers that look names up like keys)."""

    def __str__(self) -> str:
        # KeyError's own str() quotes its argument as a repr; the message is meant to be read as written.
        return str(self.args[0]) if self.args else ""


def round_half_away(value: float) -> int:
    """The nearest whole number, halves away from zero. round() takes halves to even (round(0.5) == 0, 75 %
    to level 190), where a device's 0.5 means 1. `x - floor(x)` is exact, so no 0.49999... rounds up."""
    magnitude = abs(value)
    whole = math.floor(magnitude)
    if magnitude - whole >= 0.5:
        whole += 1
    return whole if value >= 0 else -whole


@dataclass(frozen=True, slots=True)
class _ValueSpec:
    """A typed value of the data model, an attribute or an event's field: its type, bounds and nullability,
    and the rules a value must keep."""

    name: str
    id: int
    type: str
    minimum: int | None
    maximum: int | None
    nullable: bool = False

    # What the spec is called in its messages, and the largest id of its kind.
    _KIND: ClassVar[str] = "value"
    _MAX_ID: ClassVar[int] = 0xFFFF

    def __post_init__(self) -> None:
        # A wrong row in catalogue.json fails when the catalogue is read (a profile's validation), not when a
        # device first sends that value.
        what = f"{self._KIND} {self.name}"
        if self.type not in TYPES:
            raise ValueError(f"{what}: unknown type {self.type!r}")
        if not 0 <= self.id <= self._MAX_ID:
            raise ValueError(f"{what}: id must be 0x0000..{_hex4(self._MAX_ID)}")
        own = TYPE_RANGES[self.type]
        if own is None:
            if self.minimum is not None or self.maximum is not None:
                raise ValueError(f"{what}: a {self.type} has no bounds")
            return
        low, high = self._bounds(own)
        if not own[0] <= low <= high <= own[1]:
            raise ValueError(f"{what}: bounds {low}..{high} do not fit a {self.type}")

    def _bounds(self, own: tuple[int, int]) -> tuple[int, int]:
        return (
            own[0] if self.minimum is None else self.minimum,
            own[1] if self.maximum is None else self.maximum,
        )

    @property
    def bounds(self) -> tuple[int, int] | None:
        """The inclusive range of a value (the type's own where no bound is set); None if not a number."""
        own = TYPE_RANGES[self.type]
        return None if own is None else self._bounds(own)

    @property
    def hex_id(self) -> str:
        return _hex4(self.id)

    def problem(self, value: object) -> str | None:
        """The rule `value` breaks, or None when it fits; rules never quote the value."""
        if value is None:
            return None if self.nullable else "must not be null"
        if self.type == "bool":
            return None if isinstance(value, bool) else "must be true or false"
        if self.type == "string":
            return None if isinstance(value, str) else "must be a string"
        # bool is a subclass of int, and a float that happens to be whole is still not an integer on the wire.
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        low, high = self._integer_bounds()
        return None if low <= value <= high else f"must be {low}..{high}"

    def clamped(self, value: int | float) -> int:
        """`value` rounded to the nearest whole number (halves away from zero) and put into the bounds."""
        low, high = self._integer_bounds()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{self._KIND} {self.name}: only a number can be clamped")
        if isinstance(value, float):
            if math.isnan(value):
                raise ValueError(f"{self._KIND} {self.name}: NaN has no nearest whole number")
            if math.isinf(value):
                return high if value > 0 else low
            value = round_half_away(value)
        return min(max(value, low), high)

    def _integer_bounds(self) -> tuple[int, int]:
        bounds = self.bounds
        if bounds is None:
            raise TypeError(f"{self._KIND} {self.name}: a {self.type} has no numeric range")
        return bounds


@dataclass(frozen=True, slots=True)
class AttributeSpec(_ValueSpec):
    unit: str = ""
    mandatory: bool = False

    _KIND: ClassVar[str] = "attribute"


@dataclass(frozen=True, slots=True)
class FieldSpec(_ValueSpec):
    """A field of an event. `values` are an enum's (value, name) pairs, in order: a value must be one of
    them (the type's range alone would take 2 for AlarmCode, which the specification leaves unused)."""

    mandatory: bool = False
    values: tuple[tuple[int, str], ...] = ()

    _KIND: ClassVar[str] = "field"
    # A field id is a TLV context tag: one byte.
    _MAX_ID: ClassVar[int] = 0xFF

    def __post_init__(self) -> None:
        _ValueSpec.__post_init__(self)
        if self.values and not self.type.startswith("enum"):
            raise ValueError(f"field {self.name}: only an enum lists values")
        _require_unique(f"field {self.name} value", (number for number, _ in self.values))
        bounds = self.bounds
        if bounds is not None and not all(bounds[0] <= number <= bounds[1] for number, _ in self.values):
            raise ValueError(f"field {self.name}: a value does not fit a {self.type}")

    @property
    def hex_id(self) -> str:
        return field_hex(self.id)

    def problem(self, value: object) -> str | None:
        broken = _ValueSpec.problem(self, value)
        if broken is not None or value is None or not self.values:
            return broken
        if any(value == number for number, _ in self.values):
            return None
        return f"must be one of {', '.join(str(number) for number, _ in self.values)}"


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    name: str
    id: int
    revision: int
    attributes: dict[str, AttributeSpec] = field(default_factory=dict)
    commands: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    # Each event's fields by name, for the events that have fields of a plain type.
    event_fields: dict[str, dict[str, FieldSpec]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, spec in self.attributes.items():
            if name != spec.name:
                raise ValueError(f"cluster {self.name}: attribute {spec.name} is filed as {name}")
        _require_unique(f"cluster {self.name} attribute", (spec.id for spec in self.attributes.values()))
        _require_unique(f"cluster {self.name} command", self.commands.values())
        _require_unique(f"cluster {self.name} event", self.events.values())
        for kind, ids in (("command", self.commands), ("event", self.events)):
            for name, number in ids.items():
                if not 0 <= number <= 0xFFFF:
                    raise ValueError(f"cluster {self.name}: {kind} {name} id must be 0x0000..0xFFFF")
        for name, fields in self.event_fields.items():
            if name not in self.events:
                raise ValueError(f"cluster {self.name}: fields of {name}, which is not one of its events")
            _require_unique(f"cluster {self.name} event {name} field", (spec.id for spec in fields.values()))

    @property
    def hex_id(self) -> str:
        return _hex4(self.id)


@dataclass(frozen=True, slots=True)
class DeviceTypeSpec:
    name: str
    id: int
    revision: int
    required_clusters: tuple[str, ...]

    @property
    def hex_id(self) -> str:
        return _hex4(self.id)


def _hex4(number: int) -> str:
    return f"0x{number:04X}"


def _require_unique(what: str, ids: Iterable[int]) -> None:
    seen: set[int] = set()
    for number in ids:
        if number in seen:
            raise ValueError(f"{what} id {_hex4(number)} is used twice")
        seen.add(number)


# ----------------------------------------------------------------------------------------------------
# The catalogue's rows, read once from catalogue.json into the frozen specs above

_CATALOGUE_FILE = os.path.join(os.path.dirname(__file__), "catalogue.json")
# Ids are written as the Matter specification writes them: "0x0006", "0x00".
_HEX_ID = re.compile(r"0x[0-9A-F]{2,4}")
_CLUSTER_FIELDS = frozenset({"name", "id", "revision", "note", "attributes", "commands", "events"})
_ATTRIBUTE_FIELDS = frozenset({"name", "id", "type", "min", "max", "flags", "unit"})
_EVENT_FIELDS = frozenset({"id", "fields", "note"})
_FIELD_FIELDS = frozenset({"name", "id", "type", "min", "max", "flags", "values"})
_DEVICE_TYPE_FIELDS = frozenset({"name", "id", "revision", "requiredClusters", "note"})


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of a repeated key: a command listed twice would lose a row unseen.
    table = dict(pairs)
    if len(table) != len(pairs):
        keys = [key for key, _ in pairs]
        raise ValueError(
            f"catalogue: {', '.join(sorted({k for k in keys if keys.count(k) > 1}))} listed twice"
        )
    return table


def _known_fields(row: dict[str, Any], fields: frozenset[str], what: str) -> None:
    # A misspelt field ("flag", "maximum") would otherwise be dropped without a word.
    unknown = sorted(set(row) - fields)
    if unknown:
        raise ValueError(f"{what}: unknown field {', '.join(unknown)}")


def _id(text: object, what: str) -> int:
    if not isinstance(text, str) or not _HEX_ID.fullmatch(text):
        raise ValueError(f'{what}: an id is written in hex, as "0x0006"')
    return int(text, 16)


def _flags(row: dict[str, Any], what: str) -> str:
    """`flags`: M (mandatory) and N (nullable), as the Matter tables write them."""
    flags = row.get("flags", "")
    if not isinstance(flags, str) or set(flags) - {"M", "N"}:
        raise ValueError(f"{what}: flags take only M and N")
    return flags


def _attribute_row(row: dict[str, Any], cluster_name: str) -> AttributeSpec:
    what = f"cluster {cluster_name} attribute {row.get('name')}"
    _known_fields(row, _ATTRIBUTE_FIELDS, what)
    flags = _flags(row, what)
    return AttributeSpec(
        row["name"],
        _id(row["id"], what),
        row["type"],
        row.get("min"),
        row.get("max"),
        nullable="N" in flags,
        unit=row.get("unit", ""),
        mandatory="M" in flags,
    )


def _cluster_row(row: dict[str, Any]) -> ClusterSpec:
    what = f"cluster {row.get('name')}"
    _known_fields(row, _CLUSTER_FIELDS, what)
    attributes = [_attribute_row(attribute, row["name"]) for attribute in row.get("attributes", [])]
    table = {spec.name: spec for spec in attributes}
    if len(table) != len(attributes):
        raise ValueError(f"{what}: an attribute is listed twice")
    commands = {
        name: _id(number, f"{what} command {name}") for name, number in row.get("commands", {}).items()
    }
    events: dict[str, int] = {}
    event_fields: dict[str, dict[str, FieldSpec]] = {}
    for name, event_row in row.get("events", {}).items():
        events[name], fields = _event_row(event_row, f"{what} event {name}")
        if fields:
            event_fields[name] = fields
    return ClusterSpec(
        row["name"], _id(row["id"], what), row["revision"], table, commands, events, event_fields
    )


def _event_row(row: dict[str, Any], what: str) -> tuple[int, dict[str, FieldSpec]]:
    """An event's id and its fields; `note` says which fields are left out, for the reader."""
    if not isinstance(row, dict):
        raise ValueError(f'{what}: an event is an object, {{"id": "0x00", "fields": [...]}}')
    _known_fields(row, _EVENT_FIELDS, what)
    fields = [_field_row(field_row, what) for field_row in row.get("fields", [])]
    table = {spec.name: spec for spec in fields}
    if len(table) != len(fields):
        raise ValueError(f"{what}: a field is listed twice")
    return _id(row["id"], what), table


def _field_row(row: dict[str, Any], event_what: str) -> FieldSpec:
    what = f"{event_what} field {row.get('name')}"
    _known_fields(row, _FIELD_FIELDS, what)
    flags = _flags(row, what)
    names = row.get("values", {})
    return FieldSpec(
        row["name"],
        _id(row["id"], what),
        row["type"],
        row.get("min"),
        row.get("max"),
        nullable="N" in flags,
        mandatory="M" in flags,
        values=tuple(sorted((number, name) for name, number in names.items())),
    )


def _device_type_row(row: dict[str, Any]) -> DeviceTypeSpec:
    what = f"device type {row.get('name')}"
    _known_fields(row, _DEVICE_TYPE_FIELDS, what)
    return DeviceTypeSpec(row["name"], _id(row["id"], what), row["revision"], tuple(row["requiredClusters"]))


def _read_catalogue() -> dict[str, Any]:
    with open(_CATALOGUE_FILE, encoding="utf-8") as file:
        return dict(json.load(file, object_pairs_hook=_object))


@dataclass(frozen=True, slots=True)
class _Catalogue:
    clusters: dict[str, ClusterSpec]
    device_types: dict[str, DeviceTypeSpec]


@functools.cache
def _catalogue() -> _Catalogue:
    """The catalogue's rows, read and checked on first use: a function that never maps a Matter value (the
    receiver of a connector without a profile) never reads them."""
    rows = _read_catalogue()
    cluster_rows = tuple(_cluster_row(row) for row in rows["clusters"])
    device_type_rows = tuple(_device_type_row(row) for row in rows["deviceTypes"])
    clusters = {spec.name: spec for spec in cluster_rows}
    device_types = {spec.name: spec for spec in device_type_rows}
    if len(clusters) != len(cluster_rows) or len(device_types) != len(device_type_rows):
        raise ValueError("a cluster or device type is listed twice")
    _require_unique("cluster", (spec.id for spec in clusters.values()))
    _require_unique("device type", (spec.id for spec in device_types.values()))
    for device in device_types.values():
        for name in device.required_clusters:
            if name not in clusters:
                raise ValueError(f"device type {device.name} requires {name}, which is not catalogued")
    return _Catalogue(clusters, device_types)


if TYPE_CHECKING:
    # Read on first use (module __getattr__ below): every cluster and device type, by name.
    CLUSTERS: dict[str, ClusterSpec]
    DEVICE_TYPES: dict[str, DeviceTypeSpec]


def __getattr__(name: str) -> Any:
    if name == "CLUSTERS":
        return _catalogue().clusters
    if name == "DEVICE_TYPES":
        return _catalogue().device_types
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------------------------------
# Lookups


def _close(name: str, names: Iterable[str]) -> list[str]:
    """The known names nearest `name`, ignoring case, best first; only the one that differs just in case."""
    by_folded = {known.casefold(): known for known in names}
    if name.casefold() in by_folded:
        return [by_folded[name.casefold()]]
    return [by_folded[hit] for hit in get_close_matches(name.casefold(), list(by_folded), n=3, cutoff=0.6)]


def _unknown(what: str, shown: str, name: str, names: Iterable[str], owner: str) -> CatalogueError:
    """`unknown attribute "LevelControl.Brightnes" (did you mean ...?); LevelControl has CurrentLevel, ...`"""
    known = list(names)
    close = _close(name, known)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    listing = f"{owner} has {', '.join(known)}" if known else f"{owner} has none"
    return CatalogueError(f"unknown {what} {shown}{hint}; {listing}")


def cluster(name: str) -> ClusterSpec:
    """The cluster called `name` ("LevelControl")."""
    try:
        return _catalogue().clusters[name]
    except KeyError:
        raise _unknown("cluster", f'"{name}"', name, _catalogue().clusters, "the catalogue") from None


def _split(path: str, what: str) -> tuple[ClusterSpec, str]:
    cluster_name, dot, member = path.partition(".")
    if not dot or not cluster_name or not member or "." in member:
        raise CatalogueError(f'{what} path "{path}" is not of the form "Cluster.{what.capitalize()}"')
    try:
        return _catalogue().clusters[cluster_name], member
    except KeyError:
        raise _unknown(
            "cluster", f'"{cluster_name}" in "{path}"', cluster_name, _catalogue().clusters, "the catalogue"
        ) from None


def _member[V](
    path: str, what: str, members_of: Callable[[ClusterSpec], Mapping[str, V]]
) -> tuple[ClusterSpec, V]:
    """The cluster and the member of the kind `what` at `path`, or a CatalogueError naming close names."""
    spec, name = _split(path, what)
    members = members_of(spec)
    try:
        return spec, members[name]
    except KeyError:
        raise _unknown(what, f'"{path}"', name, members, spec.name) from None


def attribute(path: str) -> tuple[ClusterSpec, AttributeSpec]:
    """The cluster and attribute at `path` ("LevelControl.CurrentLevel")."""
    return _member(path, "attribute", lambda spec: spec.attributes)


def command(path: str) -> tuple[ClusterSpec, int]:
    """The cluster and command id at `path` ("OnOff.Off")."""
    return _member(path, "command", lambda spec: spec.commands)


def event(path: str) -> tuple[ClusterSpec, int]:
    """The cluster and event id at `path` ("Switch.InitialPress")."""
    return _member(path, "event", lambda spec: spec.events)


def event_fields(path: str) -> Mapping[str, FieldSpec]:
    """The fields of the event at `path` ("DoorLock.LockOperation") that the catalogue holds, by name."""
    spec, _ = event(path)
    return spec.event_fields.get(path.partition(".")[2], {})


def event_field(path: str, name: str) -> FieldSpec:
    """The field `name` ("OperationSource") of the event at `path` ("DoorLock.LockOperation")."""
    fields = event_fields(path)
    try:
        return fields[name]
    except KeyError:
        raise _unknown("field", f'"{name}" of "{path}"', name, fields, path) from None


def device_type(name: str) -> DeviceTypeSpec:
    """The device type called `name` ("DimmableLight")."""
    try:
        return _catalogue().device_types[name]
    except KeyError:
        raise _unknown("device type", f'"{name}"', name, _catalogue().device_types, "the catalogue") from None


# A Matter id as AWS's MatterId pattern writes one, whole: ASCII decimal digits, or 0x and ASCII hex digits.
# (int() would also take Arabic-Indic digits, padding and underscores, which no Matter id is.)
_MATTER_ID_TEXT = re.compile(r"0[xX][0-9a-fA-F]{1,22}|[0-9]{1,24}")


def parse_id(text: str) -> int:
    """A Matter id written in decimal or 0x hex, as AWS sends one. Raises ValueError for any other text."""
    if not _MATTER_ID_TEXT.fullmatch(text):
        raise ValueError("a Matter id is ASCII decimal digits, or 0x and hex digits")
    return int(text, 16) if text[:2] in ("0x", "0X") else int(text, 10)


def command_name(cluster_id: int, command_id: int) -> str | None:
    """The catalogue's name of a command given by ids ("OnOff.Off" for 0x0006, 0x00); None when the
    catalogue does not hold it."""
    for spec in _catalogue().clusters.values():
        if spec.id == cluster_id:
            name = next((n for n, number in spec.commands.items() if number == command_id), None)
            return f"{spec.name}.{name}" if name is not None else None
    return None


def command_hex(command_id: int) -> str:
    """A command id as AWS writes it: "0x00", two hex digits below 0x100, four from there."""
    return _short_hex(command_id)


def event_hex(event_id: int) -> str:
    """An event id as AWS writes it, by the same rule as `command_hex`."""
    return _short_hex(event_id)


def field_hex(field_id: int) -> str:
    """An event field's id as a key of the event's object in `MatterEndpoint.clusters[].events`: four hex
    digits, as attribute ids are written (AWS documents the object as field id to value, and shows no
    sample of a field)."""
    if isinstance(field_id, bool) or not isinstance(field_id, int) or not 0 <= field_id <= 0xFF:
        raise ValueError("a field id must be a whole number in 0x00..0xFF")
    return _hex4(field_id)


def _short_hex(number: int) -> str:
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 0xFFFF:
        raise ValueError("an id must be a whole number in 0x0000..0xFFFF")
    return f"0x{number:02X}" if number < 0x100 else _hex4(number)
