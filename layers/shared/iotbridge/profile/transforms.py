"""What a profile does to a native value before it becomes a Matter attribute's: a named conversion, an
equality, a map, a scale, a clamp, a colour conversion or a choice by the value's unit, alone or in a
chain."""

import math
from typing import Annotated, Any, Literal

from pydantic import Field, FiniteFloat, PlainValidator, WithJsonSchema, model_validator

from iotbridge.wire import CamelModel

from .expressions import ExpressionText

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


def json_key(value: Any) -> tuple[str, Any] | None:
    """`value` as a key that compares by JSON's equality: true is not 1, 0 is not "0", 1.0 is 1. None for
    what no map key can equal (an object, a list, a number that is not finite)."""
    if value is None:
        return ("null", None)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("number", value)
    if isinstance(value, float):
        return ("number", value) if math.isfinite(value) else None
    if isinstance(value, str):
        return ("text", value)
    return None


MAX_MAP_ENTRIES = 256
MapTable = dict[str, Any] | tuple[tuple[Any, Any], ...]


def _table(value: Any) -> MapTable:
    """A map's table: an object, or a list of [key, value] pairs (kept as a tuple of pairs). One validator
    for both forms, so a problem's path is the map's own, whichever form it has."""
    if not isinstance(value, dict | list):
        raise ValueError("a map is an object, or a list of [key, value] pairs")
    if not 1 <= len(value) <= MAX_MAP_ENTRIES:
        raise ValueError(f"a map has 1..{MAX_MAP_ENTRIES} entries")
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("an object's keys are text")
        return dict(value)
    pairs = []
    for index, pair in enumerate(value):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"entry {index} is not a [key, value] pair")
        if json_key(pair[0]) is None:
            raise ValueError(f"entry {index}: a key is text, a number, true, false or null")
        pairs.append((pair[0], pair[1]))
    keys = [json_key(key) for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a key is listed twice (1 and 1.0 are one key)")
    return tuple(pairs)


class MapTransform(CamelModel):
    """A native value looked up in a table. As an object (`{"on": true}`), the value is looked up as its
    JSON text (`3` and `"3"` are one key); as a list of `[key, value]` pairs, keys are any JSON scalar and
    match by JSON's equality (`true` is not `1`, `0` is not `"0"`).

    A value the map does not know is refused, or becomes `default`, or (`"unknown": "skip"`) leaves the
    attribute, field or member out, reported as skipped."""

    map: Annotated[
        MapTable,
        PlainValidator(_table),
        WithJsonSchema({"type": ["object", "array"], "minProperties": 1, "minItems": 1}),
    ]
    default: Any = None
    unknown: Literal["reject", "skip"] = "reject"

    @model_validator(mode="after")
    def _one_way_for_the_unknown(self) -> "MapTransform":
        if self.has_default and self.unknown == "skip":
            raise ValueError('choose default or "unknown": "skip", not both')
        return self

    @property
    def has_default(self) -> bool:
        """Whether the profile gives a default (which may be null)."""
        return "default" in self.model_fields_set

    @property
    def typed_keys(self) -> bool:
        """Whether keys match by JSON's equality (the list form) rather than as text (the object form)."""
        return isinstance(self.map, tuple)


class ScaleTransform(CamelModel):
    scale: FiniteFloat = 1.0
    offset: FiniteFloat = 0.0


class Bounds(CamelModel):
    min: FiniteFloat | None = None
    max: FiniteFloat | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Bounds":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be above max")
        return self


class ClampTransform(CamelModel):
    """A number kept within bounds of the profile's choosing (to the attribute's own range: `clamp: true`)."""

    clamp: Bounds


_TO_MATTER = ("hue", "saturation", "x", "y")
_TO_CLOUD = ("rgb", "hex")


class Colour(CamelModel):
    # `from` is how the cloud writes a colour: "255:245:235" (rgb, with `separator`), "#ffeedd" (hex) or
    # [255, 245, 235] (rgbList); `to` the ColorControl value wanted. The other way, for a command to the
    # cloud: `from` hueSaturation reads Matter's [hue, saturation] (each 0..254), `to` rgb or hex writes it.
    from_: Annotated[Literal["rgb", "hex", "rgbList", "hueSaturation"], Field(alias="from")]
    to: Literal["hue", "saturation", "x", "y", "rgb", "hex"]
    separator: Annotated[str, Field(min_length=1, max_length=4)] = ":"

    @model_validator(mode="after")
    def _a_way_the_colour_goes(self) -> "Colour":
        to_cloud = self.from_ == "hueSaturation"
        if to_cloud and self.to not in _TO_CLOUD:
            raise ValueError('"from": "hueSaturation" goes "to": "rgb" or "hex"')
        if not to_cloud and self.to not in _TO_MATTER:
            raise ValueError(f'"from": "{self.from_}" goes "to": "hue", "saturation", "x" or "y"')
        if "separator" in self.model_fields_set and "rgb" not in (self.from_, self.to):
            raise ValueError('a separator belongs to rgb text ("from" or "to": "rgb")')
        return self


class ColourTransform(CamelModel):
    """A red-green-blue colour to one of Matter's ColorControl values: hue or saturation (0..254), or the
    CIE x or y of its chromaticity (0..65279); or Matter's hue and saturation to a red-green-blue colour at
    full brightness."""

    colour: Colour


class UnitFromTransform(CamelModel):
    """The transform for the value's unit, read from the event: `{"unitFrom": "event.scale", "units":
    {"CELSIUS": "celsiusToMatter", "FAHRENHEIT": "fahrenheitToMatter"}}`. A unit with no entry is refused."""

    unit_from: ExpressionText
    units: Annotated[dict[str, "Transforms"], Field(min_length=1, max_length=32)]


Transform = (
    Literal[NAMED_TRANSFORMS]  # type: ignore[valid-type]
    | EqualsTransform
    | MapTransform
    | ScaleTransform
    | ClampTransform
    | ColourTransform
    | UnitFromTransform
)
Transforms = Transform | Annotated[list[Transform], Field(min_length=1, max_length=8)]
# A unit's transform is any transform: its model is complete once Transforms is.
UnitFromTransform.model_rebuild()
UnitFromTransform.model_rebuild()
