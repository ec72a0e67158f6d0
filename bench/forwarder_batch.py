"""The forwarder: one SQS FIFO batch against the IoT stand-in with 50 ms of latency per SendConnectorEvent.

The child process runs the real handler (lambda_handler, its Forwarder and its botocore client from the
one client factory) against the stand-in over HTTP. A batch of 10 messages in 10 message groups should
take about one call's latency, since groups go side by side; the baseline is one call through the same
client, measured in the same process. In Lambda the calls' client-side CPU shares the function's vCPU
share while their latencies overlap, so the goal is held on the figures modelled at the function's
MemorySize: each one's latency plus its CPU at that share. A batch of 10 messages in 2 groups checks
the other half of the promise: the stand-in must have recorded each group's events in the order of the
batch.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any

from bench.child import run_child
from bench.lambda_context import LambdaContext
from bench.layout import FORWARDER, lambda_environment, template_environment
from bench.measure import alternating, timed
from bench.memory import peak_rss_mb
from bench.report import Section, markdown_table
from bench.sizing import Findings, ForwarderCpu
from bench.stats import Figure, Goal, median
from iotbridge.clients import client
from iotbridge.forwarder.settings import ForwarderSettings
from iotbridge.send_connector_event.queued import QueuedEvent

GOAL = Goal("<=", 1.5)
LATENCY_MS = 50
BATCH_SIZE = 10


# --- child side --------------------------------------------------------------------------------------


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
    # The handler module is on the child's import path only, as Lambda's runtime finds it.
    handler = importlib.import_module(FORWARDER.module)
    context = LambdaContext("bench-forwarder", timeout_seconds=30.0)
    url = args["standin_url"]
    batches = int(args["batches"])
    settings = ForwarderSettings.from_environment()
    events_client = client("iot-managed-integrations", settings.clients, attempts=settings.send_max_attempts)

    def forwarded(response: dict[str, Any]) -> None:
        if response["batchItemFailures"]:
            raise AssertionError(f"{len(response['batchItemFailures'])} record(s) were not forwarded")

    def forward(event: dict[str, Any]) -> float:
        response, elapsed, _ = timed(lambda: handler.lambda_handler(event, context))
        forwarded(response)
        return elapsed

    numbers = {"call": itertools.count(), "batch": itertools.count()}

    def once(kind: str) -> tuple[float, float]:
        """One call, or one batch of BATCH_SIZE groups: (wall, CPU) seconds."""
        n = next(numbers[kind])
        if kind == "call":
            _, wall, cpu = timed(
                lambda: events_client.send_connector_event(
                    ConnectorId="bench-single", **device_event(f"dev-{n}", 0)
                )
            )
            return wall, cpu
        batch = sqs_batch(f"bench-spread-{n}", [f"dev-{n}-{i}" for i in range(BATCH_SIZE)])
        response, wall, cpu = timed(lambda: handler.lambda_handler(batch, context))
        forwarded(response)
        return wall, cpu

    # Warm-up: the first batch opens the connections of the pool.
    forward(sqs_batch("bench-warmup", [f"dev-{i}" for i in range(BATCH_SIZE)]))
    measured = alternating(["call", "batch"], once, list, turns=batches)

    ordered_checks = []
    two_groups = []
    for n in range(max(1, batches // 3)):
        connector = f"bench-order-{n}"
        devices = [f"dev-{'ab'[i % 2]}" for i in range(BATCH_SIZE)]
        two_groups.append(forward(sqs_batch(connector, devices)))
        ordered_checks.append(groups_in_order(recorded_messages(url, connector), devices))
    return {
        "single_s": [wall for wall, _ in measured["call"]],
        "single_cpu_s": [cpu for _, cpu in measured["call"]],
        "spread_s": [wall for wall, _ in measured["batch"]],
        "spread_cpu_s": [cpu for _, cpu in measured["batch"]],
        "two_groups_s": two_groups,
        "in_order": ordered_checks,
        "peak_rss_mb": peak_rss_mb(),
    }


# --- parent side ---------------------------------------------------------------------------------------


def run(*, smoke: bool, findings: Findings) -> Section:
    # Here, not at the top: the measuring child imports this module, and its peak memory is a figure.
    from iot_standin.testing import running_standin

    section = Section("Forwarder")
    batches = 3 if smoke else 30
    with running_standin(faults={"SendConnectorEvent": {"latencyMs": LATENCY_MS}}) as standin:
        env = {**lambda_environment(FORWARDER, endpoint=standin.url), "POWERTOOLS_TRACE_DISABLED": "true"}
        result = run_child(
            "bench.forwarder_batch:measure",
            {"standin_url": standin.url, "batches": batches},
            code_root=FORWARDER.code_root,
            env=env,
        )
    _, memory_mb = template_environment(FORWARDER)
    single, spread = median(result["single_s"]) * 1000, median(result["spread_s"]) * 1000
    single_cpu, spread_cpu = median(result["single_cpu_s"]) * 1000, median(result["spread_cpu_s"]) * 1000
    two = median(result["two_groups_s"]) * 1000
    in_order = all(result["in_order"])
    findings.forwarder = ForwarderCpu(single_cpu, spread_cpu, LATENCY_MS)
    findings.add_peak(FORWARDER.folder, float(result["peak_rss_mb"]))
    modelled_batch, modelled_single = findings.forwarder.modelled_ms(memory_mb)
    section.figures.append(
        Figure(
            f"forwarder, {BATCH_SIZE} messages in {BATCH_SIZE} groups, modelled at {memory_mb} MB",
            modelled_batch,
            modelled_single,
            "ms",
            GOAL,
            baseline_name="one call",
            note=f"each is {LATENCY_MS} ms of latency plus its CPU at {memory_mb / 1769:.2f} vCPU: "
            f"{spread_cpu:.1f} ms for the batch, {single_cpu:.2f} ms for one call (medians of "
            f"{len(result['spread_s'])} batches and {len(result['single_s'])} calls)",
        )
    )
    section.figures.append(
        Figure(
            f"forwarder, {BATCH_SIZE} messages in {BATCH_SIZE} groups, on this machine",
            spread,
            single,
            "ms",
            baseline_name="one call",
            note=f"wall time with this machine's {os.cpu_count()} cores, {LATENCY_MS} ms injected per call",
        )
    )
    section.details.append(
        markdown_table(
            [
                "batch",
                "wall ms (median)",
                "CPU ms (median)",
                "calls in a row per group",
                "each group's order kept",
            ],
            [
                ["one call", f"{single:.0f}", f"{single_cpu:.2f}", "1", "-"],
                [
                    f"{BATCH_SIZE} messages, {BATCH_SIZE} groups",
                    f"{spread:.0f}",
                    f"{spread_cpu:.1f}",
                    "1",
                    "-",
                ],
                [
                    f"{BATCH_SIZE} messages, 2 groups (interleaved)",
                    f"{two:.0f}",
                    "-",
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
    return section
