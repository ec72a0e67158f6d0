"""In-memory stand-ins for the reset job's ports: they keep state and fail the way the service does."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from bridge_local.answered import answered_client, json_response
from iotbridge.detector_reset.ports import (
    DetectorPage,
    DetectorRef,
    DetectorSnapshot,
    DetectorUpdate,
    InputMessage,
    ItemError,
)
from iotbridge.errors import Failure, ServiceCallError, service_call_error

MODEL = "hvac"


def _error(code: str, transient: bool) -> ServiceCallError:
    return service_call_error(Failure(code=code, message="injected", transient=transient))


@dataclass
class FakeDetector:
    state: str
    variables: dict[str, str] = field(default_factory=dict)
    timers: dict[str, int] = field(default_factory=dict)


class FakeIotEvents:
    """Detectors of one detector model, listed in key order with a key cursor as the page token."""

    def __init__(self, detectors: dict[str, FakeDetector] | None = None) -> None:
        self.detectors: dict[str, FakeDetector] = detectors or {}
        self._lock = threading.Lock()
        # Injected faults
        self.failing_calls: dict[str, list[str]] = {}  # operation -> codes raised by its next calls, in turn
        self.item_throttles: Counter[str] = Counter()  # key value -> entries still to be throttled
        self.item_errors: dict[str, str] = {}  # key value -> permanent per-entry error code
        # What happened
        self.calls: Counter[str] = Counter()
        self.batch_sizes: list[int] = []
        self.updates: Counter[str] = Counter()  # key value -> updates applied
        self.messages: list[tuple[str, bytes]] = []
        self.message_ids_per_call: list[list[str]] = []

    @classmethod
    def with_fleet(cls, states: dict[str, int], variables: dict[str, str] | None = None) -> FakeIotEvents:
        fake = cls()
        n = 0
        for state, count in states.items():
            for _ in range(count):
                fake.detectors[f"dev-{n:05d}"] = FakeDetector(state, dict(variables or {}), {"t": 30})
                n += 1
        return fake

    def _enter(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1
            codes = self.failing_calls.get(operation)
            code = codes.pop(0) if codes else None
        if code is not None:
            raise _error(code, transient=code != "InvalidRequestException" and code != NOT_FOUND)

    def _entry_error(self, message_id: str, key: str) -> ItemError | None:
        if key in self.item_errors:
            return ItemError(message_id, self.item_errors[key], "injected")
        if self.item_throttles[key] > 0:
            self.item_throttles[key] -= 1
            return ItemError(message_id, "ThrottlingException", "slow down")
        if key not in self.detectors:
            return ItemError(message_id, NOT_FOUND, "no such detector")
        return None

    # -- DetectorService

    def list_detectors(
        self, detector_model_name: str, *, state_name: str | None, next_token: str | None, max_results: int
    ) -> DetectorPage:
        self._enter("list_detectors")
        if detector_model_name != MODEL:
            raise _error(NOT_FOUND, transient=False)
        assert 1 <= max_results <= 250
        with self._lock:
            keys = sorted(
                k
                for k, d in self.detectors.items()
                if (state_name is None or d.state == state_name) and (next_token is None or k > next_token)
            )
            page = keys[:max_results]
            refs = [DetectorRef(k, self.detectors[k].state) for k in page]
        return DetectorPage(refs, page[-1] if len(keys) > max_results else None)

    def describe_detector(self, detector_model_name: str, key_value: str) -> DetectorSnapshot:
        self._enter("describe_detector")
        with self._lock:
            detector = self.detectors.get(key_value)
            if detector is None:
                raise _error(NOT_FOUND, transient=False)
            return DetectorSnapshot(key_value, detector.state, dict(detector.variables), {})

    def update_detectors(
        self, detector_model_name: str, updates: list[tuple[str, DetectorUpdate]]
    ) -> list[ItemError]:
        self._enter("update_detectors")
        ids = [message_id for message_id, _ in updates]
        assert len(set(ids)) == len(ids), "message ids must be unique within a batch"
        errors = []
        with self._lock:
            self.batch_sizes.append(len(updates))
            self.message_ids_per_call.append(ids)
            for message_id, update in updates:
                error = self._entry_error(message_id, update.key_value)
                if error is not None:
                    errors.append(error)
                    continue
                # Like the service: what the update leaves out is cleared.
                self.detectors[update.key_value] = FakeDetector(
                    update.state_name, dict(update.variables), dict(update.timers)
                )
                self.updates[update.key_value] += 1
        return errors

    def put_messages(self, messages: list[tuple[str, InputMessage]]) -> list[ItemError]:
        self._enter("put_messages")
        assert len(messages) <= 10
        errors = []
        with self._lock:
            self.batch_sizes.append(len(messages))
            for message_id, message in messages:
                key = _key_of(message.payload)
                error = self._entry_error(message_id, key)
                if error is not None:
                    errors.append(error)
                    continue
                self.messages.append((message.destination, message.payload))
                self.updates[key] += 1
        return errors


NOT_FOUND = "ResourceNotFoundException"


def _key_of(payload: bytes) -> str:
    return str(json.loads(payload)["device"])


class CountdownBudget:
    """A Lambda's remaining time that drops by `step` seconds each time it is asked."""

    def __init__(self, start: float, step: float) -> None:
        self.left = start
        self.step = step

    def remaining_seconds(self) -> float:
        self.left -= self.step
        return self.left


@dataclass
class CapturedContinuations:
    """Continuations the job asked for, kept to be run one after another in the test."""

    payloads: list[dict[str, Any]] = field(default_factory=list)
    fail_with: str | None = None

    def continue_later(self, payload: dict[str, Any]) -> None:
        if self.fail_with:
            raise _error(self.fail_with, transient=False)
        self.payloads.append(payload)


# --- Real botocore clients answered in memory --------------------------------------------------------------


@dataclass
class Detector:
    state: str
    variables: dict[str, str]


@dataclass
class InMemoryIotEventsData:
    """The four operations the job calls, over the REST-JSON wire format botocore sends and parses.

    Failures are set per detector key (error entries of the batch operations, or DescribeDetector failing)
    or per operation (the whole call fails). Their messages quote what the request carried, values included,
    as AWS validation errors can; `quoted` keeps every error text sent, to show the trap is armed.
    """

    detectors: dict[str, Detector]
    model: str
    item_errors: dict[str, str] = field(default_factory=dict)
    describe_errors: dict[str, str] = field(default_factory=dict)
    call_errors: dict[str, tuple[str, int]] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    quoted: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = answered_client("iotevents-data", self._serve)

    def _serve(self, request: Any, operation: str) -> AWSResponse:
        sent = request.body.decode() if isinstance(request.body, bytes) else str(request.url)
        if operation in self.call_errors:
            code, status = self.call_errors[operation]
            return self._error(request.url, code, status, f"1 validation error detected: request {sent}")
        url = urllib.parse.urlsplit(request.url)
        query = dict(urllib.parse.parse_qsl(url.query))
        if operation == "ListDetectors":
            return self._list(request.url, query)
        if operation == "DescribeDetector":
            return self._describe(request.url, query["keyValue"])
        body = json.loads(request.body)
        if operation == "BatchUpdateDetector":
            return self._update(request.url, body["detectors"])
        return self._put(request.url, body["messages"])

    def _error(self, url: str, code: str, status: int, message: str) -> AWSResponse:
        self.quoted.append(message)
        return json_response(url, status, {"message": message}, error_code=code)

    def _list(self, url: str, query: dict[str, str]) -> AWSResponse:
        size = int(query.get("maxResults", "50"))
        keys = sorted(k for k, d in self.detectors.items() if d.state == query.get("stateName", d.state))
        start = int(query.get("nextToken", "0"))
        page = keys[start : start + size]
        summaries = [
            {"detectorModelName": self.model, "keyValue": k, "state": {"stateName": self.detectors[k].state}}
            for k in page
        ]
        token = {"nextToken": str(start + size)} if start + size < len(keys) else {}
        return json_response(url, 200, {"detectorSummaries": summaries, **token})

    def _describe(self, url: str, key: str) -> AWSResponse:
        if key in self.describe_errors:
            code = self.describe_errors[key]
            status = 404 if code == "ResourceNotFoundException" else 400
            return self._error(
                url, code, status, f"detector {key} with {self.detectors[key].variables} failed"
            )
        detector = self.detectors[key]
        variables = [{"name": n, "value": v} for n, v in detector.variables.items()]
        state = {"stateName": detector.state, "variables": variables, "timers": []}
        return json_response(
            url, 200, {"detector": {"detectorModelName": self.model, "keyValue": key, "state": state}}
        )

    def _update(self, url: str, entries: list[dict[str, Any]]) -> AWSResponse:
        errors = []
        for entry in entries:
            key = entry["keyValue"]
            if key in self.item_errors:
                message = f"Value {json.dumps(entry['state'])} at 'detectors.member.state' is not valid"
                self.quoted.append(message)
                errors.append(
                    {
                        "messageId": entry["messageId"],
                        "errorCode": self.item_errors[key],
                        "errorMessage": message,
                    }
                )
                continue
            self.updates.append(entry)
            state = entry["state"]
            self.detectors[key] = Detector(
                state["stateName"], {v["name"]: v["value"] for v in state["variables"]}
            )
        return json_response(url, 200, {"batchUpdateDetectorErrorEntries": errors})

    def _put(self, url: str, messages: list[dict[str, Any]]) -> AWSResponse:
        errors = []
        for message in messages:
            payload = json.loads(base64.b64decode(message["payload"]))
            if payload["key"] in self.item_errors:
                text = f"payload {json.dumps(payload)} of message {message['messageId']} was refused"
                self.quoted.append(text)
                errors.append(
                    {
                        "messageId": message["messageId"],
                        "errorCode": self.item_errors[payload["key"]],
                        "errorMessage": text,
                    }
                )
                continue
            self.payloads.append(payload)
        return json_response(url, 200, {"BatchPutMessageErrorEntries": errors})


class InMemoryLambda:
    """Invoke, for the job's continuation; told to fail, it quotes the payload it could not take."""

    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []
        self.failure: tuple[str, int] | None = None
        self.quoted: list[str] = []
        self.client = answered_client("lambda", self._serve)

    def _serve(self, request: Any, operation: str) -> AWSResponse:
        if self.failure is not None:
            code, status = self.failure
            message = f"Could not accept the payload {request.body.decode()}"
            self.quoted.append(message)
            return json_response(request.url, status, {"Type": "User", "message": message}, error_code=code)
        self.invocations.append(json.loads(request.body))
        return json_response(request.url, 202, None)


# --- Refusals ahead of a service that runs in this process (moto) -----------------------------------------


@dataclass
class Refusals:
    """Answers some calls of a real client before the service does, as the service would refuse them: the
    request never reaches the service, so nothing of it is applied. `quote` makes each error text quote
    the request it refuses, values included, as AWS validation messages can; `quoted` keeps those texts."""

    quote: bool = False
    quoted: list[str] = field(default_factory=list)

    def on(self, client: Any, operation: str, refuse: Any) -> None:
        """`refuse(body) -> (code, HTTP status) | None` for each serialised request body of `operation`."""

        def handler(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
            raw = params.get("body") or b""
            body = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            refusal = refuse(body)
            if refusal is None:
                return None
            code, status = refusal
            message = (
                f"1 validation error detected: request {body} refused" if self.quote else "Rate exceeded"
            )
            if self.quote:
                self.quoted.append(message)
            error = {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
            return AWSResponse(str(params.get("url", "")), status, {}, None), error

        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(f"before-call.{service}.{operation}", handler)
