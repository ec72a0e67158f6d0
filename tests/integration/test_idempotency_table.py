"""The receiver's deduplication record against DynamoDB (moto's server), through botocore's real client."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bridge_local.aws import local_client
from fakes.receiver import GROUP_KEY
from iotbridge.budget import LambdaBudget
from iotbridge.webhook_receiver.adapters import IdempotencyTableDeduplicator
from iotbridge.webhook_receiver.ports import (
    DependencyUnavailableError,
    WebhookConflictError,
    WebhookInProgressError,
)

from .conftest import RelayResources

WINDOW = 3600


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Action:
    """Counts its runs; answers like the intake's hand-off, or raises what it is given."""

    def __init__(self, result: dict[str, Any] | None = None, error: Exception | None = None) -> None:
        self.runs = 0
        self.result = result if result is not None else {"webhookId": "msg_1", "queued": 2}
        self.error = error

    def __call__(self) -> dict[str, Any]:
        self.runs += 1
        if self.error is not None:
            raise self.error
        return self.result


class Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def dynamodb(relay: RelayResources) -> Any:
    return local_client("dynamodb", relay.endpoint)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dedupe(dynamodb: Any, relay: RelayResources, clock: Clock) -> IdempotencyTableDeduplicator:
    return IdempotencyTableDeduplicator(
        dynamodb, relay.table, window_seconds=WINDOW, fingerprint_key=GROUP_KEY, clock=clock
    )


def record(dynamodb: Any, table: str, connector_id: str, webhook_id: str) -> dict[str, Any] | None:
    key = {"id": {"S": IdempotencyTableDeduplicator.record_id(connector_id, webhook_id)}}
    item: dict[str, Any] | None = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return item


def put_record(dynamodb: Any, table: str, webhook_id: str, **attributes: dict[str, str]) -> None:
    key = IdempotencyTableDeduplicator.record_id("acme", webhook_id)
    dynamodb.put_item(TableName=table, Item={"id": {"S": key}, **attributes})


def test_first_delivery_runs_once_and_keeps_its_answer_for_the_window(
    dedupe: IdempotencyTableDeduplicator, dynamodb: Any, relay: RelayResources, clock: Clock
) -> None:
    action = Action()

    assert dedupe.once("acme", "msg_1", action) == (action.result, False)

    stored = record(dynamodb, relay.table, "acme", "msg_1")
    assert stored is not None
    assert stored["status"] == {"S": "COMPLETED"}
    assert stored["response"] == {"S": '{"webhookId":"msg_1","queued":2}'}
    # The table's TTL attribute: the record lives exactly as long as the dedupe window.
    assert int(stored["expiration"]["N"]) == int(clock.now) + WINDOW


def test_a_repeat_gets_the_first_answer_without_running_again(
    dedupe: IdempotencyTableDeduplicator,
) -> None:
    first = Action({"webhookId": "msg_1", "queued": 3})
    dedupe.once("acme", "msg_1", first)
    again = Action({"webhookId": "msg_1", "queued": 99})

    assert dedupe.once("acme", "msg_1", again) == ({"webhookId": "msg_1", "queued": 3}, True)
    assert (first.runs, again.runs) == (1, 0)


def test_the_same_webhook_id_of_another_connector_is_its_own_delivery(
    dedupe: IdempotencyTableDeduplicator,
) -> None:
    dedupe.once("acme", "msg_1", Action())
    other = Action()

    assert dedupe.once("globex", "msg_1", other)[1] is False
    assert other.runs == 1


def test_a_failed_hand_off_releases_the_record_so_the_retry_runs(
    dedupe: IdempotencyTableDeduplicator, dynamodb: Any, relay: RelayResources
) -> None:
    with pytest.raises(DependencyUnavailableError):
        dedupe.once("acme", "msg_1", Action(error=DependencyUnavailableError("queue")))
    assert record(dynamodb, relay.table, "acme", "msg_1") is None

    retry = Action()
    assert dedupe.once("acme", "msg_1", retry) == (retry.result, False)
    assert retry.runs == 1


def test_a_delivery_in_progress_elsewhere_is_answered_in_progress(
    dedupe: IdempotencyTableDeduplicator, dynamodb: Any, relay: RelayResources, clock: Clock
) -> None:
    put_record(
        dynamodb,
        relay.table,
        "msg_1",
        status={"S": "IN_PROGRESS"},
        expiration={"N": str(int(clock.now) + WINDOW)},
        in_progress_expiration={"N": str(int(clock.now * 1000) + 30_000)},
    )
    action = Action()

    with pytest.raises(WebhookInProgressError):
        dedupe.once("acme", "msg_1", action)
    assert action.runs == 0


def test_a_delivery_whose_owner_timed_out_runs_again(
    dedupe: IdempotencyTableDeduplicator, dynamodb: Any, relay: RelayResources, clock: Clock
) -> None:
    put_record(
        dynamodb,
        relay.table,
        "msg_1",
        status={"S": "IN_PROGRESS"},
        expiration={"N": str(int(clock.now) + WINDOW)},
        in_progress_expiration={"N": str(int(clock.now * 1000) - 1)},
    )
    action = Action()

    assert dedupe.once("acme", "msg_1", action) == (action.result, False)
    assert action.runs == 1


def test_a_record_past_its_window_does_not_count_even_before_ttl_deletes_it(
    dedupe: IdempotencyTableDeduplicator, dynamodb: Any, relay: RelayResources, clock: Clock
) -> None:
    put_record(
        dynamodb,
        relay.table,
        "msg_1",
        status={"S": "COMPLETED"},
        response={"S": '{"webhookId":"msg_1","queued":1}'},
        expiration={"N": str(int(clock.now) - 1)},
    )
    action = Action()

    assert dedupe.once("acme", "msg_1", action) == (action.result, False)
    assert action.runs == 1


def test_the_in_progress_time_is_the_invocation_s_remaining_time(
    dedupe: IdempotencyTableDeduplicator, dynamodb: Any, relay: RelayResources, clock: Clock
) -> None:
    lease = LambdaBudget(Context(remaining_ms=9_500)).remaining_seconds()
    seen: dict[str, Any] = {}

    def look() -> dict[str, Any]:
        seen.update(record(dynamodb, relay.table, "acme", "msg_1") or {})
        return {"webhookId": "msg_1", "queued": 1}

    dedupe.once("acme", "msg_1", look, lease)

    assert seen["status"] == {"S": "IN_PROGRESS"}
    assert int(seen["in_progress_expiration"]["N"]) == int(clock.now * 1000) + 9_500


def test_an_unreachable_table_is_temporarily_unavailable_and_nothing_runs(
    dynamodb: Any, relay: RelayResources, clock: Clock
) -> None:
    dedupe = IdempotencyTableDeduplicator(
        dynamodb, "no-such-table", window_seconds=WINDOW, fingerprint_key=GROUP_KEY, clock=clock
    )
    action = Action()

    with pytest.raises(DependencyUnavailableError) as raised:
        dedupe.once("acme", "msg_1", action)
    assert raised.value.reason == "dedupe"
    assert action.runs == 0


def test_a_record_that_cannot_be_completed_still_answers_what_was_queued(
    dedupe: IdempotencyTableDeduplicator, dynamodb: Any, relay: RelayResources
) -> None:
    def queue_then_lose_the_table() -> dict[str, Any]:
        dynamodb.delete_table(TableName=relay.table)
        return {"webhookId": "msg_1", "queued": 1}

    # The events were handed off: the answer is the acceptance, not an error the sender would retry.
    assert dedupe.once("acme", "msg_1", queue_then_lose_the_table) == (
        {"webhookId": "msg_1", "queued": 1},
        False,
    )


def test_the_same_webhook_id_with_another_body_is_a_conflict_and_the_same_body_a_duplicate(
    dedupe: IdempotencyTableDeduplicator, dynamodb: Any, relay: RelayResources
) -> None:
    first = Action()
    dedupe.once("acme", "msg_1", first, body_digest="a" * 64)

    with pytest.raises(WebhookConflictError):
        dedupe.once("acme", "msg_1", Action(), body_digest="b" * 64)
    assert dedupe.once("acme", "msg_1", Action(), body_digest="a" * 64) == (first.result, True)
    # The table keeps a keyed fingerprint, not the body's digest itself.
    stored = record(dynamodb, relay.table, "acme", "msg_1")
    assert stored is not None and stored["fingerprint"]["S"] not in ("a" * 64, "")


def test_a_record_kept_before_fingerprints_answers_any_body_as_a_duplicate(
    dedupe: IdempotencyTableDeduplicator, dynamodb: Any, relay: RelayResources, clock: Clock
) -> None:
    put_record(
        dynamodb,
        relay.table,
        "msg_old",
        status={"S": "COMPLETED"},
        response={"S": '{"webhookId":"msg_old","queued":1}'},
        expiration={"N": str(int(clock.now) + WINDOW)},
    )

    assert dedupe.once("acme", "msg_old", Action(), body_digest="c" * 64) == (
        {"webhookId": "msg_old", "queued": 1},
        True,
    )
