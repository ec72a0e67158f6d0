"""Operator commands.

`python -m iotbridge reset --plan plan.json [--dry-run]` runs a reset plan from a workstation through the
same code as the scheduled function, until done (no time budget, no continuation). Exit codes: 0 done, 1
failures over the allowed share (or the run stopped early), 2 invalid plan or bad usage.

`python -m iotbridge profile validate FILE` lists every problem of a connector profile; `python -m iotbridge
profile test FILE --payload native.json [--headers headers.json] [--secret-file secret.txt]` prints the
SendConnectorEvent bodies the relay would queue for that webhook, or the answer it would give and why. Exit
codes: 0 valid / accepted, 1 the relay would refuse the webhook, 2 invalid profile or bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
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
    test.add_argument("--connector-id", default="profile-test", help="the connector id of the request")
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
        _warn_of_an_unsigned_delivery_id(profile, err)
        return EXIT_OK
    return _profile_test(args, profile, out, err)


def _warn_of_an_unsigned_delivery_id(profile: Any, err: TextIO) -> None:
    from iotbridge.profile.verification import delivery_id_is_signed

    if delivery_id_is_signed(profile.verification, profile.deduplication):
        return
    header = profile.message_id_header
    print(
        f"warning: the delivery id ({header} header) is not part of the signed content, so a captured "
        "delivery could be sent again under a new id; the relay tells deliveries apart by the digest of the "
        "signed bytes instead (identical signed bytes within the dedupe window are one delivery). Sign the "
        "id ({id} in signedContent) or take it from the body (deduplication.body) where the cloud allows.",
        file=err,
    )


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
    verdict = try_webhook(
        profile, body=body, headers=headers, secret=secret, connector_id=args.connector_id, now=args.now
    )
    answer = verdict.answer
    if answer.status == 202:
        print(json.dumps(verdict.events, indent=2), file=out)
        ignored = f", {answer.ignored} native events matched no rule (ignored)" if answer.ignored else ""
        print(f"202: {len(verdict.events)} SendConnectorEvent bodies would be queued{ignored}", file=err)
        return EXIT_OK
    print(json.dumps(answer.body, indent=2), file=out)
    print(
        f"{answer.status}: the relay would refuse this webhook (reason, never told to the sender: "
        f"{answer.outcome})",
        file=err,
    )
    return EXIT_FAILED


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
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
