"""The colour transform the other way, for a command to the cloud: Matter's [hue, saturation] (0..254 each)
to a red-green-blue colour as the cloud writes it ("r:g:b" or "#rrggbb"). Expected colours are worked out
by hand from HSV at full brightness, not by the code."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from iotbridge.profile.values import FromValue
from iotbridge.webhook_receiver.domain.transforms import TransformError, apply


def colour(source: str, to: str, value: Any, **extra: Any) -> Any:
    spec = FromValue.model_validate(
        {"from": "fields.colour", "transform": {"colour": {"from": source, "to": to, **extra}}}
    ).transform
    return apply(spec, value)


@pytest.mark.parametrize(
    ("hue_saturation", "rgb", "hex_text"),
    [
        ([0, 254], "255:0:0", "#ff0000"),  # 0 degrees, fully saturated
        ([254, 254], "255:0:0", "#ff0000"),  # a whole turn is red again
        ([0, 0], "255:255:255", "#ffffff"),  # no saturation: white at full brightness
        ([127, 254], "0:255:255", "#00ffff"),  # half a turn: 180 degrees, cyan
        ([0, 127], "255:128:128", "#ff8080"),  # half saturated red: 255 * (1 - 0.5) = 127.5 rounds up
    ],
)
def test_hue_and_saturation_become_the_colour_at_full_brightness(
    hue_saturation: list[int], rgb: str, hex_text: str
) -> None:
    assert colour("hueSaturation", "rgb", hue_saturation) == rgb
    assert colour("hueSaturation", "hex", hue_saturation) == hex_text


def test_the_separator_of_rgb_text_is_the_profiles() -> None:
    assert colour("hueSaturation", "rgb", [0, 254], separator=",") == "255,0,0"


def _circular(a: int, b: int) -> int:
    # Hue is an angle: 254 and 0 are one hue.
    return min(abs(a - b), 254 - abs(a - b))


def test_a_round_trip_through_rgb_keeps_hue_and_saturation_within_rounding() -> None:
    # GIVEN Matter's hue and saturation over their whole range (saturation high enough for hue to mean
    # something once channels are rounded to whole numbers)
    for hue in range(0, 255, 3):
        for saturation in (64, 128, 200, 254):
            # WHEN each is written as the cloud's rgb text and read back by the existing rgb form
            text = colour("hueSaturation", "rgb", [hue, saturation])
            back_hue = colour("rgb", "hue", text)
            back_saturation = colour("rgb", "saturation", text)

            # THEN both come back within one step of rounding
            assert _circular(back_hue, hue) <= 1, (hue, saturation, text)
            assert abs(back_saturation - saturation) <= 1, (hue, saturation, text)


def test_hex_and_rgb_text_are_the_same_colour() -> None:
    for hue in range(0, 255, 17):
        text = colour("hueSaturation", "rgb", [hue, 200])
        hex_text = colour("hueSaturation", "hex", [hue, 200])
        assert colour("hex", "hue", hex_text) == colour("rgb", "hue", text)


@pytest.mark.parametrize(
    "value",
    [[0], [0, 0, 0], [255, 0], [0, -1], [True, 0], ["10", 0], "0:254", {"hue": 0, "saturation": 0}, None],
)
def test_a_value_that_is_no_hue_and_saturation_is_a_transform_error_that_does_not_quote_it(
    value: Any,
) -> None:
    with pytest.raises(TransformError) as caught:
        colour("hueSaturation", "rgb", value)
    assert "hue and saturation" in str(caught.value)
    assert repr(value) not in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"from": "hueSaturation", "to": "hue"}, '"to": "rgb" or "hex"'),
        ({"from": "rgb", "to": "hex"}, '"to": "hue", "saturation", "x" or "y"'),
        ({"from": "hueSaturation", "to": "hex", "separator": ","}, "a separator belongs to rgb text"),
        ({"from": "hex", "to": "hue", "separator": ","}, "a separator belongs to rgb text"),
    ],
)
def test_a_colour_that_goes_nowhere_is_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FromValue.model_validate({"from": "fields.colour", "transform": {"colour": spec}})
    assert message in str(caught.value)


def test_the_existing_forms_still_take_a_separator_for_rgb_text() -> None:
    assert colour("rgb", "hue", "255,0,0", separator=",") == 0
