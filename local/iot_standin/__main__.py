"""Command line: `python -m iot_standin [serve options]` or `python -m iot_standin fleet ...`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge_local.processes import wait_for_stop

from .app import DEFAULT_MAX_RECORDS, Standin
from .detectors import SeedError
from .faults import FaultPlanError
from .fleet import fleet_seed
from .server import make_server


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["fleet"]:
        return _fleet(args[1:])
    return _serve(args)


def _serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iot_standin",
        description="Local stand-in for AWS IoT managed integrations (SendConnectorEvent), AWS IoT Events "
        "Data and AWS IoT Core's Publish. Subcommand 'fleet' prints a generated seed instead.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument("--seed", type=Path, help="JSON seed: detector models, detectors and inputs")
    parser.add_argument("--faults", type=Path, help="JSON fault plan in force at start-up")
    parser.add_argument("--random-seed", type=int, default=0, help="seed of the fault dice (default 0)")
    parser.add_argument(
        "--connectors", help="comma-separated connector ids; others get ResourceNotFoundException"
    )
    parser.add_argument(
        "--max-records",
        type=int,
        default=DEFAULT_MAX_RECORDS,
        help=f"recorded events and messages kept, oldest dropped first (default {DEFAULT_MAX_RECORDS})",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request to stderr")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be from 0 to 65535")
    if args.max_records < 1:
        parser.error("--max-records must be at least 1")

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    try:
        seed = _read_json(args.seed, "seed") if args.seed else None
        faults = _read_json(args.faults, "fault plan") if args.faults else None
        connectors = [c for c in args.connectors.split(",") if c] if args.connectors is not None else None
        standin = Standin(
            seed=seed,
            faults=faults,
            random_seed=args.random_seed,
            connectors=connectors,
            max_records=args.max_records,
        )
    except (SeedError, FaultPlanError, ValueError) as error:
        print(f"iot-standin: {error}", file=sys.stderr)
        return 2
    try:
        server = make_server(standin, args.host, args.port)
    except OSError as error:
        print(f"iot-standin: cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 1

    server.start()
    print(f"iot-standin listening on {server.url}", flush=True)
    try:
        wait_for_stop()
    finally:
        server.stop()
    return 0


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read the {what} file {path}: {error.strerror}") from None
    except ValueError as error:
        raise ValueError(f"the {what} file {path} is not valid JSON: {error}") from None


def _pairs(raw: str | None, option: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in (raw or "").split(","):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"{option} takes name=value pairs separated by commas")
        found[name] = value
    return found


def _fleet(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m iot_standin fleet",
        description="Print a seed document for a fleet of detectors (deterministic) to stdout.",
    )
    parser.add_argument("--model", required=True, help="detector model name")
    parser.add_argument("--count", type=int, required=True, help="number of detectors")
    parser.add_argument("--states", required=True, help="comma-separated states, given to detectors in turn")
    parser.add_argument("--variables", help="name=value,... set on every detector")
    parser.add_argument(
        "--timers", help="name=seconds,... set on every detector (seconds after the fleet epoch)"
    )
    parser.add_argument("--key-prefix", default="device-", help="key values are <prefix>00000, ...")
    parser.add_argument("--model-version", default="1", help="detector model version (default 1)")
    parser.add_argument("--reset-input", help="also declare this input with a reset rule for the model")
    parser.add_argument("--reset-state", help="state the reset rule sets (default: the first state)")
    parser.add_argument("--key-field", default="keyValue", help="payload field naming the detector key value")
    args = parser.parse_args(argv)
    states = [s for s in args.states.split(",") if s]
    if args.count < 0:
        parser.error("--count must be zero or more")
    if not states:
        parser.error("--states needs at least one state")
    try:
        variables = _pairs(args.variables, "--variables")
        timers = {name: int(value) for name, value in _pairs(args.timers, "--timers").items()}
    except (argparse.ArgumentTypeError, ValueError) as error:
        parser.error(
            str(error)
            if isinstance(error, argparse.ArgumentTypeError)
            else "--timers seconds must be whole numbers"
        )
    seed = fleet_seed(
        args.model,
        args.count,
        states,
        variables=variables,
        timers=timers,
        key_prefix=args.key_prefix,
        version=args.model_version,
        reset_input=args.reset_input,
        reset_state=args.reset_state,
        key_field=args.key_field,
    )
    try:
        json.dump(seed, sys.stdout, indent=1)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`): nothing is wrong, and nothing more can be written.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
