"""The forwarder: FIFO batches of queued connector events to AWS IoT managed integrations.

Runs the domain and the handler against in-memory stand-ins for the two services: a managed-integrations
fake that validates requests with botocore's own model, keeps what it accepted and fails on demand with
real botocore error objects, and a FIFO dead-letter queue fake that deduplicates like SQS.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

import forwarder
from fakes.aws import STATUS_OF, client_error
from fakes.forwarder import MAX_ATTEMPTS, FakeDeadLetterQueue, FakeManagedIntegrations, forwarder_over
from fakes.receiver import GROUP_KEY
from iotbridge.composition import BuiltAtInit
from iotbridge.forwarder.domain.forwarding import (
    BatchReport,
    Disposition,
    Forwarder,
    SqsRecord,
    dead_letter_deduplication_id,
)
from iotbridge.forwarder.edge import batch_response, records_from_event
from iotbridge.forwarder.wiring import ForwarderWiring
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.settings import SettingsError

SAMPLE_EVENT = Path(__file__).resolve().parents[3] / "events" / "forwarder-sqs-fifo.json"
CONNECTOR = "acme-cloud-connector"
service_error = client_error
_STATUS = STATUS_OF


# --- Building batches ----------------------------------------------------------------------------------


def device_event(webhook_id: str, device: str = "plug-1", **members: Any) -> QueuedEvent:
    event = {
        "Operation": "DEVICE_EVENT",
        "UserId": "user-secret-77",
        "ConnectorDeviceId": device,
        "Message": f"uri auc {device} onoff {webhook_id}",
        "MatterEndpoint": {
            "id": "1",
            "clusters": [{"id": "0x0006", "attributes": {"0x0000": "secret-state"}}],
        },
    }
    return QueuedEvent(CONNECTOR, webhook_id, 0, 1_795_430_400, {**event, **members})


def record(
    body: QueuedEvent | str, *, message_id: str | None = None, group_id: str | None = None
) -> SqsRecord:
    if isinstance(body, QueuedEvent):
        return SqsRecord(
            message_id=message_id or f"msg-{body.webhook_id}",
            body=body.to_message_body(),
            group_id=group_id or body.message_group_id(GROUP_KEY),
            deduplication_id=body.deduplication_id,
        )
    return SqsRecord(message_id=message_id or "msg-raw", body=body, group_id=group_id or "raw-group")


def failures(outcome: BatchReport | Mapping[str, Any]) -> list[str]:
    """The message ids handed back to SQS, from a report or from the handler's response."""
    response = batch_response(outcome) if isinstance(outcome, BatchReport) else outcome
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


class Remaining:
    """The time an invocation has left, as a list of answers to successive questions."""

    def __init__(self, *answers: float) -> None:
        self._answers = iter(answers)

    def remaining_seconds(self) -> float:
        return next(self._answers, 0.0)


@pytest.fixture
def service() -> FakeManagedIntegrations:
    return FakeManagedIntegrations()


@pytest.fixture
def dead_letters() -> FakeDeadLetterQueue:
    return FakeDeadLetterQueue()


@pytest.fixture
def relay(service: FakeManagedIntegrations, dead_letters: FakeDeadLetterQueue) -> Forwarder:
    return forwarder_over(service, dead_letters, workers=10)


# --- Ordering and partial failures ----------------------------------------------------------------------


def test_events_of_one_device_are_forwarded_in_queue_order(
    relay: Forwarder, service: FakeManagedIntegrations
) -> None:
    # GIVEN three events of one device
    batch = [record(device_event(f"wh-{n}")) for n in range(3)]

    # WHEN the batch is forwarded
    report = relay.forward_batch(batch)

    # THEN all are delivered, in order, and none is handed back to SQS
    assert service.accepted_webhooks() == ["wh-0", "wh-1", "wh-2"]
    assert service.accepted[0]["ConnectorId"] == CONNECTOR
    assert batch_response(report) == {"batchItemFailures": []}


def test_transient_failure_holds_back_the_rest_of_its_group_while_other_groups_go_on(
    relay: Forwarder, service: FakeManagedIntegrations
) -> None:
    # GIVEN two devices' events interleaved, and device A's second event throttled past the client's retries
    a1, b1, a2, b2, a3, b3 = (
        device_event(name, device)
        for name, device in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("b2", "B"), ("a3", "A"), ("b3", "B")]
    )
    service.throttle("a2", attempts=MAX_ATTEMPTS)

    # WHEN the batch is forwarded
    report = relay.forward_batch([record(e) for e in (a1, b1, a2, b2, a3, b3)])

    # THEN A stops at a2 (a2 and a3 go back to SQS, a3 never tried), while all of B is delivered in order
    assert failures(report) == ["msg-a2", "msg-a3"]
    assert service.accepted_webhooks().count("a3") == 0
    assert [w for w in service.accepted_webhooks() if w.startswith("b")] == ["b1", "b2", "b3"]
    assert "a1" in service.accepted_webhooks()
    assert [o.disposition for o in report.outcomes] == [
        Disposition.FORWARDED,
        Disposition.FORWARDED,
        Disposition.RETRY,
        Disposition.FORWARDED,
        Disposition.HELD_BACK,
        Disposition.FORWARDED,
    ]
    assert report.outcomes[2].error_code == "ThrottlingException"
    assert report.outcomes[2].retries == MAX_ATTEMPTS - 1


def test_partial_failures_match_powertools_fifo_processor_that_skips_failed_groups(
    relay: Forwarder, service: FakeManagedIntegrations
) -> None:
    # GIVEN an interleaved batch of three groups where one event of two groups fails transiently
    layout = [("a1", "A"), ("b1", "B"), ("c1", "C"), ("a2", "A"), ("b2", "B"), ("a3", "A"), ("c2", "C")]
    batch = [record(device_event(name, device)) for name, device in layout]
    failing = {"a2", "c1"}
    for name in failing:
        service.fail(name, service_error("InternalServerException"), times=MAX_ATTEMPTS)

    # WHEN the forwarder and Powertools' reference processor (skip_group_on_error) handle the same batch
    ours = failures(relay.forward_batch(batch))
    reference = SqsFifoPartialProcessor(skip_group_on_error=True)

    def fails_like_the_service(record: Any) -> None:
        if record.message_id.removeprefix("msg-") in failing:
            raise RuntimeError("transient")

    event_records = [
        {"messageId": r.message_id, "body": r.body, "attributes": {"MessageGroupId": r.group_id}}
        for r in batch
    ]
    with reference(event_records, fails_like_the_service):
        reference.process()
    theirs = [item["itemIdentifier"] for item in reference.response()["batchItemFailures"]]

    # THEN both hand back exactly the failed events and the rest of their groups, nothing else
    assert ours == theirs == ["msg-c1", "msg-a2", "msg-a3", "msg-c2"]


def test_events_without_a_message_group_do_not_hold_each_other_back(
    relay: Forwarder, service: FakeManagedIntegrations
) -> None:
    # GIVEN records from a standard queue (no MessageGroupId), the first of which fails transiently
    first, second = device_event("s1"), device_event("s2")
    service.fail("s1", service_error("ServiceUnavailableException"), times=MAX_ATTEMPTS)
    batch = [
        SqsRecord(message_id="m1", body=first.to_message_body()),
        SqsRecord(message_id="m2", body=second.to_message_body()),
    ]

    # WHEN the batch is forwarded
    report = relay.forward_batch(batch)

    # THEN only the failed one goes back to SQS
    assert failures(report) == ["m1"]
    assert service.accepted_webhooks() == ["s2"]


# --- Permanent failures and the dead-letter queue -------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["ValidationException", "AccessDeniedException", "ResourceNotFoundException"]
)
def test_permanent_failure_is_dead_lettered_with_its_code_and_acknowledged(
    relay: Forwarder, service: FakeManagedIntegrations, dead_letters: FakeDeadLetterQueue, code: str
) -> None:
    # GIVEN an event the service rejects for good, quoting a sensitive value in its message, then another
    rejected, following = device_event("bad", "dev-9"), device_event("next", "dev-9")
    service.fail("bad", service_error(code, message="Value 'user-secret-77' at 'userId' failed"))
    batch = [record(rejected), record(following)]

    # WHEN the batch is forwarded
    report = relay.forward_batch(batch)

    # THEN it is parked in the dead-letter queue with its code, acknowledged, and its group goes on
    assert batch_response(report) == {"batchItemFailures": []}
    assert service.accepted_webhooks() == ["next"]
    [parked] = dead_letters.messages
    assert parked["body"] == batch[0].body
    assert parked["group_id"] == batch[0].group_id
    assert parked["attributes"] == {
        "ErrorCode": code,
        "ErrorMessage": f"SendConnectorEvent failed with {code} (HTTP {_STATUS[code]})",
        "SourceMessageId": "msg-bad",
        "ConnectorId": CONNECTOR,
        "WebhookId": "bad",
    }
    assert report.dead_lettered_by_code() == {code: 1}


def test_request_failing_parameter_validation_is_dead_lettered_naming_members_not_values(
    relay: Forwarder, dead_letters: FakeDeadLetterQueue
) -> None:
    # GIVEN an event whose StatusCode is not an integer and which lacks nothing else
    wrong = device_event("typed", StatusCode="two-hundred-secret")

    # WHEN it is forwarded
    report = relay.forward_batch([record(wrong)])

    # THEN it is dead-lettered as a parameter validation failure, naming the member but not its value
    assert batch_response(report) == {"batchItemFailures": []}
    attributes = dead_letters.messages[0]["attributes"]
    assert attributes["ErrorCode"] == "ParamValidationError"
    assert "StatusCode" in attributes["ErrorMessage"]
    assert "secret" not in attributes["ErrorMessage"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "message body is not valid JSON"),
        (json.dumps({"connectorId": CONNECTOR, "event": {}}), "message body lacks the member 'webhookId'"),
        (
            json.dumps(
                {
                    "connectorId": CONNECTOR,
                    "webhookId": "w",
                    "index": "x-secret",
                    "receivedAt": 1,
                    "event": {},
                }
            ),
            "message body is not a queued connector event",
        ),
        (
            QueuedEvent(
                CONNECTOR, "w", 0, 1, {"Operation": "DEVICE_EVENT", "ConnectorId": "other"}
            ).to_message_body(),
            "event names a different connector than its envelope",
        ),
    ],
)
def test_malformed_message_is_dead_lettered_and_acknowledged(
    relay: Forwarder,
    service: FakeManagedIntegrations,
    dead_letters: FakeDeadLetterQueue,
    body: str,
    reason: str,
) -> None:
    # GIVEN A message that cannot be turned into a request
    batch = [record(body, message_id="m-bad")]

    # WHEN it is forwarded
    report = relay.forward_batch(batch)

    # THEN nothing reaches the service, and it is parked with the reason and the original body
    assert service.accepted == []
    assert batch_response(report) == {"batchItemFailures": []}
    [parked] = dead_letters.messages
    assert parked["body"] == body
    assert parked["group_id"] == "raw-group"
    assert parked["attributes"]["ErrorCode"] == "MalformedMessage"
    assert parked["attributes"]["ErrorMessage"] == reason
    assert parked["attributes"]["SourceMessageId"] == "m-bad"


def test_event_that_cannot_be_dead_lettered_goes_back_to_sqs_and_holds_its_group(
    service: FakeManagedIntegrations,
) -> None:
    # GIVEN A dead-letter queue that refuses messages, and a rejected event followed by one of its device
    relay = forwarder_over(service, FakeDeadLetterQueue(broken=True))
    service.fail("bad", service_error("ValidationException"))
    batch = [record(device_event("bad")), record(device_event("after")), record(device_event("other", "X"))]

    # WHEN the batch is forwarded
    report = relay.forward_batch(batch)

    # THEN nothing is dropped: the rejected event and the rest of its group go back to SQS
    assert failures(report) == ["msg-bad", "msg-after"]
    assert report.outcomes[0].disposition is Disposition.DEAD_LETTER_FAILED
    assert report.outcomes[0].dead_letter_error_code == "AWS.SimpleQueueService.NonExistentQueue"
    assert service.accepted_webhooks() == ["other"]


def test_redelivered_message_is_dead_lettered_once_but_a_redriven_copy_again(
    relay: Forwarder, service: FakeManagedIntegrations, dead_letters: FakeDeadLetterQueue
) -> None:
    # GIVEN an event the service always rejects
    rejected = device_event("bad")
    for _ in range(3):
        service.fail("bad", service_error("ValidationException"))

    # WHEN SQS delivers the same message twice, and an operator later redrives it (a new message id)
    relay.forward_batch([record(rejected, message_id="m-1")])
    relay.forward_batch([record(rejected, message_id="m-1")])
    relay.forward_batch([record(rejected, message_id="m-redriven")])

    # THEN the redelivery is deduplicated, the redriven copy is parked again instead of vanishing
    assert [m["attributes"]["SourceMessageId"] for m in dead_letters.messages] == ["m-1", "m-redriven"]
    assert dead_letter_deduplication_id(record(rejected, message_id="m-1")) != dead_letter_deduplication_id(
        record(rejected, message_id="m-redriven")
    )


# --- Classification of failures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "disposition", "retries"),
    [
        (service_error("ThrottlingException", retries=2), Disposition.RETRY, 2),
        (service_error("InternalServerException", retries=2), Disposition.RETRY, 2),
        (service_error("ServiceUnavailableException", retries=2), Disposition.RETRY, 2),
        (EndpointConnectionError(endpoint_url="https://api.example"), Disposition.RETRY, MAX_ATTEMPTS - 1),
        (ReadTimeoutError(endpoint_url="https://api.example"), Disposition.RETRY, MAX_ATTEMPTS - 1),
        (service_error("ValidationException"), Disposition.DEAD_LETTERED, 0),
        (service_error("AccessDeniedException"), Disposition.DEAD_LETTERED, 0),
        (service_error("ResourceNotFoundException"), Disposition.DEAD_LETTERED, 0),
    ],
)
def test_failures_are_classified_as_transient_or_permanent(
    relay: Forwarder,
    service: FakeManagedIntegrations,
    error: BaseException,
    disposition: Disposition,
    retries: int,
) -> None:
    # GIVEN an event whose send fails with the given error
    service.fail("e", error, times=MAX_ATTEMPTS)

    # WHEN it is forwarded
    [outcome] = relay.forward_batch([record(device_event("e"))]).outcomes

    # THEN transient errors go back to SQS, permanent ones to the dead-letter queue, retries are counted
    assert outcome.disposition is disposition
    assert outcome.retries == retries


def test_throttling_absorbed_by_in_call_retries_is_forwarded_and_counted(
    relay: Forwarder, service: FakeManagedIntegrations
) -> None:
    # GIVEN an event throttled on its first two attempts (the client makes three)
    service.throttle("slow", attempts=2)

    # WHEN it is forwarded
    report = relay.forward_batch([record(device_event("slow"))])

    # THEN it is delivered, and the two retries the client made are counted
    assert report.count(Disposition.FORWARDED) == 1
    assert report.retries == 2


def test_defect_in_one_group_does_not_stop_the_others(dead_letters: FakeDeadLetterQueue) -> None:
    # GIVEN A service adapter that breaks unexpectedly for one device
    class Flaky(FakeManagedIntegrations):
        def send_connector_event(self, **params: Any) -> dict[str, Any]:
            if params["ConnectorDeviceId"] == "broken":
                raise KeyError("surprise")
            return super().send_connector_event(**params)

    service = Flaky()
    relay = forwarder_over(service, dead_letters)

    # WHEN A batch with that device and another is forwarded
    report = relay.forward_batch([record(device_event("x", "broken")), record(device_event("y", "fine"))])

    # THEN the broken device's event goes back to SQS and the other is delivered
    assert failures(report) == ["msg-x"]
    assert service.accepted_webhooks() == ["y"]


def test_records_are_not_started_when_the_invocation_runs_out_of_time(
    service: FakeManagedIntegrations, dead_letters: FakeDeadLetterQueue
) -> None:
    # GIVEN an invocation with 10 s left after the first send, and a 7 s margin for one more attempt
    relay = forwarder_over(service, dead_letters, call_seconds=3.5)

    # WHEN A group of three is forwarded
    report = relay.forward_batch([record(device_event(f"t{n}")) for n in range(3)], Remaining(30.0, 5.0, 5.0))

    # THEN the first is delivered and the rest go back to SQS unattempted
    assert service.accepted_webhooks() == ["t0"]
    assert failures(report) == ["msg-t1", "msg-t2"]
    assert report.count(Disposition.HELD_BACK) == 2


# --- Concurrency ----------------------------------------------------------------------------------------


def test_distinct_groups_are_forwarded_concurrently(dead_letters: FakeDeadLetterQueue) -> None:
    # Ten devices with one event each, and a service whose calls each wait until all ten are in flight: it
    # can only answer if the forwarder makes the ten calls at once (a timing would not prove it, and would
    # fail on a busy machine).
    in_flight = threading.Barrier(10, timeout=10)

    class AllAtOnce(FakeManagedIntegrations):
        def send_connector_event(self, **params: Any) -> dict[str, Any]:
            in_flight.wait()
            return super().send_connector_event(**params)

    service = AllAtOnce()
    relay = forwarder_over(service, dead_letters, workers=10)
    batch = [record(device_event(f"c{n}", f"dev-{n}")) for n in range(10)]

    report = relay.forward_batch(batch)

    assert report.count(Disposition.FORWARDED) == 10


def test_order_is_kept_within_each_group_when_groups_run_concurrently(
    dead_letters: FakeDeadLetterQueue,
) -> None:
    # Three devices with four events each, interleaved; the first event of each device is only answered
    # once all three are in flight, which proves the devices are forwarded at the same time
    first_of_each = threading.Barrier(3, timeout=10)

    class FirstCallsTogether(FakeManagedIntegrations):
        def send_connector_event(self, **params: Any) -> dict[str, Any]:
            if self.webhook_id(params).endswith("0"):
                first_of_each.wait()
            return super().send_connector_event(**params)

    service = FirstCallsTogether(latency=0.001)
    relay = forwarder_over(service, dead_letters, workers=3)
    batch = [record(device_event(f"{device}{n}", device)) for n in range(4) for device in "PQR"]

    report = relay.forward_batch(batch)

    # Every event was delivered, and each device's events one after another, in order
    assert report.count(Disposition.FORWARDED) == 12
    for device in "PQR":
        calls = [(start, end) for webhook, start, end in service.calls if webhook.startswith(device)]
        assert [w for w, _, _ in service.calls if w.startswith(device)] == [f"{device}{n}" for n in range(4)]
        assert all(prev_end <= start for (_, prev_end), (start, _) in itertools.pairwise(calls))


# --- The spec's acceptance case -------------------------------------------------------------------------


def test_throttled_and_invalid_events_in_a_batch_are_retried_and_dead_lettered_while_the_rest_go_through(
    relay: Forwarder, service: FakeManagedIntegrations, dead_letters: FakeDeadLetterQueue
) -> None:
    # A batch with a throttled event (device T), an invalid one (device V), and other devices' events
    layout = [("o1", "O"), ("t1", "T"), ("v1", "V"), ("o2", "O"), ("p1", "P"), ("o3", "O")]
    batch = [record(device_event(name, device)) for name, device in layout]
    service.throttle("t1", attempts=MAX_ATTEMPTS)
    service.fail("v1", service_error("ValidationException"))

    # The batch is forwarded
    report = relay.forward_batch(batch)

    # The throttled one comes back for SQS to redeliver
    assert failures(report) == ["msg-t1"]
    # The invalid one is in the dead-letter queue with its code
    [parked] = dead_letters.messages
    assert parked["attributes"]["ErrorCode"] == "ValidationException"
    assert parked["attributes"]["SourceMessageId"] == "msg-v1"
    # The rest are forwarded, in order within their device
    accepted = service.accepted_webhooks()
    assert sorted(accepted) == ["o1", "o2", "o3", "p1"]
    assert [w for w in accepted if w.startswith("o")] == ["o1", "o2", "o3"]


# --- The Lambda handler ---------------------------------------------------------------------------------


@pytest.fixture
def handler_logs(
    monkeypatch: pytest.MonkeyPatch, service: FakeManagedIntegrations, dead_letters: FakeDeadLetterQueue
) -> Iterator[io.StringIO]:
    """The handler wired to the fakes; yields what it logs, at every level."""
    monkeypatch.setattr(
        forwarder, "wiring", BuiltAtInit.fixed(ForwarderWiring(forwarder_over(service, dead_letters)))
    )
    handler = forwarder.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    logs = io.StringIO()
    previous_stream, previous_level = handler.setStream(logs), forwarder.logger.log_level
    forwarder.logger.setLevel("DEBUG")
    yield logs
    forwarder.logger.setLevel(previous_level)
    handler.setStream(previous_stream)


def emitted_metrics(output: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric documents printed by the handler."""
    documents = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [doc for doc in documents if "_aws" in doc]


def test_sample_event_is_forwarded_by_the_handler(
    handler_logs: io.StringIO,
    lambda_context: Any,
    service: FakeManagedIntegrations,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the sample SQS FIFO event shipped in events/
    event = json.loads(SAMPLE_EVENT.read_text())

    # WHEN lambda invokes the handler with it
    response = forwarder.lambda_handler(event, lambda_context)

    # THEN all three events are sent, nothing is handed back, and Forwarded counts them. They are of three
    # message groups, forwarded side by side: their order across groups is no promise.
    assert response == {"batchItemFailures": []}
    assert sorted(p["Operation"] for p in service.accepted) == [
        "DEVICE_COMMAND_RESPONSE",
        "DEVICE_DISCOVERY",
        "DEVICE_EVENT",
    ]
    [batch_metrics] = [m for m in emitted_metrics(capfd.readouterr().out) if "Forwarded" in m]
    assert batch_metrics["Forwarded"] == [3.0]
    assert batch_metrics["Retried"] == [0.0]


def test_handler_reports_failures_and_dead_letters_with_an_error_code_metric_and_no_sensitive_logs(
    handler_logs: io.StringIO,
    lambda_context: Any,
    service: FakeManagedIntegrations,
    dead_letters: FakeDeadLetterQueue,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A batch with a throttled event and a rejected one, all carrying sensitive members
    throttled, rejected, fine = (
        device_event("t1", "dev-secret-1"),
        device_event("v1", "dev-secret-2"),
        device_event("f1"),
    )
    service.throttle("t1", attempts=MAX_ATTEMPTS)
    service.fail("v1", service_error("ValidationException", message="Value dev-secret-2 is invalid"))
    records = [record(throttled), record(rejected), record(fine)]
    event = {
        "Records": [
            {
                "messageId": r.message_id,
                "body": r.body,
                "attributes": {"MessageGroupId": r.group_id, "ApproximateReceiveCount": "2"},
                "eventSource": "aws:sqs",
            }
            for r in records
        ]
    }

    # Lambda invokes the handler
    response = forwarder.lambda_handler(event, lambda_context)
    output = capfd.readouterr()

    # The throttled one is a batch item failure and the rejected one is dead-lettered
    assert failures(response) == ["msg-t1"]
    assert len(dead_letters.messages) == 1
    # The metrics say so, DeadLettered carrying its error code as a dimension
    documents = emitted_metrics(output.out)
    [batch_metrics] = [m for m in documents if "Forwarded" in m]
    counted = {name: batch_metrics[name] for name in ("Forwarded", "TransientFailure", "Retried", "HeldBack")}
    assert counted == {"Forwarded": [1.0], "TransientFailure": [1.0], "Retried": [2.0], "HeldBack": [0.0]}
    [dead_lettered] = [m for m in documents if "DeadLettered" in m]
    assert dead_lettered["ErrorCode"] == "ValidationException"
    assert dead_lettered["DeadLettered"] == [1.0]
    assert ["ErrorCode", "service"] in [
        sorted(dims) for dims in dead_lettered["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    ]
    # The logs carry the webhook id as correlation id but none of the sensitive members
    logs = [json.loads(line) for line in handler_logs.getvalue().splitlines()]
    assert any(
        log.get("correlation_id") == "t1" and log.get("error_code") == "ThrottlingException" for log in logs
    )
    assert any(log["level"] == "DEBUG" and log.get("webhook_id") == "f1" for log in logs)
    logged = handler_logs.getvalue() + output.out + output.err
    everything = logged + json.dumps(dead_letters.messages[0]["attributes"])
    for sensitive in ("user-secret-77", "dev-secret-1", "dev-secret-2", "secret-state", "uri auc"):
        assert sensitive not in everything


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_handler_rejects_an_event_that_is_not_an_sqs_batch(
    handler_logs: io.StringIO, lambda_context: Any
) -> None:
    # An event from somewhere else, when the handler gets it, then it says what it expected
    with pytest.raises(match="expected an SQS event"):
        forwarder.lambda_handler({"detail-type": "Scheduled Event"}, lambda_context)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_handler_refuses_to_run_without_a_dead_letter_queue(
    monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    # No dead-letter queue configured
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL", raising=False)
    monkeypatch.setattr(forwarder, "wiring", BuiltAtInit(ForwarderWiring.from_environment))

    # The handler is invoked, then it fails with the variable's name before touching any record
    with pytest.raises(SettingsError, match="DEAD_LETTER_QUEUE_URL"):
        forwarder.lambda_handler(json.loads(SAMPLE_EVENT.read_text()), lambda_context)


def test_sqs_records_are_read_with_their_fifo_attributes() -> None:
    # The sample event, when its records are read, then group, deduplication id and receive count are kept
    first = records_from_event(json.loads(SAMPLE_EVENT.read_text()))[0]
    assert first.group_id is not None and first.group_id.startswith("acme-cloud-connector.")
    assert first.deduplication_id is not None and len(first.deduplication_id) == 64
    assert first.receive_count == 1
    with pytest.raises(match="messageId"):
        records_from_event({"Records": [{"body": "{}"}]})
