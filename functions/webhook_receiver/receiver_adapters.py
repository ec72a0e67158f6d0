"""The receiver's adapters: Secrets Manager (signing keys), SQS FIFO (durable hand-off), DynamoDB (dedupe)."""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from intake import InProgress, TemporarilyUnavailable
from iotbridge.errors import classify
from iotbridge.queued_event import QueuedEvent
from iotbridge.webhook_signature import SecretFormatError, parse_secrets

logger = Logger(child=True)

_UNKNOWN_SECRET_CODES = frozenset(
    {"ResourceNotFoundException", "ValidationException", "InvalidParameterException"}
)
# Unknown connectors are remembered for less time than known ones, so a new connector's secret is
# picked up quickly while a flood of requests for made-up ids costs few Secrets Manager calls.
_NEGATIVE_CACHE_SECONDS = 60.0
_MAX_CACHED_CONNECTORS = 1024


class SecretsManagerSigningKeys:
    """Each connector's keys live in the secret `<prefix><connector id>`; cached with a bounded age."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._max_age = max_age_seconds
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, tuple[bytes, ...] | None]] = OrderedDict()
        self._lock = threading.Lock()

    def keys_for(self, connector_id: str) -> tuple[bytes, ...] | None:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(connector_id)
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(connector_id)
                return hit[1]
        keys = self._fetch(connector_id)
        ttl = self._max_age if keys is not None else min(self._max_age, _NEGATIVE_CACHE_SECONDS)
        with self._lock:
            self._cache[connector_id] = (now + ttl, keys)
            self._cache.move_to_end(connector_id)
            while len(self._cache) > _MAX_CACHED_CONNECTORS:
                self._cache.popitem(last=False)
        return keys

    def _fetch(self, connector_id: str) -> tuple[bytes, ...] | None:
        try:
            response = self._client.get_secret_value(SecretId=self._prefix + connector_id)
        except ClientError as exc:
            failure = classify(exc)
            if failure.code in _UNKNOWN_SECRET_CODES:
                return None
            logger.error("signing secret lookup failed", extra={"error_code": failure.code})
            raise TemporarilyUnavailable("secrets") from None
        except BotoCoreError as exc:
            logger.error("signing secret lookup failed", extra={"error_code": type(exc).__name__})
            raise TemporarilyUnavailable("secrets") from None
        secret_string = response.get("SecretString")
        if not isinstance(secret_string, str):
            logger.error("signing secret has no SecretString", extra={"connector_id": connector_id})
            raise TemporarilyUnavailable("secret_format")
        try:
            return parse_secrets(secret_string)
        except SecretFormatError as exc:
            # The operator's mistake, not the sender's: a retry will succeed once the secret is fixed.
            logger.error(
                "signing secret is malformed", extra={"connector_id": connector_id, "problem": str(exc)}
            )
            raise TemporarilyUnavailable("secret_format") from None


class SqsFifoEventQueue:
    """SendMessageBatch to the FIFO queue: at most 10 entries and 1 MiB a request, failed entries retried."""

    MAX_ENTRIES = 10
    MAX_REQUEST_BYTES = 1024 * 1024
    ATTEMPTS = 3

    def __init__(self, client: Any, queue_url: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._queue_url = queue_url
        self._sleep = sleep

    def enqueue(self, events: Sequence[QueuedEvent]) -> None:
        # Requests go one after another: FIFO order within a group follows the order of sends.
        for chunk in self._chunks(events):
            self._send(chunk)

    def _chunks(self, events: Sequence[QueuedEvent]) -> list[list[tuple[QueuedEvent, str]]]:
        chunks: list[list[tuple[QueuedEvent, str]]] = []
        current: list[tuple[QueuedEvent, str]] = []
        size = 0
        for event in events:
            body = event.to_message_body()
            length = len(body.encode("utf-8"))
            if current and (len(current) == self.MAX_ENTRIES or size + length > self.MAX_REQUEST_BYTES):
                chunks.append(current)
                current, size = [], 0
            current.append((event, body))
            size += length
        if current:
            chunks.append(current)
        return chunks

    def _send(self, chunk: list[tuple[QueuedEvent, str]]) -> None:
        pending = {str(i): item for i, item in enumerate(chunk)}
        for attempt in range(self.ATTEMPTS):
            entries = [
                {
                    "Id": entry_id,
                    "MessageBody": body,
                    "MessageGroupId": event.message_group_id,
                    "MessageDeduplicationId": event.deduplication_id,
                }
                for entry_id, (event, body) in pending.items()
            ]
            try:
                response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                failure = classify(exc)
                logger.warning("queueing failed", extra={"error_code": failure.code, "attempt": attempt + 1})
                if not failure.transient:
                    raise TemporarilyUnavailable("queue") from None
            else:
                failed = {f["Id"] for f in response.get("Failed", [])}
                for entry in response.get("Failed", []):
                    logger.warning(
                        "queue entry failed",
                        extra={"error_code": entry.get("Code"), "sender_fault": entry.get("SenderFault")},
                    )
                pending = {k: v for k, v in pending.items() if k in failed}
                if not pending:
                    return
            if attempt + 1 < self.ATTEMPTS:
                self._sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter, not crypto
        # Entries already sent carry deterministic deduplication ids: a retry by the sender won't repeat them.
        raise TemporarilyUnavailable("queue")


class IdempotencyTableDeduplicator:
    """Powertools idempotency on DynamoDB: a record per (connector, webhook id), expiring after the window."""

    def __init__(self, client: Any, table_name: str, *, window_seconds: int) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self.config = IdempotencyConfig(
            event_key_jmespath="[connectorId, webhookId]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=window_seconds,
            response_hook=self._mark_replay,
        )
        store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self._run = idempotent_function(
            data_keyword_argument="delivery", config=self.config, persistence_store=store
        )(self._call)

    @staticmethod
    def _call(action: Callable[[], dict[str, Any]], *, delivery: dict[str, str]) -> dict[str, Any]:
        return action()

    @staticmethod
    def _mark_replay(response: Any, idempotent_data: Any) -> Any:
        return {"replayed": True, "result": response}

    def once(
        self, connector_id: str, webhook_id: str, action: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
        )

        try:
            result = self._run(action, delivery={"connectorId": connector_id, "webhookId": webhook_id})
        except IdempotencyAlreadyInProgressError:
            raise InProgress from None
        except IdempotencyPersistenceLayerError as exc:
            logger.error("deduplication table unavailable", extra={"error": type(exc).__name__})
            raise TemporarilyUnavailable("dedupe") from None
        if isinstance(result, dict) and result.get("replayed") is True and "result" in result:
            return result["result"], True
        return result, False
