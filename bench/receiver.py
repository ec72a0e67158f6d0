"""The webhook receiver, warm, through the SDK: CPU and time per request, and memory over many requests.

A child process imports the real handler module with the function's import path and environment, and
every botocore client in it is answered in the process (bench.answered_aws): signature check, validation,
deduplication and queueing run as in Lambda, botocore's client-side work (validation, serialisation,
signing, parsing) included; only the network is missing. The baseline is the same job written the usual
Powertools way (bench/baselines/powertools_receiver.py), measured the same way against the same answers.
The floor, for information, is `json.loads` of the body plus one HMAC-SHA256 check of its signature.
"""

from __future__ import annotations

import base64
import cProfile
import gc
import hashlib
import hmac
import importlib
import json
import time
import tracemalloc
import uuid
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.answered_aws import AnsweredAws
from bench.child import run_child
from bench.hotspots import cumulative_ms, short_location, summary
from bench.lambda_context import LambdaContext
from bench.lambda_model import BACKEND_LATENCY_MS, invoke_ms
from bench.layout import RECEIVER, ROOT, lambda_environment, template_environment
from bench.measure import alternating, cpu_and_wall_us
from bench.memory import peak_rss_mb, rss_mb
from bench.report import Section, markdown_table
from bench.sizing import Findings
from bench.stats import Figure, Goal, cpu_figure, cpu_figures, percentile
from bench.webhooks import native_webhook
from bridge_local.demo_clouds import LUMEN
from bridge_local.samples import (
    BODIES,
    DEMO_CONNECTOR_ID,
    DEMO_SECRET,
    SIGNING_SECRET_PREFIX,
    encode,
    http_api_event,
    signed_headers,
)
from iotbridge.signatures.standard_webhooks import parse_secret
from iotbridge.webhook_receiver.offline import try_webhook

SINGLE_GOAL = Goal("<=", 0.75)
ARRAY_GOAL = Goal("<=", 0.25)
PROFILED_GOAL = Goal("<=", 1.5)
EVENTS_IN_ARRAY = 50
BASELINES = ROOT / "bench" / "baselines"
PROGRAMS = {"webhook_receiver": "project receiver", "powertools_receiver": "Powertools receiver"}
# (file, function) of each program's deduplication wrapped around its queueing, and of the queueing alone.
DEDUPLICATION = {
    "webhook_receiver": (
        ("iotbridge/webhook_receiver/adapters.py", "once"),
        ("iotbridge/webhook_receiver/adapters.py", "enqueue"),
    ),
    "powertools_receiver": (
        ("aws_lambda_powertools/utilities/idempotency/idempotency.py", "decorate"),
        ("baselines/powertools_receiver.py", "enqueue"),
    ),
}
# The project receiver's per-connector limit check, leases included (file, function).
LIMIT_CHECK = ("iotbridge/webhook_receiver/domain/intake.py", "_over_limit")


# --- child side --------------------------------------------------------------------------------------


def receiver_context() -> LambdaContext:
    return LambdaContext("bench-webhook-receiver")


def answered_handler(module: str) -> tuple[Any, Any]:
    """The handler module, imported as Lambda imports it, with every client answered in the process
    (nothing kept: in Lambda the records and messages live in the services); (module, answers)."""
    handler = importlib.import_module(module)
    _, cloud_secrets, profiles = native_webhook()
    answers = AnsweredAws(
        secrets={SIGNING_SECRET_PREFIX + DEMO_CONNECTOR_ID: DEMO_SECRET, **cloud_secrets},
        parameters=profiles,
        keep=False,
    )
    answers.install()
    return handler, answers


@dataclass(frozen=True, slots=True)
class Delivery:
    """One signed webhook: the API Gateway event, and the raw parts for the floor."""

    event: dict[str, Any]
    body: bytes
    headers: dict[str, str]


def body_for(events: int) -> bytes:
    base = BODIES["device-event"]
    if events == 1:
        return encode(base)
    return encode([{**base, "ConnectorDeviceId": f"lamp-{i:04d}"} for i in range(events)])


def native_body(events: int) -> bytes:
    """A lights cloud's own webhook (events/profiles/lumen-home.json) with `events` light states."""
    states = [
        {
            "type": "device.state",
            "kind": "light",
            "deviceId": f"lmn-bulb-{i:04d}",
            "state": {"power": "on" if i % 2 else "off", "brightness": i % 101, "colorTemperature": 2700 + i},
        }
        for i in range(events)
    ]
    return json.dumps({"accountId": "lumen-acct-2291", "events": states}, separators=(",", ":")).encode()


def shaped_body(events: int) -> bytes:
    """The SendConnectorEvent bodies the relay maps `native_body(events)` to, sent pre-shaped instead."""
    body = native_body(events)
    verdict = try_webhook(LUMEN.profile(), body=body, headers=LUMEN.signed(body), secret=LUMEN.secret)
    shaped = [{k: v for k, v in e.items() if k != "ConnectorId"} for e in verdict.events]
    if len(shaped) != events:
        raise AssertionError(f"the profile mapped {len(shaped)} of {events} native events")
    return encode(shaped[0] if events == 1 else shaped)


def native_deliveries(count: int, events: int) -> list[Delivery]:
    body = native_body(events)
    now = int(time.time())
    out = []
    for _ in range(count):
        headers = LUMEN.signed(body, now=now)
        event = http_api_event(body, headers, connector_id=LUMEN.connector_id, timestamp=now)
        out.append(Delivery(event, body, headers))
    return out


def deliveries(count: int, events: int, kind: str = "sample") -> list[Delivery]:
    """Signed webhooks of `events` events: the sample DEVICE_EVENT ("sample"), a device cloud's own JSON
    for its profiled connector ("native"), or the SendConnectorEvent bodies that JSON maps to ("shaped")."""
    if kind == "native":
        return native_deliveries(count, events)
    body = shaped_body(events) if kind == "shaped" else body_for(events)
    now = int(time.time())
    out = []
    for _ in range(count):
        headers = signed_headers(body, webhook_id=f"msg_{uuid.uuid4().hex}", timestamp=now)
        out.append(Delivery(http_api_event(body, headers, timestamp=now), body, headers))
    return out


def floor_check(delivery: Delivery, key: bytes) -> None:
    """The least any receiver must do: parse the JSON and check one HMAC-SHA256 signature."""
    headers = delivery.headers
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + delivery.body
    expected = base64.b64decode(headers["webhook-signature"].split(",", 1)[1])
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    if not hmac.compare_digest(digest, expected):
        raise AssertionError("the floor's signature check failed")
    json.loads(delivery.body)


def measure_warm(args: dict[str, Any]) -> dict[str, Any]:
    """Child: CPU and wall time of each request to the handler, the floor's, and the calls it made."""
    handler, answers = answered_handler(args["module"])
    context = receiver_context()
    key = parse_secret(DEMO_SECRET)
    events, count, kind = int(args["events"]), int(args["requests"]), str(args.get("kind", "sample"))
    for delivery in deliveries(int(args["warmup"]), events, kind):
        handler.lambda_handler(delivery.event, context)
    answers.forget_calls()
    cpu_us, wall_us, floor_us = [], [], []
    statuses: Counter[str] = Counter()
    for delivery in deliveries(count, events, kind):
        if kind != "native":  # the floor checks a Standard Webhooks signature
            floor_us.append(cpu_and_wall_us(partial(floor_check, delivery, key))[0])
        cpu, wall, response = cpu_and_wall_us(partial(handler.lambda_handler, delivery.event, context))
        cpu_us.append(cpu)
        wall_us.append(wall)
        statuses[str(response["statusCode"])] += 1
    calls = {name: n / count for name, n in answers.calls.items()}
    profiler = cProfile.Profile()
    batch = deliveries(max(20, count // 5), events, kind)
    profiler.enable()
    for delivery in batch:
        handler.lambda_handler(delivery.event, context)
    profiler.disable()
    profile = summary(profiler)
    wrapped, queueing = DEDUPLICATION[args["module"]]
    profile["deduplication_ms"] = cumulative_ms(profiler, *wrapped) - cumulative_ms(profiler, *queueing)
    # The per-connector limit: the local count, and the lease of the shared bucket every L-th webhook.
    profile["limit_ms"] = cumulative_ms(profiler, *LIMIT_CHECK)
    return {
        "cpu_us": cpu_us,
        "wall_us": wall_us,
        "floor_us": floor_us,
        "statuses": dict(statuses),
        "calls_per_request": calls,
        "unanswered": dict(answers.unanswered),
        "profile": {**profile, "requests": len(batch)},
        "peak_rss_mb": peak_rss_mb(),
    }


def measure_memory(args: dict[str, Any]) -> dict[str, Any]:
    """Child: RSS after the warm-up share of the requests and after all of them; then tracemalloc's view
    of what the next requests leave allocated."""
    handler, _ = answered_handler("webhook_receiver")
    context = receiver_context()
    total = int(args["requests"])
    checkpoint = int(args["checkpoint"])
    body = body_for(1)

    def deliver(index: int) -> None:
        now = int(time.time())
        headers = signed_headers(body, webhook_id=f"msg_{index:08d}", timestamp=now)
        response = handler.lambda_handler(http_api_event(body, headers, timestamp=now), context)
        if response["statusCode"] != 202:
            raise AssertionError(f"request {index} answered {response['statusCode']}")

    rss: dict[str, float] = {"start": rss_mb()}
    for index in range(total):
        deliver(index)
        if index + 1 == checkpoint:
            gc.collect()
            rss["checkpoint"] = rss_mb()
    gc.collect()
    rss["end"] = rss_mb()

    traced_requests = int(args["traced"])
    tracemalloc.start(5)
    for index in range(total, total + traced_requests // 10):
        deliver(index)
    gc.collect()
    before = tracemalloc.take_snapshot()
    for index in range(total + traced_requests // 10, total + traced_requests):
        deliver(index)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = [s for s in after.compare_to(before, "lineno") if s.size_diff > 0]
    return {
        "rss_mb": rss,
        "peak_rss_mb": peak_rss_mb(),
        "traced_requests": traced_requests - traced_requests // 10,
        "traced_growth_bytes": sum(s.size_diff for s in after.compare_to(before, "filename")),
        "top_growth": [
            {"where": short_location(str(s.traceback[0])), "bytes": s.size_diff, "blocks": s.count_diff}
            for s in growth[:3]
        ],
    }


# --- parent side ---------------------------------------------------------------------------------------


def _environment(module: str) -> dict[str, str]:
    env = lambda_environment(RECEIVER)
    # No X-Ray daemon here: tracing would only add failed sends. Logs go to stdout as in Lambda.
    env["POWERTOOLS_TRACE_DISABLED"] = "true"
    if module != "webhook_receiver":
        env.pop("PYDANTIC_DISABLE_PLUGINS", None)  # a setting of the project's template only
    return env


def _code_root(module: str) -> Path:
    return RECEIVER.code_root if module == "webhook_receiver" else BASELINES


@dataclass
class WarmRun:
    cpu_us: list[float]
    wall_us: list[float]
    floor_us: list[float]
    calls_per_request: dict[str, float]
    profile: dict[str, Any]
    peak_rss_mb: float

    @property
    def calls(self) -> float:
        return sum(self.calls_per_request.values())

    def modelled_us(self, memory_mb: int) -> float:
        """A warm request in Lambda: its CPU at the memory's vCPU share, and each call's latency (the
        receiver's calls are made one after another)."""
        return invoke_ms(percentile(self.cpu_us, 50), memory_mb) + self.calls * BACKEND_LATENCY_MS * 1000


def _measure(module: str, events: int, requests: int, warmup: int, kind: str = "sample") -> WarmRun:
    result = run_child(
        "bench.receiver:measure_warm",
        {"module": module, "events": events, "requests": requests, "warmup": warmup, "kind": kind},
        code_root=_code_root(module),
        env=_environment(module),
    )
    if set(result["statuses"]) != {"202"} or result["unanswered"]:
        raise AssertionError(
            f"{module}: answered {result['statuses']}, unanswered calls {result['unanswered']}: expected 202s"
        )
    return WarmRun(
        result["cpu_us"],
        result["wall_us"],
        result["floor_us"],
        result["calls_per_request"],
        result["profile"],
        float(result["peak_rss_mb"]),
    )


def _merge(runs: list[WarmRun]) -> WarmRun:
    first = runs[0]
    return WarmRun(
        [x for r in runs for x in r.cpu_us],
        [x for r in runs for x in r.wall_us],
        [x for r in runs for x in r.floor_us],
        first.calls_per_request,
        first.profile,
        max(r.peak_rss_mb for r in runs),
    )


def run_warm(*, smoke: bool, findings: Findings) -> Section:
    section = Section("Receiver, warm, through the SDK")
    _, memory_mb = template_environment(RECEIVER)
    rows, profiles = [], []
    peak = 0.0
    shapes = (
        ("signed DEVICE_EVENT", 1, 100 if smoke else 1500, SINGLE_GOAL),
        (f"{EVENTS_IN_ARRAY}-event array", EVENTS_IN_ARRAY, 20 if smoke else 200, ARRAY_GOAL),
    )
    for label, events, requests, goal in shapes:
        measured = alternating(
            list(PROGRAMS),
            partial(_measure, events=events, requests=requests // 2, warmup=10 if smoke else 100),
            _merge,
            turns=1 if smoke else 2,
        )
        ours, theirs = measured["webhook_receiver"], measured["powertools_receiver"]
        # The dedupe record's completion is one UpdateItem per webhook; a lease of the limit adds a share.
        if ours.calls_per_request.get("dynamodb.UpdateItem", 0) <= 1:
            raise AssertionError(
                "the receiver ran without its per-connector limit: it must be measured with it"
            )
        peak = max(peak, ours.peak_rss_mb)
        section.figures += cpu_figures(
            "receiver CPU per request",
            label,
            ours.cpu_us,
            theirs.cpu_us,
            goal,
            baseline_name="Powertools receiver",
            note=f"{ours.calls:g} AWS calls per webhook here, {theirs.calls:g} there; "
            f"{len(ours.cpu_us)} requests each",
        )
        if events == 1:
            section.figures.append(_limit_cost(label, ours))
        # For information: the least any receiver must do.
        section.figures.append(
            cpu_figure(
                "receiver CPU per request",
                f"{label}, vs parse + HMAC",
                50,
                ours.cpu_us,
                ours.floor_us,
                baseline_name="json.loads + HMAC",
            )
        )
        for module, run in (("webhook_receiver", ours), ("powertools_receiver", theirs)):
            rows.append(
                [
                    label,
                    PROGRAMS[module],
                    str(len(run.cpu_us)),
                    *(f"{percentile(run.cpu_us, q):.0f}" for q in (50, 99)),
                    *(f"{percentile(run.wall_us, q):.0f}" for q in (50, 99)),
                    f"{run.modelled_us(memory_mb) / 1000:.1f}",
                    ", ".join(f"{name} {n:g}" for name, n in sorted(run.calls_per_request.items())),
                ]
            )
            profiles.append((label, PROGRAMS[module], percentile(run.cpu_us, 50), run.profile))
    section.details.append(
        "Per request, in one process per program (two processes each, alternating); CPU is the process's, "
        f"wall this machine's. Modelled is the request in Lambda at {memory_mb} MB: its CPU at "
        f"{memory_mb / 1769:.2f} vCPU plus {BACKEND_LATENCY_MS:.0f} ms for each AWS call (one after another):"
        "\n\n"
        + markdown_table(
            [
                "body",
                "program",
                "requests",
                "CPU p50 µs",
                "CPU p99 µs",
                "wall p50 µs",
                "wall p99 µs",
                f"modelled p50 ms at {memory_mb} MB",
                "AWS calls per webhook",
            ],
            rows,
        )
    )
    dedupe_rows = []
    for label, program, p50, profile in profiles:
        share = profile["deduplication_ms"] / (profile["total_ms"] or 1.0)
        dedupe_rows.append(
            [
                label,
                program,
                f"{profile['deduplication_ms'] * 1000 / profile['requests']:.0f}",
                f"{share:.0%}",
                f"{p50 * share:.0f}",
            ]
        )
    section.details.append(
        "Deduplication alone (the record written before queueing and completed after it, without the "
        "queueing between): the project's IdempotencyTableDeduplicator against Powertools' idempotency "
        "utility with DynamoDBPersistenceLayer (cProfile's cumulative time of each one's wrapper less that "
        "of the queueing inside it):\n\n"
        + markdown_table(
            ["body", "program", "profiled µs per request", "share of the request", "µs of the CPU p50"],
            dedupe_rows,
        )
    )
    for label, program, p50, profile in profiles:
        total = profile["total_ms"] or 1.0
        section.details.append(
            f"Where the CPU goes: {program}, {label} (cProfile over {profile['requests']} requests; each "
            "package's share of the profiled time, and that share of the measured CPU p50):\n\n"
            + markdown_table(
                ["package", "share", "µs of the p50"],
                [
                    [p["package"], f"{p['self_ms'] / total:.0%}", f"{p50 * p['self_ms'] / total:.0f}"]
                    for p in profile["packages"][:8]
                ],
            )
        )
    findings.add_peak(RECEIVER.folder, peak)
    return section


def _limit_cost(label: str, run: WarmRun) -> Figure:
    """The per-connector limit's part of a request (cProfile's share of it, of the measured p50): the limit
    is on in the measured receiver (the template's default), so this is what it costs."""
    p50 = percentile(run.cpu_us, 50)
    share = run.profile["limit_ms"] / (run.profile["total_ms"] or 1.0)
    leases = run.calls_per_request.get("dynamodb.UpdateItem", 0) - 1  # less the dedupe record's completion
    return Figure(
        f"receiver CPU per request p50, {label}, the per-connector limit's part",
        p50 * share,
        p50,
        "µs",
        None,
        baseline_name="the whole request",
        note=f"the limit's cost per webhook: {leases:g} UpdateItem (a lease of the shared bucket every "
        f"{1 / leases if leases > 0 else 0:g} webhooks) and the local count, {share:.1%} of the request "
        "(cProfile's share of the limit check)",
    )


def run_profiled(*, smoke: bool, findings: Findings) -> Section:
    """A device cloud's own webhook through its connector's profile (verified its way, mapped, validated)
    against the SendConnectorEvent webhook of the same events, pre-shaped: what the profile costs."""
    section = Section("Receiver, warm: a device cloud's own webhooks through a profile")
    rows = []
    for label, events, requests in (
        ("1 event", 1, 100 if smoke else 1500),
        (f"{EVENTS_IN_ARRAY} events", EVENTS_IN_ARRAY, 20 if smoke else 200),
    ):
        measured = alternating(
            ["native", "shaped"],
            partial(_measure, "webhook_receiver", events, requests // 2, 10 if smoke else 100),
            _merge,
            turns=1 if smoke else 2,
        )
        native, shaped = measured["native"], measured["shaped"]
        section.figures.append(
            cpu_figure(
                "receiver CPU per request",
                f"profiled native webhook of {label}",
                50,
                native.cpu_us,
                shaped.cpu_us,
                goal=PROFILED_GOAL,
                baseline_name="the same events pre-shaped",
                note=f"{native.calls:g} AWS calls per webhook, {shaped.calls:g} pre-shaped; "
                f"{len(native.cpu_us)} requests each",
            )
        )
        for kind, run in (("native, profiled", native), ("pre-shaped", shaped)):
            rows.append(
                [
                    label,
                    kind,
                    str(len(run.cpu_us)),
                    *(f"{percentile(run.cpu_us, q):.0f}" for q in (50, 99)),
                    ", ".join(f"{name} {n:g}" for name, n in sorted(run.calls_per_request.items())),
                ]
            )
    section.details.append(
        "The lights cloud's own JSON (events/profiles/lumen-home.json: an HMAC-SHA256 of the raw body, a "
        "JMESPath rule per event, Matter attributes named from the catalogue, transforms for brightness and "
        "colour temperature) against a Standard Webhooks body of exactly the SendConnectorEvent bodies that "
        "mapping yields, both through the real handler and botocore as above. The profile is read from SSM "
        "once and cached, so a warm request makes the same AWS calls either way:\n\n"
        + markdown_table(
            ["body", "sent as", "requests", "CPU p50 µs", "CPU p99 µs", "AWS calls per webhook"], rows
        )
    )
    return section


def run_memory(*, smoke: bool, findings: Findings) -> Section:
    section = Section("Receiver: memory over many requests")
    total, checkpoint, traced = (300, 50, 100) if smoke else (10_000, 1_000, 2_000)
    result = run_child(
        "bench.receiver:measure_memory",
        {"requests": total, "checkpoint": checkpoint, "traced": traced},
        code_root=RECEIVER.code_root,
        env=_environment("webhook_receiver"),
    )
    rss = result["rss_mb"]
    section.figures.append(
        Figure(
            f"receiver RSS after {total:,} vs {checkpoint:,} requests",
            rss["end"],
            rss["checkpoint"],
            "MiB",
            Goal("<=", 1.05),
            baseline_name=f"after {checkpoint:,}",
            note="no growth after warm-up: within 5% (allocator noise)",
        )
    )
    per_request = result["traced_growth_bytes"] / max(1, result["traced_requests"])
    growth = "; ".join(
        f"{g['where']}: {g['bytes']:+,} B in {g['blocks']:+,} blocks" for g in result["top_growth"]
    )
    section.details.append(
        f"RSS at start {rss['start']:.1f} MiB, after {checkpoint:,} requests {rss['checkpoint']:.1f} MiB, "
        f"after {total:,} {rss['end']:.1f} MiB; peak {result['peak_rss_mb']:.1f} MiB. "
        f"tracemalloc over {result['traced_requests']:,} further requests: "
        f"{result['traced_growth_bytes']:+,} bytes still allocated ({per_request:+.1f} B per request)"
        + (f"; largest growth: {growth}." if growth else ".")
        + " The answered services keep nothing here (in Lambda that state lives in SQS and DynamoDB); the "
        "secret cache is bounded (4,096 connectors)."
    )
    findings.add_peak(RECEIVER.folder, float(result["peak_rss_mb"]))
    return section
