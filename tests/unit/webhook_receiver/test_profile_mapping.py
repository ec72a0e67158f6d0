"""A device cloud's own JSON to SendConnectorEvent bodies, as its profile declares: the events found, the rule
chosen, the Matter ids and values, the problems named, and what comes out checked by botocore's own
parameter validation for SendConnectorEvent and by the project's event models."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from iotbridge import matter
from iotbridge.profile.document import ConnectorProfile, parse_profile, parse_profile_json
from iotbridge.send_connector_event.body import wire_events
from iotbridge.webhook_receiver.domain.mapping import Mapped, MappingError, map_body, native_path

ROOT = Path(__file__).resolve().parents[3]
CONNECTOR_ID = "lumen-connector-1"
_CLIENT = botocore.session.get_session().create_client(
    "iot-managed-integrations", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
)
SEND_CONNECTOR_EVENT = _CLIENT.meta.service_model.operation_model("SendConnectorEvent").input_shape


def profile(*rules: dict[str, Any], **fields: Any) -> ConnectorProfile:
    return parse_profile(
        {
            "version": 1,
            "verification": {"scheme": "token", "header": "X-Token"},
            "deduplication": {"digest": True},
            "rules": list(rules),
            **fields,
        }
    )


def event_rule(name: str, *set_: dict[str, Any], when: str | None = None, **endpoint: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": name,
        "operation": "DEVICE_EVENT",
        "members": {"ConnectorDeviceId": "event.id"},
        "matterEndpoint": {"set": list(set_), **endpoint},
    }
    if when is not None:
        rule["when"] = when
    return rule


def sendable(mapped: Mapped) -> list[dict[str, Any]]:
    """The events of `mapped`, after checking each passes botocore's validation of SendConnectorEvent (with
    the ConnectorId the relay adds) and the project's own event models."""
    events = [item.event for item in mapped.events]
    for event in events:
        report = ParamValidator().validate({**event, "ConnectorId": CONNECTOR_ID}, SEND_CONNECTOR_EVENT)
        assert not report.has_errors(), report.generate_report()
    assert wire_events(copy.deepcopy(events), CONNECTOR_ID) == events
    return events


def mapping_problems(
    prof: ConnectorProfile, body: Any, headers: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    with pytest.raises(MappingError) as caught:
        map_body(prof, body, headers or {})
    return [(p.path, p.rule) for p in caught.value.problems]


def clusters(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {cluster["id"]: cluster for cluster in event["MatterEndpoint"]["clusters"]}


ON_OFF = {"attribute": "OnOff.OnOff", "from": "event.power", "transform": {"equals": "on"}}


# --- Finding the native events -----------------------------------------------------------------------------


def test_events_from_a_list_each_with_its_place_in_the_body() -> None:
    prof = profile(event_rule("state", ON_OFF), events="body.devices")
    body = {"devices": [{"id": "lamp-1", "power": "on"}, {"id": "lamp-2", "power": "off"}]}
    mapped = map_body(prof, body, {})
    assert [(item.rule, item.source) for item in mapped.events] == [
        ("state", "body.devices[0]"),
        ("state", "body.devices[1]"),
    ]
    events = sendable(mapped)
    assert [e["ConnectorDeviceId"] for e in events] == ["lamp-1", "lamp-2"]
    assert [clusters(e)["0x0006"]["attributes"] for e in events] == [{"0x0000": True}, {"0x0000": False}]
    assert mapped.ignored == 0


def test_one_object_is_one_event_by_default() -> None:
    mapped = map_body(profile(event_rule("state", ON_OFF)), {"id": "lamp-1", "power": "on"}, {})
    assert [(item.rule, item.source) for item in mapped.events] == [("state", "body")]
    assert sendable(mapped)[0] == {
        "Operation": "DEVICE_EVENT",
        "ConnectorDeviceId": "lamp-1",
        "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x0006", "attributes": {"0x0000": True}}]},
    }


@pytest.mark.parametrize(
    ("body", "sources"),
    [
        (
            {"readings": [{"id": "a", "power": "on"}, {"id": "b", "power": "on"}]},
            ["body.readings[0]", "body.readings[1]"],
        ),
        ({"id": "a", "power": "on"}, ["body"]),
    ],
    ids=["list", "single"],
)
def test_an_expression_that_builds_its_list_still_names_where_each_event_is(
    body: Any, sources: list[str]
) -> None:
    prof = profile(event_rule("state", ON_OFF), events="body.readings || [body]")
    assert [item.source for item in map_body(prof, body, {}).events] == sources


def test_a_filtered_list_names_each_event_where_it_is() -> None:
    prof = profile(event_rule("state", ON_OFF), events="body.items[?kind == 'lamp']")
    body = {
        "items": [{"kind": "hub"}, {"kind": "lamp", "id": "a", "power": "on"}, {"kind": "lamp", "id": "b"}]
    }
    assert [item.source for item in map_body(prof, body, {}).events] == ["body.items[1]", "body.items[2]"]


@pytest.mark.parametrize("body", [{"devices": "lamp"}, {"devices": 3}, {}])
def test_an_events_expression_that_finds_no_object_or_list_is_a_problem(body: Any) -> None:
    prof = profile(event_rule("state", ON_OFF), events="body.devices")
    assert mapping_problems(prof, body) == [("", "the profile's events expression finds no object or list")]


def test_an_empty_list_maps_to_no_events() -> None:
    prof = profile(event_rule("state", ON_OFF), events="body.devices")
    assert map_body(prof, {"devices": []}, {}) == Mapped([], 0)


# --- Choosing a rule ---------------------------------------------------------------------------------------


def test_the_first_matching_rule_wins() -> None:
    prof = profile(
        event_rule("lamp", ON_OFF, when="event.kind == 'lamp'"),
        event_rule("any-device", ON_OFF, when="event.id"),
        event_rule("fallback", ON_OFF),
        events="body",
    )
    body = [
        {"kind": "lamp", "id": "a", "power": "on"},
        {"kind": "plug", "id": "b", "power": "on"},
        {"power": "on"},
    ]
    assert [item.rule for item in map_body(prof, body, {}).events] == ["lamp", "any-device", "fallback"]


@pytest.mark.parametrize(
    ("value", "matches"),
    [
        (0, True),
        (0.0, True),
        ("0", True),
        ([0], True),
        (False, False),
        (None, False),
        ("", False),
        ([], False),
        ({}, False),
    ],
)
def test_when_follows_jmespath_truth(value: Any, matches: bool) -> None:
    prof = profile(
        event_rule("flagged", ON_OFF, when="event.flag"), event_rule("other", ON_OFF), events="body.devices"
    )
    body = {"devices": [{"id": "a", "power": "on", "flag": value}]}
    assert map_body(prof, body, {}).events[0].rule == ("flagged" if matches else "other")


def test_unmatched_events_are_ignored_and_counted_when_the_profile_says_so() -> None:
    prof = profile(
        event_rule("lamp", ON_OFF, when="event.kind == 'lamp'"), events="body.devices", unmatched="ignore"
    )
    body = {"devices": [{"kind": "heartbeat"}, {"kind": "lamp", "id": "a", "power": "on"}, {"kind": "other"}]}
    mapped = map_body(prof, body, {})
    assert [item.source for item in mapped.events] == ["body.devices[1]"]
    assert mapped.ignored == 2
    sendable(mapped)


def test_unmatched_events_are_problems_naming_their_native_path_by_default() -> None:
    prof = profile(event_rule("lamp", ON_OFF, when="event.kind == 'lamp'"), events="body.devices")
    body = {"devices": [{"kind": "lamp", "id": "a", "power": "on"}, {"kind": "heartbeat"}, {"kind": "other"}]}
    assert mapping_problems(prof, body) == [
        ("devices[1]", "no rule of the profile matches it"),
        ("devices[2]", "no rule of the profile matches it"),
    ]


def test_a_single_unmatched_body_names_the_whole_body() -> None:
    prof = profile(event_rule("lamp", ON_OFF, when="event.kind == 'lamp'"))
    with pytest.raises(MappingError) as caught:
        map_body(prof, {"kind": "other"}, {})
    assert caught.value.descriptions() == ["(body): no rule of the profile matches it"]


# --- Matter attributes -------------------------------------------------------------------------------------

LIGHT = event_rule(
    "light",
    ON_OFF,
    {"attribute": "LevelControl.CurrentLevel", "from": "event.brightness", "transform": "percentToLevel"},
    {
        "attribute": "ColorControl.ColorTemperatureMireds",
        "from": "event.kelvin",
        "transform": "kelvinToMireds",
    },
    when="event.kind == 'light'",
)
SENSOR = event_rule(
    "sensor",
    {
        "attribute": "TemperatureMeasurement.MeasuredValue",
        "from": "event.fahrenheit",
        "transform": "fahrenheitToMatter",
    },
    {
        "attribute": "RelativeHumidityMeasurement.MeasuredValue",
        "from": "event.humidity",
        "transform": "percentToHumidity",
    },
    {
        "attribute": "PowerSource.BatPercentRemaining",
        "from": "event.battery",
        "transform": "percentToBattery",
    },
    {
        "attribute": "BooleanState.StateValue",
        "from": "event.contact",
        "transform": {"map": {"closed": True, "open": False}},
    },
    {
        "attribute": "OccupancySensing.Occupancy",
        "from": "event.motion",
        "transform": {"map": {"true": 1, "false": 0}},
    },
    when="event.kind == 'sensor'",
)
READINGS = {
    "devices": [
        {"kind": "light", "id": "lamp-1", "power": "on", "brightness": 40, "kelvin": 2700},
        {
            "kind": "sensor",
            "id": "sensor-1",
            "fahrenheit": 71.6,
            "humidity": 43.5,
            "battery": 88,
            "contact": "closed",
            "motion": True,
        },
    ]
}


def test_attribute_values_are_converted_and_put_under_hex_ids() -> None:
    events = sendable(map_body(profile(LIGHT, SENSOR, events="body.devices"), READINGS, {}))
    light, sensor = (clusters(event) for event in events)
    assert light == {
        "0x0006": {"id": "0x0006", "attributes": {"0x0000": True}},  # OnOff.OnOff
        "0x0008": {"id": "0x0008", "attributes": {"0x0000": 102}},  # LevelControl.CurrentLevel, 40 %
        "0x0300": {
            "id": "0x0300",
            "attributes": {"0x0007": 370},
        },  # ColorControl.ColorTemperatureMireds, 2700 K
    }
    assert sensor == {
        "0x0402": {"id": "0x0402", "attributes": {"0x0000": 2200}},  # 71.6 °F = 22.00 °C
        "0x0405": {"id": "0x0405", "attributes": {"0x0000": 4350}},  # 43.5 %
        "0x002F": {
            "id": "0x002F",
            "attributes": {"0x000C": 176},
        },  # BatPercentRemaining, 88 % in half-percents
        "0x0045": {"id": "0x0045", "attributes": {"0x0000": True}},  # BooleanState.StateValue
        "0x0406": {"id": "0x0406", "attributes": {"0x0000": 1}},  # OccupancySensing.Occupancy
    }


def test_attributes_of_one_cluster_share_it() -> None:
    rule = event_rule(
        "levels",
        {"attribute": "LevelControl.CurrentLevel", "from": "event.level"},
        {"attribute": "LevelControl.OnLevel", "from": "event.onLevel"},
    )
    events = sendable(map_body(profile(rule), {"id": "a", "level": 10, "onLevel": 200}, {}))
    assert events[0]["MatterEndpoint"]["clusters"] == [
        {"id": "0x0008", "attributes": {"0x0000": 10, "0x0011": 200}}
    ]


def test_attribute_form_list_writes_one_key_objects() -> None:
    prof = profile(LIGHT, SENSOR, events="body.devices", attributeForm="list")
    light = clusters(sendable(map_body(prof, READINGS, {}))[0])
    assert light["0x0006"]["attributes"] == [{"0x0000": True}]
    assert light["0x0008"]["attributes"] == [{"0x0000": 102}]


def test_a_whole_number_written_as_a_float_is_sent_as_an_integer() -> None:
    rule = event_rule("level", {"attribute": "LevelControl.CurrentLevel", "from": "event.level"})
    value = sendable(map_body(profile(rule), {"id": "a", "level": 120.0}, {}))[0]["MatterEndpoint"]
    assert value["clusters"][0]["attributes"]["0x0000"] == 120
    assert type(value["clusters"][0]["attributes"]["0x0000"]) is int


def test_a_missing_optional_attribute_is_left_out() -> None:
    events = sendable(map_body(profile(LIGHT), {"kind": "light", "id": "lamp-1", "power": "off"}, {}))
    assert list(clusters(events[0])) == ["0x0006"]


def test_an_endpoint_without_attributes_has_no_clusters_member() -> None:
    rule = event_rule("bare", {"attribute": "OnOff.OnOff", "from": "event.power"}, endpoint="EP2")
    rule["operation"] = "DEVICE_COMMAND_REQUEST"
    assert sendable(map_body(profile(rule), {"id": "a"}, {}))[0]["MatterEndpoint"] == {"id": "EP2"}


def test_a_missing_required_attribute_is_a_problem() -> None:
    rule = event_rule("state", {**ON_OFF, "required": True})
    assert mapping_problems(profile(rule, events="body.devices"), {"devices": [{"id": "a"}]}) == [
        ("devices[0].power", "rule state: OnOff.OnOff is required and missing")
    ]


OUT_OF_RANGE = [
    ("TemperatureMeasurement.MeasuredValue", "celsiusToMatter", 987.65, "must be -27315..32767", 32767),
    ("TemperatureMeasurement.MeasuredValue", "celsiusToMatter", -987.65, "must be -27315..32767", -27315),
    ("LevelControl.CurrentLevel", None, 98765, "must be 0..254", 254),
    ("PowerSource.BatPercentRemaining", "percentToBattery", 123.45, "must be 0..200", 200),
    ("ColorControl.ColorTemperatureMireds", "kelvinToMireds", 0.98765, "must be 1..65279", 65279),
    ("RelativeHumidityMeasurement.MeasuredValue", "percentToHumidity", 987.65, "must be 0..10000", 10000),
]


@pytest.mark.parametrize(("attribute", "transform", "native", "rule", "clamped"), OUT_OF_RANGE)
def test_an_out_of_range_value_is_a_problem_naming_rule_and_path_never_the_value(
    attribute: str, transform: str | None, native: float, rule: str, clamped: int
) -> None:
    set_ = {"attribute": attribute, "from": "event.reading.value", "transform": transform}
    prof = profile(event_rule("reading", set_), events="body.devices")
    body = {"devices": [{"id": "ok", "reading": {"value": 50}}, {"id": "hot", "reading": {"value": native}}]}
    with pytest.raises(MappingError) as caught:
        map_body(prof, body, {})
    found = caught.value.problems
    assert [(p.path, p.rule) for p in found] == [
        ("devices[1].reading.value", f"rule reading: {attribute} {rule}")
    ]
    converted = matter_value_of(transform, native)
    for text in {repr(native), str(native), str(abs(native)), str(converted), str(abs(converted))}:
        assert all(text not in p.path and text not in p.rule for p in found), text
        assert text not in str(caught.value)


def matter_value_of(transform: str | None, native: float) -> int:
    from iotbridge.webhook_receiver.domain.transforms import NAMED

    return int(native) if transform is None else int(NAMED[transform](native))


@pytest.mark.parametrize(("attribute", "transform", "native", "rule", "clamped"), OUT_OF_RANGE)
def test_clamp_puts_an_out_of_range_value_into_the_attributes_range(
    attribute: str, transform: str | None, native: float, rule: str, clamped: int
) -> None:
    set_ = {"attribute": attribute, "from": "event.value", "transform": transform, "clamp": True}
    event = sendable(map_body(profile(event_rule("reading", set_)), {"id": "a", "value": native}, {}))[0]
    cluster_id, attribute_id = (spec.hex_id for spec in matter.attribute(attribute))
    assert clusters(event)[cluster_id]["attributes"] == {attribute_id: clamped}


def test_clamp_rounds_a_fraction_before_checking() -> None:
    set_ = {"attribute": "LevelControl.CurrentLevel", "from": "event.value", "clamp": True}
    event = sendable(map_body(profile(event_rule("r", set_)), {"id": "a", "value": 100.5}, {}))[0]
    assert clusters(event)["0x0008"]["attributes"] == {"0x0000": 101}


def test_a_fraction_is_a_problem_without_clamp() -> None:
    set_ = {"attribute": "LevelControl.CurrentLevel", "from": "event.value"}
    assert mapping_problems(profile(event_rule("r", set_)), {"id": "a", "value": 100.5}) == [
        ("value", "rule r: LevelControl.CurrentLevel must be a whole number")
    ]


@pytest.mark.parametrize(
    ("attribute", "native", "rule"),
    [
        ("OnOff.OnOff", 1, "must be true or false"),
        ("BasicInformation.NodeLabel", 5, "must be a string"),
        ("LevelControl.CurrentLevel", math.nan, "must be a whole number"),
    ],
    ids=["bool-attribute", "string-attribute", "nan"],
)
def test_clamp_leaves_what_is_not_a_number_for_a_range_to_the_attributes_check(
    attribute: str, native: Any, rule: str
) -> None:
    set_ = {"attribute": attribute, "from": "event.value", "clamp": True}
    assert mapping_problems(profile(event_rule("r", set_)), {"id": "a", "value": native}) == [
        ("value", f"rule r: {attribute} {rule}")
    ]


def test_a_value_a_transform_cannot_take_is_a_problem_naming_the_path() -> None:
    set_ = {
        "attribute": "ColorControl.ColorTemperatureMireds",
        "from": "event.k",
        "transform": "kelvinToMireds",
    }
    found = mapping_problems(profile(event_rule("r", set_)), {"id": "a", "k": "warm-98765"})
    assert found == [("k", "rule r: ColorControl.ColorTemperatureMireds must be a number")]


def test_a_null_into_a_nullable_attribute_is_kept() -> None:
    set_ = {
        "attribute": "LevelControl.CurrentLevel",
        "from": "event.level",
        "transform": {"map": {"off": None}},
    }
    event = sendable(map_body(profile(event_rule("r", set_)), {"id": "a", "level": "off"}, {}))[0]
    assert clusters(event)["0x0008"]["attributes"] == {"0x0000": None}


def test_a_null_into_an_attribute_that_is_not_nullable_is_a_problem() -> None:
    set_ = {
        "attribute": "OnOff.OnOff",
        "from": "event.power",
        "transform": {"map": {"on": True}, "default": None},
    }
    assert mapping_problems(profile(event_rule("r", set_)), {"id": "a", "power": "dim"}) == [
        ("power", "rule r: OnOff.OnOff must not be null")
    ]


# --- Commands and events -----------------------------------------------------------------------------------


def response_rule(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "result",
        "operation": "DEVICE_COMMAND_RESPONSE",
        "members": {"ConnectorDeviceId": "event.id", "TraceId": "event.traceId"},
        "matterEndpoint": endpoint,
    }


def test_a_fixed_command_is_reported_under_its_cluster() -> None:
    prof = profile(response_rule({"commands": [{"command": "OnOff.On"}]}))
    event = sendable(map_body(prof, {"id": "a", "traceId": "trace-1"}, {}))[0]
    assert event["MatterEndpoint"]["clusters"] == [{"id": "0x0006", "commands": {"0x01": {}}}]
    assert event["TraceId"] == "trace-1"


@pytest.mark.parametrize(
    ("native", "cluster", "command"),
    [
        ("turnOff", "0x0006", "0x00"),
        ("toggle", "0x0006", "0x02"),
        ("setLevel", "0x0008", "0x04"),
        (7, "0x0300", "0x0A"),
    ],
)
def test_a_mapped_command_is_looked_up_from_the_native_value(native: Any, cluster: str, command: str) -> None:
    commands = {
        "from": "event.command",
        "map": {
            "turnOff": "OnOff.Off",
            "toggle": "OnOff.Toggle",
            "setLevel": "LevelControl.MoveToLevelWithOnOff",
            "7": "ColorControl.MoveToColorTemperature",
        },
    }
    prof = profile(response_rule({"commands": [commands]}))
    event = sendable(map_body(prof, {"id": "a", "traceId": "t-1", "command": native}, {}))[0]
    assert clusters(event)[cluster]["commands"] == {command: {}}


def test_a_native_command_without_a_map_entry_is_a_problem() -> None:
    prof = profile(response_rule({"commands": [{"from": "event.command", "map": {"on": "OnOff.On"}}]}))
    assert mapping_problems(prof, {"id": "a", "traceId": "t-1", "command": "explode"}) == [
        ("command", "rule result: the command has no entry in the map")
    ]


def test_a_command_and_attributes_of_one_cluster_share_it() -> None:
    endpoint = {"set": [ON_OFF], "commands": [{"command": "OnOff.Toggle"}]}
    event = sendable(
        map_body(profile(response_rule(endpoint)), {"id": "a", "traceId": "t", "power": "on"}, {})
    )[0]
    assert event["MatterEndpoint"]["clusters"] == [
        {"id": "0x0006", "attributes": {"0x0000": True}, "commands": {"0x02": {}}}
    ]


def test_events_are_reported_when_their_condition_holds() -> None:
    rule = event_rule(
        "button",
        events=[
            {"event": "Switch.InitialPress", "when": "event.action == 'press'"},
            {"event": "Switch.LongPress", "when": "event.action == 'hold'"},
            {"event": "BooleanState.StateChange"},
        ],
    )
    event = sendable(map_body(profile(rule), {"id": "button-1", "action": "press"}, {}))[0]
    assert event["MatterEndpoint"]["clusters"] == [
        {"id": "0x003B", "events": {"0x01": {}}},
        {"id": "0x0045", "events": {"0x00": {}}},
    ]


# --- Discovery ---------------------------------------------------------------------------------------------


def discovery_rule(**devices: Any) -> dict[str, Any]:
    return {
        "name": "discovery",
        "operation": "DEVICE_DISCOVERY",
        "members": {"DeviceDiscoveryId": "event.discoveryId", "StatusCode": {"value": 200}},
        "devices": {
            "from": "event.devices",
            "connectorDeviceId": "device.id",
            "name": "device.name",
            "deviceType": {
                "from": "device.model",
                "map": {"LB-10": "DimmableLight", "CS-1": "ContactSensor"},
            },
            "addClusters": {"from": "device.features", "map": {"battery": "PowerSource"}},
            **devices,
        },
    }


DISCOVERY_BODY = {
    "discoveryId": "disc01",
    "devices": [
        {"id": "lamp-1", "name": "Hall lamp", "model": "LB-10"},
        {"id": "door-1", "name": "Back door", "model": "CS-1", "features": ["battery", "unknown-feature"]},
    ],
}


def test_discovery_reports_each_device_with_its_device_types_required_clusters() -> None:
    event = sendable(map_body(profile(discovery_rule()), DISCOVERY_BODY, {}))[0]
    assert (event["Operation"], event["DeviceDiscoveryId"], event["StatusCode"]) == (
        "DEVICE_DISCOVERY",
        "disc01",
        200,
    )
    lamp, door = event["Devices"]
    assert (lamp["ConnectorDeviceId"], lamp["ConnectorDeviceName"]) == ("lamp-1", "Hall lamp")
    (lamp_endpoint,) = lamp["CapabilityReport"]["endpoints"]
    assert lamp["CapabilityReport"]["version"] == "1.0.0"
    assert lamp_endpoint["id"] == "1"
    assert lamp_endpoint["deviceTypes"] == ["0x0101"]  # DimmableLight
    assert [c["id"] for c in lamp_endpoint["clusters"]] == ["0x0006", "0x0008"]  # OnOff, LevelControl
    (door_endpoint,) = door["CapabilityReport"]["endpoints"]
    assert door_endpoint["deviceTypes"] == ["0x0015"]  # ContactSensor
    assert [c["id"] for c in door_endpoint["clusters"]] == ["0x0045", "0x002F"]  # BooleanState, + PowerSource


def test_a_reported_cluster_lists_its_revision_mandatory_attributes_commands_and_events() -> None:
    event = sendable(map_body(profile(discovery_rule()), DISCOVERY_BODY, {}))[0]
    on_off = event["Devices"][0]["CapabilityReport"]["endpoints"][0]["clusters"][0]
    assert on_off["revision"] == 6
    assert on_off["attributes"] == [{"id": "0x0000", "name": "OnOff"}]
    assert {"0x00", "0x01", "0x02"} <= set(on_off["commands"])
    boolean_state = event["Devices"][1]["CapabilityReport"]["endpoints"][0]["clusters"][0]
    assert boolean_state["events"] == ["0x00"]


def test_a_fixed_device_type_and_endpoint() -> None:
    rule = discovery_rule(deviceType="OnOffPlugInUnit", endpoint="EP1")
    event = sendable(map_body(profile(rule), DISCOVERY_BODY, {}))[0]
    for device in event["Devices"]:
        (endpoint,) = device["CapabilityReport"]["endpoints"]
        assert (endpoint["id"], endpoint["deviceTypes"]) == ("EP1", ["0x010A"])


def test_an_added_cluster_the_device_type_already_has_is_listed_once() -> None:
    rule = discovery_rule(addClusters={"from": "device.features", "map": {"dimming": "LevelControl"}})
    body = {"discoveryId": "d1", "devices": [{"id": "lamp-1", "model": "LB-10", "features": ["dimming"]}]}
    endpoint = sendable(map_body(profile(rule), body, {}))[0]["Devices"][0]["CapabilityReport"]["endpoints"][
        0
    ]
    assert [c["id"] for c in endpoint["clusters"]] == ["0x0006", "0x0008"]


def test_device_problems_name_the_device_in_the_native_body() -> None:
    # GIVEN a discovery whose devices break the rule in different ways
    body = {
        "discoveryId": "d1",
        "devices": [
            {"id": "lamp-1", "model": "LB-10"},
            {"id": 42, "model": "LB-10"},
            {"id": "thing-1", "model": "ZZ-9"},
            {"id": "lamp-2", "model": "LB-10", "features": "battery"},
        ],
    }

    # WHEN it is mapped, THEN each problem names the device's own place in the native body
    assert mapping_problems(profile(discovery_rule()), body) == [
        ("devices[1].id", "rule discovery: ConnectorDeviceId must be text"),
        ("devices[2].model", "rule discovery: the device type has no entry in the map"),
        ("devices[3].features", "rule discovery: added clusters must come from a list"),
    ]


def test_devices_of_an_event_in_a_list_are_named_under_that_event() -> None:
    prof = profile(discovery_rule(), events="body.results")
    body = {"results": [{"discoveryId": "d1", "devices": [{"id": "x", "model": "ZZ-9"}]}]}
    assert mapping_problems(prof, body) == [
        ("results[0].devices[0].model", "rule discovery: the device type has no entry in the map")
    ]


def test_devices_that_are_not_a_list_are_a_problem() -> None:
    assert mapping_problems(profile(discovery_rule()), {"discoveryId": "d1", "devices": {"id": "x"}}) == [
        ("devices", "rule discovery: devices must be a list")
    ]


# --- Members -----------------------------------------------------------------------------------------------


def test_members_from_expressions_literals_transforms_templates_and_headers() -> None:
    # GIVEN a rule whose members come from each kind of source
    rule = response_rule({"set": [ON_OFF]})
    rule["members"] = {
        "ConnectorDeviceId": "event.id",
        "TraceId": "event.traceId",
        "UserId": 'headers."x-account"',
        "OperationVersion": {"value": "1.0"},
        "StatusCode": {"from": "event.result", "transform": {"map": {"ok": 200}, "default": 500}},
        "Message": {"template": "lumen://{event.id}/state/{event.seq}/{event.on}"},
    }
    body = {"id": "lamp-1", "traceId": "t-1", "power": "on", "result": "odd", "seq": 3.0, "on": True}

    # WHEN a body and its headers are mapped
    event = sendable(map_body(profile(rule), body, {"x-account": "acct-9"}))[0]

    # THEN each member holds what its source gave
    assert {key: value for key, value in event.items() if key != "MatterEndpoint"} == {
        "Operation": "DEVICE_COMMAND_RESPONSE",
        "ConnectorDeviceId": "lamp-1",
        "TraceId": "t-1",
        "UserId": "acct-9",
        "OperationVersion": "1.0",
        "StatusCode": 500,
        "Message": "lumen://lamp-1/state/3/true",
    }


def test_a_member_whose_expression_finds_nothing_is_left_out() -> None:
    rule = response_rule({"set": [ON_OFF]})
    rule["members"] = {**rule["members"], "UserId": "body.account", "StatusCode": {"from": "event.missing"}}
    event = sendable(map_body(profile(rule), {"id": "a", "traceId": "t", "power": "on"}, {}))[0]
    assert "UserId" not in event
    assert "StatusCode" not in event


@pytest.mark.parametrize("value", [None, {"nested": 1}, [1]], ids=["missing", "object", "list"])
def test_a_template_needs_text_or_a_number_in_each_placeholder(value: Any) -> None:
    rule = response_rule({"set": []})
    rule["members"] = {**rule["members"], "Message": {"template": "x/{event.detail.code}"}}
    body: dict[str, Any] = {"id": "a", "traceId": "t", "detail": {}}
    if value is not None:
        body["detail"]["code"] = value
    assert mapping_problems(profile(rule), body) == [
        ("detail.code", "rule result: Message needs a text or number here")
    ]


def test_a_member_transform_error_names_the_member_and_path() -> None:
    rule = response_rule({"set": []})
    rule["members"] = {
        **rule["members"],
        "StatusCode": {"from": "event.result", "transform": {"map": {"ok": 200}}},
    }
    assert mapping_problems(profile(rule), {"id": "a", "traceId": "t", "result": "private-98765"}) == [
        ("result", "rule result: StatusCode has no entry in the map")
    ]


# --- Several problems, and the samples ---------------------------------------------------------------------


def test_every_problem_of_every_event_is_listed_and_nothing_is_mapped() -> None:
    # GIVEN a body with several broken events and one no rule matches
    prof = profile(LIGHT, SENSOR, events="body.devices")
    body = {
        "devices": [
            {"kind": "light", "id": "lamp-1", "power": "on", "brightness": 400, "kelvin": 0},
            {"kind": "light", "id": "lamp-2", "power": "on"},
            {"kind": "sensor", "id": "s-1", "battery": 150, "motion": "maybe"},
            {"kind": "unknown"},
        ]
    }

    # WHEN it is mapped, THEN every problem is listed with its native path
    assert mapping_problems(prof, body) == [
        ("devices[0].brightness", "rule light: LevelControl.CurrentLevel must be 0..254"),
        (
            "devices[0].kelvin",
            "rule light: ColorControl.ColorTemperatureMireds must be a positive number of kelvin",
        ),
        ("devices[2].battery", "rule sensor: PowerSource.BatPercentRemaining must be 0..200"),
        ("devices[2].motion", "rule sensor: OccupancySensing.Occupancy has no entry in the map"),
        ("devices[3]", "no rule of the profile matches it"),
    ]


def test_mapping_errors_read_as_a_native_body_problem_list() -> None:
    prof = profile(event_rule("state", {**ON_OFF, "required": True}))
    with pytest.raises(MappingError) as caught:
        map_body(prof, {"id": "a"}, {})
    assert str(caught.value).startswith("invalid native body (1 problem):")
    assert caught.value.descriptions() == ["power: rule state: OnOff.OnOff is required and missing"]


@pytest.mark.parametrize(
    ("source", "expression", "path"),
    [
        ("body", "event.a.b", "a.b"),
        ("body.devices[2]", "event.state.power", "devices[2].state.power"),
        ("body.devices[2]", "event", "devices[2]"),
        ("body.devices[2]", "body.account", "account"),
        ("devices[0]", "device.model", "devices[0].model"),
        ("body", "headers.x", "headers.x"),
    ],
)
def test_native_path_joins_the_rule_source_and_the_expression(
    source: str, expression: str, path: str
) -> None:
    assert native_path(source, expression) == path


SAMPLES = [
    ("lumen-home", "state"),
    ("lumen-home", "command-result"),
    ("lumen-home", "discovery"),
    ("aerie-sensors", "readings"),
    ("aerie-sensors", "discovery"),
]


@pytest.mark.parametrize(("name", "sample"), SAMPLES)
def test_the_sample_profiles_map_their_sample_bodies_to_sendable_events(name: str, sample: str) -> None:
    prof = parse_profile_json((ROOT / "events" / "profiles" / f"{name}.json").read_bytes())
    body = json.loads((ROOT / "events" / "profiles" / name / f"{sample}.json").read_text())
    mapped = map_body(prof, body, {})
    assert mapped.events
    sendable(mapped)


def test_the_out_of_range_sample_is_refused_without_quoting_its_value() -> None:
    prof = parse_profile_json((ROOT / "events" / "profiles" / "lumen-home.json").read_bytes())
    body = json.loads((ROOT / "events" / "profiles" / "lumen-home" / "out-of-range.json").read_text())
    with pytest.raises(MappingError) as caught:
        map_body(prof, body, {})
    assert [p.path for p in caught.value.problems] == ["events[0].state.brightness"]
    brightness = body["events"][0]["state"]["brightness"]
    level = round(brightness * 254 / 100)
    assert level > 254
    for text in (str(brightness), str(level)):
        assert text not in str(caught.value)
