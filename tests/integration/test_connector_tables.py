"""The connector's correlation table and user table against DynamoDB (moto's server), created as
template.yaml declares them (keys, the deadline index, time to live), through botocore's real client."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from bridge_local.aws import local_client
from bridge_local.fault_proxy import FaultProxy, check_plan, serve_in_thread
from bridge_local.processes import LOOPBACK, ServerProcess, free_port
from bridge_local.resources import create_tables
from bridge_local.sam_template import LocalResolver, read
from iotbridge.budget import UnlimitedBudget
from iotbridge.correlation.model import (
    COMMAND,
    DISCOVERY,
    AnswerMatch,
    Begun,
    PendingRequest,
    Status,
    record_key,
)
from iotbridge.correlation.tables import DEADLINE_INDEX, ConnectorUserTable, CorrelationTable
from iotbridge.errors import DependencyUnavailableError
from iotbridge.send_connector_event.queued import QueuedEvent
from samples.webhooks import BODIES, http_api_event, signed_headers

from .conftest import RelayResources

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
RETENTION = 7 * 24 * 3600
LEASE = 5.0
T0 = 1_790_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Tables:
    correlation: str
    users: str


def template_tables(dynamodb: Any) -> Tables:
    """The template's two connector tables, each under a name of its own (test modules share one moto)."""
    spec = read(TEMPLATE)
    suffix = uuid.uuid4().hex[:8]
    named = {
        logical_id: replace(
            spec.tables[logical_id],
            properties={**spec.tables[logical_id].properties, "TableName": f"{logical_id}-{suffix}"},
        )
        for logical_id in ("CorrelationTable", "ConnectorUserTable")
    }
    names = create_tables(dynamodb, replace(spec, tables=named), LocalResolver(spec))
    return Tables(correlation=names["CorrelationTable"], users=names["ConnectorUserTable"])


@pytest.fixture
def dynamodb(moto: ServerProcess) -> Any:
    return local_client("dynamodb", moto.url, attempts=1)


@pytest.fixture
def tables(dynamodb: Any) -> Tables:
    return template_tables(dynamodb)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def correlation(dynamodb: Any, tables: Tables, clock: Clock) -> CorrelationTable:
    return CorrelationTable(dynamodb, tables.correlation, retention_seconds=RETENTION, clock=clock)


def pending(
    request_id: str = "disc0001",
    *,
    kind: str = DISCOVERY,
    connector_id: str = "lumen-home",
    deadline_in: float = 600,
    at: float = T0,
) -> PendingRequest:
    return PendingRequest(
        kind=kind,
        connector_id=connector_id,
        request_id=request_id,
        user_id="acct-1",
        requested_at=at,
        deadline=at + deadline_in,
    )


def entry(dynamodb: Any, table: str, request: PendingRequest) -> dict[str, Any] | None:
    found: dict[str, Any] | None = dynamodb.get_item(
        TableName=table, Key={"id": {"S": request.key}}, ConsistentRead=True
    ).get("Item")
    return found


class Budget:
    """Plenty of time for the first `checks` looks at it, none after."""

    def __init__(self, checks: int) -> None:
        self.checks = checks

    def remaining_seconds(self) -> float:
        self.checks -= 1
        return 60.0 if self.checks >= 0 else 0.0


# --- The table as the template declares it -------------------------------------------------------------


def test_the_sweep_s_index_and_the_time_to_live_are_the_ones_the_code_writes(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable
) -> None:
    request = pending()
    correlation.begin(request, LEASE)

    described = dynamodb.describe_table(TableName=tables.correlation)["Table"]
    [index] = described["GlobalSecondaryIndexes"]
    ttl = dynamodb.describe_time_to_live(TableName=tables.correlation)["TimeToLiveDescription"]
    item = entry(dynamodb, tables.correlation, request)

    assert index["IndexName"] == DEADLINE_INDEX
    assert item is not None
    # The index's keys are attributes each entry awaiting its answer carries; TTL removes it a retention
    # period after its deadline.
    assert {k["AttributeName"] for k in index["KeySchema"]} <= set(item)
    assert item[ttl["AttributeName"]] == {"N": str(int(request.deadline) + RETENTION)}


# --- The connector function's side: begin, handed over, release ------------------------------------------


def test_a_new_request_is_recorded_dispatching_for_the_user_and_deadline(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable
) -> None:
    request = pending()

    assert correlation.begin(request, LEASE) is Begun.NEW

    item = entry(dynamodb, tables.correlation, request)
    assert item is not None
    assert item["status"] == {"S": Status.DISPATCHING}
    assert item["connectorId"] == {"S": "lumen-home"}
    assert item["requestId"] == {"S": "disc0001"}
    assert item["userId"] == {"S": "acct-1"}
    assert item["deadline"] == {"N": str(int(request.deadline))}


def test_a_retry_during_the_lease_is_in_progress_and_after_it_takes_the_request_over(
    correlation: CorrelationTable, clock: Clock
) -> None:
    request = pending()
    correlation.begin(request, LEASE)

    clock.now += LEASE - 1
    assert correlation.begin(request, LEASE) is Begun.IN_PROGRESS
    clock.now += 2  # the first invocation's lease is over: it died before handing the request over
    assert correlation.begin(request, LEASE) is Begun.NEW


def test_a_request_handed_over_is_not_asked_again(correlation: CorrelationTable, clock: Clock) -> None:
    request = pending()
    correlation.begin(request, LEASE)
    correlation.handed_over(request)

    clock.now += LEASE * 10
    assert correlation.begin(request, LEASE) is Begun.HANDED_OVER


def test_a_released_request_is_asked_again_by_the_retry(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable
) -> None:
    request = pending()
    correlation.begin(request, LEASE)

    correlation.release(request)

    assert entry(dynamodb, tables.correlation, request) is None
    assert correlation.begin(request, LEASE) is Begun.NEW


def test_release_leaves_a_request_already_handed_over(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable
) -> None:
    request = pending()
    correlation.begin(request, LEASE)
    correlation.handed_over(request)

    correlation.release(request)

    item = entry(dynamodb, tables.correlation, request)
    assert item is not None and item["status"] == {"S": Status.PENDING}


def test_an_answer_that_comes_before_the_hand_over_stays_answered(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable
) -> None:
    request = pending()
    correlation.begin(request, LEASE)

    assert correlation.answered(DISCOVERY, "lumen-home", "disc0001") is AnswerMatch.ANSWERED
    correlation.handed_over(request)

    item = entry(dynamodb, tables.correlation, request)
    assert item is not None and item["status"] == {"S": Status.ANSWERED}
    assert correlation.begin(request, LEASE) is Begun.HANDED_OVER


def test_a_first_invocation_that_fails_after_a_retry_took_its_lease_over_leaves_the_retry_s_entry(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable, clock: Clock
) -> None:
    # GIVEN a first invocation whose lease ended, and a retry (the same request) that took the entry over
    first, retry = pending(), pending()
    assert correlation.begin(first, LEASE) is Begun.NEW
    clock.now += LEASE + 1
    assert correlation.begin(retry, LEASE) is Begun.NEW

    # WHEN the first fails and releases what it held, or hands over late
    correlation.release(first)
    correlation.handed_over(first)

    # THEN the entry is still the retry's: being handed over, until the retry marks it handed over
    item = entry(dynamodb, tables.correlation, retry)
    assert item is not None and item["status"] == {"S": Status.DISPATCHING}
    correlation.handed_over(retry)
    assert correlation.begin(pending(), LEASE) is Begun.HANDED_OVER


def test_the_lease_token_leaves_the_entry_once_it_is_handed_over(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable
) -> None:
    request = pending()
    correlation.begin(request, LEASE)

    correlation.handed_over(request)

    item = entry(dynamodb, tables.correlation, request)
    assert item is not None and "leaseToken" not in item and "leaseUntil" not in item


# --- The relay's side: answered -----------------------------------------------------------------------


def test_an_answer_within_the_deadline_is_answered_and_leaves_the_sweep_s_index(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable, clock: Clock
) -> None:
    request = pending("trace:1=_1", kind=COMMAND, deadline_in=60)
    correlation.begin(request, LEASE)
    correlation.handed_over(request)
    clock.now += 59

    assert correlation.answered(COMMAND, "lumen-home", "trace:1=_1") is AnswerMatch.ANSWERED

    item = entry(dynamodb, tables.correlation, request)
    assert item is not None and item["status"] == {"S": Status.ANSWERED}
    assert "due" not in item and float(item["answeredAt"]["N"]) == pytest.approx(clock.now)


def test_the_same_answer_again_is_repeated(correlation: CorrelationTable) -> None:
    correlation.begin(pending(), LEASE)
    correlation.answered(DISCOVERY, "lumen-home", "disc0001")

    assert correlation.answered(DISCOVERY, "lumen-home", "disc0001") is AnswerMatch.REPEATED


def test_an_answer_past_the_deadline_is_late(correlation: CorrelationTable, clock: Clock) -> None:
    correlation.begin(pending("trace1", kind=COMMAND, deadline_in=60), LEASE)
    clock.now += 61

    assert correlation.answered(COMMAND, "lumen-home", "trace1") is AnswerMatch.LATE


def test_an_answer_after_the_sweep_expired_the_request_is_late_and_then_answered(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable, clock: Clock
) -> None:
    request = pending("trace1", kind=COMMAND, deadline_in=60)
    correlation.begin(request, LEASE)
    correlation.handed_over(request)
    clock.now += 120
    assert correlation.expire_overdue(UnlimitedBudget()).expired[COMMAND] == 1

    assert correlation.answered(COMMAND, "lumen-home", "trace1") is AnswerMatch.LATE
    item = entry(dynamodb, tables.correlation, request)
    assert item is not None and item["status"] == {"S": Status.ANSWERED}


def test_an_answer_to_no_request_is_unmatched_and_records_nothing(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable
) -> None:
    assert correlation.answered(COMMAND, "lumen-home", "never-sent") is AnswerMatch.UNMATCHED

    key = record_key(COMMAND, "lumen-home", "never-sent")
    assert "Item" not in dynamodb.get_item(TableName=tables.correlation, Key={"id": {"S": key}})


def test_an_answer_to_no_request_costs_one_call(dynamodb: Any, correlation: CorrelationTable) -> None:
    # GIVEN the client's calls counted as they are sent
    calls: list[str] = []
    dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))

    # WHEN an answer to no request is marked, and one to a request answered before
    correlation.begin(pending("answered-before"), LEASE)
    correlation.answered(DISCOVERY, "lumen-home", "answered-before")
    calls.clear()
    unmatched = correlation.answered(DISCOVERY, "lumen-home", "never-sent")
    repeated = correlation.answered(DISCOVERY, "lumen-home", "answered-before")

    # THEN each is one UpdateItem: what the failed condition returns says what the entry was
    assert (unmatched, repeated) == (AnswerMatch.UNMATCHED, AnswerMatch.REPEATED)
    assert calls == ["UpdateItem", "UpdateItem"]


def test_an_answer_through_another_connector_is_unmatched_and_leaves_the_request_pending(
    correlation: CorrelationTable,
) -> None:
    correlation.begin(pending("disc0001", connector_id="lumen-home"), LEASE)

    assert correlation.answered(DISCOVERY, "aerie-sensors", "disc0001") is AnswerMatch.UNMATCHED
    assert correlation.answered(DISCOVERY, "lumen-home", "disc0001") is AnswerMatch.ANSWERED


def test_a_discovery_id_is_not_a_command_s_trace_id(correlation: CorrelationTable) -> None:
    correlation.begin(pending("same-id", kind=DISCOVERY), LEASE)

    assert correlation.answered(COMMAND, "lumen-home", "same-id") is AnswerMatch.UNMATCHED


# --- The sweep ----------------------------------------------------------------------------------------


def fill(
    correlation: CorrelationTable, clock: Clock, kinds: dict[str, int], *, deadline_in: float
) -> list[str]:
    """Requests handed over now, of each kind so many, due `deadline_in` from now; their ids."""
    ids = []
    for kind, count in kinds.items():
        for n in range(count):
            request_id = f"{kind}{uuid.uuid4().hex[:10]}{n}"
            request = pending(request_id, kind=kind, deadline_in=deadline_in, at=clock.now)
            correlation.begin(request, LEASE)
            correlation.handed_over(request)
            ids.append(request_id)
    return ids


def test_the_sweep_counts_only_requests_past_their_deadline_unanswered_by_kind_over_many_pages(
    correlation: CorrelationTable, clock: Clock
) -> None:
    fill(correlation, clock, {COMMAND: 7, DISCOVERY: 5}, deadline_in=60)
    answered = fill(correlation, clock, {COMMAND: 2, DISCOVERY: 1}, deadline_in=60)
    for request_id in answered:
        kind = COMMAND if request_id.startswith(COMMAND) else DISCOVERY
        correlation.answered(kind, "lumen-home", request_id)
    fill(correlation, clock, {COMMAND: 3, DISCOVERY: 3}, deadline_in=3600)  # not due yet
    # One still being handed over when its deadline passed counts too.
    correlation.begin(pending("stuck", kind=COMMAND, deadline_in=60, at=clock.now), LEASE)
    clock.now += 61

    report = correlation.expire_overdue(UnlimitedBudget(), page_size=2)

    assert report.complete is True
    assert report.expired == {COMMAND: 8, DISCOVERY: 5}
    # Each counted once: a second sweep finds nothing more.
    assert correlation.expire_overdue(UnlimitedBudget(), page_size=2).expired == {COMMAND: 0, DISCOVERY: 0}


def test_a_sweep_out_of_time_says_so_and_the_next_goes_on_without_counting_twice(
    correlation: CorrelationTable, clock: Clock
) -> None:
    fill(correlation, clock, {COMMAND: 9, DISCOVERY: 6}, deadline_in=60)
    clock.now += 61

    first = correlation.expire_overdue(Budget(checks=6), page_size=2)
    second = correlation.expire_overdue(UnlimitedBudget(), page_size=2)

    assert first.complete is False
    assert 0 < sum(first.expired.values()) < 15
    assert second.complete is True
    assert {k: first.expired[k] + second.expired[k] for k in first.expired} == {COMMAND: 9, DISCOVERY: 6}


def test_the_sweep_leaves_expired_requests_expired_for_a_late_answer(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable, clock: Clock
) -> None:
    request = pending("disc-late", deadline_in=60)
    correlation.begin(request, LEASE)
    correlation.handed_over(request)
    clock.now += 61

    correlation.expire_overdue(UnlimitedBudget())

    item = entry(dynamodb, tables.correlation, request)
    assert item is not None and item["status"] == {"S": Status.EXPIRED}
    assert "due" not in item
    # Still there for the retention period: a retried invocation does not ask the device cloud again.
    assert correlation.begin(request, LEASE) is Begun.HANDED_OVER


def overdue(correlation: CorrelationTable, clock: Clock, count: int) -> list[PendingRequest]:
    """`count` commands handed over two minutes ago, their deadline a minute ago."""
    found = []
    for n in range(count):
        request = pending(f"c{uuid.uuid4().hex[:10]}{n}", kind=COMMAND, deadline_in=60, at=clock.now - 120)
        correlation.begin(request, LEASE)
        correlation.handed_over(request)
        found.append(request)
    return found


def test_a_backlog_larger_than_one_sweep_is_drained_in_every_shard_while_more_keeps_coming(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable, clock: Clock
) -> None:
    # GIVEN a backlog of overdue commands, and each sweep able to expire fewer than arrive between two
    backlog = overdue(correlation, clock, 40)
    counted = 0
    for _ in range(6):
        clock.now += 300  # the schedule's five minutes
        overdue(correlation, clock, 20)

        # WHEN the sweeps run, each out of time before it is through
        report = correlation.expire_overdue(Budget(checks=21), page_size=5)
        assert report.complete is False
        counted += report.expired[COMMAND]

    # THEN every request of the backlog was reached, whichever shard it is in
    left = [
        r
        for r in backlog
        if (entry(dynamodb, tables.correlation, r) or {}).get("status") != {"S": Status.EXPIRED}
    ]
    assert left == []
    # AND once arrivals stop, the sweeps drain the rest, each request counted once
    for _ in range(20):
        clock.now += 300
        report = correlation.expire_overdue(Budget(checks=21), page_size=5)
        counted += report.expired[COMMAND]
        if report.complete:
            break
    assert report.complete is True
    assert counted == 40 + 6 * 20


# --- The user table -----------------------------------------------------------------------------------


def test_a_deactivated_user_is_deactivated_and_activated_again_is_not(dynamodb: Any, tables: Tables) -> None:
    writer = ConnectorUserTable(dynamodb, tables.users)
    writer.set_status("lumen-home", "acct-1", active=False)

    assert ConnectorUserTable(dynamodb, tables.users).is_deactivated("lumen-home", "acct-1") is True
    assert ConnectorUserTable(dynamodb, tables.users).is_deactivated("aerie-sensors", "acct-1") is False
    assert ConnectorUserTable(dynamodb, tables.users).is_deactivated("lumen-home", "acct-2") is False

    writer.set_status("lumen-home", "acct-1", active=True)
    assert ConnectorUserTable(dynamodb, tables.users).is_deactivated("lumen-home", "acct-1") is False


def test_a_deactivation_reaches_a_reader_once_its_cached_answer_is_older_than_its_age(
    dynamodb: Any, tables: Tables
) -> None:
    cache_clock = Clock(0.0)
    reader = ConnectorUserTable(dynamodb, tables.users, max_age_seconds=60, cache_clock=cache_clock)
    assert reader.is_deactivated("lumen-home", "acct-1") is False

    ConnectorUserTable(dynamodb, tables.users).set_status("lumen-home", "acct-1", active=False)

    cache_clock.now = 59
    assert reader.is_deactivated("lumen-home", "acct-1") is False
    cache_clock.now = 61
    assert reader.is_deactivated("lumen-home", "acct-1") is True


def test_an_activation_reaches_a_reader_at_once_even_with_deactivated_cached_before(
    dynamodb: Any, tables: Tables
) -> None:
    # GIVEN a reader that found the user deactivated a second ago (its cache age is a minute)
    writer = ConnectorUserTable(dynamodb, tables.users)
    writer.set_status("lumen-home", "acct-1", active=False)
    cache_clock = Clock(0.0)
    reader = ConnectorUserTable(dynamodb, tables.users, max_age_seconds=60, cache_clock=cache_clock)
    assert reader.is_deactivated("lumen-home", "acct-1") is True

    # WHEN the connector function activates the user again
    writer.set_status("lumen-home", "acct-1", active=True)
    cache_clock.now = 1

    # THEN the reader sees it at its next read, without waiting out its cache
    assert reader.is_deactivated("lumen-home", "acct-1") is False


def test_the_user_table_keeps_no_user_id_in_its_keys(dynamodb: Any, tables: Tables) -> None:
    ConnectorUserTable(dynamodb, tables.users).set_status("lumen-home", "acct-secret-77", active=False)

    [item] = dynamodb.scan(TableName=tables.users)["Items"]
    assert "acct-secret-77" not in repr(item)


# --- Faults: throttled, unreachable ---------------------------------------------------------------------


@contextlib.contextmanager
def throttling_proxy(moto: ServerProcess) -> Iterator[FaultProxy]:
    """The fault proxy in front of moto (in this process), throttling every call until its plan changes."""
    proxy = serve_in_thread(moto.url, {"*": {"throttleRate": 1.0}})
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


@contextlib.contextmanager
def throttled(moto: ServerProcess) -> Iterator[Any]:
    """A DynamoDB client whose every call is throttled."""
    with throttling_proxy(moto) as proxy:
        yield local_client("dynamodb", proxy.url, attempts=2)


def unreachable() -> Any:
    """A DynamoDB client aimed at a loopback port nothing listens on."""
    return local_client("dynamodb", f"http://{LOOPBACK}:{free_port()}", attempts=1, connect_timeout=1)


CALLS = {
    "begin": lambda t: t.begin(pending(), LEASE),
    "handed_over": lambda t: t.handed_over(pending()),
    "release": lambda t: t.release(pending()),
    "answered": lambda t: t.answered(DISCOVERY, "lumen-home", "disc0001"),
    "expire_overdue": lambda t: t.expire_overdue(UnlimitedBudget()),
}


@pytest.mark.parametrize("call", CALLS)
def test_a_throttled_correlation_table_is_unavailable(moto: ServerProcess, tables: Tables, call: str) -> None:
    with throttled(moto) as client:
        table = CorrelationTable(client, tables.correlation, retention_seconds=RETENTION)
        with pytest.raises(DependencyUnavailableError) as raised:
            CALLS[call](table)
    assert raised.value.reason == "correlation"


@pytest.mark.parametrize("call", CALLS)
def test_an_unreachable_correlation_table_is_unavailable(tables: Tables, call: str) -> None:
    table = CorrelationTable(unreachable(), tables.correlation, retention_seconds=RETENTION)
    with pytest.raises(DependencyUnavailableError):
        CALLS[call](table)


def test_a_throttled_or_unreachable_user_table_is_unavailable(moto: ServerProcess, tables: Tables) -> None:
    with throttled(moto) as client:
        with pytest.raises(DependencyUnavailableError) as reading:
            ConnectorUserTable(client, tables.users).is_deactivated("lumen-home", "acct-1")
        with pytest.raises(DependencyUnavailableError) as writing:
            ConnectorUserTable(client, tables.users).set_status("lumen-home", "acct-1", active=False)
    with pytest.raises(DependencyUnavailableError):
        ConnectorUserTable(unreachable(), tables.users).is_deactivated("lumen-home", "acct-1")
    assert reading.value.reason == writing.value.reason == "users"


def test_a_failed_read_is_not_cached_as_active(moto: ServerProcess, dynamodb: Any, tables: Tables) -> None:
    ConnectorUserTable(dynamodb, tables.users).set_status("lumen-home", "acct-1", active=False)
    with throttling_proxy(moto) as proxy:
        reader = ConnectorUserTable(local_client("dynamodb", proxy.url, attempts=1), tables.users)
        with pytest.raises(DependencyUnavailableError):
            reader.is_deactivated("lumen-home", "acct-1")
        proxy.plan = check_plan({})  # the service is back

        assert reader.is_deactivated("lumen-home", "acct-1") is True


# --- The deployed receiver with the connector's tables -------------------------------------------------


@pytest.fixture
def receiver(
    relay: RelayResources, tables: Tables, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> Iterator[Callable[..., dict[str, Any]]]:
    """The webhook receiver's handler with the environment the template gives it, the connector
    function's tables included; it posts a signed webhook of the demo connector."""
    import webhook_receiver

    monkeypatch.setenv("CORRELATION_TABLE", tables.correlation)
    monkeypatch.setenv("CONNECTOR_USER_TABLE", tables.users)
    webhook_receiver.wiring.rebuild()

    def post(body: dict[str, Any] | list[dict[str, Any]], *, webhook_id: str = "msg_1") -> dict[str, Any]:
        raw = json.dumps(body).encode()
        headers = signed_headers(raw, webhook_id=webhook_id, timestamp=int(time.time()), secret=relay.secret)
        response: dict[str, Any] = webhook_receiver.lambda_handler(
            http_api_event(raw, headers, connector_id=relay.connector_id), lambda_context
        )
        return response

    yield post
    webhook_receiver.wiring.rebuild()


def queued(relay: RelayResources) -> list[dict[str, Any]]:
    sqs = local_client("sqs", relay.endpoint)
    messages = sqs.receive_message(QueueUrl=relay.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [QueuedEvent.from_message_body(m["Body"]).event for m in messages]


def test_the_receiver_marks_the_command_its_webhook_answers(
    receiver: Callable[..., dict[str, Any]], relay: RelayResources, dynamodb: Any, tables: Tables
) -> None:
    trace_id = str(BODIES["command-response"]["TraceId"])
    request = pending(trace_id, kind=COMMAND, connector_id=relay.connector_id, at=time.time())
    connector = CorrelationTable(dynamodb, tables.correlation, retention_seconds=RETENTION)
    connector.begin(request, LEASE)
    connector.handed_over(request)

    response = receiver(BODIES["command-response"])

    assert response["statusCode"] == 202
    assert queued(relay) == [BODIES["command-response"]]
    item = entry(dynamodb, tables.correlation, request)
    assert item is not None and item["status"] == {"S": Status.ANSWERED}


def test_the_receiver_drops_the_events_of_a_user_the_connector_function_deactivated(
    receiver: Callable[..., dict[str, Any]], relay: RelayResources, dynamodb: Any, tables: Tables
) -> None:
    user = str(BODIES["device-event"]["UserId"])
    ConnectorUserTable(dynamodb, tables.users).set_status(relay.connector_id, user, active=False)

    response = receiver(BODIES["device-event"])

    assert response["statusCode"] == 202
    assert json.loads(response["body"])["queued"] == 0
    assert queued(relay) == []


def test_the_receiver_queues_an_answer_while_the_correlation_table_cannot_be_used(
    receiver: Callable[..., dict[str, Any]], relay: RelayResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webhook_receiver

    monkeypatch.setenv("CORRELATION_TABLE", f"missing-{uuid.uuid4().hex[:8]}")
    webhook_receiver.wiring.rebuild()

    response = receiver(BODIES["command-response"])

    assert response["statusCode"] == 202
    assert queued(relay) == [BODIES["command-response"]]


def test_a_throttled_correlation_table_costs_one_call_per_webhook_and_every_answer_is_queued(
    receiver: Callable[..., dict[str, Any]],
    relay: RelayResources,
    tables: Tables,
    moto: ServerProcess,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import webhook_receiver

    answers = [{**BODIES["command-response"], "TraceId": f"trace-{n}"} for n in range(6)]
    # Only the correlation table's calls are throttled: the dedupe record and the user table still work.
    plan = {"UpdateItem": {"refuse": {tables.correlation: "ProvisionedThroughputExceededException"}}}
    with throttling_proxy(moto) as proxy:
        proxy.plan = check_plan(plan)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
        webhook_receiver.wiring.rebuild()

        response = receiver(answers)

        refused = proxy.calls["UpdateItem"]["ProvisionedThroughputExceededException"]
    assert response["statusCode"] == 202
    assert sorted(e["TraceId"] for e in queued(relay)) == sorted(a["TraceId"] for a in answers)
    # The tries of one call (the receiver's client retries it), not of one call per answer.
    assert 1 <= refused <= 3
