"""The forwarder: one SQS FIFO batch against the IoT stand-in with 50 ms of latency per SendConnectorEvent.

The child process runs the real handler (lambda_handler, its Forwarder and its botocore client from the
one client factory) against the stand-in over HTTP. A batch of 10 messages in 10 message groups should
take about one call's latency, since groups go side by side; the baseline is one call through the same
client, measured in the same process. A batch of 10 messages in 2 groups checks the other half of the
promise: the stand-in must have recorded each group's events in the order of the batch.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any

from bench.child import run_child
from bench.layout import FORWARDER, lambda_environment
from bench.report import Section, markdown_table
from bench.stats import Figure, Goal, median

GOAL = Goal("<=", 2.0)
LATENCY_MS = 50
BATCH_SIZE = 10


# --- child side --------------------------------------------------------------------------------------


class LambdaContext:
    function_name = "bench-forwarder"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "bench-request"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench-forwarder"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def device_event(device: str, sequence: int) -> dict[str, Any]:
    return {
        "Operation": "DEVICE_EVENT",
        "OperationVersion": "1.0",
        "UserId": "bench-user",
        "ConnectorDeviceId": device,
        # The stand-in records the body: the sequence number shows the order events arrived in.
        "Message": f"uri: auc://{device}/seq-{sequence}",
        "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x0006", "attributes": {"0x0000": True}}]},
    }


def sqs_batch(connector_id: str, devices: list[str]) -> dict[str, Any]:
    """An SQS event of one message per entry of `devices` (in that order), as the receiver queued them."""
    from iotbridge.queued_event import QueuedEvent

    records = []
    for index, device in enumerate(devices):
        queued = QueuedEvent(
            connector_id=connector_id,
            webhook_id=f"msg_{uuid.uuid4().hex}",
            index=0,
            received_at=int(time.time()),
            event=device_event(device, index),
        )
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": queued.to_message_body(),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "MessageGroupId": queued.message_group_id(b"bench-message-group-key-0123456789ab"),
                    "MessageDeduplicationId": queued.deduplication_id,
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def recorded_messages(standin_url: str, connector_id: str) -> list[str]:
    query = urllib.parse.urlencode({"connectorId": connector_id})
    url = f"{standin_url}/_standin/connector-events?{query}"
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the loopback stand-in
        events = json.loads(response.read())["events"]
    return [e["body"]["Message"] for e in sorted(events, key=lambda e: e["sequence"])]


def groups_in_order(recorded: list[str], devices: list[str]) -> bool:
    """True when, for every device, the recorded messages are exactly its batch entries in batch order."""
    for device in set(devices):
        expected = [f"uri: auc://{device}/seq-{i}" for i, d in enumerate(devices) if d == device]
        got = [m for m in recorded if m.startswith(f"uri: auc://{device}/")]
        if got != expected:
            return False
    return True


def measure(args: dict[str, Any]) -> dict[str, Any]:
    import forwarder
    from bench.receiver import peak_rss_mb
    from iotbridge.clients import client
    from iotbridge.forwarder.settings import ForwarderSettings

    context = LambdaContext()
    url = args["standin_url"]
    batches = int(args["batches"])
    settings = ForwarderSettings.from_environment()
    events_client = client("iot-managed-integrations", settings.clients, attempts=settings.send_max_attempts)

    def forward(event: dict[str, Any]) -> float:
        started = time.perf_counter()
        response = forwarder.lambda_handler(event, context)
        elapsed = time.perf_counter() - started
        if response["batchItemFailures"]:
            raise AssertionError(f"{len(response['batchItemFailures'])} record(s) were not forwarded")
        return elapsed

    # Warm-up: the first batch opens the connections of the pool.
    forward(sqs_batch("bench-warmup", [f"dev-{i}" for i in range(BATCH_SIZE)]))
    single = []
    for i in range(batches):
        started = time.perf_counter()
        events_client.send_connector_event(ConnectorId="bench-single", **device_event(f"dev-{i}", 0))
        single.append(time.perf_counter() - started)
    spread = []
    for n in range(batches):
        spread.append(forward(sqs_batch(f"bench-spread-{n}", [f"dev-{n}-{i}" for i in range(BATCH_SIZE)])))

    ordered_checks = []
    two_groups = []
    for n in range(max(1, batches // 3)):
        connector = f"bench-order-{n}"
        devices = [f"dev-{'ab'[i % 2]}" for i in range(BATCH_SIZE)]
        two_groups.append(forward(sqs_batch(connector, devices)))
        ordered_checks.append(groups_in_order(recorded_messages(url, connector), devices))
    return {
        "single_s": single,
        "spread_s": spread,
        "two_groups_s": two_groups,
        "in_order": ordered_checks,
        "peak_rss_mb": peak_rss_mb(),
    }


# --- parent side ---------------------------------------------------------------------------------------


def run(*, smoke: bool) -> tuple[Section, float]:
    from iot_standin.testing import running_standin

    section = Section(f"Forwarder: a batch of {BATCH_SIZE} with {LATENCY_MS} ms per SendConnectorEvent")
    batches = 3 if smoke else 15
    with running_standin(faults={"SendConnectorEvent": {"latencyMs": LATENCY_MS}}) as standin:
        env = {**lambda_environment(FORWARDER, endpoint=standin.url), "POWERTOOLS_TRACE_DISABLED": "true"}
        result = run_child(
            "bench.forwarder_batch:measure",
            {"standin_url": standin.url, "batches": batches},
            code_root=FORWARDER.code_root,
            env=env,
        )
    single = median(result["single_s"]) * 1000
    spread = median(result["spread_s"]) * 1000
    two = median(result["two_groups_s"]) * 1000
    in_order = all(result["in_order"])
    section.figures.append(
        Figure(
            f"forwarder, {BATCH_SIZE} messages in {BATCH_SIZE} groups",
            spread,
            single,
            "ms",
            GOAL,
            baseline_name="one call",
            note=f"median of {len(result['spread_s'])} batches; one call is the median of "
            f"{len(result['single_s'])} calls through the same client ({LATENCY_MS} ms injected)",
        )
    )
    section.details.append(
        markdown_table(
            ["batch", "wall ms (median)", "calls in a row per group", "each group's order kept"],
            [
                [f"{BATCH_SIZE} messages, {BATCH_SIZE} groups", f"{spread:.0f}", "1", "-"],
                [
                    f"{BATCH_SIZE} messages, 2 groups (interleaved)",
                    f"{two:.0f}",
                    str(BATCH_SIZE // 2),
                    f"{'yes' if in_order else 'NO'} "
                    f"({sum(result['in_order'])} of {len(result['in_order'])} batches)",
                ],
            ],
        )
        + f"\n\nA two-group batch takes about {BATCH_SIZE // 2} calls' time by design: within a group, "
        "events go one after another so the device sees them in order."
    )
    if not in_order:
        section.error = "the stand-in recorded a message group's events out of order"
    return section, float(result["peak_rss_mb"])
