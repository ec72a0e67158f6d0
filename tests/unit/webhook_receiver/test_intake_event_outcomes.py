"""The receiver's answer to a profiled webhook with per-event outcomes: under `onError: skip` the good events
are queued and the bad ones reported in the 202 and counted by the SkippedEvents metric (by rule and reason,
as the handler publishes it); under `reject` the same delivery is a 422 and nothing is queued. A profiled
webhook may carry up to MAX_NATIVE_EVENTS native events (not the 50 of a SendConnectorEvent array), queued
in order in as many 10-entry batches as they need."""

from __future__ import annotations

import json
from typing import Any

import pytest

import webhook_receiver
from fakes.aws import InMemorySqs
from fakes.lambda_context import FakeLambdaContext
from fakes.receiver import (
    GROUP_KEY,
    InMemoryConnectorProfiles,
    InMemoryDeduplicator,
    InMemoryEventQueue,
    InMemorySigningKeys,
)
from iotbridge.composition import BuiltAtInit
from iotbridge.errors import MAX_LISTED_PROBLEMS
from iotbridge.profile.document import ConnectorProfile, parse_profile
from iotbridge.send_connector_event.body import MAX_EVENTS_PER_BODY
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.telemetry import Measurement
from iotbridge.webhook_receiver.adapters import SqsFifoEventQueue
from iotbridge.webhook_receiver.domain.intake import IntakeLimits, WebhookIntake, WebhookRequest
from iotbridge.webhook_receiver.domain.mapping import MAX_NATIVE_EVENTS, REASON_CODES
from iotbridge.webhook_receiver.ports import EventQueue
from iotbridge.webhook_receiver.wiring import ReceiverWiring
from samples.device_clouds import LUMEN
from samples.webhooks import http_api_event

NOW = 1_790_000_000
MiB = 1024 * 1024


def lumen_profile(on_error: str) -> ConnectorProfile:
    document = json.loads(LUMEN.profile_file.read_text())
    document["onError"] = on_error
    return parse_profile(document)


def intake(on_error: str = "skip", queue: EventQueue | None = None) -> WebhookIntake:
    return WebhookIntake(
        keys=InMemorySigningKeys({LUMEN.connector_id: LUMEN.secret}),
        queue=queue or InMemoryEventQueue(),
        deduplicator=InMemoryDeduplicator(),
        limits=IntakeLimits(max_body_bytes=MiB, tolerance_seconds=300),
        profiles=InMemoryConnectorProfiles({LUMEN.connector_id: lumen_profile(on_error)}),
        clock=lambda: NOW,
    )


def request(body: bytes, delivery_id: str = "dlv-1") -> WebhookRequest:
    headers = LUMEN.signed(body, delivery_id=delivery_id, now=NOW)
    return WebhookRequest(
        connector_id=LUMEN.connector_id,
        headers={"content-type": "application/json"} | {k.lower(): v for k, v in headers.items()},
        body=body,
    )


def lumen(*events: dict[str, Any]) -> bytes:
    return json.dumps({"accountId": "acct-1", "events": list(events)}).encode()


def light(device: str, **state: Any) -> dict[str, Any]:
    return {"type": "device.state", "kind": "light", "deviceId": device, "state": {"power": "on", **state}}


# Brightness in percent: 987 % is far beyond LevelControl.CurrentLevel's 1..254 after percentToLevel.
ONE_BAD_AMONG_GOOD = lumen(light("bulb-1"), light("bulb-2", brightness=987), light("bulb-3"))


def queued_devices(queue: InMemoryEventQueue) -> list[str]:
    return [message.event["ConnectorDeviceId"] for message in queue.messages]


def test_one_bad_event_among_good_ones_queues_the_good_ones_and_reports_the_bad_one() -> None:
    queue = InMemoryEventQueue()
    answer = intake("skip", queue).handle(request(ONE_BAD_AMONG_GOOD))
    assert (answer.status, answer.outcome, answer.queued) == (202, "accepted", 2)
    assert queued_devices(queue) == ["bulb-1", "bulb-3"]
    [skipped] = answer.body["skipped"]
    assert skipped["rule"] == "light-state" and skipped["path"] == "events[1].state.brightness"
    assert "LevelControl.CurrentLevel" in skipped["reason"]
    assert "987" not in json.dumps(answer.body) and "2507" not in json.dumps(answer.body)
    assert "moreSkipped" not in answer.body


def test_under_reject_the_same_delivery_is_a_422_and_nothing_is_queued() -> None:
    queue = InMemoryEventQueue()
    answer = intake("reject", queue).handle(request(ONE_BAD_AMONG_GOOD))
    assert answer.status == 422
    assert [error["path"] for error in answer.body["errors"]] == ["events[1].state.brightness"]
    assert queue.messages == []


def test_a_webhook_whose_every_event_is_skipped_is_a_202_with_nothing_queued() -> None:
    queue = InMemoryEventQueue()
    answer = intake("skip", queue).handle(request(lumen(light("bulb-1", brightness=900))))
    assert (answer.status, answer.outcome, answer.queued) == (202, "skipped", 0)
    assert answer.body["queued"] == 0 and len(answer.body["skipped"]) == 1
    assert queue.messages == []
    assert answer.measurements() == [
        Measurement("SkippedEvents", 1, dimensions={"Rule": "light-state", "Reason": "out_of_range"})
    ]


def test_an_accepted_webhook_counts_its_skipped_events_by_rule_and_reason() -> None:
    # GIVEN two lights out of range, one without its required power, one good, and one no rule matches
    # (Lumen's profile ignores those: counted apart)
    body = lumen(
        light("bulb-1", brightness=900),
        light("bulb-2", brightness=901),
        {"type": "device.state", "kind": "light", "deviceId": "bulb-3", "state": {}},
        light("bulb-4"),
        {"type": "device.heartbeat"},
    )
    # WHEN it is handled
    answer = intake("skip").handle(request(body))
    # THEN its measurements count each kind of skip once, with its rule and reason code
    counted = [m for m in answer.measurements() if m.name == "SkippedEvents"]
    assert sorted((m.value, dict(m.dimensions)) for m in counted) == [
        (1, {"Rule": "light-state", "Reason": "missing_value"}),
        (2, {"Rule": "light-state", "Reason": "out_of_range"}),
    ]
    assert {m.dimensions["Reason"] for m in counted} <= set(REASON_CODES)
    assert Measurement("EventsAccepted", 1) in answer.measurements()
    assert Measurement("EventsIgnored", 1) in answer.measurements()


def test_a_repeated_delivery_gets_the_same_answer_and_counts_nothing_again() -> None:
    receiver = intake("skip")
    first = receiver.handle(request(ONE_BAD_AMONG_GOOD))
    again = receiver.handle(request(ONE_BAD_AMONG_GOOD))
    assert (again.status, again.outcome) == (202, "duplicate")
    assert again.body == first.body
    assert [m.name for m in again.measurements()] == ["WebhooksDuplicate"]


def test_the_skipped_list_of_an_answer_is_bounded() -> None:
    events = [light(f"bulb-{i}", brightness=500) for i in range(MAX_LISTED_PROBLEMS + 30)]
    answer = intake("skip").handle(request(lumen(*events, light("bulb-ok"))))
    assert (answer.status, answer.queued) == (202, 1)
    assert len(answer.body["skipped"]) == MAX_LISTED_PROBLEMS
    assert answer.body["moreSkipped"] == 30


# --- Beyond the 50 of a SendConnectorEvent array -----------------------------------------------------------


@pytest.mark.parametrize("count", [MAX_EVENTS_PER_BODY + 1, 100, MAX_NATIVE_EVENTS])
def test_a_profiled_webhook_of_many_native_events_is_queued_whole_and_in_order(count: int) -> None:
    # GIVEN the queue adapter over an SQS that keeps SendMessageBatch's limits (10 entries, 1 MiB a call)
    sqs = InMemorySqs()
    queue = SqsFifoEventQueue(sqs, "https://sqs.example/events.fifo", group_key=GROUP_KEY)
    body = lumen(*[light(f"bulb-{i}", brightness=i % 100) for i in range(count)])
    assert len(body) <= MiB
    # WHEN one webhook carries `count` native events
    answer = intake("reject", queue).handle(request(body))
    # THEN each is its own message, sent in 10-entry batches one after another, in the webhook's order
    assert (answer.status, answer.queued) == (202, count)
    assert [len(batch) for batch in sqs.requests] == [10] * (count // 10) + (
        [count % 10] if count % 10 else []
    )
    messages = [QueuedEvent.from_message_body(text) for text in sqs.bodies]
    assert [m.index for m in messages] == list(range(count))
    assert [m.event["ConnectorDeviceId"] for m in messages] == [f"bulb-{i}" for i in range(count)]


def test_one_native_event_beyond_the_bound_is_refused_naming_it() -> None:
    queue = InMemoryEventQueue()
    answer = intake("skip", queue).handle(request(lumen(*[light("bulb-1")] * (MAX_NATIVE_EVENTS + 1))))
    assert answer.status == 422
    assert answer.body["errors"] == [
        {"path": "events", "rule": f"a webhook may carry at most {MAX_NATIVE_EVENTS} native events"}
    ]
    assert queue.messages == []


def test_a_standard_webhooks_array_still_holds_at_most_50_events() -> None:
    from samples.webhooks import BODIES, DEMO_CONNECTOR_ID, DEMO_SECRET, signed_headers

    receiver = WebhookIntake(
        keys=InMemorySigningKeys({DEMO_CONNECTOR_ID: DEMO_SECRET}),
        queue=InMemoryEventQueue(),
        deduplicator=InMemoryDeduplicator(),
        limits=IntakeLimits(max_body_bytes=MiB, tolerance_seconds=300),
        clock=lambda: NOW,
    )
    body = json.dumps([BODIES["device-event"]] * (MAX_EVENTS_PER_BODY + 1)).encode()
    headers = signed_headers(body, webhook_id="msg_1", timestamp=NOW, secret=DEMO_SECRET)
    answer = receiver.handle(
        WebhookRequest(DEMO_CONNECTOR_ID, {"content-type": "application/json"} | headers, body)
    )
    assert answer.status == 422
    assert answer.body["errors"] == [{"path": "", "rule": f"array must hold 1..{MAX_EVENTS_PER_BODY} events"}]


# --- The metric as the handler publishes it ----------------------------------------------------------------


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver's handler over an intake with Lumen's profile, skipping on error."""
    monkeypatch.setattr(webhook_receiver, "wiring", BuiltAtInit.fixed(ReceiverWiring(intake("skip"))))


def emf_documents(output: str) -> list[dict[str, Any]]:
    documents = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [d for d in documents if "_aws" in d and "ColdStart" not in d]


def test_the_handler_publishes_skipped_events_with_rule_and_reason_dimensions(
    handler: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a signed delivery with one event out of range among two good ones
    body = ONE_BAD_AMONG_GOOD
    event = http_api_event(
        body, LUMEN.signed(body, delivery_id="dlv-1", now=NOW), connector_id=LUMEN.connector_id
    )
    capsys.readouterr()
    # WHEN the handler answers it
    response = webhook_receiver.lambda_handler(event, FakeLambdaContext())
    # THEN the 202 lists the skipped event, and one metric document counts it under its rule and reason
    assert response["statusCode"] == 202
    assert json.loads(response["body"])["queued"] == 2
    documents = emf_documents(capsys.readouterr().out)
    [skipped] = [d for d in documents if "SkippedEvents" in d]
    assert skipped["SkippedEvents"] in (1, [1])
    assert (skipped["Rule"], skipped["Reason"]) == ("light-state", "out_of_range")
    [declared] = skipped["_aws"]["CloudWatchMetrics"]
    assert {"Name": "SkippedEvents", "Unit": "Count"} in declared["Metrics"]
    assert {"Rule", "Reason"} <= set(declared["Dimensions"][0])
    assert declared["Namespace"] == "IoTBridge"
    # The webhook's other metrics keep their own dimension set (service only).
    [accepted] = [d for d in documents if "EventsAccepted" in d]
    assert "Rule" not in accepted
