"""1,000 signed webhooks through the whole local stack while SendConnectorEvent misbehaves.

The path is the deployed one, on loopback: the HTTP API front, the receiver (three execution environments),
moto's SQS FIFO queue, the forwarder fed by its SQS event source (four environments, one poller each, as
Lambda's MaximumConcurrency scales it), and the IoT stand-in. The stand-in throttles about 30% of the calls,
answers some 500s and 503s, adds latency, and rejects every event of a few devices and trace ids with a
permanent error. Afterwards every accepted webhook is accounted for: forwarded (in the stand-in's record),
or parked in the dead-letter queue with its reason; none twice, and each device's events in order.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge_local.aws import local_client
from bridge_local.lambda_runtime import InProcessFunction
from bridge_local.processes import ServerProcess
from bridge_local.signing import post, sign_headers
from bridge_local.sqs_poller import SqsEventSource
from bridge_local.stack import LocalStack, StackConfig
from iot_standin.testing import Standin
from samples import webhooks as sample_webhooks

pytestmark = pytest.mark.integration

CONNECTOR = sample_webhooks.DEMO_CONNECTOR_ID
RECEIVER = "WebhookReceiverFunction"
FORWARDER = "ForwarderFunction"

# The workload: 1,000 webhooks, one event each.
HEALTHY_DEVICES = 50
EVENTS_PER_DEVICE = 18  # 900 DEVICE_EVENTs
COMMAND_RESPONSES = 30  # answered normally, one each for devices 0..29
GONE_TRACES = 10  # command responses of devices 30..39 whose trace id the service does not know
DISCOVERIES, PAGES_PER_DISCOVERY = 10, 4  # 40 DEVICE_DISCOVERY webhooks
BROKEN_DEVICES = {
    "dev-invalid-0": "ValidationException",
    "dev-invalid-1": "ValidationException",
    "dev-denied-0": "AccessDeniedException",
    "dev-denied-1": "AccessDeniedException",
}
EVENTS_PER_BROKEN_DEVICE = 5
WEBHOOKS = 1_000

PERMANENT_ERRORS = {
    **BROKEN_DEVICES,
    **{f"gone-{n}": "ResourceNotFoundException" for n in range(GONE_TRACES)},
}
SEND_CONNECTOR_EVENT_FAULTS = {
    "throttleRate": 0.3,
    "error500Rate": 0.05,
    "error503Rate": 0.05,
    "latencyMs": 30,
    "latencyJitterMs": 25,
    "errorCodes": PERMANENT_ERRORS,
}

# As deployed, the visibility timeout is above the forwarder's timeout (30 s): no batch can be received
# by a second poller while the first still works on it, which would forward its events twice. (With a 10 s
# timeout, batches of a few throttled records of one device outlived it, and events were forwarded twice.)
# Failed records come back after the retry delay instead of the visibility timeout, so the run converges.
VISIBILITY_TIMEOUT = 60
RETRY_DELAY = 2
# Records behind a failure in their message group are handed back unattempted, and each hand-back counts as
# a receive. Ten receives make it practically impossible for a transient fault alone to exhaust them.
MAX_RECEIVE_COUNT = 10
SENDER_THREADS = 6
DRAIN_TIMEOUT = 120.0

_MESSAGE = re.compile(r"^(?P<webhook_id>wh_\w+) seq (?P<seq>\d+)$")


@dataclass(frozen=True)
class Webhook:
    webhook_id: str
    group: str  # what the FIFO message group is derived from: the device, else the discovery id
    seq: int  # position within its group, in sending order
    body: dict[str, Any]
    permanent_error: str | None  # the code SendConnectorEvent answers for it every time, if any


def _matter_on_off(value: bool) -> dict[str, Any]:
    return {"id": "1", "clusters": [{"id": "0x0006", "attributes": {"0x0000": value}}]}


def _capability_report() -> dict[str, Any]:
    return sample_webhooks.BODIES["device-discovery"]["Devices"][0]["CapabilityReport"]


def build_workload() -> list[Webhook]:
    """Each group's webhooks in the order its sender sends them."""
    groups: dict[str, list[tuple[dict[str, Any], str | None]]] = {}

    def add(group: str, body: dict[str, Any], error: str | None = None) -> None:
        groups.setdefault(group, []).append((body, error))

    for n in range(HEALTHY_DEVICES):
        device = f"dev-{n:03d}"
        for i in range(EVENTS_PER_DEVICE):
            add(
                device,
                {
                    "Operation": "DEVICE_EVENT",
                    "ConnectorDeviceId": device,
                    "MatterEndpoint": _matter_on_off(i % 2 == 0),
                },
            )
            if i == EVENTS_PER_DEVICE // 2 and n < COMMAND_RESPONSES:
                add(device, _command_response(device, f"trace-{n}"))
            if i == EVENTS_PER_DEVICE // 2 and COMMAND_RESPONSES <= n < COMMAND_RESPONSES + GONE_TRACES:
                trace = f"gone-{n - COMMAND_RESPONSES}"
                add(device, _command_response(device, trace), PERMANENT_ERRORS[trace])
    for device, code in BROKEN_DEVICES.items():
        for _ in range(EVENTS_PER_BROKEN_DEVICE):
            add(
                device,
                {
                    "Operation": "DEVICE_EVENT",
                    "ConnectorDeviceId": device,
                    "MatterEndpoint": _matter_on_off(True),
                },
                code,
            )
    for n in range(DISCOVERIES):
        discovery = f"disc{n:02d}"
        for page in range(PAGES_PER_DISCOVERY):
            found = f"dev-{(n * PAGES_PER_DISCOVERY + page) % HEALTHY_DEVICES:03d}"
            add(
                discovery,
                {
                    "Operation": "DEVICE_DISCOVERY",
                    "DeviceDiscoveryId": discovery,
                    "Devices": [{"ConnectorDeviceId": found, "CapabilityReport": _capability_report()}],
                },
            )

    webhooks: list[Webhook] = []
    for group, items in groups.items():
        for seq, (body, error) in enumerate(items):
            webhook_id = f"wh_{len(webhooks):04d}"
            webhooks.append(
                Webhook(webhook_id, group, seq, {**body, "Message": f"{webhook_id} seq {seq}"}, error)
            )
    return webhooks


def _command_response(device: str, trace: str) -> dict[str, Any]:
    return {
        "Operation": "DEVICE_COMMAND_RESPONSE",
        "StatusCode": 200,
        "ConnectorDeviceId": device,
        "TraceId": trace,
        "MatterEndpoint": _matter_on_off(True),
    }


@dataclass
class SendResult:
    accepted: dict[str, dict[str, Any]]  # webhook id -> the 202 answer
    other: Counter[int]  # statuses other than 202 met on the way (retried)


def send_all(api_url: str, webhooks: list[Webhook]) -> SendResult:
    """Send from a few threads; each group belongs to one thread, which sends its webhooks in order.

    Threads interleave their groups (webhook i of every group, then i + 1), as many devices reporting at
    once would. A 503 is retried with the same webhook id, newly signed, as a Standard Webhooks sender does.
    """
    url = f"{api_url}/connectors/{urllib.parse.quote(CONNECTOR)}/events"
    by_group: dict[str, list[Webhook]] = {}
    for webhook in webhooks:
        by_group.setdefault(webhook.group, []).append(webhook)
    shares: list[list[list[Webhook]]] = [[] for _ in range(SENDER_THREADS)]
    for index, items in enumerate(by_group.values()):
        shares[index % SENDER_THREADS].append(items)
    result = SendResult({}, Counter())
    lock = threading.Lock()

    def send(webhook: Webhook) -> None:
        body = sample_webhooks.encode(webhook.body)
        for _ in range(10):
            reply = post(
                url, body, sign_headers(sample_webhooks.DEMO_SECRET, body, webhook_id=webhook.webhook_id)
            )
            if reply.status == 202:
                with lock:
                    result.accepted[webhook.webhook_id] = reply.json()
                return
            with lock:
                result.other[reply.status] += 1
            if reply.status != 503:
                return
            time.sleep(0.2)

    def sender(share: list[list[Webhook]]) -> None:
        for position in range(max(len(items) for items in share)):
            for items in share:
                if position < len(items):
                    send(items[position])

    with ThreadPoolExecutor(SENDER_THREADS) as pool:
        list(pool.map(sender, shares))
    return result


def queue_depth(sqs: Any, queue_url: str) -> int:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)


def wait_until_drained(sqs: Any, queue_url: str, timeout: float) -> float:
    """Seconds until the queue held nothing, visible or in flight, on two reads in a row; fails on timeout."""
    started = time.monotonic()
    empty_reads = 0
    while time.monotonic() - started < timeout:
        empty_reads = empty_reads + 1 if queue_depth(sqs, queue_url) == 0 else 0
        if empty_reads == 2:
            return time.monotonic() - started
        time.sleep(0.5)
    pytest.fail(f"the event queue still held {queue_depth(sqs, queue_url)} message(s) after {timeout:.0f}s")


def take_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message of a FIFO queue, with attributes, deleting each once read (this queue is ours alone)."""
    taken: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=30,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            if queue_depth(sqs, queue_url) == 0:
                return taken
            time.sleep(0.2)
            continue
        taken.extend(messages)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )


@dataclass(frozen=True)
class DeadLetter:
    webhook_id: str
    attributes: dict[str, str]


def dead_letters(messages: list[dict[str, Any]]) -> list[DeadLetter]:
    return [
        DeadLetter(
            webhook_id=json.loads(m["Body"])["webhookId"],
            attributes={k: v["StringValue"] for k, v in (m.get("MessageAttributes") or {}).items()},
        )
        for m in messages
    ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = StackConfig(
        api_port=0,
        state_dir=tmp_path_factory.mktemp("state"),
        fleet_size=5,
        visibility_timeout=VISIBILITY_TIMEOUT,
        max_receive_count=MAX_RECEIVE_COUNT,
        concurrency={RECEIVER: 3, FORWARDER: 4},
        retry_delay=RETRY_DELAY,
    )
    with LocalStack(config) as running:
        assert running.spec.functions[FORWARDER].timeout_seconds < VISIBILITY_TIMEOUT
        yield running


@pytest.mark.slow
def test_every_accepted_webhook_is_forwarded_once_in_order_or_dead_lettered_with_its_reason(
    stack: LocalStack, tmp_path: Path
) -> None:
    # The stand-in throttling, failing and slowing SendConnectorEvent, and rejecting some events
    assert stack.api is not None
    standin = Standin(stack.processes["iot"])
    standin.reset()
    standin.set_faults({"SendConnectorEvent": SEND_CONNECTOR_EVENT_FAULTS})
    webhooks = build_workload()
    assert len(webhooks) == WEBHOOKS
    by_id = {w.webhook_id: w for w in webhooks}
    sqs = stack.client("sqs")
    started = time.monotonic()

    # 1,000 signed webhooks are posted, and the queue is given time to drain
    sent = send_all(stack.api.url, webhooks)
    sending_seconds = time.monotonic() - started
    drain_seconds = wait_until_drained(sqs, stack.queues["EventQueue"].url, DRAIN_TIMEOUT)

    # Every webhook was accepted, with the documented answer
    assert set(sent.accepted) == set(by_id), f"not accepted: {sorted(set(by_id) - set(sent.accepted))[:10]}"
    assert all(answer == {"webhookId": i, "queued": 1} for i, answer in sent.accepted.items())

    recorded = standin.connector_events(CONNECTOR)
    forwarded = [_MESSAGE.match(event["body"]["Message"]) for event in recorded]
    assert all(forwarded), "the stand-in recorded an event this test did not send"
    forwarded_ids = Counter(match["webhook_id"] for match in forwarded if match)
    parked = dead_letters(take_all(sqs, stack.queues["EventDeadLetterQueue"].url))
    parked_ids = Counter(letter.webhook_id for letter in parked)

    # Accepted = forwarded + dead-lettered, exactly, with nothing in both
    assert not set(forwarded_ids) & set(parked_ids)
    assert set(forwarded_ids) | set(parked_ids) == set(sent.accepted)
    assert len(forwarded_ids) + len(parked_ids) == len(sent.accepted)
    # Exactly the events the service always rejects are dead-lettered, each once, with the reason as
    # the forwarder records it (an event SQS moved after exhausting its receives would have no ErrorCode)
    expected_parked = {w.webhook_id: w.permanent_error for w in webhooks if w.permanent_error}
    assert parked_ids == Counter(expected_parked.keys())
    for letter in parked:
        code = expected_parked[letter.webhook_id]
        assert letter.attributes["ErrorCode"] == code
        assert letter.attributes["ErrorMessage"].startswith(f"SendConnectorEvent failed with {code} (HTTP 4")
        assert letter.attributes["WebhookId"] == letter.webhook_id
        assert letter.attributes["ConnectorId"] == CONNECTOR
        assert letter.attributes["SourceMessageId"]
    # No event reached SendConnectorEvent twice: the forwarder does not deduplicate (delivery is at
    # least once), but with the visibility timeout above the forwarder's timeout and answers far quicker
    # than its read timeout, as deployed, there is no path to a second delivery of a forwarded event
    assert [i for i, n in forwarded_ids.items() if n > 1] == []
    # What arrived is what was sent
    for event, match in zip(recorded, forwarded, strict=True):
        assert match is not None
        assert event["body"] == by_id[match["webhook_id"]].body
        assert event["ignoredMembers"] == []
    # Each device's (and each discovery's) events arrived in the order they were sent
    arrival: dict[str, list[int]] = {}
    for match in forwarded:
        assert match is not None
        arrival.setdefault(by_id[match["webhook_id"]].group, []).append(int(match["seq"]))
    out_of_order = {group: seqs for group, seqs in arrival.items() if seqs != sorted(seqs)}
    assert out_of_order == {}

    # The faults were really there, and each permanently rejected event met its error exactly once
    calls = Counter(standin.stats()["operations"]["SendConnectorEvent"]["calls"])
    assert calls["ok"] == len(forwarded_ids)
    assert calls["ThrottlingException"] > 200
    assert calls["InternalServerException"] > 10
    assert calls["ServiceUnavailableException"] > 10
    assert {code: calls[code] for code in set(PERMANENT_ERRORS.values())} == Counter(expected_parked.values())

    summary = {
        "webhooks": len(webhooks),
        "accepted": len(sent.accepted),
        "nonAcceptedAnswersRetried": dict(sent.other),
        "forwarded": len(forwarded_ids),
        "deadLettered": dict(Counter(letter.attributes.get("ErrorCode", "(none)") for letter in parked)),
        "duplicates": sum(n - 1 for n in forwarded_ids.values()),
        "sendConnectorEventCalls": dict(calls),
        "sendingSeconds": round(sending_seconds, 1),
        "drainSecondsAfterSending": round(drain_seconds, 1),
        "pollers": [
            {"batches": p.stats.batches, "received": p.stats.received, "failed": p.stats.failed}
            for p in stack.pollers
        ],
    }
    print(json.dumps(summary))
    (tmp_path / "summary.json").write_text(json.dumps(summary, indent=2))


class FailsOnceThenHoldsBack:
    """Handles a FIFO batch as the forwarder does: in order per group, and on a failure, that record and the
    rest of its group go back. The record named `flaky` fails its first delivery."""

    def __init__(self, flaky: str) -> None:
        self.flaky = flaky
        self.handled: list[str] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        failed: list[str] = []
        stopped: set[str] = set()
        for record in event["Records"]:
            group = record["attributes"]["MessageGroupId"]
            first_delivery = record["attributes"]["ApproximateReceiveCount"] == "1"
            if group in stopped or (record["body"] == self.flaky and first_delivery):
                stopped.add(group)
                failed.append(record["messageId"])
            else:
                self.handled.append(record["body"])
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}


def test_a_group_handed_back_behind_a_failure_is_redelivered_in_order(moto: ServerProcess) -> None:
    # A FIFO queue holding five events of one device, the second of which fails once
    sqs = local_client("sqs", moto.url)
    queue_url = sqs.create_queue(
        QueueName=f"order-{time.monotonic_ns()}.fifo",
        Attributes={"FifoQueue": "true", "DeduplicationScope": "messageGroup", "VisibilityTimeout": "1"},
    )["QueueUrl"]
    for n in range(5):
        sqs.send_message(
            QueueUrl=queue_url, MessageBody=f"e{n}", MessageGroupId="device", MessageDeduplicationId=f"e{n}"
        )
    handler = FailsOnceThenHoldsBack(flaky="e1")

    # The local event source feeds them to it, the three behind the failure handed back with it
    with SqsEventSource(sqs, queue_url=queue_url, function=InProcessFunction("F", handler), wait_seconds=1):
        deadline = time.monotonic() + 15
        while len(handler.handled) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)

    # They come back in the order they were queued (moto alone would hand out the last one first)
    assert handler.handled == ["e0", "e1", "e2", "e3", "e4"]
