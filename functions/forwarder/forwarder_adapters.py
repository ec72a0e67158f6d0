"""The forwarder's adapters: one small class per AWS API, behind the ports of iotbridge.forwarding."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class ManagedIntegrationsConnectorEvents:
    """AWS IoT managed integrations SendConnectorEvent through a botocore client.

    Retries with exponential backoff and jitter are the client's own (botocore "standard" mode, set up by
    iotbridge.clients); the call is marked idempotent by AWS, so a retried send cannot double an event.
    """

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client  # resolved on first use, so importing the handler costs no client

    def send_connector_event(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        response: Mapping[str, Any] = self._client().send_connector_event(**params)
        return response


class SqsDeadLetterQueue:
    """An SQS FIFO queue that keeps the messages the forwarder gave up on, with why as message attributes."""

    def __init__(self, queue_url: Callable[[], str], client: Callable[[], Any]) -> None:
        self._queue_url = queue_url
        self._client = client

    def put(self, body: str, *, group_id: str, deduplication_id: str, attributes: Mapping[str, str]) -> None:
        self._client().send_message(
            QueueUrl=self._queue_url(),
            MessageBody=body,
            MessageGroupId=group_id,
            MessageDeduplicationId=deduplication_id,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            },
        )
