"""The local SQS event source behaves like Lambda's: partial batch responses, redelivery, dead-lettering."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from bridge_local.aws import local_client
from bridge_local.lambda_runtime import InProcessFunction
from bridge_local.processes import ServerProcess
from bridge_local.sqs_poller import SqsEventSource, failed_message_ids

pytestmark = pytest.mark.integration

VISIBILITY_TIMEOUT = 1
MAX_RECEIVE_COUNT = 2


class FailingChosenMessages:
    """Reports a batch item failure for every record whose body is in `failing`; raises when told to."""

    def __init__(self, failing: frozenset[str] = frozenset(), raise_error: bool = False) -> None:
        self.failing = failing
        self.raise_error = raise_error
        self.deliveries: Counter[str] = Counter()
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self._lock:
            for record in event["Records"]:
                self.deliveries[record["body"]] += 1
                self.records.append(record)
        if self.raise_error:
            raise RuntimeError("the whole batch fails")
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in self.failing
            ]
        }


def sqs_client(moto: ServerProcess) -> Any:
    return local_client("sqs", moto.url)


def fifo_queue_with_dlq(sqs: Any) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    fifo = {
        "FifoQueue": "true",
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
    }
    dlq = sqs.create_queue(QueueName=f"dlq-{suffix}.fifo", Attributes=fifo)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=f"events-{suffix}.fifo",
        Attributes={
            **fifo,
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
            ),
        },
    )["QueueUrl"]
    return queue, dlq


def send(sqs: Any, queue: str, body: str) -> None:
    sqs.send_message(
        QueueUrl=queue,
        MessageBody=body,
        MessageGroupId=f"group-{body}",
        MessageDeduplicationId=uuid.uuid4().hex,
        MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
    )


def dead_letters(sqs: Any, dlq: str) -> list[str]:
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages") or []
    return sorted(m["Body"] for m in messages)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_failed_records_come_back_and_end_in_the_dead_letter_queue(moto: ServerProcess) -> None:
    # A FIFO queue with a redrive policy and a function that fails the message "bad"
    sqs = sqs_client(moto)
    queue, dlq = fifo_queue_with_dlq(sqs)
    handler = FailingChosenMessages(failing=frozenset({"bad"}))
    for body in ("good-1", "bad", "good-2"):
        send(sqs, queue, body)

    # The event source runs until the failed message has left the queue
    source = SqsEventSource(sqs, queue_url=queue, function=InProcessFunction("F", handler), wait_seconds=1)
    with source:
        assert wait_for(lambda: dead_letters(sqs, dlq) == ["bad"], timeout=15)

    # The good ones were delivered once and deleted, the bad one delivered maxReceiveCount times
    assert handler.deliveries["good-1"] == 1
    assert handler.deliveries["good-2"] == 1
    assert handler.deliveries["bad"] == MAX_RECEIVE_COUNT
    receive_counts = [
        int(r["attributes"]["ApproximateReceiveCount"]) for r in handler.records if r["body"] == "bad"
    ]
    assert receive_counts == list(range(1, MAX_RECEIVE_COUNT + 1))
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_records_have_the_shape_lambda_gives_them(moto: ServerProcess) -> None:
    # A message on a FIFO queue
    sqs = sqs_client(moto)
    queue, _ = fifo_queue_with_dlq(sqs)
    send(sqs, queue, "shape")
    handler = FailingChosenMessages()
    source = SqsEventSource(sqs, queue_url=queue, function=InProcessFunction("F", handler), wait_seconds=1)

    # One batch is polled
    outcome = source.poll_once()

    # The record carries what Lambda's SQS event carries, and the message is deleted
    assert (outcome.received, outcome.deleted, outcome.failed) == (1, 1, 0)
    (record,) = handler.records
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].startswith("arn:aws:sqs:us-east-1:") and record[
        "eventSourceARN"
    ].endswith(queue.rsplit("/", 1)[1])
    assert record["awsRegion"] == "us-east-1"
    assert record["messageId"] and record["receiptHandle"] and record["md5OfBody"]
    for name in ("ApproximateReceiveCount", "SentTimestamp", "SequenceNumber", "MessageGroupId"):
        assert name in record["attributes"]
    assert record["attributes"]["MessageGroupId"] == "group-shape"
    assert record["attributes"]["MessageDeduplicationId"]
    assert record["messageAttributes"]["origin"] == {
        "stringValue": "test",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages") is None


def test_a_function_error_retries_the_whole_batch(moto: ServerProcess) -> None:
    # A function that raises
    sqs = sqs_client(moto)
    queue, _ = fifo_queue_with_dlq(sqs)
    send(sqs, queue, "a")
    send(sqs, queue, "b")
    handler = FailingChosenMessages(raise_error=True)
    source = SqsEventSource(sqs, queue_url=queue, function=InProcessFunction("F", handler), wait_seconds=1)

    # The first batch fails and the visibility timeout passes
    first = source.poll_once()
    time.sleep(VISIBILITY_TIMEOUT + 0.2)
    handler.raise_error = False
    second = source.poll_once()

    # Nothing was deleted the first time and every record came back
    assert first.whole_batch_failed and first.deleted == 0
    assert second.deleted == 2
    assert handler.deliveries == Counter({"a": 2, "b": 2})


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m1"}]}, {"m1"}),
        ({"batchItemFailures": [{"itemIdentifier": "unknown"}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{}]}, None),
        ({"batchItemFailures": "m1"}, None),
    ],
)
def test_a_malformed_partial_batch_response_fails_the_whole_batch(
    result: Any, expected: set[str] | None
) -> None:
    assert failed_message_ids(result, {"m1", "m2"}) == expected
