"""The service models the stand-in serves, and the HTTP routes of the operations it answers.

AWS IoT managed integrations and AWS IoT Core's data plane (Publish) come from the models botocore
installs. AWS IoT Events Data is no longer shipped by botocore, so the constraints of the four operations
served here are written out below from the 2018-10-23 service model: an independent copy, so the bridge's
own model file is cross-checked rather than trusted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MANAGED_INTEGRATIONS = "iot-managed-integrations"
IOTEVENTS_DATA = "iotevents-data"
IOT_DATA = "iot-data"

SEND_CONNECTOR_EVENT = "SendConnectorEvent"
BATCH_PUT_MESSAGE = "BatchPutMessage"
BATCH_UPDATE_DETECTOR = "BatchUpdateDetector"
LIST_DETECTORS = "ListDetectors"
DESCRIBE_DETECTOR = "DescribeDetector"
PUBLISH = "Publish"

OPERATIONS = (
    SEND_CONNECTOR_EVENT,
    BATCH_PUT_MESSAGE,
    BATCH_UPDATE_DETECTOR,
    LIST_DETECTORS,
    DESCRIBE_DETECTOR,
    PUBLISH,
)
BATCH_OPERATIONS = (BATCH_PUT_MESSAGE, BATCH_UPDATE_DETECTOR)


def _string(minimum: int, maximum: int, pattern: str | None = None) -> dict[str, Any]:
    shape: dict[str, Any] = {"type": "string", "min": minimum, "max": maximum}
    if pattern is not None:
        shape["pattern"] = pattern
    return shape


def _structure(
    members: Mapping[str, str | dict[str, Any]], required: list[str] | None = None
) -> dict[str, Any]:
    """A structure; a member given as a shape's name is a plain reference to that shape."""
    shape: dict[str, Any] = {"type": "structure"}
    if required is not None:
        shape["required"] = required
    shape["members"] = {
        name: {"shape": ref} if isinstance(ref, str) else ref for name, ref in members.items()
    }
    return shape


def _list(member: str, **bounds: int) -> dict[str, Any]:
    return {"type": "list", "member": {"shape": member}, **bounds}


def _located(shape: str, location: str, name: str) -> dict[str, Any]:
    """A member bound to the request's URI or query string rather than its body."""
    return {"shape": shape, "location": location, "locationName": name}


def _error(status: int) -> dict[str, Any]:
    return {
        "type": "structure",
        "members": {"message": {"shape": "errorMessage"}},
        "error": {"httpStatusCode": status},
        "exception": True,
    }


_IOTEVENTS_ERRORS = [
    "InvalidRequestException",
    "ResourceNotFoundException",
    "ThrottlingException",
    "InternalFailureException",
    "ServiceUnavailableException",
]

IOTEVENTS_DATA_MODEL: dict[str, Any] = {
    "metadata": {"protocol": "rest-json", "serviceId": "IoT Events Data", "apiVersion": "2018-10-23"},
    "operations": {
        BATCH_PUT_MESSAGE: {
            "http": {"method": "POST", "requestUri": "/inputs/messages", "responseCode": 200},
            "input": {"shape": "BatchPutMessageRequest"},
            "errors": [{"shape": e} for e in _IOTEVENTS_ERRORS if e != "ResourceNotFoundException"],
        },
        BATCH_UPDATE_DETECTOR: {
            "http": {"method": "POST", "requestUri": "/detectors", "responseCode": 200},
            "input": {"shape": "BatchUpdateDetectorRequest"},
            "errors": [{"shape": e} for e in _IOTEVENTS_ERRORS if e != "ResourceNotFoundException"],
        },
        LIST_DETECTORS: {
            "http": {"method": "GET", "requestUri": "/detectors/{detectorModelName}"},
            "input": {"shape": "ListDetectorsRequest"},
            "errors": [{"shape": e} for e in _IOTEVENTS_ERRORS],
        },
        DESCRIBE_DETECTOR: {
            "http": {"method": "GET", "requestUri": "/detectors/{detectorModelName}/keyValues/"},
            "input": {"shape": "DescribeDetectorRequest"},
            "errors": [{"shape": e} for e in _IOTEVENTS_ERRORS],
        },
    },
    "shapes": {
        "BatchPutMessageRequest": _structure({"messages": "Messages"}, required=["messages"]),
        "Messages": _list("Message", min=1),
        "Message": _structure(
            {
                "messageId": "MessageId",
                "inputName": "EphemeralInputName",
                "payload": "Payload",
                "timestamp": "TimestampValue",
            },
            required=["messageId", "inputName", "payload"],
        ),
        "TimestampValue": _structure({"timeInMillis": "EpochMilliTimestamp"}),
        "EpochMilliTimestamp": {"type": "long", "min": 1, "max": 9223372036854775807},
        "Payload": {"type": "blob"},
        "EphemeralInputName": _string(1, 128, "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"),
        "MessageId": _string(1, 64, "^[a-zA-Z0-9_-]+$"),
        "BatchUpdateDetectorRequest": _structure(
            {"detectors": "UpdateDetectorRequests"}, required=["detectors"]
        ),
        "UpdateDetectorRequests": _list("UpdateDetectorRequest", min=1),
        "UpdateDetectorRequest": _structure(
            {
                "messageId": "MessageId",
                "detectorModelName": "DetectorModelName",
                "keyValue": "KeyValue",
                "state": "DetectorStateDefinition",
            },
            required=["messageId", "detectorModelName", "state"],
        ),
        "DetectorStateDefinition": _structure(
            {"stateName": "StateName", "variables": "VariableDefinitions", "timers": "TimerDefinitions"},
            required=["stateName", "variables", "timers"],
        ),
        "VariableDefinitions": _list("VariableDefinition"),
        "VariableDefinition": _structure(
            {"name": "VariableName", "value": "VariableValue"}, required=["name", "value"]
        ),
        "TimerDefinitions": _list("TimerDefinition"),
        "TimerDefinition": _structure(
            {"name": "TimerName", "seconds": "Seconds"}, required=["name", "seconds"]
        ),
        "Seconds": {"type": "integer"},
        "TimerName": _string(1, 128),
        "VariableName": _string(1, 128, "^[a-zA-Z][a-zA-Z0-9_]*$"),
        "VariableValue": _string(1, 1024),
        "StateName": _string(1, 128),
        "DetectorModelName": _string(1, 128, "^[a-zA-Z0-9_-]+$"),
        "KeyValue": _string(1, 128, "^[a-zA-Z0-9\\-_:]+$"),
        "ListDetectorsRequest": _structure(
            {
                "detectorModelName": _located("DetectorModelName", "uri", "detectorModelName"),
                "stateName": _located("StateName", "querystring", "stateName"),
                "nextToken": _located("NextToken", "querystring", "nextToken"),
                "maxResults": _located("MaxResults", "querystring", "maxResults"),
            },
            required=["detectorModelName"],
        ),
        "NextToken": {"type": "string"},
        "MaxResults": {"type": "integer", "min": 1, "max": 250},
        "DescribeDetectorRequest": _structure(
            {
                "detectorModelName": _located("DetectorModelName", "uri", "detectorModelName"),
                "keyValue": _located("KeyValue", "querystring", "keyValue"),
            },
            required=["detectorModelName"],
        ),
        "ErrorCode": {
            "type": "string",
            "enum": [
                "ResourceNotFoundException",
                "InvalidRequestException",
                "InternalFailureException",
                "ServiceUnavailableException",
                "ThrottlingException",
            ],
        },
        "errorMessage": {"type": "string"},
        "InvalidRequestException": _error(400),
        "ResourceNotFoundException": _error(404),
        "ThrottlingException": _error(429),
        "InternalFailureException": _error(500),
        "ServiceUnavailableException": _error(503),
    },
}

# Which model answers which operation, and the error codes each service uses for its generic failures.
SERVICE_OF = {
    SEND_CONNECTOR_EVENT: MANAGED_INTEGRATIONS,
    BATCH_PUT_MESSAGE: IOTEVENTS_DATA,
    BATCH_UPDATE_DETECTOR: IOTEVENTS_DATA,
    LIST_DETECTORS: IOTEVENTS_DATA,
    DESCRIBE_DETECTOR: IOTEVENTS_DATA,
    PUBLISH: IOT_DATA,
}
INVALID_REQUEST = {
    MANAGED_INTEGRATIONS: "ValidationException",
    IOTEVENTS_DATA: "InvalidRequestException",
    IOT_DATA: "InvalidRequestException",
}
INTERNAL_ERROR = {
    MANAGED_INTEGRATIONS: "InternalServerException",
    IOTEVENTS_DATA: "InternalFailureException",
    IOT_DATA: "InternalFailureException",
}
# The member an error body carries its text in differs by service ("Message" vs "message").
ERROR_MESSAGE_MEMBER = {MANAGED_INTEGRATIONS: "Message", IOTEVENTS_DATA: "message", IOT_DATA: "message"}
ITEM_ERROR_CODES = tuple(IOTEVENTS_DATA_MODEL["shapes"]["ErrorCode"]["enum"])


@functools.cache
def service_model(service: str) -> Mapping[str, Any]:
    if service == IOTEVENTS_DATA:
        return IOTEVENTS_DATA_MODEL
    from botocore.loaders import Loader

    return Loader().load_service_model(service, "service-2")


def operation_model(operation: str) -> Mapping[str, Any]:
    return service_model(SERVICE_OF[operation])["operations"][operation]


def shapes_of(operation: str) -> Mapping[str, Mapping[str, Any]]:
    return service_model(SERVICE_OF[operation])["shapes"]


@functools.cache
def error_codes(operation: str) -> Mapping[str, int]:
    """The modeled errors of an operation with their HTTP status codes."""
    shapes = shapes_of(operation)
    return {
        ref["shape"]: int(shapes[ref["shape"]]["error"]["httpStatusCode"])
        for ref in operation_model(operation).get("errors", [])
    }


@dataclass(frozen=True, slots=True)
class Route:
    operation: str
    method: str
    path: re.Pattern[str]


def _route(operation: str) -> Route:
    http = operation_model(operation)["http"]
    uri = http["requestUri"].split("?", 1)[0]
    parts: list[str] = []
    for piece in re.split(r"(\{[^}]+\})", uri):
        if piece.startswith("{"):
            label = piece[1:-1]
            greedy = label.endswith("+")
            parts.append(f"(?P<{label.rstrip('+')}>{'.+' if greedy else '[^/]*'})")
        else:
            parts.append(re.escape(piece))
    return Route(operation, http["method"], re.compile("".join(parts) + r"\Z"))


@functools.cache
def routes() -> tuple[Route, ...]:
    return tuple(_route(op) for op in OPERATIONS)


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in routes():
        if route.method != method:
            continue
        found = route.path.match(path)
        if found is not None:
            return route, found.groupdict()
    return None
