"""What a flaky dependency or a poisoned queue could break in the forwarder, and holds now: the deadline,
messages that cannot be read, answers without an AWS error type, a 2xx with an odd body, documents nested
past what botocore can send. The real Forwarder and adapters, real botocore clients answered in memory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ReadTimeoutError

from bridge_local.answered import answered_client, json_response, raw_response
from fakes.forwarder import FakeDeadLetterQueue, forwarder_over
from iotbridge import clients
from iotbridge.forwarder.domain.forwarding import Disposition, SqsRecord
from iotbridge.forwarder.settings import ForwarderSettings
from iotbridge.forwarder.wiring import ForwarderWiring
from iotbridge.send_connector_event.models import MAX_DOCUMENT_DEPTH
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.settings import Environment

CONNECTOR = "acme"
EVENT = {"Operation": "DEVICE_EVENT", "ConnectorDeviceId": "plug-1", "MatterEndpoint": {"id": "1"}}


def record(body: str, *, receive_count: int = 1, message_id: str = "m-1") -> SqsRecord:
    return SqsRecord(message_id=message_id, body=body, group_id="g", receive_count=receive_count)


def queued(event: dict[str, Any] = EVENT, webhook_id: str = "w1") -> str:
    return QueuedEvent(CONNECTOR, webhook_id, 0, 1, event).to_message_body()


class Service:
    """SendConnectorEvent behind a real botocore client, answering each call as told."""

    def __init__(self, *answers: tuple[int, bytes, dict[str, str]]) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.client = answered_client("iot-managed-integrations", self._answer)

    def _answer(self, request: AWSPreparedRequest, operation: str) -> AWSResponse:
        self.calls += 1
        status, body, headers = self.answers[min(self.calls, len(self.answers)) - 1]
        return raw_response(request.url, status, body, headers)


ACCEPTED = (202, b'{"ConnectorId": "acme"}', {"content-type": "application/json"})


def aws_error(code: str, status: int) -> tuple[int, bytes, dict[str, str]]:
    return (
        status,
        json.dumps({"message": "m"}).encode(),
        {"x-amzn-ErrorType": code, "content-type": "application/json"},
    )


# --- Messages that cannot be read are parked at once, with why -----------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            '{"connectorId":"acme","webhookId":"w","index":1e400,"receivedAt":1,"event":{}}',
            "not a queued connector event",
        ),
        ("[" * 50_000 + "]" * 50_000, "nests too deep"),
    ],
    ids=["overflowing-index", "deep-json"],
)
def test_a_message_that_cannot_be_read_is_dead_lettered_at_once_as_malformed(body: str, reason: str) -> None:
    # Before, these raised OverflowError and RecursionError: five deliveries as UnexpectedError, then SQS
    # moved them to the dead-letter queue without a reason.
    dead_letters = FakeDeadLetterQueue()
    service = Service(ACCEPTED)
    [outcome] = forwarder_over(service.client, dead_letters).forward_batch([record(body)]).outcomes

    assert outcome.disposition is Disposition.DEAD_LETTERED
    [parked] = dead_letters.messages
    assert parked["attributes"]["ErrorCode"] == "MalformedMessage"
    assert reason in parked["attributes"]["ErrorMessage"]
    assert service.calls == 0


# --- Answers without an AWS error type ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ((403, b"<html><body>Blocked by proxy</body></html>", {"content-type": "text/html"}), "HTTP403"),
        ((400, b"", {}), "HTTP400"),
        (aws_error("SomeCodeNoOneDocumented", 400), "SomeCodeNoOneDocumented"),
        (aws_error("ExpiredTokenException", 400), "ExpiredTokenException"),
        (aws_error("InvalidSignatureException", 403), "InvalidSignatureException"),
    ],
    ids=["proxy-page", "bare-400", "unknown-code", "expired-credentials", "clock-skew"],
)
def test_a_4xx_a_retry_may_fix_goes_back_to_sqs_and_is_parked_with_its_code_on_its_last_delivery(
    answer: tuple[int, bytes, dict[str, str]], code: str
) -> None:
    # Before, each was dead-lettered at the first try: an expired token or a proxy's hiccup lost events.
    dead_letters = FakeDeadLetterQueue()
    service = Service(answer)
    relay = forwarder_over(service.client, dead_letters, max_receives=5)

    [early] = relay.forward_batch([record(queued(), receive_count=1)]).outcomes
    [last] = relay.forward_batch([record(queued(), receive_count=5)]).outcomes

    assert (early.disposition, early.error_code) == (Disposition.RETRY, code)
    assert (last.disposition, last.error_code) == (Disposition.DEAD_LETTERED, code)
    [parked] = dead_letters.messages
    assert parked["attributes"]["ErrorCode"] == code
    assert "delivery 5" in parked["attributes"]["ErrorMessage"]


def test_a_documented_permanent_error_is_still_dead_lettered_at_once() -> None:
    dead_letters = FakeDeadLetterQueue()
    service = Service(aws_error("ValidationException", 400))
    [outcome] = forwarder_over(service.client, dead_letters).forward_batch([record(queued())]).outcomes

    assert (outcome.disposition, service.calls) == (Disposition.DEAD_LETTERED, 1)


# --- A 2xx means delivered ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"[1, 2]", b'"accepted"', b"<html>ok</html>", b""])
def test_a_2xx_is_delivered_whatever_its_body(body: bytes) -> None:
    # Before, a JSON array raised AttributeError in botocore's parser, and the delivered event was sent again.
    service = Service((200, body, {"content-type": "application/json"}))
    [outcome] = (
        forwarder_over(service.client, FakeDeadLetterQueue()).forward_batch([record(queued())]).outcomes
    )

    assert (outcome.disposition, service.calls) == (Disposition.FORWARDED, 1)


# --- Documents nested past what botocore can send ---------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def in_a_deep_call_stack(frames: int, work: Any) -> Any:
    return work() if frames == 0 else in_a_deep_call_stack(frames - 1, work)


def test_a_document_as_deep_as_the_relay_accepts_is_sent_even_from_deep_in_a_call_stack() -> None:
    event = {
        **EVENT,
        "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x6", "attributes": nested(MAX_DOCUMENT_DEPTH)}]},
    }
    service = Service(ACCEPTED)
    relay = forwarder_over(service.client, FakeDeadLetterQueue(), workers=1)

    # 150 frames: more than the Lambda runtime, Powertools and the handler put above the forwarder.
    report = in_a_deep_call_stack(150, lambda: relay.forward_batch([record(queued(event))]))

    assert report.outcomes[0].disposition is Disposition.FORWARDED


def test_a_document_botocore_cannot_serialise_is_dead_lettered_not_retried() -> None:
    # Before, RecursionError counted as transient: retried until SQS moved it without a reason, the
    # device's later events waiting behind it.
    event = {**EVENT, "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x6", "attributes": nested(2_000)}]}}
    dead_letters = FakeDeadLetterQueue()
    service = Service(ACCEPTED)
    [outcome] = forwarder_over(service.client, dead_letters).forward_batch([record(queued(event))]).outcomes

    assert outcome.disposition is Disposition.DEAD_LETTERED
    assert dead_letters.messages[0]["attributes"]["ErrorCode"] == "RecursionError"
    assert service.calls == 0


# --- The deadline --------------------------------------------------------------------------------------


@dataclass
class Clock:
    now: float = 0.0


class Hanging:
    """A SendConnectorEvent whose every try runs into the read timeout, `seconds` of the fake clock."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock, self.seconds, self.calls = clock, seconds, 0
        self.meta = type("Meta", (), {"events": type("Events", (), {"register": lambda *_, **__: None})()})()

    def send_connector_event(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        self.clock.now += self.seconds
        raise ReadTimeoutError(endpoint_url="https://api.example")


class Deadline:
    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds

    def remaining_seconds(self) -> float:
        return self.seconds - self.clock.now


def test_a_hanging_service_never_keeps_an_invocation_past_its_deadline() -> None:
    # Before, a record started while one try fitted, and the client then made all three: a hanging
    # endpoint kept an invocation 7 s past its end, and the whole batch was delivered again.
    clock = Clock()
    service = Hanging(clock, seconds=7.0)
    relay = forwarder_over(service, FakeDeadLetterQueue(), workers=1, max_attempts=3, call_seconds=7.0)

    report = relay.forward_batch(
        [record(queued(webhook_id=f"w{n}"), message_id=f"m{n}") for n in range(3)], Deadline(clock, 30.0)
    )

    # Each try was started only while it and a dead-letter put after it fitted: three tries of the first
    # record (at 0, 7 and 14 s), then no time for the others, and room left for the put the last try needs.
    assert service.calls == 3
    assert clock.now + 7.0 <= 30.0
    assert [o.disposition for o in report.outcomes] == [
        Disposition.RETRY,
        Disposition.HELD_BACK,
        Disposition.HELD_BACK,
    ]


def test_the_forwarder_is_the_one_retry_layer_of_its_calls_and_knows_how_long_a_try_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients.reset_clients()
    env = Environment(
        {
            "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq.fifo",
            "AWS_CONNECT_TIMEOUT_SECONDS": "1.5",
            "AWS_READ_TIMEOUT_SECONDS": "4",
            "SEND_MAX_ATTEMPTS": "3",
        }
    )
    forwarder = ForwarderWiring.build(ForwarderSettings.from_environment(env)).forwarder
    clients.reset_clients()

    assert forwarder._events._client.meta.config.retries["total_max_attempts"] == 1  # type: ignore[attr-defined]
    assert forwarder._dead_letters._client.meta.config.retries["total_max_attempts"] == 1  # type: ignore[attr-defined]
    assert (forwarder._max_attempts, forwarder._call_seconds) == (3, 5.5)


def test_throttling_recovered_within_the_tries_is_forwarded_once() -> None:
    service = Service(aws_error("ThrottlingException", 429), aws_error("ThrottlingException", 429), ACCEPTED)
    [outcome] = (
        forwarder_over(service.client, FakeDeadLetterQueue()).forward_batch([record(queued())]).outcomes
    )

    assert (outcome.disposition, outcome.retries, service.calls) == (Disposition.FORWARDED, 2, 3)


def test_answers_are_parsed_as_botocore_parses_them() -> None:
    # A control for the answered client above: an AWS error of a documented code reaches the adapter whole.
    service = Service(aws_error("ResourceNotFoundException", 404))
    [outcome] = (
        forwarder_over(service.client, FakeDeadLetterQueue()).forward_batch([record(queued())]).outcomes
    )

    assert outcome.error_code == "ResourceNotFoundException"
    assert json_response("https://x", 200, {}).status_code == 200
