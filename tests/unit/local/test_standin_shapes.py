"""The stand-in's model walker enforces what AWS's service models say, with Smithy's pattern semantics."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_standin.service_models import (
    IOTEVENTS_DATA_MODEL,
    MANAGED_INTEGRATIONS,
    error_codes,
    match_route,
    service_model,
)
from iot_standin.shapes import ShapeChecker, pattern_allows
from iotbridge.send_connector_event.smithy import ecma_to_python


@pytest.fixture(scope="module")
def checker() -> ShapeChecker:
    return ShapeChecker(service_model(MANAGED_INTEGRATIONS)["shapes"])


def send(checker: ShapeChecker, **params: Any) -> Any:
    return checker.check("SendConnectorEventRequest", {"ConnectorId": "conn-1", **params})


# ---- patterns --------------------------------------------------------------------------------------------


def test_unanchored_pattern_holds_when_any_part_of_the_value_matches() -> None:
    assert pattern_allows(r"[a-zA-Z0-9:=_-]+", "!abc!")
    assert not pattern_allows(r"[a-zA-Z0-9:=_-]+", "!!!")


def test_anchors_a_pattern_carries_are_honoured() -> None:
    assert pattern_allows(r"^[a-zA-Z0-9_-]+$", "msg-1")
    assert not pattern_allows(r"^[a-zA-Z0-9_-]+$", "msg 1")


def test_dollar_does_not_match_before_a_trailing_newline() -> None:
    # ECMAScript's '$' is the very end; Python's would also accept "...\n".
    assert not pattern_allows(r"^[a-z]+$", "abc\n")


def test_digit_class_is_ascii_only_as_in_ecmascript() -> None:
    assert pattern_allows(r"^\d+$", "123")
    assert not pattern_allows(r"^\d+$", "١٢٣")  # Arabic-Indic digits
    assert ecma_to_python(r"[\d.]+") == "[0-9.]+"


def test_unicode_letter_classes_are_understood() -> None:
    assert pattern_allows(r"^[\p{L}\p{N} ._-]+$", "Kühlschrank Küche 2")
    assert not pattern_allows(r"[\p{L}\p{N} ._-]+", "!!!")


# ---- SendConnectorEvent against botocore's model ---------------------------------------------------------


def test_message_longer_than_256_characters_is_named_with_its_rule_and_not_its_value(
    checker: ShapeChecker,
) -> None:
    secret = "s" * 257
    result = send(checker, Operation="DEVICE_EVENT", Message=secret)
    assert [(v.path, v.rule) for v in result.violations] == [
        ("Message", "Member must have length less than or equal to 256")
    ]
    assert secret not in result.summary()


def test_message_carrying_a_uri_is_accepted(checker: ShapeChecker) -> None:
    assert send(checker, Operation="DEVICE_EVENT", Message="uri: auc://dev-1/switch").ok


@pytest.mark.parametrize(
    ("params", "path", "rule"),
    [
        ({"StatusCode": 551}, "StatusCode", "less than or equal to 550"),
        ({"StatusCode": 99}, "StatusCode", "greater than or equal to 100"),
        ({"StatusCode": "200"}, "StatusCode", "must be an integer"),
        ({"StatusCode": True}, "StatusCode", "must be an integer"),
        ({"TraceId": "!!!"}, "TraceId", "regular expression pattern"),
        ({"OperationVersion": "1.0.0.0"}, "OperationVersion", "less than or equal to 6"),
        ({"UserId": "u" * 65}, "UserId", "less than or equal to 64"),
        ({"Devices": "dev-1"}, "Devices", "must be a list"),
        (
            {"MatterEndpoint": {"id": "1", "clusters": [{"id": "0x6"}] * 6}},
            "MatterEndpoint.clusters",
            "less than or equal to 5",
        ),
        (
            {"MatterEndpoint": {"id": "1", "clusters": []}},
            "MatterEndpoint.clusters",
            "greater than or equal to 1",
        ),
        (
            {"MatterEndpoint": {"id": "1", "clusters": [{"id": "0x6", "commands": {"!": {}}}]}},
            "MatterEndpoint.clusters[0].commands.key[0]",
            "regular expression pattern",
        ),
        (
            {
                "Devices": [
                    {"ConnectorDeviceId": "d", "CapabilityReport": {"version": "2.0.0", "endpoints": []}}
                ]
            },
            "Devices[0].CapabilityReport.version",
            "regular expression pattern: 1\\.0\\.0",
        ),
        (
            {"Devices": [{"ConnectorDeviceId": "d", "CapabilityReport": {"version": "1.0.0"}}]},
            "Devices[0].CapabilityReport.endpoints",
            "must not be null",
        ),
    ],
)
def test_each_broken_constraint_is_reported_at_its_member_path(
    checker: ShapeChecker, params: dict[str, Any], path: str, rule: str
) -> None:
    result = send(checker, Operation="DEVICE_EVENT", **params)
    assert [v.path for v in result.violations] == [path]
    assert rule in result.violations[0].rule


def test_operation_outside_the_enum_is_rejected(checker: ShapeChecker) -> None:
    result = send(checker, Operation="DEVICE_PING")
    assert [v.path for v in result.violations] == ["Operation"]
    assert "enum value set" in result.violations[0].rule


def test_missing_required_members_are_each_reported(checker: ShapeChecker) -> None:
    result = checker.check("SendConnectorEventRequest", {})
    assert sorted(v.path for v in result.violations) == ["ConnectorId", "Operation"]


def test_unknown_members_are_noted_but_not_rejected(checker: ShapeChecker) -> None:
    result = send(checker, Operation="DEVICE_EVENT", Colour="blue", MatterEndpoint={"id": "1", "extra": 1})
    assert result.ok
    assert result.unknown_members == ["Colour", "MatterEndpoint.extra"]


def test_documents_take_any_json_value(checker: ShapeChecker) -> None:
    for value in ({"a": [1, {"b": None}]}, [73], 73, 7.5, "on", True):
        cluster = {"id": "0x0006", "attributes": value}
        assert send(checker, Operation="DEVICE_EVENT", MatterEndpoint={"id": "1", "clusters": [cluster]}).ok


def test_summary_counts_every_violation_in_aws_wording(checker: ShapeChecker) -> None:
    result = send(checker, Operation="DEVICE_EVENT", StatusCode=551, TraceId="!!!")
    assert result.summary().startswith(
        "2 validation errors detected: Value at 'StatusCode' failed to satisfy"
    )


ALLOWED_TRACE_CHARACTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:=_-")


@given(st.text(max_size=140))
def test_trace_id_is_accepted_exactly_when_its_length_fits_and_one_character_is_allowed(
    trace_id: str,
) -> None:
    checker = ShapeChecker(service_model(MANAGED_INTEGRATIONS)["shapes"])
    expected = 1 <= len(trace_id) <= 128 and any(c in ALLOWED_TRACE_CHARACTERS for c in trace_id)
    assert send(checker, Operation="DEVICE_EVENT", TraceId=trace_id).ok is expected


# ---- routes and error codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "operation", "labels"),
    [
        ("POST", "/connector-event/conn-1", "SendConnectorEvent", {"ConnectorId": "conn-1"}),
        ("POST", "/inputs/messages", "BatchPutMessage", {}),
        ("POST", "/detectors", "BatchUpdateDetector", {}),
        ("GET", "/detectors/Pump", "ListDetectors", {"detectorModelName": "Pump"}),
        ("GET", "/detectors/Pump/keyValues/", "DescribeDetector", {"detectorModelName": "Pump"}),
    ],
)
def test_each_operation_is_reached_at_its_modeled_method_and_path(
    method: str, path: str, operation: str, labels: dict[str, str]
) -> None:
    found = match_route(method, path)
    assert found is not None
    assert (found[0].operation, found[1]) == (operation, labels)


def test_other_paths_reach_no_operation() -> None:
    assert match_route("GET", "/connector-event/conn-1") is None
    assert match_route("POST", "/detectors/Pump/extra") is None


def test_error_codes_carry_the_statuses_the_models_give_them() -> None:
    assert error_codes("SendConnectorEvent") == {
        "ValidationException": 400,
        "AccessDeniedException": 403,
        "InternalServerException": 500,
        "ServiceUnavailableException": 503,
        "ResourceNotFoundException": 404,
        "ThrottlingException": 429,
    }
    assert error_codes("ListDetectors")["InternalFailureException"] == 500


# ---- the written-out IoT Events Data constraints match the model the bridge ships ------------------------


def _project_iotevents_model() -> dict[str, Any] | None:
    from iotbridge.clients import SERVICE_MODELS_DIR

    path = SERVICE_MODELS_DIR / "iotevents-data" / "2018-10-23" / "service-2.json"
    return json.loads(path.read_text()) if path.exists() else None


FACTS = ("type", "min", "max", "pattern", "enum", "required")


def _same_shape(mine: dict[str, Any], theirs: dict[str, Any], a: str, b: str, where: str) -> None:
    """Walk both models from the same shape: every wire-relevant fact must agree (names of shapes may not)."""
    ours, their = mine["shapes"][a], theirs["shapes"][b]
    assert {f: ours.get(f) for f in FACTS} == {f: their.get(f) for f in FACTS}, where
    assert set(ours.get("members", {})) == set(their.get("members", {})), where
    for name, ref in ours.get("members", {}).items():
        their_ref = their["members"][name]
        assert (ref.get("location"), ref.get("locationName")) == (
            their_ref.get("location"),
            their_ref.get("locationName"),
        ), f"{where}.{name}"
        _same_shape(mine, theirs, ref["shape"], their_ref["shape"], f"{where}.{name}")
    if "member" in ours:
        _same_shape(mine, theirs, ours["member"]["shape"], their["member"]["shape"], f"{where}[]")


@pytest.mark.skipif(
    _project_iotevents_model() is None, reason="the bridge's iotevents-data model is not there"
)
def test_written_out_iotevents_constraints_agree_with_the_bridges_model() -> None:
    shipped = _project_iotevents_model()
    assert shipped is not None
    for operation, spec in IOTEVENTS_DATA_MODEL["operations"].items():
        theirs = shipped["operations"][operation]
        assert spec["http"]["method"] == theirs["http"]["method"]
        assert spec["http"]["requestUri"] == theirs["http"]["requestUri"]
        _same_shape(
            IOTEVENTS_DATA_MODEL, shipped, spec["input"]["shape"], theirs["input"]["shape"], operation
        )
        statuses = {
            e["shape"]: shipped["shapes"][e["shape"]]["error"]["httpStatusCode"] for e in theirs["errors"]
        }
        assert error_codes(operation) == statuses, operation
