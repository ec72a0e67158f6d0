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

The project's connector also drives a REST device cloud from its profile's `outbound` block: SwitchBot's
(events/profiles/switchbot.json, its base URL that of the loopback stand-in bridge_local.rest_clouds
SwitchBotApi, also in the parent), with a General Authorization invocation naming a secret of the token,
the signing secret and the user id. Its SendCommand signs the request, calls the cloud, maps the answer and
queues the DEVICE_COMMAND_RESPONSE on the relay's event queue; it is measured in the same process as the
webhook-style SendCommand, which is its baseline.
"""

from __future__ import annotations

import copy
import importlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache, partial
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from bench.answered_aws import AnsweredAws
from bench.child import run_child
from bench.lambda_context import LambdaContext
from bench.lambda_model import BACKEND_LATENCY_MS, invoke_ms
from bench.layout import CONNECTOR, REGION, ROOT, lambda_environment, template_environment
from bench.measure import alternating, cpu_and_wall_us
from bench.memory import peak_rss_mb
from bench.report import Section, markdown_table
from bench.sizing import Findings
from bench.stats import Figure, Goal, cpu_figures, percentile
from bridge_local.demo_clouds import LUMEN, PROFILES_DIR
from bridge_local.device_cloud import DEMO_TOKEN, FakeDeviceCloud
from bridge_local.rest_clouds import SWITCHBOT_SECRET, SWITCHBOT_TOKEN, ReceivedRequest, SwitchBotApi
from iot_standin.caller import envelope, general_authorization, matter_command, oauth
from iotbridge.correlation.model import Status

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

# The REST device cloud: SwitchBot's API v1.1 through its profile's `outbound` block, a sync command.
REST_OPERATION = "REST AWS.SendCommand"
REST_CONNECTOR_ID = "switchbot"
REST_PROFILE = PROFILES_DIR / "switchbot.json"
REST_DEVICE = "C1A2B3C4D501"  # the stand-in's colour bulb, which takes turnOn
REST_USER = "bench-switchbot-user"
REST_COMMAND = "turnOn"  # what the profile maps OnOff.On to
# Signing, the answer's mapping and the queued response on top of the same correlation work: at most half
# as much CPU again as the webhook-style command, which posts one signed webhook.
REST_GOAL = Goal("<=", 1.5)
REST_BASELINE = "webhook-style SendCommand"


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


@cache
def rest_secret_arn() -> str:
    """The ARN of the General Authorization secret the REST invocations name: under the template's
    authorization secret prefix, in the connector's own folder (read once: every invocation names it)."""
    variables, _ = template_environment(CONNECTOR)
    name = variables["AUTHORIZATION_SECRET_PREFIX"] + REST_CONNECTOR_ID + "/bench"
    return f"arn:aws:secretsmanager:{REGION}:000000000000:secret:{name}-AbCdEf"


def rest_profile(document: Mapping[str, Any], base_url: str, secret_arn: str) -> dict[str, Any]:
    """A copy of a profile with `outbound` whose base URL is `base_url` and whose `generalAuthorization`
    lets invocations name `secret_arn`: its own ARN patterns when one of them matches (as the connector
    matches them: `*` and `?` globs over the whole ARN, case-sensitive), else that ARN alone."""
    profile = copy.deepcopy(dict(document))
    profile["outbound"]["baseUrl"] = base_url
    patterns = (profile.get("generalAuthorization") or {}).get("secretArns") or []
    if not any(fnmatchcase(secret_arn, pattern) for pattern in patterns):
        profile["generalAuthorization"] = {"secretArns": [secret_arn]}
    return profile


def rest_connector_services(api_url: str) -> dict[str, Any]:
    """The answered services' contents for the REST connector: its profile (its base URL the SwitchBot
    stand-in's) under the template's profile prefix, and the General Authorization secret of the
    stand-in's token and signing secret under its ARN. Keyword arguments of AnsweredAws."""
    variables, _ = template_environment(CONNECTOR)
    document = json.loads(REST_PROFILE.read_text(encoding="utf-8"))
    secret = {"token": SWITCHBOT_TOKEN, "secret": SWITCHBOT_SECRET, "userId": REST_USER}
    arn = rest_secret_arn()
    return {
        "secrets": {arn: json.dumps(secret)},
        "parameters": {
            variables["PROFILE_PARAMETER_PREFIX"] + REST_CONNECTOR_ID: json.dumps(
                rest_profile(document, api_url, arn)
            )
        },
    }


def rest_invocation() -> dict[str, Any]:
    """A SendCommand to the REST connector (General Authorization): OnOff.On to the stand-in's colour
    bulb, with a new traceId each time."""
    return envelope(
        "AWS.SendCommand",
        REST_CONNECTOR_ID,
        general_authorization(rest_secret_arn()),
        traceId=f"bench-{uuid.uuid4().hex[:20]}=_1",
        connectorDeviceId=REST_DEVICE,
        endpoints=matter_command("1", "0x0006", "0x01"),
    )


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


@contextmanager
def rest_device_cloud() -> Iterator[SwitchBotApi]:
    """SwitchBot's API stand-in on a free loopback port, stopped by its own handle."""
    api = SwitchBotApi().start()
    try:
        yield api
    finally:
        api.stop()


def signed_commands(received: Sequence[ReceivedRequest], signed: Callable[[Mapping[str, str]], bool]) -> int:
    """How many of the REST cloud's requests were the benchmark's command, signed (`signed` checks the
    headers) and taken: a POST of turnOn to the bulb's commands, answered 200."""
    path = f"/v1.1/devices/{REST_DEVICE}/commands"
    return sum(
        1
        for r in received
        if r.method == "POST"
        and r.path == path
        and r.status == 200
        and signed(r.headers)
        and (r.json() or {}).get("command") == REST_COMMAND
    )


def command_response(message_body: str) -> dict[str, Any] | None:
    """The DEVICE_COMMAND_RESPONSE event a queued message carries (the relay's message: connectorId,
    webhookId, index, receivedAt, event), or None when it carries another."""
    try:
        message = json.loads(message_body)
    except ValueError:
        return None
    event = message.get("event") if isinstance(message, dict) else None
    if isinstance(event, dict) and event.get("Operation") == "DEVICE_COMMAND_RESPONSE":
        return event
    return None


# --- child side --------------------------------------------------------------------------------------


class QueueRecordingAws(AnsweredAws):
    """The answered services, keeping what each invocation left to be checked after it (outside the
    measured call): the bodies of the messages it queued, and how many correlation entries it marked
    answered."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.queued: list[str] = []
        self.marked_answered = 0

    def _sent(self, message_body: str) -> dict[str, str]:
        with self._lock:
            self.queued.append(message_body)
        return super()._sent(message_body)

    def _update_item(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        if marks_answered(body):
            with self._lock:
                self.marked_answered += 1
        return super()._update_item(request, body)

    def take(self) -> tuple[list[str], int]:
        """The messages queued and the entries marked answered since the last take."""
        with self._lock:
            taken = self.queued, self.marked_answered
            self.queued, self.marked_answered = [], 0
        return taken


def marks_answered(update: Mapping[str, Any]) -> bool:
    """Whether a DynamoDB UpdateItem request sets a correlation entry's status to answered."""
    values = update.get("ExpressionAttributeValues") or {}
    return any(value == {"S": Status.ANSWERED} for value in values.values())


def answered_at_once(queued: Sequence[str], marked: int, trace_id: str) -> bool:
    """Whether an invocation queued exactly one message, its command's successful response, and marked
    one correlation entry answered."""
    events = [command_response(body) for body in queued]
    return (
        marked == 1
        and len(events) == 1
        and events[0] is not None
        and events[0].get("TraceId") == trace_id
        and events[0].get("StatusCode") == 200
    )


def _measure_operation(
    handler: Any,
    context: LambdaContext,
    answers: QueueRecordingAws,
    make_event: Callable[[], dict[str, Any]],
    *,
    count: int,
    warmup: int,
) -> dict[str, Any]:
    """`warmup` invocations, then `count` measured ones: the CPU and wall time of each measured one, the
    AWS calls they made, and how many of all of them queued their command's response at once and marked
    it answered."""
    queued_responses = 0
    cpu_us, wall_us, codes = [], [], Counter[str]()
    for n in range(warmup + count):
        if n == warmup:
            answers.forget_calls()
        event = make_event()
        answers.take()
        cpu, wall, response = cpu_and_wall_us(partial(handler.lambda_handler, event, context))
        queued_responses += answered_at_once(*answers.take(), event["payload"].get("traceId", ""))
        if n >= warmup:
            cpu_us.append(cpu)
            wall_us.append(wall)
            codes[str(response["header"]["responseCode"])] += 1
    return {
        "cpu_us": cpu_us,
        "wall_us": wall_us,
        "codes": dict(codes),
        "calls_per_request": {name: n / count for name, n in answers.calls.items()},
        "unanswered": dict(answers.unanswered),
        "responses_queued": queued_responses,
    }


def measure_warm(args: dict[str, Any]) -> dict[str, Any]:
    """Child: CPU and wall time of each invocation of each operation, and the AWS calls each made; with a
    REST cloud's URL, also of the REST connector's SendCommand, in the same process."""
    handler = importlib.import_module(args["module"])
    services = connector_services(args["device_cloud_url"])
    rest_url = args.get("rest_cloud_url")
    if rest_url:
        rest = rest_connector_services(rest_url)
        services = {name: {**services[name], **rest[name]} for name in services}
    answers = QueueRecordingAws(keep=False, **services)
    answers.install()
    context = LambdaContext("bench-connector", memory_limit_in_mb=int(args["memory_mb"]))
    count, warmup = int(args["requests"]), int(args["warmup"])
    measure = partial(_measure_operation, handler, context, answers, count=count, warmup=warmup)
    found = {operation: measure(partial(invocation, operation)) for operation in OPERATIONS}
    if rest_url:
        found[REST_OPERATION] = measure(rest_invocation)
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
    for operation in OPERATIONS:
        run = result["operations"][operation]
        if set(run["codes"]) != {"200"} or run["unanswered"]:
            raise UnexpectedAnswer(
                f"{module} {operation}: answered {run['codes']}, unanswered calls {run['unanswered']}"
            )
        if asked[CLOUD_REQUESTS[operation]] != invocations:
            raise UnexpectedAnswer(
                f"{module} {operation}: the device cloud took {asked[CLOUD_REQUESTS[operation]]} requests "
                f"of {invocations}"
            )


def check_rest_run(result: dict[str, Any], taken: int, invocations: int) -> None:
    """Every REST SendCommand was answered 200 after calls the benchmark answers, sent the REST cloud one
    signed command it took, queued its DEVICE_COMMAND_RESPONSE (its TraceId, StatusCode 200) and marked
    its correlation entry answered."""
    run = result["operations"][REST_OPERATION]
    if set(run["codes"]) != {"200"} or run["unanswered"]:
        raise UnexpectedAnswer(
            f"connector {REST_OPERATION}: answered {run['codes']}, unanswered calls {run['unanswered']}"
        )
    if taken != invocations:
        raise UnexpectedAnswer(
            f"connector {REST_OPERATION}: the REST cloud took {taken} signed commands of {invocations}"
        )
    if run["responses_queued"] != invocations:
        raise UnexpectedAnswer(
            f"connector {REST_OPERATION}: {run['responses_queued']} of {invocations} invocations queued "
            "their command's response and marked it answered"
        )


def _measure(
    cloud: Any, api: SwitchBotApi, module: str, *, requests: int, warmup: int, memory_mb: int
) -> dict[str, Any]:
    already, already_rest = len(cloud.requests()), len(api.received())
    rest = module == "connector"  # only the project's connector reads a profile's `outbound`
    result = run_child(
        "bench.connector:measure_warm",
        {"module": module, "device_cloud_url": cloud.url, "requests": requests, "warmup": warmup,
         "memory_mb": memory_mb, **({"rest_cloud_url": api.url} if rest else {})},
        code_root=CONNECTOR.code_root if module == "connector" else BASELINES,
        env=environment(module),
    )  # fmt: skip
    check_run(module, result, cloud_requests(cloud.requests()[already:]), requests + warmup)
    if rest:
        check_rest_run(result, signed_commands(api.received()[already_rest:], api.signed), requests + warmup)
    return result


@dataclass
class ProgramRun:
    """One program's turns, merged: each operation's samples, and the largest peak memory of its processes."""

    operations: dict[str, OperationRun]
    peak_rss_mb: float


def merged(results: list[dict[str, Any]]) -> ProgramRun:
    operations = {}
    for operation in results[0]["operations"]:
        runs = [r["operations"][operation] for r in results]
        operations[operation] = OperationRun(
            [x for r in runs for x in r["cpu_us"]],
            [x for r in runs for x in r["wall_us"]],
            runs[0]["calls_per_request"],
            1.0,  # check_run, check_rest_run: each invocation asked the device cloud once
        )
    return ProgramRun(operations, max(float(r["peak_rss_mb"]) for r in results))


def run(*, smoke: bool, findings: Findings) -> Section:
    section = Section("Connector, warm, through the SDK")
    _, memory_mb = template_environment(CONNECTOR)
    requests, warmup = (40, 5) if smoke else (600, 50)
    with device_cloud() as cloud, rest_device_cloud() as api:
        measured = alternating(
            list(PROGRAMS),
            lambda module: _measure(
                cloud, api, module, requests=requests // 2, warmup=warmup, memory_mb=memory_mb
            ),
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
    project = measured["connector"].operations
    rest, webhook = project[REST_OPERATION], project["AWS.SendCommand"]
    section.figures += cpu_figures(
        "connector CPU per invocation",
        f"{REST_OPERATION} (SwitchBot profile) vs webhook-style",
        rest.cpu_us,
        webhook.cpu_us,
        REST_GOAL,
        baseline_name=REST_BASELINE,
        note=f"sign, call, map the answer, queue the response: {rest.aws_calls:g} AWS calls and one "
        f"signed REST request per invocation, against {webhook.aws_calls:g} and one signed webhook; "
        f"{len(rest.cpu_us)} invocations each, in the same processes",
    )
    section.figures.append(
        Figure(
            f"connector warm answer p99, {REST_OPERATION}, modelled at {memory_mb} MB",
            rest.modelled_ms(99, memory_mb),
            CALLER_TIMEOUT_MS,
            "ms",
            BUDGET_GOAL,
            baseline_name="managed integrations' timeout",
        )
    )
    rows.append(
        [
            REST_OPERATION,
            "project connector, SwitchBot profile",
            str(len(rest.cpu_us)),
            *(f"{percentile(rest.cpu_us, q):.0f}" for q in (50, 99)),
            *(f"{percentile(rest.wall_us, q) / 1000:.2f}" for q in (50, 99)),
            *(f"{rest.modelled_ms(q, memory_mb):.1f}" for q in (50, 99)),
            ", ".join(f"{name} {n:g}" for name, n in sorted(rest.calls_per_request.items())),
        ]
    )
    section.details.append(
        "Per invocation, in one process per program (two processes each, alternating); CPU is the "
        "process's, wall this machine's (the device cloud's loopback round trip included). Modelled is the "
        f"invocation in Lambda at {memory_mb} MB: its CPU at {memory_mb / 1769:.2f} vCPU plus "
        f"{BACKEND_LATENCY_MS:.0f} ms for each AWS call and for the device cloud's request (one after "
        "another). The device cloud is plain HTTP on loopback here; deployed it is HTTPS, whose handshake "
        "a warm invocation does not repeat (the connection pool keeps it). The REST SendCommand is the "
        "project connector's only (the hand-written one reads no `outbound` block): a General "
        "Authorization invocation (the secret's token, signing secret and user id, read once and "
        "cached), OnOff.On mapped to SwitchBot's turnOn, signed with HMAC-SHA256, posted to the "
        "SwitchBot stand-in on loopback, its answer mapped to a DEVICE_COMMAND_RESPONSE queued on the "
        "event queue (SQS SendMessageBatch) and the correlation entry marked answered:\n\n"
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
