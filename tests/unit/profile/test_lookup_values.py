"""A profile's lookups and its device cloud's `requestId`: what they may say, and every mistake named by its
path, for that form of a member's value alone."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from iotbridge.profile.document import ProfileError, parse_profile
from iotbridge.profile.values import LiteralValue, LookupValue
from samples import lookups as cloud


def document_with(member: str, value: Any, rule: int = 0) -> dict[str, Any]:
    document = copy.deepcopy(cloud.profile_document())
    document["rules"][rule]["members"][member] = value
    return document


def problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ProfileError) as caught:
        parse_profile(document)
    return [(p.path, p.rule) for p in caught.value.problems]


def test_a_command_lookup_reads_as_a_lookup_that_rejects_a_miss_unless_told_otherwise() -> None:
    profile = parse_profile(document_with("TraceId", {"lookup": "command", "by": "event.requestId"}))

    value = profile.rules[0].members["TraceId"]

    assert isinstance(value, LookupValue)
    assert (value.lookup, value.by, value.otherwise) == ("command", "event.requestId", "reject")


@pytest.mark.parametrize("otherwise", ["skip", "reject", {"value": "trace-x"}, {"value": None}])
def test_each_kind_of_otherwise_is_taken(otherwise: Any) -> None:
    profile = parse_profile(
        document_with("DeviceDiscoveryId", {"lookup": "discovery", "otherwise": otherwise}, rule=1)
    )

    value = profile.rules[1].members["DeviceDiscoveryId"]

    assert isinstance(value, LookupValue) and value.by is None
    expected = LiteralValue(value=otherwise["value"]) if isinstance(otherwise, dict) else otherwise
    assert value.otherwise == expected


@pytest.mark.parametrize(
    ("member", "lookup", "rule"),
    [("TraceId", "discovery", 0), ("DeviceDiscoveryId", "command", 1), ("UserId", "discovery", 1)],
)
def test_a_lookup_fills_only_the_member_of_its_kind(member: str, lookup: str, rule: int) -> None:
    document = document_with(member, {"lookup": lookup, "by": "event.x"}, rule=rule)

    found = problems(document)

    assert [path for path, _ in found] == [f"rules[{rule}].members"]
    assert f"{member} cannot be a {lookup} lookup" in found[0][1]


def test_a_command_lookup_needs_the_expression_that_finds_the_cloud_s_id() -> None:
    found = problems(document_with("TraceId", {"lookup": "command", "otherwise": "skip"}))

    assert found == [
        (
            "rules[0].members.TraceId",
            "a command lookup needs by: the expression that finds the device cloud's request id",
        )
    ]


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"lookup": "commands", "by": "event.requestId"}, "rules[0].members.TraceId.lookup"),
        ({"lookup": "command", "by": "event.["}, "rules[0].members.TraceId.by"),
        (
            {"lookup": "command", "by": "event.id", "otherwise": "ignore"},
            "rules[0].members.TraceId.otherwise",
        ),
        ({"lookup": "command", "by": "event.id", "cache": True}, "rules[0].members.TraceId.cache"),
    ],
)
def test_a_mistake_in_a_lookup_is_named_by_its_path_and_only_as_a_lookup(value: Any, path: str) -> None:
    found = problems(document_with("TraceId", value))

    # Every problem is the lookup's own: none of another form of value (from, value, template) is listed
    assert {where for where, _ in found} == {path}


def test_an_object_of_no_known_form_is_one_problem_naming_the_forms() -> None:
    found = problems(document_with("TraceId", {"lookups": "command"}))

    assert found == [
        (
            "rules[0].members.TraceId",
            "must be an expression, or an object with from, value, template or lookup",
        )
    ]


def test_the_device_cloud_s_request_id_is_an_expression_over_its_answer() -> None:
    profile = parse_profile(cloud.profile_document())

    assert profile.device_cloud is not None
    assert profile.device_cloud.request_id == "requestId"
    assert profile.device_cloud.request_id is not None
    assert profile.device_cloud.request_id.search({"requestId": "68c4"}) == "68c4"


def test_a_request_id_that_is_no_expression_is_named() -> None:
    document = cloud.profile_document()
    document["deviceCloud"]["requestId"] = "body.["

    [(path, rule)] = problems(document)

    assert path == "deviceCloud.requestId"
    assert "JMESPath" in rule
