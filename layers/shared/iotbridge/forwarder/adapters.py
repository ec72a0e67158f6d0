"""The forwarder's adapters: one small class per AWS API, the only code that sees botocore's errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from iotbridge.clients import failure_of
from iotbridge.errors import Failure, service_call_error

OPERATION_NAME = "SendConnectorEvent"
# Parameter names in botocore's validation report; the report also quotes values, which must not leak.
_REPORTED_PARAMETER = re.compile(r'parameter(?: in input:)? "?([A-Za-z0-9_.\[\]]+)"?')


class ManagedIntegrationsConnectorEvents:
    """AWS IoT managed integrations SendConnectorEvent through a botocore client.

    Retries with exponential backoff and jitter are the client's own (botocore "standard" mode, the one
    retry layer of this call); AWS marks the call idempotent, so a retried send cannot double an event.
    """

    def __init__(self, client: Any, *, attempts: int) -> None:
        self._client = client
        self._attempts = attempts

    def send_connector_event(self, params: Mapping[str, Any]) -> int:
        try:
            response = self._client.send_connector_event(**params)
        except Exception as exc:
            failure = failure_of(exc)
            safe = Failure(
                failure.code, safe_error_message(exc, failure), failure.transient, failure.http_status
            )
            raise service_call_error(safe, retries=retries_made(exc, self._attempts)) from exc
        return retries_made(response, self._attempts)


def safe_error_message(exc: BaseException, failure: Failure) -> str:
    """A description of a failed send fit for logs and message attributes: service texts may quote values."""
    from botocore.exceptions import ClientError, ParamValidationError

    if isinstance(exc, ParamValidationError):
        names = sorted(set(_REPORTED_PARAMETER.findall(str(exc.kwargs.get("report", "")))))
        listed = f": {', '.join(names)}" if names else ""
        return f"{OPERATION_NAME} request failed parameter validation{listed}"
    if isinstance(exc, ClientError):
        suffix = f" (HTTP {failure.http_status})" if failure.http_status else ""
        return f"{OPERATION_NAME} failed with {failure.code}{suffix}"
    return f"{OPERATION_NAME} failed with {failure.code}"


def retries_made(exc_or_response: BaseException | Mapping[str, Any], max_attempts: int) -> int:
    """In-call retries botocore made, from the response metadata it records on results and on errors."""
    response: Any = exc_or_response
    if isinstance(exc_or_response, BaseException):
        response = getattr(exc_or_response, "response", None)
        if not isinstance(response, Mapping):
            # No HTTP response at all (connection failures, timeouts): botocore's standard mode retries these
            # until its attempts run out, so this is the count, or an upper bound if its retry quota ran dry.
            return max(0, max_attempts - 1)
    metadata = response.get("ResponseMetadata") if isinstance(response, Mapping) else None
    attempts = metadata.get("RetryAttempts") if isinstance(metadata, Mapping) else None
    return attempts if isinstance(attempts, int) and attempts >= 0 else 0


class SqsDeadLetterQueue:
    """An SQS FIFO queue that keeps the messages the forwarder gave up on, with why as message attributes."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def put(self, body: str, *, group_id: str, deduplication_id: str, attributes: Mapping[str, str]) -> None:
        try:
            self._client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=body,
                MessageGroupId=group_id,
                MessageDeduplicationId=deduplication_id,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
                },
            )
        except Exception as exc:
            raise service_call_error(failure_of(exc)) from exc
