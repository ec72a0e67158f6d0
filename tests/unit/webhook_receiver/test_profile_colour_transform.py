"""The colour transform: a cloud's red-green-blue colour to Matter's ColorControl scales. Expected values are
the sRGB primaries' and the D65 white point's CIE xy (IEC 61966-2-1), and hues worked out by hand, not by
the code."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from iotbridge.matter import attribute
from iotbridge.profile.values import FromValue
from iotbridge.webhook_receiver.domain.transforms import TransformError, apply

XY_TOLERANCE = 0.0005  # the sRGB matrix is given to four places


def colour(source: str, to: str, value: Any, **extra: Any) -> Any:
    spec = FromValue.model_validate(
        {"from": "event.colour", "transform": {"colour": {"from": source, "to": to, **extra}}}
    ).transform
    return apply(spec, value)


def xy(rgb: list[int]) -> tuple[float, float]:
    return colour("rgbList", "x", rgb) / 65536, colour("rgbList", "y", rgb) / 65536


@pytest.mark.parametrize(
    ("rgb", "expected"),
    [
        ([255, 0, 0], (0.64, 0.33)),  # the sRGB red primary
        ([0, 255, 0], (0.30, 0.60)),  # green
        ([0, 0, 255], (0.15, 0.06)),  # blue
        ([255, 255, 255], (0.3127, 0.3290)),  # the D65 white point
    ],
)
def test_primaries_and_white_have_their_standard_chromaticity(
    rgb: list[int], expected: tuple[float, float]
) -> None:
    x, y = xy(rgb)
    assert x == pytest.approx(expected[0], abs=XY_TOLERANCE)
    assert y == pytest.approx(expected[1], abs=XY_TOLERANCE)


def test_every_grey_and_black_take_the_white_points_chromaticity() -> None:
    # Black has no chromaticity of its own (X + Y + Z is 0): it is the darkest grey.
    white = xy([255, 255, 255])
    assert xy([128, 128, 128]) == white
    assert xy([1, 1, 1]) == white
    assert xy([0, 0, 0]) == white


def test_black_has_hue_and_saturation_zero() -> None:
    assert (colour("rgbList", "hue", [0, 0, 0]), colour("rgbList", "saturation", [0, 0, 0])) == (0, 0)


@pytest.mark.parametrize(
    ("rgb", "hue", "saturation"),
    [
        ([255, 0, 0], 0, 254),  # 0 degrees, fully saturated
        ([255, 255, 0], 42, 254),  # 60 degrees: 60 * 254 / 360 = 42.3
        ([0, 255, 0], 85, 254),  # 120 degrees: 84.7
        ([0, 0, 255], 169, 254),  # 240 degrees: 169.3
        ([255, 255, 255], 0, 0),  # white: no saturation
        ([255, 128, 128], 0, 127),  # saturation (255 - 128) / 255 = 0.498: 126.5 rounds up
        ([255, 245, 235], 21, 20),  # 30 degrees (21.2); saturation 20 / 255 (19.9)
    ],
)
def test_hue_and_saturation_are_hsvs_on_matters_0_to_254(rgb: list[int], hue: int, saturation: int) -> None:
    assert colour("rgbList", "hue", rgb) == hue
    assert colour("rgbList", "saturation", rgb) == saturation


def test_switchbots_rgb_text_hex_and_a_list_are_the_same_colour() -> None:
    # SwitchBot's Color Bulb reports `color` as "255:245:235".
    for to in ("hue", "saturation", "x", "y"):
        from_text = colour("rgb", to, "255:245:235")
        assert colour("hex", to, "#fff5eb") == from_text
        assert colour("hex", to, "FFF5EB") == from_text
        assert colour("rgbList", to, [255, 245, 235]) == from_text
        assert colour("rgb", to, "255, 245, 235", separator=",") == from_text


def test_every_result_fits_its_colorcontrol_attribute() -> None:
    # GIVEN the colour cube on a coarse grid, its corners and edges included
    levels = (0, 1, 64, 128, 200, 254, 255)
    attributes = {
        "hue": attribute("ColorControl.CurrentHue")[1],
        "saturation": attribute("ColorControl.CurrentSaturation")[1],
        "x": attribute("ColorControl.CurrentX")[1],
        "y": attribute("ColorControl.CurrentY")[1],
    }
    for rgb in itertools.product(levels, repeat=3):
        for to, spec in attributes.items():
            # WHEN each is converted THEN the catalogue's own check takes it
            assert spec.problem(colour("rgbList", to, list(rgb))) is None, (rgb, to)


@pytest.mark.parametrize(
    ("source", "value", "extra"),
    [
        ("rgb", "256:0:0", {}),
        ("rgb", "255:0", {}),
        ("rgb", "255:0:0:0", {}),
        ("rgb", "-1:0:0", {}),
        ("rgb", "255;0;0", {}),
        ("rgb", "1.5:0:0", {}),
        ("rgb", [255, 0, 0], {}),
        ("hex", "#ff00", {}),
        ("hex", "#gg0000", {}),
        ("hex", "##ff0000", {}),
        ("hex", 0xFF0000, {}),
        ("rgbList", [255, 0], {}),
        ("rgbList", [255, 0, 300], {}),
        ("rgbList", [True, 0, 0], {}),
        ("rgbList", ["255", 0, 0], {}),
        ("rgbList", "255:0:0", {}),
    ],
)
def test_a_value_that_is_no_colour_is_a_transform_error_that_does_not_quote_it(
    source: str, value: Any, extra: dict[str, Any]
) -> None:
    with pytest.raises(TransformError) as caught:
        colour(source, "x", value, **extra)
    assert str(value) not in str(caught.value)
