"""A reset plan is checked against the service model's rules before any call, with every problem listed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from iotbridge.detector_reset.domain.plan import (
    DynamoDbBackend,
    PlanError,
    ResetPlan,
    parse_plan,
    parse_plan_json,
    render_payload,
)

UPDATE_PLAN: dict[str, Any] = {
    "name": "nightly-hvac",
    "detectorModelName": "hvac",
    "detectors": {"inStates": ["Alarm", "Fault"]},
    "action": {
        "mode": "update",
        "stateName": "Normal",
        "variables": [{"name": "alarmCount", "value": "0"}],
        "timers": [{"name": "cooldown", "seconds": 300}],
        "preserveVariables": ["lifetimeCount"],
    },
    "verify": {"sampleSize": 50},
}

MESSAGE_PLAN: dict[str, Any] = {
    "name": "nightly-hvac-message",
    "detectorModelName": "hvac",
    "detectors": {"all": True},
    "action": {
        "mode": "message",
        "inputName": "hvacReset",
        "payloadTemplate": {
            "device": "${keyValue}",
            "command": "reset",
            "by": "${planName}",
            "at": "${time}",
        },
    },
    "dryRun": True,
}


def with_change(plan: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(plan)
    *parents, last = path.split(".")
    node: Any = changed
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return changed


_DELETE = object()


def problems(data: Any) -> list[str]:
    with pytest.raises(PlanError) as raised:
        parse_plan(data)
    return raised.value.descriptions()


@pytest.mark.parametrize("plan", [UPDATE_PLAN, MESSAGE_PLAN])
def test_valid_plans_are_accepted_and_round_trip_through_their_json_form(plan: dict[str, Any]) -> None:
    parsed = parse_plan(plan)

    assert parse_plan(parsed.model_dump(mode="json", by_alias=True, exclude_defaults=True)) == parsed


def test_key_value_selection_is_accepted() -> None:
    plan = parse_plan(with_change(UPDATE_PLAN, "detectors", {"keyValues": ["room-1", "room:2"]}))

    assert plan.detectors.key_values == ["room-1", "room:2"]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("name", "has space", "name: String should match pattern"),
        ("detectorModelName", "", "detectorModelName: String should have at least 1 character"),
        ("detectorModelName", "x" * 129, "detectorModelName: String should have at most 128 characters"),
        ("detectorModelName", "a/b", "detectorModelName: String should match pattern"),
        ("detectors", {}, "detectors: choose exactly one of all=true, inStates or keyValues"),
        ("detectors", {"all": True, "inStates": ["A"]}, "detectors: choose exactly one"),
        ("detectors", {"inStates": []}, "detectors.inStates: List should have at least 1 item"),
        ("detectors", {"inStates": ["A", "A"]}, "detectors: inStates lists 1 value(s) more than once: A"),
        ("detectors", {"inStates": ["x" * 129]}, "detectors.inStates[0]: String should have at most 128"),
        ("detectors", {"keyValues": ["bad key"]}, "detectors.keyValues[0]: String should match pattern"),
        ("detectors", {"keyValues": ["k"] * 1001}, "detectors.keyValues: List should have at most 1000"),
        ("action.stateName", "", "action.stateName: String should have at least 1 character"),
        ("action.stateName", "s" * 129, "action.stateName: String should have at most 128 characters"),
        ("action.variables.0.name", "9lives", "action.variables[0].name: String should match pattern"),
        ("action.variables.0.value", "", "action.variables[0].value: String should have at least 1"),
        (
            "action.variables.0.value",
            "v" * 1025,
            "action.variables[0].value: String should have at most 1024",
        ),
        (
            "action.timers.0.seconds",
            0,
            "action.timers[0].seconds: Input should be greater than or equal to 1",
        ),
        ("action.timers.0.seconds", "300", "action.timers[0].seconds: Input should be a valid integer"),
        ("action.timers.0.name", "", "action.timers[0].name: String should have at least 1 character"),
        (
            "action.timers",
            [{"name": f"t{n}", "seconds": 1} for n in range(6)],
            "action.timers: List should have at most 5 items",
        ),
        ("action.preserveVariables", ["alarmCount"], "action: variable(s) alarmCount both set and preserved"),
        ("action.preserveVariables", ["a", "a"], "action: preserveVariables names a more than once"),
        ("action.mode", "reboot", "action: Input tag 'reboot' found using 'mode' does not match"),
        ("dryRun", "yes", "dryRun: Input should be a valid boolean"),
        ("verify", {"sampleSize": 0}, "verify.sampleSize: Input should be greater than or equal to 1"),
        ("unexpected", 1, "unexpected: Extra inputs are not permitted"),
        ("action.unexpected", 1, "action.unexpected: Extra inputs are not permitted"),
        ("name", _DELETE, "name: Field required"),
        ("action.stateName", _DELETE, "action.stateName: Field required"),
    ],
)
def test_each_rule_of_an_update_plan_is_enforced(path: str, value: Any, expected: str) -> None:
    found = problems(with_change(UPDATE_PLAN, path, value))

    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("action.inputName", "-starts-with-dash", "action.inputName: String should match pattern"),
        ("action.inputName", "i" * 129, "action.inputName: String should have at most 128 characters"),
        ("action.payloadTemplate", {"device": "${serial}"}, "action: unknown placeholder(s) ${serial}"),
        ("action.payloadTemplate", {"command": "reset"}, "action: the template must contain ${keyValue}"),
        (
            "action.payloadTemplate",
            {"device": "${keyValue}", "pad": "x" * 900},
            "action: the payload can reach",
        ),
        ("verify", {}, "(plan): verify needs action.mode 'update'"),
    ],
)
def test_each_rule_of_a_message_plan_is_enforced(path: str, value: Any, expected: str) -> None:
    found = problems(with_change(MESSAGE_PLAN, path, value))

    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_listed_at_once() -> None:
    plan = {
        "name": "bad name",
        "detectorModelName": "",
        "detectors": {"inStates": ["A", "A"]},
        "action": {"mode": "update", "stateName": "", "variables": [{"name": "1x", "value": ""}]},
        "dryRun": "yes",
        "extra": 1,
    }

    with pytest.raises(PlanError) as raised:
        parse_plan(plan)

    assert [p.path for p in raised.value.problems] == [
        "name",
        "detectorModelName",
        "detectors",
        "action.stateName",
        "action.variables[0].name",
        "action.variables[0].value",
        "dryRun",
        "extra",
    ]
    assert str(raised.value).startswith("invalid reset plan (8 problems):\n  - name: ")


def test_problem_messages_do_not_echo_the_rejected_values() -> None:
    secret_like = "do-not-log-" + "v" * 1030

    found = problems(with_change(UPDATE_PLAN, "action.variables.0.value", secret_like))

    assert not any("do-not-log" in p for p in found)


@pytest.mark.parametrize("data", [[], "plan", None, 3])
def test_a_plan_that_is_not_an_object_is_rejected(data: Any) -> None:
    assert problems(data) == [f"(plan): expected a JSON object, got {type(data).__name__}"]


def test_plan_text_that_is_not_json_is_rejected_clearly() -> None:
    with pytest.raises(PlanError) as raised:
        parse_plan_json("{not json")

    assert raised.value.descriptions()[0].startswith("(plan): not valid JSON")


def test_payload_is_filled_per_detector_inside_the_json_document() -> None:
    plan = parse_plan(MESSAGE_PLAN)
    assert plan.action.mode == "message"

    payload = render_payload(
        plan.action.payload_template, key_value='room"1', plan_name=plan.name, run_id="r1", time="T"
    )

    assert json.loads(payload) == {
        "device": 'room"1',
        "command": "reset",
        "by": "nightly-hvac-message",
        "at": "T",
    }


def test_plans_are_immutable() -> None:
    plan = parse_plan(UPDATE_PLAN)

    with pytest.raises(ValueError, match="frozen"):
        plan.name = "other"
    assert isinstance(plan, ResetPlan)


def nested(depth: int, leaf: Any) -> Any:
    """`leaf` inside `depth` levels of objects and lists, alternating."""
    node = leaf
    for level in range(depth):
        node = {"a": node} if level % 2 else [node]
    return node


@pytest.mark.parametrize("depth", [65, 5_000])
def test_a_payload_template_nested_too_deeply_is_a_plan_problem_not_a_crash(depth: int) -> None:
    template = {"device": "${keyValue}", "deep": nested(depth - 1, "x")}

    found = problems(with_change(MESSAGE_PLAN, "action.payloadTemplate", template))

    assert found == ["action: the payload template is nested more than 64 levels deep"]


def test_a_payload_template_64_levels_deep_is_accepted() -> None:
    template = {"device": "${keyValue}", "deep": nested(63, "x")}

    plan = parse_plan(with_change(MESSAGE_PLAN, "action.payloadTemplate", template))

    assert plan.action.mode == "message"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"name": "caf\xe9"}', "(plan): not valid JSON (not UTF-8, UTF-16 or UTF-32 text)"),
        (b"[" * 100_000 + b"]" * 100_000, "(plan): nested too deeply to read"),
        (b'{"name": ' * 100_000 + b"1" + b"}" * 100_000, "(plan): nested too deeply to read"),
    ],
    ids=["latin-1", "deep-list", "deep-object"],
)
def test_plan_text_that_cannot_be_read_is_one_clear_problem(text: bytes, expected: str) -> None:
    with pytest.raises(PlanError) as raised:
        parse_plan_json(text)

    assert raised.value.descriptions() == [expected]


# ---------------------------------------------------------------- the backend


TABLE_BACKEND = {"kind": "dynamodb", "table": "hvac-detectors"}


def test_a_plan_names_no_backend_and_runs_on_the_iot_events_data_api() -> None:
    assert parse_plan(UPDATE_PLAN).backend.kind == "iotevents-data"


def test_a_detector_table_backend_takes_the_documented_layout_by_default() -> None:
    plan = parse_plan({**UPDATE_PLAN, "backend": TABLE_BACKEND})

    assert isinstance(plan.backend, DynamoDbBackend)
    assert plan.backend.table == "hvac-detectors"
    assert plan.backend.state_index == "byState"
    assert plan.backend.attributes.model_dump(by_alias=True) == {
        "detectorModel": "detectorModel",
        "keyValue": "keyValue",
        "stateName": "stateName",
        "variables": "variables",
        "timers": "timers",
        "detectorModelVersion": "detectorModelVersion",
        "creationTime": "creationTime",
        "lastUpdateTime": "lastUpdateTime",
    }
    assert parse_plan(plan.model_dump(mode="json", by_alias=True, exclude_defaults=True)) == plan


def test_a_team_table_can_name_its_own_attributes_and_index() -> None:
    backend = {
        **TABLE_BACKEND,
        "stateIndex": "detectorsByState",
        "attributes": {"detectorModel": "model", "keyValue": "device", "stateName": "state"},
    }

    plan = parse_plan({**UPDATE_PLAN, "backend": backend})

    assert isinstance(plan.backend, DynamoDbBackend)
    assert plan.backend.state_index == "detectorsByState"
    assert (plan.backend.attributes.key_value, plan.backend.attributes.variables) == ("device", "variables")


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ({"kind": "s3"}, "backend: Input tag 's3' found using 'kind' does not match"),
        ({}, "backend: Unable to extract tag using discriminator 'kind'"),
        ({"kind": "dynamodb"}, "backend.table: Field required"),
        ({**TABLE_BACKEND, "table": "ab"}, "backend.table: String should have at least 3 characters"),
        ({**TABLE_BACKEND, "table": "a/b"}, "backend.table: String should match pattern"),
        ({**TABLE_BACKEND, "stateIndex": "x" * 256}, "backend.stateIndex: String should have at most 255"),
        (
            {**TABLE_BACKEND, "attributes": {"stateName": ""}},
            "backend.attributes.stateName: String should have",
        ),
        (
            {**TABLE_BACKEND, "attributes": {"stateName": "keyValue"}},
            "backend.attributes: each attribute needs a name of its own: keyValue named twice",
        ),
        ({**TABLE_BACKEND, "region": "eu-west-1"}, "backend.region: Extra inputs are not permitted"),
        ({"kind": "iotevents-data", "table": "t-1"}, "backend.table: Extra inputs are not permitted"),
    ],
)
def test_each_rule_of_the_backend_is_enforced(backend: dict[str, Any], expected: str) -> None:
    found = problems({**UPDATE_PLAN, "backend": backend})

    assert any(p.startswith(expected) for p in found), found


TOPIC_MESSAGE_PLAN = {
    **MESSAGE_PLAN,
    "backend": TABLE_BACKEND,
    "action": {**MESSAGE_PLAN["action"], "topic": "hvac/reset"},
}


def test_a_message_plan_may_name_both_destinations_and_run_on_either_backend() -> None:
    on_events = parse_plan({**TOPIC_MESSAGE_PLAN, "backend": {"kind": "iotevents-data"}})
    on_table = parse_plan(TOPIC_MESSAGE_PLAN)

    assert on_events.action.mode == on_table.action.mode == "message"
    assert on_events.message_destination(on_events.action) == "hvacReset"
    assert on_table.message_destination(on_table.action) == "hvac/reset"


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (
            with_change(TOPIC_MESSAGE_PLAN, "action.topic", _DELETE),
            "action: topic is required with backend dynamodb",
        ),
        (
            with_change(MESSAGE_PLAN, "action.inputName", _DELETE),
            "action: inputName is required with backend iotevents-data",
        ),
        (
            with_change(MESSAGE_PLAN, "action.payloadTemplate.pad", "x" * 900),
            "action: the payload can reach 1",
        ),
        (
            with_change(TOPIC_MESSAGE_PLAN, "action.payloadTemplate.pad", "x" * 131_072),
            "action: the payload can reach 131",
        ),
        (
            with_change(TOPIC_MESSAGE_PLAN, "action.topic", "hvac/+/reset"),
            "action.topic: a topic",
        ),
        (with_change(TOPIC_MESSAGE_PLAN, "action.topic", "hvac/#"), "action.topic: a topic"),
        (with_change(TOPIC_MESSAGE_PLAN, "action.topic", ""), "action.topic: String should have at least 1"),
        (
            with_change(TOPIC_MESSAGE_PLAN, "action.topic", "é" * 129),
            "action.topic: a topic has at most 256 bytes",
        ),
        (
            with_change(TOPIC_MESSAGE_PLAN, "action.topic", "a/b/c/d/e/f/g/h/i"),
            "action.topic: a topic has at most 7 slashes",
        ),
    ],
    ids=["no-topic", "no-input", "over-1-KB", "over-128-KB", "plus", "hash", "empty", "long", "slashes"],
)
def test_a_message_plan_fits_its_backend(plan: dict[str, Any], expected: str) -> None:
    found = problems(plan)

    assert any(p.startswith(expected) for p in found), found


def test_a_payload_over_a_kilobyte_is_fine_on_aws_iot_core() -> None:
    plan = parse_plan(with_change(TOPIC_MESSAGE_PLAN, "action.payloadTemplate.pad", "x" * 4_000))

    assert plan.backend.kind == "dynamodb"


def test_the_basic_ingest_prefix_does_not_count_towards_the_slashes_of_a_topic() -> None:
    topic = "$aws/rules/detector_resets/a/b/c/d/e/f/g"

    plan = parse_plan(with_change(TOPIC_MESSAGE_PLAN, "action.topic", topic))

    assert plan.action.mode == "message" and plan.action.topic == topic
