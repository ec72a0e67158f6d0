"""Operator commands: `python -m iotbridge reset --plan plan.json [--dry-run]`.

Runs a reset plan from a workstation through the same code as the scheduled function, until done (no time
budget, no continuation). Exit codes: 0 done, 1 failures over the allowed share (or the run stopped early),
2 invalid plan or bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m iotbridge", description="IoT bridge operator commands.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    reset = commands.add_parser(
        "reset", help="reset detectors (IoT Events Data API or a DynamoDB detector table) as a plan file says"
    )
    reset.add_argument("--plan", required=True, metavar="FILE", help="reset plan (JSON); '-' reads stdin")
    reset.add_argument("--dry-run", action="store_true", help="list and report only, change nothing")
    reset.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    return parser


def _progress_printer(stream: TextIO, every_seconds: float = 2.0) -> Callable[..., None]:
    last = [time.monotonic()]

    def show(totals: object) -> None:
        now = time.monotonic()
        if now - last[0] < every_seconds:
            return
        last[0] = now
        matched = getattr(totals, "matched", 0)
        reset = getattr(totals, "reset", 0)
        failed = getattr(totals, "failed_total", 0)
        print(f"... matched {matched}, reset {reset}, failed {failed}", file=stream, flush=True)

    return show


def render_table(summary: dict[str, object]) -> str:
    """The summary as aligned `name  value` rows; nested counts indented under their heading."""
    rows: list[tuple[str, str]] = []
    for key, value in summary.items():
        if isinstance(value, dict):
            rows.append((key, "" if value else "-"))
            rows.extend((f"  {k}", str(v)) for k, v in sorted(value.items()))
        elif isinstance(value, list):
            rows.append((key, ", ".join(str(v) for v in value) if value else "-"))
        else:
            rows.append((key, str(value)))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}".rstrip() for name, value in rows)


def _reset(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotbridge.errors import InvalidInputError
    from iotbridge.reset.domain.plan import parse_plan_json
    from iotbridge.reset.wiring import ResetWiring

    try:
        # Bytes: decoding is the plan parser's job, so a file in the wrong encoding is a plan problem.
        text = sys.stdin.buffer.read() if args.plan == "-" else Path(args.plan).read_bytes()
    except OSError as exc:
        print(f"cannot read the plan: {exc.strerror or exc} ({args.plan})", file=err)
        return EXIT_USAGE
    try:
        plan = parse_plan_json(text)
        wiring = ResetWiring.from_environment()
    except InvalidInputError as exc:  # the plan's problems, or the settings'
        print(str(exc), file=err)
        return EXIT_USAGE
    failure_share = wiring.settings.failure_share
    if args.dry_run:
        plan = plan.model_copy(update={"dry_run": True})

    report = wiring.cli_job(progress=_progress_printer(err), backend=plan.backend).run(plan)

    summary = report.to_dict()
    print(json.dumps(summary, indent=2) if args.json else render_table(summary), file=out)
    problem = report.problem(failure_share)
    if problem:
        print(f"reset failed: {problem}", file=err)
        return EXIT_FAILED
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage message
        return EXIT_USAGE if exc.code else EXIT_OK
    if args.command == "reset":
        return _reset(args, out, err)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
