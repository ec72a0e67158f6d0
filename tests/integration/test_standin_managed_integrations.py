"""SendConnectorEvent on the stand-in, driven by real boto3 clients over loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iot_standin.testing import Standin, running_standin

pytestmark = pytest.mark.integration

CONNECTOR = "conn-1"

# The service model's examples, one per operation, and the one operation AWS gives no example for.
OFFICIAL_EXAMPLES: dict[str, dict[str, Any]] = {
    "DEVICE_DISCOVERY": {
        "UserId": "user-1",
        "Operation": "DEVICE_DISCOVERY",
        "OperationVersion": "1.0",
        "StatusCode": 200,
        "Message": "Sample ConnectorEventMessage",
        "DeviceDiscoveryId": "358275hbk3qr",
        "Devices": [
            {
                "ConnectorDeviceId": "dev-1",
                "ConnectorDeviceName": "Kitchen fridge",
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
                                        {"id": "0x0001", "value": 42},
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
        "UserId": "user-1",
        "Operation": "DEVICE_COMMAND_RESPONSE",
        "OperationVersion": "1.0",
        "StatusCode": 200,
        "Message": "Sample ConnectorEventMessage",
        "ConnectorDeviceId": "dev-1",
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
        "UserId": "user-1",
        "Operation": "DEVICE_EVENT",
        "OperationVersion": "1.0",
        "StatusCode": 200,
        "Message": "Sample ConnectorEventMessage",
        "ConnectorDeviceId": "dev-1",
        "TraceId": "TraceId-Sample",
        "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x1003", "attributes": {"0x0000": 73}}]},
    },
    "DEVICE_COMMAND_REQUEST": {
        "Operation": "DEVICE_COMMAND_REQUEST",
        "ConnectorDeviceId": "dev-1",
        "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x0006", "commands": {"0x01": {}}}]},
    },
}


@pytest.fixture(scope="module")
def module_standin() -> Iterator[Standin]:
    with running_standin() as standin:
        yield standin


@pytest.fixture
def standin(module_standin: Standin) -> Standin:
    module_standin.reset()
    return module_standin


@pytest.fixture(scope="module")
def mi(module_standin: Standin) -> Any:
    return module_standin.boto_client("iot-managed-integrations")


def event(**members: Any) -> dict[str, Any]:
    return {"ConnectorId": CONNECTOR, "Operation": "DEVICE_EVENT", "ConnectorDeviceId": "dev-1", **members}


# ---- accepted ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", sorted(OFFICIAL_EXAMPLES))
def test_official_example_is_accepted_and_recorded(standin: Standin, mi: Any, operation: str) -> None:
    body = OFFICIAL_EXAMPLES[operation]
    answer = mi.send_connector_event(ConnectorId=CONNECTOR, **body)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert answer["ConnectorId"] == CONNECTOR
    [recorded] = standin.connector_events()
    assert recorded["connectorId"] == CONNECTOR
    assert recorded["body"] == body
    assert recorded["sequence"] == 1


@pytest.mark.parametrize(
    "members",
    [
        {"Message": "uri: auc://dev-1/switch"},  # only an unanchored pattern lets ':' and '/' through
        {"TraceId": "!abc!"},
        {"StatusCode": 550},
        {"Message": "m" * 256},
        {"MatterEndpoint": {"id": "1", "clusters": [{"id": "0x6"}] * 5}},
    ],
    ids=["uri-message", "unanchored-trace-id", "status-550", "message-256", "five-clusters"],
)
def test_what_the_model_allows_is_accepted(standin: Standin, mi: Any, members: dict[str, Any]) -> None:
    mi.send_connector_event(**event(**members))
    assert len(standin.connector_events()) == 1


def test_events_are_listed_per_connector_in_arrival_order(standin: Standin, mi: Any) -> None:
    for connector in ("a", "b", "a"):
        mi.send_connector_event(**event(ConnectorId=connector))
    assert [e["sequence"] for e in standin.connector_events("a")] == [1, 3]


# ---- rejected ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "path"),
    [
        ({"Message": "m" * 257}, "Message"),
        ({"StatusCode": 551}, "StatusCode"),
        ({"TraceId": "!!!"}, "TraceId"),
        ({"MatterEndpoint": {"id": "1", "clusters": [{"id": "0x6"}] * 6}}, "MatterEndpoint.clusters"),
        ({"Operation": "DEVICE_PING"}, "Operation"),
        ({"ConnectorDeviceId": "d" * 257}, "ConnectorDeviceId"),
    ],
    ids=[
        "message-257",
        "status-551",
        "trace-id-no-allowed-char",
        "six-clusters",
        "bad-enum",
        "device-id-257",
    ],
)
def test_what_the_model_forbids_is_a_validation_exception_naming_the_member(
    standin: Standin, mi: Any, members: dict[str, Any], path: str
) -> None:
    with pytest.raises(mi.exceptions.ValidationException) as raised:
        mi.send_connector_event(**event(**members))
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert f"Value at '{path}' failed to satisfy constraint" in error["Error"]["Message"]
    assert standin.connector_events() == []


def test_a_rejected_event_never_echoes_its_sensitive_values(mi: Any) -> None:
    secret = "private-device-" + "x" * 250
    with pytest.raises(mi.exceptions.ValidationException) as raised:
        mi.send_connector_event(**event(ConnectorDeviceId=secret, Message="m" * 300))
    assert secret not in json.dumps(raised.value.response, default=str)
    assert "m" * 257 not in raised.value.response["Error"]["Message"]


def test_a_body_that_is_not_json_is_a_validation_exception(standin: Standin) -> None:
    status, body, headers = raw_post(standin, f"/connector-event/{CONNECTOR}", b"{not json")
    assert (status, headers.get("x-amzn-ErrorType")) == (400, "ValidationException")
    assert "not valid JSON" in body["Message"]


def test_members_the_model_does_not_know_are_ignored_and_noted(standin: Standin) -> None:
    # botocore never sends unknown members; a hand-made request can, and REST-JSON services ignore them.
    payload = {"Operation": "DEVICE_EVENT", "Colour": "blue"}
    status, body, _ = raw_post(standin, f"/connector-event/{CONNECTOR}", json.dumps(payload).encode())
    assert (status, body) == (202, {"ConnectorId": CONNECTOR})
    assert standin.connector_events()[0]["ignoredMembers"] == ["Colour"]


# ---- modeled errors reach botocore as their own exception classes ------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ValidationException", 400),
        ("AccessDeniedException", 403),
        ("ResourceNotFoundException", 404),
        ("ThrottlingException", 429),
        ("InternalServerException", 500),
        ("ServiceUnavailableException", 503),
    ],
)
def test_each_modeled_error_raises_its_botocore_exception_class(
    standin: Standin, mi: Any, code: str, status: int
) -> None:
    standin.set_faults({"SendConnectorEvent": {"errorCodes": {"dev-broken": code}}})
    with pytest.raises(getattr(mi.exceptions, code)) as raised:
        mi.send_connector_event(**event(ConnectorDeviceId="dev-broken"))
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert raised.value.response["Error"]["Code"] == code
    # other devices go through
    mi.send_connector_event(**event(ConnectorDeviceId="dev-fine"))
    assert [e["body"]["ConnectorDeviceId"] for e in standin.connector_events()] == ["dev-fine"]


def test_errors_can_be_forced_by_trace_id_and_by_a_discovered_device(standin: Standin, mi: Any) -> None:
    standin.set_faults(
        {
            "SendConnectorEvent": {
                "errorCodes": {"trace-9": "AccessDeniedException", "dev-1": "ThrottlingException"}
            }
        }
    )
    with pytest.raises(mi.exceptions.AccessDeniedException):
        mi.send_connector_event(**event(ConnectorDeviceId="dev-2", TraceId="trace-9"))
    with pytest.raises(mi.exceptions.ThrottlingException):
        mi.send_connector_event(ConnectorId=CONNECTOR, **OFFICIAL_EXAMPLES["DEVICE_DISCOVERY"])


def test_only_known_connectors_are_found_when_a_list_is_given() -> None:
    with running_standin(connectors=["conn-1"]) as standin:
        mi = standin.boto_client("iot-managed-integrations")
        mi.send_connector_event(**event())
        with pytest.raises(mi.exceptions.ResourceNotFoundException) as raised:
            mi.send_connector_event(**event(ConnectorId="conn-2"))
        assert raised.value.response["ResourceId"] == "conn-2"


def test_the_bridges_client_factory_reaches_the_stand_in_through_its_endpoint_variable(
    standin: Standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iotbridge import clients
    from iotbridge.settings import ClientSettings, Environment

    monkeypatch.setenv("AWS_ENDPOINT_URL_IOT_MANAGED_INTEGRATIONS", standin.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "standin")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "standin")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients.reset_clients()
    try:
        settings = ClientSettings.read(Environment())
        clients.client("iot-managed-integrations", settings).send_connector_event(**event())
    finally:
        clients.reset_clients()
    assert len(standin.connector_events()) == 1


def test_unknown_paths_answer_as_an_unknown_operation(standin: Standin) -> None:
    status, _, headers = raw_post(standin, "/connector-events/conn-1", b"{}")
    assert (status, headers.get("x-amzn-ErrorType")) == (404, "UnknownOperationException")


def raw_post(standin: Standin, path: str, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(standin.url + path, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def test_client_error_carries_a_request_id(mi: Any) -> None:
    with pytest.raises(ClientError) as raised:
        mi.send_connector_event(**event(StatusCode=551))
    assert raised.value.response["ResponseMetadata"]["RequestId"]
