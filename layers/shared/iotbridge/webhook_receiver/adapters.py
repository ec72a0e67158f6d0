"""The receiver's own adapters: SQS FIFO (durable hand-off, iotbridge.send_connector_event.queue, shared
with the connector function) and DynamoDB (dedupe). Its signing secrets and
profiles are read by the adapters the connector function shares (iotbridge.registry), its users'
status and its requests' correlation by those of iotbridge.correlation.

Each takes a botocore client and is the only code that sees that client's errors: they become the ports'
DependencyUnavailableError (or, for the dedupe record, WebhookInProgressError).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from iotbridge.clients import failure_of
from iotbridge.send_connector_event.queue import SqsFifoEventQueue

from .domain.archived import ArchivedWebhook
from .ports import (
    DEFAULT_LEASE_SECONDS,
    DependencyUnavailableError,
    WebhookConflictError,
    WebhookInProgressError,
)

logger = Logger(child=True)

__all__ = ["IdempotencyTableDeduplicator", "S3WebhookArchive", "SqsFifoEventQueue"]


class S3WebhookArchive:
    """Refused and skipped profiled webhooks, one S3 object each (the bucket encrypts them and expires them
    by its lifecycle). A failed put is logged by its error code and raised as DependencyUnavailableError.

    The S3 client is made on the first webhook kept, not at init: S3's service model and endpoint rules are
    large to load, and an environment that only accepts webhooks never needs them."""

    def __init__(self, make_client: Callable[[], Any], bucket: str) -> None:
        self._make = make_client
        self._client: Any = None
        self._lock = threading.Lock()
        self._bucket = bucket

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make()
            return self._client

    def keep(self, webhook: ArchivedWebhook) -> None:
        try:
            self._s3().put_object(
                Bucket=self._bucket, Key=webhook.key, Body=webhook.to_json(), ContentType="application/json"
            )
        except (BotoCoreError, ClientError) as exc:
            failure = failure_of(exc)
            extra = {"connector_id": webhook.connector_id, "error_code": failure.code}
            logger.warning("webhook not archived", extra=extra)
            raise DependencyUnavailableError("archive") from None


class IdempotencyTableDeduplicator:
    """One DynamoDB record per (connector, webhook id), kept for the dedupe window (the table's TTL).

    The record is written IN_PROGRESS with a conditional put before the events are queued and turned
    COMPLETED with the answer afterwards; a failed hand-off deletes it so the sender's retry runs again.
    The same webhook seen while IN_PROGRESS is answered "in progress" (503, the sender retries) until the
    invocation that owns it would have timed out; seen COMPLETED, it gets the first answer again.

    Written by hand, not with Powertools' idempotency utility (DynamoDBPersistenceLayer, which keeps the
    same kind of record): that utility costs more CPU per webhook for the same guarantee, as the Powertools
    receiver in `make bench` measures (docs/benchmarks.md, "Receiver, warm, through the SDK", deduplication
    alone).
    """

    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        window_seconds: int,
        fingerprint_key: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table_name
        self._window = window_seconds
        self._fingerprint_key = fingerprint_key
        self._clock = clock

    def _keyed(self, digest: str) -> str:
        return hmac.new(self._fingerprint_key, digest.encode("ascii"), hashlib.sha256).hexdigest()

    @staticmethod
    def record_id(connector_id: str, webhook_id: str) -> str:
        # Hashed: webhook ids are sender text; the key stays short, printable and free of separators.
        digest = hashlib.sha256(f"{connector_id}\x00{webhook_id}".encode("utf-8", "surrogatepass"))
        return "webhook#" + digest.hexdigest()

    def once(
        self,
        connector_id: str,
        webhook_id: str,
        action: Callable[[], dict[str, Any]],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        body_digest: str = "",
    ) -> tuple[dict[str, Any], bool]:
        key = {"id": {"S": self.record_id(connector_id, webhook_id)}}
        now = self._clock()
        now_ms = int(now * 1000)
        in_progress_ms = int(lease_seconds * 1000)
        # Keyed: the table keeps no plain digest of bodies that carry sensitive values.
        body_digest = self._keyed(body_digest) if body_digest else ""
        fingerprint = {"fingerprint": {"S": body_digest}} if body_digest else {}
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **key,
                    "status": {"S": self.IN_PROGRESS},
                    "expiration": {"N": str(int(now) + self._window)},
                    "in_progress_expiration": {"N": str(now_ms + max(in_progress_ms, 1000))},
                    **fingerprint,
                },
                # A new id, a record past its window (TTL deletes lazily), or an owner that timed out.
                ConditionExpression=(
                    "attribute_not_exists(#id) OR #expiration < :now"
                    " OR (#status = :in_progress AND #in_progress_expiration < :now_ms)"
                ),
                ExpressionAttributeNames={
                    "#id": "id",
                    "#expiration": "expiration",
                    "#status": "status",
                    "#in_progress_expiration": "in_progress_expiration",
                },
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":now_ms": {"N": str(now_ms)},
                    ":in_progress": {"S": self.IN_PROGRESS},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if failure_of(exc).code != "ConditionalCheckFailedException":
                self._unavailable(exc)
            return self._earlier_answer(key, exc.response.get("Item"), body_digest), True
        except BotoCoreError as exc:
            self._unavailable(exc)

        try:
            result = action()
        except BaseException:
            self._release(key)
            raise
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET #status = :completed, #response = :response",
                ExpressionAttributeNames={"#status": "status", "#response": "response"},
                ExpressionAttributeValues={
                    ":completed": {"S": self.COMPLETED},
                    ":response": {"S": json.dumps(result, separators=(",", ":"))},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            # The events are queued: the answer is still 202. A retry meets IN_PROGRESS (503) until the
            # record's in-progress time ends, then queues again with the same SQS deduplication ids.
            logger.warning("deduplication record not completed", extra={"error_code": failure_of(exc).code})
        return result, False

    def _earlier_answer(
        self, key: dict[str, Any], old: dict[str, Any] | None, body_digest: str
    ) -> dict[str, Any]:
        if not old:  # an endpoint that does not return the old item on a failed condition
            try:
                old = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
            except (ClientError, BotoCoreError) as exc:
                self._unavailable(exc)
        if not old:  # deleted since (expired, or its owner failed): the sender's retry will run it
            raise WebhookInProgressError
        stored = old.get("fingerprint", {}).get("S")
        # A record written before fingerprints were kept has none: it is taken as the same body.
        if stored and body_digest and stored != body_digest:
            raise WebhookConflictError
        status = old.get("status", {}).get("S")
        response = old.get("response", {}).get("S")
        if status != self.COMPLETED or response is None:
            raise WebhookInProgressError
        try:
            answer = json.loads(response)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            logger.error("deduplication record unreadable")
            raise DependencyUnavailableError("dedupe")
        return answer

    def _release(self, key: dict[str, Any]) -> None:
        try:
            self._client.delete_item(TableName=self._table, Key=key)
        except (ClientError, BotoCoreError) as exc:
            # The sender's retry meets IN_PROGRESS until the record's in-progress time ends.
            logger.error("deduplication record not released", extra={"error_code": failure_of(exc).code})

    @staticmethod
    def _unavailable(exc: Exception) -> NoReturn:
        logger.error("deduplication table unavailable", extra={"error_code": failure_of(exc).code})
        raise DependencyUnavailableError("dedupe") from None
