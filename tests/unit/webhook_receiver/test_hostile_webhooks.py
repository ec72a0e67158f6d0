"""What an attacker could still break in the receiver, and holds now: answers and work bounded whatever
the body, log lines attributed to their own request, device ids out of reach of a log reader, one webhook
id for one body."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

import webhook_receiver
from fakes.lambda_context import FakeLambdaContext
from fakes.log_capture import Logs, captured_logs
from fakes.receiver import GROUP_KEY, InMemoryDeduplicator, InMemoryEventQueue, InMemorySigningKeys
from iotbridge.composition import BuiltAtInit
from iotbridge.send_connector_event.body import MAX_LISTED_PROBLEMS
from iotbridge.send_connector_event.queued import QueuedEvent, device_key
from iotbridge.webhook_receiver.domain.intake import IntakeLimits, WebhookIntake, WebhookRequest
from iotbridge.webhook_receiver.wiring import ReceiverWiring
from samples.webhooks import (
    BODIES,
    DEMO_CONNECTOR_ID,
    DEMO_SECRET,
    encode,
    http_api_event,
    signed_headers,
)

NOW = 1_790_000_000


@pytest.fixture
def intake() -> WebhookIntake:
    return WebhookIntake(
        keys=InMemorySigningKeys({DEMO_CONNECTOR_ID: DEMO_SECRET}),
        queue=InMemoryEventQueue(),
        deduplicator=InMemoryDeduplicator(),
        limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
        clock=lambda: NOW,
    )


def request(body: bytes, webhook_id: str = "msg_1", connector_id: str = DEMO_CONNECTOR_ID) -> WebhookRequest:
    headers = {
        **signed_headers(body, webhook_id=webhook_id, timestamp=NOW),
        "content-type": "application/json",
    }
    return WebhookRequest(connector_id=connector_id, headers=headers, body=body)


def test_a_signed_megabyte_of_empty_devices_gets_a_small_422_naming_the_first_problems(
    intake: WebhookIntake,
) -> None:
    # Before: 680,000 problems listed, a 42 MB answer, over Lambda's 6 MB response limit (API Gateway's 500).
    count = (1024 * 1024 - 100) // 3
    body = encode({"Operation": "DEVICE_DISCOVERY", "DeviceDiscoveryId": "a", "Devices": [{}] * count})
    assert len(body) <= 1024 * 1024

    answer = intake.handle(request(body))

    assert answer.status == 422
    assert len(answer.body["errors"]) == MAX_LISTED_PROBLEMS
    assert answer.body["moreErrors"] == 2 * count - MAX_LISTED_PROBLEMS
    assert len(json.dumps(answer.body)) < 16 * 1024


def test_a_few_problems_are_all_listed_and_nothing_is_counted_beyond_them(intake: WebhookIntake) -> None:
    answer = intake.handle(request(encode({"Operation": "DEVICE_EVENT", "StatusCode": 999})))

    assert answer.status == 422
    assert "moreErrors" not in answer.body
    assert {p["path"] for p in answer.body["errors"]} == {"StatusCode", "ConnectorDeviceId", "MatterEndpoint"}


# --- One webhook id, one body ---------------------------------------------------------------------------


def test_the_same_webhook_id_with_another_body_is_refused_409_and_nothing_more_is_queued(
    intake: WebhookIntake,
) -> None:
    # Before, the second body got the first one's 202 and was silently dropped.
    first = intake.handle(request(encode(BODIES["device-event"])))
    other = intake.handle(request(encode({**BODIES["device-event"], "StatusCode": 500})))
    again = intake.handle(request(encode(BODIES["device-event"])))

    assert (first.status, other.status, again.status) == (202, 409, 202)
    assert other.outcome == "conflict"
    assert other.body["message"].startswith("This webhook-id was already accepted with another body")
    assert again.outcome == "duplicate"
    assert len(intake._queue.messages) == 1  # type: ignore[attr-defined]


# --- Device ids out of reach of a log reader -----------------------------------------------------


def test_message_group_ids_are_keyed_so_a_log_reader_cannot_recover_device_ids() -> None:
    # Before, the group id was the connector and an unsalted SHA-256 of the device id: guessing 500,000
    # candidate ids took under a second and recovered every device id in the forwarder's logs.
    event = QueuedEvent("acme", "w", 0, 1, {"Operation": "DEVICE_EVENT", "ConnectorDeviceId": "lamp-0042"})
    unkeyed = hashlib.sha256(device_key(event.event).encode() + b"\x00").hexdigest()[:40]

    group = event.message_group_id(GROUP_KEY)

    assert group.startswith("acme.")
    assert unkeyed not in group
    assert group != event.message_group_id(b"another-deployment-key-0123456789abcdef")
    # Still one ordered group per device.
    again = QueuedEvent(
        "acme", "w2", 3, 2, {"Operation": "DEVICE_COMMAND_RESPONSE", "ConnectorDeviceId": "lamp-0042"}
    )
    assert again.message_group_id(GROUP_KEY) == group
    assert len(group) <= 128


# --- Log lines attributed to their own request ---------------------------------------------------


SENTINEL_KEYS = ("previous-webhook-id-7731", "previous-connector-42")


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str]) -> Any:
    with captured_logs(capfd, [webhook_receiver.logger], SENTINEL_KEYS) as captured:
        yield captured


def test_a_request_s_log_lines_never_carry_the_previous_request_s_ids(
    intake: WebhookIntake, logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, a 401 for webhook id "evil\tid" to connector "évil" was logged under the previous request's
    # webhook id and connector id: keys set only for printable ids, and never cleared.
    monkeypatch.setattr(webhook_receiver, "wiring", BuiltAtInit.fixed(ReceiverWiring(intake)))
    intake._keys.secrets[SENTINEL_KEYS[1]] = DEMO_SECRET  # type: ignore[attr-defined]
    body = encode(BODIES["device-event"])
    first = http_api_event(
        body, signed_headers(body, webhook_id=SENTINEL_KEYS[0], timestamp=NOW), connector_id=SENTINEL_KEYS[1]
    )
    first["body"] = "not json"  # a rejection: logged at INFO
    odd = http_api_event(
        body, {**signed_headers(body, webhook_id="evil\tid", timestamp=NOW)}, connector_id="évil"
    )

    webhook_receiver.lambda_handler(first, FakeLambdaContext())
    logs.text()  # the first request's lines, read and set aside
    logs.streams[0].seek(0)
    logs.streams[0].truncate()
    logs.recorder.lines.clear()
    logs.seen.clear()
    webhook_receiver.lambda_handler(odd, FakeLambdaContext())

    lines = logs.structured()
    assert [line["message"] for line in lines] == ["webhook handled"]
    assert "correlation_id" not in lines[0] and "connector_id" not in lines[0]
    logs.assert_nothing_sensitive()
