"""Per-connector rate limits: the leases of ConnectorLimiter, the shared buckets of DynamoDbRateBuckets on an
in-memory table that evaluates their conditional updates as DynamoDB does, and the intake's 429."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from fakes.aws import client_error
from fakes.receiver import InMemoryDeduplicator, InMemoryEventQueue, InMemorySigningKeys
from iotbridge.profile.document import ProfileError, parse_profile
from iotbridge.profile.limits import ConnectorLimits
from iotbridge.settings import Environment
from iotbridge.webhook_receiver.domain.intake import IntakeLimits, WebhookIntake, WebhookRequest
from iotbridge.webhook_receiver.domain.limits import ConnectorLimiter, lease_size
from iotbridge.webhook_receiver.rate_buckets import DynamoDbRateBuckets
from iotbridge.webhook_receiver.settings import ReceiverSettings
from samples.device_clouds import LUMEN
from samples.webhooks import BODIES, DEMO_CONNECTOR_ID, DEMO_SECRET, encode, signed_headers

NOW = 1_790_000_000.0
TABLE = "idempotency"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class ConditionalTable:
    """DynamoDB's UpdateItem and GetItem on one table keyed by `id`, for the expressions the buckets write:
    `SET #a = #a + :x, #b = :y` and `SET #a = :x`; conditions `#a BETWEEN :lo AND :hi` and
    `attribute_not_exists(#a) OR #a < :x`. Anything else raises, so it never answers what it does not
    understand. A failed condition raises ConditionalCheckFailedException with the item (ALL_OLD)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.updates = 0
        self.failure: Exception | None = None

    def update_item(self, **params: Any) -> dict[str, Any]:
        self.updates += 1
        if self.failure is not None:
            raise self.failure
        assert params["TableName"] == TABLE
        names, values = params["ExpressionAttributeNames"], params["ExpressionAttributeValues"]
        key = params["Key"]["id"]["S"]
        old = self.items.get(key)
        if not self._holds(params["ConditionExpression"], old or {}, names, values):
            error = client_error("ConditionalCheckFailedException", operation="UpdateItem")
            if old and params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
                error.response["Item"] = old
            raise error
        item = dict(old or params["Key"])
        for assignment in params["UpdateExpression"].removeprefix("SET ").split(", "):
            target, _, value = assignment.partition(" = ")
            sum_of = re.fullmatch(r"(#\w+) \+ (:\w+)", value)
            if sum_of:
                total = int(item[names[sum_of[1]]]["N"]) + int(values[sum_of[2]]["N"])
                item[names[target]] = {"N": str(total)}
            elif re.fullmatch(r":\w+", value):
                item[names[target]] = values[value]
            else:
                raise AssertionError(f"not an expression this table evaluates: {value}")
        self.items[key] = item
        return {}

    def get_item(self, **params: Any) -> dict[str, Any]:
        found = self.items.get(params["Key"]["id"]["S"])
        return {"Item": found} if found else {}

    @staticmethod
    def _holds(condition: str, item: dict[str, Any], names: dict[str, str], values: dict[str, Any]) -> bool:
        def number(name: str) -> int | None:
            attribute = item.get(names[name])
            return int(attribute["N"]) if attribute else None

        between = re.fullmatch(r"(#\w+) BETWEEN (:\w+) AND (:\w+)", condition)
        if between:
            value = number(between[1])
            low, high = (int(values[v]["N"]) for v in (between[2], between[3]))
            return value is not None and low <= value <= high
        absent_or_less = re.fullmatch(r"attribute_not_exists\((#\w+)\) OR (#\w+) < (:\w+)", condition)
        if absent_or_less:
            value = number(absent_or_less[1])
            return value is None or value < int(values[absent_or_less[3]]["N"])
        raise AssertionError(f"not a condition this table evaluates: {condition}")


@pytest.fixture
def table() -> ConditionalTable:
    return ConditionalTable()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def environment(
    table: ConditionalTable, clock: Clock, default: ConnectorLimits | None = None
) -> ConnectorLimiter:
    """One execution environment's limiter: its own leases, the shared table."""
    return ConnectorLimiter(DynamoDbRateBuckets(table, TABLE), default=default, clock=clock)


def admitted(limiter: ConnectorLimiter, limits: ConnectorLimits, count: int, connector: str = "c1") -> int:
    return sum(limiter.admit(connector, limits).admitted for _ in range(count))


LIMITS = ConnectorLimits(rate=10, burst=20)


def test_a_lease_costs_one_call_for_a_tenth_of_the_burst(table: ConditionalTable, clock: Clock) -> None:
    limits = ConnectorLimits(rate=50, burst=100)
    # WHEN one environment admits the whole burst at once
    count = admitted(environment(table, clock), limits, 100)
    # THEN all are admitted, for one conditional write per 10 webhooks
    assert (count, lease_size(limits), table.updates) == (100, 10, 10)


def test_past_its_burst_a_connector_waits_for_the_next_token(table: ConditionalTable, clock: Clock) -> None:
    limiter = environment(table, clock)
    assert admitted(limiter, LIMITS, 20) == 20
    # WHEN the 21st comes at the same instant
    verdict = limiter.admit("c1", LIMITS)
    # THEN it is refused, told to come back when a token refills (0.1 s at 10/s: Retry-After rounds up to 1)
    assert (verdict.admitted, verdict.retry_after) == (False, 1)


def test_an_empty_bucket_is_remembered_so_a_storm_costs_no_calls(
    table: ConditionalTable, clock: Clock
) -> None:
    limiter = environment(table, clock)
    admitted(limiter, LIMITS, 21)
    calls = table.updates
    # WHEN a storm goes on within the same tenth of a second
    assert admitted(limiter, LIMITS, 1000) == 0
    # THEN the table is not asked again
    assert table.updates == calls


def test_the_bucket_refills_at_its_rate(table: ConditionalTable, clock: Clock) -> None:
    limiter = environment(table, clock)
    admitted(limiter, LIMITS, 30)
    # WHEN a second passes
    clock.now += 1.0
    # THEN a second's worth (10) is admitted, and no more
    assert admitted(limiter, LIMITS, 30) == 10


def test_a_retry_after_says_how_long_until_a_token_at_a_slow_rate(
    table: ConditionalTable, clock: Clock
) -> None:
    slow = ConnectorLimits(rate=0.2, burst=1)
    limiter = environment(table, clock)
    assert admitted(limiter, slow, 1) == 1
    verdict = limiter.admit("c1", slow)
    assert (verdict.admitted, verdict.retry_after) == (False, 5)


def test_environments_share_one_bucket_to_the_stated_accuracy(table: ConditionalTable, clock: Clock) -> None:
    limits = ConnectorLimits(rate=100, burst=200)
    environments = [environment(table, clock) for _ in range(8)]
    # WHEN eight environments take turns at 10x the rate for 5 seconds (1,000 webhooks a second)
    total = 0
    for step in range(5000):
        clock.now = NOW + step / 1000
        total += environments[step % 8].admit("c1", limits).admitted
    # THEN at most burst + rate x time were admitted (leases are taken from the shared bucket), and at most
    # environments x lease size fewer (tokens left in leases when they lapse)
    allowed = limits.burst + limits.rate * 5
    assert allowed - 8 * lease_size(limits) <= total <= allowed


def test_one_connectors_storm_leaves_anothers_budget_intact(table: ConditionalTable, clock: Clock) -> None:
    limiter = environment(table, clock)
    assert admitted(limiter, LIMITS, 200, connector="storm") == 20
    assert admitted(limiter, LIMITS, 20, connector="calm") == 20


def test_a_race_lost_to_another_environment_is_retried_from_the_item_returned(
    table: ConditionalTable, clock: Clock
) -> None:
    first, second = DynamoDbRateBuckets(table, TABLE), DynamoDbRateBuckets(table, TABLE)
    assert first.take("c1", LIMITS, 5, clock.now).tokens == 5
    # WHEN another environment, which never saw the bucket, guesses it idle
    grant = second.take("c1", LIMITS, 5, clock.now)
    # THEN its failed condition returns the item, and the second write takes from the busy bucket
    assert (grant.tokens, table.updates) == (5, 3)
    # AND a lease larger than what is left gets what is left
    assert second.take("c1", LIMITS, 20, clock.now).tokens == 10


@pytest.mark.parametrize(
    "failure",
    [client_error("ProvisionedThroughputExceededException"), EndpointConnectionError(endpoint_url="x")],
)
def test_an_unreachable_table_lets_webhooks_through_and_backs_off(
    table: ConditionalTable, clock: Clock, failure: Exception
) -> None:
    table.failure = failure
    limiter = environment(table, clock)
    verdicts = [limiter.admit("c1", LIMITS) for _ in range(50)]
    assert all(v.admitted and v.unavailable for v in verdicts)
    # Asked once, then not again for a second
    assert table.updates == 1
    clock.now += 1.0
    limiter.admit("c1", LIMITS)
    assert table.updates == 2


# --- the intake ----------------------------------------------------------------------------------------


def make_intake(table: ConditionalTable, clock: Clock, default: ConnectorLimits | None) -> WebhookIntake:
    return WebhookIntake(
        keys=InMemorySigningKeys({DEMO_CONNECTOR_ID: DEMO_SECRET}),
        queue=InMemoryEventQueue(),
        deduplicator=InMemoryDeduplicator(),
        limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
        clock=clock,
        limiter=environment(table, clock, default),
    )


def webhook(index: int, *, signed: bool = True) -> WebhookRequest:
    body = encode(BODIES["device-event"])
    headers = {
        **signed_headers(body, webhook_id=f"msg_{index}", timestamp=int(NOW)),
        "content-type": "application/json",
    }
    if not signed:
        headers["webhook-signature"] = "v1,AAAA"
    return WebhookRequest(connector_id=DEMO_CONNECTOR_ID, headers=headers, body=body)


def test_a_connector_past_its_limit_is_answered_429_naming_the_limit(
    table: ConditionalTable, clock: Clock
) -> None:
    intake = make_intake(table, clock, ConnectorLimits(rate=1, burst=2))
    answers = [intake.handle(webhook(i)) for i in range(3)]
    assert [a.status for a in answers] == [202, 202, 429]
    refused = answers[2]
    assert refused.headers == {"Retry-After": "1"}
    assert refused.body["limit"] == {"rate": 1, "burst": 2}
    assert "1 webhooks per second, burst 2" in refused.body["message"]
    counted = {(m.name, tuple(m.dimensions.items())) for m in refused.measurements()}
    assert ("RateLimited", (("Connector", DEMO_CONNECTOR_ID),)) in counted
    assert ("Rejected_rate_limited", ()) in counted


def test_an_unverified_request_spends_none_of_the_budget(table: ConditionalTable, clock: Clock) -> None:
    intake = make_intake(table, clock, ConnectorLimits(rate=1, burst=1))
    assert [intake.handle(webhook(i, signed=False)).status for i in range(5)] == [401] * 5
    assert table.updates == 0
    assert intake.handle(webhook(9)).status == 202


def test_without_a_limit_nothing_is_asked(table: ConditionalTable, clock: Clock) -> None:
    intake = make_intake(table, clock, None)
    assert {intake.handle(webhook(i)).status for i in range(50)} == {202}
    assert table.updates == 0


def test_a_webhook_let_through_unchecked_is_counted(table: ConditionalTable, clock: Clock) -> None:
    table.failure = client_error("InternalServerError", 500)
    answer = make_intake(table, clock, LIMITS).handle(webhook(1))
    assert answer.status == 202
    assert "LimitsUnavailable" in {m.name for m in answer.measurements()}


# --- where limits come from ----------------------------------------------------------------------------


def test_a_profile_sets_its_connectors_limits() -> None:
    document = json.loads(LUMEN.profile_file.read_text())
    assert parse_profile(document).limits is None
    profile = parse_profile({**document, "limits": {"rate": 0.5, "burst": 3}})
    assert profile.limits == ConnectorLimits(rate=0.5, burst=3)


@pytest.mark.parametrize(
    ("limits", "path"),
    [
        ({"rate": 0, "burst": 1}, "limits.rate"),
        ({"rate": 1, "burst": 0}, "limits.burst"),
        ({"rate": 1}, "limits.burst"),
    ],
)
def test_a_profile_limit_out_of_range_is_named_by_its_path(limits: dict[str, Any], path: str) -> None:
    with pytest.raises(ProfileError) as raised:
        parse_profile({"version": 1, "limits": limits})
    assert path in {problem.path for problem in raised.value.problems}


def test_the_default_limit_comes_from_the_receivers_settings() -> None:
    base = {"IDEMPOTENCY_TABLE": TABLE, "EVENT_QUEUE_URL": "q", "MESSAGE_GROUP_KEY": "k" * 32}
    unset = ReceiverSettings.read(Environment(base))
    assert unset.default_limits is None
    env = Environment({**base, "DEFAULT_RATE_LIMIT": "50", "DEFAULT_BURST_LIMIT": "100"})
    assert ReceiverSettings.read(env).default_limits == ConnectorLimits(rate=50, burst=100)
