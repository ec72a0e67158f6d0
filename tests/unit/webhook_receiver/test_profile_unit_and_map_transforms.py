"""A transform chosen by the unit the event names (`unitFrom`), maps with typed keys, and a map's
`"unknown": "skip"`."""

from __future__ import annotations

from typing import Any

import pytest

from iotbridge.profile.expressions import Expression
from iotbridge.profile.values import FromValue
from iotbridge.webhook_receiver.domain.transforms import TransformError, TransformSkip, apply


def transform(spec: Any) -> Any:
    return FromValue.model_validate({"from": "event.value", "transform": spec}).transform


def reader(event: dict[str, Any]) -> Any:
    """What the mapping passes as `read`: an expression evaluated on the event."""
    return lambda expression: expression.search({"event": event})


TEMPERATURE = {
    "unitFrom": "event.scale",
    "units": {
        "CELSIUS": "celsiusToMatter",
        "FAHRENHEIT": "fahrenheitToMatter",
        "KELVIN": [{"scale": 1, "offset": -273.15}, "celsiusToMatter"],
    },
}


# --- unitFrom -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "native", "matter"),
    [("CELSIUS", 21.5, 2150), ("FAHRENHEIT", 71.6, 2200), ("KELVIN", 294.65, 2150)],
)
def test_the_events_unit_chooses_the_transform(scale: str, native: float, matter: int) -> None:
    assert apply(transform(TEMPERATURE), native, read=reader({"scale": scale})) == matter


@pytest.mark.parametrize("scale", ["RANKINE", "celsius", 3, None, ["CELSIUS"]])
def test_a_unit_without_a_transform_is_an_error_naming_where_the_unit_is(scale: Any) -> None:
    with pytest.raises(TransformError) as caught:
        apply(transform(TEMPERATURE), 20, read=reader({"scale": scale}))
    assert str(caught.value) == "has no transform for its unit"
    assert caught.value.expression == "event.scale"
    assert not isinstance(caught.value, TransformSkip)


def test_without_a_way_to_read_the_event_no_unit_is_known() -> None:
    with pytest.raises(TransformError, match="has no transform for its unit"):
        apply(transform(TEMPERATURE), 20)


def test_unit_from_is_one_step_of_a_chain() -> None:
    # GIVEN a chain that clamps after the unit's conversion
    chain = transform([TEMPERATURE, {"clamp": {"max": 3000}}])
    # WHEN a reading beyond the clamp arrives in either unit THEN it is clamped in Matter's unit
    assert apply(chain, 100, read=reader({"scale": "CELSIUS"})) == 3000
    assert apply(chain, 50, read=reader({"scale": "FAHRENHEIT"})) == 1000


def test_the_unit_is_read_with_the_expression_the_profile_gives() -> None:
    seen: list[Expression] = []

    def read(expression: Expression) -> Any:
        seen.append(expression)
        return "CELSIUS"

    apply(transform(TEMPERATURE), 1, read=read)
    assert seen == ["event.scale"]


# --- Maps with typed keys -----------------------------------------------------------------------------------

TYPED = {"map": [[0, "closed"], [1, "open"], [True, "yes"], ["0", "text zero"], [None, "unknown"]]}


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        (0, "closed"),
        (0.0, "closed"),
        (1, "open"),
        (1.0, "open"),
        (True, "yes"),
        ("0", "text zero"),
        (None, "unknown"),
    ],
)
def test_typed_keys_match_by_json_equality(native: Any, expected: str) -> None:
    assert apply(transform(TYPED), native) == expected


@pytest.mark.parametrize("native", [False, "1", "true", 2, [0], {"0": 0}])
def test_typed_keys_do_not_match_what_json_holds_different(native: Any) -> None:
    with pytest.raises(TransformError, match="has no entry in the map"):
        apply(transform(TYPED), native)


def test_the_object_form_still_looks_values_up_as_their_json_text() -> None:
    spec = transform({"map": {"1": "one", "true": "yes", "on": "power"}})
    assert [apply(spec, v) for v in (1, 1.0, "1", True, "on")] == ["one", "one", "one", "yes", "power"]


def test_a_typed_map_gives_its_default_for_an_unknown_value() -> None:
    assert apply(transform({"map": [[0, "closed"]], "default": None}), 5) is None


# --- unknown: skip ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", [{"on": True}, [["on", True]]])
def test_unknown_skip_raises_a_skip_with_its_reason(table: Any) -> None:
    spec = transform({"map": table, "unknown": "skip"})
    assert apply(spec, "on") is True
    with pytest.raises(TransformSkip) as caught:
        apply(spec, "standby")
    assert str(caught.value) == "value has no entry in the map"
    # A caller that does not tell a skip from an error refuses the value rather than dropping it unseen.
    assert isinstance(caught.value, TransformError)


def test_without_unknown_skip_an_unknown_value_is_an_error_not_a_skip() -> None:
    with pytest.raises(TransformError) as caught:
        apply(transform({"map": {"on": True}}), "standby")
    assert not isinstance(caught.value, TransformSkip)
