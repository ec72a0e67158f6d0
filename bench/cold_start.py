"""Cold start: a fresh process imports a handler and creates the clients its first request needs.

Each target is a short `python -c` program; the figure is the wall time of the whole process (interpreter
start to exit), median over rounds in which every target runs once in shuffled order, so a noisy
neighbour slows them all alike. The floor is a process that only imports boto3 and creates one client.
Deferral candidates are measured on patched copies of the code in a temporary folder: the handlers
themselves are not changed.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import lambda_layer
from bench.layout import (
    DETECTOR_RESET,
    DUMMY_ENDPOINT,
    FORWARDER,
    LAYER,
    RECEIVER,
    ROOT,
    Function,
    base_environment,
    endpoint_variables,
    lambda_environment,
)
from bench.report import Section, markdown_table
from bench.stats import Figure, Goal, format_number, median

GOAL = Goal("<=", 1.25)
TOP_IMPORTS = 15

# Every program prints "<import seconds> <client seconds>" measured inside the process.
_TIMED = """\
import time as _t
_t0 = _t.perf_counter()
{imports}
_t1 = _t.perf_counter()
{clients}
_t2 = _t.perf_counter()
print(_t1 - _t0, _t2 - _t1)
"""

_CONTEXT = """\
class _Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench-detector-reset"
    def get_remaining_time_in_millis(self):
        return 900_000
"""

FLOOR_CODE = _TIMED.format(imports="import boto3", clients='boto3.client("sqs")')
# Each handler builds its wiring (clients included) at import.
RECEIVER_CODE = _TIMED.format(imports="import webhook_receiver", clients="webhook_receiver.wiring.get()")
FORWARDER_CODE = _TIMED.format(imports="import forwarder", clients="forwarder.wiring.get()")
RESET_CODE = _TIMED.format(
    imports="import detector_reset", clients=_CONTEXT + "detector_reset.wiring.get().lambda_job(_Context())"
)
# The job with the Lambda client for continuations made at start, not on the first continuation.
RESET_EAGER_LAMBDA_CODE = _TIMED.format(
    imports="import detector_reset",
    clients=_CONTEXT + "wiring = detector_reset.wiring.get()\nwiring.lambda_job(_Context())\n"
    "from iotbridge.clients import client\nclient('lambda', wiring.settings.clients)",
)
# The receiver and its event models (built at import too): for information.
RECEIVER_FIRST_VALID_CODE = _TIMED.format(
    imports="import webhook_receiver",
    clients="webhook_receiver.wiring.get()\nimport iotbridge.connector_event",
)


@dataclass(frozen=True, slots=True)
class Patch:
    """Replace `old` by `new` in one file of a copy of the code (a path relative to the repository)."""

    path: str
    old: str
    new: str


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


# The X-Ray SDK is not in the layer; a candidate that needs it gets it beside the layer's dependencies.
XRAY_SDK = ("aws-xray-sdk",)


@dataclass(frozen=True, slots=True)
class Target:
    """One program to time: what it runs, with which function's path and environment."""

    key: str
    label: str
    code: str
    function: Function | None  # None: the floor (boto3 alone)
    patches: tuple[Patch, ...] = ()
    compare_to: str = ""  # for a deferral candidate: the current target it is compared with
    extra_dependencies: tuple[str, ...] = ()  # distributions the candidate needs beyond the layer's
    goal: bool = False  # held to the 1.25x goal


TARGETS: tuple[Target, ...] = (
    Target("floor", "import boto3 + 1 client", FLOOR_CODE, None),
    Target(
        "receiver", "webhook_receiver: import + 3 clients (first request)", RECEIVER_CODE, RECEIVER, goal=True
    ),
    Target("forwarder", "forwarder: import + 1 client (first request)", FORWARDER_CODE, FORWARDER, goal=True),
    Target(
        "reset", "detector_reset: import + 1 client (first request)", RESET_CODE, DETECTOR_RESET, goal=True
    ),
    Target(
        "receiver+models",
        "webhook_receiver + event models (first valid webhook)",
        RECEIVER_FIRST_VALID_CODE,
        RECEIVER,
    ),
    Target(
        "receiver-tracer",
        "webhook_receiver with Powertools Tracer (X-Ray SDK)",
        RECEIVER_CODE,
        RECEIVER,
        _with_tracer("functions/webhook_receiver/webhook_receiver.py"),
        compare_to="receiver",
        extra_dependencies=XRAY_SDK,
    ),
    Target(
        "reset-tracer",
        "detector_reset with Powertools Tracer (X-Ray SDK)",
        RESET_CODE,
        DETECTOR_RESET,
        _with_tracer("functions/detector_reset/detector_reset.py"),
        compare_to="reset",
        extra_dependencies=XRAY_SDK,
    ),
    Target(
        "reset-eager-lambda",
        "detector_reset with its Lambda client made at start",
        RESET_EAGER_LAMBDA_CODE,
        DETECTOR_RESET,
        compare_to="reset",
    ),
)


class PatchDoesNotApply(ValueError):
    """The code changed since the deferral was written: the text to replace is not there."""


def apply_patches(root: Path, patches: Sequence[Patch]) -> None:
    for patch in patches:
        file = root / patch.path
        text = file.read_text(encoding="utf-8")
        if patch.old not in text:
            raise PatchDoesNotApply(f"{patch.path} no longer contains {patch.old.strip()!r}")
        file.write_text(text.replace(patch.old, patch.new, 1), encoding="utf-8")


@dataclass
class Prepared:
    """A target ready to run: argv and environment (and the copy of the code it may live in)."""

    target: Target
    argv: list[str]
    env: dict[str, str]
    wall: list[float] = field(default_factory=list)
    imports: list[float] = field(default_factory=list)
    clients: list[float] = field(default_factory=list)


@contextmanager
def prepared_targets(targets: Sequence[Target]) -> Iterator[tuple[list[Prepared], list[str]]]:
    """Each target with its environment; patched targets get their own copy of the layer and function.
    Yields the prepared targets and a note for each target that could not be prepared.

    Programs run without site-packages (`-S`): their import path is the function's code root, the
    layer's own code, then the layer's dependencies and nothing else, as in Lambda.
    """
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as workdir:
        dependencies = Path(workdir) / "layer-dependencies"
        lambda_layer.build(dependencies)
        prepared: list[Prepared] = []
        # One folder per set of extra distributions, shared by the targets that need the same set.
        folders: dict[tuple[str, ...], Path] = {(): dependencies}
        for target in targets:
            target_dependencies = folders.get(target.extra_dependencies)
            if target_dependencies is None:
                target_dependencies = Path(workdir) / f"dependencies-{len(folders)}"
                lambda_layer.build(target_dependencies)
                lambda_layer.link(target_dependencies, target.extra_dependencies)
                folders[target.extra_dependencies] = target_dependencies
            if target.function is None:
                env = {**base_environment(), **endpoint_variables(DUMMY_ENDPOINT)}
                env["PYTHONPATH"] = str(dependencies)
            else:
                code_root, layer = target.function.code_root, LAYER
                if target.patches:
                    copy = Path(workdir) / target.key
                    code_root = copy / "functions" / target.function.folder
                    layer = copy / "layers" / "shared"
                    shutil.copytree(target.function.code_root, code_root, ignore=_no_bytecode)
                    shutil.copytree(LAYER, layer, ignore=_no_bytecode)
                    try:
                        apply_patches(copy, target.patches)
                    except PatchDoesNotApply as exc:
                        skipped.append(f"{target.label}: not measured, {exc}")
                        continue
                env = lambda_environment(target.function)
                env["LAMBDA_TASK_ROOT"] = str(code_root)
                env["PYTHONPATH"] = os.pathsep.join([str(code_root), str(layer), str(target_dependencies)])
            prepared.append(Prepared(target, [sys.executable, "-S", "-c", target.code], env))
        yield prepared, skipped


def _no_bytecode(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__"]


def time_once(item: Prepared) -> None:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - argv built here from fixed parts
        item.argv, env=item.env, cwd=ROOT, capture_output=True, check=False, timeout=120
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"{item.target.label} failed: " + " / ".join(tail))
    imports, clients = (float(x) for x in done.stdout.split()[-2:])
    item.wall.append(wall)
    item.imports.append(imports)
    item.clients.append(clients)


def measure(prepared: Sequence[Prepared], *, rounds: int, warmup_rounds: int, seed: int = 7) -> None:
    """Run every target once per round, in an order shuffled each round; warm-up rounds (which also
    write the bytecode caches) are dropped."""
    shuffler = random.Random(seed)  # noqa: S311 - run order, not security
    for round_number in range(warmup_rounds + rounds):
        order = list(prepared)
        shuffler.shuffle(order)
        for item in order:
            time_once(item)
            if round_number < warmup_rounds:
                item.wall.pop()
                item.imports.pop()
                item.clients.pop()


# --- -X importtime --------------------------------------------------------------------------------------

_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


@dataclass(frozen=True, slots=True)
class ImportCost:
    module: str
    self_us: int
    cumulative_us: int
    depth: int  # 0 for an import made by the program itself


def parse_importtime(stderr: str) -> list[ImportCost]:
    """The records of `python -X importtime` (its header and any other line are skipped)."""
    costs = []
    for line in stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            self_us, cumulative_us, indent, module = match.groups()
            costs.append(ImportCost(module, int(self_us), int(cumulative_us), max(0, (len(indent) - 1) // 2)))
    return costs


def top_imports(costs: Sequence[ImportCost], count: int = TOP_IMPORTS) -> list[ImportCost]:
    return sorted(costs, key=lambda c: c.cumulative_us, reverse=True)[:count]


def importtime(item: Prepared) -> list[ImportCost]:
    done = subprocess.run(  # noqa: S603 - argv built here from fixed parts
        [item.argv[0], "-X", "importtime", *item.argv[1:]],
        env=item.env,
        cwd=ROOT,
        capture_output=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{item.target.label} failed under -X importtime")
    return parse_importtime(done.stderr.decode("utf-8", errors="replace"))


def importtime_table(costs: Sequence[ImportCost]) -> str:
    rows = [
        [f"{'. ' * c.depth}{c.module}", f"{c.cumulative_us / 1000:.1f}", f"{c.self_us / 1000:.1f}"]
        for c in top_imports(costs)
    ]
    return markdown_table(["module (. = depth)", "cumulative ms", "self ms"], rows)


# --- the section -----------------------------------------------------------------------------------------


def run(*, rounds: int, warmup_rounds: int) -> Section:
    section = Section("Cold start")
    with prepared_targets(TARGETS) as (prepared, skipped):
        measure(prepared, rounds=rounds, warmup_rounds=warmup_rounds)
        by_key = {p.target.key: p for p in prepared}
        floor = median(by_key["floor"].wall)
        for item in prepared:
            if item.target.goal:
                section.figures.append(
                    Figure(
                        f"cold start, {item.target.function.folder}",  # type: ignore[union-attr]
                        median(item.wall) * 1000,
                        floor * 1000,
                        "ms",
                        GOAL,
                        baseline_name="boto3 + 1 client",
                        note=_explain(item, by_key["floor"]),
                    )
                )
        section.details.append(_phase_table(prepared, floor, rounds))
        section.details.append(_deferral_table(prepared, by_key, floor))
        if skipped:
            section.details.append("\n".join(f"- {note}" for note in skipped))
        for key in ("receiver", "forwarder", "reset"):
            if key in by_key:
                costs = importtime(by_key[key])
                section.details.append(
                    f"Top {TOP_IMPORTS} imports of {key} by cumulative time"
                    " (`python -X importtime`, one run):"
                    f"\n\n{importtime_table(costs)}"
                )
    return section


def _explain(item: Prepared, floor: Prepared) -> str:
    extra_imports = (median(item.imports) - median(floor.imports)) * 1000
    extra_clients = (median(item.clients) - median(floor.clients)) * 1000
    return (
        f"{format_number(extra_imports)} ms more importing and {format_number(extra_clients)} ms more "
        "creating clients than the floor (medians)"
    )


def _phase_table(prepared: Sequence[Prepared], floor: float, rounds: int) -> str:
    rows = [
        [
            p.target.label,
            f"{median(p.wall) * 1000:.0f}",
            f"{min(p.wall) * 1000:.0f}-{max(p.wall) * 1000:.0f}",
            f"{median(p.imports) * 1000:.0f}",
            f"{median(p.clients) * 1000:.0f}",
            f"{median(p.wall) / floor:.2f}x",
        ]
        for p in prepared
    ]
    return (
        f"Every program, median of {rounds} runs (process wall time; import and client phases timed inside "
        "the process):\n\n"
        + markdown_table(["program", "wall ms", "range ms", "imports ms", "clients ms", "vs floor"], rows)
    )


def _deferral_table(prepared: Sequence[Prepared], by_key: dict[str, Prepared], floor: float) -> str:
    rows = []
    for item in prepared:
        base = by_key.get(item.target.compare_to)
        if base is None:
            continue
        saved = (median(item.wall) - median(base.wall)) * 1000
        rows.append(
            [
                item.target.label,
                f"{saved:.0f}",
                f"{median(item.wall) / floor:.2f}x -> {median(base.wall) / floor:.2f}x",
            ]
        )
    if not rows:
        return "No earlier variant could be measured."
    return (
        "What leaving out or deferring saves: each row is the code with an earlier choice put back (a "
        "patched copy in a temporary folder, measured in the same rounds), against the code as it is:\n\n"
        + markdown_table(["earlier variant", "saved ms (median)", "ratio to floor: then -> now"], rows)
    )
