"""Connectors' rate buckets in the idempotency table: one item `ratelimit#<connector id>` each.

The bucket is kept as the time it is next empty of all it may give (GCRA's theoretical arrival time, `tat`,
in microseconds): taking n tokens moves it n x (1 / rate) later, and the bucket has them while the moved
time stays within burst x (1 / rate) of now. So a lease is one conditional UpdateItem, never a read first:

- a busy bucket (tat at or after now): `SET tat = tat + :cost` if `tat BETWEEN :now AND :latest`, an atomic
  add that concurrent environments do not conflict on;
- an idle one (tat in the past, or no item): `SET tat = :now + :cost` if the item is absent or tat < now.

The adapter guesses which from what it last saw; a failed condition returns the item (ALL_OLD), from which
it knows the bucket's state: the other form, fewer tokens, or none and when the next one refills. The
item's `expiration` (the table's TTL) is set past the time its bucket is full again: TTL only ever deletes
a full bucket, which is what an absent item means.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from iotbridge.clients import failure_of
from iotbridge.profile.limits import ConnectorLimits

from .ports import DependencyUnavailableError, Grant

logger = Logger(child=True)

MICROSECONDS = 1_000_000
# Kept this long past the time the bucket is full again, then left to the table's TTL.
KEPT_SECONDS = 3600
# Conditional writes one lease may take: the guess, the other form, fewer tokens (each read from ALL_OLD).
ATTEMPTS = 3

_NAMES = {"#tat": "tat", "#expiration": "expiration"}
_BUSY = ("SET #tat = #tat + :cost, #expiration = :expiration", "#tat BETWEEN :now AND :latest")
_IDLE = ("SET #tat = :start, #expiration = :expiration", "attribute_not_exists(#tat) OR #tat < :now")


class DynamoDbRateBuckets:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name
        # What each bucket's tat was last seen to be at least: which form to try first.
        self._busy_until: dict[str, int] = {}

    @staticmethod
    def item_id(connector_id: str) -> str:
        return "ratelimit#" + connector_id

    def take(self, connector_id: str, limits: ConnectorLimits, wanted: int, now: float) -> Grant:
        # Microseconds per token, rounded up: the bucket never refills faster than the limit says.
        interval = math.ceil(MICROSECONDS / limits.rate)
        capacity = interval * limits.burst
        now_us = int(now * MICROSECONDS)
        tokens = max(1, min(wanted, limits.burst))
        busy = self._busy_until.get(connector_id, 0) >= now_us
        key = {"id": {"S": self.item_id(connector_id)}}
        expiration = {"N": str(math.ceil((now_us + capacity) / MICROSECONDS) + KEPT_SECONDS)}
        for _ in range(ATTEMPTS):
            cost = tokens * interval
            update, condition = _BUSY if busy else _IDLE
            values = {":now": {"N": str(now_us)}, ":expiration": expiration}
            if busy:
                values |= {":cost": {"N": str(cost)}, ":latest": {"N": str(now_us + capacity - cost)}}
            else:
                values[":start"] = {"N": str(now_us + cost)}
            old = self._update(key, update, condition, values)
            if old is None:
                self._remember(connector_id, now_us + cost)
                return Grant(tokens)
            tat = _number(old.get("tat"))
            if tat is None or tat < now_us:
                busy = False
                continue
            self._remember(connector_id, tat)
            left = (now_us + capacity - tat) // interval
            if left < 1:
                # The next token is there when tat is back within the capacity of now.
                return Grant(0, (tat + interval - capacity - now_us) / MICROSECONDS)
            busy, tokens = True, min(tokens, left)
        # Every attempt raced another environment's write: none this time, ask again after one token's time.
        return Grant(0, interval / MICROSECONDS)

    def _remember(self, connector_id: str, tat: int) -> None:
        if len(self._busy_until) >= 4096 and connector_id not in self._busy_until:
            self._busy_until.clear()
        self._busy_until[connector_id] = tat

    def _update(
        self, key: dict[str, Any], update: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any] | None:
        """None when the update was made; the item as it was (empty when absent) when its condition
        failed."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except ClientError as exc:
            if failure_of(exc).code != "ConditionalCheckFailedException":
                self._unavailable(exc)
            old = exc.response.get("Item")
            if old is not None:
                return dict(old)
        except BotoCoreError as exc:
            self._unavailable(exc)
        # An endpoint that does not return the item on a failed condition: read it.
        try:
            found = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            self._unavailable(exc)
        return dict(found or {})

    @staticmethod
    def _unavailable(exc: Exception) -> NoReturn:
        logger.warning("rate limit table unavailable", extra={"error_code": failure_of(exc).code})
        raise DependencyUnavailableError("limits") from None


def _number(attribute: Any) -> int | None:
    if not isinstance(attribute, dict) or "N" not in attribute:
        return None
    try:
        return int(attribute["N"])
    except ValueError:
        return None
