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
- Lookups raise `CatalogueError`, whose message names what is unknown and what is close to it.

Stdlib only: the layer imports this at cold start.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Final

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
class AttributeSpec:
    name: str
    id: int
    type: str
    minimum: int | None
    maximum: int | None
    nullable: bool = False
    unit: str = ""
    mandatory: bool = False

    def __post_init__(self) -> None:
        # A wrong row in the tables below fails at import, not when a device first sends that attribute.
        if self.type not in TYPES:
            raise ValueError(f"attribute {self.name}: unknown type {self.type!r}")
        if not 0 <= self.id <= 0xFFFF:
            raise ValueError(f"attribute {self.name}: id must be 0x0000..0xFFFF")
        own = TYPE_RANGES[self.type]
        if own is None:
            if self.minimum is not None or self.maximum is not None:
                raise ValueError(f"attribute {self.name}: a {self.type} has no bounds")
            return
        low, high = self._bounds(own)
        if not own[0] <= low <= high <= own[1]:
            raise ValueError(f"attribute {self.name}: bounds {low}..{high} do not fit a {self.type}")

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
        """The rule `value` breaks for this attribute, or None when it fits; rules never quote the value."""
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
            raise TypeError(f"attribute {self.name}: only a number can be clamped")
        if isinstance(value, float):
            if math.isnan(value):
                raise ValueError(f"attribute {self.name}: NaN has no nearest whole number")
            if math.isinf(value):
                return high if value > 0 else low
            value = round_half_away(value)
        return min(max(value, low), high)

    def _integer_bounds(self) -> tuple[int, int]:
        bounds = self.bounds
        if bounds is None:
            raise TypeError(f"attribute {self.name}: a {self.type} has no numeric range")
        return bounds


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    name: str
    id: int
    revision: int
    attributes: dict[str, AttributeSpec] = field(default_factory=dict)
    commands: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)

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


def _attr(
    name: str,
    id: int,
    type: str,
    minimum: int | None = None,
    maximum: int | None = None,
    *,
    flags: str = "",
    unit: str = "",
) -> AttributeSpec:
    """One table row; `flags` holds M (mandatory) and N (nullable), as the Matter tables write them."""
    if set(flags) - {"M", "N"}:
        raise ValueError(f"attribute {name}: flags take only M and N")
    return AttributeSpec(name, id, type, minimum, maximum, "N" in flags, unit, "M" in flags)


def _cluster(
    name: str,
    id: int,
    revision: int,
    attributes: Iterable[AttributeSpec] = (),
    *,
    commands: dict[str, int] | None = None,
    events: dict[str, int] | None = None,
) -> ClusterSpec:
    rows = list(attributes)
    table = {spec.name: spec for spec in rows}
    if len(table) != len(rows):
        raise ValueError(f"cluster {name}: an attribute is listed twice")
    return ClusterSpec(name, id, revision, table, dict(commands or {}), dict(events or {}))


# Units, written once so that the same scale reads the same everywhere.
_TENTHS_S = "1/10 s"
_CENTI_C = "0.01 °C"
_DECI_C = "0.1 °C"
_PERCENT = "%"
_CENTI_PERCENT = "0.01 %"
_MIREDS = "mireds"
# Electrical measurements are int64 milli-units bounded to ±2^62.
_E_MIN, _E_MAX = -(2**62), 2**62

_ON_OFF = _cluster(
    "OnOff",
    0x0006,
    6,
    [
        _attr("OnOff", 0x0000, "bool", flags="M"),
        _attr("GlobalSceneControl", 0x4000, "bool"),
        _attr("OnTime", 0x4001, "uint16", unit=_TENTHS_S),
        _attr("OffWaitTime", 0x4002, "uint16", unit=_TENTHS_S),
        _attr("StartUpOnOff", 0x4003, "enum8", 0, 2, flags="N"),
    ],
    commands={
        "Off": 0x00,
        "On": 0x01,
        "Toggle": 0x02,
        "OffWithEffect": 0x40,
        "OnWithRecallGlobalScene": 0x41,
        "OnWithTimedOff": 0x42,
    },
)

# Levels (current, on, start-up) lie between MinLevel and MaxLevel, and MaxLevel is at most 254.
_LEVEL_CONTROL = _cluster(
    "LevelControl",
    0x0008,
    6,
    [
        _attr("CurrentLevel", 0x0000, "uint8", 0, 254, flags="MN"),
        _attr("RemainingTime", 0x0001, "uint16", unit=_TENTHS_S),
        _attr("MinLevel", 0x0002, "uint8", 0, 254),
        _attr("MaxLevel", 0x0003, "uint8", 0, 254),
        _attr("CurrentFrequency", 0x0004, "uint16", unit="Hz"),
        _attr("MinFrequency", 0x0005, "uint16", unit="Hz"),
        _attr("MaxFrequency", 0x0006, "uint16", unit="Hz"),
        _attr("Options", 0x000F, "bitmap8", flags="M"),
        _attr("OnOffTransitionTime", 0x0010, "uint16", unit=_TENTHS_S),
        _attr("OnLevel", 0x0011, "uint8", 0, 254, flags="MN"),
        _attr("OnTransitionTime", 0x0012, "uint16", flags="N", unit=_TENTHS_S),
        _attr("OffTransitionTime", 0x0013, "uint16", flags="N", unit=_TENTHS_S),
        _attr("DefaultMoveRate", 0x0014, "uint8", flags="N", unit="units/s"),
        _attr("StartUpCurrentLevel", 0x4000, "uint8", 0, 254, flags="N"),
    ],
    commands={
        "MoveToLevel": 0x00,
        "Move": 0x01,
        "Step": 0x02,
        "Stop": 0x03,
        "MoveToLevelWithOnOff": 0x04,
        "MoveWithOnOff": 0x05,
        "StepWithOnOff": 0x06,
        "StopWithOnOff": 0x07,
        "MoveToClosestFrequency": 0x08,
    },
)

# Hue is v * 360 / 254 degrees, saturation v / 254, CIE x and y v / 65536, kelvin 1,000,000 / mireds.
_COLOR_CONTROL = _cluster(
    "ColorControl",
    0x0300,
    7,
    [
        _attr("CurrentHue", 0x0000, "uint8", 0, 254),
        _attr("CurrentSaturation", 0x0001, "uint8", 0, 254),
        _attr("RemainingTime", 0x0002, "uint16", unit=_TENTHS_S),
        _attr("CurrentX", 0x0003, "uint16", 0, 65279, unit="1/65536"),
        _attr("CurrentY", 0x0004, "uint16", 0, 65279, unit="1/65536"),
        _attr("ColorTemperatureMireds", 0x0007, "uint16", 1, 65279, unit=_MIREDS),
        _attr("ColorMode", 0x0008, "enum8", 0, 2, flags="M"),
        _attr("Options", 0x000F, "bitmap8", flags="M"),
        _attr("EnhancedCurrentHue", 0x4000, "uint16"),
        _attr("EnhancedColorMode", 0x4001, "enum8", 0, 3, flags="M"),
        _attr("ColorCapabilities", 0x400A, "bitmap16", flags="M"),
        _attr("ColorTempPhysicalMinMireds", 0x400B, "uint16", unit=_MIREDS),
        _attr("ColorTempPhysicalMaxMireds", 0x400C, "uint16", unit=_MIREDS),
        _attr("CoupleColorTempToLevelMinMireds", 0x400D, "uint16", unit=_MIREDS),
        _attr("StartUpColorTemperatureMireds", 0x4010, "uint16", flags="N", unit=_MIREDS),
    ],
    commands={
        "MoveToHue": 0x00,
        "MoveHue": 0x01,
        "StepHue": 0x02,
        "MoveToSaturation": 0x03,
        "MoveSaturation": 0x04,
        "StepSaturation": 0x05,
        "MoveToHueAndSaturation": 0x06,
        "MoveToColor": 0x07,
        "MoveColor": 0x08,
        "StepColor": 0x09,
        "MoveToColorTemperature": 0x0A,
        "EnhancedMoveToHue": 0x40,
        "EnhancedMoveHue": 0x41,
        "EnhancedStepHue": 0x42,
        "EnhancedMoveToHueAndSaturation": 0x43,
        "ColorLoopSet": 0x44,
        "StopMoveStep": 0x47,
        "MoveColorTemperature": 0x4B,
        "StepColorTemperature": 0x4C,
    },
)

# -27315 is absolute zero; MaxMeasuredValue is at least MinMeasuredValue + 1.
_TEMPERATURE_MEASUREMENT = _cluster(
    "TemperatureMeasurement",
    0x0402,
    4,
    [
        _attr("MeasuredValue", 0x0000, "int16", -27315, 32767, flags="MN", unit=_CENTI_C),
        _attr("MinMeasuredValue", 0x0001, "int16", -27315, 32766, flags="MN", unit=_CENTI_C),
        _attr("MaxMeasuredValue", 0x0002, "int16", -27314, 32767, flags="MN", unit=_CENTI_C),
        _attr("Tolerance", 0x0003, "uint16", 0, 2048, unit=_CENTI_C),
    ],
)

_RELATIVE_HUMIDITY_MEASUREMENT = _cluster(
    "RelativeHumidityMeasurement",
    0x0405,
    3,
    [
        _attr("MeasuredValue", 0x0000, "uint16", 0, 10000, flags="MN", unit=_CENTI_PERCENT),
        _attr("MinMeasuredValue", 0x0001, "uint16", 0, 9999, flags="MN", unit=_CENTI_PERCENT),
        _attr("MaxMeasuredValue", 0x0002, "uint16", 1, 10000, flags="MN", unit=_CENTI_PERCENT),
        _attr("Tolerance", 0x0003, "uint16", 0, 2048, unit=_CENTI_PERCENT),
    ],
)

# MeasuredValue 0 means too dark to measure; otherwise lux = 10^((v - 1) / 10000).
_LOG_LUX = "10000 * log10(lux) + 1"
_ILLUMINANCE_MEASUREMENT = _cluster(
    "IlluminanceMeasurement",
    0x0400,
    3,
    [
        _attr("MeasuredValue", 0x0000, "uint16", 0, 65534, flags="MN", unit=_LOG_LUX),
        _attr("MinMeasuredValue", 0x0001, "uint16", 1, 65533, flags="MN", unit=_LOG_LUX),
        _attr("MaxMeasuredValue", 0x0002, "uint16", 2, 65534, flags="MN", unit=_LOG_LUX),
        _attr("Tolerance", 0x0003, "uint16", 0, 2048, unit=_LOG_LUX),
        _attr("LightSensorType", 0x0004, "enum8", 0, 1, flags="N"),
    ],
)

# Left out: HoldTimeLimits (0x0004, a struct) and the deprecated per-technology delays and thresholds.
_OCCUPANCY_SENSING = _cluster(
    "OccupancySensing",
    0x0406,
    5,
    [
        _attr("Occupancy", 0x0000, "bitmap8", flags="M"),
        _attr("OccupancySensorType", 0x0001, "enum8", 0, 3, flags="M"),
        _attr("OccupancySensorTypeBitmap", 0x0002, "bitmap8", flags="M"),
        _attr("HoldTime", 0x0003, "uint16", unit="s"),
    ],
    events={"OccupancyChanged": 0x00},
)

_BOOLEAN_STATE = _cluster(
    "BooleanState",
    0x0045,
    1,
    [_attr("StateValue", 0x0000, "bool", flags="M")],
    events={"StateChange": 0x00},
)

# SmokeState, COState and BatteryAlert take the alarm states 0 Normal, 1 Warning, 2 Critical; ExpressedState
# has values of its own, so only its type bounds it.
_SMOKE_CO_ALARM = _cluster(
    "SmokeCoAlarm",
    0x005C,
    1,
    [
        _attr("ExpressedState", 0x0000, "enum8"),
        _attr("SmokeState", 0x0001, "enum8", 0, 2),
        _attr("COState", 0x0002, "enum8", 0, 2),
        _attr("BatteryAlert", 0x0003, "enum8", 0, 2),
    ],
)

# SupportedOperatingModes is inverted: a clear bit marks a supported mode. Toggle (0x02) is not allowed.
_DOOR_LOCK = _cluster(
    "DoorLock",
    0x0101,
    8,
    [
        _attr("LockState", 0x0000, "enum8", 0, 3, flags="MN"),
        _attr("LockType", 0x0001, "enum8", 0, 11, flags="M"),
        _attr("ActuatorEnabled", 0x0002, "bool", flags="M"),
        _attr("DoorState", 0x0003, "enum8", 0, 5, flags="N"),
        _attr("DoorOpenEvents", 0x0004, "uint32"),
        _attr("DoorClosedEvents", 0x0005, "uint32"),
        _attr("NumberOfTotalUsersSupported", 0x0011, "uint16"),
        _attr("AutoRelockTime", 0x0023, "uint32", unit="s"),
        _attr("OperatingMode", 0x0025, "enum8", 0, 4, flags="M"),
        _attr("SupportedOperatingModes", 0x0026, "bitmap16", flags="M"),
    ],
    commands={
        "LockDoor": 0x00,
        "UnlockDoor": 0x01,
        "UnlockWithTimeout": 0x03,
        "SetUser": 0x1A,
        "GetUser": 0x1B,
        "ClearUser": 0x1D,
        "SetCredential": 0x22,
        "GetCredentialStatus": 0x24,
        "ClearCredential": 0x26,
        "UnboltDoor": 0x27,
    },
    events={
        "DoorLockAlarm": 0x00,
        "DoorStateChange": 0x01,
        "LockOperation": 0x02,
        "LockOperationError": 0x03,
        "LockUserChange": 0x04,
    },
)

# Positions measure closedness: 0 (0 %) is fully open, 10000 (100 %) fully closed. Type and EndProductType
# use 255 for Unknown, so only their type bounds them.
_WINDOW_COVERING = _cluster(
    "WindowCovering",
    0x0102,
    5,
    [
        _attr("Type", 0x0000, "enum8", flags="M"),
        _attr("CurrentPositionLift", 0x0003, "uint16", flags="N"),
        _attr("CurrentPositionTilt", 0x0004, "uint16", flags="N"),
        _attr("ConfigStatus", 0x0007, "bitmap8", flags="M"),
        _attr("CurrentPositionLiftPercentage", 0x0008, "uint8", 0, 100, flags="N", unit=_PERCENT),
        _attr("CurrentPositionTiltPercentage", 0x0009, "uint8", 0, 100, flags="N", unit=_PERCENT),
        _attr("OperationalStatus", 0x000A, "bitmap8", flags="M"),
        _attr("TargetPositionLiftPercent100ths", 0x000B, "uint16", 0, 10000, flags="N", unit=_CENTI_PERCENT),
        _attr("TargetPositionTiltPercent100ths", 0x000C, "uint16", 0, 10000, flags="N", unit=_CENTI_PERCENT),
        _attr("EndProductType", 0x000D, "enum8", flags="M"),
        _attr("CurrentPositionLiftPercent100ths", 0x000E, "uint16", 0, 10000, flags="N", unit=_CENTI_PERCENT),
        _attr("CurrentPositionTiltPercent100ths", 0x000F, "uint16", 0, 10000, flags="N", unit=_CENTI_PERCENT),
        _attr("InstalledOpenLimitLift", 0x0010, "uint16", 0, 65534),
        _attr("InstalledClosedLimitLift", 0x0011, "uint16", 0, 65534),
        _attr("InstalledOpenLimitTilt", 0x0012, "uint16", 0, 65534),
        _attr("InstalledClosedLimitTilt", 0x0013, "uint16", 0, 65534),
        _attr("Mode", 0x0017, "bitmap8", flags="M"),
        _attr("SafetyStatus", 0x001A, "bitmap16"),
    ],
    commands={
        "UpOrOpen": 0x00,
        "DownOrClose": 0x01,
        "StopMotion": 0x02,
        "GoToLiftValue": 0x04,
        "GoToLiftPercentage": 0x05,
        "GoToTiltValue": 0x07,
        "GoToTiltPercentage": 0x08,
    },
)

# Setpoints change by writing OccupiedCoolingSetpoint / OccupiedHeatingSetpoint, not by a command.
# Left out: PresetTypes (0x0048), Presets (0x0050) and Schedules (0x0051), lists of structs, and
# ActivePresetHandle (0x004E), an octet string.
_THERMOSTAT = _cluster(
    "Thermostat",
    0x0201,
    8,
    [
        _attr("LocalTemperature", 0x0000, "int16", flags="MN", unit=_CENTI_C),
        _attr("OutdoorTemperature", 0x0001, "int16", flags="N", unit=_CENTI_C),
        _attr("Occupancy", 0x0002, "bitmap8"),
        _attr("AbsMinHeatSetpointLimit", 0x0003, "int16", unit=_CENTI_C),
        _attr("AbsMaxHeatSetpointLimit", 0x0004, "int16", unit=_CENTI_C),
        _attr("AbsMinCoolSetpointLimit", 0x0005, "int16", unit=_CENTI_C),
        _attr("AbsMaxCoolSetpointLimit", 0x0006, "int16", unit=_CENTI_C),
        _attr("LocalTemperatureCalibration", 0x0010, "int8", unit=_DECI_C),
        _attr("OccupiedCoolingSetpoint", 0x0011, "int16", unit=_CENTI_C),
        _attr("OccupiedHeatingSetpoint", 0x0012, "int16", unit=_CENTI_C),
        _attr("UnoccupiedCoolingSetpoint", 0x0013, "int16", unit=_CENTI_C),
        _attr("UnoccupiedHeatingSetpoint", 0x0014, "int16", unit=_CENTI_C),
        _attr("MinHeatSetpointLimit", 0x0015, "int16", unit=_CENTI_C),
        _attr("MaxHeatSetpointLimit", 0x0016, "int16", unit=_CENTI_C),
        _attr("MinCoolSetpointLimit", 0x0017, "int16", unit=_CENTI_C),
        _attr("MaxCoolSetpointLimit", 0x0018, "int16", unit=_CENTI_C),
        _attr("MinSetpointDeadBand", 0x0019, "int8", 0, 127, unit=_DECI_C),
        _attr("ControlSequenceOfOperation", 0x001B, "enum8", 0, 5, flags="M"),
        _attr("SystemMode", 0x001C, "enum8", 0, 9, flags="M"),
        _attr("ThermostatRunningMode", 0x001E, "enum8", 0, 4),
        _attr("TemperatureSetpointHold", 0x0023, "enum8", 0, 1),
        _attr("TemperatureSetpointHoldDuration", 0x0024, "uint16", 0, 1440, flags="N", unit="minutes"),
        _attr("ThermostatRunningState", 0x0029, "bitmap16"),
        _attr("SetpointHoldExpiryTimestamp", 0x0052, "uint32", flags="N", unit="s since 2000-01-01 UTC"),
    ],
    commands={
        "SetpointRaiseLower": 0x00,
        "SetWeeklySchedule": 0x01,
        "GetWeeklySchedule": 0x02,
        "ClearWeeklySchedule": 0x03,
        "SetActiveScheduleRequest": 0x05,
        "SetActivePresetRequest": 0x06,
    },
)

# SpeedSetting and SpeedCurrent run 0..SpeedMax, and SpeedMax is at most 100.
_FAN_CONTROL = _cluster(
    "FanControl",
    0x0202,
    4,
    [
        _attr("FanMode", 0x0000, "enum8", 0, 6, flags="M"),
        _attr("FanModeSequence", 0x0001, "enum8", 0, 5, flags="M"),
        _attr("PercentSetting", 0x0002, "uint8", 0, 100, flags="MN", unit=_PERCENT),
        _attr("PercentCurrent", 0x0003, "uint8", 0, 100, flags="M", unit=_PERCENT),
        _attr("SpeedMax", 0x0004, "uint8", 1, 100),
        _attr("SpeedSetting", 0x0005, "uint8", 0, 100, flags="N"),
        _attr("SpeedCurrent", 0x0006, "uint8", 0, 100),
        _attr("RockSupport", 0x0007, "bitmap8"),
        _attr("RockSetting", 0x0008, "bitmap8"),
        _attr("WindSupport", 0x0009, "bitmap8"),
        _attr("WindSetting", 0x000A, "bitmap8"),
        _attr("AirflowDirection", 0x000B, "enum8", 0, 1),
    ],
    commands={"Step": 0x00},
)

# Left out: EndpointList (0x001F), a list. Attributes a feature makes mandatory (WiredCurrentType,
# BatChargeLevel, ...) are not mandatory for the cluster.
_POWER_SOURCE = _cluster(
    "PowerSource",
    0x002F,
    3,
    [
        _attr("Status", 0x0000, "enum8", 0, 3, flags="M"),
        _attr("Order", 0x0001, "uint8", flags="M"),
        _attr("Description", 0x0002, "string", flags="M"),
        _attr("WiredAssessedInputVoltage", 0x0003, "uint32", flags="N", unit="mV"),
        _attr("WiredAssessedInputFrequency", 0x0004, "uint16", flags="N", unit="Hz"),
        _attr("WiredCurrentType", 0x0005, "enum8", 0, 1),
        _attr("WiredAssessedCurrent", 0x0006, "uint32", flags="N", unit="mA"),
        _attr("BatVoltage", 0x000B, "uint32", flags="N", unit="mV"),
        _attr("BatPercentRemaining", 0x000C, "uint8", 0, 200, flags="N", unit="half-percent"),
        _attr("BatTimeRemaining", 0x000D, "uint32", flags="N", unit="s"),
        _attr("BatChargeLevel", 0x000E, "enum8", 0, 2),
        _attr("BatReplacementNeeded", 0x000F, "bool"),
        _attr("BatReplaceability", 0x0010, "enum8"),
        _attr("BatPresent", 0x0011, "bool"),
        _attr("BatQuantity", 0x0019, "uint8"),
        _attr("BatChargeState", 0x001A, "enum8", 0, 3),
    ],
    events={
        "WiredFaultChange": 0x00,
        "BatFaultChange": 0x01,
        "BatChargeFaultChange": 0x02,
    },
)

# ActivePower is positive when imported from the grid. Left out: Accuracy (0x0002), Ranges (0x0003),
# HarmonicCurrents (0x000F) and HarmonicPhases (0x0010), all lists of structs.
_ELECTRICAL_POWER_MEASUREMENT = _cluster(
    "ElectricalPowerMeasurement",
    0x0090,
    1,
    [
        _attr("PowerMode", 0x0000, "enum8", 0, 2, flags="M"),
        _attr("NumberOfMeasurementTypes", 0x0001, "uint8", 1, None, flags="M"),
        _attr("Voltage", 0x0004, "int64", _E_MIN, _E_MAX, flags="N", unit="mV"),
        _attr("ActiveCurrent", 0x0005, "int64", _E_MIN, _E_MAX, flags="N", unit="mA"),
        _attr("ReactiveCurrent", 0x0006, "int64", _E_MIN, _E_MAX, flags="N", unit="mA"),
        _attr("ApparentCurrent", 0x0007, "int64", _E_MIN, _E_MAX, flags="N", unit="mA"),
        _attr("ActivePower", 0x0008, "int64", _E_MIN, _E_MAX, flags="MN", unit="mW"),
        _attr("ReactivePower", 0x0009, "int64", _E_MIN, _E_MAX, flags="N", unit="mW"),
        _attr("ApparentPower", 0x000A, "int64", _E_MIN, _E_MAX, flags="N", unit="mW"),
        _attr("RMSVoltage", 0x000B, "int64", _E_MIN, _E_MAX, flags="N", unit="mV"),
        _attr("RMSCurrent", 0x000C, "int64", _E_MIN, _E_MAX, flags="N", unit="mA"),
        _attr("RMSPower", 0x000D, "int64", _E_MIN, _E_MAX, flags="N", unit="mW"),
        _attr("Frequency", 0x000E, "int64", 0, 1_000_000, flags="N", unit="mHz"),
        _attr("PowerFactor", 0x0011, "int64", -10000, 10000, flags="N", unit=_CENTI_PERCENT),
        _attr("NeutralCurrent", 0x0012, "int64", _E_MIN, _E_MAX, flags="N", unit="mA"),
    ],
    events={"MeasurementPeriodRanges": 0x00},
)

# No attributes: Accuracy (0x0000), the four EnergyMeasurementStruct readings (0x0001..0x0004) and
# CumulativeEnergyReset (0x0005) are all structs; the energy itself (mWh) is a field inside them.
_ELECTRICAL_ENERGY_MEASUREMENT = _cluster(
    "ElectricalEnergyMeasurement",
    0x0091,
    1,
    events={
        "CumulativeEnergyMeasured": 0x00,
        "PeriodicEnergyMeasured": 0x01,
    },
)

# No commands: a button press is reported only as an event.
_SWITCH = _cluster(
    "Switch",
    0x003B,
    2,
    [
        _attr("NumberOfPositions", 0x0000, "uint8", 2, None, flags="M"),
        _attr("CurrentPosition", 0x0001, "uint8", 0, 254, flags="M"),
        _attr("MultiPressMax", 0x0002, "uint8", 2, None),
    ],
    events={
        "SwitchLatched": 0x00,
        "InitialPress": 0x01,
        "LongPress": 0x02,
        "ShortRelease": 0x03,
        "LongRelease": 0x04,
        "MultiPressOngoing": 0x05,
        "MultiPressComplete": 0x06,
    },
)

# Strings are UTF-8 with per-attribute length limits (32 for names, 64 for version strings). Left out:
# CapabilityMinima (0x0013) and ProductAppearance (0x0014), structs.
_BASIC_INFORMATION = _cluster(
    "BasicInformation",
    0x0028,
    4,
    [
        _attr("DataModelRevision", 0x0000, "uint16", flags="M"),
        _attr("VendorName", 0x0001, "string", flags="M"),
        _attr("VendorID", 0x0002, "uint16", flags="M"),
        _attr("ProductName", 0x0003, "string", flags="M"),
        _attr("ProductID", 0x0004, "uint16", flags="M"),
        _attr("NodeLabel", 0x0005, "string", flags="M"),
        _attr("Location", 0x0006, "string", flags="M"),
        _attr("HardwareVersion", 0x0007, "uint16", flags="M"),
        _attr("HardwareVersionString", 0x0008, "string", flags="M"),
        _attr("SoftwareVersion", 0x0009, "uint32", flags="M"),
        _attr("SoftwareVersionString", 0x000A, "string", flags="M"),
        _attr("ManufacturingDate", 0x000B, "string"),
        _attr("PartNumber", 0x000C, "string"),
        _attr("ProductURL", 0x000D, "string"),
        _attr("ProductLabel", 0x000E, "string"),
        _attr("SerialNumber", 0x000F, "string"),
        _attr("LocalConfigDisabled", 0x0010, "bool"),
        _attr("Reachable", 0x0011, "bool"),
        _attr("UniqueID", 0x0012, "string", flags="M"),
        _attr("SpecificationVersion", 0x0015, "uint32", flags="M"),
        _attr("MaxPathsPerInvoke", 0x0016, "uint16", 1, None, flags="M"),
    ],
    events={
        "StartUp": 0x00,
        "ShutDown": 0x01,
        "Leave": 0x02,
        "ReachableChanged": 0x03,
    },
)

# The same ids as BasicInformation, on each bridged endpoint; only Reachable and UniqueID are mandatory.
# Node-wide attributes (DataModelRevision, Location, SpecificationVersion, ...) and ProductID, which a
# non-Matter device does not have, are left out.
_BRIDGED_DEVICE_BASIC_INFORMATION = _cluster(
    "BridgedDeviceBasicInformation",
    0x0039,
    4,
    [
        _attr("VendorName", 0x0001, "string"),
        _attr("VendorID", 0x0002, "uint16"),
        _attr("ProductName", 0x0003, "string"),
        _attr("NodeLabel", 0x0005, "string"),
        _attr("HardwareVersion", 0x0007, "uint16"),
        _attr("HardwareVersionString", 0x0008, "string"),
        _attr("SoftwareVersion", 0x0009, "uint32"),
        _attr("SoftwareVersionString", 0x000A, "string"),
        _attr("ManufacturingDate", 0x000B, "string"),
        _attr("PartNumber", 0x000C, "string"),
        _attr("ProductURL", 0x000D, "string"),
        _attr("ProductLabel", 0x000E, "string"),
        _attr("SerialNumber", 0x000F, "string"),
        _attr("Reachable", 0x0011, "bool", flags="M"),
        _attr("UniqueID", 0x0012, "string", flags="M"),
    ],
    events={"ReachableChanged": 0x03},
)

# No attributes: DeviceTypeList (0x0000), ServerList (0x0001), ClientList (0x0002), PartsList (0x0003) and
# TagList (0x0004) are all lists; they surface in a capability report's deviceTypes, clusters, clientClusters,
# parts and semanticTags.
_DESCRIPTOR = _cluster("Descriptor", 0x001D, 2)

_CLUSTER_ROWS: Final[tuple[ClusterSpec, ...]] = (
    _ON_OFF,
    _LEVEL_CONTROL,
    _COLOR_CONTROL,
    _TEMPERATURE_MEASUREMENT,
    _RELATIVE_HUMIDITY_MEASUREMENT,
    _ILLUMINANCE_MEASUREMENT,
    _OCCUPANCY_SENSING,
    _BOOLEAN_STATE,
    _SMOKE_CO_ALARM,
    _DOOR_LOCK,
    _WINDOW_COVERING,
    _THERMOSTAT,
    _FAN_CONTROL,
    _POWER_SOURCE,
    _ELECTRICAL_POWER_MEASUREMENT,
    _ELECTRICAL_ENERGY_MEASUREMENT,
    _SWITCH,
    _BASIC_INFORMATION,
    _BRIDGED_DEVICE_BASIC_INFORMATION,
    _DESCRIPTOR,
)
CLUSTERS: Final[dict[str, ClusterSpec]] = {spec.name: spec for spec in _CLUSTER_ROWS}

# Required clusters are the application server clusters a device type makes mandatory, without Descriptor,
# Identify, Groups and ScenesManagement, which every endpoint has. A switch's OnOff and LevelControl are
# client clusters, so switches require no server cluster here.
# Left out: WaterValve, Pump, ElectricalSensor and RootNode need clusters this catalogue does not hold
# (ValveConfigurationAndControl, PumpConfigurationAndControl, PowerTopology, AccessControl, ...), and
# HeatPump's definition makes no cluster mandatory that a connector could report.
_DEVICE_TYPE_ROWS: Final[tuple[DeviceTypeSpec, ...]] = (
    DeviceTypeSpec("OnOffLight", 0x0100, 3, ("OnOff",)),
    DeviceTypeSpec("DimmableLight", 0x0101, 3, ("OnOff", "LevelControl")),
    DeviceTypeSpec("ColorTemperatureLight", 0x010C, 4, ("OnOff", "LevelControl", "ColorControl")),
    DeviceTypeSpec("ExtendedColorLight", 0x010D, 4, ("OnOff", "LevelControl", "ColorControl")),
    DeviceTypeSpec("OnOffPlugInUnit", 0x010A, 3, ("OnOff",)),
    DeviceTypeSpec("DimmablePlugInUnit", 0x010B, 4, ("OnOff", "LevelControl")),
    DeviceTypeSpec("MountedOnOffControl", 0x010F, 1, ("OnOff",)),
    DeviceTypeSpec("MountedDimmableLoadControl", 0x0110, 1, ("OnOff", "LevelControl")),
    DeviceTypeSpec("OnOffLightSwitch", 0x0103, 3, ()),
    DeviceTypeSpec("DimmerSwitch", 0x0104, 3, ()),
    DeviceTypeSpec("GenericSwitch", 0x000F, 3, ("Switch",)),
    DeviceTypeSpec("ContactSensor", 0x0015, 2, ("BooleanState",)),
    DeviceTypeSpec("WaterLeakDetector", 0x0043, 1, ("BooleanState",)),
    DeviceTypeSpec("RainSensor", 0x0044, 1, ("BooleanState",)),
    DeviceTypeSpec("TemperatureSensor", 0x0302, 2, ("TemperatureMeasurement",)),
    DeviceTypeSpec("HumiditySensor", 0x0307, 2, ("RelativeHumidityMeasurement",)),
    DeviceTypeSpec("LightSensor", 0x0106, 3, ("IlluminanceMeasurement",)),
    DeviceTypeSpec("OccupancySensor", 0x0107, 4, ("OccupancySensing",)),
    DeviceTypeSpec("SmokeCoAlarm", 0x0076, 1, ("SmokeCoAlarm",)),
    DeviceTypeSpec("DoorLock", 0x000A, 3, ("DoorLock",)),
    DeviceTypeSpec("WindowCovering", 0x0202, 3, ("WindowCovering",)),
    DeviceTypeSpec("Thermostat", 0x0301, 4, ("Thermostat",)),
    DeviceTypeSpec("Fan", 0x002B, 3, ("FanControl",)),
    DeviceTypeSpec("AirPurifier", 0x002D, 2, ("FanControl",)),
    DeviceTypeSpec("RoomAirConditioner", 0x0072, 2, ("OnOff", "Thermostat")),
    DeviceTypeSpec("PowerSource", 0x0011, 1, ("PowerSource",)),
    # A bridge's aggregator endpoint lists the bridged endpoints in its PartsList and needs nothing else.
    DeviceTypeSpec("Aggregator", 0x000E, 2, ()),
    DeviceTypeSpec("BridgedNode", 0x0013, 3, ("BridgedDeviceBasicInformation",)),
    # Its only server cluster is Identify; OnOff, LevelControl and ColorControl are client clusters.
    DeviceTypeSpec("OnOffSensor", 0x0850, 3, ()),
)
DEVICE_TYPES: Final[dict[str, DeviceTypeSpec]] = {spec.name: spec for spec in _DEVICE_TYPE_ROWS}


def _check_catalogue() -> None:
    if len(CLUSTERS) != len(_CLUSTER_ROWS) or len(DEVICE_TYPES) != len(_DEVICE_TYPE_ROWS):
        raise ValueError("a cluster or device type is listed twice")
    _require_unique("cluster", (spec.id for spec in CLUSTERS.values()))
    _require_unique("device type", (spec.id for spec in DEVICE_TYPES.values()))
    for device in DEVICE_TYPES.values():
        for name in device.required_clusters:
            if name not in CLUSTERS:
                raise ValueError(f"device type {device.name} requires {name}, which is not catalogued")


_check_catalogue()


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
        return CLUSTERS[name]
    except KeyError:
        raise _unknown("cluster", f'"{name}"', name, CLUSTERS, "the catalogue") from None


def _split(path: str, what: str) -> tuple[ClusterSpec, str]:
    cluster_name, dot, member = path.partition(".")
    if not dot or not cluster_name or not member or "." in member:
        raise CatalogueError(f'{what} path "{path}" is not of the form "Cluster.{what.capitalize()}"')
    try:
        return CLUSTERS[cluster_name], member
    except KeyError:
        raise _unknown(
            "cluster", f'"{cluster_name}" in "{path}"', cluster_name, CLUSTERS, "the catalogue"
        ) from None


def attribute(path: str) -> tuple[ClusterSpec, AttributeSpec]:
    """The cluster and attribute at `path` ("LevelControl.CurrentLevel")."""
    spec, name = _split(path, "attribute")
    try:
        return spec, spec.attributes[name]
    except KeyError:
        raise _unknown("attribute", f'"{path}"', name, spec.attributes, spec.name) from None


def command(path: str) -> tuple[ClusterSpec, int]:
    """The cluster and command id at `path` ("OnOff.Off")."""
    spec, name = _split(path, "command")
    try:
        return spec, spec.commands[name]
    except KeyError:
        raise _unknown("command", f'"{path}"', name, spec.commands, spec.name) from None


def event(path: str) -> tuple[ClusterSpec, int]:
    """The cluster and event id at `path` ("Switch.InitialPress")."""
    spec, name = _split(path, "event")
    try:
        return spec, spec.events[name]
    except KeyError:
        raise _unknown("event", f'"{path}"', name, spec.events, spec.name) from None


def device_type(name: str) -> DeviceTypeSpec:
    """The device type called `name` ("DimmableLight")."""
    try:
        return DEVICE_TYPES[name]
    except KeyError:
        raise _unknown("device type", f'"{name}"', name, DEVICE_TYPES, "the catalogue") from None


def command_name(cluster_id: int, command_id: int) -> str | None:
    """The catalogue's name of a command given by ids ("OnOff.Off" for 0x0006, 0x00); None when the
    catalogue does not hold it."""
    for spec in CLUSTERS.values():
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


def _short_hex(number: int) -> str:
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 0xFFFF:
        raise ValueError("an id must be a whole number in 0x0000..0xFFFF")
    return f"0x{number:02X}" if number < 0x100 else _hex4(number)
