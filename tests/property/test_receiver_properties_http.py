"""The receiver's properties through the local stack's HTTP path: the handler in its own process behind the
local API Gateway, moto's SQS, DynamoDB and Secrets Manager over HTTP, Lambda's payload limits and
timeout enforced. Fewer examples than in process (each is a round trip through real servers)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from bridge_local.signing import Reply, post
from bridge_local.stack import LocalStack, StackConfig
from iotbridge.send_connector_event.body import MAX_LISTED_PROBLEMS
from samples.webhooks import DEMO_SECRET, encode, signed_headers

from .connector_event_strategies import documents, raw_bodies, webhook_bodies

pytestmark = pytest.mark.integration

# Bounded for CI; HYPOTHESIS_PROFILE=record runs ten times as many.
EXAMPLES = {"record": 250}.get(os.environ.get("HYPOTHESIS_PROFILE", ""), 25)
over_http = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
# What API Gateway itself answers when the function fails: never one of the receiver's own answers.
GATEWAY_FAILURES = {500, 502, 503, 504}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = StackConfig(api_port=0, state_dir=tmp_path_factory.mktemp("stack"), fleet_size=3)
    with LocalStack(config) as running:
        yield running


def send(stack: LocalStack, body: bytes, *, content_type: str = "application/json") -> Reply:
    assert stack.api is not None
    url = f"{stack.api.url}/connectors/{stack.config.connector_id}/events"
    # Signed over the bytes as they are (the standardwebhooks library signs only text).
    webhook_id = f"msg_{uuid.uuid4().hex}"
    headers = {**signed_headers(body, webhook_id=webhook_id, timestamp=int(time.time()), secret=DEMO_SECRET)}
    headers["content-type"] = content_type
    return post(url, body, headers)


def answer(reply: Reply) -> Any:
    return json.loads(reply.body)


@over_http
@given(body=webhook_bodies())
def test_valid_bodies_are_accepted_over_http(stack: LocalStack, body: Any) -> None:
    reply = send(stack, encode(body))
    note(reply.body.decode(errors="replace"))

    assert reply.status == 202
    assert answer(reply)["queued"] == (len(body) if isinstance(body, list) else 1)


@over_http
@given(data=documents())
def test_any_json_value_is_202_or_a_bounded_422_over_http(stack: LocalStack, data: Any) -> None:
    reply = send(stack, json.dumps(data).encode("utf-8"))
    note(reply.body.decode(errors="replace"))

    assert reply.status in {202, 422}
    if reply.status == 422:
        assert 1 <= len(answer(reply)["errors"]) <= MAX_LISTED_PROBLEMS


@over_http
@given(body=raw_bodies(), as_text=st.booleans())
def test_any_signed_bytes_get_the_receiver_s_own_answer_over_http(
    stack: LocalStack, body: bytes, as_text: bool
) -> None:
    # Sent as text or as binary (API Gateway base64-encodes what is not text), the receiver answers: API
    # Gateway's own failures (a function error, a response over Lambda's limit, a timeout) never come back.
    reply = send(stack, body, content_type="application/json" if as_text else "application/octet-stream")
    note(reply.body.decode(errors="replace"))

    assert reply.status not in GATEWAY_FAILURES
    assert reply.status in ({202, 400, 422} if as_text else {415})
    assert isinstance(
        answer(reply)["queued" if reply.status == 202 else "message"], int if reply.status == 202 else str
    )


def test_a_megabyte_of_problems_is_a_bounded_422_over_http(stack: LocalStack) -> None:
    # The answer that went unseen before: 42 MB passed through the local stack without complaint.
    count = (1024 * 1024 - 100) // 3
    body = encode({"Operation": "DEVICE_DISCOVERY", "DeviceDiscoveryId": "a", "Devices": [{}] * count})

    reply = send(stack, body)

    assert reply.status == 422
    assert len(reply.body) < 16 * 1024
    assert answer(reply)["moreErrors"] > 0
