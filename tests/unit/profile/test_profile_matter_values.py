"""What a profile may say about Matter values beyond a plain `from`: literals (`value`), Matter event fields,
the colour and unitFrom transforms, maps with typed keys and `"unknown": "skip"`; every problem named by its
path in the document, with no name of a model in it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from iotbridge.profile.document import ConnectorProfile, ProfileError, parse_profile
from iotbridge.profile.matter_targets import MatterEndpointMapping
from iotbridge.profile.transforms import ColourTransform, MapTransform, UnitFromTransform

# What pydantic writes into a location for a union member it tried: never part of a document's path.
_TAG = re.compile(r"Transform|MatterValue|function-|literal\[|list\[|dict\[|union\[")


def document(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "verification": {"scheme": "token", "header": "X-Token"},
        "deduplication": {"digest": True},
        "rules": [
            {
                "name": "lock",
                "operation": "DEVICE_EVENT",
                "members": {"ConnectorDeviceId": "event.id"},
                "matterEndpoint": endpoint,
            }
        ],
    }


def endpoint_of(endpoint: dict[str, Any]) -> MatterEndpointMapping:
    profile: ConnectorProfile = parse_profile(document(endpoint))
    mapping = profile.rules[0].matter_endpoint
    assert mapping is not None
    return mapping


def problems(endpoint: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(ProfileError) as caught:
        parse_profile(document(endpoint))
    found: dict[str, list[str]] = {}
    for problem in caught.value.problems:
        assert not _TAG.search(problem.path), problem.path
        found.setdefault(problem.path, []).append(problem.rule)
    return found


def with_transform(transform: Any) -> dict[str, Any]:
    return {"set": [{"attribute": "ColorControl.CurrentX", "from": "event.colour", "transform": transform}]}


SET = "rules[0].matterEndpoint.set[0]"
FIELDS = "rules[0].matterEndpoint.events[0].fields"


# --- Literal values -----------------------------------------------------------------------------------------


def test_an_attribute_may_be_set_to_a_literal() -> None:
    (item,) = endpoint_of({"set": [{"attribute": "OnOff.OnOff", "value": True}]}).set
    assert (item.is_literal, item.value, item.from_) == (True, True, None)


def test_a_literal_null_is_a_value_of_its_own() -> None:
    (item,) = endpoint_of({"set": [{"attribute": "LevelControl.CurrentLevel", "value": None}]}).set
    assert item.is_literal and item.value is None


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        (
            {"attribute": "OnOff.OnOff", "value": True, "from": "event.on"},
            "choose exactly one of from and value",
        ),
        ({"attribute": "OnOff.OnOff"}, "choose exactly one of from and value"),
        (
            {"attribute": "OnOff.OnOff", "value": True, "transform": "not"},
            "a literal value takes no transform, clamp or required",
        ),
        ({"attribute": "OnOff.OnOff", "value": 1}, "OnOff.OnOff: the value must be true or false"),
        (
            {"attribute": "LevelControl.CurrentLevel", "value": 255},
            "LevelControl.CurrentLevel: the value must be 0..254",
        ),
        ({"attribute": "OnOff.StartUpOnOff", "value": None}, None),
        ({"attribute": "OnOff.OnOff", "value": None}, "OnOff.OnOff: the value must not be null"),
    ],
)
def test_a_literal_is_checked_against_its_attribute_as_the_profile_is_read(
    entry: dict[str, Any], rule: str | None
) -> None:
    if rule is None:
        assert endpoint_of({"set": [entry]}).set[0].is_literal
        return
    assert problems({"set": [entry]}) == {SET: [rule]}


# --- Matter event fields ------------------------------------------------------------------------------------


def test_an_event_takes_its_fields_from_values_and_literals() -> None:
    (event,) = endpoint_of(
        {
            "events": [
                {
                    "event": "DoorLock.LockOperation",
                    "fields": {
                        "LockOperationType": {"from": "event.action", "transform": {"map": {"locked": 0}}},
                        "OperationSource": {"value": 7},
                        "UserIndex": {"value": None},
                    },
                }
            ]
        }
    ).events
    assert list(event.fields) == ["LockOperationType", "OperationSource", "UserIndex"]
    assert event.target("OperationSource").hex_id == "0x0001"


def test_an_unknown_field_is_named_with_the_close_names_and_every_bad_one_is_listed() -> None:
    found = problems(
        {
            "events": [
                {
                    "event": "DoorLock.LockOperation",
                    "fields": {"OperationSrc": {"value": 7}, "OperationSource": {"value": 11}},
                }
            ]
        }
    )
    (rule,) = found[FIELDS]
    assert 'unknown field "OperationSrc" of "DoorLock.LockOperation" (did you mean OperationSource' in rule
    assert "OperationSource: the value must be one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10" in rule


def test_a_field_of_an_unknown_event_is_not_reported_twice() -> None:
    found = problems({"events": [{"event": "DoorLock.LockOp", "fields": {"X": {"value": 1}}}]})
    assert list(found) == ["rules[0].matterEndpoint.events[0].event"]


def test_a_field_value_needs_from_or_value() -> None:
    found = problems({"events": [{"event": "Switch.InitialPress", "fields": {"NewPosition": {}}}]})
    assert found == {f"{FIELDS}.NewPosition": ["choose exactly one of from and value"]}


# --- Transforms ---------------------------------------------------------------------------------------------


def test_colour_and_unit_from_transforms_are_read() -> None:
    colour = endpoint_of(with_transform({"colour": {"from": "rgb", "to": "x", "separator": ","}})).set[0]
    assert isinstance(colour.transform, ColourTransform) and colour.transform.colour.separator == ","
    units = endpoint_of(
        with_transform(
            {"unitFrom": "event.scale", "units": {"C": "celsiusToMatter", "F": ["fahrenheitToMatter"]}}
        )
    ).set[0]
    assert isinstance(units.transform, UnitFromTransform) and list(units.transform.units) == ["C", "F"]


@pytest.mark.parametrize(
    ("transform", "path", "rule"),
    [
        ({"colour": {"from": "rgb", "to": "z"}}, "transform.colour.to", "Input should be"),
        ({"colour": {"from": "hsv", "to": "x"}}, "transform.colour.from", "Input should be"),
        (
            {"colour": {"from": "hex", "to": "x", "separator": ","}},
            "transform.colour",
            "a separator belongs to",
        ),
        ({"unitFrom": "event.[", "units": {"C": "round"}}, "transform.unitFrom", "not a JMESPath expression"),
        ({"unitFrom": "event.scale", "units": {}}, "transform.units", "at least 1"),
        ({"map": [[0, "a"], [0.0, "b"]]}, "transform.map", "a key is listed twice"),
        ({"map": [[[0], "a"]]}, "transform.map", "entry 0: a key is text, a number, true, false or null"),
        ({"map": [[0, "a", "b"]]}, "transform.map", "entry 0 is not a [key, value] pair"),
        ({"map": []}, "transform.map", "a map has 1..256 entries"),
        (
            {"map": {"a": 1}, "default": 0, "unknown": "skip"},
            "transform",
            'choose default or "unknown": "skip"',
        ),
        ({"map": {"a": 1}, "unknown": "ignore"}, "transform.unknown", "Input should be"),
    ],
)
def test_a_transform_problem_is_named_by_its_path_in_the_document(
    transform: Any, path: str, rule: str
) -> None:
    found = problems(with_transform(transform))
    assert any(rule in text for text in found.get(f"{SET}.{path}", [])), found


def test_a_map_of_pairs_keeps_its_keys_types() -> None:
    transform = (
        endpoint_of(with_transform({"map": [[0, 1], [True, 2], ["0", 3], [None, 4]]})).set[0].transform
    )
    assert isinstance(transform, MapTransform) and transform.typed_keys
    assert transform.map == ((0, 1), (True, 2), ("0", 3), (None, 4))


def test_an_object_map_keeps_its_text_keys() -> None:
    transform = endpoint_of(with_transform({"map": {"0": 1}, "unknown": "skip"})).set[0].transform
    assert isinstance(transform, MapTransform) and not transform.typed_keys
    assert (transform.map, transform.unknown, transform.has_default) == ({"0": 1}, "skip", False)
