"""`profile test --explain`'s trace of a mapping: for each native event the rule that matched, or why each
rule's `when` did not hold (the failing part of the condition and the type of what it found, never the
value); each member's and attribute's source and transform, and whether a value was found; each skip and
problem. The relay's mapping is given no tracer."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import jmespath
import pytest

from iotbridge.profile.document import ConnectorProfile, parse_profile
from iotbridge.profile.expressions import _expression
from iotbridge.webhook_receiver.domain.explain import MappingTrace, expression_text, type_of, why_false
from iotbridge.webhook_receiver.domain.mapping import MappingError, map_body
from iotbridge.webhook_receiver.offline import try_webhook
from samples.device_clouds import LUMEN

SECRET_LOOKING = "SentinelSecret-7f3kq"


def why(condition: str, event: Any) -> list[str]:
    return why_false(_expression(condition), {"event": event, "body": {}, "headers": {}})


@pytest.mark.parametrize(
    "text",
    [
        "event.type == 'state'",
        "event.type == 'state' && event.kind != 'plug'",
        "!event.muted || event.level > `3`",
        "!(event.a && event.b)",
        "contains(event.tags, 'x')",
        "event.items[0].name",
        "event.items[*].name",
        "event.items[?kind == 'a'].name",
        "length(event.items) >= `2`",
        'event."odd name"',
        "event.items[]",
        "event.list[1:3]",
        "to_number(event.level) | abs(@)",
        "{a: event.a, b: event.b}",
        "[event.a, event.b]",
    ],
)
def test_an_expression_written_back_parses_to_the_same_tree(text: str) -> None:
    parsed = jmespath.compile(text).parsed
    assert jmespath.compile(expression_text(parsed)).parsed == parsed


def test_a_false_comparison_names_its_operand_and_the_type_found_never_the_value() -> None:
    assert why("event.type == 'state'", {"type": SECRET_LOOKING}) == [
        "event.type == 'state' was false: event.type is a string"
    ]


def test_a_conjunction_names_the_part_that_failed() -> None:
    reasons = why("event.type == 'state' && event.kind == 'light'", {"type": "state", "kind": 7})
    assert reasons == ["event.kind == 'light' was false: event.kind is a number"]


def test_a_disjunction_names_every_part() -> None:
    reasons = why("event.a == 'x' || event.b", {"a": "y", "b": ""})
    assert reasons == [
        "event.a == 'x' was false: event.a is a string",
        "event.b was false: event.b is an empty string",
    ]


def test_a_negation_says_what_it_negated_held() -> None:
    assert why("!(event.muted)", {"muted": True}) == [
        "!event.muted was false: event.muted is a boolean, which counts as true"
    ]


def test_a_negation_that_binds_tighter_than_the_chain_is_shown_as_jmespath_reads_it() -> None:
    assert why("!event.muted", {"muted": False}) == [
        "(!event).muted was false: (!event) is a boolean without muted"
    ]


def test_a_missing_member_names_the_first_link_that_did_not_lead_on() -> None:
    assert why("event.state.power", {"state": "off"}) == [
        "event.state.power was false: event.state is a string without power"
    ]
    assert why("event.state.power", {"power": "on"}) == [
        "event.state.power was false: event is an object without state"
    ]


def test_a_false_function_names_the_types_of_its_arguments() -> None:
    assert why("contains(event.tags, 'x')", {"tags": ["a", SECRET_LOOKING]}) == [
        "contains(event.tags, 'x') was false: it gave a boolean; event.tags is an array"
    ]


def test_a_condition_that_cannot_be_evaluated_says_so() -> None:
    assert why("abs(event.level) > `1`", {"level": "high"}) == [
        "abs(event.level) > `1` cannot be evaluated on this event"
    ]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (None, "null (absent)"),
        (False, "a boolean"),
        (0, "a number"),
        ("", "an empty string"),
        ("x", "a string"),
        ([], "an empty array"),
        ([1], "an array"),
        ({}, "an empty object"),
        ({"a": 1}, "an object"),
    ],
)
def test_types_are_jmespaths_in_words(value: Any, said: str) -> None:
    assert type_of(value) == said


# --- The trace of a whole mapping --------------------------------------------------------------------------


def light_profile(**fields: Any) -> ConnectorProfile:
    return parse_profile(
        {
            "version": 1,
            "verification": {"scheme": "token", "header": "X-Token"},
            "deduplication": {"digest": True},
            "events": "body.items",
            "rules": [
                {
                    "name": "plug",
                    "when": "event.type == 'plug'",
                    "operation": "DEVICE_EVENT",
                    "members": {"ConnectorDeviceId": "event.id"},
                    "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
                },
                {
                    "name": "light",
                    "when": "event.type == 'light'",
                    "operation": "DEVICE_EVENT",
                    "members": {
                        "ConnectorDeviceId": "event.id",
                        "UserId": "event.owner",
                        "StatusCode": {"from": "event.result", "transform": {"map": {"ok": 200}}},
                    },
                    "matterEndpoint": {
                        "set": [
                            {
                                "attribute": "OnOff.OnOff",
                                "from": "event.power",
                                "transform": {"equals": "on"},
                            },
                            {
                                "attribute": "LevelControl.CurrentLevel",
                                "from": "event.brightness",
                                "transform": "percentToLevel",
                            },
                        ]
                    },
                },
            ],
            **fields,
        }
    )


def traced(profile: ConnectorProfile, *items: Any) -> str:
    trace = MappingTrace()
    with contextlib.suppress(MappingError):
        map_body(profile, {"items": list(items)}, {}, tracer=trace)
    return trace.render()


def test_the_trace_names_the_rule_that_matched_and_why_the_others_did_not() -> None:
    text = traced(light_profile(), {"type": "light", "id": "l1", "power": "on", "brightness": 50})
    assert text.splitlines()[:3] == [
        "native event body.items[0]: queued",
        "  rule plug: when did not hold: event.type == 'plug' was false: event.type is a string",
        "  rule light: matched (event.type == 'light' held)",
    ]


def test_the_trace_gives_each_members_and_attributes_source_transform_and_whether_found() -> None:
    text = traced(light_profile(), {"type": "light", "id": "l1", "power": "on", "result": "ok"})
    assert "  member ConnectorDeviceId <- event.id: set (a string)" in text
    assert "  member UserId <- event.owner: left out (found null (absent))" in text
    assert "  member StatusCode <- event.result, transform map: set (a number)" in text
    assert "  attribute OnOff.OnOff <- event.power, transform equals: set (found a string)" in text
    assert (
        "  attribute LevelControl.CurrentLevel <- event.brightness, transform percentToLevel: "
        "left out (found null (absent))"
    ) in text


def test_the_trace_names_each_problem_and_what_became_of_the_event() -> None:
    item = {"type": "light", "id": "l1", "power": "on", "brightness": 900}
    refused = traced(light_profile(), item)
    skipped = traced(light_profile(onError="skip"), item)
    assert refused.startswith("native event body.items[0]: refused")
    assert skipped.startswith("native event body.items[0]: skipped")
    assert "problem at items[0].brightness: LevelControl.CurrentLevel must be " in skipped
    assert "[out_of_range]" in skipped


def test_an_event_no_rule_matches_is_traced_through_every_rule() -> None:
    text = traced(light_profile(unmatched="ignore"), {"type": "heartbeat"})
    assert text.splitlines() == [
        "native event body.items[0]: ignored",
        "  rule plug: when did not hold: event.type == 'plug' was false: event.type is a string",
        "  rule light: when did not hold: event.type == 'light' was false: event.type is a string",
    ]


def test_the_trace_never_holds_a_value_of_the_event() -> None:
    # GIVEN events whose every value looks like a secret, some matching, some not, one out of range
    items = [
        {"type": SECRET_LOOKING, "id": SECRET_LOOKING},
        {"type": "light", "id": SECRET_LOOKING, "owner": SECRET_LOOKING, "power": SECRET_LOOKING},
        {"type": "light", "id": "l2", "power": "on", "brightness": SECRET_LOOKING, "result": SECRET_LOOKING},
    ]
    # WHEN they are traced, refused and skipped
    texts = [traced(light_profile(), *items), traced(light_profile(onError="skip"), *items)]
    # THEN no line holds any of those values, nor a fragment of them
    for text in texts:
        assert "Sentinel" not in text and "7f3kq" not in text


def test_profile_test_explains_a_signed_delivery_offline() -> None:
    body = json.dumps(
        {"accountId": "acct-1", "events": [{"type": "device.heartbeat", "deviceId": SECRET_LOOKING}]}
    ).encode()
    verdict = try_webhook(
        LUMEN.profile(),
        body=body,
        headers=LUMEN.signed(body, now=1_790_000_000),
        secret=LUMEN.secret,
        now=1_790_000_000,
        explain=True,
    )
    assert verdict.answer.status == 202 and verdict.trace is not None
    text = verdict.trace.render()
    assert text.startswith("native event body.events[0]: ignored")
    assert "rule light-state: when did not hold: event.type == 'device.state' was false" in text
    assert SECRET_LOOKING not in text


def test_without_explain_there_is_no_trace() -> None:
    body = json.dumps({"accountId": "acct-1", "events": []}).encode()
    verdict = try_webhook(LUMEN.profile(), body=body, headers=LUMEN.signed(body), secret=LUMEN.secret)
    assert verdict.trace is None
