"""Cold start as Lambda runs it: a fresh execution environment's init, then its first valid request.

Every target is a handler module run by bench.lambda_init in a new process: imported as Lambda's runtime
imports it (the init phase, with whatever the module builds at import), then invoked once with a valid
request (a signed webhook that is verified, validated, deduplicated and queued; a batch that is
forwarded; a small reset plan that is run; a SendCommand that is recorded and handed to the device
cloud, or sent to a REST device cloud through its profile's `outbound` block and its answer queued)
against AWS services answered in the process through real botocore clients (bench.answered_aws), each
call waiting BACKEND_LATENCY_MS. The process has the import
path Lambda gives the function (its code folder, the layer's code, the layer's dependencies, without
site-packages) and the environment template.yaml gives it. Both phases' CPU is measured in the process
and modelled at the function's MemorySize (bench.lambda_model).

The floor is a function that imports boto3 and makes one client at init and whose handler does nothing.
The baseline is the same receiver written the usual Powertools way (bench/baselines). Variants are the
code with one choice undone (a patched copy in a temporary folder, or a changed environment). Figures are
medians over rounds in which every target runs once, in an order shuffled each round; the first round
warms the file cache and is dropped.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench import lambda_layer
from bench.connector import (
    connector_services,
    device_cloud,
    invocation,
    rest_connector_services,
    rest_device_cloud,
    rest_invocation,
    signed_commands,
)
from bench.forwarder_batch import sqs_batch
from bench.lambda_init import INIT_DONE
from bench.lambda_model import BACKEND_LATENCY_MS, Phases, vcpu_share
from bench.layout import (
    CONNECTOR,
    DETECTOR_RESET,
    FORWARDER,
    LAYER,
    LOCAL,
    RECEIVER,
    ROOT,
    TEMPLATE,
    Function,
    lambda_environment,
    template_environment,
)
from bench.measure import alternating
from bench.report import Section, markdown_table
from bench.sizing import Findings
from bench.stats import Figure, Goal, format_number, median
from bench.webhooks import native_webhook, webhook_event
from bridge_local.rest_clouds import SwitchBotApi
from bridge_local.sam_template import read
from bridge_local.samples import DEMO_CONNECTOR_ID, DEMO_SECRET, SIGNING_SECRET_PREFIX

FLOOR_GOAL = Goal("<=", 1.25)
BASELINE_GOAL = Goal("<=", 0.5)
# The connector answers within ANSWER_WITHIN_SECONDS (1.5 s) of its start, of managed integrations' 2 s:
# a cold start's first request must leave that answer room.
CALLER_TIMEOUT_MS = 2000.0
CALLER_GOAL = Goal("<=", 0.5)
TOP_IMPORTS = 15
BASELINES = ROOT / "bench" / "baselines"
BATCH_SIZE = 10  # the forwarder's first batch: one message in each of 10 groups, as the template's BatchSize
PLAN_DETECTORS = 20  # the reset job's first plan: two batches of ten
STANDARD_WEBHOOKS = ("standardwebhooks",)
XRAY_SDK = ("aws-xray-sdk",)
PYDANTIC_PLUGINS = "PYDANTIC_DISABLE_PLUGINS"


# --- what runs -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Patch:
    """Replace `old` by `new` in one file of a copy of the code (a path relative to the repository)."""

    path: str
    old: str
    new: str


class PatchDoesNotApply(ValueError):
    """The code changed since the variant was written: the text to replace is not there."""


def apply_patches(root: Path, patches: Sequence[Patch]) -> None:
    for patch in patches:
        file = root / patch.path
        text = file.read_text(encoding="utf-8")
        if patch.old not in text:
            raise PatchDoesNotApply(f"{patch.path} no longer contains {patch.old.strip()!r}")
        file.write_text(text.replace(patch.old, patch.new, 1), encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Target:
    """One program: a handler module, the request it gets first, and the function whose environment and
    MemorySize it runs with."""

    key: str
    label: str
    module: str
    code_root: Path
    request: str  # "webhook", "native-webhook", "batch", "plan", "command", "rest-command" or "nothing"
    function: Function
    patches: tuple[Patch, ...] = ()
    environment: Mapping[str, str | None] = field(default_factory=dict)  # None: the variable is unset
    extra_dependencies: tuple[str, ...] = ()
    bytecode: bool = True  # False: no compiled module anywhere in the layer, as Lambda would compile them
    compare_to: str = ""  # a variant: the target it is the undoing of a choice of


def _with_tracer(path: str) -> tuple[Patch, ...]:
    """Powertools Tracer (the X-Ray SDK, patching botocore) on a handler, as the functions once had."""
    return (
        Patch(
            path,
            "from aws_lambda_powertools import Logger, Metrics\n",
            "from aws_lambda_powertools import Logger, Metrics, Tracer\n",
        ),
        Patch(path, "metrics = Metrics()\n", "metrics = Metrics()\ntracer = Tracer()\n"),
        Patch(
            path,
            "@metrics.log_metrics(",
            "@tracer.capture_lambda_handler(capture_response=False)\n@metrics.log_metrics(",
        ),
    )


CLIENTS = "layers/shared/iotbridge/clients.py"
RESET_WIRING = "layers/shared/iotbridge/detector_reset/wiring.py"

FLOOR = Target(
    "floor", "boto3 + 1 client at init, empty handler", "boto3_floor", BASELINES, "nothing", RECEIVER
)
TARGETS: tuple[Target, ...] = (
    FLOOR,
    Target("receiver", "webhook_receiver", RECEIVER.module, RECEIVER.code_root, "webhook", RECEIVER),
    Target(
        "receiver-profiled",
        "webhook_receiver, a device cloud's own webhook (its profile read from SSM)",
        RECEIVER.module,
        RECEIVER.code_root,
        "native-webhook",
        RECEIVER,
    ),
    Target("forwarder", "forwarder", FORWARDER.module, FORWARDER.code_root, "batch", FORWARDER),
    Target(
        "reset", "detector_reset", DETECTOR_RESET.module, DETECTOR_RESET.code_root, "plan", DETECTOR_RESET
    ),
    Target(
        "connector",
        "connector, a first AWS.SendCommand (profile and outbound secret read, the device cloud on loopback)",
        CONNECTOR.module,
        CONNECTOR.code_root,
        "command",
        CONNECTOR,
        # The local device cloud is plain HTTP on loopback; deployed, device clouds speak HTTPS.
        environment={"ALLOW_LOOPBACK_DEVICE_CLOUDS": "true"},
    ),
    Target(
        "connector-rest",
        "connector, a first REST AWS.SendCommand (SwitchBot profile and General Authorization secret read, "
        "the command signed and sent to the SwitchBot stand-in on loopback, its response queued)",
        CONNECTOR.module,
        CONNECTOR.code_root,
        "rest-command",
        CONNECTOR,
        environment={"ALLOW_LOOPBACK_DEVICE_CLOUDS": "true"},
    ),
    Target(
        "powertools",
        "the receiver written the usual Powertools way (bench/baselines/powertools_receiver.py)",
        "powertools_receiver",
        BASELINES,
        "webhook",
        RECEIVER,
        # A template of its own would not set the project's pydantic setting.
        environment={PYDANTIC_PLUGINS: None},
        extra_dependencies=STANDARD_WEBHOOKS,
    ),
    Target(
        "receiver-no-bytecode",
        "webhook_receiver from a layer without bytecode (what `sam build`'s python3.13 method ships)",
        RECEIVER.module,
        RECEIVER.code_root,
        "webhook",
        RECEIVER,
        bytecode=False,
        compare_to="receiver",
    ),
    Target(
        "receiver-botocore-data",
        "webhook_receiver reading botocore's own data",
        RECEIVER.module,
        RECEIVER.code_root,
        "webhook",
        RECEIVER,
        patches=(Patch(CLIENTS, "_session = new_session(shipped_only=True)", "_session = new_session()"),),
        compare_to="receiver",
    ),
    Target(
        "receiver-plugins",
        "webhook_receiver with pydantic's plugin scan",
        RECEIVER.module,
        RECEIVER.code_root,
        "webhook",
        RECEIVER,
        environment={PYDANTIC_PLUGINS: None},
        compare_to="receiver",
    ),
    Target(
        "receiver-tracer",
        "webhook_receiver with Powertools Tracer (X-Ray SDK)",
        RECEIVER.module,
        RECEIVER.code_root,
        "webhook",
        RECEIVER,
        patches=_with_tracer("functions/webhook_receiver/webhook_receiver.py"),
        extra_dependencies=XRAY_SDK,
        compare_to="receiver",
    ),
    Target(
        "reset-tracer",
        "detector_reset with Powertools Tracer (X-Ray SDK)",
        DETECTOR_RESET.module,
        DETECTOR_RESET.code_root,
        "plan",
        DETECTOR_RESET,
        patches=_with_tracer("functions/detector_reset/detector_reset.py"),
        extra_dependencies=XRAY_SDK,
        compare_to="reset",
    ),
    Target(
        "reset-eager-lambda",
        "detector_reset with its Lambda client made at init",
        DETECTOR_RESET.module,
        DETECTOR_RESET.code_root,
        "plan",
        DETECTOR_RESET,
        patches=(
            Patch(RESET_WIRING, 'DeferredClient("lambda", aws)', 'client("lambda", aws)'),
            Patch(
                RESET_WIRING,
                "from iotbridge.clients import DeferredClient\n",
                "from iotbridge.clients import DeferredClient, client\n",
            ),
        ),
        compare_to="reset",
    ),
)
FUNCTIONS = ("receiver", "forwarder", "reset", "connector")


# --- first requests -------------------------------------------------------------------------------------


def batch_event(size: int = BATCH_SIZE) -> dict[str, Any]:
    return sqs_batch("bench-cold", [f"device-{n}" for n in range(size)])


RESET_MODEL = "BenchPump"
PLAN = {
    "name": "bench-cold-reset",
    "detectorModelName": RESET_MODEL,
    "detectors": {"inStates": ["Alarm"]},
    "action": {"mode": "update", "stateName": "Normal", "variables": [{"name": "alarmCount", "value": "0"}]},
}


def first_request(
    kind: str, device_cloud_url: str | None = None, rest_cloud_url: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event of a first request of this kind, and the answered services it needs (a "command" needs
    the URL of a device cloud that takes it, a "rest-command" that of the SwitchBot stand-in)."""
    aws: dict[str, Any] = {"latency_ms": BACKEND_LATENCY_MS}
    if kind == "command":
        if device_cloud_url is None:
            raise ValueError("a first SendCommand needs a device cloud")
        return invocation("AWS.SendCommand"), {**aws, **connector_services(device_cloud_url)}
    if kind == "rest-command":
        if rest_cloud_url is None:
            raise ValueError("a first REST SendCommand needs a REST device cloud")
        return rest_invocation(), {**aws, **rest_connector_services(rest_cloud_url)}
    if kind == "webhook":
        aws["secrets"] = {SIGNING_SECRET_PREFIX + DEMO_CONNECTOR_ID: DEMO_SECRET}
        return webhook_event(), aws
    if kind == "native-webhook":
        event, aws["secrets"], aws["parameters"] = native_webhook()
        return event, aws
    if kind == "batch":
        return batch_event(), aws
    if kind == "plan":
        return dict(PLAN), {**aws, "detector_model": RESET_MODEL, "detectors": PLAN_DETECTORS}
    return {}, aws


class UnexpectedAnswer(AssertionError):
    """The first request did not do its job: the figure would be of something else."""


def check_answer(kind: str, result: Mapping[str, Any]) -> None:
    calls, response = result["calls"], result["response"]
    if result["unanswered"]:
        raise UnexpectedAnswer(f"calls the benchmark does not answer: {result['unanswered']}")
    if kind == "webhook":
        ok = isinstance(response, dict) and response.get("statusCode") == 202 and result["messages_sent"] == 1
    elif kind == "native-webhook":  # the state webhook's light and plug (its heartbeat is ignored)
        ok = isinstance(response, dict) and response.get("statusCode") == 202 and result["messages_sent"] == 2
    elif kind == "batch":
        ok = response == {"batchItemFailures": []} and (
            calls.get("iot-managed-integrations.SendConnectorEvent") == BATCH_SIZE
        )
    elif kind == "plan":
        ok = isinstance(response, dict) and response.get("status") == "complete"
        ok = ok and result["detectors_updated"] == PLAN_DETECTORS
    elif kind == "command":  # recorded, handed to the device cloud once, marked handed over
        header = response.get("header") if isinstance(response, dict) else None
        ok = isinstance(header, dict) and header.get("responseCode") == 200
        ok = ok and result.get("device_cloud_calls") == 1
        ok = ok and calls.get("dynamodb.PutItem") == 1 and calls.get("dynamodb.UpdateItem") == 1
    elif kind == "rest-command":  # recorded, one signed command taken, its response queued, marked answered
        # (the one UpdateItem: a command answered at once is never marked handed over)
        header = response.get("header") if isinstance(response, dict) else None
        ok = isinstance(header, dict) and header.get("responseCode") == 200
        ok = ok and result.get("device_cloud_calls") == 1 and result["messages_sent"] == 1
        ok = ok and calls.get("sqs.SendMessageBatch") == 1 and calls.get("dynamodb.PutItem") == 1
        ok = ok and calls.get("dynamodb.UpdateItem") == 1
    else:
        ok = response == {} and not calls
    if not ok:
        raise UnexpectedAnswer(f"first {kind} request answered {str(response)[:300]} after calls {calls}")


# --- preparing and running the programs ---------------------------------------------------------------


@dataclass
class Prepared:
    """A target ready to run: its import path, environment and MemorySize, and what its runs measured."""

    target: Target
    env: dict[str, str]
    memory_mb: int
    timeout_seconds: int
    runs: list[Phases] = field(default_factory=list)

    def modelled_ms(self, memory_mb: int | None = None) -> float:
        size = self.memory_mb if memory_mb is None else memory_mb
        return median([run.modelled_ms(size) for run in self.runs])

    def median_of(self, attribute: str) -> float:
        return median([float(getattr(run, attribute)) for run in self.runs])

    def saved_against(self, now: Prepared, measure: Callable[[Phases], float]) -> float:
        """The median over rounds of (this - now): each round ran both, so slow spells of the machine
        touch both sides of a difference alike."""
        pairs = zip(self.runs, now.runs, strict=False)
        return median([measure(variant) - measure(current) for variant, current in pairs])


def _no_bytecode(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__"]


def _copy_without_bytecode(source: Path, target: Path) -> None:
    """A real copy of a folder of links to installed distributions, leaving every compiled module out."""
    target.mkdir(parents=True)
    for entry in source.iterdir():
        real = entry.resolve()
        if real.is_dir():
            shutil.copytree(real, target / entry.name, ignore=_no_bytecode)
        else:
            shutil.copy2(real, target / entry.name)


@contextmanager
def prepared_targets(targets: Sequence[Target]) -> Iterator[tuple[list[Prepared], list[str]]]:
    """Each target with its folders and environment; a note for each target that could not be prepared.

    Programs run without site-packages (`-S`): their import path is the function's code folder, the
    layer's code, the layer's dependencies and nothing else, as in Lambda; the benchmark's own modules
    come last and are imported only after init.
    """
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as workdir:
        work = Path(workdir)
        dependencies = work / "layer-dependencies"
        lambda_layer.build(dependencies)
        folders: dict[tuple[str, ...], Path] = {(): dependencies}
        prepared: list[Prepared] = []
        for target in targets:
            found = folders.get(target.extra_dependencies)
            if found is None:
                found = work / f"dependencies-{len(folders)}"
                lambda_layer.build(found)
                lambda_layer.link(found, target.extra_dependencies)
                folders[target.extra_dependencies] = found
            code_root, layer, deps = target.code_root, LAYER, found
            if target.patches or not target.bytecode:
                copy = work / target.key
                code_root = copy / code_root.relative_to(ROOT)
                layer = copy / "layers" / "shared"
                shutil.copytree(target.code_root, code_root, ignore=_no_bytecode)
                shutil.copytree(LAYER, layer, ignore=_no_bytecode)
                try:
                    apply_patches(copy, target.patches)
                except PatchDoesNotApply as exc:
                    skipped.append(f"{target.label}: not measured, {exc}")
                    continue
                if not target.bytecode:
                    deps = copy / "layer-dependencies"
                    _copy_without_bytecode(found, deps)
            env = lambda_environment(target.function)
            for name, value in target.environment.items():
                if value is None:
                    env.pop(name, None)
                else:
                    env[name] = value
            if not target.bytecode:
                env["PYTHONDONTWRITEBYTECODE"] = "1"  # Lambda's file system keeps nothing compiled
            env["LAMBDA_TASK_ROOT"] = str(code_root)
            env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (code_root, layer, deps, ROOT, LOCAL))
            _, memory_mb = template_environment(target.function)
            timeout = _timeout_seconds(target.function)
            prepared.append(Prepared(target, env, memory_mb, timeout))
        yield prepared, skipped


def _timeout_seconds(function: Function) -> int:
    return read(TEMPLATE).functions[function.logical_id].timeout_seconds


def run_once(
    item: Prepared,
    *,
    importtime: bool = False,
    profile: bool = False,
    device_cloud: Any = None,
    rest_cloud: SwitchBotApi | None = None,
) -> tuple[dict[str, Any], str]:
    """One fresh process: init, then the first request. Returns its figures and its error output. A
    first SendCommand goes to `device_cloud` (bench.connector.device_cloud), which counts it; a first REST
    SendCommand to `rest_cloud` (bench.connector.rest_device_cloud), whose signed commands are counted."""
    event, aws = first_request(
        item.target.request,
        device_cloud.url if device_cloud is not None else None,
        rest_cloud.url if rest_cloud is not None else None,
    )
    asked_before = len(device_cloud.requests()) if device_cloud is not None else 0
    rest_before = len(rest_cloud.received()) if rest_cloud is not None else 0
    if profile:
        aws["latency_ms"] = 0.0  # the profiler times the wall clock: no waits in it
    spec = {
        "module": item.target.module,
        "event": event,
        "aws": aws,
        "context": {
            "function_name": f"bench-{item.target.key}",
            "memory_limit_in_mb": item.memory_mb,
            "timeout_seconds": item.timeout_seconds,
        },
        "profile": profile,
    }
    with tempfile.TemporaryDirectory(prefix="bench-run-") as workdir:
        spec_file, result_file = Path(workdir) / "spec.json", Path(workdir) / "result.json"
        argv = [sys.executable, "-S", *(["-X", "importtime"] if importtime else [])]
        argv += ["-m", "bench.lambda_init", str(spec_file), str(result_file)]
        spec["spawned_at"] = time.time()
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        done = subprocess.run(  # noqa: S603 - argv built here from fixed parts
            argv,
            env=item.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
            timeout=300,
        )
        errors = done.stderr.decode("utf-8", errors="replace")
        if done.returncode != 0 or not result_file.exists():
            tail = " / ".join(errors.strip().splitlines()[-6:])
            raise RuntimeError(f"{item.target.label} failed (exit {done.returncode}): {tail}")
        result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    if item.target.request == "rest-command" and rest_cloud is not None:
        result["device_cloud_calls"] = signed_commands(rest_cloud.received()[rest_before:], rest_cloud.signed)
    elif device_cloud is not None:
        result["device_cloud_calls"] = len(device_cloud.requests()) - asked_before
    check_answer(item.target.request, result)
    return result, errors


def phases_of(result: Mapping[str, Any]) -> Phases:
    return Phases(
        init_cpu_ms=result["init_cpu_s"] * 1000,
        invoke_cpu_ms=result["invoke_cpu_s"] * 1000,
        # The device cloud's request is one more call, after the first AWS calls and before the last.
        calls_in_a_row=int(result["calls_in_a_row"]) + int(result.get("device_cloud_calls", 0)),
        wall_ms=(result["init_wall_s"] + result["invoke_wall_s"]) * 1000,
    )


def measure(
    prepared: Sequence[Prepared],
    *,
    rounds: int,
    warmup_rounds: int,
    seed: int = 7,
    device_cloud: Any = None,
    rest_cloud: SwitchBotApi | None = None,
) -> None:
    """Every target once per round, in an order shuffled each round; warm-up rounds (which also write
    the bytecode of the project's own modules, as the layer's build does) are dropped."""
    by_key = {item.target.key: item for item in prepared}
    runs = alternating(
        list(by_key),
        lambda key: phases_of(run_once(by_key[key], device_cloud=device_cloud, rest_cloud=rest_cloud)[0]),
        list,
        turns=rounds,
        warmup_turns=warmup_rounds,
        shuffler=random.Random(seed),  # noqa: S311 - run order, not security
    )
    for key, phases in runs.items():
        by_key[key].runs.extend(phases)


# --- -X importtime ----------------------------------------------------------------------------------------

_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


@dataclass(frozen=True, slots=True)
class ImportCost:
    module: str
    self_us: int
    cumulative_us: int
    depth: int  # 0 for an import made by the program itself


def parse_importtime(stderr: str) -> list[ImportCost]:
    """The records of `python -X importtime` up to the end of the init phase, when the output marks it
    (its header and any other line are skipped)."""
    costs = []
    for line in stderr.split(INIT_DONE, 1)[0].splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            self_us, cumulative_us, indent, module = match.groups()
            costs.append(ImportCost(module, int(self_us), int(cumulative_us), max(0, (len(indent) - 1) // 2)))
    return costs


def top_imports(costs: Sequence[ImportCost], count: int = TOP_IMPORTS) -> list[ImportCost]:
    return sorted(costs, key=lambda c: c.cumulative_us, reverse=True)[:count]


def distribution_of(module: str) -> str:
    """Who a module belongs to: its top-level package, or the standard library."""
    top = module.split(".", 1)[0]
    return "(standard library)" if top in sys.stdlib_module_names or top.startswith("_") else top


def imports_by_distribution(costs: Sequence[ImportCost]) -> list[tuple[str, float]]:
    """Milliseconds of import (self time, so nothing is counted twice) by top-level package, largest first."""
    totals: dict[str, float] = {}
    for cost in costs:
        name = distribution_of(cost.module)
        totals[name] = totals.get(name, 0.0) + cost.self_us / 1000
    return sorted(totals.items(), key=lambda item: item[1], reverse=True)


def importtime_table(costs: Sequence[ImportCost]) -> str:
    rows = [
        [f"{'. ' * c.depth}{c.module}", f"{c.cumulative_us / 1000:.1f}", f"{c.self_us / 1000:.1f}"]
        for c in top_imports(costs)
    ]
    return markdown_table(["module (. = depth)", "cumulative ms", "self ms"], rows)


def profile_table(summary: Mapping[str, Any], cpu_ms: float) -> str:
    """A profile's packages and busiest functions, each as a share of the profiled time and that share of
    `cpu_ms`, the CPU measured without the profiler."""
    total = summary["total_ms"] or 1.0
    packages = [
        [p["package"], f"{p['self_ms'] / total:.0%}", f"{cpu_ms * p['self_ms'] / total:.1f}"]
        for p in summary["packages"][:8]
    ]
    functions = [
        [f["function"], f"{f['self_ms'] / total:.0%}", f"{f['cumulative_ms'] / total:.0%}"]
        for f in summary["functions"][:8]
    ]
    return (
        markdown_table(["package", "share of own time", "ms of the measured CPU"], packages)
        + "\n\n"
        + markdown_table(["function", "own time", "with what it calls"], functions)
    )


# --- the section ---------------------------------------------------------------------------------------


ROUNDS = 15


def run(*, smoke: bool, findings: Findings) -> Section:
    if smoke:  # one run of each, and the tables of one function: enough to see the code still works
        return measure_section(rounds=1, warmup_rounds=0, findings=findings, explained=FUNCTIONS[:1])
    return measure_section(rounds=ROUNDS, warmup_rounds=1, findings=findings)


def measure_section(
    *,
    rounds: int,
    warmup_rounds: int,
    findings: Findings,
    explained: Sequence[str] = (*FUNCTIONS, "powertools"),
) -> Section:
    section = Section("Cold start")
    with (
        prepared_targets(TARGETS) as (prepared, skipped),
        device_cloud() as cloud,
        rest_device_cloud() as api,
    ):
        measure(prepared, rounds=rounds, warmup_rounds=warmup_rounds, device_cloud=cloud, rest_cloud=api)
        by_key = {p.target.key: p for p in prepared}
        floor = by_key["floor"]
        for key in FUNCTIONS:
            item = by_key[key]
            section.figures.append(
                _first_request(
                    item,
                    item.target.function.folder,
                    floor.modelled_ms(item.memory_mb),
                    goal=FLOOR_GOAL,
                    baseline_name="boto3 + 1 client, empty handler",
                    note=_breakdown(item),
                )
            )
        connector = by_key["connector"]
        section.figures.append(
            _first_request(
                connector,
                "connector",
                CALLER_TIMEOUT_MS,
                versus=", vs managed integrations' timeout",
                goal=CALLER_GOAL,
                baseline_name="managed integrations' 2 s",
                note=_breakdown(connector) + "; the device cloud's request counts as one of the calls",
            )
        )
        rest = by_key.get("connector-rest")
        if rest is not None:
            section.figures.append(
                _first_request(
                    rest,
                    "connector, REST AWS.SendCommand (SwitchBot profile)",
                    CALLER_TIMEOUT_MS,
                    versus=", vs managed integrations' timeout",
                    goal=CALLER_GOAL,
                    baseline_name="managed integrations' 2 s",
                    note=_breakdown(rest) + "; the REST cloud's request counts as one of the calls",
                )
            )
        receiver, powertools = by_key["receiver"], by_key.get("powertools")
        if powertools is not None:
            section.figures.append(
                _first_request(
                    receiver,
                    "webhook_receiver vs Powertools receiver",
                    powertools.modelled_ms(receiver.memory_mb),
                    goal=BASELINE_GOAL,
                    baseline_name="Powertools receiver",
                    note=_breakdown(powertools),
                )
            )
        section.details.append(_model_paragraph(rounds))
        section.details.append(_phase_table(prepared, floor))
        section.details.append(_variant_table(prepared, by_key))
        if "reset-eager-lambda" in by_key:
            section.details.append(_deferred_client(by_key["reset"], by_key["reset-eager-lambda"]))
        if skipped:
            section.details.append("\n".join(f"- {note}" for note in skipped))
        for key in explained:
            if key in by_key:
                item = by_key[key]
                result, errors = run_once(item, importtime=True, device_cloud=cloud, rest_cloud=api)
                costs = parse_importtime(errors)
                by_package = imports_by_distribution(costs)
                section.details.append(
                    f"Where the init of {item.target.label} goes (`python -X importtime`, one run; the "
                    "tool's own overhead inflates every figure). By top-level package, the self time of its "
                    "modules (the handler module's own is its module-level code: wiring, clients):\n\n"
                    + markdown_table(["package", "ms"], [[name, f"{ms:.1f}"] for name, ms in by_package[:10]])
                    + f"\n\nTop {TOP_IMPORTS} imports by cumulative time:\n\n"
                    + importtime_table(costs)
                )
                profiled, _ = run_once(item, profile=True, device_cloud=cloud, rest_cloud=api)
                invoke_cpu = item.median_of("invoke_cpu_ms")
                section.details.append(
                    f"Where the first invocation of {item.target.label} spends its "
                    f"{invoke_cpu:.1f} ms of CPU (median above; cProfile of one more run, its shares applied "
                    "to that median):\n\n" + profile_table(profiled["profile"], invoke_cpu)
                )
                if key in FUNCTIONS:
                    findings.add_peak(item.target.function.folder, float(result["peak_rss_mb"]))
        for item in prepared:
            findings.cold[item.target.key] = list(item.runs)
    return section


def _first_request(
    item: Prepared,
    subject: str,
    baseline_ms: float,
    *,
    goal: Goal,
    baseline_name: str,
    note: str,
    versus: str = "",
) -> Figure:
    """The first request of `item`, modelled at its memory size, against a baseline in ms."""
    return Figure(
        f"first request, {subject}, modelled at {item.memory_mb} MB{versus}",
        item.modelled_ms(),
        baseline_ms,
        "ms",
        goal,
        baseline_name=baseline_name,
        note=note,
    )


def _breakdown(item: Prepared) -> str:
    share = vcpu_share(item.memory_mb)
    init, invoke = item.median_of("init_cpu_ms"), item.median_of("invoke_cpu_ms")
    calls = item.median_of("calls_in_a_row")
    return (
        f"init {format_number(init)} ms CPU + first invocation {format_number(invoke)} ms CPU / "
        f"{share:.2f} vCPU + {calls:.0f} calls in a row x {BACKEND_LATENCY_MS:.0f} ms (medians)"
    )


def _model_paragraph(rounds: int) -> str:
    return (
        "Modelled first request = init CPU / 1 vCPU + first-invocation CPU / (MemorySize / 1,769 MB) + "
        f"AWS calls in a row x {BACKEND_LATENCY_MS:.0f} ms (bench/lambda_model.py). CPU is the process's "
        "own, "
        f"measured around each phase in the process; the init phase includes the interpreter's start. "
        f"Median of {rounds} runs per program. The layer is modelled as its build ships it: every module "
        "compiled (layers/shared/Makefile); the row without bytecode shows what that saves."
    )


def _phase_table(prepared: Sequence[Prepared], floor: Prepared) -> str:
    rows = []
    for item in prepared:
        modelled = item.modelled_ms()
        rows.append(
            [
                item.target.label,
                str(item.memory_mb),
                f"{item.median_of('init_cpu_ms'):.0f}",
                f"{item.median_of('invoke_cpu_ms'):.1f}",
                f"{item.median_of('calls_in_a_row'):.0f}",
                f"{modelled:.0f}",
                f"{min(r.modelled_ms(item.memory_mb) for r in item.runs):.0f}-"
                f"{max(r.modelled_ms(item.memory_mb) for r in item.runs):.0f}",
                f"{item.median_of('wall_ms'):.0f}",
                f"{modelled / floor.modelled_ms(item.memory_mb):.2f}x",
            ]
        )
    return (
        "Every program (medians; wall is this machine's, init from process start plus the first "
        "invocation):\n\n"
        + (
            markdown_table(
                [
                    "program",
                    "MemorySize MB",
                    "init CPU ms",
                    "first invocation CPU ms",
                    "calls in a row",
                    "modelled ms",
                    "modelled range ms",
                    "wall ms",
                    "vs floor",
                ],
                rows,
            )
        )
    )


def _variant_table(prepared: Sequence[Prepared], by_key: Mapping[str, Prepared]) -> str:
    rows = []
    for item in prepared:
        base = by_key.get(item.target.compare_to)
        if base is None:
            continue
        size = base.memory_mb
        rows.append(
            [
                item.target.label,
                f"{item.modelled_ms():.0f} -> {base.modelled_ms():.0f}",
                f"{item.saved_against(base, partial(Phases.modelled_ms, memory_mb=size)):.0f}",
                f"{item.saved_against(base, lambda r: r.init_cpu_ms):.0f}",
                f"{item.saved_against(base, lambda r: r.invoke_cpu_ms):.1f}",
            ]
        )
    if not rows:
        return "No variant could be measured."
    return (
        "What each choice saves: every row is the code with one choice undone, measured in the same rounds, "
        "against the code as it is (modelled at the function's MemorySize; savings are medians of the "
        "differences within each round):\n\n"
        + markdown_table(
            [
                "variant",
                "modelled ms: variant -> now",
                "saved ms",
                "init CPU saved ms",
                "invoke CPU saved ms",
            ],
            rows,
        )
    )


def _deferred_client(deferred: Prepared, eager: Prepared) -> str:
    extra = eager.saved_against(deferred, lambda r: r.init_cpu_ms)
    share = vcpu_share(deferred.memory_mb)
    if extra <= 0:
        cost = f"made at init it cost no CPU this run could tell from noise ({extra:.0f} ms)"
    else:
        cost = (
            f"made at init it costs {extra:.0f} ms of CPU at every cold start; made on the first "
            f"continuation, the same CPU costs {extra / share:.0f} ms of the invocation at "
            f"{deferred.memory_mb} MB"
        )
    return (
        f"The reset job's Lambda client: {cost}. A cold start pays for a client made at init whether or not "
        f"its run continues, and a continuation pays {1 / share:.2f} times as much for one made then: "
        f"deferring is cheaper unless more than {share:.0%} of cold starts continue a run. A run continues "
        "only when it outlasts the invocation's 15 minutes, so the client stays deferred."
    )
