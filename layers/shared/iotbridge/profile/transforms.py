"""What a profile does to a native value before it becomes a Matter attribute's: a named conversion, an
equality, a map, a scale or a clamp, alone or in a chain."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, FiniteFloat, StrictBool, model_validator

from iotbridge.wire import CamelModel

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


class MapTransform(CamelModel):
    map: Annotated[dict[str, Any], Field(min_length=1, max_length=256)]
    default: Any = None
    has_default: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _note_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "default" in data:
            return {**data, "hasDefault": True}
        return data


class ScaleTransform(CamelModel):
    scale: FiniteFloat = 1.0
    offset: FiniteFloat = 0.0


class Bounds(CamelModel):
    min: FiniteFloat | None = None
    max: FiniteFloat | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be above max")
        return self


class ClampTransform(CamelModel):
    """A number kept within bounds of the profile's choosing (to the attribute's own range: `clamp: true`)."""

    clamp: Bounds


Transform = (
    Literal[NAMED_TRANSFORMS]  # type: ignore[valid-type]
    | EqualsTransform
    | MapTransform
    | ScaleTransform
    | ClampTransform
)
Transforms = Transform | Annotated[list[Transform], Field(min_length=1, max_length=8)]
