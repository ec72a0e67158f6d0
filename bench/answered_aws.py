"""The AWS services the functions call, answered inside the measuring process, behind every botocore client.

Every request still takes botocore's whole client-side path (parameter validation, serialisation,
endpoint resolution, signing, retry bookkeeping, response parsing): only the network is missing, and
`latency_ms` (a sleep, no CPU) stands in for it. `install()` answers every client the process has made
and every client it makes afterwards, from any botocore or boto3 session, so the code under test is
told nothing: a handler imported the way Lambda imports it runs as it would there.

The answers keep the state the benchmarks need: the signing secrets and profiles, the dedupe records and
the connector's correlation entries (a conditional put fails on a live record, as the receivers' and the
correlation table's conditions make it), the detectors of a model. With
`keep=False` table items and queued messages are counted but not kept, because in Lambda that state
lives in the service, not in the function's memory.

This module imports only what the functions import anyway (botocore's request types, the standard
library), so installing it after init does not take work away from the first invocation.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from typing import Any

import botocore.client
import botocore.session
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from bridge_local.answered import json_response

Answer = Callable[[AWSPreparedRequest, dict[str, Any]], AWSResponse]


def _body(request: AWSPreparedRequest) -> dict[str, Any]:
    raw = request.body
    if not raw:
        return {}
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}


def _query(request: AWSPreparedRequest) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.url).query))


def _last_path_part(request: AWSPreparedRequest) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(request.url).path.rstrip("/").rsplit("/", 1)[-1])


def _error(request: AWSPreparedRequest, code: str, status: int = 400, **extra: Any) -> AWSResponse:
    return json_response(request.url, status, {"__type": code, "message": code, **extra}, error_code=code)


def clients_in_process() -> list[Any]:
    """Every botocore client this process holds, whoever made it (a handler's module, a library)."""
    # Objects frozen by gc.freeze() are not listed: unfreeze them for the search, then freeze them again.
    frozen = gc.get_freeze_count() > 0
    if frozen:
        gc.unfreeze()
    found = [item for item in gc.get_objects() if isinstance(item, botocore.client.BaseClient)]
    if frozen:
        gc.freeze()
    return found


def calls_in_a_row(spans: list[tuple[float, float]]) -> int:
    """The most (start, end) spans that follow one another without overlapping."""
    ordered = sorted(spans)
    longest = [1] * len(ordered)
    for i, (start, _) in enumerate(ordered):
        earlier = [longest[j] for j in range(i) if ordered[j][1] <= start]
        if earlier:
            longest[i] = 1 + max(earlier)
    return max(longest, default=0)


class AnsweredAws:
    """Answers for Secrets Manager, SSM parameters, DynamoDB, SQS, IoT managed integrations, IoT Events
    Data and Lambda."""

    def __init__(
        self,
        *,
        secrets: dict[str, str] | None = None,
        parameters: dict[str, str] | None = None,
        detector_model: str = "",
        detectors: int = 0,
        detector_state: str = "Alarm",
        latency_ms: float = 0.0,
        keep: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secrets = dict(secrets or {})
        self.parameters = dict(parameters or {})
        self.detector_model = detector_model
        self.detector_keys = [f"detector-{n:06d}" for n in range(detectors)]
        self.detector_state = detector_state
        self.latency_seconds = latency_ms / 1000
        self.keep = keep
        self.clock = clock
        self.items: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.unanswered: Counter[str] = Counter()
        self.messages_sent = 0
        self.detectors_updated = 0
        self._spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], Answer] = {
            ("secrets-manager", "GetSecretValue"): self._get_secret_value,
            ("ssm", "GetParameter"): self._get_parameter,
            ("dynamodb", "PutItem"): self._put_item,
            ("dynamodb", "UpdateItem"): self._update_item,
            ("dynamodb", "GetItem"): self._get_item,
            ("dynamodb", "DeleteItem"): self._delete_item,
            ("sqs", "SendMessageBatch"): self._send_message_batch,
            ("sqs", "SendMessage"): self._send_message,
            ("iot-managed-integrations", "SendConnectorEvent"): self._send_connector_event,
            ("iot-events-data", "ListDetectors"): self._list_detectors,
            ("iot-events-data", "BatchUpdateDetector"): self._batch_update_detector,
            ("lambda", "Invoke"): self._invoke,
        }

    # --- hooking botocore ------------------------------------------------------------------------------

    def install(self, *, made_so_far: bool = True) -> None:
        """Answer every client made from now on in this process, and (`made_so_far`) every one made before."""
        made = botocore.session.Session.create_client
        answered = self

        @functools.wraps(made)
        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = made(session, *args, **kwargs)
            answered.attach(client)
            return client

        botocore.session.Session.create_client = create_client
        if made_so_far:
            for client in clients_in_process():
                self.attach(client)

    def attach(self, client: Any) -> None:
        # A before-send handler that returns a response takes the place of the HTTP request.
        client.meta.events.register("before-send", self.serve, unique_id="bench-answered-aws")

    def serve(self, request: AWSPreparedRequest, event_name: str, **kwargs: Any) -> AWSResponse:
        _, service, operation = event_name.split(".", 2)
        name = f"{service}.{operation}"
        started = time.perf_counter()
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        with self._lock:
            self.calls[name] += 1
            if self.latency_seconds:  # only then do calls wait for each other: kept for calls_in_a_row
                self._spans.append((started, time.perf_counter()))
        answer = self._answers.get((service, operation))
        if answer is None:
            with self._lock:
                self.unanswered[name] += 1
            return _error(request, "NotAnsweredByTheBenchmark", 501)
        return answer(request, _body(request))

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def calls_in_a_row(self) -> int:
        """How many calls lay end to end: the longest run of calls each begun after the one before it
        ended. With a latency, that is how many latencies a request waits for, whichever threads made
        the calls: calls made side by side overlap, calls that wait for others do not. Without a latency
        nothing waits, and every call counts."""
        with self._lock:
            return calls_in_a_row(self._spans) if self.latency_seconds else self.total_calls

    def forget_calls(self) -> None:
        with self._lock:
            self.calls.clear()
            self.unanswered.clear()
            self._spans.clear()

    # --- SSM Parameter Store (connector profiles) -------------------------------------------------------

    def _get_parameter(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        name = str(body.get("Name", ""))
        value = self.parameters.get(name)
        if value is None:
            return _error(request, "ParameterNotFound")
        parameter = {"Name": name, "Type": "String", "Value": value, "Version": 1, "DataType": "text"}
        return json_response(request.url, 200, {"Parameter": parameter})

    # --- Secrets Manager -------------------------------------------------------------------------------

    def _get_secret_value(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        name = str(body.get("SecretId", ""))
        value = self.secrets.get(name)
        if value is None:
            return _error(request, "ResourceNotFoundException")
        return json_response(
            request.url,
            200,
            {
                "ARN": f"arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}-AbCdEf",
                "Name": name,
                "SecretString": value,
                "VersionId": "00000000-0000-4000-8000-000000000001",
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1_790_000_000.0,
            },
        )

    # --- DynamoDB: one table keyed by `id`, as both receivers' dedupe records are -----------------------

    @staticmethod
    def _key(attributes: dict[str, Any]) -> str:
        return json.dumps(attributes.get("id"), sort_keys=True)

    def _put_item(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        item = body.get("Item", {})
        key = self._key(item)
        with self._lock:
            old = self.items.get(key)
            if old is not None and body.get("ConditionExpression") and self._live(old):
                returned = body.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                extra: dict[str, Any] = {"Item": old} if returned else {}
                return _error(request, "ConditionalCheckFailedException", **extra)
            if self.keep:
                self.items[key] = item
        return json_response(request.url, 200, {})

    def _live(self, item: dict[str, Any]) -> bool:
        # Both receivers' conditions let a put replace a record whose window has passed.
        expiration = item.get("expiration", {}).get("N")
        return expiration is None or float(expiration) >= self.clock()

    def _update_item(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        names = body.get("ExpressionAttributeNames", {})
        values = body.get("ExpressionAttributeValues", {})
        # "SET #a = :x, #b = :y REMOVE #c, #d", as both receivers' records and the correlation table write.
        assignments, _, removals = str(body.get("UpdateExpression", "")).partition(" REMOVE ")
        with self._lock:
            if self.keep:
                item = self.items.setdefault(self._key(body.get("Key", {})), dict(body.get("Key", {})))
                for assignment in assignments.removeprefix("SET ").split(","):
                    name, _, value = (part.strip() for part in assignment.partition("="))
                    if name and value in values:
                        item[names.get(name, name)] = values[value]
                for name in (part.strip() for part in removals.split(",")):
                    item.pop(names.get(name, name), None)
        return json_response(request.url, 200, {})

    def _get_item(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        with self._lock:
            found = self.items.get(self._key(body.get("Key", {})))
        return json_response(request.url, 200, {"Item": found} if found is not None else {})

    def _delete_item(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        with self._lock:
            self.items.pop(self._key(body.get("Key", {})), None)
        return json_response(request.url, 200, {})

    # --- SQS -------------------------------------------------------------------------------------------

    def _sent(self, message_body: str) -> dict[str, str]:
        with self._lock:
            self.messages_sent += 1
            number = self.messages_sent
        digest = hashlib.md5(message_body.encode(), usedforsecurity=False).hexdigest()
        return {"MessageId": f"00000000-0000-4000-8000-{number:012d}", "MD5OfMessageBody": digest}

    def _send_message_batch(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        successful = [
            {"Id": entry["Id"], **self._sent(str(entry.get("MessageBody", "")))}
            for entry in body.get("Entries", [])
        ]
        return json_response(request.url, 200, {"Successful": successful, "Failed": []})

    def _send_message(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        return json_response(request.url, 200, self._sent(str(body.get("MessageBody", ""))))

    # --- IoT managed integrations, IoT Events Data, Lambda ---------------------------------------------

    def _send_connector_event(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        return json_response(request.url, 202, {"ConnectorId": _last_path_part(request)})

    def _list_detectors(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        query = _query(request)
        if query.get("stateName", self.detector_state) != self.detector_state:
            return json_response(request.url, 200, {"detectorSummaries": []})
        start = int(query.get("nextToken", "0"))
        end = start + int(query.get("maxResults", "250"))
        summaries = [
            {
                "detectorModelName": self.detector_model,
                "keyValue": key,
                "detectorModelVersion": "1",
                "state": {"stateName": self.detector_state},
                "creationTime": 1_790_000_000.0,
                "lastUpdateTime": 1_790_000_000.0,
            }
            for key in self.detector_keys[start:end]
        ]
        token = {"nextToken": str(end)} if end < len(self.detector_keys) else {}
        return json_response(request.url, 200, {"detectorSummaries": summaries, **token})

    def _batch_update_detector(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        with self._lock:
            self.detectors_updated += len(body.get("detectors", []))
        return json_response(request.url, 200, {"batchUpdateDetectorErrorEntries": []})

    def _invoke(self, request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
        return json_response(request.url, 202, None)
