"""The local HTTP API builds payload 2.0 events as API Gateway does and maps results back to HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bridge_local.http_api import HttpApi, Route
from bridge_local.lambda_runtime import InProcessFunction

pytestmark = pytest.mark.integration

ROUTE = "POST /connectors/{connectorId}/events"


class RecordingHandler:
    """A handler that keeps every event it gets and answers what the test chose."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.result: Any = {"statusCode": 202, "headers": {"content-type": "application/json"}, "body": "{}"}

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def api(handler: RecordingHandler) -> Iterator[HttpApi]:
    with HttpApi([Route(ROUTE, InProcessFunction("TestFunction", handler))]) as running:
        yield running


def request(
    api: HttpApi, method: str, target: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    port = int(api.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers or []:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_a_json_request_becomes_a_payload_2_event_with_text_body(
    api: HttpApi, handler: RecordingHandler
) -> None:
    # A JSON body, mixed-case and repeated headers, cookies and a query string
    body = json.dumps({"Operation": "DEVICE_EVENT", "name": "café"}).encode("utf-8")
    before = time.time()

    # It is posted to the route
    status, _, _ = request(
        api,
        "POST",
        "/connectors/demo%2Dconnector/events?a=1&a=2&b=",
        body,
        [
            ("Content-Type", "application/json; charset=utf-8"),
            ("X-Repeated", "one"),
            ("X-Repeated", "two"),
            ("Webhook-Id", "msg_1"),
            ("Cookie", "c1=v1; c2=v2"),
        ],
    )

    # The handler gets the event API Gateway would send
    assert status == 202
    (event,) = handler.events
    assert event["version"] == "2.0"
    assert event["routeKey"] == ROUTE
    assert event["rawPath"] == "/connectors/demo%2Dconnector/events"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["pathParameters"] == {"connectorId": "demo-connector"}
    assert event["headers"]["x-repeated"] == "one,two"
    assert event["headers"]["webhook-id"] == "msg_1"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["isBase64Encoded"] is False
    assert event["body"].encode("utf-8") == body
    context = event["requestContext"]
    assert context["http"]["method"] == "POST"
    assert context["http"]["path"] == "/connectors/demo%2Dconnector/events"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["routeKey"] == ROUTE
    assert context["stage"] == "$default"
    assert context["requestId"]
    assert before * 1000 - 1000 <= context["timeEpoch"] <= time.time() * 1000 + 1000


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/octet-stream", b"\x00\x01binary"),
        ("application/json", b"\xff\xfe not utf-8"),
    ],
)
def test_a_binary_or_non_utf8_body_arrives_base64_encoded(
    api: HttpApi, handler: RecordingHandler, content_type: str, body: bytes
) -> None:
    # A body that is not UTF-8 text of a text type is posted
    request(api, "POST", "/connectors/c1/events", body, [("Content-Type", content_type)])

    # The event carries it base64-encoded, byte for byte
    (event,) = handler.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_a_request_without_body_has_no_body_member(api: HttpApi, handler: RecordingHandler) -> None:
    request(api, "POST", "/connectors/c1/events")

    (event,) = handler.events
    assert "body" not in event
    assert event["isBase64Encoded"] is False


def test_the_handlers_response_becomes_the_http_response(api: HttpApi, handler: RecordingHandler) -> None:
    # A handler answering with headers, cookies and a base64 body
    handler.result = {
        "statusCode": 401,
        "headers": {"content-type": "text/plain", "retry-after": "5"},
        "cookies": ["session=abc; HttpOnly"],
        "body": base64.b64encode(b"no entry").decode(),
        "isBase64Encoded": True,
    }

    # A request is served
    status, headers, body = request(api, "POST", "/connectors/c1/events", b"{}")

    # Status, headers, cookies and the decoded body are what the client sees
    assert status == 401
    assert headers["content-type"] == "text/plain"
    assert headers["retry-after"] == "5"
    assert headers.get_all("set-cookie") == ["session=abc; HttpOnly"]
    assert headers["apigw-requestid"]
    assert body == b"no entry"


def test_a_result_without_status_code_is_a_json_200(api: HttpApi, handler: RecordingHandler) -> None:
    handler.result = {"accepted": True}

    status, headers, body = request(api, "POST", "/connectors/c1/events", b"{}")

    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"accepted": True}


@pytest.mark.parametrize(
    ("method", "target"),
    [("POST", "/connectors/c1/other"), ("GET", "/connectors/c1/events"), ("POST", "/connectors//events")],
)
def test_an_unknown_route_is_404_not_found_without_invoking(
    api: HttpApi, handler: RecordingHandler, method: str, target: str
) -> None:
    status, _, body = request(api, method, target, b"{}" if method == "POST" else b"")

    assert status == 404
    assert json.loads(body) == {"message": "Not Found"}
    assert handler.events == []


def test_a_failing_function_is_500_internal_server_error(api: HttpApi, handler: RecordingHandler) -> None:
    handler.result = RuntimeError("boom")

    status, _, body = request(api, "POST", "/connectors/c1/events", b"{}")

    assert status == 500
    assert json.loads(body) == {"message": "Internal Server Error"}
