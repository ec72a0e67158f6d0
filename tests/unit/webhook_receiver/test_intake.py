"""The receiver's domain and adapters, with in-memory fakes of Secrets Manager, SQS and the dedupe table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from fakes.aws import InMemorySecretsManager, InMemorySqs, client_error
from fakes.lambda_context import FakeLambdaContext
from fakes.receiver import GROUP_KEY, InMemoryDeduplicator, InMemoryEventQueue, InMemorySigningKeys
from iotbridge.budget import LambdaBudget
from iotbridge.registry.secrets import SecretsManagerSigningKeys
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.signatures.standard_webhooks import parse_secrets
from iotbridge.webhook_receiver.adapters import SqsFifoEventQueue
from iotbridge.webhook_receiver.domain.intake import (
    MAX_QUEUE_MESSAGE_BYTES,
    IntakeLimits,
    WebhookIntake,
    WebhookRequest,
)
from iotbridge.webhook_receiver.ports import DEFAULT_LEASE_SECONDS, DependencyUnavailableError
from samples.webhooks import BODIES, DEMO_CONNECTOR_ID, DEMO_SECRET, encode, signed_headers

NOW = 1_790_000_000


@dataclass(frozen=True)
class IntakePorts:
    """The receiver's ports, in memory: each keeps what it was asked and fails on demand."""

    keys: InMemorySigningKeys
    queue: InMemoryEventQueue
    dedupe: InMemoryDeduplicator


@pytest.fixture
def ports() -> IntakePorts:
    return IntakePorts(
        keys=InMemorySigningKeys({DEMO_CONNECTOR_ID: DEMO_SECRET}),
        queue=InMemoryEventQueue(),
        dedupe=InMemoryDeduplicator(),
    )


def make_intake(ports: IntakePorts, max_body: int = 1024 * 1024) -> WebhookIntake:
    return WebhookIntake(
        keys=ports.keys,
        queue=ports.queue,
        deduplicator=ports.dedupe,
        limits=IntakeLimits(max_body_bytes=max_body, tolerance_seconds=300),
        clock=lambda: NOW,
    )


def request(
    body: bytes, *, webhook_id: str = "msg_1", content_type: str = "application/json"
) -> WebhookRequest:
    headers = {**signed_headers(body, webhook_id=webhook_id, timestamp=NOW), "content-type": content_type}
    return WebhookRequest(connector_id=DEMO_CONNECTOR_ID, headers=headers, body=body)


def test_accepted_webhook_is_queued_and_answered_202(ports: IntakePorts) -> None:
    answer = make_intake(ports).handle(request(encode(BODIES["device-event"])))

    assert (answer.status, answer.outcome, answer.body) == (
        202,
        "accepted",
        {"webhookId": "msg_1", "queued": 1},
    )
    assert ports.queue.messages[0].event == BODIES["device-event"]


def test_signature_is_checked_before_the_body_is_parsed(ports: IntakePorts) -> None:
    # Not JSON, not signed right: the answer must be 401, not 400.
    bad = WebhookRequest(DEMO_CONNECTOR_ID, {"content-type": "application/json"}, b"{oops")
    assert make_intake(ports).handle(bad).status == 401


def test_secrets_store_outage_is_503_not_401(ports: IntakePorts) -> None:
    ports.keys.failure = DependencyUnavailableError("secrets")
    answer = make_intake(ports).handle(request(encode(BODIES["device-event"])))
    assert answer.status == 503
    assert answer.headers["Retry-After"]


def test_concurrent_duplicate_is_503_so_the_sender_retries(ports: IntakePorts) -> None:
    ports.dedupe.in_progress.add((DEMO_CONNECTOR_ID, "msg_1"))
    assert make_intake(ports).handle(request(encode(BODIES["device-event"]))).status == 503


def test_the_record_is_held_in_progress_for_the_invocation_s_remaining_time(ports: IntakePorts) -> None:
    make_intake(ports).handle(
        request(encode(BODIES["device-event"])), LambdaBudget(FakeLambdaContext(remaining_millis=9_500))
    )
    make_intake(ports).handle(request(encode(BODIES["device-event"]), webhook_id="msg_2"))

    assert ports.dedupe.leases == [9.5, DEFAULT_LEASE_SECONDS]


def test_queue_failure_releases_the_webhook_id_for_the_retry(ports: IntakePorts) -> None:
    intake = make_intake(ports)
    ports.queue.fail()
    assert intake.handle(request(encode(BODIES["device-event"]))).status == 503
    ports.queue.failure = None
    answer = intake.handle(request(encode(BODIES["device-event"])))
    assert (answer.status, answer.outcome) == (202, "accepted")
    assert len(ports.queue.messages) == 1


def test_duplicate_is_answered_like_the_first_time_and_not_queued_again(ports: IntakePorts) -> None:
    intake = make_intake(ports)
    first = intake.handle(request(encode(BODIES["device-event"])))
    second = intake.handle(request(encode(BODIES["device-event"])))
    assert (second.status, second.body, second.outcome) == (first.status, first.body, "duplicate")
    assert len(ports.queue.messages) == 1


def test_oversize_body_is_rejected_before_any_secret_lookup(ports: IntakePorts) -> None:
    answer = make_intake(ports, max_body=100).handle(request(b"{" + b" " * 200 + b"}"))
    assert answer.status == 413
    assert ports.keys.lookups == []


def test_event_larger_than_a_queue_message_is_413(ports: IntakePorts) -> None:
    devices = [
        {
            "ConnectorDeviceId": f"d{i}",
            "CapabilityReport": {"version": "1.0.0", "endpoints": []},
            "DeviceMetadata": {"blob": "x" * 60_000},
        }
        for i in range(20)
    ]
    body = encode({"Operation": "DEVICE_DISCOVERY", "DeviceDiscoveryId": "abc", "Devices": devices})
    assert len(body) > MAX_QUEUE_MESSAGE_BYTES
    answer = make_intake(ports, max_body=2 * MAX_QUEUE_MESSAGE_BYTES).handle(request(body))
    assert (answer.status, answer.outcome) == (413, "event_too_large")
    assert ports.queue.messages == []


def test_422_lists_problems_and_never_echoes_a_sensitive_value(ports: IntakePorts) -> None:
    sentinel = "SENSITIVE_USER_93871"
    body = encode({"Operation": "DEVICE_EVENT", "UserId": sentinel + "!" * 64, "StatusCode": 99})
    answer = make_intake(ports).handle(request(body))
    assert answer.status == 422
    assert {p["path"] for p in answer.body["errors"]} >= {"UserId", "StatusCode", "ConnectorDeviceId"}
    assert sentinel not in json.dumps(answer.body)


def test_signing_keys_are_cached_for_their_max_age() -> None:
    now = [0.0]
    store = InMemorySecretsManager({"p/c1": DEMO_SECRET})
    keys = SecretsManagerSigningKeys(store, prefix="p/", max_age_seconds=300, clock=lambda: now[0])

    assert keys.keys_for("c1") == parse_secrets(DEMO_SECRET)
    keys.keys_for("c1")
    assert store.calls == 1
    now[0] = 301
    keys.keys_for("c1")
    assert store.calls == 2


def test_unknown_connector_is_remembered_briefly() -> None:
    now = [0.0]
    store = InMemorySecretsManager({})
    keys = SecretsManagerSigningKeys(store, prefix="p/", max_age_seconds=300, clock=lambda: now[0])

    assert keys.keys_for("ghost") is None
    assert keys.keys_for("ghost") is None
    assert store.calls == 1
    now[0] = 61
    store.secrets["p/ghost"] = DEMO_SECRET
    assert keys.keys_for("ghost") == parse_secrets(DEMO_SECRET)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (client_error("ThrottlingException", 400), "secrets"),
        (client_error("AccessDeniedException", 400), "secrets"),
        (EndpointConnectionError(endpoint_url="http://x"), "secrets"),
    ],
)
def test_secret_lookup_failure_is_temporary_not_unknown(error: Exception, reason: str) -> None:
    store = InMemorySecretsManager({})
    store.failure = error
    keys = SecretsManagerSigningKeys(store, prefix="p/", max_age_seconds=300)
    with pytest.raises(DependencyUnavailableError) as caught:
        keys.keys_for("c1")
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "stored",
    [
        "not-a-whsec-value!",
        json.dumps({"signingSecret": DEMO_SECRET}),
        None,  # binary: no SecretString
    ],
    ids=["malformed", "json", "binary"],
)
def test_an_unusable_stored_secret_is_an_unknown_connector_for_the_cache_period(stored: str | None) -> None:
    # Before, this was a 503 with Retry-After: a caller could tell that the secret existed, and its sender
    # retried for as long as it stayed unusable, each request costing a lookup and an error line.
    now = [0.0]

    class Binary(InMemorySecretsManager):
        def get_secret_value(self, SecretId: str) -> dict[str, Any]:
            answer = super().get_secret_value(SecretId)
            return answer if stored is not None else {"Name": SecretId, "SecretBinary": b"\x00\x01"}

    store = Binary({"p/c1": stored or "placeholder"})
    keys = SecretsManagerSigningKeys(store, prefix="p/", max_age_seconds=300, clock=lambda: now[0])

    assert keys.keys_for("c1") is None
    now[0] = 299
    assert keys.keys_for("c1") is None
    assert store.calls == 1
    store.secrets["p/c1"] = DEMO_SECRET
    Binary.get_secret_value = InMemorySecretsManager.get_secret_value  # type: ignore[method-assign]
    now[0] = 301
    assert keys.keys_for("c1") == parse_secrets(DEMO_SECRET)


def test_a_secret_scheduled_for_deletion_is_an_unknown_connector() -> None:
    store = InMemorySecretsManager({})
    store.failure = client_error("InvalidRequestException", 400, "marked for deletion", "GetSecretValue")
    keys = SecretsManagerSigningKeys(store, prefix="p/", max_age_seconds=300)

    assert keys.keys_for("c1") is None


def test_a_flood_of_unknown_connector_ids_costs_a_bounded_number_of_lookups() -> None:
    now = [0.0]
    store = InMemorySecretsManager({"p/known": DEMO_SECRET})
    keys = SecretsManagerSigningKeys(store, prefix="p/", max_age_seconds=300, clock=lambda: now[0])
    keys.keys_for("known")
    answers = {"unknown": 0, "later": 0}

    # 1,000 requests for distinct made-up ids within one second
    for n in range(1000):
        now[0] = n / 1000
        try:
            answers["unknown" if keys.keys_for(f"made-up-{n}") is None else "known"] += 1
        except DependencyUnavailableError as exc:
            assert exc.reason == "lookup_rate"
            answers["later"] += 1

    # A burst, then the steady rate: far fewer lookups than requests; the known connector is still served
    assert store.calls - 1 <= 50 + 10
    assert answers["unknown"] == store.calls - 1
    assert answers["later"] == 1000 - answers["unknown"]
    assert keys.keys_for("known") == parse_secrets(DEMO_SECRET)


def test_the_same_unknown_connector_again_costs_no_lookup_for_a_minute() -> None:
    now = [0.0]
    store = InMemorySecretsManager({})
    keys = SecretsManagerSigningKeys(store, prefix="p/", max_age_seconds=300, clock=lambda: now[0])

    for n in range(1000):
        now[0] = n * 0.05  # 50 seconds in all
        assert keys.keys_for("ghost") is None
    assert store.calls == 1


def events(count: int, size: int = 10) -> list[QueuedEvent]:
    return [
        QueuedEvent(DEMO_CONNECTOR_ID, "w", i, NOW, {"Operation": "DEVICE_EVENT", "Message": "x" * size})
        for i in range(count)
    ]


def test_queue_sends_at_most_ten_entries_a_request_in_order() -> None:
    sqs = InMemorySqs()
    SqsFifoEventQueue(sqs, "q", group_key=GROUP_KEY).enqueue(events(23))
    assert [len(r) for r in sqs.requests] == [10, 10, 3]
    bodies = [json.loads(e["MessageBody"])["index"] for r in sqs.requests for e in r]
    assert bodies == list(range(23))


def test_queue_requests_stay_under_one_mebibyte() -> None:
    sqs = InMemorySqs()
    SqsFifoEventQueue(sqs, "q", group_key=GROUP_KEY).enqueue(events(5, size=300_000))
    assert [len(r) for r in sqs.requests] == [3, 2]


def test_failed_entries_are_resent_alone() -> None:
    sqs = InMemorySqs(fail_times=1)
    SqsFifoEventQueue(sqs, "q", group_key=GROUP_KEY, sleep=lambda _: None).enqueue(events(3))
    assert [len(r) for r in sqs.requests] == [3, 1]
    assert sqs.requests[1][0]["MessageDeduplicationId"] == sqs.requests[0][0]["MessageDeduplicationId"]


def test_entries_failing_every_attempt_make_the_queue_unavailable() -> None:
    sqs = InMemorySqs(fail_times=99)
    with pytest.raises(DependencyUnavailableError):
        SqsFifoEventQueue(sqs, "q", group_key=GROUP_KEY, sleep=lambda _: None).enqueue(events(2))
