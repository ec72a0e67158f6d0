"""The webhook receiver, warm: per-request time and memory of the real handler against in-memory services.

The child process imports the real handler module with the function's import path and environment,
and gives its one client factory in-memory Secrets Manager, SQS and DynamoDB clients (service_fakes):
signature check, validation, deduplication (a conditional write to the idempotency table) and queueing all run
as in Lambda, only the network is missing. The floor is `json.loads` of the same body plus one
HMAC-SHA256 check of its signature, timed on the same requests, interleaved with the handler's.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
import resource
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.child import run_child
from bench.layout import RECEIVER, ROOT, lambda_environment
from bench.report import Section, markdown_table
from bench.stats import Figure, Goal, percentile

GOAL = Goal("<=", 10.0)
EVENTS_IN_ARRAY = 50


# --- child side --------------------------------------------------------------------------------------


@dataclass
class LambdaContext:
    function_name: str = "bench-webhook-receiver"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "bench-request"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:bench-webhook-receiver"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """This process's resident set size now (VmRSS), in MiB."""
    found = _status_mb("VmRSS")
    return found if found is not None else peak_rss_mb()


def peak_rss_mb() -> float:
    """This program's peak resident set size so far (VmHWM), in MiB.

    Not ru_maxrss: Linux carries it over from the process that forked this one, so a child started by a
    parent holding a large fleet in memory would report the parent's size.
    """
    found = _status_mb("VmHWM")
    return found if found is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wire_handler(*, keep: bool) -> tuple[Any, Any]:
    """The real handler module with in-memory services behind its client factory; (module, intake)."""
    import webhook_receiver
    from bench.service_fakes import FakeDynamoDb, FakeSecretsManager, FakeSqs
    from bridge_local.samples import DEMO_CONNECTOR_ID, DEMO_SECRET
    from iotbridge.receiver import wiring
    from iotbridge.receiver.settings import ReceiverSettings

    prefix = ReceiverSettings.from_environment().signing_secret_prefix
    fakes = {
        "secretsmanager": FakeSecretsManager({prefix + DEMO_CONNECTOR_ID: DEMO_SECRET}),
        "sqs": FakeSqs(keep=keep),
        "dynamodb": FakeDynamoDb(keep=keep),
    }

    def fake_client(service: str, *_: Any, **__: Any) -> Any:
        return fakes[service]

    # The wiring makes its clients through this factory; it is the one seam there is.
    wiring.client = fake_client  # type: ignore[assignment]
    webhook_receiver.wiring.rebuild()
    return webhook_receiver, webhook_receiver.wiring.get().intake


@dataclass(frozen=True, slots=True)
class Delivery:
    """One signed webhook: the API Gateway event, the raw parts for the floor, and the intake request."""

    event: dict[str, Any]
    body: bytes
    headers: dict[str, str]


def body_for(events: int) -> bytes:
    from bridge_local.samples import BODIES, encode

    base = BODIES["device-event"]
    if events == 1:
        return encode(base)
    return encode([{**base, "ConnectorDeviceId": f"lamp-{i:04d}"} for i in range(events)])


def deliveries(count: int, events: int) -> list[Delivery]:
    from bridge_local.samples import http_api_event, signed_headers

    body = body_for(events)
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


def _time_ns(call: Callable[[], Any]) -> int:
    started = time.perf_counter_ns()
    call()
    return time.perf_counter_ns() - started


def measure_warm(args: dict[str, Any]) -> dict[str, Any]:
    """Child: p50/p99 of the handler, of the intake alone and of the floor, for one body shape."""
    from bridge_local.samples import DEMO_SECRET
    from iotbridge.webhook_signature import parse_secret

    handler, intake = wire_handler(keep=False)
    context = LambdaContext()
    key = parse_secret(DEMO_SECRET)
    events = int(args["events"])
    count = int(args["requests"])
    warmup = deliveries(int(args["warmup"]), events)
    timed = deliveries(count, events)
    statuses: dict[str, int] = {}
    for delivery in warmup:
        handler.lambda_handler(delivery.event, context)

    handler_ns, intake_ns, floor_ns = [], [], []
    for delivery in timed:
        floor_ns.append(_time_ns(lambda d=delivery: floor_check(d, key)))  # type: ignore[misc]
        started = time.perf_counter_ns()
        response = handler.lambda_handler(delivery.event, context)
        handler_ns.append(time.perf_counter_ns() - started)
        statuses[str(response["statusCode"])] = statuses.get(str(response["statusCode"]), 0) + 1
    # The intake alone (domain and adapters, no Powertools decorators), on fresh webhook ids.
    from iotbridge.receiver.domain.intake import WebhookRequest

    for delivery in deliveries(count, events):
        request = WebhookRequest(
            "demo-connector", {k.lower(): v for k, v in delivery.event["headers"].items()}, delivery.body
        )
        intake_ns.append(_time_ns(lambda r=request: intake.handle(r)))  # type: ignore[misc]
    parts = profile_parts(handler, context, deliveries(max(10, count // 4), events))
    return {
        "parts_us": parts,
        "handler_us": [n / 1000 for n in handler_ns],
        "intake_us": [n / 1000 for n in intake_ns],
        "floor_us": [n / 1000 for n in floor_ns],
        "statuses": statuses,
        "queued": handler.wiring.get().intake._queue._client.sent,
        "peak_rss_mb": peak_rss_mb(),
    }


def measure_memory(args: dict[str, Any]) -> dict[str, Any]:
    """Child: RSS after the warm-up share of the requests and after all of them; then tracemalloc's view
    of what the next requests leave allocated."""
    import tracemalloc

    handler, _ = wire_handler(keep=False)
    context = LambdaContext()
    total = int(args["requests"])
    checkpoint = int(args["checkpoint"])
    body = body_for(1)
    from bridge_local.samples import http_api_event, signed_headers

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


def short_location(where: str) -> str:
    """A source location without the machine's folders: from the package (site-packages) or the
    repository onwards; the standard library by module file."""
    marker = "site-packages/"
    if marker in where:
        return where.split(marker, 1)[1]
    root = str(ROOT) + "/"
    if where.startswith(root):
        return where[len(root) :]
    return "/".join(Path(where).parts[-2:]) if "/" in where else where


# Where a request's time goes: (file suffix, function) of the calls whose cumulative time is shown.
PROFILE_PARTS = (
    ("deduplication (idempotency table; queueing runs inside it)", "adapters.py", "once"),
    ("event validation (pydantic models)", "webhook_receiver.py", "validate_body"),
    ("queueing (SQS batch building)", "adapters.py", "enqueue"),
    ("signature check", "webhook_signature.py", "verify_signature"),
    ("log line (Powertools logger)", "logging/__init__.py", "_log"),
    ("metrics (EMF flush)", "cloudwatch.py", "flush_metrics"),
    ("whole handler", "webhook_receiver.py", "lambda_handler"),
)


def profile_parts(handler: Any, context: Any, batch: list[Delivery]) -> dict[str, float]:
    """Microseconds per request spent in each part (cProfile's cumulative time, its overhead included)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for delivery in batch:
        handler.lambda_handler(delivery.event, context)
    profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    parts: dict[str, float] = {}
    for label, file_suffix, function in PROFILE_PARTS:
        total = sum(
            cumulative
            for (file, _, name), (_, _, _, cumulative, _) in stats.items()
            if name == function and file.endswith(file_suffix)
        )
        if total:
            parts[label] = total / len(batch) * 1e6
    return parts


# --- parent side ---------------------------------------------------------------------------------------


def _environment() -> dict[str, str]:
    env = lambda_environment(RECEIVER)
    # No X-Ray daemon here: tracing would only add failed sends. Logs go to stdout as in Lambda.
    env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


def run_warm(*, smoke: bool) -> tuple[Section, float]:
    """The section, and the largest peak RSS seen (for the memory recommendation)."""
    section = Section("Receiver, warm: per-request time")
    rows = []
    breakdowns: list[tuple[str, dict[str, float]]] = []
    peak = 0.0
    shapes = (
        ("signed DEVICE_EVENT", 1, 100 if smoke else 3000),
        (f"{EVENTS_IN_ARRAY}-event array", EVENTS_IN_ARRAY, 20 if smoke else 400),
    )
    for label, events, requests in shapes:
        result = run_child(
            "bench.receiver:measure_warm",
            {"events": events, "requests": requests, "warmup": 10 if smoke else 200},
            code_root=RECEIVER.code_root,
            env=_environment(),
        )
        peak = max(peak, float(result["peak_rss_mb"]))
        if set(result["statuses"]) != {"202"}:
            raise AssertionError(f"{label}: the handler answered {result['statuses']}, expected only 202")
        breakdowns.append((label, result["parts_us"]))
        handler, intake, floor = result["handler_us"], result["intake_us"], result["floor_us"]
        for q in (50, 99):
            section.figures.append(
                Figure(
                    f"receiver p{q}, {label}",
                    percentile(handler, q),
                    percentile(floor, q),
                    "µs",
                    GOAL,
                    baseline_name="json.loads + HMAC check",
                )
            )
        rows.append(
            [
                label,
                str(len(handler)),
                *(f"{percentile(s, q):.0f}" for s in (handler, intake, floor) for q in (50, 99)),
                str(result["queued"]),
            ]
        )
    section.details.append(
        "Microseconds per request (one process, requests interleaved with the floor; the intake row is "
        "`WebhookIntake.handle` alone, without the Powertools logger, metrics and the API Gateway event):\n\n"
        + markdown_table(
            [
                "body",
                "requests",
                "handler p50",
                "handler p99",
                "intake p50",
                "intake p99",
                "floor p50",
                "floor p99",
                "events queued",
            ],
            rows,
        )
    )
    for label, parts in breakdowns:
        section.details.append(
            f"Where the time of a request with a {label} goes (cProfile, cumulative µs per request; the "
            "profiler's own overhead inflates every figure alike):\n\n"
            + markdown_table(["part", "µs"], [[name, f"{us:.0f}"] for name, us in parts.items()])
        )
    return section, peak


def run_memory(*, smoke: bool) -> tuple[Section, float]:
    section = Section("Receiver: memory over many requests")
    total, checkpoint, traced = (1_000, 100, 200) if smoke else (10_000, 1_000, 2_000)
    result = run_child(
        "bench.receiver:measure_memory",
        {"requests": total, "checkpoint": checkpoint, "traced": traced},
        code_root=RECEIVER.code_root,
        env=_environment(),
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
        + " The fake services keep nothing here (in Lambda that state lives in SQS and DynamoDB); the "
        "secret cache is bounded (1,024 connectors)."
    )
    return section, float(result["peak_rss_mb"])
