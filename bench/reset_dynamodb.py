"""The detector reset job on the detector table backend: throughput and peak memory at 10,000 and 100,000
detectors.

The child process runs the job's real code path (iotbridge.detector_reset.wiring: the botocore dynamodb
client from the one client factory, the DetectorTableService adapter, JobOptions from the settings the
template sets).
Only the network is replaced: each request the client serialises and signs is answered in the same process
by a compact in-memory detector table (a state byte per detector, the key computed from its position), after
a fixed latency, as DynamoDB answers a single-digit-millisecond call. moto's server is not used here: its
Query sorts the whole table for every page, so at 100,000 detectors a page costs seconds and the run would
measure moto. The table keeps a byte per detector, so the child's peak memory is the job's.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from bench.child import run_child
from bench.layout import DETECTOR_RESET, lambda_environment
from bench.measure import timed
from bench.memory import peak_rss_mb
from bench.report import Section, markdown_table
from bench.sizing import Findings
from bench.stats import Figure, Goal, peak_rss_figure
from bridge_local.answered import json_response
from iotbridge.clients import botocore_session
from iotbridge.detector_reset.domain.plan import parse_plan
from iotbridge.detector_reset.wiring import ResetWiring

MODEL = "BenchBoiler"
TABLE = "bench-detectors"
LATENCY_MS = 5
THROUGHPUT_GOAL = Goal(">=", 0.5)
MEMORY_GOAL = Goal("<=", 1.3)
PLAN = {
    "name": "bench-table-reset",
    "detectorModelName": MODEL,
    "backend": {"kind": "dynamodb", "table": TABLE},
    "detectors": {"inStates": ["Alarm"]},
    "action": {"mode": "update", "stateName": "Normal", "variables": [{"name": "alarmCount", "value": "0"}]},
}
STATES = ("Alarm", "Normal")


# --- child side --------------------------------------------------------------------------------------


class CompactDetectorTable:
    """The Query, GetItem and UpdateItem calls the job makes on a table of `count` detectors of MODEL, keys
    `det-000000`.., all in Alarm at first; answered from a byte per detector."""

    def __init__(self, count: int, latency_seconds: float) -> None:
        self.count = count
        self.latency = latency_seconds
        self.states = bytearray(count)  # index into STATES
        self.calls: dict[str, int] = {}
        self.answering_seconds = 0.0
        self._lock = threading.Lock()

    @staticmethod
    def key(index: int) -> str:
        return f"det-{index:06d}"

    def _index(self, key: str) -> int | None:
        number = key.removeprefix("det-")
        index = int(number) if number.isdigit() else -1
        return index if 0 <= index < self.count else None

    def answer(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        time.sleep(self.latency)  # the network and the service; other threads run meanwhile
        started = time.perf_counter()
        operation = event_name.rsplit(".", 1)[-1]
        body = json.loads(request.body)
        status, payload = getattr(self, f"_{operation}")(body)
        with self._lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            self.answering_seconds += time.perf_counter() - started
        return json_response(request.url, status, payload)

    def _Query(self, body: dict[str, Any]) -> tuple[int, Any]:
        values = body["ExpressionAttributeValues"]
        wanted = STATES.index(values[":s"]["S"]) if ":s" in values else None
        start = body.get("ExclusiveStartKey")
        index = (self._index(start["keyValue"]["S"]) or 0) + 1 if start else 0
        items: list[dict[str, Any]] = []
        with self._lock:
            while index < self.count and len(items) < body["Limit"]:
                state = self.states[index]
                if wanted is None or state == wanted:
                    items.append({"keyValue": {"S": self.key(index)}, "stateName": {"S": STATES[state]}})
                index += 1
        answer: dict[str, Any] = {"Items": items, "Count": len(items)}
        if index < self.count:
            answer["LastEvaluatedKey"] = {"detectorModel": {"S": MODEL}, "keyValue": items[-1]["keyValue"]}
        return 200, answer

    def _GetItem(self, body: dict[str, Any]) -> tuple[int, Any]:
        index = self._index(body["Key"]["keyValue"]["S"])
        if index is None:
            return 200, {}
        item = {"keyValue": {"S": self.key(index)}, "stateName": {"S": STATES[self.states[index]]}}
        return 200, {"Item": {**item, "variables": {"M": {"alarmCount": {"S": "3"}}}, "timers": {"M": {}}}}

    def _UpdateItem(self, body: dict[str, Any]) -> tuple[int, Any]:
        index = self._index(body["Key"]["keyValue"]["S"])
        if index is None:
            code = "ConditionalCheckFailedException"
            return 400, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "condition failed"}
        with self._lock:
            self.states[index] = STATES.index(body["ExpressionAttributeValues"][":s"]["S"])
        return 200, {}


def measure(args: dict[str, Any]) -> dict[str, Any]:
    table = CompactDetectorTable(int(args["count"]), LATENCY_MS / 1000)
    # Every client made from here on sends to the table instead of the network.
    botocore_session().register("before-send.dynamodb", table.answer)
    plan = parse_plan(PLAN)
    wiring = ResetWiring.from_environment()
    job = wiring.cli_job(backend=plan.backend)
    report, elapsed, cpu = timed(lambda: job.run(plan))
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "answering_seconds": table.answering_seconds,
        "matched": report.totals.matched,
        "reset": report.totals.reset,
        "failed": report.totals.failed,
        "calls": table.calls,
        "left_in_alarm": table.states.count(0),
        "workers": wiring.settings.workers,
        "peak_rss_mb": peak_rss_mb(),
    }


# --- parent side ---------------------------------------------------------------------------------------


def _run_job(count: int) -> dict[str, Any]:
    env = {**lambda_environment(DETECTOR_RESET), "POWERTOOLS_TRACE_DISABLED": "true"}
    return run_child(
        "bench.reset_dynamodb:measure", {"count": count}, code_root=DETECTOR_RESET.code_root, env=env
    )


def run(*, smoke: bool, findings: Findings | None = None) -> Section:
    section = Section(f"Reset job on the detector table (DynamoDB): {LATENCY_MS} ms per call")
    small, large = (200, 2_000) if smoke else (10_000, 100_000)
    results = {count: _run_job(count) for count in (small, large)}
    rows = []
    for count, result in results.items():
        workers = result["workers"]
        bound = workers / (LATENCY_MS / 1000)
        section.figures.append(
            Figure(
                f"table reset, {count:,} detectors",
                result["reset"] / result["seconds"],
                bound,
                "detectors/s",
                THROUGHPUT_GOAL,
                baseline_name=f"{workers} workers x 1 UpdateItem / {LATENCY_MS} ms",
                note=_outcome(result),
            )
        )
        if result["reset"] != count or result["left_in_alarm"]:
            section.error = f"the run of {count:,} did not reset every detector: {_outcome(result)}"
        calls = result["calls"]
        job_cpu = result["cpu_seconds"] - result["answering_seconds"]
        rows.append(
            [
                f"{count:,}",
                f"{result['reset']:,}",
                str(sum(result["failed"].values())),
                f"{result['seconds']:.1f}",
                f"{result['reset'] / result['seconds']:,.0f}",
                f"{job_cpu * 1000 / max(1, result['reset']):.2f}",
                ", ".join(f"{op} {n:,}" for op, n in sorted(calls.items())),
                f"{result['peak_rss_mb']:.1f}",
            ]
        )
    section.figures.append(
        peak_rss_figure("table reset", {count: r["peak_rss_mb"] for count, r in results.items()}, MEMORY_GOAL)
    )
    section.details.append(
        "The bound is what the configuration allows on this backend: every worker always has a detector's "
        f"UpdateItem in flight and each call takes exactly the injected {LATENCY_MS} ms. A table update is "
        "one call per detector (a conditional write each, so that a missing detector is never created), "
        "where the IoT Events Data API takes 10 in a call, so the same workers reset fewer detectors a "
        "second; RESET_WORKERS raises the bound. The job's CPU per detector leaves out the time the "
        "in-memory table spent answering. Peak RSS is the child process's (imports, client, the run).\n\n"
        + markdown_table(
            [
                "detectors",
                "reset",
                "failed",
                "seconds",
                "detectors/s",
                "job CPU ms/detector",
                "calls",
                "peak RSS MiB",
            ],
            rows,
        )
    )
    return section


def _outcome(result: dict[str, Any]) -> str:
    failed = sum(result["failed"].values())
    return f"{result['reset']:,} reset, {failed} failed" + (f" {result['failed']}" if failed else "")
