"""The forwarder's adapters: one small class per AWS API, the only code that sees botocore's errors."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from iotbridge.clients import failure_of
from iotbridge.errors import Failure, service_call_error

OPERATION_NAME = "SendConnectorEvent"
# Parameter names in botocore's validation report; the report also quotes values, which must not leak.
_REPORTED_PARAMETER = re.compile(r'parameter(?: in input:)? "?([A-Za-z0-9_.\[\]]+)"?')


class ManagedIntegrationsConnectorEvents:
    """AWS IoT managed integrations SendConnectorEvent through a botocore client of one try per call: the
    forwarder's domain is the one retry layer (iotbridge.clients). AWS marks the call idempotent, so a
    retried send cannot double an event.
    """

    CLIENT_ATTEMPTS = 1

    def __init__(self, client: Any) -> None:
        self._client = client
        client.meta.events.register(
            "before-parse.iot-managed-integrations.SendConnectorEvent",
            _delivered_whatever_the_body,
            unique_id="iotbridge-2xx-means-delivered",
        )

    def send_connector_event(self, params: Mapping[str, Any]) -> None:
        try:
            self._client.send_connector_event(**params)
        except Exception as exc:
            failure = failure_of(exc)
            safe = Failure(
                failure.code, safe_error_message(exc, failure), failure.transient, failure.http_status
            )
            raise service_call_error(safe) from exc


def _delivered_whatever_the_body(response_dict: dict[str, Any], **_: Any) -> None:
    """A 2xx means the service took the event: a body botocore could not parse (a JSON array, say) is read
    as an empty answer rather than failing a call whose event was delivered, which would send it again."""
    if not 200 <= int(response_dict.get("status_code") or 0) < 300:
        return
    body = response_dict.get("body") or b""
    try:
        parsed = json.loads(body) if body.strip() else {}
    except ValueError:
        return  # not JSON: botocore reads such a body without failing
    if not isinstance(parsed, dict):
        response_dict["body"] = b"{}"


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


class SqsDeadLetterQueue:
    """An SQS FIFO queue that keeps the messages the forwarder gave up on, with why as message attributes.

    One try per put: a failed put leaves the record on the event queue, and SQS's next delivery of it is
    the retry (iotbridge.clients).
    """

    CLIENT_ATTEMPTS = 1

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
