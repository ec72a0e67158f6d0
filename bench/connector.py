"""The connector function, warm, through the SDK: CPU and time per operation, against the same job written
by hand.

A child process imports the real handler module with the function's import path and environment, and
every botocore client in it is answered in the process (bench.answered_aws: the profile in SSM, the
outbound secret in Secrets Manager, the correlation and user tables in DynamoDB), so botocore's
client-side work is counted; the device cloud is the local one (bridge_local.device_cloud) on loopback,
in the measuring parent, so the child's CPU counts the request's signing and the HTTP client but not the
cloud's own work. Managed integrations' four operations are invoked as it does (OAuth 2.0 envelope),
each with new ids. The baseline is the same job written by hand the usual way
(bench/baselines/boto3_connector.py: boto3 clients at module level, the same AWS calls), measured the
same way against the same answers. Managed integrations waits 2 s for each answer: a warm answer's
modelled time is held against that too.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from bench.answered_aws import AnsweredAws
from bench.child import run_child
from bench.lambda_context import LambdaContext
from bench.lambda_model import BACKEND_LATENCY_MS, invoke_ms
from bench.layout import CONNECTOR, ROOT, lambda_environment, template_environment
from bench.measure import alternating, cpu_and_wall_us
from bench.memory import peak_rss_mb
from bench.report import Section, markdown_table
from bench.sizing import Findings
from bench.stats import Figure, Goal, cpu_figures, percentile
from bridge_local.demo_clouds import LUMEN
from bridge_local.device_cloud import DEMO_TOKEN, FakeDeviceCloud
from iot_standin.caller import envelope, matter_command, oauth

OPERATIONS = ("AWS.ActivateUser", "AWS.DiscoverDevices", "AWS.SendCommand", "AWS.DeactivateUser")
# What the device cloud's request log calls each operation's request (iotbridge.connector.adapters).
CLOUD_REQUESTS = {
    "AWS.ActivateUser": "activateUser",
    "AWS.DiscoverDevices": "discoverDevices",
    "AWS.SendCommand": "sendCommand",
    "AWS.DeactivateUser": "deactivateUser",
}
PROGRAMS = {"connector": "project connector", "boto3_connector": "hand-written boto3 connector"}
BASELINES = ROOT / "bench" / "baselines"
# The project's connector validates the envelope with its models and keeps the correlation entry's lease
# and deadline; its clients skip botocore's check of parameters built from checked values and carry a
# fixed User-Agent. Together: no more CPU than the hand-written one.
CPU_GOAL = Goal("<=", 1.0)
# Managed integrations waits 2 s; a warm answer should take a twentieth of it at the slow end, leaving
# the rest to a cold start's init and to a slow device cloud.
CALLER_TIMEOUT_MS = 2000.0
BUDGET_GOAL = Goal("<=", 0.05)
LOOPBACK_ENVIRONMENT = {"ALLOW_LOOPBACK_DEVICE_CLOUDS": "true"}


# --- what the connector is given -------------------------------------------------------------------------


def connector_services(device_cloud_url: str) -> dict[str, Any]:
    """The answered services' contents for the demo lights cloud's connector: its profile (with the local
    device cloud's URL) under the template's profile prefix, its outbound secret under the template's
    device-cloud secret prefix. Keyword arguments of AnsweredAws."""
    variables, _ = template_environment(CONNECTOR)
    document = json.loads(LUMEN.profile_file.read_text(encoding="utf-8"))
    document["deviceCloud"]["url"] = device_cloud_url
    assert LUMEN.outbound_secret is not None
    return {
        "secrets": {variables["DEVICE_CLOUD_SECRET_PREFIX"] + LUMEN.connector_id: LUMEN.outbound_secret},
        "parameters": {variables["PROFILE_PARAMETER_PREFIX"] + LUMEN.connector_id: json.dumps(document)},
    }


def invocation(operation: str) -> dict[str, Any]:
    """The invocation managed integrations sends for `operation` (OAuth 2.0, the demo user's token), with
    a new deviceDiscoveryId or traceId each time."""
    members: dict[str, Any] = {}
    if operation == "AWS.DiscoverDevices":
        members["deviceDiscoveryId"] = "bench" + uuid.uuid4().hex
    elif operation == "AWS.SendCommand":
        members = {
            "traceId": f"bench-{uuid.uuid4().hex[:20]}=_1",
            "connectorDeviceId": "lmn-bulb-0042",
            "endpoints": matter_command("1", "0x0006", "0x00"),
        }
    return envelope(operation, LUMEN.connector_id, oauth(DEMO_TOKEN), **members)


@contextmanager
def device_cloud() -> Iterator[Any]:
    """The local device cloud on a free loopback port, taking requests only (no relay to answer through),
    stopped by its own handle."""
    cloud = FakeDeviceCloud().start()
    try:
        yield cloud
    finally:
        cloud.stop()


def cloud_requests(received: list[Any]) -> Counter[str]:
    """The device cloud's requests by type, counting only those it verified and took."""
    return Counter(r.type for r in received if r.verified and 200 <= r.status < 300)


# --- child side --------------------------------------------------------------------------------------


def measure_warm(args: dict[str, Any]) -> dict[str, Any]:
    """Child: CPU and wall time of each invocation of each operation, and the AWS calls each made."""
    handler = importlib.import_module(args["module"])
    answers = AnsweredAws(keep=False, **connector_services(args["device_cloud_url"]))
    answers.install()
    context = LambdaContext("bench-connector", memory_limit_in_mb=int(args["memory_mb"]))
    count, warmup = int(args["requests"]), int(args["warmup"])
    found: dict[str, Any] = {}
    for operation in OPERATIONS:
        for _ in range(warmup):
            handler.lambda_handler(invocation(operation), context)
        answers.forget_calls()
        cpu_us, wall_us, codes = [], [], Counter[str]()
        for _ in range(count):
            event = invocation(operation)
            cpu, wall, response = cpu_and_wall_us(partial(handler.lambda_handler, event, context))
            cpu_us.append(cpu)
            wall_us.append(wall)
            codes[str(response["header"]["responseCode"])] += 1
        found[operation] = {
            "cpu_us": cpu_us,
            "wall_us": wall_us,
            "codes": dict(codes),
            "calls_per_request": {name: n / count for name, n in answers.calls.items()},
            "unanswered": dict(answers.unanswered),
        }
    return {"operations": found, "peak_rss_mb": peak_rss_mb()}


# --- parent side ---------------------------------------------------------------------------------------


def environment(module: str) -> dict[str, str]:
    env = {**lambda_environment(CONNECTOR), **LOOPBACK_ENVIRONMENT, "POWERTOOLS_TRACE_DISABLED": "true"}
    if module != "connector":
        env.pop("PYDANTIC_DISABLE_PLUGINS", None)  # a setting of the project's template only
    return env


@dataclass
class OperationRun:
    cpu_us: list[float]
    wall_us: list[float]
    calls_per_request: dict[str, float]
    cloud_calls: float  # device-cloud requests per invocation

    @property
    def aws_calls(self) -> float:
        return sum(self.calls_per_request.values())

    def modelled_ms(self, q: float, memory_mb: int) -> float:
        """An invocation in Lambda at the q-th percentile of CPU: that CPU at the memory's vCPU share, and
        each call's latency (the AWS calls and the device cloud's are made one after another)."""
        cpu_ms = percentile(self.cpu_us, q) / 1000
        return invoke_ms(cpu_ms, memory_mb) + (self.aws_calls + self.cloud_calls) * BACKEND_LATENCY_MS


class UnexpectedAnswer(AssertionError):
    """An operation did not do its job: the figure would be of something else."""


def check_run(module: str, result: dict[str, Any], asked: Counter[str], invocations: int) -> None:
    """Every invocation was answered 200 after calls the benchmark answers, and asked the device cloud
    once (verified, taken)."""
    for operation, run in result["operations"].items():
        if set(run["codes"]) != {"200"} or run["unanswered"]:
            raise UnexpectedAnswer(
                f"{module} {operation}: answered {run['codes']}, unanswered calls {run['unanswered']}"
            )
        if asked[CLOUD_REQUESTS[operation]] != invocations:
            raise UnexpectedAnswer(
                f"{module} {operation}: the device cloud took {asked[CLOUD_REQUESTS[operation]]} requests "
                f"of {invocations}"
            )


def _measure(cloud: Any, module: str, requests: int, warmup: int, memory_mb: int) -> dict[str, Any]:
    already = len(cloud.requests())
    result = run_child(
        "bench.connector:measure_warm",
        {"module": module, "device_cloud_url": cloud.url, "requests": requests, "warmup": warmup,
         "memory_mb": memory_mb},
        code_root=CONNECTOR.code_root if module == "connector" else BASELINES,
        env=environment(module),
    )  # fmt: skip
    check_run(module, result, cloud_requests(cloud.requests()[already:]), requests + warmup)
    return result


@dataclass
class ProgramRun:
    """One program's turns, merged: each operation's samples, and the largest peak memory of its processes."""

    operations: dict[str, OperationRun]
    peak_rss_mb: float


def merged(results: list[dict[str, Any]]) -> ProgramRun:
    operations = {}
    for operation in OPERATIONS:
        runs = [r["operations"][operation] for r in results]
        operations[operation] = OperationRun(
            [x for r in runs for x in r["cpu_us"]],
            [x for r in runs for x in r["wall_us"]],
            runs[0]["calls_per_request"],
            1.0,  # check_run: each invocation asked the device cloud once
        )
    return ProgramRun(operations, max(float(r["peak_rss_mb"]) for r in results))


def run(*, smoke: bool, findings: Findings) -> Section:
    section = Section("Connector, warm, through the SDK")
    _, memory_mb = template_environment(CONNECTOR)
    requests, warmup = (40, 5) if smoke else (600, 50)
    with device_cloud() as cloud:
        measured = alternating(
            list(PROGRAMS),
            lambda module: _measure(cloud, module, requests // 2, warmup, memory_mb),
            merged,
            turns=1 if smoke else 2,
        )
    rows = []
    for operation in OPERATIONS:
        ours, theirs = (measured[module].operations[operation] for module in PROGRAMS)
        section.figures += cpu_figures(
            "connector CPU per invocation",
            operation,
            ours.cpu_us,
            theirs.cpu_us,
            CPU_GOAL,
            baseline_name="hand-written boto3 connector",
            note=f"{ours.aws_calls:g} AWS calls and one device-cloud request per invocation here, "
            f"{theirs.aws_calls:g} and one there; {len(ours.cpu_us)} invocations each",
        )
        section.figures.append(
            Figure(
                f"connector warm answer p99, {operation}, modelled at {memory_mb} MB",
                ours.modelled_ms(99, memory_mb),
                CALLER_TIMEOUT_MS,
                "ms",
                BUDGET_GOAL,
                baseline_name="managed integrations' timeout",
            )
        )
        for module, found in zip(PROGRAMS, (ours, theirs), strict=True):
            rows.append(
                [
                    operation,
                    PROGRAMS[module],
                    str(len(found.cpu_us)),
                    *(f"{percentile(found.cpu_us, q):.0f}" for q in (50, 99)),
                    *(f"{percentile(found.wall_us, q) / 1000:.2f}" for q in (50, 99)),
                    *(f"{found.modelled_ms(q, memory_mb):.1f}" for q in (50, 99)),
                    ", ".join(f"{name} {n:g}" for name, n in sorted(found.calls_per_request.items())),
                ]
            )
    section.details.append(
        "Per invocation, in one process per program (two processes each, alternating); CPU is the "
        "process's, wall this machine's (the device cloud's loopback round trip included). Modelled is the "
        f"invocation in Lambda at {memory_mb} MB: its CPU at {memory_mb / 1769:.2f} vCPU plus "
        f"{BACKEND_LATENCY_MS:.0f} ms for each AWS call and for the device cloud's request (one after "
        "another). The device cloud is plain HTTP on loopback here; deployed it is HTTPS, whose handshake "
        "a warm invocation does not repeat (the connection pool keeps it):\n\n"
        + markdown_table(
            [
                "operation",
                "program",
                "invocations",
                "CPU p50 µs",
                "CPU p99 µs",
                "wall p50 ms",
                "wall p99 ms",
                f"modelled p50 ms at {memory_mb} MB",
                f"modelled p99 ms at {memory_mb} MB",
                "AWS calls per invocation",
            ],
            rows,
        )
    )
    findings.add_peak(CONNECTOR.folder, measured["connector"].peak_rss_mb)
    return section
