"""The fixed set of transforms a profile may apply to a native value on its way to a Matter attribute.

Each turns a cloud's unit into Matter's (the scales of the Matter catalogue): percent to LevelControl's
0-254, kelvin to mireds, degrees to hundredths of a degree Celsius, lux to Matter's logarithmic scale. No
profile ever runs code of its own: a transform is one of these names, an `equals`, a `map` or a `scale`.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

from iotbridge.errors import PermanentError
from iotbridge.matter import round_half_away
from iotbridge.profile.transforms import ClampTransform, EqualsTransform, MapTransform, ScaleTransform


class TransformError(PermanentError, ValueError):
    """A native value a transform cannot take. Its text names the rule, never the value."""


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


def _one(step: Any, value: Any) -> Any:
    if isinstance(step, str):
        return NAMED[step](value)
    if isinstance(step, EqualsTransform):
        return _equal(value, step.equals)
    if isinstance(step, MapTransform):
        key = _map_key(value)
        if key in step.map:
            return step.map[key]
        if step.has_default:
            return step.default
        raise TransformError("has no entry in the map")
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


def apply(spec: Any, value: Any, *, clamped: bool = False) -> Any:
    """`value` through a profile's transform (one, or a list applied in order); unchanged without one.

    A number beyond any float is "out of range", unless a clamp follows: the caller's (`clamped`), or one of
    the steps. Then it is an infinity, which the clamp takes to the nearer bound."""
    if spec is None:
        return value
    steps: Sequence[Any] = spec if isinstance(spec, list) else [spec]
    extended = clamped or any(isinstance(step, ClampTransform) for step in steps)
    for step in steps:
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
