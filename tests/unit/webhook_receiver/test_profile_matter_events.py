"""Mapping Matter events with fields, literal attribute values, colours and units, and values a map leaves
out (`"unknown": "skip"`): the SendConnectorEvent bodies that come out, checked by botocore's validation of
SendConnectorEvent and the project's event models, and the problems and skips reported."""

from __future__ import annotations

import copy
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from iotbridge.profile.document import ConnectorProfile, parse_profile
from iotbridge.send_connector_event.body import wire_events
from iotbridge.webhook_receiver.domain.mapping import Mapped, MappingError, map_body

CONNECTOR_ID = "lock-connector-1"
_CLIENT = botocore.session.get_session().create_client(
    "iot-managed-integrations", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
)
SEND_CONNECTOR_EVENT = _CLIENT.meta.service_model.operation_model("SendConnectorEvent").input_shape

DOOR_LOCK = "0x0101"
LOCK_OPERATION = "0x02"


def profile(endpoint: dict[str, Any], **rule: Any) -> ConnectorProfile:
    return parse_profile(
        {
            "version": 1,
            "verification": {"scheme": "token", "header": "X-Token"},
            "deduplication": {"digest": True},
            "events": "body.events",
            "rules": [
                {
                    "name": "lock",
                    "operation": "DEVICE_EVENT",
                    "members": {"ConnectorDeviceId": "event.id"},
                    "matterEndpoint": endpoint,
                    **rule,
                }
            ],
        }
    )


def sendable(mapped: Mapped) -> list[dict[str, Any]]:
    """The events of `mapped`, each checked by botocore's validation of SendConnectorEvent (with the
    ConnectorId the relay adds) and by the project's own event models."""
    events = [item.event for item in mapped.events]
    for event in events:
        report = ParamValidator().validate({**event, "ConnectorId": CONNECTOR_ID}, SEND_CONNECTOR_EVENT)
        assert not report.has_errors(), report.generate_report()
    assert wire_events(copy.deepcopy(events), CONNECTOR_ID) == events
    return events


def clusters(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {cluster["id"]: cluster for cluster in event["MatterEndpoint"]["clusters"]}


def problems(prof: ConnectorProfile, body: Any) -> list[tuple[str, str]]:
    with pytest.raises(MappingError) as caught:
        map_body(prof, body, {})
    return [(p.path, p.rule) for p in caught.value.problems]


LOCK_EVENTS: dict[str, Any] = {
    "events": [
        {
            "event": "DoorLock.LockOperation",
            "fields": {
                "LockOperationType": {
                    "from": "event.action",
                    "transform": {"map": {"locked": 0, "unlocked": 1}},
                },
                "OperationSource": {"from": "event.via", "transform": {"map": [["app", 7], ["keypad", 3]]}},
                "UserIndex": {"value": None},
            },
        }
    ]
}


# --- Events with fields -------------------------------------------------------------------------------------


def test_an_events_fields_are_sent_under_their_ids() -> None:
    mapped = map_body(
        profile(LOCK_EVENTS), {"events": [{"id": "lock-1", "action": "unlocked", "via": "app"}]}, {}
    )

    (event,) = sendable(mapped)
    assert clusters(event)[DOOR_LOCK] == {
        "id": DOOR_LOCK,
        "events": {LOCK_OPERATION: {"0x0000": 1, "0x0001": 7, "0x0002": None}},
    }


def test_a_field_whose_value_is_missing_is_left_out_of_the_event() -> None:
    mapped = map_body(profile(LOCK_EVENTS), {"events": [{"id": "lock-1", "action": "locked"}]}, {})
    (event,) = sendable(mapped)
    assert clusters(event)[DOOR_LOCK]["events"][LOCK_OPERATION] == {"0x0000": 0, "0x0002": None}


def test_an_event_without_fields_is_still_an_empty_object() -> None:
    mapped = map_body(
        profile({"events": [{"event": "Switch.InitialPress"}]}), {"events": [{"id": "b-1"}]}, {}
    )
    (event,) = sendable(mapped)
    assert clusters(event)["0x003B"]["events"] == {"0x01": {}}


def test_a_field_value_outside_its_enum_is_a_problem_naming_rule_field_and_path() -> None:
    # GIVEN a lock whose cloud reports a source the map turns into a value the enum does not have
    endpoint = copy.deepcopy(LOCK_EVENTS)
    endpoint["events"][0]["fields"]["OperationSource"] = {"from": "event.via"}
    # WHEN its event is mapped
    found = problems(profile(endpoint), {"events": [{"id": "lock-1", "action": "locked", "via": 11}]})
    # THEN the problem names the field and where its value is, never the value
    assert found == [
        (
            "events[0].via",
            "rule lock: DoorLock.LockOperation.OperationSource must be one of "
            + ", ".join(map(str, range(11))),
        )
    ]


def test_a_required_field_that_is_missing_is_a_problem() -> None:
    endpoint = {
        "events": [
            {
                "event": "Switch.MultiPressComplete",
                "fields": {"TotalNumberOfPressesCounted": {"from": "event.n", "required": True}},
            }
        ]
    }
    found = problems(profile(endpoint), {"events": [{"id": "b-1"}]})
    assert found == [
        (
            "events[0].n",
            "rule lock: Switch.MultiPressComplete.TotalNumberOfPressesCounted is required and missing",
        )
    ]


# --- Literal attribute values, colours, units ---------------------------------------------------------------


def test_a_literal_attribute_value_is_set_whatever_the_event_says() -> None:
    endpoint = {
        "set": [
            {"attribute": "OnOff.OnOff", "value": True},
            {"attribute": "LevelControl.CurrentLevel", "value": None},
        ]
    }
    mapped = map_body(profile(endpoint), {"events": [{"id": "lamp-1"}]}, {})
    (event,) = sendable(mapped)
    assert clusters(event)["0x0006"]["attributes"] == {"0x0000": True}
    assert clusters(event)["0x0008"]["attributes"] == {"0x0000": None}


def test_a_switchbot_colour_becomes_colorcontrol_x_and_y() -> None:
    endpoint = {
        "set": [
            {
                "attribute": "ColorControl.CurrentX",
                "from": "event.color",
                "transform": {"colour": {"from": "rgb", "to": "x"}},
            },
            {
                "attribute": "ColorControl.CurrentY",
                "from": "event.color",
                "transform": {"colour": {"from": "rgb", "to": "y"}},
            },
        ]
    }
    mapped = map_body(profile(endpoint), {"events": [{"id": "bulb-1", "color": "255:0:0"}]}, {})
    (event,) = sendable(mapped)
    x, y = (clusters(event)["0x0300"]["attributes"][key] for key in ("0x0003", "0x0004"))
    assert x / 65536 == pytest.approx(0.64, abs=0.0005) and y / 65536 == pytest.approx(0.33, abs=0.0005)


UNITS: dict[str, Any] = {
    "set": [
        {
            "attribute": "TemperatureMeasurement.MeasuredValue",
            "from": "event.temperature",
            "transform": {
                "unitFrom": "event.scale",
                "units": {"CELSIUS": "celsiusToMatter", "FAHRENHEIT": "fahrenheitToMatter"},
            },
        }
    ]
}


def test_each_events_unit_chooses_its_conversion() -> None:
    body = {
        "events": [
            {"id": "t-1", "temperature": 21.5, "scale": "CELSIUS"},
            {"id": "t-2", "temperature": 71.6, "scale": "FAHRENHEIT"},
        ]
    }
    events = sendable(map_body(profile(UNITS), body, {}))
    assert [clusters(e)["0x0402"]["attributes"] for e in events] == [{"0x0000": 2150}, {"0x0000": 2200}]


def test_an_unknown_unit_is_a_problem_where_the_unit_is() -> None:
    found = problems(profile(UNITS), {"events": [{"id": "t-1", "temperature": 300, "scale": "KELVIN"}]})
    assert found == [
        ("events[0].scale", "rule lock: TemperatureMeasurement.MeasuredValue has no transform for its unit")
    ]


def test_a_unit_that_cannot_be_read_is_a_problem_of_the_event() -> None:
    endpoint = copy.deepcopy(UNITS)
    endpoint["set"][0]["transform"]["unitFrom"] = "length(event.scale)"
    found = problems(profile(endpoint), {"events": [{"id": "t-1", "temperature": 20, "scale": 3}]})
    assert ("events[0]", "rule lock: length(event.scale) cannot be evaluated on this event") in found


# --- unknown: skip ------------------------------------------------------------------------------------------

MODES = {"map": {"cool": 3, "heat": 4}, "unknown": "skip"}


def test_a_value_the_map_skips_leaves_its_attribute_out_and_is_reported() -> None:
    # GIVEN a thermostat whose cloud has a mode the profile's map does not know, and says to skip it
    endpoint = {
        "set": [
            {"attribute": "Thermostat.SystemMode", "from": "event.mode", "transform": MODES},
            {"attribute": "Thermostat.LocalTemperature", "from": "event.t", "transform": "celsiusToMatter"},
        ]
    }
    body = {"events": [{"id": "th-1", "mode": "eco", "t": 20}, {"id": "th-2", "mode": "heat", "t": 21}]}
    # WHEN the body is mapped
    mapped = map_body(profile(endpoint), body, {})
    # THEN both events are queued, the first without its mode, and the skip names the rule, path and reason
    events = sendable(mapped)
    assert [clusters(e)["0x0201"]["attributes"] for e in events] == [
        {"0x0000": 2000},
        {"0x001C": 4, "0x0000": 2100},
    ]
    assert mapped.skips.answer() == {
        "skipped": [
            {
                "rule": "lock",
                "path": "events[0].mode",
                "reason": "value has no entry in the map (the value is left out of the event)",
            }
        ]
    }


def test_a_field_the_map_skips_is_left_out_of_its_event() -> None:
    endpoint = {
        "events": [
            {
                "event": "DoorLock.LockOperation",
                "fields": {
                    "LockOperationType": {"value": 1},
                    "OperationSource": {
                        "from": "event.via",
                        "transform": {"map": [["app", 7]], "unknown": "skip"},
                    },
                },
            }
        ]
    }
    mapped = map_body(profile(endpoint), {"events": [{"id": "lock-1", "via": "bluetooth"}]}, {})
    (event,) = sendable(mapped)
    assert clusters(event)[DOOR_LOCK]["events"] == {LOCK_OPERATION: {"0x0000": 1}}
    assert [(s.path, s.reason, s.event) for s in mapped.skips.listed] == [
        ("events[0].via", "value has no entry in the map", False)
    ]


def test_a_member_the_map_skips_skips_its_event() -> None:
    # GIVEN a rule whose UserId comes through a map that skips what it does not know
    prof = profile(
        {"set": [{"attribute": "OnOff.OnOff", "value": True}]},
        members={
            "ConnectorDeviceId": "event.id",
            "UserId": {"from": "event.owner", "transform": {"map": {"a": "user-a"}, "unknown": "skip"}},
        },
    )
    # WHEN one event has an owner the map knows and one does not
    mapped = map_body(prof, {"events": [{"id": "l-1", "owner": "a"}, {"id": "l-2", "owner": "b"}]}, {})
    # THEN only the first is queued; the second is skipped whole and reported
    assert [e["UserId"] for e in sendable(mapped)] == ["user-a"]
    assert [(s.path, s.reason, s.event) for s in mapped.skips.listed] == [
        ("events[1].owner", "value has no entry in the map", True)
    ]
