"""A SendCommand's Matter commands put in a device cloud's terms by the profile's `sendCommand.commands`: the
first rule for the same cluster and command whose `when` holds, its values through the inbound transforms,
its body filled with them; what a command answered at once reports; and the refusals, which name ids, rules
and values by name, never a value."""

from __future__ import annotations

from typing import Any

import pytest

from iotbridge.connector.commands import map_commands, message_text, response_endpoint
from iotbridge.connector.ports import ConnectorSetupError, RequestedCommand, UnmappableCommandError
from iotbridge.profile.expressions import Evaluation
from iotbridge.profile.outbound import SendCommand

BASE = {"device": {"id": "lamp-42"}, "user": {"id": None}}


def send_command(*rules: dict[str, Any]) -> SendCommand:
    return SendCommand.model_validate(
        {
            "request": {"method": "POST", "path": "/v1.1/devices/{device.id}/commands", "body": "{command}"},
            "commands": list(rules),
            "answer": {"mode": "sync"},
        }
    )


SWITCHBOT = send_command(
    {
        "name": "on",
        "command": "OnOff.On",
        "body": {"command": "turnOn", "parameter": "default", "commandType": "command"},
        "response": {"set": [{"attribute": "OnOff.OnOff", "value": True}]},
    },
    {"name": "off", "command": "OnOff.Off", "body": {"command": "turnOff", "parameter": "default"}},
    {
        "name": "level",
        "command": "LevelControl.MoveToLevel",
        "values": {
            "level": {
                "from": 'fields.Level || fields."0x00"',
                "transform": "levelToPercent",
                "required": True,
            }
        },
        "body": {"command": "setBrightness", "parameter": "{values.level}", "device": "{device.id}"},
        "response": {"set": [{"attribute": "LevelControl.CurrentLevel", "from": "fields.Level"}]},
    },
)


def command(cluster: str, command_id: str, fields: Any = None, endpoint: str = "1") -> RequestedCommand:
    return RequestedCommand(endpoint, cluster, command_id, None, fields)


def test_each_command_takes_its_rules_body() -> None:
    mapped = map_commands(SWITCHBOT, [command("0x0006", "0x01"), command("6", "0")], BASE, Evaluation())

    assert [item.rule.name for item in mapped] == ["on", "off"]
    assert mapped[0].body == {"command": "turnOn", "parameter": "default", "commandType": "command"}
    assert mapped[1].body == {"command": "turnOff", "parameter": "default"}


def test_a_value_is_computed_from_the_fields_with_the_inbound_transforms() -> None:
    by_name = command("0x0008", "0x00", {"Level": 127, "TransitionTime": 0})
    by_id = command("0x0008", "0x00", {"0x00": 254})

    mapped = map_commands(SWITCHBOT, [by_name, by_id], BASE, Evaluation())

    assert mapped[0].values == {"level": 50}
    # A string that is one placeholder keeps the value's JSON type; the device id comes from the request.
    assert mapped[0].body == {"command": "setBrightness", "parameter": 50, "device": "lamp-42"}
    assert mapped[1].values == {"level": 100}


def test_the_first_rule_whose_when_holds_maps_the_command() -> None:
    spec = send_command(
        {"name": "dim", "command": "OnOff.On", "when": "fields.dim == `true`", "body": {"c": "dim"}},
        {"name": "on", "command": "OnOff.On", "body": {"c": "on"}},
    )

    mapped = map_commands(
        spec, [command("0x0006", "0x01", {"dim": True}), command("0x0006", "0x01")], BASE, Evaluation()
    )

    assert [item.body for item in mapped] == [{"c": "dim"}, {"c": "on"}]


def test_a_command_no_rule_maps_is_unsupported_naming_its_ids() -> None:
    with pytest.raises(UnmappableCommandError) as raised:
        map_commands(SWITCHBOT, [command("0x0300", "0x07", {"secret": "x"})], BASE, Evaluation())

    assert raised.value.reason == "unsupported_command"
    assert "cluster 0x0300, command 0x07" in raised.value.message


def test_a_command_whose_ids_are_not_matter_ids_is_unsupported_without_quoting_them() -> None:
    with pytest.raises(UnmappableCommandError) as raised:
        map_commands(SWITCHBOT, [command("lamp-42", "0x01")], BASE, Evaluation())

    assert raised.value.reason == "unsupported_command"
    assert "lamp-42" not in raised.value.message


def test_a_required_value_missing_names_the_rule_and_the_value() -> None:
    with pytest.raises(UnmappableCommandError) as raised:
        map_commands(SWITCHBOT, [command("0x0008", "0x00", {"TransitionTime": 3})], BASE, Evaluation())

    assert raised.value.reason == "invalid_command_fields"
    assert raised.value.message == (
        "The command's fields do not fit rule level: value level is required and missing."
    )


def test_a_value_a_transform_refuses_names_the_rule_and_the_value_not_the_value() -> None:
    with pytest.raises(UnmappableCommandError) as raised:
        map_commands(SWITCHBOT, [command("0x0008", "0x00", {"Level": "bright-7781"})], BASE, Evaluation())

    assert raised.value.reason == "invalid_command_fields"
    assert "rule level: value level must be a number" in raised.value.message
    assert "bright-7781" not in raised.value.message


def test_a_body_that_cannot_be_filled_is_the_profiles_problem() -> None:
    spec = send_command({"name": "on", "command": "OnOff.On", "body": {"room": "room {fields.room}"}})

    with pytest.raises(ConnectorSetupError, match="template"):
        map_commands(spec, [command("0x0006", "0x01")], BASE, Evaluation())


def test_no_command_at_all_is_unsupported() -> None:
    with pytest.raises(UnmappableCommandError, match="unsupported_command"):
        map_commands(SWITCHBOT, [], BASE, Evaluation())


def test_a_response_reports_each_command_and_the_attributes_its_rule_sets() -> None:
    mapped = map_commands(
        SWITCHBOT,
        [
            command("0x0006", "0x01"),
            command("0x0008", "0x00", {"Level": 127}),
            command("6", "0", endpoint="2"),
        ],
        BASE,
        Evaluation(),
    )

    endpoint = response_endpoint(mapped, {"status": 200}, "object", Evaluation())

    assert endpoint == {
        "id": "1",
        "clusters": [
            {"id": "0x0006", "commands": {"0x01": {}}, "attributes": {"0x0000": True}},
            {"id": "0x0008", "commands": {"0x00": {}}, "attributes": {"0x0000": 127}},
        ],
    }
    listed = response_endpoint(mapped[:1], {}, "list", Evaluation())
    assert listed["clusters"][0]["attributes"] == [{"0x0000": True}]
    failed = response_endpoint(mapped[:1], {}, "object", Evaluation(), attributes=False)
    assert failed["clusters"] == [{"id": "0x0006", "commands": {"0x01": {}}}]


@pytest.mark.parametrize(
    ("said", "message"),
    [
        ("success", "success"),
        ("device offline! (code #161)", "device offline   code  161"),
        (161, "161"),
        ("ünïcode", "n code"),
        ("x" * 300, "x" * 256),
        ("!!!", None),
        ({"a": 1}, None),
        (None, None),
    ],
)
def test_a_message_is_made_to_fit_the_contracts_pattern(said: Any, message: str | None) -> None:
    assert message_text(said) == message
