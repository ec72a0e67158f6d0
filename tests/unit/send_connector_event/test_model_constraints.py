"""The SendConnectorEvent webhook body: every constraint of the AWS model, at every depth, both ways."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iotbridge.errors import Problem
from iotbridge.send_connector_event.body import (
    MAX_LISTED_PROBLEMS,
    EventValidationError,
    parse_webhook_body,
    wire_events,
)
from iotbridge.send_connector_event.models import MAX_DOCUMENT_DEPTH, ConnectorEvent

CONNECTOR = "connector-1"
MATTER_ID = r"0[xX][0-9a-fA-F]+$|^[0-9]+"
Path = tuple[str | int, ...]


def full_event() -> dict[str, Any]:
    """An event that sets every member at every depth (whatever the operation needs and more)."""
    return {
        "ConnectorId": CONNECTOR,
        "UserId": "user-1",
        "Operation": "DEVICE_DISCOVERY",
        "OperationVersion": "1.0",
        "StatusCode": 200,
        "Message": "uri: auc://dev-1/switch",
        "DeviceDiscoveryId": "job1",
        "ConnectorDeviceId": "dev-1",
        "TraceId": "trace-1",
        "Devices": [
            {
                "ConnectorDeviceId": "dev-1",
                "ConnectorDeviceName": "Kitchen light",
                "CapabilityReport": {
                    "version": "1.0.0",
                    "nodeId": "1",
                    "endpoints": [
                        {
                            "id": "1",
                            "deviceTypes": ["Light"],
                            "clusters": [
                                {
                                    "id": "0x0006",
                                    "revision": 4,
                                    "publicId": "aws.OnOff@1.4",
                                    "name": "OnOff",
                                    "specVersion": "1.4",
                                    "attributes": [{"id": "0x0000", "name": "OnOff", "value": True}],
                                    "commands": ["0x00"],
                                    "events": ["0x01"],
                                    "featureMap": 1,
                                    "generatedCommands": ["0x02"],
                                    "fabricIndex": 1,
                                }
                            ],
                            "parts": ["2"],
                            "semanticTags": ["kitchen"],
                            "clientClusters": ["0x0003"],
                        }
                    ],
                },
                "CapabilitySchemas": [
                    {
                        "Format": "AWS",
                        "CapabilityId": "aws.OnOff@1.4",
                        "ExtrinsicId": "0x0006",
                        "ExtrinsicVersion": 1,
                        "Schema": {"type": "object"},
                    }
                ],
                "DeviceMetadata": {"room": "kitchen"},
            }
        ],
        "MatterEndpoint": {
            "id": "1",
            "clusters": [
                {
                    "id": "0x0006",
                    "attributes": {"0x0000": True},
                    "commands": {"0x01": {}},
                    "events": {"0x00": {}},
                }
            ],
        },
    }


def problems(body: object, connector_id: str = CONNECTOR) -> list[dict[str, str]]:
    """The problems parse_webhook_body reports for `body` (empty when it is accepted)."""
    try:
        parse_webhook_body(body, connector_id)
    except EventValidationError as exc:
        return [p.as_dict() for p in exc.problems]
    return []


def with_value(path: Path, value: Any) -> dict[str, Any]:
    """The full event with the member at `path` set to `value`."""
    event = full_event()
    *parents, last = path
    node: Any = event
    for key in parents:
        node = node[key]
    node[last] = value
    return event


def without(path: Path) -> dict[str, Any]:
    event = full_event()
    *parents, last = path
    node: Any = event
    for key in parents:
        node = node[key]
    del node[last]
    return event


def render(path: Path) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out


DEVICE: Path = ("Devices", 0)
REPORT: Path = (*DEVICE, "CapabilityReport")
ENDPOINT: Path = (*REPORT, "endpoints", 0)
CLUSTER: Path = (*ENDPOINT, "clusters", 0)
ATTRIBUTE: Path = (*CLUSTER, "attributes", 0)
SCHEMA: Path = (*DEVICE, "CapabilitySchemas", 0)
STATE: Path = ("MatterEndpoint", "clusters", 0)


def repeat(char: str) -> Callable[[int], str]:
    return lambda n: char * n


def versioned_id(n: int) -> str:  # SchemaVersionedId: name@major.minor
    return "a" * (n - 4) + "@1.0" if n >= 5 else "a" * n


def spec_version(n: int) -> str:
    return "1." + "0" * (n - 2) if n >= 3 else "1" * n


def report_version(n: int) -> str:
    return "1.0.0" + "x" * (n - 5) if n >= 5 else "1" * n


# (member, min, max, make(n) -> a value of length n that matches when any can, a value accepted only because
# patterns are unanchored, the pattern)
STRINGS: list[tuple[Path, int, int, Callable[[int], str], str, str]] = [
    (("UserId",), 1, 64, repeat("u"), "!u!", r"[a-zA-Z0-9_.,@-]+"),
    (("OperationVersion",), 1, 6, repeat("1"), "v1", r"[0-9.]+"),
    (("Message",), 1, 256, repeat("m"), "uri: auc://dev-1/switch", r"[\sa-zA-Z0-9_.,@-]+"),
    (("DeviceDiscoveryId",), 1, 200, repeat("d"), "job-1!", r"[A-Za-z0-9]+"),
    (("ConnectorDeviceId",), 1, 256, repeat("c"), "dev#1", r"[a-zA-Z0-9_.,@-]+"),
    (("TraceId",), 1, 128, repeat("t"), "!abc!", r"[a-zA-Z0-9:=_-]+"),
    ((*DEVICE, "ConnectorDeviceId"), 1, 256, repeat("c"), "dev#1", r"[a-zA-Z0-9_.,@-]+"),
    ((*DEVICE, "ConnectorDeviceName"), 1, 256, repeat("é"), "Lampe (Küche)", r"[\p{L}\p{N} ._-]+"),
    ((*REPORT, "version"), 1, 10, report_version, "v1.0.0", r"1\.0\.0"),
    ((*REPORT, "nodeId"), 1, 64, repeat("1"), "node#1", r"[a-zA-Z0-9=_.,@\+\-/]+"),
    ((*ENDPOINT, "id"), 1, 64, repeat("e"), "ep#1", r"[0-9a-zA-Z]+"),
    ((*ENDPOINT, "deviceTypes", 0), 0, 256, repeat("L"), "Light!", r"[a-zA-Z0-9=_. ,@\+\-/]+"),
    ((*ENDPOINT, "parts", 0), 1, 64, repeat("p"), "#2", r"[0-9a-zA-Z]+"),
    ((*ENDPOINT, "semanticTags", 0), 1, 128, repeat("s"), "#tag", r"[0-9a-zA-Z._-]+"),
    ((*ENDPOINT, "clientClusters", 0), 1, 24, repeat("1"), "x0x1", MATTER_ID),
    ((*CLUSTER, "id"), 1, 24, repeat("1"), "12x", MATTER_ID),
    (
        (*CLUSTER, "publicId"),
        7,
        128,
        versioned_id,
        "#aws.OnOff@1.4",
        r"[a-zA-Z0-9.]+@(\d+\.\d+(\.\d+)?|\$latest)",
    ),
    ((*CLUSTER, "name"), 1, 128, repeat("n"), "On/Off!", r"[/a-zA-Z0-9\._ -]+"),
    ((*CLUSTER, "specVersion"), 1, 64, spec_version, "v1.4", r"\d+\.\d+"),
    ((*CLUSTER, "commands", 0), 1, 24, repeat("1"), "x0x1", MATTER_ID),
    ((*CLUSTER, "events", 0), 1, 24, repeat("1"), "12x", MATTER_ID),
    ((*CLUSTER, "generatedCommands", 0), 1, 24, repeat("1"), "x0X1f", MATTER_ID),
    ((*ATTRIBUTE, "id"), 1, 24, repeat("1"), "x0x1", MATTER_ID),
    ((*ATTRIBUTE, "name"), 1, 128, repeat("n"), "On!", r"[/a-zA-Z0-9\._ -]+"),
    (
        (*SCHEMA, "CapabilityId"),
        7,
        128,
        versioned_id,
        "aws.OnOff@$latest!",
        r"[a-zA-Z0-9.]+@(\d+\.\d+(\.\d+)?|\$latest)",
    ),
    ((*SCHEMA, "ExtrinsicId"), 1, 10, repeat("1"), "x0x6", MATTER_ID),
    (("MatterEndpoint", "id"), 1, 64, repeat("e"), "ep#1", r"[0-9a-zA-Z]+"),
    ((*STATE, "id"), 1, 24, repeat("1"), "x0x1", MATTER_ID),
]
STRING_IDS = [render(row[0]) for row in STRINGS]


def test_the_full_event_is_accepted() -> None:
    assert problems(full_event()) == []


@pytest.mark.parametrize(("path", "low", "high", "make", "odd", "pattern"), STRINGS, ids=STRING_IDS)
def test_string_member_at_its_longest_is_accepted_and_one_more_is_rejected(
    path: Path, low: int, high: int, make: Callable[[int], str], odd: str, pattern: str
) -> None:
    assert problems(with_value(path, make(high))) == []
    assert problems(with_value(path, make(high + 1))) == [
        {"path": render(path), "rule": f"length must be {low}..{high}"}
    ]


@pytest.mark.parametrize(("path", "low", "high", "make", "odd", "pattern"), STRINGS, ids=STRING_IDS)
def test_string_member_at_its_shortest_is_accepted_when_its_pattern_allows_and_one_less_is_rejected(
    path: Path, low: int, high: int, make: Callable[[int], str], odd: str, pattern: str
) -> None:
    shortest = make(low)
    at_min = problems(with_value(path, shortest))
    if path[-1] in {"version", "specVersion"} or low == 0:
        # No value that short can match these patterns: AWS would refuse it too.
        assert at_min == [{"path": render(path), "rule": f"must match pattern {pattern}"}]
    else:
        assert at_min == []
    if low > 0:
        assert problems(with_value(path, make(low - 1))) == [
            {"path": render(path), "rule": f"length must be {low}..{high}"}
        ]


@pytest.mark.parametrize(("path", "low", "high", "make", "odd", "pattern"), STRINGS, ids=STRING_IDS)
def test_string_member_pattern_is_unanchored_but_needs_some_match(
    path: Path, low: int, high: int, make: Callable[[int], str], odd: str, pattern: str
) -> None:
    assert problems(with_value(path, odd)) == []
    no_match = "!" * max(low, 1)
    assert problems(with_value(path, no_match)) == [
        {"path": render(path), "rule": f"must match pattern {pattern}"}
    ]


@pytest.mark.parametrize(("path", "low", "high", "make", "odd", "pattern"), STRINGS, ids=STRING_IDS)
@pytest.mark.parametrize("value", [12, True, None, ["x"], {"x": 1}])
def test_string_member_takes_only_a_json_string(
    path: Path, low: int, high: int, make: Callable[[int], str], odd: str, pattern: str, value: object
) -> None:
    assert problems(with_value(path, value)) == [{"path": render(path), "rule": "must be a string"}]


@pytest.mark.parametrize(
    ("value", "passes"),
    [
        ("0x1A", True),
        ("123", True),
        ("12x", True),
        ("x0x1", True),
        ("x12", False),
        ("zz", False),
        ("0xg", True),
    ],
)
def test_cluster_id_passes_when_it_ends_with_hex_or_starts_with_digits(value: str, passes: bool) -> None:
    expected = (
        [] if passes else [{"path": render((*CLUSTER, "id")), "rule": f"must match pattern {MATTER_ID}"}]
    )
    assert problems(with_value((*CLUSTER, "id"), value)) == expected


@pytest.mark.parametrize("name", ["Küchenlampe", "冷蔵庫 2", "Lámpara_1", "٣"])
def test_device_name_takes_unicode_letters_and_digits(name: str) -> None:
    assert problems(with_value((*DEVICE, "ConnectorDeviceName"), name)) == []


def test_device_name_without_a_letter_digit_or_allowed_sign_is_rejected() -> None:
    assert problems(with_value((*DEVICE, "ConnectorDeviceName"), "@@@")) == [
        {"path": "Devices[0].ConnectorDeviceName", "rule": r"must match pattern [\p{L}\p{N} ._-]+"}
    ]


# (member, min, max)
INTEGERS: list[tuple[Path, int, int]] = [
    (("StatusCode",), 100, 550),
    ((*CLUSTER, "revision"), 1, 10),
    ((*CLUSTER, "featureMap"), 0, 4294967295),
    ((*CLUSTER, "fabricIndex"), 0, 4096),
    ((*SCHEMA, "ExtrinsicVersion"), 1, 10),
]
INTEGER_IDS = [render(row[0]) for row in INTEGERS]


@pytest.mark.parametrize(("path", "low", "high"), INTEGERS, ids=INTEGER_IDS)
def test_integer_member_accepts_both_edges_and_rejects_just_outside(path: Path, low: int, high: int) -> None:
    assert problems(with_value(path, low)) == []
    assert problems(with_value(path, high)) == []
    for outside in (low - 1, high + 1):
        assert problems(with_value(path, outside)) == [
            {"path": render(path), "rule": f"must be {low}..{high}"}
        ]


@pytest.mark.parametrize(("path", "low", "high"), INTEGERS, ids=INTEGER_IDS)
@pytest.mark.parametrize("value", ["200", 200.5, 200.0, True, None])
def test_integer_member_takes_only_a_json_integer(path: Path, low: int, high: int, value: object) -> None:
    # 200.0 too: JSON has one number type, but a sender that means an integer writes one.
    assert problems(with_value(path, value)) == [{"path": render(path), "rule": "must be an integer"}]


def endpoint() -> dict[str, Any]:
    return {"id": "1", "deviceTypes": [], "clusters": []}


def schema_item() -> dict[str, Any]:
    return {
        "Format": "ZCL",
        "CapabilityId": "aws.Any@1.0",
        "ExtrinsicId": "6",
        "ExtrinsicVersion": 1,
        "Schema": {},
    }


# (list member, min, max, one valid item)
LISTS: list[tuple[Path, int, int, Callable[[], object]]] = [
    ((*REPORT, "endpoints"), 0, 50, endpoint),
    ((*ENDPOINT, "deviceTypes"), 0, 50, lambda: "Light"),
    ((*ENDPOINT, "clusters"), 0, 50, lambda: {"id": "6", "revision": 1}),
    ((*ENDPOINT, "parts"), 0, 32, lambda: "2"),
    ((*ENDPOINT, "semanticTags"), 0, 32, lambda: "tag"),
    ((*ENDPOINT, "clientClusters"), 0, 32, lambda: "3"),
    ((*CLUSTER, "attributes"), 0, 100, lambda: {"id": "0"}),
    ((*CLUSTER, "commands"), 0, 100, lambda: "0x00"),
    ((*CLUSTER, "events"), 0, 100, lambda: "0x00"),
    ((*CLUSTER, "generatedCommands"), 0, 50, lambda: "0x00"),
    ((*DEVICE, "CapabilitySchemas"), 0, 40, schema_item),
    (("MatterEndpoint", "clusters"), 1, 5, lambda: {"id": "6"}),
]
LIST_IDS = [render(row[0]) for row in LISTS]


@pytest.mark.parametrize(("path", "low", "high", "item"), LISTS, ids=LIST_IDS)
def test_list_member_size_is_checked_at_both_edges(
    path: Path, low: int, high: int, item: Callable[[], object]
) -> None:
    rule = {"path": render(path), "rule": f"must hold {low}..{high} items"}
    assert problems(with_value(path, [item() for _ in range(low)])) == []
    assert problems(with_value(path, [item() for _ in range(high)])) == []
    assert problems(with_value(path, [item() for _ in range(high + 1)])) == [rule]
    if low > 0:
        assert problems(with_value(path, [item() for _ in range(low - 1)])) == [rule]


@pytest.mark.parametrize(("path", "low", "high", "item"), LISTS, ids=LIST_IDS)
def test_list_member_takes_only_a_json_array(
    path: Path, low: int, high: int, item: Callable[[], object]
) -> None:
    assert problems(with_value(path, item())) == [{"path": render(path), "rule": "must be an array"}]


def test_matter_endpoint_with_six_clusters_is_rejected() -> None:
    clusters = [{"id": str(n)} for n in range(6)]
    assert problems(with_value(("MatterEndpoint", "clusters"), clusters)) == [
        {"path": "MatterEndpoint.clusters", "rule": "must hold 1..5 items"}
    ]


def test_devices_may_be_an_empty_list() -> None:
    assert problems(with_value(("Devices",), [])) == []


@pytest.mark.parametrize("member", ["commands", "events"])
@pytest.mark.parametrize(
    ("entries", "rule"),
    [
        ({}, "must hold 1..5 entries"),
        ({"0x01": {}}, None),
        ({f"0x0{n}": {"field": n} for n in range(5)}, None),
        ({f"0x0{n}": {} for n in range(6)}, "must hold 1..5 entries"),
        ({"12x": [], "x0x1": 5}, None),
        ({"zz": {}}, f"each key: must match pattern {MATTER_ID}"),
        ({"": {}}, "each key: length must be 1..24"),
        ({"1" * 25: {}}, "each key: length must be 1..24"),
        ({"0x01": math.nan}, "each value: must be a JSON value (finite numbers, Unicode text)"),
    ],
)
def test_matter_command_and_event_maps_check_size_keys_and_values(
    member: str, entries: dict[str, Any], rule: str | None
) -> None:
    expected = [] if rule is None else [{"path": f"MatterEndpoint.clusters[0].{member}", "rule": rule}]
    assert problems(with_value((*STATE, member), entries)) == expected


@pytest.mark.parametrize(
    "path",
    [
        (*ATTRIBUTE, "value"),
        (*SCHEMA, "Schema"),
        (*DEVICE, "DeviceMetadata"),
        (*STATE, "attributes"),
        (*STATE, "commands", "0x01"),
    ],
    ids=render,
)
@pytest.mark.parametrize(
    "value", [{"any": {"nested": [1, 2.5, None]}}, [1, "a"], "text", 73, 1.5, True, {"Unknown": 1}]
)
def test_document_member_takes_any_json_value(path: Path, value: object) -> None:
    assert problems(with_value(path, value)) == []


@pytest.mark.parametrize("path", [(*ATTRIBUTE, "value"), (*DEVICE, "DeviceMetadata"), (*STATE, "attributes")])
def test_an_optional_document_member_may_be_null(path: Path) -> None:
    assert problems(with_value(path, None)) == []


@pytest.mark.parametrize(
    ("path", "reported"),
    [
        ((*SCHEMA, "Schema"), "Devices[0].CapabilitySchemas[0].Schema"),
        # A map's keys are the sender's text: the map is named, not the key.
        ((*STATE, "commands", "0x01"), "MatterEndpoint.clusters[0].commands"),
        ((*STATE, "events", "0x02"), "MatterEndpoint.clusters[0].events"),
    ],
    ids=lambda case: render(case) if isinstance(case, tuple) else "",
)
def test_a_required_document_or_a_map_value_must_not_be_null(path: Path, reported: str) -> None:
    # AWS refuses these with "Member must not be null": accepting them would dead-letter the event later.
    rule = "must not be null" if "Schema" in reported else "each value: must not be null"
    assert problems(with_value(path, None)) == [{"path": reported, "rule": rule}]


@pytest.mark.parametrize("value", [math.nan, math.inf, [1, -math.inf], {"a": {"b": math.nan}}, ("tuple",)])
def test_document_member_rejects_what_json_cannot_carry(value: object) -> None:
    assert problems(with_value((*DEVICE, "DeviceMetadata"), value)) == [
        {"path": "Devices[0].DeviceMetadata", "rule": "must be a JSON value (finite numbers, Unicode text)"}
    ]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (("Operation",), "DEVICE_COMMAND_RESPONSE, DEVICE_DISCOVERY, DEVICE_EVENT, DEVICE_COMMAND_REQUEST"),
        ((*SCHEMA, "Format"), "AWS, ZCL, CONNECTOR"),
    ],
    ids=render,
)
@pytest.mark.parametrize("value", ["device_event", "UNKNOWN", ""])
def test_enum_member_takes_only_its_values(path: Path, allowed: str, value: str) -> None:
    assert problems(with_value(path, value)) == [{"path": render(path), "rule": f"must be one of {allowed}"}]


@pytest.mark.parametrize("fmt", ["AWS", "ZCL", "CONNECTOR"])
def test_every_schema_format_is_accepted(fmt: str) -> None:
    assert problems(with_value((*SCHEMA, "Format"), fmt)) == []


@pytest.mark.parametrize(
    "path",
    [
        ("Operation",),
        (*DEVICE, "ConnectorDeviceId"),
        (*DEVICE, "CapabilityReport"),
        (*REPORT, "version"),
        (*REPORT, "endpoints"),
        (*ENDPOINT, "id"),
        (*ENDPOINT, "deviceTypes"),
        (*ENDPOINT, "clusters"),
        (*CLUSTER, "id"),
        (*CLUSTER, "revision"),
        (*SCHEMA, "Format"),
        (*SCHEMA, "CapabilityId"),
        (*SCHEMA, "ExtrinsicId"),
        (*SCHEMA, "ExtrinsicVersion"),
        (*SCHEMA, "Schema"),
    ],
    ids=render,
)
def test_required_member_left_out_is_reported(path: Path) -> None:
    assert problems(without(path)) == [{"path": render(path), "rule": "required"}]


@pytest.mark.parametrize(
    "path",
    [
        ("UserId",),
        ("OperationVersion",),
        ("StatusCode",),
        ("Message",),
        ("TraceId",),
        ("ConnectorId",),
        (*DEVICE, "ConnectorDeviceName"),
        (*DEVICE, "CapabilitySchemas"),
        (*DEVICE, "DeviceMetadata"),
        (*REPORT, "nodeId"),
        (*ENDPOINT, "parts"),
        (*CLUSTER, "attributes"),
        (*CLUSTER, "fabricIndex"),
        (*ATTRIBUTE, "id"),
        (*ATTRIBUTE, "value"),
        ("MatterEndpoint", "id"),
        (*STATE, "id"),
        (*STATE, "commands"),
    ],
    ids=render,
)
def test_optional_member_may_be_left_out(path: Path) -> None:
    assert problems(without(path)) == []


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        (("UserId",), "must be a string"),
        (("MatterEndpoint",), "must be an object"),
        (("Devices",), "must be an array"),
    ],
    ids=render,
)
def test_explicit_null_is_not_the_same_as_leaving_a_member_out(path: Path, rule: str) -> None:
    # botocore refuses None for any member, so a null could never be sent on.
    assert problems(with_value(path, None)) == [{"path": render(path), "rule": rule}]


@pytest.mark.parametrize(
    "parent",
    [(), DEVICE, REPORT, ENDPOINT, CLUSTER, ATTRIBUTE, SCHEMA, ("MatterEndpoint",), STATE],
    ids=lambda p: render(p) or "(top)",
)
def test_unknown_member_is_rejected_at_every_depth(parent: Path) -> None:
    assert problems(with_value((*parent, "Colour"), "red")) == [
        {"path": render((*parent, "Colour")), "rule": "unknown member"}
    ]


def test_unknown_member_with_an_odd_name_is_reported_without_the_name() -> None:
    assert problems(with_value(("a name with spaces",), 1)) == [
        {"path": "", "rule": "unknown member (name not shown)"}
    ]


# ------------------------------------------------------------------------------------------------------------
# Per-operation rules


@pytest.mark.parametrize(
    ("operation", "members"),
    [
        ("DEVICE_DISCOVERY", ["DeviceDiscoveryId", "Devices"]),
        ("DEVICE_EVENT", ["ConnectorDeviceId", "MatterEndpoint"]),
        ("DEVICE_COMMAND_RESPONSE", ["TraceId"]),
        ("DEVICE_COMMAND_REQUEST", []),
    ],
)
def test_each_operation_requires_what_its_flow_cannot_do_without(operation: str, members: list[str]) -> None:
    # Only the Operation
    body = {"Operation": operation}
    # It is checked, then exactly the operation's own members are missing
    assert problems(body) == [{"path": m, "rule": f"required for Operation {operation}"} for m in members]


def test_operation_rules_are_reported_alongside_other_problems() -> None:
    body = {"Operation": "DEVICE_EVENT", "StatusCode": 99}
    assert problems(body) == [
        {"path": "StatusCode", "rule": "must be 100..550"},
        {"path": "ConnectorDeviceId", "rule": "required for Operation DEVICE_EVENT"},
        {"path": "MatterEndpoint", "rule": "required for Operation DEVICE_EVENT"},
    ]


def test_operation_member_present_but_invalid_is_reported_once() -> None:
    body = {"Operation": "DEVICE_COMMAND_RESPONSE", "TraceId": "!!!"}
    assert problems(body) == [{"path": "TraceId", "rule": "must match pattern [a-zA-Z0-9:=_-]+"}]


def test_operation_rules_also_hold_when_the_model_is_used_directly() -> None:
    with pytest.raises(ValueError, match="required for Operation DEVICE_EVENT"):
        ConnectorEvent.model_validate({"Operation": "DEVICE_EVENT"})


def test_device_command_request_needs_nothing_beyond_the_operation() -> None:
    assert wire_events({"Operation": "DEVICE_COMMAND_REQUEST"}, CONNECTOR) == [
        {"Operation": "DEVICE_COMMAND_REQUEST"}
    ]


# ------------------------------------------------------------------------------------------------------------
# The body: one event or an array of 1..50, and the path's connector id


def device_event(n: int = 0) -> dict[str, Any]:
    return {"Operation": "DEVICE_EVENT", "ConnectorDeviceId": f"dev-{n}", "MatterEndpoint": {"id": "1"}}


@pytest.mark.parametrize("size", [1, 2, 50])
def test_array_of_1_to_50_events_gives_one_event_each_in_order(size: int) -> None:
    events = parse_webhook_body([device_event(n) for n in range(size)], CONNECTOR)
    assert [e.ConnectorDeviceId for e in events] == [f"dev-{n}" for n in range(size)]


@pytest.mark.parametrize("size", [0, 51])
def test_array_of_0_or_more_than_50_events_is_rejected(size: int) -> None:
    assert problems([device_event(n) for n in range(size)]) == [
        {"path": "", "rule": "array must hold 1..50 events"}
    ]


def test_problems_in_an_array_are_prefixed_with_the_item_index() -> None:
    body = [device_event(0), device_event(1), device_event(2), {**device_event(3), "StatusCode": 600}]
    body[1]["MatterEndpoint"] = {"clusters": []}
    assert problems(body) == [
        {"path": "[1].MatterEndpoint.clusters", "rule": "must hold 1..5 items"},
        {"path": "[3].StatusCode", "rule": "must be 100..550"},
    ]


def test_problem_paths_reach_deep_members() -> None:
    body = with_value((*ENDPOINT, "clusters", 0, "id"), "zz")
    assert problems([device_event(), device_event(), device_event(), body]) == [
        {
            "path": "[3].Devices[0].CapabilityReport.endpoints[0].clusters[0].id",
            "rule": f"must match pattern {MATTER_ID}",
        }
    ]


@pytest.mark.parametrize("body", ["text", 5, None, True, 1.5])
def test_body_that_is_neither_an_object_nor_an_array_is_rejected(body: object) -> None:
    assert problems(body) == [
        {"path": "", "rule": "must be an event object or an array of 1..50 event objects"}
    ]


def test_array_item_that_is_not_an_object_is_reported_by_index() -> None:
    assert problems([device_event(), "x"]) == [{"path": "[1]", "rule": "must be an object"}]


def test_connector_id_in_the_body_may_repeat_the_path() -> None:
    [event] = wire_events({**device_event(), "ConnectorId": CONNECTOR}, CONNECTOR)
    assert "ConnectorId" not in event


def test_connector_id_in_the_body_that_differs_from_the_path_is_rejected() -> None:
    assert problems({**device_event(), "ConnectorId": "other"}) == [
        {"path": "ConnectorId", "rule": "must equal the connector id in the path"}
    ]


@pytest.mark.parametrize(
    ("connector_id", "rule"),
    [
        ("", "length must be 1..64"),
        ("c" * 65, "length must be 1..64"),
        ("!!!", "must match pattern [A-Za-z0-9-_]+"),
    ],
)
def test_invalid_connector_id_in_the_path_is_reported(connector_id: str, rule: str) -> None:
    assert problems(device_event(), connector_id) == [{"path": "connectorId", "rule": rule}]


# ------------------------------------------------------------------------------------------------------------
# What the relay sends on, and what it never says


def test_wire_event_is_the_body_as_received_without_connector_id() -> None:
    body = full_event()
    [event] = wire_events(body, CONNECTOR)
    expected = {k: v for k, v in full_event().items() if k != "ConnectorId"}
    assert event == expected
    assert list(event) == list(expected)


def test_wire_event_leaves_out_members_the_sender_left_out() -> None:
    assert wire_events(device_event(), CONNECTOR) == [device_event()]
    [event] = parse_webhook_body(device_event(), CONNECTOR)
    assert event.Operation == "DEVICE_EVENT"
    assert event.TraceId is None


def test_events_are_immutable() -> None:
    [event] = parse_webhook_body(device_event(), CONNECTOR)
    with pytest.raises(ValueError, match="frozen"):
        event.TraceId = "t"


SENTINEL = "SENTINELsecret"


def test_problems_never_quote_the_values_sent() -> None:
    # GIVEN A body whose sensitive and other members break rules while carrying a distinctive value
    body = [
        {
            "Operation": "DEVICE_EVENT",
            "UserId": SENTINEL * 10,
            "Message": SENTINEL * 30,
            "ConnectorDeviceId": SENTINEL + "!" * 300,
            "TraceId": "!" + SENTINEL.replace("S", "!") + "#" * 200,
            "StatusCode": SENTINEL,
            "ConnectorId": SENTINEL,
            "MatterEndpoint": {
                "id": SENTINEL * 10,
                "clusters": [{"id": SENTINEL, "commands": {SENTINEL: math.nan}, f"{SENTINEL} !": 1}],
            },
            f"{SENTINEL}!": SENTINEL,
        },
        {"Operation": SENTINEL},
    ]
    # WHEN it is checked
    with pytest.raises(EventValidationError) as caught:
        parse_webhook_body(body, CONNECTOR)
    # THEN neither the problems nor the exception's text contain any of it
    assert len(caught.value.problems) >= 10
    assert SENTINEL.lower() not in repr(caught.value.problems).lower()
    assert SENTINEL.lower() not in str(caught.value).lower()
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["Operation", "Devices", "MatterEndpoint", "clusters", "id", "x", "TraceId"])
            | st.text(max_size=4),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(JSON_VALUES)
def test_any_json_body_gives_events_or_a_clear_error_never_a_crash(body: object) -> None:
    try:
        events = parse_webhook_body(body, CONNECTOR)
    except EventValidationError as exc:
        assert exc.problems
        assert all(isinstance(p.path, str) and p.rule for p in exc.problems)
    else:
        assert 1 <= len(events) <= 50


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["DEVICE_EVENT", "DEVICE_COMMAND_RESPONSE"]), st.text(min_size=1, max_size=40))
def test_any_rejected_trace_id_is_reported_without_its_value(operation: str, trace_id: str) -> None:
    body = {**device_event(), "Operation": operation, "TraceId": trace_id + "\x00" * 130}
    found = problems(copy.deepcopy(body))
    assert found == [{"path": "TraceId", "rule": "length must be 1..128"}]


# --- Bounds on the work and on the answer ------------------------------------------------------------


def _refused(body: object) -> EventValidationError:
    with pytest.raises(EventValidationError) as raised:
        parse_webhook_body(body, CONNECTOR)
    return raised.value


@pytest.mark.parametrize(
    "body",
    [
        {"Operation": "DEVICE_DISCOVERY", "DeviceDiscoveryId": "a", "Devices": [{}] * 250_000},
        {"Operation": "DEVICE_EVENT", **{f"k{n}": 1 for n in range(50_000)}},
        [{"Operation": "DEVICE_EVENT", **{f"k{n}": 1 for n in range(2_000)}}] * 50,
    ],
    ids=["empty-devices", "unknown-members", "array-of-unknown-members"],
)
def test_a_body_with_very_many_problems_lists_the_first_ones_and_counts_the_rest(body: object) -> None:
    # Before, every problem was listed: a 1 MiB body gave a 42 MB answer, over Lambda's 6 MB response limit.
    refused = _refused(body)

    assert len(refused.problems) == MAX_LISTED_PROBLEMS
    assert refused.more >= 10 * MAX_LISTED_PROBLEMS
    assert len(json.dumps([p.as_dict() for p in refused.problems])) < 20_000


def test_the_first_problems_of_a_large_body_are_its_own() -> None:
    # GIVEN a discovery of 5,000 devices, broken at the 8th and from the 3,001st on
    devices: list[Any] = [
        {"ConnectorDeviceId": f"d{n}", "CapabilityReport": {"version": "1.0.0", "endpoints": []}}
        for n in range(3_000)
    ]
    devices[7] = {}
    devices += [{"ConnectorDeviceId": "d", "CapabilityReport": {"version": "2"}}] * 2_000

    # WHEN it is checked
    refused = _refused({"Operation": "DEVICE_DISCOVERY", "DeviceDiscoveryId": "a", "Devices": devices})

    # THEN the problems come in the body's order, the 8th device's first
    assert refused.problems[:2] == [
        Problem("Devices[7].ConnectorDeviceId", "required"),
        Problem("Devices[7].CapabilityReport", "required"),
    ]
    # The rest are the devices from 3,000 on, each with its own two problems, in order.
    assert refused.problems[2].path == "Devices[3000].CapabilityReport.version"
    assert refused.problems[3].path == "Devices[3000].CapabilityReport.endpoints"


def test_an_array_longer_than_its_bound_is_one_problem_in_a_large_body_too() -> None:
    endpoint = {"id": "1", "deviceTypes": [], "clusters": [{"id": "x", "revision": 1}] * 51}
    device = {"ConnectorDeviceId": "d", "CapabilityReport": {"version": "1.0.0", "endpoints": [endpoint]}}
    refused = _refused(
        {"Operation": "DEVICE_DISCOVERY", "DeviceDiscoveryId": "a", "Devices": [device, {"x": 1}] * 600}
    )

    assert refused.problems[0] == Problem(
        "Devices[0].CapabilityReport.endpoints[0].clusters", "must hold 0..50 items"
    )


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_a_document_as_deep_as_botocore_can_send_is_accepted_and_one_level_more_is_refused() -> None:
    attributes_at = ("MatterEndpoint", "clusters", 0, "attributes")
    event: dict[str, Any] = {
        "Operation": "DEVICE_EVENT",
        "ConnectorDeviceId": "x",
        "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x6"}]},
    }

    deepest = copy.deepcopy(event)
    deepest["MatterEndpoint"]["clusters"][0]["attributes"] = nested(MAX_DOCUMENT_DEPTH)
    assert problems(deepest) == []

    deeper = copy.deepcopy(event)
    deeper["MatterEndpoint"]["clusters"][0]["attributes"] = nested(MAX_DOCUMENT_DEPTH + 1)
    assert problems(deeper) == [
        {
            "path": render(attributes_at),
            "rule": f"must not nest arrays and objects more than {MAX_DOCUMENT_DEPTH} levels deep",
        }
    ]
    # Arrays count like objects.
    deep_list: Any = 1
    for _ in range(MAX_DOCUMENT_DEPTH + 1):
        deep_list = [deep_list]
    deeper["MatterEndpoint"]["clusters"][0]["attributes"] = deep_list
    assert problems(deeper)[0]["rule"].startswith("must not nest")
