"""Replays and duplicates through the local stack's HTTP API, checked where they would do harm: at
SendConnectorEvent (the IoT stand-in's record), after the queue has drained.

The stack runs with a signature tolerance of a few seconds (the deployed default is 300), so a replay can
outlive its timestamp within a test; the dedupe window keeps its default (24 hours).
"""

from __future__ import annotations

import base64
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bridge_local.signing import Reply, post, sign_headers
from bridge_local.stack import LocalStack, StackConfig
from iot_standin.testing import Standin
from samples import webhooks

pytestmark = pytest.mark.integration

TOLERANCE = 4  # seconds; SignatureToleranceSeconds for this stack
CONNECTOR = webhooks.DEMO_CONNECTOR_ID
OTHER_CONNECTOR = "other-connector"
OTHER_SECRET = "whsec_" + base64.b64encode(b"another connector's secret, for tests").decode()
UNAUTHORIZED = {"message": "The request could not be authenticated."}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = StackConfig(
        api_port=0,
        state_dir=tmp_path_factory.mktemp("state"),
        fleet_size=5,
        parameter_overrides={"SignatureToleranceSeconds": TOLERANCE},
    )
    with LocalStack(config) as running:
        # A second connector, with its own secret under the same prefix as the demo connector's.
        secrets = running.client("secretsmanager")
        [demo] = [s["Name"] for s in secrets.list_secrets()["SecretList"] if s["Name"].endswith(CONNECTOR)]
        secrets.create_secret(Name=demo.removesuffix(CONNECTOR) + OTHER_CONNECTOR, SecretString=OTHER_SECRET)
        yield running


@pytest.fixture
def standin(stack: LocalStack) -> Standin:
    return Standin(stack.processes["iot"])


def device_event(marker: str) -> dict[str, Any]:
    """A DEVICE_EVENT whose Message names it, so its forwarded copies can be counted."""
    return {
        "Operation": "DEVICE_EVENT",
        "ConnectorDeviceId": f"lamp-{marker}",
        "Message": f"replay test {marker}",
        "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x0006", "attributes": {"0x0000": True}}]},
    }


def send(
    stack: LocalStack,
    body: bytes,
    headers: dict[str, str],
    connector: str = CONNECTOR,
) -> Reply:
    assert stack.api is not None
    return post(f"{stack.api.url}/connectors/{urllib.parse.quote(connector)}/events", body, headers)


def new_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def forwarded(stack: LocalStack, standin: Standin, marker: str) -> list[dict[str, Any]]:
    """The SendConnectorEvent calls carrying `marker`, once the event queue is empty."""
    sqs = stack.client("sqs")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counts = sqs.get_queue_attributes(QueueUrl=stack.queues["EventQueue"].url, AttributeNames=names)
        if not any(int(v) for v in counts["Attributes"].values()):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the event queue did not drain within 30 s")
    return [e for e in standin.connector_events() if e["body"].get("Message", "").endswith(f" {marker}")]


def test_the_same_webhook_twice_is_answered_alike_and_forwarded_once(
    stack: LocalStack, standin: Standin
) -> None:
    # A signed webhook
    marker = uuid.uuid4().hex[:12]
    body = webhooks.encode(device_event(marker))
    headers = sign_headers(webhooks.DEMO_SECRET, body, webhook_id=new_id())

    # The very same request arrives twice, inside the tolerance and the dedupe window
    first = send(stack, body, headers)
    second = send(stack, body, headers)

    # Both are answered 202 with the same body, and SendConnectorEvent sees the event once
    assert first.status == second.status == 202
    assert first.json() == second.json() == {"webhookId": headers["webhook-id"], "queued": 1}
    [event] = forwarded(stack, standin, marker)
    assert event["connectorId"] == CONNECTOR
    assert event["body"] == device_event(marker)


def test_a_replay_after_the_tolerance_is_refused_and_not_forwarded_again(
    stack: LocalStack, standin: Standin
) -> None:
    # A webhook signed two seconds ago and accepted
    marker = uuid.uuid4().hex[:12]
    body = webhooks.encode(device_event(marker))
    signed_at = int(time.time()) - 2
    headers = sign_headers(webhooks.DEMO_SECRET, body, webhook_id=new_id(), timestamp=signed_at)
    assert send(stack, body, headers).status == 202

    # The same request is replayed once its timestamp is older than the tolerance
    while time.time() <= signed_at + TOLERANCE + 0.5:
        time.sleep(0.1)
    replay = send(stack, body, headers)

    # It is refused like any request that cannot be authenticated, and nothing more is forwarded
    assert replay.status == 401
    assert replay.json() == UNAUTHORIZED
    assert len(forwarded(stack, standin, marker)) == 1


def test_a_resend_signed_anew_within_the_dedupe_window_is_acknowledged_and_not_forwarded_again(
    stack: LocalStack, standin: Standin
) -> None:
    # A webhook accepted a second ago
    marker = uuid.uuid4().hex[:12]
    body = webhooks.encode(device_event(marker))
    webhook_id = new_id()
    now = int(time.time())
    first_headers = sign_headers(webhooks.DEMO_SECRET, body, webhook_id=webhook_id, timestamp=now - 1)
    first = send(stack, body, first_headers)
    assert first.status == 202

    # The sender retries it: same webhook id and body, new timestamp and signature
    retry_headers = sign_headers(webhooks.DEMO_SECRET, body, webhook_id=webhook_id, timestamp=now)
    assert retry_headers["webhook-signature"] != first_headers["webhook-signature"]
    retry = send(stack, body, retry_headers)

    # The retry gets the first answer, and SendConnectorEvent sees the event once
    assert retry.status == 202
    assert retry.json() == first.json() == {"webhookId": webhook_id, "queued": 1}
    assert len(forwarded(stack, standin, marker)) == 1


def test_a_different_body_under_a_webhook_id_already_seen_is_refused_409_and_not_queued(
    stack: LocalStack, standin: Standin
) -> None:
    # A webhook accepted with one event (docs/connecting-a-device-cloud.md, the webhook contract: a webhook id
    # seen again for the same connector with another body is refused 409, the same body acknowledged again)
    first_marker, second_marker = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
    webhook_id = new_id()
    first_body = webhooks.encode(device_event(first_marker))
    first = send(stack, first_body, sign_headers(webhooks.DEMO_SECRET, first_body, webhook_id=webhook_id))
    assert first.status == 202

    # The same id comes again, correctly signed, with a different body of two events
    second_body = webhooks.encode([device_event(second_marker), device_event(second_marker + "b")])
    second = send(stack, second_body, sign_headers(webhooks.DEMO_SECRET, second_body, webhook_id=webhook_id))

    # It is refused as a conflict (it used to get the first answer and be dropped without a word), and only
    # the first body's event is forwarded
    assert second.status == 409
    assert first.json() == {"webhookId": webhook_id, "queued": 1}
    assert len(forwarded(stack, standin, first_marker)) == 1
    assert forwarded(stack, standin, second_marker) == []
    assert forwarded(stack, standin, second_marker + "b") == []


def test_a_resend_of_an_accepted_webhook_with_a_forged_signature_is_refused(
    stack: LocalStack, standin: Standin
) -> None:
    # An accepted webhook
    marker = uuid.uuid4().hex[:12]
    body = webhooks.encode(device_event(marker))
    webhook_id = new_id()
    assert send(stack, body, sign_headers(webhooks.DEMO_SECRET, body, webhook_id=webhook_id)).status == 202

    # The same id and body come signed with a secret that is not the connector's
    forged = send(stack, body, sign_headers(OTHER_SECRET, body, webhook_id=webhook_id))

    # The signature is checked before the duplicate is recognised: 401, not the stored 202
    assert forged.status == 401
    assert forged.json() == UNAUTHORIZED
    assert len(forwarded(stack, standin, marker)) == 1


def test_the_same_webhook_id_from_another_connector_is_another_webhook(
    stack: LocalStack, standin: Standin
) -> None:
    # Two connectors, each with its own secret
    marker = uuid.uuid4().hex[:12]
    body = webhooks.encode(device_event(marker))
    webhook_id = new_id()

    # Each sends a webhook with the same id and body
    ours = send(stack, body, sign_headers(webhooks.DEMO_SECRET, body, webhook_id=webhook_id))
    theirs = send(stack, body, sign_headers(OTHER_SECRET, body, webhook_id=webhook_id), OTHER_CONNECTOR)

    # Both are queued and forwarded, each for its own connector
    assert ours.status == theirs.status == 202
    events = forwarded(stack, standin, marker)
    assert sorted(e["connectorId"] for e in events) == sorted([CONNECTOR, OTHER_CONNECTOR])
