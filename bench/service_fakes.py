"""In-memory stand-ins for the botocore clients the receiver uses: Secrets Manager, SQS and DynamoDB.

They answer like the services (same response members, same error codes, DynamoDB's conditional put as
the receiver's deduplication record writes it), fast enough that the benchmark measures the bridge's code.
With `keep=False` they forget what they were given: in Lambda that state lives in the service, not in
the function's memory, so a memory benchmark must not count it.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from botocore.exceptions import ClientError


def _client_error(code: str, status: int, operation: str, **extra: Any) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} (in-memory fake)"},
            "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 0},
            **extra,
        },
        operation,
    )


class FakeSecretsManager:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = dict(secrets)
        self.calls = 0

    def get_secret_value(self, *, SecretId: str) -> dict[str, Any]:
        self.calls += 1
        value = self.secrets.get(SecretId)
        if value is None:
            raise _client_error("ResourceNotFoundException", 400, "GetSecretValue")
        return {"Name": SecretId, "SecretString": value, "VersionId": "v1"}


class FakeSqs:
    """SendMessageBatch of a FIFO queue: at most 10 entries, each needing a group id; all accepted."""

    MAX_ENTRIES = 10

    def __init__(self, *, keep: bool = True) -> None:
        self.keep = keep
        self.messages: list[dict[str, Any]] = []
        self.sent = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if not Entries or len(Entries) > self.MAX_ENTRIES:
            raise _client_error(
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, "SendMessageBatch"
            )
        if any(not e.get("MessageGroupId") for e in Entries):
            raise _client_error("MissingParameter", 400, "SendMessageBatch")
        successful = []
        with self._lock:
            for entry in Entries:
                self.sent += 1
                if self.keep:
                    self.messages.append(dict(entry))
                successful.append({"Id": entry["Id"], "MessageId": f"m-{next(self._ids)}"})
        return {"Successful": successful, "Failed": []}


class FakeDynamoDb:
    """One table keyed by `id`, with the conditional writes the receiver's deduplication record makes."""

    def __init__(self, *, keep: bool = True, clock: Any = time.time) -> None:
        self.keep = keep
        self.items: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self._clock = clock
        self._lock = threading.Lock()

    @staticmethod
    def _key(key: dict[str, Any]) -> str:
        ((_, value),) = key.items()
        return str(value["S"])

    def put_item(
        self,
        *,
        TableName: str,
        Item: dict[str, Any],
        ConditionExpression: str = "",
        ExpressionAttributeNames: dict[str, str] | None = None,
        ExpressionAttributeValues: dict[str, Any] | None = None,
        ReturnValuesOnConditionCheckFailure: str = "NONE",
    ) -> dict[str, Any]:
        names = ExpressionAttributeNames or {}
        values = ExpressionAttributeValues or {}
        key = str(Item[names.get("#id", "id")]["S"])
        with self._lock:
            self.calls += 1
            old = self.items.get(key)
            if old is not None and ConditionExpression and not self._may_replace(old, names, values):
                extra = {"Item": old} if ReturnValuesOnConditionCheckFailure == "ALL_OLD" else {}
                raise _client_error("ConditionalCheckFailedException", 400, "PutItem", **extra)
            if self.keep:
                self.items[key] = dict(Item)
        return {}

    @staticmethod
    def _may_replace(old: dict[str, Any], names: dict[str, str], values: dict[str, Any]) -> bool:
        # The receiver's condition: a record past its window, or in progress past its in-progress time.
        def number(attribute: str) -> float | None:
            found = old.get(names.get(attribute, ""))
            return float(found["N"]) if found else None

        expiration = number("#expiration")
        if expiration is not None and expiration < float(values[":now"]["N"]):
            return True
        status = old.get(names.get("#status", ""), {}).get("S")
        in_progress_expiration = number("#in_progress_expiration")
        return (
            status == values[":in_progress"]["S"]
            and in_progress_expiration is not None
            and in_progress_expiration < float(values[":now_ms"]["N"])
        )

    def update_item(
        self,
        *,
        TableName: str,
        Key: dict[str, Any],
        UpdateExpression: str,
        ExpressionAttributeNames: dict[str, str],
        ExpressionAttributeValues: dict[str, Any],
    ) -> dict[str, Any]:
        key = self._key(Key)
        assignments = UpdateExpression.removeprefix("SET ").split(",")
        with self._lock:
            self.calls += 1
            item = self.items.setdefault(key, dict(Key)) if self.keep else dict(Key)
            for assignment in assignments:
                name, _, value = (part.strip() for part in assignment.partition("="))
                item[ExpressionAttributeNames[name]] = ExpressionAttributeValues[value]
        return {}

    def delete_item(self, *, TableName: str, Key: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            self.items.pop(self._key(Key), None)
        return {}

    def get_item(
        self, *, TableName: str, Key: dict[str, Any], ConsistentRead: bool = False
    ) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            found = self.items.get(self._key(Key))
        return {"Item": dict(found)} if found is not None else {}
