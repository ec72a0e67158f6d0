"""The demo's walk through the connector: managed integrations (the IoT stand-in) invokes the connector
function with each operation, the device cloud takes the requests and answers through the relay, and the
correlation table and metrics show every discovery and command answered, or counted as never answered."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iot_standin.caller import matter_command, oauth
from iot_standin.testing import StandinAdmin

from .aws import local_client
from .device_cloud import DEMO_TOKEN, DEMO_USER
from .stack import LocalStack

# The demo's deadline for commands (a parameter override): short, so the sweep can count one in seconds.
DEMO_COMMAND_DEADLINE_SECONDS = 3
CORRELATION_METRICS = (
    "DiscoveriesRequested",
    "CommandsRequested",
    "DiscoveriesAnswered",
    "CommandsAnswered",
    "DiscoveriesAnsweredLate",
    "CommandsAnsweredLate",
    "DiscoveriesNeverAnswered",
    "CommandsNeverAnswered",
    "AnswersUnmatched",
    "AnswersRepeated",
)
SWEEP_EVENT = {"sweep": "correlation"}


def emitted_metrics(log_files: list[Path], since: float = 0.0) -> Counter[str]:
    """The sum of every metric the functions wrote to these logs (CloudWatch embedded metric format) from
    `since` (unix seconds) on: the logs of earlier runs are kept."""
    totals: Counter[str] = Counter()
    for path in log_files:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"_aws"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if float(record.get("_aws", {}).get("Timestamp", 0)) / 1000 < since:
                continue
            for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
                for metric in directive.get("Metrics", []):
                    name = metric.get("Name")
                    values = record.get(name)
                    values = values if isinstance(values, list) else [values]
                    totals[name] += int(sum(v for v in values if isinstance(v, int | float)))
    return totals


class ConnectorWalk:
    def __init__(
        self, stack: LocalStack, say: Callable[[str], None], record: Callable[[str, str, str, bool], None]
    ) -> None:
        self.stack = stack
        self.say = say
        self.record = record
        state = stack.describe()
        self.standin = StandinAdmin(state["iotUrl"])
        self.function = state.get("connectorFunction")
        self.cloud = stack.device_cloud
        self.table = state["tables"].get("CorrelationTable")
        self.started = state["startedAt"]

    def invoke(self, operation: str, **members: Any) -> dict[str, Any]:
        if self.cloud is None:
            raise RuntimeError("the local stack runs no device cloud")
        call = self.standin.invoke_connector(
            operation, self.cloud.cloud.connector_id, oauth(DEMO_TOKEN), **members
        )
        attempts = call.get("attempts") or [{}]
        self.say(
            f"   {operation:<20} -> responseCode {call.get('responseCode')} after {len(attempts)} "
            f"{'try' if len(attempts) == 1 else 'tries'}, {attempts[-1].get('seconds', 0) * 1000:.0f} ms"
        )
        return call

    def answered(self, name: str, call: dict[str, Any], extra: str = "", extra_ok: bool = True) -> None:
        record_answer(self.record, name, call, extra, extra_ok)

    def events(self, operation: str, member: str, value: str, timeout: float = 20.0) -> list[dict[str, Any]]:
        if self.cloud is None:
            raise RuntimeError("the local stack runs no device cloud")
        deadline = time.monotonic() + timeout
        while True:
            bodies = [e["body"] for e in self.standin.connector_events(self.cloud.cloud.connector_id)]
            found = [b for b in bodies if b.get("Operation") == operation and b.get(member) == value]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def run(self) -> None:
        self.say(
            "\n8. The connector: managed integrations (the IoT stand-in) invokes ConnectorFunction; the "
            "device cloud answers through the relay"
        )
        if self.function is None or self.cloud is None or self.table is None:
            self.record("connector walk", "a connector function and device cloud", "none in the stack", False)
            return
        connector = self.cloud.cloud.connector_id
        call = self.invoke("AWS.ActivateUser")
        user = ((call.get("answer") or {}).get("payload") or {}).get("userId")
        self.answered("AWS.ActivateUser", call, str(user), user == DEMO_USER)

        discovery = "demo" + uuid.uuid4().hex[:12]
        call = self.invoke("AWS.DiscoverDevices", deviceDiscoveryId=discovery)
        self.answered("AWS.DiscoverDevices", call)
        found = self.events("DEVICE_DISCOVERY", "DeviceDiscoveryId", discovery)
        devices = len(found[0].get("Devices") or []) if found else 0
        ok = len(found) == 1 and devices == 2
        self.record("DEVICE_DISCOVERY answer", "same id, 2 devices", f"{len(found)}x, {devices} devices", ok)
        self.say(f"   DEVICE_DISCOVERY {discovery}: {devices} devices reached SendConnectorEvent")

        trace = f"demo-{uuid.uuid4().hex[:12]}=_1"
        command = {
            "traceId": trace,
            "connectorDeviceId": "lmn-bulb-0042",
            "endpoints": matter_command("1", "0x0006", "0x00"),
        }
        self.answered("AWS.SendCommand OnOff.Off", self.invoke("AWS.SendCommand", **command))
        found = self.events("DEVICE_COMMAND_RESPONSE", "TraceId", trace)
        off = bool(found) and _on_off(found[0]) is False
        ok = len(found) == 1 and off
        self.record(
            "DEVICE_COMMAND_RESPONSE answer", "same TraceId, light off", f"{len(found)}x, off={off}", ok
        )
        self.say(f"   DEVICE_COMMAND_RESPONSE {trace}: reached SendConnectorEvent, the light is off")
        self.answered("AWS.SendCommand retried", self.invoke("AWS.SendCommand", **command))
        asked = len(self.cloud.requests(trace))
        self.record("retry asked the cloud", "once", f"{asked}x", asked == 1)
        self.say(f"   the same traceId again: acknowledged, the device cloud was asked {asked}x")

        before = len(self.events("DEVICE_EVENT", "ConnectorDeviceId", "lmn-bulb-0042", timeout=0))
        reply = self.cloud.report_state(DEMO_USER, "lmn-bulb-0042", {"power": "on", "brightness": 30})
        deadline = time.monotonic() + 20
        while len(self.events("DEVICE_EVENT", "ConnectorDeviceId", "lmn-bulb-0042", timeout=0)) <= before:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        after = len(self.events("DEVICE_EVENT", "ConnectorDeviceId", "lmn-bulb-0042", timeout=0))
        self.record(
            "device-initiated event",
            "202, one DEVICE_EVENT",
            f"{reply.status}, {after - before}",
            reply.status == 202 and after == before + 1,
        )
        self.say(
            f"   a device-initiated change -> HTTP {reply.status}, DEVICE_EVENT reached SendConnectorEvent"
        )

        self.never_answered()

        self.answered("AWS.DeactivateUser", self.invoke("AWS.DeactivateUser"))
        reply = self.cloud.report_state(DEMO_USER, "lmn-bulb-0042", {"power": "off"})
        dropped = reply.status == 202 and reply.json().get("queued") == 0
        self.record("event after deactivation", "202, nothing queued", str(reply.status), dropped)
        self.say(f"   the deactivated user's next event -> HTTP {reply.status}")

        self.correlation_table(discovery, trace)
        self.metrics(connector)

    def never_answered(self) -> None:
        if self.cloud is None:
            raise RuntimeError("the local stack runs no device cloud")
        self.cloud.silent_devices.add("lmn-plug-0007")
        trace = f"demo-{uuid.uuid4().hex[:12]}=_1"
        self.silent_trace = trace
        asked_at = time.monotonic()
        call = self.invoke(
            "AWS.SendCommand",
            traceId=trace,
            connectorDeviceId="lmn-plug-0007",
            endpoints=matter_command("1", "0x0006", "0x01"),
        )
        self.answered("AWS.SendCommand, never answered", call)
        time.sleep(max(0.0, DEMO_COMMAND_DEADLINE_SECONDS + 1.2 - (time.monotonic() - asked_at)))
        # As EventBridge Scheduler invokes it, every five minutes when deployed.
        answer = self.stack.invokers[str(self.function)].invoke(SWEEP_EVENT)
        message = str(((answer or {}).get("payload") or {}).get("responseMessage"))
        self.record(
            "sweep", "1 command expired", message.removeprefix("Expired unanswered: "), "1 command" in message
        )
        self.say(f"   after its {DEMO_COMMAND_DEADLINE_SECONDS} s deadline, the sweep: {message}")

    def correlation_table(self, discovery: str, trace: str) -> None:
        dynamodb = local_client("dynamodb", self.stack.moto_url)
        items = dynamodb.scan(TableName=self.table)["Items"]
        by_request = {i["requestId"]["S"]: i for i in items if "requestId" in i}
        self.say(f"   correlation table {self.table}:")
        for request_id, item in sorted(by_request.items(), key=lambda kv: float(kv[1]["requestedAt"]["N"])):
            waited = ""
            if "answeredAt" in item:
                seconds = float(item["answeredAt"]["N"]) - float(item["requestedAt"]["N"])
                waited = f", answered after {seconds:.2f} s"
            self.say(f"     {item['kind']['S']:<9} {request_id:<26} {item['status']['S']}{waited}")
        statuses = {
            key: by_request.get(key, {}).get("status", {}).get("S")
            for key in (discovery, trace, self.silent_trace)
        }
        expected = {discovery: "ANSWERED", trace: "ANSWERED", self.silent_trace: "EXPIRED"}
        self.record(
            "correlation table",
            "2 ANSWERED, 1 EXPIRED",
            ", ".join(str(s) for s in statuses.values()),
            statuses == expected,
        )

    def metrics(self, connector: str) -> None:
        names = [self.function, *self.stack.spec.functions]
        logs = [self.stack.logs_dir / f"{name}.log" for name in dict.fromkeys(names)]
        totals = emitted_metrics(logs, since=self.started)
        shown = ", ".join(f"{name} {totals[name]:g}" for name in CORRELATION_METRICS if totals[name])
        self.say(f"   correlation metrics: {shown}")
        ok = (
            totals["DiscoveriesAnswered"] + totals["DiscoveriesAnsweredLate"] >= 1
            and totals["CommandsAnswered"] + totals["CommandsAnsweredLate"] >= 1
            and totals["CommandsNeverAnswered"] >= 1
        )
        counted = f"{totals['CommandsNeverAnswered']} never answered"
        self.record("correlation metrics", "answered, never answered", counted, ok)


def record_answer(
    record: Callable[[str, str, str, bool], None],
    name: str,
    call: dict[str, Any],
    extra: str = "",
    extra_ok: bool = True,
) -> None:
    """Record an invocation the stand-in made: a 200 within its 2 s is what managed integrations takes."""
    seconds = (call.get("attempts") or [{}])[-1].get("seconds", 0.0)
    ok = call.get("responseCode") == 200 and call.get("answeredWithinTimeout") is True and extra_ok
    observed = f"{call.get('responseCode')} in {seconds * 1000:.0f} ms" + (f", {extra}" if extra else "")
    record(name, "200 within 2 s", observed, ok)


def _on_off(body: dict[str, Any]) -> Any:
    for cluster in (body.get("MatterEndpoint") or {}).get("clusters") or []:
        if cluster.get("id") == "0x0006":
            attributes = cluster.get("attributes") or {}
            return attributes.get("0x0000") if isinstance(attributes, dict) else None
    return None
