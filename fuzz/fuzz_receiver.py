"""Fuzz target: the receiver's signature header parsing and verification, and its body validation.

An input is `webhook-id \\n webhook-timestamp \\n webhook-signature \\n body`. A signature field of `SIGN`
is replaced by a valid signature of the rest, so that mutated bodies get past verification and reach the
JSON parser and the SendConnectorEvent contract, as they would with a real sender's secret.

The oracle: every step either succeeds or fails with its documented error (SignatureError; ValueError or
RecursionError from the JSON parser; EventValidationError), and whatever the contract accepts can be queued
(UTF-8 encodable) and passes botocore's own validation of SendConnectorEvent. Anything else raises.

With atheris installed this is coverage-guided (libFuzzer arguments pass through, e.g. `-runs=100000`).
Without it, `--plain` runs a random mutation loop over the seeds with the same oracle: not coverage-guided.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(_ROOT / "layers" / "shared"), str(_ROOT / "functions" / "webhook_receiver")]

try:
    import atheris
except ImportError:  # the plain loop below still runs
    atheris = None


def _instrumented() -> Any:
    return atheris.instrument_imports() if atheris is not None else _NoInstrumentation()


class _NoInstrumentation:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


with _instrumented():
    from iotbridge.send_connector_event.body import EventValidationError, wire_events
    from iotbridge.send_connector_event.queued import QueuedEvent
    from iotbridge.signatures.standard_webhooks import SignatureError, parse_headers, sign, verify_signature

import botocore.session  # noqa: E402 - after the import roots are set up
from botocore.validate import ParamValidator  # noqa: E402

CONNECTOR_ID = "demo-connector"
SECRET = "whsec_" + base64.b64encode(b"fuzzing key, not a real secret").decode()
KEYS = (base64.b64decode(SECRET.removeprefix("whsec_")),)
NOW = 1_790_000_000
TOLERANCE_SECONDS = 300
SIGN_TOKEN = b"SIGN"
SEEDS = Path(__file__).resolve().parent / "seeds"

_INPUT_SHAPE = (
    botocore.session.get_session()
    .get_service_model("iot-managed-integrations")
    .operation_model("SendConnectorEvent")
    .input_shape
)


class Finding(AssertionError):
    """The oracle saw something the documented behaviour rules out."""


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _text(field: bytes) -> str:
    # Headers reach the receiver as str; bytes that are not UTF-8 arrive as replacement characters.
    return field.decode("utf-8", errors="replace")


def check_headers(webhook_id: str, timestamp: str, signature: str, body: bytes) -> bool:
    """Parse and verify; True when the request is authentic. Only SignatureError may escape as a refusal."""
    try:
        signed = parse_headers(webhook_id, timestamp, signature)
    except SignatureError as exc:
        if not exc.reason:
            raise Finding("SignatureError without a reason") from exc
        return False
    if not isinstance(signed.timestamp, int) or not signed.signatures:
        raise Finding(f"parse_headers accepted an unusable header set: {signed!r}")
    try:
        verify_signature(signed, body, KEYS, now=NOW, tolerance_seconds=TOLERANCE_SECONDS)
    except SignatureError:
        return False
    return True


def check_body(body: bytes) -> None:
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return
    try:
        events = wire_events(data, CONNECTOR_ID)
    except EventValidationError as exc:
        if not exc.problems or not all(isinstance(p.path, str) and p.rule for p in exc.problems):
            raise Finding(f"EventValidationError without well-formed problems: {exc.problems!r}") from exc
        return
    except RecursionError:
        return  # a JSON value nested too deeply for the validator: answered like malformed JSON
    for index, event in enumerate(events):
        queued = QueuedEvent(CONNECTOR_ID, "msg_fuzz", index, NOW, event)
        message = queued.to_message_body().encode("utf-8")  # raises if it could not be queued
        if QueuedEvent.from_message_body(message.decode("utf-8")) != queued:
            raise Finding("queued event does not read back unchanged")
        report = ParamValidator().validate(queued.send_connector_event_params(), _INPUT_SHAPE)
        if report.has_errors():
            raise Finding(f"accepted event fails botocore validation: {report.generate_report()}")


def test_one_input(data: bytes) -> None:
    parts = data.split(b"\n", 3)
    if len(parts) < 4:
        check_body(data)
        return
    raw_id, raw_timestamp, raw_signature, body = parts
    webhook_id, timestamp = _text(raw_id), _text(raw_timestamp)
    signed_here = (
        raw_signature == SIGN_TOKEN and webhook_id.isascii() and timestamp.isascii() and timestamp.isdigit()
    )
    signature = sign(SECRET, webhook_id, int(timestamp), body) if signed_here else _text(raw_signature)
    authentic = check_headers(webhook_id, timestamp, signature, body)
    if signed_here:
        # A correct signature within tolerance must verify, whatever the body.
        in_tolerance = abs(int(timestamp) - NOW) <= TOLERANCE_SECONDS and len(timestamp) <= 12
        plain_id = 0 < len(webhook_id) <= 256 and webhook_id.isprintable()
        if in_tolerance and plain_id and not authentic:
            raise Finding("a valid signature was refused")
    if authentic:
        check_body(body)


# --- Without atheris: a random mutation loop over the seeds (not coverage-guided) -----------------------

_TOKENS = [
    b'"',
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"true",
    b"-0",
    b"1e999",
    b"NaN",
    b'"\\ud800"',
    b'"\\u0000"',
    b"\xff",
    b"\xc3\xa9",
    b"\n",
    b" v1,",
    b"9" * 20,
    b'"Operation"',
    b'"DEVICE_EVENT"',
    b'"MatterEndpoint"',
    b'"clusters"',
]


def _mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(6)
        at = rng.randint(0, len(out))
        if choice == 0 and out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif choice == 1:
            out[at:at] = rng.choice(_TOKENS)
        elif choice == 2 and out:
            del out[at : at + rng.randint(1, 8)]
        elif choice == 3 and out:
            start = rng.randrange(len(out))
            out[at:at] = out[start : start + rng.randint(1, 32)]
        elif choice == 4:
            other = rng.choice(pool)
            cut = rng.randint(0, len(other))
            out = out[:at] + bytearray(other[cut:])
        else:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
    return bytes(out[:4096])


def plain_loop(runs: int, seed: int, run: Callable[[bytes], None]) -> int:
    seeds = [path.read_bytes() for path in sorted(SEEDS.glob("*")) if path.is_file()] or [b"{}"]
    rng = random.Random(seed)  # noqa: S311 - reproducible mutations, not cryptography
    pool = list(seeds)
    started = time.perf_counter()
    for count in range(1, runs + 1):
        data = _mutate(rng, rng.choice(pool), pool)
        try:
            run(data)
        except Exception:
            sys.stderr.write(
                f"finding after {count} inputs; input (base64): {base64.b64encode(data).decode()}\n"
            )
            raise
        if rng.random() < 0.01:
            pool.append(data)  # keep some mutants as parents: deeper mutations, still not coverage-guided
    elapsed = time.perf_counter() - started
    print(
        f"plain mutation loop (not coverage-guided): {runs} inputs in {elapsed:.1f} s, {runs / elapsed:.0f}/s"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--plain", action="store_true", help="random mutation loop, even if atheris is present"
    )
    parser.add_argument("--runs", type=int, default=100_000, help="inputs for the plain loop")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the plain loop")
    parser.add_argument("--replay", type=Path, nargs="*", help="run the oracle on these input files and exit")
    args, libfuzzer_args = parser.parse_known_args()
    if args.replay:
        for path in args.replay:
            test_one_input(path.read_bytes())
            print(f"{path}: ok")
        return 0
    if args.plain or atheris is None:
        if atheris is None:
            print("atheris is not installed: running the plain mutation loop, which is NOT coverage-guided")
        return plain_loop(args.runs, args.seed, test_one_input)
    atheris.Setup([sys.argv[0], *libfuzzer_args], test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
