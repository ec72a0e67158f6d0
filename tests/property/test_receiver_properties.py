"""Properties of the webhook receiver's Lambda handler over generated and mutated requests.

Every request gets one of the documented statuses, never a 500 or an uncaught exception; a request the
services could serve is never answered 503; what the model accepts is queued exactly as sent; and what the
receiver accepts is a request botocore's own validator lets through to SendConnectorEvent.
"""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from hypothesis import assume, given, note
from hypothesis import strategies as st

from iotbridge.signatures.standard_webhooks import sign
from iotbridge.webhook_receiver.ports import DependencyUnavailableError, WebhookInProgressError
from samples.webhooks import DEMO_CONNECTOR_ID, DEMO_SECRET, encode, http_api_event, signed_headers

from .connector_event_strategies import ANY_TEXT_CHAR, connector_events, documents, raw_bodies, webhook_bodies
from .receiver_harness import (
    DOCUMENTED_STATUSES,
    NOW,
    TOLERANCE_SECONDS,
    Receiver,
    bounded,
    response_body,
    wired_receiver,
)

_SEND_CONNECTOR_EVENT = (
    botocore.session.get_session()
    .get_service_model("iot-managed-integrations")
    .operation_model("SendConnectorEvent")
    .input_shape
)
# Statuses a request can earn while every service behind the receiver is healthy.
HEALTHY_STATUSES = DOCUMENTED_STATUSES - {503}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with wired_receiver() as wired:
        yield wired


def botocore_problems(params: dict[str, Any]) -> str:
    report = ParamValidator().validate(params, _SEND_CONNECTOR_EVENT)
    return report.generate_report() if report.has_errors() else ""


def as_list(body: Any) -> list[Any]:
    return body if isinstance(body, list) else [body]


def check_queued_events_reach_the_service_unchanged(receiver: Receiver, sent: Any) -> None:
    queued = receiver.queue.messages
    expected = [{k: v for k, v in event.items() if k != "ConnectorId"} for event in as_list(sent)]
    assert [m.event for m in queued] == expected
    assert [m.index for m in queued] == list(range(len(expected)))
    for message in queued:
        assert message.connector_id == DEMO_CONNECTOR_ID
        assert botocore_problems(message.send_connector_event_params()) == ""


# --- What the model accepts is accepted and queued as sent ----------------------------------------------


@bounded
@given(body=webhook_bodies(), base64_encoded=st.booleans(), ascii_escapes=st.booleans())
def test_valid_events_are_accepted_and_queued_unchanged(
    receiver: Receiver, body: Any, base64_encoded: bool, ascii_escapes: bool
) -> None:
    # A correctly signed body of events that AWS's model and the receiver's contract accept
    receiver.reset()
    raw = json.dumps(body, ensure_ascii=ascii_escapes).encode("utf-8")

    # It is posted, as text or base64-encoded
    response = receiver.post(raw, base64_encoded=base64_encoded)

    # It is answered 202 and every event is queued, in order, exactly as sent
    note(response["body"])
    assert response["statusCode"] == 202
    assert response_body(response)["queued"] == len(as_list(body))
    check_queued_events_reach_the_service_unchanged(receiver, body)


@bounded
@given(event=connector_events())
def test_connector_id_in_the_body_equal_to_the_path_is_accepted_and_not_queued_twice(
    receiver: Receiver, event: dict[str, Any]
) -> None:
    # An event naming the path's connector in its body
    receiver.reset()
    body = {**event, "ConnectorId": DEMO_CONNECTOR_ID}

    # It is posted, then it is queued without it (the forwarder adds the path's)
    assert receiver.post(encode(body))["statusCode"] == 202
    check_queued_events_reach_the_service_unchanged(receiver, body)


@bounded
@given(event=connector_events(), other=st.text(string.ascii_letters, min_size=1, max_size=64))
def test_connector_id_in_the_body_other_than_the_path_is_422(
    receiver: Receiver, event: dict[str, Any], other: str
) -> None:
    assume(other != DEMO_CONNECTOR_ID)
    receiver.reset()
    response = receiver.post(encode({**event, "ConnectorId": other}))
    assert response["statusCode"] == 422
    assert {"path": "ConnectorId", "rule": "must equal the connector id in the path"} in response_body(
        response
    )["errors"]
    assert receiver.queue.messages == []


# --- Anything signed: accepted only when valid, and then fit for SendConnectorEvent ----------------------


def _set_at(data: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    copy = list(data) if isinstance(data, list) else dict(data)
    copy[head] = _set_at(data[head], rest, value)
    return copy


def _delete_at(data: Any, path: list[Any]) -> Any:
    head, *rest = path
    if rest:
        copy = list(data) if isinstance(data, list) else dict(data)
        copy[head] = _delete_at(data[head], rest)
        return copy
    if isinstance(data, list):
        return data[:head] + data[head + 1 :]
    return {k: v for k, v in data.items() if k != head}


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, dict):
        items: Any = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


# Values that break a member's type or bounds in the ways senders get them wrong.
_WRONG_VALUES: st.SearchStrategy[Any] = st.one_of(
    documents(),
    st.sampled_from(
        [None, "", "200", 200.0, True, -1, 0, 551, 2**64, [], {}, "x" * 257, "\u00e9" * 65, "0x", "!!!"]
    ),
)


@st.composite
def mutated_bodies(draw: st.DrawFn) -> Any:
    """A valid body with one to three members replaced, removed or added."""
    body: Any = draw(webhook_bodies())
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(body))
        kind = draw(st.sampled_from(["replace", "delete", "add"]))
        if kind == "add" or not paths:
            containers = [p for p in [(), *paths] if isinstance(_get(body, p), dict)]
            where = draw(st.sampled_from(containers)) if containers else ()
            target = _get(body, where)
            if isinstance(target, dict):
                name = draw(st.text(ANY_TEXT_CHAR, max_size=12))
                body = _set_at(body, list(where), {**target, name: draw(_WRONG_VALUES)})
            continue
        path = list(draw(st.sampled_from(paths)))
        body = _delete_at(body, path) if kind == "delete" else _set_at(body, path, draw(_WRONG_VALUES))
    return body


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


@bounded
@given(body=mutated_bodies())
def test_signed_mutated_body_is_accepted_only_when_fit_to_send(receiver: Receiver, body: Any) -> None:
    # A correctly signed body with members replaced, removed or added
    receiver.reset()

    # It is posted
    response = receiver.post(encode(body))

    # It is either refused with the failing members named, or queued unchanged and fit to send
    note(response["body"])
    assert response["statusCode"] in {202, 422}
    if response["statusCode"] == 422:
        errors = response_body(response)["errors"]
        assert errors
        assert all(set(problem) == {"path", "rule"} for problem in errors)
        assert receiver.queue.messages == []
    else:
        check_queued_events_reach_the_service_unchanged(receiver, body)


@bounded
@given(data=documents())
def test_signed_body_of_any_json_value_is_202_or_422(receiver: Receiver, data: Any) -> None:
    receiver.reset()
    response = receiver.post(json.dumps(data).encode("utf-8"))
    assert response["statusCode"] in {202, 422}
    if response["statusCode"] == 202:
        check_queued_events_reach_the_service_unchanged(receiver, data)


@bounded
@given(body=raw_bodies(), base64_encoded=st.booleans())
def test_signed_bytes_of_any_kind_never_fail_the_receiver(
    receiver: Receiver, body: bytes, base64_encoded: bool
) -> None:
    # Any bytes, correctly signed, sent as text where they are UTF-8 or else base64-encoded
    receiver.reset()

    # They are posted
    response = receiver.post(body, base64_encoded=base64_encoded)

    # The receiver answers with a documented status that is not a failure of its own
    note(response["body"])
    assert response["statusCode"] in {202, 400, 422}


# --- Anything at all: a documented status, never a 500 ---------------------------------------------------

_HEADER_NAMES = st.sampled_from(
    ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "Content-Type", "WEBHOOK-ID"]
)
_HEADER_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "v1,",
            "v1,!!!",
            "v2,abc",
            "v1," + "A" * 5000,
            " ".join(["v1,AAAA"] * 11),
            str(NOW),
            str(NOW + TOLERANCE_SECONDS + 1),
            "9" * 13,
            "-1",
            "\u0661\u0662",  # Arabic-Indic digits: isdigit() is true for them
            "application/json",
            "application/cloudevents+json; charset=utf-8",
            "text/plain",
        ]
    ),
)


@st.composite
def api_gateway_events(draw: st.DrawFn) -> dict[str, Any]:
    """An HTTP API payload 2.0 event: maybe signed, maybe tampered, with any headers and body."""
    body = draw(st.one_of(st.binary(max_size=256), st.builds(encode, connector_events())))
    webhook_id = draw(st.text(max_size=20) | st.just("msg_1"))
    headers: dict[str, str] = {}
    if draw(st.booleans()) and webhook_id:
        headers = signed_headers(body, webhook_id=webhook_id, timestamp=NOW) if webhook_id.isascii() else {}
    headers.update(draw(st.dictionaries(_HEADER_NAMES, _HEADER_VALUES, max_size=4)))
    connector_id = draw(st.sampled_from([DEMO_CONNECTOR_ID, "", "x" * 65, "unknown-connector", "!"]))
    event = http_api_event(body, headers, connector_id=connector_id, timestamp=NOW)
    if draw(st.booleans()):
        event["isBase64Encoded"] = draw(st.booleans())
    if draw(st.booleans()):
        event["body"] = draw(st.one_of(st.none(), st.text(max_size=64), st.just("not base64!")))
    if draw(st.booleans()):
        event.pop(draw(st.sampled_from(["headers", "pathParameters", "body", "isBase64Encoded"])), None)
    return event


@bounded
@given(event=api_gateway_events())
def test_any_request_gets_a_documented_status_and_a_json_answer(
    receiver: Receiver, event: dict[str, Any]
) -> None:
    receiver.reset()
    response = receiver.invoke(event)
    note(response["body"])
    assert response["statusCode"] in HEALTHY_STATUSES
    assert response["headers"]["content-type"] == "application/json"
    assert isinstance(response_body(response), dict)


@bounded
@given(event=connector_events(), part=st.sampled_from(["body", "id", "timestamp", "secret"]), data=st.data())
def test_any_change_to_what_was_signed_is_401(
    receiver: Receiver, event: dict[str, Any], part: str, data: st.DataObject
) -> None:
    # A valid event signed by the connector's secret, then one signed part altered
    receiver.reset()
    body = encode(event)
    headers = signed_headers(body, webhook_id="msg_1", timestamp=NOW)
    if part == "body":
        at = data.draw(st.integers(0, len(body) - 1))
        body = body[:at] + bytes([body[at] ^ data.draw(st.integers(1, 255))]) + body[at + 1 :]
    elif part == "id":
        headers["webhook-id"] = data.draw(
            st.text(string.printable.strip(), min_size=1).filter(lambda i: i != "msg_1")
        )
    elif part == "timestamp":
        shift = data.draw(st.integers(-TOLERANCE_SECONDS, TOLERANCE_SECONDS).filter(bool))
        headers["webhook-timestamp"] = str(NOW + shift)
    else:
        other = "whsec_" + base64.b64encode(data.draw(st.binary(min_size=16, max_size=64))).decode()
        assume(other != DEMO_SECRET)
        headers["webhook-signature"] = sign(other, "msg_1", NOW, body)

    # It is posted
    response = receiver.invoke(http_api_event(body, headers, timestamp=NOW))

    # It is refused with the one generic 401 and nothing is queued
    assert response["statusCode"] == 401
    assert response_body(response) == {"message": "The request could not be authenticated."}
    assert receiver.queue.messages == []


@bounded
@given(extra=st.integers(1, 4096), signed=st.booleans(), body=st.binary(max_size=64))
def test_body_over_the_limit_is_413_whatever_else_it_holds(extra: int, signed: bool, body: bytes) -> None:
    with wired_receiver(max_body_bytes=1024) as receiver:
        unit = body or b"{"
        raw = (unit * (1 + (1024 + extra) // len(unit)))[: 1024 + extra]
        headers = signed_headers(raw, webhook_id="msg_1", timestamp=NOW) if signed else {}
        response = receiver.invoke(http_api_event(raw, headers, timestamp=NOW))
        assert response["statusCode"] == 413
        assert receiver.queue.messages == []


@bounded
@given(
    event=connector_events(),
    content_type=st.one_of(
        st.sampled_from(
            [
                "application/json",
                "Application/JSON; charset=utf-8",
                "application/vnd.acme+json",
                "text/json",
                "application/x-www-form-urlencoded",
                "application/jsonp",
                "",
            ]
        ),
        st.text(max_size=30),
    ),
)
def test_only_json_media_types_are_accepted(
    receiver: Receiver, event: dict[str, Any], content_type: str
) -> None:
    receiver.reset()
    media = content_type.split(";", 1)[0].strip().lower()
    is_json = media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
    response = receiver.post(encode(event), content_type=content_type)
    assert response["statusCode"] == (202 if is_json else 415)


# --- Failures of the services behind the receiver: 503 and retry, nothing lost or doubled ----------------

_FAULTS = st.sampled_from(
    [
        ("keys", DependencyUnavailableError("secrets")),
        ("keys", RuntimeError("secrets store client defect")),
        ("queue", DependencyUnavailableError("queue")),
        ("queue", ConnectionResetError("connection reset by peer")),
        ("table", DependencyUnavailableError("dedupe")),
        ("table", WebhookInProgressError()),
        ("table", KeyError("record")),
    ]
)


@bounded
@given(body=webhook_bodies(), fault=_FAULTS)
def test_service_failure_is_503_and_the_retry_is_queued_once(
    receiver: Receiver, body: Any, fault: tuple[str, Exception]
) -> None:
    # A valid webhook and one of the services behind the receiver failing
    receiver.reset()
    where, error = fault
    getattr(receiver, where).failure = error
    raw = encode(body) if isinstance(body, dict) else json.dumps(body).encode()

    # It is posted, then the sender is told to retry and nothing is queued
    response = receiver.post(raw, webhook_id="msg_retry")
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"].isdigit()
    assert receiver.queue.messages == []

    # The service recovers and the sender retries, twice
    getattr(receiver, where).failure = None
    first = receiver.post(raw, webhook_id="msg_retry")
    second = receiver.post(raw, webhook_id="msg_retry")

    # The events are queued once and both retries are acknowledged alike
    assert (first["statusCode"], second["statusCode"]) == (202, 202)
    assert response_body(first) == response_body(second)
    check_queued_events_reach_the_service_unchanged(receiver, body)


# Only a direct Invoke can send a lone surrogate (API Gateway sends UTF-8 or base64); it once escaped as
# UnicodeEncodeError from the handler, which Lambda reports as a function error.
@bounded
@given(
    before=st.text(max_size=8),
    surrogate=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
)
def test_text_body_with_a_lone_surrogate_is_answered_not_raised(
    receiver: Receiver, before: str, surrogate: str
) -> None:
    receiver.reset()
    event = http_api_event(b"{}", {}, timestamp=NOW)
    event["body"] = before + surrogate
    assert receiver.invoke(event)["statusCode"] in HEALTHY_STATUSES
