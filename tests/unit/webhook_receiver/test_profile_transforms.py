"""The transforms a profile may apply, against the conversion table of the Matter catalogue reference
(`cloud value | Matter value`): expected values are worked out by hand from that table, not by the code."""

from __future__ import annotations

import math
from typing import Any

import pytest

from iotbridge.profile.document import ProfileError, parse_profile
from iotbridge.profile.values import FromValue
from iotbridge.webhook_receiver.domain.transforms import NAMED, TransformError, apply


def transform(spec: Any) -> Any:
    """A transform as a profile declares it (one, or a list), read by the profile model."""
    return FromValue.model_validate({"from": "event.value", "transform": spec}).transform


def result(spec: Any, value: Any) -> Any:
    return apply(transform(spec), value)


# name, native value, Matter value
CONVERSIONS = [
    # brightness p % -> CurrentLevel = max(1, round(p * 254 / 100)); 0 % is the lowest level, not off
    ("percentToLevel", 0, 1),
    ("percentToLevel", 0.1, 1),
    ("percentToLevel", 1, 3),
    ("percentToLevel", 40, 102),
    ("percentToLevel", 50, 127),
    ("percentToLevel", 75, 191),  # 190.5: a half goes up
    ("percentToLevel", 100, 254),
    ("levelToPercent", 254, 100),
    ("levelToPercent", 127, 50),
    ("levelToPercent", 1, 0),
    # colour temperature K -> mireds = round(1,000,000 / K)
    ("kelvinToMireds", 2700, 370),
    ("kelvinToMireds", 4000, 250),
    ("kelvinToMireds", 6500, 154),
    ("kelvinToMireds", 1_000_000, 1),
    ("miredsToKelvin", 370, 2703),
    ("miredsToKelvin", 250, 4000),
    # t °C -> round(t * 100); °F first -> (F - 32) * 5/9
    ("celsiusToMatter", 0, 0),
    ("celsiusToMatter", 21.5, 2150),
    ("celsiusToMatter", 21.125, 2113),  # 2112.5: a half goes up
    ("celsiusToMatter", -10.25, -1025),
    ("celsiusToMatter", -273.15, -27315),
    ("fahrenheitToMatter", 32, 0),
    ("fahrenheitToMatter", 212, 10000),
    ("fahrenheitToMatter", 71.6, 2200),
    ("fahrenheitToMatter", 98.6, 3700),
    ("fahrenheitToMatter", 0, -1778),  # -17.777... °C
    ("fahrenheitToMatter", -40, -4000),
    # RH r % -> round(r * 100)
    ("percentToHumidity", 0, 0),
    ("percentToHumidity", 43.5, 4350),
    ("percentToHumidity", 100, 10000),
    # lux L -> round(10000 * log10(L) + 1), 0 below 1 lux (too dark to measure)
    ("luxToMatter", 0, 0),
    ("luxToMatter", 0.5, 0),
    ("luxToMatter", 1, 1),
    ("luxToMatter", 10, 10001),
    ("luxToMatter", 400, 26022),  # 26020.6 + 1
    ("luxToMatter", 1000, 30001),
    # battery b % -> BatPercentRemaining = round(b * 2), half-percent steps
    ("percentToBattery", 0, 0),
    ("percentToBattery", 50, 100),
    ("percentToBattery", 88, 176),
    ("percentToBattery", 50.25, 101),  # 100.5: a half goes up
    ("percentToBattery", 100, 200),
    ("percentToPercent100ths", 12.34, 1234),
    ("invertPercent", 30, 70),
    # cover "open" o % (100 = open) -> CurrentPositionLiftPercent100ths = (100 - o) * 100
    ("openPercentToClosed100ths", 100, 0),
    ("openPercentToClosed100ths", 25, 7500),
    ("openPercentToClosed100ths", 0, 10000),
    # hue h° -> round(h * 254 / 360); saturation s % -> round(s * 254 / 100)
    ("degreesToHue", 0, 0),
    ("degreesToHue", 90, 64),  # 63.5
    ("degreesToHue", 180, 127),
    ("degreesToHue", 360, 254),
    ("percentToSaturation", 25, 64),  # 63.5
    ("percentToSaturation", 50, 127),
    ("percentToSaturation", 100, 254),
    # rounding: halves away from zero, as the catalogue's clamp rounds
    ("round", 2.4, 2),
    ("round", 2.5, 3),
    ("round", 0.5, 1),
    ("round", -2.5, -3),
    ("round", 0.49999999999999994, 0),
    ("round", 7, 7),
]


@pytest.mark.parametrize(("name", "native", "expected"), CONVERSIONS)
def test_named_transform_follows_the_conversion_table(name: str, native: float, expected: int) -> None:
    converted = result(name, native)
    assert converted == expected
    if name != "invertPercent":
        assert type(converted) is int  # Matter's integer attributes take whole numbers only


def test_every_named_transform_is_covered_by_the_table() -> None:
    covered = {name for name, _, _ in CONVERSIONS} | {"boolean", "not"}
    assert covered == set(NAMED)


@pytest.mark.parametrize(
    ("name", "native", "expected"), [("boolean", True, True), ("boolean", False, False), ("not", True, False)]
)
def test_boolean_passes_and_not_inverts_true_and_false(name: str, native: bool, expected: bool) -> None:
    assert result(name, native) is expected


@pytest.mark.parametrize("native", ["true", 1, 0, None, "on"])
@pytest.mark.parametrize("name", ["boolean", "not"])
def test_booleans_take_only_true_or_false(name: str, native: Any) -> None:
    with pytest.raises(TransformError):
        result(name, native)


@pytest.mark.parametrize(
    ("native", "expected"),
    [("on", True), ("off", False), ("ON", False), (None, False), (1, False)],
)
def test_equals_compares_with_the_given_value(native: Any, expected: bool) -> None:
    assert result({"equals": "on"}, native) is expected


@pytest.mark.parametrize(
    ("equals", "native", "expected"),
    [
        (True, True, True),
        (True, 1, False),
        (1, True, False),
        (False, 0, False),
        (0, False, False),
        (1, 1.0, True),
        ([1, 2], [1, 2], True),
    ],
)
def test_equals_is_json_equality(equals: Any, native: Any, expected: bool) -> None:
    assert result({"equals": equals}, native) is expected


MAP = {"map": {"true": "yes", "3": "three", "on": "powered", "null": "nothing"}}


@pytest.mark.parametrize(
    ("native", "expected"),
    [(True, "yes"), (3, "three"), (3.0, "three"), ("on", "powered"), (None, "nothing"), ("3", "three")],
)
def test_map_looks_native_values_up_as_json_text(native: Any, expected: str) -> None:
    assert result(MAP, native) == expected


@pytest.mark.parametrize("native", [False, 4, 3.5, "off", "On", [3], {"on": 1}])
def test_map_without_default_refuses_what_it_does_not_hold(native: Any) -> None:
    with pytest.raises(TransformError, match="no entry in the map"):
        result(MAP, native)


@pytest.mark.parametrize(
    ("default", "native", "expected"), [(500, "odd", 500), (500, "on", 200), (None, "odd", None)]
)
def test_map_with_a_default_answers_it_for_what_it_does_not_hold(
    default: Any, native: str, expected: Any
) -> None:
    assert result({"map": {"on": 200}, "default": default}, native) == expected


def test_map_values_are_any_json() -> None:
    assert result({"map": {"closed": True, "open": False}}, "closed") is True
    assert result({"map": {"a": [1, 2]}}, "a") == [1, 2]


@pytest.mark.parametrize(
    ("spec", "native", "expected"),
    [
        ({"scale": 1000}, 61.5, 61500),
        ({"scale": 0.5, "offset": -40}, 100, 10),
        ({"offset": 273.15}, 0, 273.15),
        ({"scale": -1}, 5, -5),
        ({}, 7, 7),  # neither: the identity
    ],
)
def test_scale_then_offset_convert_a_number_linearly(
    spec: dict[str, float], native: float, expected: float
) -> None:
    assert result(spec, native) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("bounds", "native", "expected"),
    [
        ({"min": 0, "max": 100}, 150, 100),
        ({"min": 0, "max": 100}, -5, 0),
        ({"min": 0, "max": 100}, 42.5, 42.5),
        ({"min": 0, "max": 100}, 100, 100),
        ({"min": 10}, 3, 10),
        ({"min": 10}, 1e9, 1e9),
        ({"max": 10}, 30, 10),
        ({"max": 10}, -1e9, -1e9),
        ({"min": 5, "max": 5}, 8, 5),
    ],
)
def test_clamp_keeps_a_number_within_its_bounds(
    bounds: dict[str, float], native: float, expected: float
) -> None:
    assert result({"clamp": bounds}, native) == expected


@pytest.mark.parametrize(
    ("bounds", "expected_rule"),
    [({}, "give min, max or both"), ({"min": 5, "max": 1}, "min must not be above max")],
)
def test_clamp_bounds_are_checked_with_the_profile(bounds: dict[str, float], expected_rule: str) -> None:
    profile = {
        "version": 1,
        "verification": {"scheme": "token", "header": "X-Token"},
        "deduplication": {"digest": True},
        "rules": [
            {
                "name": "r",
                "operation": "DEVICE_EVENT",
                "matterEndpoint": {
                    "set": [{"attribute": "OnOff.OnOff", "from": "event.on", "transform": {"clamp": bounds}}]
                },
            }
        ],
    }
    with pytest.raises(ProfileError) as caught:
        parse_profile(profile)
    assert expected_rule in [p.rule for p in caught.value.problems]


@pytest.mark.parametrize(
    ("spec", "native", "expected"),
    [
        ([{"scale": 1000}, "round"], 61.5004, 61500),
        (["percentToLevel", {"clamp": {"max": 200}}], 100, 200),
        ([{"clamp": {"max": 50}}, "percentToLevel"], 100, 127),
        ([{"equals": "on"}, "not"], "on", False),
        (["not", "not"], True, True),
        ([{"map": {"warm": 2700, "cold": 6500}}, "kelvinToMireds"], "warm", 370),
        ([{"scale": 1.8, "offset": 32}, "fahrenheitToMatter"], 20, 2000),
    ],
    ids=[
        "scale-round",
        "level-clamp",
        "clamp-level",
        "equals-not",
        "not-not",
        "map-mireds",
        "c-to-f-to-matter",
    ],
)
def test_a_list_of_transforms_applies_in_order(spec: list[Any], native: Any, expected: Any) -> None:
    assert result(spec, native) == expected


def test_a_transform_that_fails_midway_fails_the_chain() -> None:
    with pytest.raises(TransformError):
        result([{"map": {"warm": "2700"}}, "kelvinToMireds"], "warm")


def test_no_transform_leaves_the_value_as_it_is() -> None:
    marker = {"any": ["json"]}
    assert apply(None, marker) is marker


NUMERIC = sorted(set(NAMED) - {"boolean", "not"})


@pytest.mark.parametrize(
    "native",
    ["12", True, False, None, [1], {"v": 1}, math.nan, math.inf, -math.inf, 10**400],
    ids=["text", "true", "false", "null", "list", "object", "nan", "inf", "-inf", "huge-int"],
)
@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_transforms_take_only_finite_numbers(name: str, native: Any) -> None:
    with pytest.raises(TransformError):
        result(name, native)


@pytest.mark.parametrize("spec", [{"scale": 2}, {"clamp": {"min": 0}}])
@pytest.mark.parametrize("native", ["12", True, None, math.nan])
def test_scale_and_clamp_take_only_finite_numbers(spec: dict[str, Any], native: Any) -> None:
    with pytest.raises(TransformError):
        result(spec, native)


@pytest.mark.parametrize("name", ["percentToLevel", "percentToBattery", "degreesToHue", "percentToHumidity"])
def test_a_number_that_overflows_on_the_way_is_a_transform_error(name: str) -> None:
    with pytest.raises(TransformError):
        result(name, 1.7e308)


@pytest.mark.parametrize("native", [0, -2700, 0.0])
@pytest.mark.parametrize("name", ["kelvinToMireds", "miredsToKelvin"])
def test_zero_or_negative_kelvin_and_mireds_are_refused(name: str, native: float) -> None:
    with pytest.raises(TransformError, match="positive"):
        result(name, native)


def test_negative_lux_is_refused() -> None:
    with pytest.raises(TransformError):
        result("luxToMatter", -1)


@pytest.mark.parametrize(
    ("spec", "native"),
    [
        ("kelvinToMireds", -98765),
        ("percentToLevel", "98765"),
        ({"map": {"a": 1}}, "secret-98765"),
        ("not", 98765),
    ],
)
def test_transform_errors_never_quote_the_value(spec: Any, native: Any) -> None:
    with pytest.raises(TransformError) as caught:
        result(spec, native)
    assert "98765" not in str(caught.value)
