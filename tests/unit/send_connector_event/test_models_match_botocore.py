"""The event models against AWS's own model of SendConnectorEvent, as botocore ships it (no network)."""

from __future__ import annotations

import json
from typing import Any

import botocore.serialize
import botocore.session
import pytest
from botocore.model import Shape
from botocore.validate import ParamValidator

from iotbridge.send_connector_event.body import wire_events
from tools.contract import openapi

CONNECTOR = "MockConnectorId"


@pytest.fixture(scope="module")
def service_model() -> Any:
    return botocore.session.get_session().get_service_model("iot-managed-integrations")


@pytest.fixture(scope="module")
def request_shape(service_model: Any) -> Shape:
    return service_model.operation_model("SendConnectorEvent").input_shape


def compare(  # noqa: C901 - one branch per kind of botocore shape and constraint
    shape: Shape, schema: dict[str, Any], schemas: dict[str, Any], where: str, found: list[str]
) -> None:
    """Record in `found` every way the JSON Schema of our models differs from the botocore shape."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    meta = shape.metadata
    if meta.get("document"):
        if "type" in schema:
            found.append(f"{where}: document should take any JSON value")
        return
    expected: dict[str, Any] = {}
    if shape.type_name == "structure":
        if set(schema.get("properties", {})) != set(shape.members):
            found.append(
                f"{where}: members {sorted(schema.get('properties', {}))} != {sorted(shape.members)}"
            )
        required = set(shape.required_members) - ({"ConnectorId"} if where == "" else set())
        if set(schema.get("required", [])) != required:
            found.append(f"{where}: required {schema.get('required')} != {sorted(required)}")
        if schema.get("additionalProperties") is not False:
            found.append(f"{where}: unknown members should be rejected")
        for name, member in shape.members.items():
            if name in schema.get("properties", {}):
                compare(member, schema["properties"][name], schemas, f"{where}.{name}", found)
        return
    if shape.type_name == "string":
        expected = {"type": "string", "enum": shape.enum or None}
        if not shape.enum:
            expected |= {
                "minLength": meta.get("min"),
                "maxLength": meta.get("max"),
                "pattern": meta.get("pattern"),
            }
    elif shape.type_name in {"integer", "long"}:
        expected = {"type": "integer", "minimum": meta.get("min"), "maximum": meta.get("max")}
    elif shape.type_name == "list":
        expected = {"type": "array", "minItems": meta.get("min"), "maxItems": meta.get("max")}
        compare(shape.member, schema["items"], schemas, f"{where}[]", found)
    elif shape.type_name == "map":
        expected = {"type": "object", "minProperties": meta.get("min"), "maxProperties": meta.get("max")}
        compare(shape.key, {"type": "string", **schema["propertyNames"]}, schemas, f"{where}{{key}}", found)
        compare(shape.value, schema["additionalProperties"], schemas, f"{where}{{value}}", found)
    else:
        found.append(f"{where}: unexpected shape type {shape.type_name}")
    for keyword, value in expected.items():
        if schema.get(keyword) != value:
            found.append(f"{where}: {keyword} is {schema.get(keyword)!r}, AWS says {value!r}")


def test_every_member_and_constraint_matches_the_aws_model_at_every_depth(request_shape: Shape) -> None:
    # GIVEN the contract generated from our models and botocore's model of the same request
    schemas = openapi()["components"]["schemas"]
    found: list[str] = []
    # WHEN both are walked together
    compare(request_shape, schemas["ConnectorEvent"], schemas, "", found)
    # THEN they agree on every member, requirement, length, pattern, enum, range and size
    assert found == []


def test_the_comparison_notices_a_constraint_that_drifts(request_shape: Shape) -> None:
    schemas = openapi()["components"]["schemas"]
    schemas["MatterCapabilityReportCluster"]["properties"]["revision"]["maximum"] = 11
    del schemas["MatterCluster"]["properties"]["commands"]["propertyNames"]["pattern"]
    found: list[str] = []
    compare(request_shape, schemas["ConnectorEvent"], schemas, "", found)
    assert len(found) == 2


def official_examples() -> dict[str, dict[str, Any]]:
    """The SendConnectorEvent examples AWS publishes, as request parameters."""
    common = {
        "ConnectorId": CONNECTOR,
        "UserId": "MockThirdPartyUserId",
        "OperationVersion": "1.0",
        "StatusCode": 200,
        "Message": "Sample ConnectorEventMessage",
    }
    return {
        "DEVICE_DISCOVERY": {
            **common,
            "Operation": "DEVICE_DISCOVERY",
            "DeviceDiscoveryId": "358275hbk3qr",
            "Devices": [
                {
                    "ConnectorDeviceId": "Mock-Connector-DeviceId-1",
                    "ConnectorDeviceName": "Sample-User-device-1",
                    "CapabilityReport": {
                        "version": "1.0.0",
                        "nodeId": "1",
                        "endpoints": [
                            {
                                "id": "EP1",
                                "deviceTypes": ["Refrigerator"],
                                "clusters": [
                                    {
                                        "id": "0x0201",
                                        "revision": 1,
                                        "attributes": [
                                            {"id": "0x0000", "value": "exampleString"},
                                            {"id": "0x0001", "value": "exampleString"},
                                        ],
                                        "commands": ["0x00", "0x01"],
                                        "events": [],
                                    }
                                ],
                            }
                        ],
                    },
                }
            ],
        },
        "DEVICE_COMMAND_RESPONSE": {
            **common,
            "Operation": "DEVICE_COMMAND_RESPONSE",
            "ConnectorDeviceId": "Mock-Connector-DeviceId-1",
            "TraceId": "9b75f3839b6140f=_1",
            "MatterEndpoint": {
                "id": "1",
                "clusters": [
                    {
                        "id": "0x1003",
                        "attributes": {"0x0000": [73], "0x15570003": "exampleString"},
                        "commands": {"0x03": {}},
                    }
                ],
            },
        },
        "DEVICE_EVENT": {
            **common,
            "Operation": "DEVICE_EVENT",
            "ConnectorDeviceId": "Mock-Connector-DeviceId-1",
            "TraceId": "TraceId-Sample",
            "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x1003", "attributes": {"0x0000": 73}}]},
        },
    }


@pytest.mark.parametrize("operation", ["DEVICE_DISCOVERY", "DEVICE_COMMAND_RESPONSE", "DEVICE_EVENT"])
def test_official_example_is_accepted_with_or_without_connector_id(operation: str) -> None:
    example = official_examples()[operation]
    body = {k: v for k, v in example.items() if k != "ConnectorId"}
    [with_id] = wire_events(example, CONNECTOR)
    [without_id] = wire_events(body, CONNECTOR)
    assert with_id == without_id == body


@pytest.mark.parametrize("operation", ["DEVICE_DISCOVERY", "DEVICE_COMMAND_RESPONSE", "DEVICE_EVENT"])
def test_accepted_event_passes_botocore_validation_and_serializes_to_the_same_body(
    operation: str, service_model: Any, request_shape: Shape
) -> None:
    # GIVEN an accepted event, sent on with the path's connector id
    [event] = wire_events(official_examples()[operation], CONNECTOR)
    params = {"ConnectorId": CONNECTOR, **event}
    # WHEN botocore validates and serializes the request
    report = ParamValidator().validate(params, request_shape)
    serializer = botocore.serialize.create_serializer("rest-json")
    request = serializer.serialize_to_request(params, service_model.operation_model("SendConnectorEvent"))
    # THEN it has nothing to object to, and the wire body is the event
    assert not report.has_errors(), report.generate_report()
    assert request["url_path"] == f"/connector-event/{CONNECTOR}"
    assert json.loads(request["body"]) == event
