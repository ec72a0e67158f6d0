"""Schemathesis against the local webhook endpoint, driven by the committed contract (docs/openapi.json).

The receiver runs as in `make local`: its own process behind the local HTTP API, with moto and the IoT
stand-in on free loopback ports. Every generated request is signed as a Standard Webhooks sender signs it,
over the exact bytes that go on the wire, so generated bodies get past authentication and meet validation.
Checks: all of schemathesis' defaults (no 5xx, only documented statuses, content types, headers and bodies as
documented), with the expectations narrowed to the contract: a schema-valid signed request is queued (202),
an invalid one gets a documented rejection, a missing signing header 401. A second run signs with a wrong
secret and must get nothing but 401.

`SCHEMATHESIS_MAX_EXAMPLES` (default 30) sets the fuzzing phase's examples per run (the coverage phase adds
about a thousand deterministic cases to the signed run); `SCHEMATHESIS_SEED` changes the seed, fixed by
default so that a run in CI is repeatable.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig

from bridge_local.stack import LocalStack, StackConfig
from iotbridge.signatures.standard_webhooks import MAX_SIGNATURE_HEADER_CHARS, MAX_TIMESTAMP_DIGITS, sign
from samples.webhooks import DEMO_CONNECTOR_ID, DEMO_SECRET

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "openapi.json"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20260520"))
WRONG_SECRET = "whsec_" + base64.b64encode(b"a secret the connector never had").decode()
# The statuses the contract documents for a request that breaks it.
REJECTED = [400, 401, 413, 415, 422]


def _config(*, connector_id: str | None, accepted: list[int], coverage: bool) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            # The event schema is large; generating from it can be slow without anything being wrong.
            "suppress-health-check": ["too_slow"],
            "parameters": {"path.connectorId": connector_id} if connector_id else {},
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": {
                "examples": {"enabled": True},
                # Boundary values and one mutation per constraint: every rule of the contract, kept and
                # broken. Methods the contract does not declare are left out: API Gateway's router answers
                # them (404), never the receiver.
                "coverage": {"enabled": coverage, "unexpected-methods": []},
                "fuzzing": {"enabled": True},
            },
            "checks": {
                "positive_data_acceptance": {"expected-statuses": accepted},
                "negative_data_rejection": {"expected-statuses": REJECTED},
                "missing_required_header": {"expected-statuses": [401]},
            },
        }
    )


# Signed with the connector's secret: a body the contract allows is queued (202), any other gets a documented
# rejection. The connector is the one whose secret signs.
signed_schema = schemathesis.openapi.from_path(
    # 409 is the contract's answer to a webhook-id seen before with another body: generated ids repeat.
    CONTRACT,
    config=_config(connector_id=DEMO_CONNECTOR_ID, accepted=[202, 409], coverage=True),
)
# Signed with a wrong secret, for any connector id: nothing, valid or not, gets further than 401.
forged_schema = schemathesis.openapi.from_path(
    CONTRACT, config=_config(connector_id=None, accepted=[401], coverage=False)
)


class StandardWebhooksSigner(requests.auth.AuthBase):
    """Signs the prepared request the way a sender does: now, over the body bytes as they will be sent.

    What a case made invalid on purpose stays as generated, so that the receiver sees exactly the defect under
    test: a header the case left out stays out, and a timestamp or signature outside the contract's bounds is
    not replaced. A well-formed timestamp becomes the current time (the contract cannot say "recent"), and a
    well-formed signature header becomes the signature of this request.
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        headers = request.headers
        timestamp = headers.get("webhook-timestamp")
        if isinstance(timestamp, str) and _digits(timestamp) and len(timestamp) <= MAX_TIMESTAMP_DIGITS:
            timestamp = str(int(time.time()))
            headers["webhook-timestamp"] = timestamp
        webhook_id = headers.get("webhook-id")
        signature = headers.get("webhook-signature")
        if (
            isinstance(webhook_id, str)
            and isinstance(timestamp, str)
            and isinstance(signature, str)
            and len(signature) <= MAX_SIGNATURE_HEADER_CHARS
        ):
            body = request.body or b""
            raw = body.encode("utf-8") if isinstance(body, str) else body
            assert isinstance(raw, bytes), "schemathesis sends JSON bodies whole, never streamed"
            stamp = int(timestamp) if _digits(timestamp) else 0
            # The receiver gets header values without surrounding white space (RFC 9110): sign what it gets.
            headers["webhook-signature"] = sign(self.secret, webhook_id.strip(" \t"), stamp, raw)
        return request


def as_a_conforming_sender_writes_it(body: Any, connector_id: str) -> Any:
    """A schema-valid body with the two rules the contract states in words but JSON Schema cannot: whole
    numbers are written as integers (JSON Schema's `integer` admits 2.0), and a ConnectorId in the body is
    the path's. Both changes keep the body valid against the schema."""

    def whole(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, list):
            return [whole(item) for item in value]
        if isinstance(value, dict):
            return {key: whole(item) for key, item in value.items()}
        return value

    def same_connector(event: Any) -> Any:
        if isinstance(event, dict) and "ConnectorId" in event:
            return {**event, "ConnectorId": connector_id}
        return event

    body = whole(body)
    return [same_connector(event) for event in body] if isinstance(body, list) else same_connector(body)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # Schemathesis sends as fast as the stack answers: the per-connector rate limit (tested on its own, in
    # test_connector_limits.py) would answer some of its cases 429 rather than the answer they test.
    config = StackConfig(
        api_port=0,
        state_dir=tmp_path_factory.mktemp("state"),
        fleet_size=4,
        parameter_overrides={"ConnectorRateLimit": 0},
    )
    with LocalStack(config) as running:
        yield running


@pytest.fixture(scope="module")
def api_url(stack: LocalStack) -> str:
    assert stack.api is not None
    return stack.api.url


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Counter[tuple[str, str, int]]]:
    """Responses by run, generation mode and status; printed at the end, and checked for what they show."""
    counts: Counter[tuple[str, str, int]] = Counter()
    yield counts
    summary = ", ".join(f"{run} {mode} {status}: {n}" for (run, mode, status), n in sorted(counts.items()))
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print(f"\nschemathesis responses ({sum(counts.values())}): {summary}")
    signed = {(mode, status) for run, mode, status in counts if run == "signed"}
    if signed:
        # Signing works for valid and invalid bodies alike: both got past authentication.
        assert ("positive", 202) in signed, summary
        assert ("negative", 422) in signed, summary


@signed_schema.parametrize()
def test_signed_requests_get_only_documented_answers(
    case: schemathesis.Case, api_url: str, tally: Counter[tuple[str, str, int]]
) -> None:
    if _mode(case) == "positive":
        case.body = as_a_conforming_sender_writes_it(case.body, DEMO_CONNECTOR_ID)
    response = case.call_and_validate(base_url=api_url, auth=StandardWebhooksSigner(DEMO_SECRET))
    tally["signed", _mode(case), response.status_code] += 1


@forged_schema.parametrize()
def test_requests_signed_with_the_wrong_secret_get_only_401(
    case: schemathesis.Case, api_url: str, tally: Counter[tuple[str, str, int]]
) -> None:
    response = case.call_and_validate(base_url=api_url, auth=StandardWebhooksSigner(WRONG_SECRET))
    tally["forged", _mode(case), response.status_code] += 1
    assert response.status_code == 401, response.text


def _mode(case: schemathesis.Case) -> str:
    return "negative" if case.meta is not None and case.meta.generation.mode.is_negative else "positive"


def test_every_event_the_receiver_queued_was_taken_by_send_connector_event(
    stack: LocalStack, tally: Counter[tuple[str, str, int]]
) -> None:
    """After the runs above (pytest keeps the file's order): the stand-in checks SendConnectorEvent against
    AWS's model independently of the receiver, so an event the receiver let through and AWS would refuse
    shows up here as a refused call or a dead letter."""
    sqs = stack.client("sqs")
    counts = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")

    def waiting(queue: str) -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=stack.queues[queue].url, AttributeNames=list(counts))
        return sum(int(attributes["Attributes"][name]) for name in counts)

    deadline = time.monotonic() + 60
    while waiting("EventQueue") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert waiting("EventQueue") == 0, "the forwarder did not drain the event queue"
    with urllib.request.urlopen(f"{stack.iot_url}/_standin/stats", timeout=10) as response:
        calls = json.loads(response.read())["operations"].get("SendConnectorEvent", {}).get("calls", {})
    assert set(calls) <= {"ok"}, calls
    assert waiting("EventDeadLetterQueue") == 0
    if tally["signed", "positive", 202]:
        assert calls.get("ok", 0) >= 1
