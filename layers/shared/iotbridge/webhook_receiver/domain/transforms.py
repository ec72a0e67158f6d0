"""The fixed set of transforms a profile may apply to a native value on its way to a Matter attribute.

Each turns a cloud's unit into Matter's (the scales of the Matter catalogue): percent to LevelControl's
0-254, kelvin to mireds, degrees to hundredths of a degree Celsius, lux to Matter's logarithmic scale, a
red-green-blue colour to ColorControl's hue, saturation or CIE x/y (and hue and saturation back to a
red-green-blue colour, for a command to the cloud). No profile ever runs code of its own: a
transform is one of these names, an `equals`, a `map`, a `scale`, a `clamp`, a `colour`, or a choice among
them by a unit the event names (`unitFrom`).
"""

from __future__ import annotations

import colorsys
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from iotbridge.errors import PermanentError
from iotbridge.matter import round_half_away
from iotbridge.profile.expressions import Expression
from iotbridge.profile.transforms import (
    ClampTransform,
    Colour,
    ColourTransform,
    EqualsTransform,
    MapTransform,
    ScaleTransform,
    UnitFromTransform,
    json_key,
)

# How a transform reads another value of the event (a unitFrom's unit): the mapping's own search, which
# reports an expression that cannot be evaluated and counts its work.
Read = Callable[[Expression], Any]


class TransformError(PermanentError, ValueError):
    """A native value a transform cannot take. Its text names the rule, never the value; `expression` is
    where the value at fault was read, when it is not the value transformed (a unitFrom's unit)."""

    def __init__(self, rule: str, expression: Expression | None = None) -> None:
        super().__init__(rule)
        self.expression = expression


class TransformSkip(TransformError):
    """A value the profile says to leave out rather than refuse (a map's `"unknown": "skip"`): the caller
    leaves the attribute, field or member out and reports it as skipped, with this reason. A TransformError
    too, so that a caller that does not tell the two apart refuses the value rather than drop it unseen."""


# Transforms compute on the reals extended by the infinities: a JSON number beyond any float (1 followed by
# 400 zeros, or 1e400) is one, and so is a finite result too large for a float (1e308 % in half-percents).
# Only a clamp can take an infinity into range; any other use of one is "out of range" (see apply).


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TransformError("must be a number")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float: JSON allows 1 followed by 400 zeros
        return math.inf if value > 0 else -math.inf
    if math.isnan(number):  # an infinity less itself, from an earlier step
        raise TransformError("is out of range")
    return number


def _positive(value: Any, unit: str) -> float:
    number = _number(value)
    if number <= 0:
        raise TransformError(f"must be a positive number of {unit}")
    return number


def _rounded(number: float) -> int | float:
    # Halves away from zero, as the catalogue's clamp rounds; an infinity stays one, for a clamp to bound.
    if math.isnan(number):  # inf - inf, inf * 0: no value at all
        raise TransformError("is out of range")
    return round_half_away(number) if math.isfinite(number) else number


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TransformError("must be true or false")
    return value


def _lux(value: Any) -> int | float:
    lux = _number(value)
    if lux < 0:
        raise TransformError("must be at least 0 lux")
    # Matter: 0 means too dark to measure; otherwise 10,000 x log10(lux) + 1.
    return 0 if lux < 1 else _rounded(10_000 * math.log10(lux) + 1)


NAMED: dict[str, Callable[[Any], Any]] = {
    # LevelControl.CurrentLevel with the Lighting feature is 1..254: 0 % is the lowest level, not off.
    "percentToLevel": lambda v: max(1, _rounded(_number(v) * 254 / 100)),
    "levelToPercent": lambda v: _rounded(_number(v) * 100 / 254),
    "kelvinToMireds": lambda v: _rounded(1_000_000 / _positive(v, "kelvin")),
    "miredsToKelvin": lambda v: _rounded(1_000_000 / _positive(v, "mireds")),
    "celsiusToMatter": lambda v: _rounded(_number(v) * 100),
    "fahrenheitToMatter": lambda v: _rounded((_number(v) - 32) * 500 / 9),
    "percentToHumidity": lambda v: _rounded(_number(v) * 100),
    "luxToMatter": _lux,
    # PowerSource.BatPercentRemaining counts half-percents (200 = 100 %).
    "percentToBattery": lambda v: _rounded(_number(v) * 2),
    "percentToPercent100ths": lambda v: _rounded(_number(v) * 100),
    "invertPercent": lambda v: 100 - _number(v),
    # WindowCovering positions measure closedness in hundredths of a percent (0 = open); many clouds
    # report openness in percent.
    "openPercentToClosed100ths": lambda v: _rounded((100 - _number(v)) * 100),
    "degreesToHue": lambda v: _rounded(_number(v) * 254 / 360),
    "percentToSaturation": lambda v: _rounded(_number(v) * 254 / 100),
    "boolean": _boolean,
    "not": lambda v: not _boolean(v),
    "round": lambda v: _rounded(_number(v)),
}


# ----------------------------------------------------------------------------------------------------
# Colour: sRGB to Matter's ColorControl scales


def _channel(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 255:
        raise TransformError("must be red, green and blue numbers of 0..255")
    return float(value)


_RGB_TEXT_PART = re.compile(r"\s*([0-9]{1,3})\s*")
_HEX_COLOUR = re.compile(r"#?([0-9A-Fa-f]{6})")


def _rgb(spec: Colour, value: Any) -> tuple[float, float, float]:
    """The colour's red, green and blue, each 0..255, however the cloud writes them."""
    if spec.from_ == "rgbList":
        if not isinstance(value, list) or len(value) != 3:
            raise TransformError("must be a list of red, green and blue")
        red, green, blue = (_channel(part) for part in value)
        return red, green, blue
    if not isinstance(value, str):
        raise TransformError("must be text")
    if spec.from_ == "hex":
        found = _HEX_COLOUR.fullmatch(value)
        if found is None:
            raise TransformError("must be a colour as six hex digits, #rrggbb")
        digits = found.group(1)
        return float(int(digits[0:2], 16)), float(int(digits[2:4], 16)), float(int(digits[4:6], 16))
    parts = value.split(spec.separator)
    matches = [_RGB_TEXT_PART.fullmatch(part) for part in parts]
    if len(parts) != 3 or any(found is None for found in matches):
        raise TransformError(f"must be red, green and blue separated by {spec.separator!r}")
    red, green, blue = (_channel(int(found.group(1))) for found in matches if found is not None)
    return red, green, blue


def _linear(channel: float) -> float:
    """An sRGB channel (0..1) without its gamma: IEC 61966-2-1's expansion."""
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


# IEC 61966-2-1 (sRGB), linear RGB to CIE 1931 XYZ under its D65 white point; each row sums to the white's
# X, Y, Z, so any grey has the white's chromaticity.
_SRGB_TO_XYZ = (
    (0.4124, 0.3576, 0.1805),
    (0.2126, 0.7152, 0.0722),
    (0.0193, 0.1192, 0.9505),
)


def _chromaticity(red: float, green: float, blue: float) -> tuple[float, float]:
    """The CIE 1931 (x, y) of an sRGB colour given as 0..255 channels.

    Gamma expansion and the linear RGB to XYZ matrix are IEC 61966-2-1's (sRGB, D65 white point); x and y
    are X / (X + Y + Z) and Y / (X + Y + Z). Black has no chromaticity of its own (X + Y + Z is 0): as the
    darkest grey it takes every grey's, the D65 white point's (0.3127, 0.3290). Brightness is not part of
    chromaticity; it is LevelControl's business."""
    linear = [_linear(channel / 255) for channel in (red, green, blue)] if red or green or blue else [1.0] * 3
    x_, y_, z_ = (
        sum(weight * part for weight, part in zip(row, linear, strict=True)) for row in _SRGB_TO_XYZ
    )
    total = x_ + y_ + z_
    return x_ / total, y_ / total


def _colour(spec: Colour, value: Any) -> int | str:
    """A colour as Matter's ColorControl writes it (Matter 1.4 Application Cluster Specification, 3.2):
    CurrentHue = hue * 254 / 360 degrees and CurrentSaturation = saturation * 254, both 0..254, from the HSV
    reading of the colour (its value is LevelControl's); CurrentX and CurrentY = CIE x and y * 65536,
    0..65279. Black is hue 0 and saturation 0, and the white point's x and y (see _chromaticity). From
    Matter's hue and saturation, the colour as the cloud writes it (see _from_hue_saturation)."""
    if spec.from_ == "hueSaturation":
        return _from_hue_saturation(spec, value)
    red, green, blue = _rgb(spec, value)
    if spec.to in ("hue", "saturation"):
        hue, saturation, _ = colorsys.rgb_to_hsv(red / 255, green / 255, blue / 255)
        return min(254, round_half_away((hue if spec.to == "hue" else saturation) * 254))
    x, y = _chromaticity(red, green, blue)
    return min(65279, round_half_away((x if spec.to == "x" else y) * 65536))


def _matter_part(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 254:
        raise TransformError("must be a list of hue and saturation, each a number of 0..254")
    return float(value)


def _from_hue_saturation(spec: Colour, value: Any) -> str:
    """Matter's [hue, saturation] (each 0..254, as MoveToHueAndSaturation sends them) as red, green and blue
    at full brightness (HSV's value 1: brightness is LevelControl's), written "r:g:b" with the separator, or
    "#rrggbb". Hue 254 is a whole turn, the same red as 0."""
    if not isinstance(value, list) or len(value) != 2:
        raise TransformError("must be a list of hue and saturation, each a number of 0..254")
    hue, saturation = (_matter_part(part) / 254 for part in value)
    channels = [round_half_away(part * 255) for part in colorsys.hsv_to_rgb(hue % 1.0, saturation, 1.0)]
    if spec.to == "hex":
        return "#" + "".join(f"{channel:02x}" for channel in channels)
    return spec.separator.join(str(channel) for channel in channels)


# ----------------------------------------------------------------------------------------------------
# Maps, and the rest


def _map_key(value: Any) -> str:
    # JSON object keys are text: a native true, 3 or "on" is looked up as "true", "3" or "on"; 3.0 is the
    # same JSON number as 3.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _equal(value: Any, other: Any) -> bool:
    # JSON's equality, not Python's: true is not 1, false is not 0.
    if isinstance(value, bool) or isinstance(other, bool):
        return type(value) is type(other) and value == other
    return bool(value == other)


_NO_ENTRY = object()


def _looked_up(step: MapTransform, value: Any) -> Any:
    if isinstance(step.map, dict):
        return step.map.get(_map_key(value), _NO_ENTRY)
    key = json_key(value)
    return next((target for native, target in step.map if json_key(native) == key), _NO_ENTRY)


def _mapped(step: MapTransform, value: Any) -> Any:
    found = _looked_up(step, value)
    if found is not _NO_ENTRY:
        return found
    if step.has_default:
        return step.default
    if step.unknown == "skip":
        raise TransformSkip("value has no entry in the map")
    raise TransformError("has no entry in the map")


def _unit_transform(step: UnitFromTransform, read: Read | None) -> Any:
    """The transform for the unit the event names."""
    unit = read(step.unit_from) if read is not None else None
    transform = step.units.get(unit) if isinstance(unit, str) else None
    if transform is None:
        raise TransformError("has no transform for its unit", step.unit_from)
    return transform


def _one(step: Any, value: Any) -> Any:
    if isinstance(step, str):
        return NAMED[step](value)
    if isinstance(step, EqualsTransform):
        return _equal(value, step.equals)
    if isinstance(step, MapTransform):
        return _mapped(step, value)
    if isinstance(step, ColourTransform):
        return _colour(step.colour, value)
    if isinstance(step, ScaleTransform):
        return _number(value) * step.scale + step.offset
    if isinstance(step, ClampTransform):
        number = _number(value)
        if step.clamp.max is not None:
            number = min(step.clamp.max, number)
        if step.clamp.min is not None:
            number = max(step.clamp.min, number)
        return number
    raise TransformError("is not a transform")  # the profile model admits no other kind


def apply(spec: Any, value: Any, *, clamped: bool = False, read: Read | None = None) -> Any:
    """`value` through a profile's transform (one, or a list applied in order); unchanged without one.

    A number beyond any float is "out of range", unless a clamp follows: the caller's (`clamped`), or one of
    the steps. Then it is an infinity, which the clamp takes to the nearer bound. `read` evaluates an
    expression on the value's event, for a transform chosen by the event's unit (`unitFrom`); without it,
    no unit is known. Raises TransformError, or TransformSkip where the profile says to leave the value
    out."""
    if spec is None:
        return value
    steps: Sequence[Any] = spec if isinstance(spec, list) else [spec]
    extended = clamped or any(isinstance(step, ClampTransform) for step in steps)
    for step in steps:
        if isinstance(step, UnitFromTransform):
            value = apply(_unit_transform(step, read), value, clamped=extended, read=read)
            continue
        if not extended:
            _within_floats(value)
        value = _one(step, value)
    if isinstance(value, float) and not math.isfinite(value) and not (clamped and not math.isnan(value)):
        raise TransformError("is out of range")
    return value


def _within_floats(value: Any) -> None:
    """Refuses a number no float holds, where no clamp will bound it."""
    if isinstance(value, float) and not math.isfinite(value):
        raise TransformError("must be a number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _LARGEST_FLOAT:
        raise TransformError("is out of range")


_LARGEST_FLOAT = int(sys.float_info.max)
