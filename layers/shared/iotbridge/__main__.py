"""Operator commands.

`python -m iotbridge reset --plan plan.json [--dry-run]` runs a reset plan from a workstation through the
same code as the scheduled function, until done (no time budget, no continuation). Exit codes: 0 done, 1
failures over the allowed share (or the run stopped early), 2 invalid plan or bad usage.

`python -m iotbridge profile validate FILE` lists every problem of a connector profile, and warns (on stderr,
exit code 0) of what its verification does not protect against and of expressions that do not say what they
read as; `python -m iotbridge profile test FILE --payload native.json [--headers headers.json] [--secret-file
secret.txt]` prints the SendConnectorEvent bodies the relay would queue for that webhook, or the answer it
would give and why (`--lookups lookups.json`: what the connector function recorded for the profile's lookups;
each miss is named; `--explain`: how each native event was mapped, in names and types, never values). Exit
codes: 0 valid / accepted, 1 the relay would refuse the webhook, 2 invalid profile or bad usage.

`python -m iotbridge catalogue [NAME]` lists the Matter clusters and device types a profile may name; with a
cluster's name, its attributes (type, range, unit), commands and events with their fields; with a device
type's, its required clusters. Exit codes: 0 listed, 2 no cluster or device type has that name.

`python -m iotbridge dead-letters list|show|redrive|purge` triages the event dead-letter queue
(iotbridge.operations.dead_letters).

`python -m iotbridge replay --connector ID [--since T] [--until T] [--dry-run] [--stack NAME | --bucket ...]`
runs the connector's refused and skipped webhooks, as the receiver kept them, through its current profile
and queues what now maps (iotbridge.operations.replay). Exit codes: 0 every one queued (or queued before),
1 some still refused or skipped, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

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

    profile = commands.add_parser("profile", help="check a connector profile, or try a webhook against it")
    actions = profile.add_subparsers(dest="action", required=True, metavar="ACTION")
    validate = actions.add_parser("validate", help="list every problem of a profile")
    validate.add_argument("file", metavar="FILE", help="connector profile (JSON)")
    test = actions.add_parser("test", help="what the relay would answer and queue for one native webhook")
    test.add_argument("file", metavar="FILE", help="connector profile (JSON)")
    test.add_argument("--payload", required=True, metavar="FILE", help="the webhook body, byte for byte")
    test.add_argument(
        "--headers",
        metavar="FILE",
        help="the webhook's headers (a JSON object), to verify its signature; without it the body is "
        "signed here with the secret, and only the mapping is tested",
    )
    test.add_argument(
        "--secret-file",
        metavar="FILE",
        help="the connector's secret as stored (one value per line); without it a made-up one is used",
    )
    test.add_argument("--now", type=int, metavar="UNIX", help="the time to check timestamps against")
    test.add_argument(
        "--lookups",
        metavar="FILE",
        help='what the connector function recorded for the profile\'s lookups (JSON: {"command": {"<cloud '
        'request id>": "<TraceId>"}, "discovery": {"<user id, or *>": "<DeviceDiscoveryId>"}}); without it '
        "every lookup misses",
    )
    test.add_argument("--connector-id", default="profile-test", help="the connector id of the request")
    test.add_argument(
        "--explain",
        action="store_true",
        help="say how each native event was mapped: the rule that matched or why each rule's when did not "
        "hold, each member's and attribute's source and transform, what was skipped (types, never values)",
    )
    catalogue = commands.add_parser(
        "catalogue", help="the Matter clusters and device types a profile may name, and what each holds"
    )
    catalogue.add_argument(
        "name",
        nargs="?",
        metavar="NAME",
        help="a cluster (its attributes, commands and events with their fields) or a device type (its "
        "required clusters); without one, every cluster and device type",
    )
    from iotbridge.operations import dead_letters

    dead_letters.add_parser(commands)
    from iotbridge.operations import replay

    replay.add_parser(commands)
    return parser


def _catalogue(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotbridge.matter import CatalogueError
    from iotbridge.matter.listing import listing

    try:
        print(listing(args.name), file=out)
    except CatalogueError as exc:
        print(str(exc), file=err)
        return EXIT_USAGE
    return EXIT_OK


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
    from iotbridge.detector_reset.domain.plan import parse_plan_json
    from iotbridge.detector_reset.wiring import ResetWiring
    from iotbridge.errors import InvalidInputError

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


def _read(path: str, what: str, err: TextIO) -> bytes | None:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        print(f"cannot read the {what}: {exc.strerror or exc} ({path})", file=err)
        return None


def _profile(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotbridge.profile.document import ProfileError, parse_profile_json

    text = _read(args.file, "profile", err)
    if text is None:
        return EXIT_USAGE
    try:
        profile = parse_profile_json(text)
    except ProfileError as exc:
        print(str(exc), file=err)
        return EXIT_USAGE
    if args.action == "validate":
        rules = ", ".join(rule.name for rule in profile.rules)
        print(f"{args.file}: valid ({profile.verification.scheme}; rules {rules})", file=out)
        for warning in profile_warnings(profile):
            print(f"warning: {warning}", file=err)
        return EXIT_OK
    return _profile_test(args, profile, out, err)


def profile_warnings(profile: Any) -> list[str]:
    """What `profile validate` warns of in a valid profile: what its verification does not protect against
    (`verification.weaknesses`), what its outbound block does not (`outbound.outbound_warnings`), then each
    expression that reads as something other than what it says (`expressions.precedence_warnings`),
    prefixed with where it is in the document."""
    from iotbridge.profile.expressions import precedence_warnings
    from iotbridge.profile.verification import weaknesses

    found = [
        f"verification: {weakness}"
        for weakness in weaknesses(profile.verification, profile.deduplication, profile.source_addresses)
    ]
    if profile.outbound is not None:
        from iotbridge.profile.outbound import outbound_warnings

        found.extend(outbound_warnings(profile.outbound, profile.general_authorization))
    for path, text in _expressions_of(profile):
        found.extend(f"{path}: {warning}" for warning in precedence_warnings(text))
    return found


def _expressions_of(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every JMESPath expression of a profile, with its path in the document (`rules[2].when`), a template's
    placeholders included."""
    from pydantic import BaseModel

    from iotbridge.profile.expressions import Expression
    from iotbridge.profile.templates import JsonTemplate, TextTemplate

    if isinstance(node, Expression):
        yield path, str(node)
    elif isinstance(node, TextTemplate | JsonTemplate):  # a request's template: its placeholders
        yield from ((path, str(expression)) for expression in node.reads())
    elif isinstance(node, BaseModel):
        for name, info in type(node).model_fields.items():
            yield from _expressions_of(getattr(node, name), f"{path}.{info.alias or name}".lstrip("."))
        parts = getattr(node, "parts", ())  # a template's text and `{expression}` placeholders
        for part in parts if isinstance(parts, tuple) else ():
            if isinstance(part, Expression):
                yield f"{path}.template", str(part)
    # Lists and maps of models and templates; a literal's own JSON (any depth) holds no expression.
    elif isinstance(node, list | tuple | dict):
        members = (
            ((f"{path}.{key}".lstrip("."), item) for key, item in node.items())
            if isinstance(node, dict)
            else ((f"{path}[{index}]", item) for index, item in enumerate(node))
        )
        for where, item in members:
            if isinstance(item, BaseModel | Expression | TextTemplate | JsonTemplate):
                yield from _expressions_of(item, where)


def _profile_test(args: argparse.Namespace, profile: Any, out: TextIO, err: TextIO) -> int:
    from iotbridge.webhook_receiver.domain.verification import sign
    from iotbridge.webhook_receiver.offline import try_webhook

    body = _read(args.payload, "payload", err)
    if body is None:
        return EXIT_USAGE
    secret_text = _read(args.secret_file, "secret", err) if args.secret_file else b""
    if secret_text is None:
        return EXIT_USAGE
    secret = secret_text.decode("utf-8", errors="replace") or _MADE_UP_SECRET
    if args.headers:
        raw_headers = _read(args.headers, "headers", err)
        if raw_headers is None:
            return EXIT_USAGE
        try:
            headers = json.loads(raw_headers)
        except ValueError:
            headers = None
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            print(f"the headers must be a JSON object of text values ({args.headers})", file=err)
            return EXIT_USAGE
    else:
        try:
            headers = sign(profile.verification, secret, body, message_id=_TEST_DELIVERY_ID, now=args.now)
        except ValueError as exc:
            print(f"cannot sign here: {exc}; give --headers", file=err)
            return EXIT_USAGE
        if profile.message_id_header:
            headers.setdefault(profile.message_id_header, _TEST_DELIVERY_ID)
        print("signed here with the secret: the mapping is tested, the sender's signature is not", file=err)
    lookups = _lookups(args.lookups, err) if args.lookups else {}
    if lookups is None:
        return EXIT_USAGE
    verdict = try_webhook(
        profile,
        body=body,
        headers=headers,
        secret=secret,
        connector_id=args.connector_id,
        now=args.now,
        lookups=lookups,
        explain=args.explain,
    )
    if verdict.trace is not None:
        print(verdict.trace.render(), file=err)
    for kind, key in verdict.lookup_misses:
        named = "the connector's latest" if key is None else json.dumps(key)
        print(f"lookup miss: no {kind} recorded for {named}", file=err)
    return _told(verdict.answer, verdict.events, out, err)


def _told(answer: Any, events: list[dict[str, Any]], out: TextIO, err: TextIO) -> int:
    """The relay's verdict on the tested webhook: what it would queue (and skip), or its answer and the
    reason the sender is never told."""
    if answer.status == 202:
        print(json.dumps(events, indent=2), file=out)
        skipped = answer.body.get("skipped", [])
        for item in skipped:
            print(f"skipped: {item['path'] or '(body)'} (rule {item['rule']}): {item['reason']}", file=err)
        ignored = f", {answer.ignored} native events matched no rule (ignored)" if answer.ignored else ""
        if skipped:
            ignored += f", {len(skipped) + answer.body.get('moreSkipped', 0)} skipped"
        print(f"202: {len(events)} SendConnectorEvent bodies would be queued{ignored}", file=err)
        return EXIT_OK
    print(json.dumps(answer.body, indent=2), file=out)
    print(
        f"{answer.status}: the relay would refuse this webhook (reason, never told to the sender: "
        f"{answer.outcome})",
        file=err,
    )
    return EXIT_FAILED


def _lookups(path: str, err: TextIO) -> dict[str, dict[str, str]] | None:
    """The lookups file's recorded ids, or None (said on `err`) when it cannot be used."""
    from iotbridge.webhook_receiver.offline import given_lookups

    text = _read(path, "lookups", err)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        print(f"the lookups file is not JSON ({path})", file=err)
        return None
    try:
        return given_lookups(data)
    except ValueError as exc:
        print(f"the lookups file: {exc} ({path})", file=err)
        return None


_TEST_DELIVERY_ID = "profile-test-delivery"
# For `profile test` without a secret file: only the tool's own signature is checked with it.
_MADE_UP_SECRET = "whsec_" + "cHJvZmlsZSB0ZXN0IHNlY3JldCwgbm90IGEgcmVhbCBvbmU="


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage message
        return EXIT_USAGE if exc.code else EXIT_OK
    if args.command == "reset":
        return _reset(args, out, err)
    if args.command == "profile":
        return _profile(args, out, err)
    if args.command == "catalogue":
        return _catalogue(args, out, err)
    if args.command == "dead-letters":
        from iotbridge.operations import dead_letters

        return dead_letters.run(args, out, err)
    if args.command == "replay":
        from iotbridge.operations import replay

        return replay.run(args, out, err)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
