"""The forwarder against real servers on loopback: moto's SQS (FIFO queue and FIFO dead-letter queue) and the
IoT stand-in for AWS IoT managed integrations, with faults injected per device.

Each test enqueues events the way the webhook receiver does, receives a batch the way Lambda's event source
mapping does, invokes the handler, and deletes what it acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import forwarder
from bridge_local.aws import local_client
from bridge_local.sqs_poller import failed_message_ids, sqs_record
from fakes.receiver import GROUP_KEY
from iot_standin.testing import Standin, running_standin
from iotbridge import clients
from iotbridge.send_connector_event.queued import QueuedEvent

pytestmark = pytest.mark.integration

CONNECTOR = "demo-connector"
THROTTLED_DEVICE = "dev-throttled"
INVALID_DEVICE = "dev-invalid"
FAULTS = {
    "SendConnectorEvent": {
        "errorCodes": {THROTTLED_DEVICE: "ThrottlingException", INVALID_DEVICE: "ValidationException"}
    }
}


@pytest.fixture(scope="module")
def standin() -> Iterator[Standin]:
    with running_standin(faults=FAULTS) as running:
        yield running


@pytest.fixture
def wired(relay: Any, standin: Standin, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The forwarder's environment as deployed, pointed at moto and the stand-in."""
    standin.reset()
    for name, value in standin.endpoint_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SEND_MAX_ATTEMPTS", "2")  # one in-call retry: enough to see it, quick to run
    clients.reset_clients()
    forwarder.wiring.rebuild()
    yield relay
    forwarder.wiring.rebuild()


def device_event(webhook_id: str, device: str) -> QueuedEvent:
    return QueuedEvent(
        CONNECTOR,
        webhook_id,
        0,
        1_795_430_400,
        {
            "Operation": "DEVICE_EVENT",
            "ConnectorDeviceId": device,
            "Message": f"uri auc {device} onoff {webhook_id}",
            "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x0006", "attributes": {"0x0000": True}}]},
        },
    )


def enqueue(sqs: Any, queue_url: str, body: str, group_id: str, deduplication_id: str) -> str:
    sent = sqs.send_message(
        QueueUrl=queue_url, MessageBody=body, MessageGroupId=group_id, MessageDeduplicationId=deduplication_id
    )
    return str(sent["MessageId"])


def enqueue_event(sqs: Any, queue_url: str, event: QueuedEvent) -> str:
    """As the webhook receiver enqueues an event."""
    return enqueue(
        sqs, queue_url, event.to_message_body(), event.message_group_id(GROUP_KEY), event.deduplication_id
    )


def deliver_one_batch(sqs: Any, queue_url: str, context: Any) -> tuple[dict[str, Any], list[str]]:
    """What Lambda's event source mapping does for one batch; returns the response and the batch's ids.

    The invocation gets the forwarder's deployed timeout (30 s): it starts a record only while the worst
    case of a try and a dead-letter put fits."""
    context.remaining_millis = 30_000
    received = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        WaitTimeSeconds=1,
    ).get("Messages", [])
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    event = {"Records": [sqs_record(message, queue_arn=arn, region="us-east-1") for message in received]}
    response = forwarder.lambda_handler(event, context)
    failed = failed_message_ids(response, {m["MessageId"] for m in received})
    assert failed is not None, "the response must be a valid partial batch response"
    for message in received:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return response, [m["MessageId"] for m in received]


def dead_letters(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    return list(
        sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=1,
        ).get("Messages", [])
    )


def test_throttled_event_is_redelivered_invalid_one_dead_lettered_and_the_rest_forwarded_in_order(
    wired: Any, standin: Standin, lambda_context: Any
) -> None:
    # The queue holding, interleaved, three events of one device, one throttled and one invalid event
    sqs = local_client("sqs", wired.endpoint)
    events = [
        device_event("o1", "dev-ok"),
        device_event("t1", THROTTLED_DEVICE),
        device_event("o2", "dev-ok"),
        device_event("v1", INVALID_DEVICE),
        device_event("o3", "dev-ok"),
    ]
    ids = {e.webhook_id: enqueue_event(sqs, wired.queue_url, e) for e in events}

    # One batch is delivered to the forwarder
    response, batch = deliver_one_batch(sqs, wired.queue_url, lambda_context)

    # The throttled event comes back as the only batch item failure, after the client's in-call retry
    assert len(batch) == 5
    assert response == {"batchItemFailures": [{"itemIdentifier": ids["t1"]}]}
    calls = standin.stats()["operations"]["SendConnectorEvent"]["calls"]
    assert calls.get("ThrottlingException") == 2
    # The other device's events reached managed integrations in queue order
    sent = [e["body"]["Message"].split(" ")[-1] for e in standin.connector_events(CONNECTOR)]
    assert sent == ["o1", "o2", "o3"]
    # The invalid event sits in the dead-letter queue with its code, group and original body
    [parked] = dead_letters(sqs, wired.dead_letter_queue_url)
    assert parked["Body"] == events[3].to_message_body()
    assert parked["Attributes"]["MessageGroupId"] == events[3].message_group_id(GROUP_KEY)
    attributes = {name: value["StringValue"] for name, value in parked["MessageAttributes"].items()}
    assert attributes["ErrorCode"] == "ValidationException"
    assert attributes["SourceMessageId"] == ids["v1"]
    assert attributes["WebhookId"] == "v1"
    assert INVALID_DEVICE not in attributes["ErrorMessage"]
    # Only the throttled message is still on the source queue, waiting to be redelivered
    counts = sqs.get_queue_attributes(
        QueueUrl=wired.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert sum(int(count) for count in counts.values()) == 1


def test_malformed_message_is_dead_lettered_without_reaching_the_service(
    wired: Any, standin: Standin, lambda_context: Any
) -> None:
    # A message on the queue that is not a queued connector event
    sqs = local_client("sqs", wired.endpoint)
    enqueue(sqs, wired.queue_url, "not json at all", "g-malformed", "d-malformed")

    # It is delivered
    response, _ = deliver_one_batch(sqs, wired.queue_url, lambda_context)

    # It is acknowledged and parked with the reason, and managed integrations never heard of it
    assert response == {"batchItemFailures": []}
    [parked] = dead_letters(sqs, wired.dead_letter_queue_url)
    assert parked["MessageAttributes"]["ErrorCode"]["StringValue"] == "MalformedMessage"
    assert parked["Attributes"]["MessageGroupId"] == "g-malformed"
    assert standin.connector_events() == []


def test_rejected_event_stays_on_the_queue_when_the_dead_letter_queue_is_unreachable(
    wired: Any, standin: Standin, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A dead-letter queue URL that names no queue, and an event managed integrations rejects
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", wired.dead_letter_queue_url.replace("dlq-", "missing-"))
    forwarder.wiring.rebuild()
    sqs = local_client("sqs", wired.endpoint)
    rejected = device_event("v2", INVALID_DEVICE)
    message_id = enqueue_event(sqs, wired.queue_url, rejected)

    # It is delivered
    response, _ = deliver_one_batch(sqs, wired.queue_url, lambda_context)

    # Nothing is dropped: it is a batch item failure, for SQS to deliver again
    assert response == {"batchItemFailures": [{"itemIdentifier": message_id}]}
