"""Per-event outcomes of a profile's mapping: under `onError: skip` a native event with a problem is left out
and reported, the others mapped; under `reject` (the default) the same body is refused whole. Skips the
profile asks for whatever `onError` says (a map's `unknown: skip`) leave out only a Matter value, or the
event when a member needs it. What is skipped is listed without values, bounded, and counted by rule and
reason code."""

from __future__ import annotations

from typing import Any

import pytest

from iotbridge.errors import MAX_LISTED_PROBLEMS
from iotbridge.profile.document import ConnectorProfile, parse_profile
from iotbridge.webhook_receiver.domain.intake import _contract_checked
from iotbridge.webhook_receiver.domain.mapping import (
    CONTRACT,
    EXPRESSION_FAILED,
    MAX_NATIVE_EVENTS,
    MISSING_VALUE,
    NO_MAP_ENTRY,
    NO_RULE,
    OUT_OF_RANGE,
    Mapped,
    MappingError,
    SkipCount,
    map_body,
    reason_code,
)

CONNECTOR_ID = "lumen-connector-1"
SECRET_LOOKING = "SentinelValue-91xq"


def profile(*rules: dict[str, Any], **fields: Any) -> ConnectorProfile:
    return parse_profile(
        {
            "version": 1,
            "verification": {"scheme": "token", "header": "X-Token"},
            "deduplication": {"digest": True},
            "events": "body.items",
            "rules": list(rules),
            **fields,
        }
    )


def light_rule(**fields: Any) -> dict[str, Any]:
    return {
        "name": "light",
        "when": "event.type == 'light'",
        "operation": "DEVICE_EVENT",
        "members": {"ConnectorDeviceId": "event.id"},
        "matterEndpoint": {
            "set": [
                {"attribute": "OnOff.OnOff", "from": "event.on", "required": True},
                {"attribute": "LevelControl.CurrentLevel", "from": "event.level"},
            ]
        },
        **fields,
    }


def light(device: str, **state: Any) -> dict[str, Any]:
    return {"type": "light", "id": device, "on": True, **state}


def body(*items: Any) -> dict[str, Any]:
    return {"items": list(items)}


def devices(mapped: Mapped) -> list[str]:
    return [item.event["ConnectorDeviceId"] for item in mapped.events]


def listed(mapped: Mapped) -> list[dict[str, Any]]:
    return mapped.skips.answer().get("skipped", [])


# --- onError: the profile's, and a rule's ------------------------------------------------------------------


def test_under_skip_an_event_with_a_problem_is_left_out_and_reported_and_the_others_are_mapped() -> None:
    # GIVEN three lights, the second at a level out of LevelControl's range
    prof = profile(light_rule(), onError="skip")
    native = body(light("a"), light("b", level=987), light("c"))
    # WHEN the body is mapped
    mapped = map_body(prof, native, {})
    # THEN the first and the last are mapped, and the second is reported by rule, path and reason
    assert devices(mapped) == ["a", "c"]
    [skipped] = listed(mapped)
    assert skipped["rule"] == "light"
    assert skipped["path"] == "items[1].level"
    assert "LevelControl.CurrentLevel" in skipped["reason"] and "987" not in skipped["reason"]
    assert mapped.skips.counted() == (SkipCount("light", OUT_OF_RANGE, True, 1),)


def test_under_reject_the_same_body_is_refused_whole() -> None:
    prof = profile(light_rule())
    with pytest.raises(MappingError) as refused:
        map_body(prof, body(light("a"), light("b", level=987), light("c")), {})
    assert [p.path for p in refused.value.problems] == ["items[1].level"]


@pytest.mark.parametrize(
    ("profile_says", "rule_says", "skipped"), [("reject", "skip", True), ("skip", "reject", False)]
)
def test_a_rules_on_error_overrides_the_profiles(profile_says: str, rule_says: str, skipped: bool) -> None:
    prof = profile(light_rule(onError=rule_says), onError=profile_says)
    native = body(light("a"), light("b", level=987))
    if skipped:
        assert devices(map_body(prof, native, {})) == ["a"]
    else:
        with pytest.raises(MappingError):
            map_body(prof, native, {})


def test_every_problem_of_a_skipped_event_is_one_entry_with_the_first_problem() -> None:
    # GIVEN a light missing its required OnOff value and with a level out of range
    prof = profile(light_rule(), onError="skip")
    mapped = map_body(prof, body({"type": "light", "id": "a", "level": 987}), {})
    # THEN the event is one skipped entry (its first problem), counted once
    assert [entry["path"] for entry in listed(mapped)] == ["items[0].on"]
    assert mapped.skips.events == 1
    assert mapped.skips.counted() == (SkipCount("light", MISSING_VALUE, True, 1),)


def test_an_event_no_rule_matches_is_skipped_without_a_rule_when_the_profile_skips() -> None:
    prof = profile(light_rule(), onError="skip")
    mapped = map_body(prof, body({"type": "heartbeat"}, light("a")), {})
    assert devices(mapped) == ["a"]
    assert listed(mapped) == [
        {"rule": None, "path": "items[0]", "reason": "no rule of the profile matches it"}
    ]
    assert mapped.skips.counted() == (SkipCount(None, NO_RULE, True, 1),)


def test_a_condition_that_cannot_be_evaluated_skips_the_event_under_its_rules_on_error() -> None:
    # GIVEN a rule whose condition fails on an event whose `level` is text (length of a number is an error)
    rule = light_rule(when="event.type == 'light' && abs(event.level) > `0`", onError="skip")
    mapped = map_body(profile(rule), body(light("a", level="high"), light("b", level=10)), {})
    # THEN that event is skipped, its reason the expression, and the other mapped
    assert devices(mapped) == ["b"]
    assert mapped.skips.counted() == (SkipCount("light", EXPRESSION_FAILED, True, 1),)
    assert "cannot be evaluated" in listed(mapped)[0]["reason"]


# --- Skips the profile asks for, whatever onError says -----------------------------------------------------


def test_an_attribute_whose_value_the_map_does_not_know_is_left_out_and_the_event_is_mapped() -> None:
    # GIVEN a door state map that skips what it does not know, under onError reject
    rule = {
        "name": "door",
        "operation": "DEVICE_EVENT",
        "members": {"ConnectorDeviceId": "event.id"},
        "matterEndpoint": {
            "set": [
                {"attribute": "OnOff.OnOff", "from": "event.on"},
                {
                    "attribute": "BooleanState.StateValue",
                    "from": "event.doorState",
                    "transform": {"map": [[1, True], [2, False]], "unknown": "skip"},
                },
            ]
        },
    }
    # WHEN a door reports a state the map does not know
    mapped = map_body(profile(rule), body({"id": "d1", "on": True, "doorState": 0}), {})
    # THEN the event is mapped without that attribute, and the value is reported as left out
    [event] = mapped.events
    assert event.event["MatterEndpoint"]["clusters"] == [{"id": "0x0006", "attributes": {"0x0000": True}}]
    [entry] = listed(mapped)
    assert entry["rule"] == "door" and entry["path"] == "items[0].doorState"
    assert "left out" in entry["reason"]
    assert mapped.skips.events == 0
    assert mapped.skips.counted() == (SkipCount("door", NO_MAP_ENTRY, False, 1),)


def test_a_member_whose_value_the_map_does_not_know_skips_the_event_whatever_on_error_says() -> None:
    rule = light_rule(
        members={
            "ConnectorDeviceId": "event.id",
            "StatusCode": {"from": "event.result", "transform": {"map": {"ok": 200}, "unknown": "skip"}},
        }
    )
    mapped = map_body(profile(rule), body(light("a", result="ok"), light("b", result="weird")), {})
    assert devices(mapped) == ["a"]
    assert mapped.skips.counted() == (SkipCount("light", NO_MAP_ENTRY, True, 1),)


def test_a_webhook_whose_every_event_is_skipped_maps_to_nothing_and_says_why() -> None:
    mapped = map_body(
        profile(light_rule(), onError="skip"), body(light("a", level=900), light("b", level=901)), {}
    )
    assert mapped.events == []
    assert mapped.skips.events == 2
    assert [entry["path"] for entry in listed(mapped)] == ["items[0].level", "items[1].level"]


def test_the_skipped_list_is_bounded_and_every_skip_is_counted() -> None:
    # GIVEN the largest webhook a profile takes, every event out of range
    native = body(*[light(f"d{i}", level=1000 + i) for i in range(MAX_NATIVE_EVENTS)])
    # WHEN it is mapped under skip
    mapped = map_body(profile(light_rule(), onError="skip"), native, {})
    # THEN the first MAX_LISTED_PROBLEMS are listed, the rest counted, and all counted by rule and reason
    answer = mapped.skips.answer()
    assert len(answer["skipped"]) == MAX_LISTED_PROBLEMS
    assert answer["moreSkipped"] == MAX_NATIVE_EVENTS - MAX_LISTED_PROBLEMS
    assert mapped.skips.counted() == (SkipCount("light", OUT_OF_RANGE, True, MAX_NATIVE_EVENTS),)


# --- The contract check of the mapped events ---------------------------------------------------------------


def test_a_mapped_event_that_breaks_the_contract_is_skipped_under_skip_and_the_others_kept() -> None:
    # GIVEN a rule that copies the device id, and one device whose id the contract refuses (over 256 chars)
    prof = profile(light_rule(), onError="skip")
    mapped = map_body(prof, body(light("a"), light("x" * 300), light("c")), {})
    # WHEN the mapped events are checked against SendConnectorEvent
    events = _contract_checked(mapped, CONNECTOR_ID)
    # THEN the long one is skipped, reported at the native event, and the others are kept in order
    assert [event["ConnectorDeviceId"] for event in events] == ["a", "c"]
    [entry] = listed(mapped)
    assert entry["path"] == "items[1]"
    assert "ConnectorDeviceId" in entry["reason"] and "x" * 20 not in entry["reason"]
    assert mapped.skips.counted() == (SkipCount("light", CONTRACT, True, 1),)


def test_a_contract_problem_of_a_rule_that_rejects_still_refuses_the_webhook() -> None:
    # GIVEN a rule that skips on error and one that rejects, each mapping a device id the contract refuses
    strict = {**light_rule(), "name": "strict", "when": "event.type == 'strict'"}
    prof = profile(light_rule(onError="skip"), strict)
    native = body(light("x" * 300), {**light("y" * 300), "type": "strict"}, light("a"))
    mapped = map_body(prof, native, {})
    # WHEN they are checked THEN the rejecting rule's event refuses the webhook, named at its native event
    with pytest.raises(MappingError) as refused:
        _contract_checked(mapped, CONNECTOR_ID)
    assert [p.path for p in refused.value.problems] == ["items[1]"]
    assert "rule strict" in refused.value.problems[0].rule


def test_more_than_50_mapped_events_pass_the_contract_check() -> None:
    mapped = map_body(profile(light_rule()), body(*[light(f"d{i}") for i in range(MAX_NATIVE_EVENTS)]), {})
    assert len(_contract_checked(mapped, CONNECTOR_ID)) == MAX_NATIVE_EVENTS


# --- Reason codes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("OnOff.OnOff is required and missing", MISSING_VALUE),
        ("LevelControl.CurrentLevel must be 0..254", OUT_OF_RANGE),
        ("ActivePower must be -4611686018427387904..4611686018427387903", OUT_OF_RANGE),
        ("LevelControl.CurrentLevel is out of range", OUT_OF_RANGE),
        ("value has no entry in the map", NO_MAP_ENTRY),
        ("event.x cannot be evaluated on this event", EXPRESSION_FAILED),
        ("TraceId: the command lookup found nothing recorded", "lookup_miss"),
        ("OnOff.OnOff must be true or false", "invalid_value"),
    ],
)
def test_a_reason_in_words_has_a_short_fixed_code(reason: str, code: str) -> None:
    assert reason_code(reason) == code


def test_no_skipped_entry_quotes_a_value_from_the_event() -> None:
    prof = profile(light_rule(), onError="skip")
    native = body(light(SECRET_LOOKING, level=SECRET_LOOKING), {"type": SECRET_LOOKING})
    mapped = map_body(prof, native, {})
    assert mapped.skips.events == 2
    assert SECRET_LOOKING not in repr(mapped.skips.answer())
