"""`python -m bench [--smoke] [--only NAMES] [--output FILE]`: run the benchmarks, print the table, write
the report (docs/benchmarks.md by default for a full run; a smoke run writes only with --output).

Benchmarks never fail on a slow machine: the exit code is 1 only when the benchmark code itself broke.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bench import (
    cold_start,
    connector,
    forwarder_batch,
    receiver,
    reset_dynamodb,
    reset_runs,
    sdk_calls,
    verification,
)
from bench.layout import FUNCTIONS, ROOT, template_environment
from bench.report import Section, command_line, console_summary, document, machine
from bench.sizing import Findings, sizing_section


@dataclass(frozen=True, slots=True)
class Benchmark:
    """One section of the report: `run(smoke=..., findings=...)` measures and returns it, and may record
    in `findings` what the MemorySize section needs."""

    name: str  # what --only selects it by (several may share one)
    title: str
    run: Callable[..., Section]


# The report's sections, in order. A new benchmark is one more line here.
BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("cold", "Cold start", cold_start.run),
    Benchmark("receiver", "Receiver, warm, through the SDK", receiver.run_warm),
    Benchmark(
        "profiles", "Receiver, warm: a device cloud's own webhooks through a profile", receiver.run_profiled
    ),
    Benchmark(
        "verification", "Signature schemes: verification per request, warm and first", verification.run
    ),
    Benchmark("connector", "Connector, warm, through the SDK", connector.run),
    Benchmark("calls", "AWS call, client side", sdk_calls.run),
    Benchmark("forwarder", "Forwarder", forwarder_batch.run),
    Benchmark("reset", "Reset throughput", reset_runs.run_throughput),
    Benchmark("reset-table", "Reset on the detector table", reset_dynamodb.run),
    Benchmark("memory", "Reset job: peak memory", reset_runs.run_memory),
    Benchmark("memory", "Receiver: memory over many requests", receiver.run_memory),
)
SECTIONS = tuple(dict.fromkeys(b.name for b in BENCHMARKS))
DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="a few iterations of each, to check the code runs"
    )
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}"
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="report file (default: docs/benchmarks.md on a full run)"
    )
    return parser


def _guarded(title: str, work: Callable[[], Section]) -> Section:
    """Run one benchmark; a failure of the benchmark code becomes the section's error, not a crash."""
    started = time.perf_counter()
    print(f"... {title}", file=sys.stderr, flush=True)
    try:
        section = work()
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        section = Section(title, error=f"{type(exc).__name__}: {str(exc)[:500]}")
    print(f"    {title}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return section


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(args_list)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SECTIONS)}", file=sys.stderr
        )
        return 2
    smoke = bool(args.smoke)
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    started = time.perf_counter()
    findings = Findings()
    sections: list[Section] = []
    for benchmark in BENCHMARKS:
        if benchmark.name in chosen:
            sections.append(_guarded(benchmark.title, partial(benchmark.run, smoke=smoke, findings=findings)))
    if findings.peaks:
        sections.append(_guarded("MemorySize", lambda: sizing_section(findings, _current_memory())[0]))

    duration = time.perf_counter() - started
    print(console_summary(sections))
    output = args.output if args.output is not None else (None if smoke else DEFAULT_OUTPUT)
    if output is not None:
        text = document(
            sections,
            command=command_line(args_list),
            started=started_at,
            duration_seconds=duration,
            machine_info=machine(),
            preface=_preface(smoke),
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
    return 1 if any(s.error for s in sections) else 0


def _current_memory() -> dict[str, int]:
    current = {}
    for function in FUNCTIONS:
        try:
            current[function.folder] = template_environment(function)[1]
        except (LookupError, ValueError):
            continue
    return current


def _preface(smoke: bool) -> str:
    lines = [
        "Machines running this are shared and noisy, so every figure is a ratio against a baseline measured "
        "in the same run; nothing here fails on a slow machine. Programs run with the import path Lambda "
        "gives each function (its code folder, then the shared layer) and the environment template.yaml "
        "sets; the AWS services are the local stand-ins (the IoT stand-in over HTTP on 127.0.0.1) or "
        "answered in the measuring process behind real botocore clients (bench/answered_aws.py), so "
        "botocore's client-side work is counted. Lambda's CPU is modelled from the CPU measured here "
        "(bench/lambda_model.py): the init phase at one vCPU, invocations at the MemorySize's share of one.",
    ]
    if smoke:
        lines.append("\n**Smoke run: a few iterations only; the figures are not representative.**")
    return "\n".join(lines)
