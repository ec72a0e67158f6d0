"""The managed-integrations side of the stand-in: it invokes a connector's Lambda function the way the
service does, and records every answer.

Managed integrations calls a cloud-to-cloud connector with Lambda's Invoke API: a JSON envelope (the end
user's credential in `header.auth`, the operation and its members in `payload`), a 2 s timeout per
invocation, and 5 more tries after a failed one. The stand-in does the same against a Lambda Invoke endpoint
(the local stack's), measuring each try against the 2 s it enforces itself: an answer that has not arrived
by then is a timeout, whatever comes later. What counts as a failed try here: a timeout, an unreachable
endpoint, a function error (an unhandled exception), or an answer whose `header.responseCode` is a 5xx (AWS
does not document whether it retries those; the stand-in does, which is the stricter test of idempotency).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

CALLER_TIMEOUT_SECONDS = 2.0
RETRIES = 5
# Between a failed try and the next: AWS does not say; short, so tests and the demo stay quick.
RETRY_PAUSE_SECONDS = 0.1
INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"
# The operationVersion each operation carries in AWS's samples.
OPERATION_VERSIONS = {"AWS.ActivateUser": "1.0.0"}


def oauth(token: str) -> dict[str, Any]:
    """`header.auth` of the OAuth 2.0 variant."""
    return {"type": "OAuth2.0", "token": token}


def general_authorization(arn: str, version_id: str | None = None) -> dict[str, Any]:
    """`header.auth` of the General Authorization variant: a secret the connector reads itself."""
    reference = {"arn": arn, **({"versionId": version_id} if version_id else {})}
    return {"type": "GeneralAuthorization", "secretsManager": reference}


def envelope(operation: str, connector_id: str, auth: Mapping[str, Any], **members: Any) -> dict[str, Any]:
    """The invocation managed integrations sends for `operation` (members: deviceDiscoveryId, traceId,
    connectorDeviceId, endpoints, ... as given)."""
    return {
        "header": {"auth": dict(auth)},
        "payload": {
            "operationName": operation,
            "operationVersion": OPERATION_VERSIONS.get(operation, "1.0"),
            "connectorId": connector_id,
            **members,
        },
    }


def matter_command(
    endpoint: str, cluster_id: str, command_id: str, fields: Any = None
) -> list[dict[str, Any]]:
    """A SendCommand's command as Matter endpoints of clusters of commands."""
    return [{"id": endpoint, "clusters": [{"id": cluster_id, "commands": {command_id: fields or {}}}]}]


@dataclass
class Attempt:
    number: int  # 1 for the first try
    seconds: float  # from the request sent to the answer read (or to the timeout)
    outcome: str  # "answered", "timeout", "unreachable", "function_error", "service_error"
    response_code: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "seconds": round(self.seconds, 4),
            "outcome": self.outcome,
            "responseCode": self.response_code,
        }


@dataclass
class Call:
    """One operation as managed integrations makes it: its tries, and the answer it kept."""

    operation: str
    connector_id: str
    timeout_seconds: float
    attempts: list[Attempt] = field(default_factory=list)
    answer: dict[str, Any] | None = None  # the last answer read within the timeout
    sequence: int = 0

    @property
    def response_code(self) -> int | None:
        header = (self.answer or {}).get("header")
        code = header.get("responseCode") if isinstance(header, dict) else None
        return code if isinstance(code, int) else None

    @property
    def answered_within_timeout(self) -> bool:
        """The final try was answered inside the stand-in's own timeout (as every kept answer is)."""
        last = self.attempts[-1] if self.attempts else None
        return last is not None and last.outcome == "answered" and last.seconds <= self.timeout_seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "operation": self.operation,
            "connectorId": self.connector_id,
            "timeoutSeconds": self.timeout_seconds,
            "attempts": [a.as_dict() for a in self.attempts],
            "answer": self.answer,
            "responseCode": self.response_code,
            "answeredWithinTimeout": self.answered_within_timeout,
        }


class ConnectorCaller:
    """Invokes one connector function through a Lambda Invoke endpoint, as managed integrations does."""

    def __init__(
        self,
        lambda_url: str,
        function_name: str,
        *,
        timeout_seconds: float = CALLER_TIMEOUT_SECONDS,
        retries: int = RETRIES,
        pause_seconds: float = RETRY_PAUSE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urllib.parse.urlsplit(lambda_url)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError("the Lambda endpoint must be http://host:port")
        self._host, self._port = parts.hostname, parts.port
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        self.retries = retries
        self._pause = pause_seconds
        self._sleep = sleep
        self._lock = threading.Lock()
        self.calls: list[Call] = []

    def invoke(self, event: Mapping[str, Any]) -> Call:
        found = event.get("payload")
        payload: Mapping[str, Any] = found if isinstance(found, dict) else {}
        call = Call(
            operation=str(payload.get("operationName")),
            connector_id=str(payload.get("connectorId")),
            timeout_seconds=self.timeout_seconds,
        )
        body = json.dumps(event).encode("utf-8")
        for number in range(1, self.retries + 2):
            attempt, result = self._try(number, body)
            call.attempts.append(attempt)
            if result is not None:
                call.answer = result
            if attempt.outcome == "answered":
                break
            if number <= self.retries:
                self._sleep(self._pause)
        with self._lock:
            call.sequence = len(self.calls) + 1
            self.calls.append(call)
        return call

    def _try(self, number: int, body: bytes) -> tuple[Attempt, dict[str, Any] | None]:
        """One try, and the connector's answer when one came within the timeout."""
        path = INVOKE_PATH.format(name=urllib.parse.quote(self.function_name, safe=""))
        headers = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"}
        started = time.monotonic()
        connection = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_seconds)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            function_error = response.getheader("X-Amz-Function-Error")
            status = response.status
        except TimeoutError:
            return Attempt(number, time.monotonic() - started, "timeout"), None
        except OSError:
            return Attempt(number, time.monotonic() - started, "unreachable"), None
        finally:
            connection.close()
        seconds = time.monotonic() - started
        # The socket's timeout bounds each wait, not their sum: the whole try is held to the timeout here.
        if seconds > self.timeout_seconds:
            return Attempt(number, seconds, "timeout"), None
        if status != 200:
            return Attempt(number, seconds, "service_error"), None
        if function_error:
            return Attempt(number, seconds, "function_error"), None
        try:
            result = json.loads(data) if data else None
        except ValueError:
            return Attempt(number, seconds, "function_error"), None
        code = _response_code(result)
        if code is None or not isinstance(result, dict):
            return Attempt(number, seconds, "function_error"), None
        return Attempt(number, seconds, "answered" if code < 500 else "service_error", code), result

    def recorded(self) -> list[dict[str, Any]]:
        with self._lock:
            return [call.as_dict() for call in self.calls]


def _response_code(result: Any) -> int | None:
    header = result.get("header") if isinstance(result, dict) else None
    code = header.get("responseCode") if isinstance(header, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None
