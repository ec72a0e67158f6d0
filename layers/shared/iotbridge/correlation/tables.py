"""The connector's two DynamoDB tables, shared by the connector function and the webhook receiver.

- The correlation table: one entry per discovery and command managed integrations asked for (layout in
  docs/building-a-connector.md). The connector function records an entry before it asks the device cloud
  and marks it handed over after; the receiver marks it answered; the sweep expires it.
  Entries awaiting an answer carry `due`, the partition key of the sparse index `byDeadline` (sort key
  `deadline`), so the sweep reads only those; the table's TTL (`expiration`) removes entries a retention
  period after their deadline, so an answer that comes late is still matched.
  Two more kinds of entry serve a profile's lookups, each read by key: `cloudcmd#` names the command a
  device cloud knows by its own request id (written when the cloud's answer to the command carries one, kept
  as long as the command's entry), and `latestdiscovery#` the latest discovery of a user and of a connector
  (written when a discovery begins, a newer one winning; open until the discovery's deadline).
- The user table: one item per (connector, user) whose account was activated or deactivated; the receiver
  refuses events of deactivated users.

Every call is retried by botocore's standard mode alone (iotbridge.clients); the adapters are the only code
that sees botocore's errors, which become DependencyUnavailableError.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NoReturn

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from iotbridge.budget import TimeBudget
from iotbridge.clients import failure_of
from iotbridge.correlation.model import (
    CLOUD_COMMAND,
    COMMAND,
    DISCOVERY,
    DUE_SHARDS,
    KINDS,
    LATEST_DISCOVERY,
    AnswerMatch,
    Begun,
    PendingRequest,
    Status,
    SweepReport,
    cloud_request_key,
    due_shard,
    kind_of_key,
    latest_discovery_key,
    record_key,
    user_key,
)
from iotbridge.errors import DependencyUnavailableError
from iotbridge.registry.cache import ExpiringCache

logger = Logger(child=True)

DEADLINE_INDEX = "byDeadline"
_CONDITION_FAILED = "ConditionalCheckFailedException"
# Time the sweep keeps for finishing the update it is in, before the invocation ends.
_SWEEP_MARGIN_SECONDS = 1.0
_MAX_CACHED_USERS = 4096


def _unavailable(reason: str, exc: BaseException) -> NoReturn:
    logger.error(f"{reason} table unavailable", extra={"error_code": failure_of(exc).code})
    raise DependencyUnavailableError(reason) from None


def _number(item: dict[str, Any] | None, name: str) -> float | None:
    value = (item or {}).get(name, {}).get("N")
    return float(value) if value is not None else None


def _text(item: dict[str, Any] | None, name: str) -> str | None:
    value = (item or {}).get(name, {}).get("S")
    return str(value) if value is not None else None


class CorrelationTable:
    """The correlation table (see the module's docstring)."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        retention_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table_name
        self._retention = retention_seconds
        self._clock = clock

    # --- the connector function -----------------------------------------------------------------------

    def begin(self, request: PendingRequest, lease_seconds: float) -> Begun:
        """Record the request before its device cloud is asked. An entry that exists already means a
        retried invocation: handed over (ask nothing), or being handed over by another invocation until its
        lease ends (after which this one may take it over)."""
        key = request.key
        now = self._clock()
        item: dict[str, Any] = {
            "id": {"S": key},
            "kind": {"S": request.kind},
            "connectorId": {"S": request.connector_id},
            "requestId": {"S": request.request_id},
            "status": {"S": Status.DISPATCHING},
            "requestedAt": {"N": f"{request.requested_at:.3f}"},
            "deadline": {"N": str(int(request.deadline))},
            "leaseUntil": {"N": str(int((now + max(lease_seconds, 1.0)) * 1000))},
            "leaseToken": {"S": request.lease},
            "expiration": {"N": str(int(request.deadline) + self._retention)},
            "due": {"S": due_shard(key)},
        }
        if request.user_id:
            item["userId"] = {"S": request.user_id}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=(
                    "attribute_not_exists(#id) OR #expiration < :now"
                    " OR (#status = :dispatching AND #leaseUntil < :now_ms)"
                ),
                ExpressionAttributeNames={
                    "#id": "id",
                    "#expiration": "expiration",
                    "#status": "status",
                    "#leaseUntil": "leaseUntil",
                },
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":now_ms": {"N": str(int(now * 1000))},
                    ":dispatching": {"S": Status.DISPATCHING},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if failure_of(exc).code != _CONDITION_FAILED:
                _unavailable("correlation", exc)
            old = exc.response.get("Item") or self._read(key)
            if old is None or _text(old, "status") == Status.DISPATCHING:
                return Begun.IN_PROGRESS
            return Begun.HANDED_OVER
        except BotoCoreError as exc:
            _unavailable("correlation", exc)
        if request.kind == DISCOVERY:
            try:
                self._make_latest(request)
            except DependencyUnavailableError:
                # Recorded in part: forgotten, so that the invocation's retry begins the discovery afresh.
                with contextlib.suppress(DependencyUnavailableError):
                    self.release(request)
                raise
        return Begun.NEW

    def _make_latest(self, request: PendingRequest) -> None:
        """Make a discovery the latest of its user (when known) and of its connector, unless a newer one is
        already: one conditional write each."""
        for user_id in dict.fromkeys((request.user_id, None)):
            self._conditionally(
                self._client.put_item,
                TableName=self._table,
                Item={
                    "id": {"S": latest_discovery_key(request.connector_id, user_id)},
                    "kind": {"S": LATEST_DISCOVERY},
                    "connectorId": {"S": request.connector_id},
                    "discoveryId": {"S": request.request_id},
                    "requestedAt": {"N": f"{request.requested_at:.3f}"},
                    "deadline": {"N": str(int(request.deadline))},
                    "leaseToken": {"S": request.lease},
                    "expiration": {"N": str(int(request.deadline))},
                },
                ConditionExpression="attribute_not_exists(#id) OR #requestedAt <= :requestedAt",
                ExpressionAttributeNames={"#id": "id", "#requestedAt": "requestedAt"},
                ExpressionAttributeValues={":requestedAt": {"N": f"{request.requested_at:.3f}"}},
            )

    def record_cloud_request_id(self, request: PendingRequest, cloud_request_id: str) -> bool:
        """Record that the device cloud knows this command by its own request id, for as long as the
        command's entry is kept. False when that id already names another command of the connector (the
        first is kept)."""
        now = self._clock()
        recorded = self._conditionally(
            self._client.put_item,
            TableName=self._table,
            Item={
                "id": {"S": cloud_request_key(request.connector_id, cloud_request_id)},
                "kind": {"S": CLOUD_COMMAND},
                "connectorId": {"S": request.connector_id},
                "traceId": {"S": request.request_id},
                "recordedAt": {"N": f"{now:.3f}"},
                "expiration": {"N": str(int(request.deadline) + self._retention)},
            },
            ConditionExpression="attribute_not_exists(#id) OR #expiration < :now OR #traceId = :traceId",
            ExpressionAttributeNames={"#id": "id", "#expiration": "expiration", "#traceId": "traceId"},
            ExpressionAttributeValues={
                ":now": {"N": str(int(now))},
                ":traceId": {"S": request.request_id},
            },
        )
        if not recorded:
            logger.warning("the device cloud's request id already names another command; the first is kept")
        return recorded

    def handed_over(self, request: PendingRequest) -> None:
        """The device cloud has the request. An answer that came first (a fast cloud) has already turned
        the entry ANSWERED, and stays; so does an entry a retry took over after this lease ended."""
        self._conditionally(
            self._client.update_item,
            TableName=self._table,
            Key={"id": {"S": request.key}},
            UpdateExpression="SET #status = :pending REMOVE #leaseUntil, #leaseToken",
            **self._held_by(
                request, names={"#leaseUntil": "leaseUntil"}, values={":pending": {"S": Status.PENDING}}
            ),
        )

    def release(self, request: PendingRequest) -> None:
        """The device cloud could not be asked: forget the entry, so a retried invocation asks again; unless a
        retry took it over after this lease ended (the entry is then the retry's). A discovery is no longer
        the latest of its user and connector either (while this invocation's lease made it so)."""
        self._conditionally(
            self._client.delete_item,
            TableName=self._table,
            Key={"id": {"S": request.key}},
            **self._held_by(request),
        )
        if request.kind != DISCOVERY:
            return
        for user_id in dict.fromkeys((request.user_id, None)):
            self._conditionally(
                self._client.delete_item,
                TableName=self._table,
                Key={"id": {"S": latest_discovery_key(request.connector_id, user_id)}},
                ConditionExpression="#discoveryId = :discoveryId AND #leaseToken = :lease",
                ExpressionAttributeNames={"#discoveryId": "discoveryId", "#leaseToken": "leaseToken"},
                ExpressionAttributeValues={
                    ":discoveryId": {"S": request.request_id},
                    ":lease": {"S": request.lease},
                },
            )

    @staticmethod
    def _conditionally(write: Callable[..., object], **request: Any) -> bool:
        """A conditional write: False when its condition failed, which the caller expects; any other failure
        is the table being unavailable."""
        try:
            write(**request)
        except ClientError as exc:
            if failure_of(exc).code == _CONDITION_FAILED:
                return False
            _unavailable("correlation", exc)
        except BotoCoreError as exc:
            _unavailable("correlation", exc)
        return True

    @staticmethod
    def _held_by(
        request: PendingRequest,
        *,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The condition that the entry is still being handed over under this request's lease, with the
        names and values the rest of the call uses."""
        return {
            "ConditionExpression": "#status = :dispatching AND #leaseToken = :lease",
            "ExpressionAttributeNames": {"#status": "status", "#leaseToken": "leaseToken", **(names or {})},
            "ExpressionAttributeValues": {
                ":dispatching": {"S": Status.DISPATCHING},
                ":lease": {"S": request.lease},
                **(values or {}),
            },
        }

    def expire_overdue(self, budget: TimeBudget, *, page_size: int = 100) -> SweepReport:
        """Turn every entry past its deadline and still unanswered EXPIRED, and count them by kind. Each is
        counted once: the update's condition holds only while the entry awaits its answer.

        The shards are read a page each in turn, from a first shard that moves on with every run: a
        backlog larger than one run can expire is worked off in every shard, not in the first ones only."""
        expired = dict.fromkeys(KINDS, 0)
        now = self._clock()
        first = int(now // 60) % DUE_SHARDS
        # Each shard with where its next page starts; a shard leaves the turn after its last page.
        turn: deque[tuple[int, dict[str, Any] | None]] = deque(
            ((first + n) % DUE_SHARDS, None) for n in range(DUE_SHARDS)
        )
        while turn:
            shard, start = turn.popleft()
            if budget.remaining_seconds() < _SWEEP_MARGIN_SECONDS:
                return SweepReport(expired, complete=False)
            page = self._overdue_page(shard, start, now, page_size)
            if not self._expire_page(page.get("Items", []), now, expired, budget):
                return SweepReport(expired, complete=False)
            start = page.get("LastEvaluatedKey")
            if start:
                turn.append((shard, start))
        return SweepReport(expired)

    def _overdue_page(
        self, shard: int, start: dict[str, Any] | None, now: float, page_size: int
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": DEADLINE_INDEX,
            "KeyConditionExpression": "#due = :due AND #deadline < :now",
            "ExpressionAttributeNames": {"#due": "due", "#deadline": "deadline"},
            "ExpressionAttributeValues": {":due": {"S": f"due#{shard}"}, ":now": {"N": str(int(now))}},
            "Limit": page_size,
        }
        if start is not None:
            request["ExclusiveStartKey"] = start
        try:
            page: dict[str, Any] = self._client.query(**request)
        except (ClientError, BotoCoreError) as exc:
            _unavailable("correlation", exc)
        return page

    def _expire_page(
        self, items: list[dict[str, Any]], now: float, expired: dict[str, int], budget: TimeBudget
    ) -> bool:
        """Expire a page's entries, counting them in `expired`; False when time ran out first."""
        for item in items:
            key = _text(item, "id")
            if key is not None and self._expire(key, now):
                kind = kind_of_key(key)
                expired[kind] = expired.get(kind, 0) + 1
            if budget.remaining_seconds() < _SWEEP_MARGIN_SECONDS:
                return False
        return True

    def _expire(self, key: str, now: float) -> bool:
        # False: answered meanwhile (the index lags the table), or expired by another sweep
        return self._conditionally(
            self._client.update_item,
            TableName=self._table,
            Key={"id": {"S": key}},
            UpdateExpression=(
                "SET #status = :expired, #expiredAt = :now REMOVE #due, #leaseUntil, #leaseToken"
            ),
            ConditionExpression="attribute_exists(#due) AND #status IN (:dispatching, :pending)",
            ExpressionAttributeNames={
                "#status": "status",
                "#expiredAt": "expiredAt",
                "#due": "due",
                "#leaseUntil": "leaseUntil",
                "#leaseToken": "leaseToken",
            },
            ExpressionAttributeValues={
                ":expired": {"S": Status.EXPIRED},
                ":now": {"N": f"{now:.3f}"},
                ":dispatching": {"S": Status.DISPATCHING},
                ":pending": {"S": Status.PENDING},
            },
        )

    # --- the discovery worker ---------------------------------------------------------------------------

    def is_answered(self, kind: str, connector_id: str, request_id: str) -> bool:
        """Whether the request's entry says its answer was queued already: a discovery job delivered again
        after its devices were reported is not fetched a second time. One consistent read."""
        item = self._read(record_key(kind, connector_id, request_id))
        return _text(item, "connectorId") == connector_id and _text(item, "status") == Status.ANSWERED

    def record_discovery(
        self, connector_id: str, discovery_id: str, *, devices: int | None, failure: str | None
    ) -> bool:
        """Record on a discovery's entry how the worker's fetch ended, for the operator reading the table:
        `devices`, how many devices its DEVICE_DISCOVERY events reported, or `failure`, why it gave up (a
        short code, never a value). The other of the two is removed, so the entry says the last outcome. The
        entry is not created: False when it is gone (past its retention) or is another connector's."""
        names = {
            "#id": "id",
            "#connectorId": "connectorId",
            "#devices": "devices",
            "#failure": "failure",
            "#fetchedAt": "fetchedAt",
        }
        values: dict[str, Any] = {":connector": {"S": connector_id}, ":at": {"N": f"{self._clock():.3f}"}}
        if failure is not None:
            values[":failure"] = {"S": failure}
            update = "SET #failure = :failure, #fetchedAt = :at REMOVE #devices"
        else:
            values[":devices"] = {"N": str(devices or 0)}
            update = "SET #devices = :devices, #fetchedAt = :at REMOVE #failure"
        return self._conditionally(
            self._client.update_item,
            TableName=self._table,
            Key={"id": {"S": record_key(DISCOVERY, connector_id, discovery_id)}},
            UpdateExpression=update,
            ConditionExpression="attribute_exists(#id) AND #connectorId = :connector",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    # --- the webhook receiver ---------------------------------------------------------------------------

    def answered(self, kind: str, connector_id: str, request_id: str) -> AnswerMatch:
        """Mark the entry of this request answered; what it was before says whether in time."""
        key = record_key(kind, connector_id, request_id)
        now = self._clock()
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                UpdateExpression=(
                    "SET #status = :answered, #answeredAt = :now REMOVE #due, #leaseUntil, #leaseToken"
                ),
                ConditionExpression=(
                    "attribute_exists(#id) AND #connectorId = :connector"
                    " AND #status IN (:dispatching, :pending, :expired)"
                ),
                ExpressionAttributeNames={
                    "#id": "id",
                    "#status": "status",
                    "#answeredAt": "answeredAt",
                    "#due": "due",
                    "#leaseUntil": "leaseUntil",
                    "#leaseToken": "leaseToken",
                    "#connectorId": "connectorId",
                },
                ExpressionAttributeValues={
                    ":answered": {"S": Status.ANSWERED},
                    ":now": {"N": f"{now:.3f}"},
                    ":connector": {"S": connector_id},
                    ":dispatching": {"S": Status.DISPATCHING},
                    ":pending": {"S": Status.PENDING},
                    ":expired": {"S": Status.EXPIRED},
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if failure_of(exc).code != _CONDITION_FAILED:
                _unavailable("correlation", exc)
            # DynamoDB returns the entry whenever it exists: none means no such request, and no second call.
            old = exc.response.get("Item")
            if _text(old, "connectorId") == connector_id and _text(old, "status") == Status.ANSWERED:
                return AnswerMatch.REPEATED
            return AnswerMatch.UNMATCHED
        except BotoCoreError as exc:
            _unavailable("correlation", exc)
        old = response.get("Attributes")
        deadline = _number(old, "deadline")
        if _text(old, "status") == Status.EXPIRED or (deadline is not None and now > deadline):
            return AnswerMatch.LATE
        return AnswerMatch.ANSWERED

    def lookup(self, kind: str, connector_id: str, key: str | None) -> str | None:
        """What the connector function recorded for a profile's lookup: for `command`, the traceId of the
        command the device cloud knows by its request id `key` (while the command's entry is kept); for
        `discovery`, the deviceDiscoveryId of the latest discovery of the user `key` (None: of the connector)
        until that discovery's deadline. None when there is none. One consistent read: the device cloud may
        answer a moment after the record was written."""
        if kind == COMMAND:
            if key is None:
                return None
            item = self._read(cloud_request_key(connector_id, key))
            found, until = _text(item, "traceId"), _number(item, "expiration")
        else:
            item = self._read(latest_discovery_key(connector_id, key))
            found, until = _text(item, "discoveryId"), _number(item, "deadline")
        if _text(item, "connectorId") != connector_id or until is None or until < self._clock():
            return None
        return found

    def _read(self, key: str) -> dict[str, Any] | None:
        """The entry as it is (for endpoints that do not return it with a failed condition)."""
        try:
            found = self._client.get_item(TableName=self._table, Key={"id": {"S": key}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            _unavailable("correlation", exc)
        item = found.get("Item")
        return item if isinstance(item, dict) else None


class ConnectorUserTable:
    """Which users of a connector are deactivated. The receiver reads it for each user its events name; an
    active user is cached for `max_age_seconds` (a deactivation takes effect within that time), a
    deactivated one is read again every time (an activation takes effect at once). The connector function
    writes it on AWS.ActivateUser and AWS.DeactivateUser."""

    ACTIVE = "ACTIVE"
    DEACTIVATED = "DEACTIVATED"

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        max_age_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        cache_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._table = table_name
        self._max_age = max_age_seconds
        self._clock = clock
        self._cache: ExpiringCache[str, bool] = ExpiringCache(_MAX_CACHED_USERS, cache_clock)

    def is_deactivated(self, connector_id: str, user_id: str) -> bool:
        key = user_key(connector_id, user_id)
        cached, found = self._cache.get(key)
        if cached:
            return bool(found)
        try:
            response = self._client.get_item(TableName=self._table, Key={"id": {"S": key}})
        except (ClientError, BotoCoreError) as exc:
            _unavailable("users", exc)
        deactivated = _text(response.get("Item"), "status") == self.DEACTIVATED
        if not deactivated:
            # Only "active" is kept: a deactivated user's events are dropped, and an ActivateUser must not
            # wait out the cache for them to flow again.
            self._cache.put(key, deactivated, self._max_age)
        return deactivated

    def set_status(self, connector_id: str, user_id: str, *, active: bool) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": user_key(connector_id, user_id)},
                    "connectorId": {"S": connector_id},
                    "status": {"S": self.ACTIVE if active else self.DEACTIVATED},
                    "updatedAt": {"N": f"{self._clock():.3f}"},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            _unavailable("users", exc)
