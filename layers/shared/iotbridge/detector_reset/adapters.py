"""Adapters from the reset job's ports to AWS: the IoT Events Data API, a detector table in DynamoDB with
AWS IoT Core for message-mode resets, and Lambda self-invocation."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from iotbridge.clients import failure_of
from iotbridge.errors import Failure, ServiceCallError, service_call_error

from .domain.plan import DynamoDbBackend
from .ports import (
    DetectorPage,
    DetectorRef,
    DetectorSnapshot,
    DetectorUpdate,
    InputMessage,
    ItemError,
    MessageSink,
)

NOT_FOUND = "ResourceNotFoundException"


class IotEventsDataService:
    """DetectorService over a botocore `iotevents-data` client.

    The client makes one attempt per call: the job's loop is the one retry layer of these calls (per call
    and per batch entry; see iotbridge.clients).
    """

    CLIENT_ATTEMPTS = 1

    def __init__(self, client: Any) -> None:
        self._client = client

    def _call(self, operation: str, **params: Any) -> Any:
        return _called(self._client, operation, **params)

    def list_detectors(
        self, detector_model_name: str, *, state_name: str | None, next_token: str | None, max_results: int
    ) -> DetectorPage:
        params: dict[str, Any] = {"detectorModelName": detector_model_name, "maxResults": max_results}
        if state_name is not None:
            params["stateName"] = state_name
        if next_token:
            params["nextToken"] = next_token
        answer = self._call("list_detectors", **params)
        return DetectorPage(
            detectors=[
                DetectorRef(s["keyValue"], (s.get("state") or {}).get("stateName"))
                for s in answer.get("detectorSummaries", [])
                if s.get("keyValue")
            ],
            next_token=answer.get("nextToken") or None,
        )

    def describe_detector(self, detector_model_name: str, key_value: str) -> DetectorSnapshot:
        answer = self._call("describe_detector", detectorModelName=detector_model_name, keyValue=key_value)
        detector = answer.get("detector") or {}
        state = detector.get("state") or {}
        return DetectorSnapshot(
            key_value=detector.get("keyValue", key_value),
            state_name=state.get("stateName", ""),
            variables={v["name"]: v["value"] for v in state.get("variables", [])},
            timers={t["name"]: t["timestamp"] for t in state.get("timers", [])},
        )

    def update_detectors(
        self, detector_model_name: str, updates: list[tuple[str, DetectorUpdate]]
    ) -> list[ItemError]:
        detectors = [
            {
                "messageId": message_id,
                "detectorModelName": detector_model_name,
                "keyValue": update.key_value,
                "state": {
                    "stateName": update.state_name,
                    "variables": [{"name": n, "value": v} for n, v in update.variables],
                    "timers": [{"name": n, "seconds": s} for n, s in update.timers],
                },
            }
            for message_id, update in updates
        ]
        answer = self._call("batch_update_detector", detectors=detectors)
        return _item_errors(answer.get("batchUpdateDetectorErrorEntries"))

    def put_messages(self, messages: list[tuple[str, InputMessage]]) -> list[ItemError]:
        answer = self._call(
            "batch_put_message",
            messages=[
                {"messageId": message_id, "inputName": m.destination, "payload": m.payload}
                for message_id, m in messages
            ],
        )
        # The service spells this member with a capital B.
        return _item_errors(answer.get("BatchPutMessageErrorEntries"))


def _item_errors(entries: list[dict[str, Any]] | None) -> list[ItemError]:
    return [
        ItemError(
            message_id=str(e.get("messageId", "")),
            code=str(e.get("errorCode") or "Unknown"),
            message=str(e.get("errorMessage", "")),
        )
        for e in entries or []
    ]


class DetectorTableService:
    """DetectorService over a detector table in DynamoDB (the layout of `TableAttributes`); message-mode
    resets go to `messages` (AWS IoT Core), since a table receives no input.

    The semantics are the IoT Events Data API's, as the job relies on them: listings page with a token the
    job can carry into a continuation; an update replaces state, variables and timers (what it leaves out
    is cleared), only ever of a detector that exists (a conditional write; a detector deleted meanwhile is
    `ResourceNotFoundException`); each detector of a batch succeeds or fails on its own, throttling
    included. The client makes one attempt per call: the job's loop is the one retry layer.
    """

    CLIENT_ATTEMPTS = 1

    def __init__(
        self,
        client: Any,
        backend: DynamoDbBackend,
        messages: MessageSink,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = backend.table
        self._index = backend.state_index
        self._names = backend.attributes
        self._messages = messages
        self._clock = clock

    def _key(self, detector_model_name: str, key_value: str) -> dict[str, Any]:
        return {
            self._names.detector_model: {"S": detector_model_name},
            self._names.key_value: {"S": key_value},
        }

    def list_detectors(
        self, detector_model_name: str, *, state_name: str | None, next_token: str | None, max_results: int
    ) -> DetectorPage:
        names = {"#m": self._names.detector_model, "#k": self._names.key_value, "#s": self._names.state_name}
        values: dict[str, Any] = {":m": {"S": detector_model_name}}
        params: dict[str, Any] = {
            "TableName": self._table,
            "Limit": max_results,
            "ProjectionExpression": "#k, #s",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "KeyConditionExpression": "#m = :m",
        }
        start = self._key(detector_model_name, _read_token(next_token)) if next_token else None
        if state_name is not None:
            params["IndexName"] = self._index
            params["KeyConditionExpression"] = "#m = :m AND #s = :s"
            values[":s"] = {"S": state_name}
            if start is not None:
                start[self._names.state_name] = {"S": state_name}
        if start is not None:
            # A position in the listing, which need not hold an item any more: DynamoDB goes on after it.
            params["ExclusiveStartKey"] = start
        answer = self._call("query", **params)
        detectors = []
        for item in answer.get("Items", []):
            key = _text(item.get(self._names.key_value))
            if key:
                detectors.append(DetectorRef(key, _text(item.get(self._names.state_name))))
        last = answer.get("LastEvaluatedKey")
        last_key = _text(last.get(self._names.key_value)) if last else None
        return DetectorPage(detectors, _make_token(last_key) if last_key else None)

    def describe_detector(self, detector_model_name: str, key_value: str) -> DetectorSnapshot:
        answer = self._call(
            "get_item",
            TableName=self._table,
            Key=self._key(detector_model_name, key_value),
            # Read what was just written: preserved variables and verification depend on it.
            ConsistentRead=True,
        )
        item = answer.get("Item")
        if item is None:
            raise service_call_error(
                Failure(NOT_FOUND, "no detector of that model has that key value", False)
            )
        variables = (item.get(self._names.variables) or {}).get("M") or {}
        timers = (item.get(self._names.timers) or {}).get("M") or {}
        return DetectorSnapshot(
            key_value=key_value,
            state_name=_text(item.get(self._names.state_name)) or "",
            variables={name: text for name, value in variables.items() if (text := _text(value)) is not None},
            timers={
                name: datetime.fromtimestamp(float(seconds), UTC)
                for name, value in timers.items()
                if (seconds := (value or {}).get("N")) is not None
            },
        )

    def update_detectors(
        self, detector_model_name: str, updates: list[tuple[str, DetectorUpdate]]
    ) -> list[ItemError]:
        errors = []
        for message_id, update in updates:
            now = self._clock()
            try:
                self._call(
                    "update_item",
                    TableName=self._table,
                    Key=self._key(detector_model_name, update.key_value),
                    # The whole maps are written: a variable or timer the update leaves out is cleared.
                    UpdateExpression="SET #s = :s, #v = :v, #t = :t, #u = :u",
                    ConditionExpression="attribute_exists(#k)",  # never create a detector
                    ExpressionAttributeNames={
                        "#s": self._names.state_name,
                        "#v": self._names.variables,
                        "#t": self._names.timers,
                        "#u": self._names.last_update_time,
                        "#k": self._names.key_value,
                    },
                    ExpressionAttributeValues={
                        ":s": {"S": update.state_name},
                        ":v": {"M": {name: {"S": value} for name, value in update.variables}},
                        ":t": {"M": {name: {"N": _seconds(now + s)} for name, s in update.timers}},
                        ":u": {"N": _seconds(now)},
                    },
                )
            except ServiceCallError as exc:
                refusal = exc
                if exc.code == "ConditionalCheckFailedException":  # the condition: no such detector
                    refusal = service_call_error(Failure(NOT_FOUND, "the detector does not exist", False))
                errors.append(_entry_error(message_id, refusal))
        return errors

    def put_messages(self, messages: list[tuple[str, InputMessage]]) -> list[ItemError]:
        return self._messages.put_messages(messages)

    def _call(self, operation: str, **params: Any) -> Any:
        return _called(self._client, operation, **params)


def _called(client: Any, operation: str, **params: Any) -> Any:
    """One call of the client; its failure becomes a ServiceCallError, transient or permanent."""
    try:
        return getattr(client, operation)(**params)
    except Exception as exc:
        raise service_call_error(failure_of(exc)) from exc


def _entry_error(message_id: str, error: ServiceCallError) -> ItemError:
    """A call made for one entry of a batch that failed: that entry's error."""
    failure = error.failure
    return ItemError(message_id, failure.code, failure.message, failure.transient)


def _text(value: dict[str, Any] | None) -> str | None:
    """A string or number attribute's text; None for anything else."""
    if not value:
        return None
    found = value.get("S", value.get("N"))
    return found if isinstance(found, str) else None


def _seconds(epoch: float) -> str:
    return f"{epoch:.3f}"


def _make_token(last_key: str) -> str:
    """The listing position as an opaque token: where the next page starts after."""
    return base64.urlsafe_b64encode(json.dumps({"after": last_key}).encode()).decode()


def _read_token(token: str) -> str:
    """The key value a token says to start after; a token that is not one of ours is refused."""
    try:
        doc = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        doc = None
    after = doc.get("after") if isinstance(doc, dict) else None
    if not isinstance(after, str) or not after:
        raise service_call_error(Failure("ValidationException", "the listing position is not valid", False))
    return after


class IotCorePublisher:
    """MessageSink over a botocore `iot-data` client: one MQTT publish (QoS 1) per message, each failing
    on its own. The client makes one attempt: the job's loop retries throttled and failed publishes."""

    CLIENT_ATTEMPTS = 1

    def __init__(self, client: Any) -> None:
        self._client = client

    def put_messages(self, messages: list[tuple[str, InputMessage]]) -> list[ItemError]:
        errors = []
        for message_id, message in messages:
            try:
                _called(self._client, "publish", topic=message.destination, qos=1, payload=message.payload)
            except ServiceCallError as exc:
                errors.append(_entry_error(message_id, exc))
        return errors


class LambdaSelfInvoker:
    """ContinuationSink: an asynchronous invocation (InvocationType=Event) of this same function."""

    def __init__(self, client: Any, function_arn: str) -> None:
        self._client = client
        self._function_arn = function_arn

    def continue_later(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        _called(self._client, "invoke", FunctionName=self._function_arn, InvocationType="Event", Payload=body)
