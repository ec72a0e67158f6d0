"""The stand-in's behaviour without HTTP: both APIs' operations, injected faults, the inspection API."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .caller import ConnectorCaller, envelope
from .detectors import MAX_TIMERS, DetectorStore, Seed, SeedError, parse_seed
from .faults import FaultPlanError, Faults, OperationFaults
from .service_models import (
    BATCH_PUT_MESSAGE,
    BATCH_UPDATE_DETECTOR,
    DESCRIBE_DETECTOR,
    ERROR_MESSAGE_MEMBER,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    LIST_DETECTORS,
    PUBLISH,
    SEND_CONNECTOR_EVENT,
    SERVICE_OF,
    Route,
    error_codes,
    match_route,
    operation_model,
    shapes_of,
)
from .shapes import CheckResult, ShapeChecker

ADMIN_PREFIX = "/_standin/"
# AWS documents no default page size for ListDetectors; this is the stand-in's choice.
DEFAULT_MAX_RESULTS = 50
MAX_MESSAGES_PER_BATCH = 10
MAX_PAYLOAD_BYTES = 1024
THROTTLED = "ThrottlingException"
# Records kept per kind by default; older ones are dropped so a long benchmark cannot exhaust memory.
DEFAULT_MAX_RECORDS = 100_000
# Statuses for codes an operation does not model (used only for per-item codes and unknown routes).
FALLBACK_STATUS = {
    "ResourceNotFoundException": 404,
    "UnknownOperationException": 404,
    "ServiceUnavailableException": 503,
}
# AWS IoT Core: a message payload of at most 128 KB.
MAX_MQTT_PAYLOAD_BYTES = 128 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # raw, still percent-encoded
    query: Mapping[str, list[str]]
    body: bytes


@dataclass(slots=True)
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    operation: str | None = None
    outcome: str = "ok"

    def encoded(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


class ServiceError(Exception):
    """An error the service answers with: a modeled error code and a message safe to show and log."""

    def __init__(self, code: str, message: str, **members: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.members = members


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Stats:
    """Calls and batch items per operation and outcome ('ok' or the error code)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, Counter[str]] = {}
        self._items: dict[str, Counter[str]] = {}

    def call(self, operation: str, outcome: str) -> None:
        with self._lock:
            self._calls.setdefault(operation, Counter())[outcome] += 1

    def items(self, operation: str, outcomes: Iterable[str]) -> None:
        with self._lock:
            self._items.setdefault(operation, Counter()).update(outcomes)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._items.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            operations = {
                op: {"calls": dict(self._calls.get(op, {})), "items": dict(self._items.get(op, {}))}
                for op in sorted(set(self._calls) | set(self._items))
            }
            throttled = {
                "calls": sum(c[THROTTLED] for c in self._calls.values()),
                "items": sum(c[THROTTLED] for c in self._items.values()),
            }
        return {"operations": operations, "throttled": throttled}


@dataclass(frozen=True, slots=True)
class _Item:
    """One entry of a batch with the constraint violations found inside it."""

    index: int
    value: dict[str, Any]
    violations: CheckResult


class Standin:
    """Both APIs' operations over in-memory state. Every public method is safe to call from many threads."""

    def __init__(
        self,
        *,
        seed: object = None,
        faults: object = None,
        random_seed: int = 0,
        connectors: Iterable[str] | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._initial_seed = seed or {}
        self._initial_faults = faults or {}
        self.connectors = frozenset(connectors) if connectors is not None else None
        self.store = DetectorStore(parse_seed(self._initial_seed, now=clock()))
        self.faults = Faults(self._initial_faults, random_seed=random_seed)
        self.stats = Stats()
        self._lock = threading.Lock()
        self._sequence = 0
        self._connector_events: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._messages: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._publishes: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._checkers = {op: ShapeChecker(shapes_of(op)) for op in SERVICE_OF}
        # Managed integrations' calls of a connector's Lambda function (set with PUT /_standin/connector).
        self.caller: ConnectorCaller | None = None

    # ---- HTTP entry -------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path.startswith(ADMIN_PREFIX):
            return self._admin(request)
        found = match_route(request.method, request.path)
        if found is None:
            return Response(
                404,
                {"message": f"No operation at {request.method} {request.path.split('?', 1)[0][:200]}"},
                {"x-amzn-ErrorType": "UnknownOperationException"},
                outcome="UnknownOperationException",
            )
        route, labels = found
        return self._call(route, labels, request)

    def _call(self, route: Route, labels: Mapping[str, str], request: Request) -> Response:
        operation = route.operation
        service = SERVICE_OF[operation]
        faults = self.faults.for_operation(operation)
        # The response leaves `delay` after the request arrived, as a service's latency includes its own
        # work: slept after it, in this request's own thread, so other requests go on meanwhile.
        respond_at = time.monotonic() + self.faults.latency_seconds(faults)
        try:
            self._inject_call_faults(service, faults)
            params, unknown = self._bind(operation, labels, request)
            status, body = self._operation(operation)(params, unknown, faults)
            response = Response(status, body, operation=operation)
        except ServiceError as error:
            response = self._error_response(operation, error)
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        self.stats.call(operation, response.outcome)
        remaining = respond_at - time.monotonic()
        if remaining > 0:
            self._sleep(remaining)
        return response

    def _error_response(self, operation: str, error: ServiceError) -> Response:
        service = SERVICE_OF[operation]
        status = error_codes(operation).get(error.code) or FALLBACK_STATUS.get(error.code, 400)
        body = {ERROR_MESSAGE_MEMBER[service]: error.message, **error.members}
        return Response(status, body, {"x-amzn-ErrorType": error.code}, operation, outcome=error.code)

    def _inject_call_faults(self, service: str, faults: OperationFaults) -> None:
        if self.faults.over_rate_cap(faults):
            raise ServiceError(THROTTLED, "Rate exceeded")
        if self.faults.chance(faults.throttle_rate):
            raise ServiceError(THROTTLED, "Rate exceeded")
        if self.faults.chance(faults.error500_rate):
            raise ServiceError(INTERNAL_ERROR[service], "Internal failure, please retry")
        if self.faults.chance(faults.error503_rate):
            raise ServiceError("ServiceUnavailableException", "Service unavailable, please retry")

    def _operation(
        self, operation: str
    ) -> Callable[[dict[str, Any], list[str], OperationFaults], tuple[int, Any]]:
        return {
            SEND_CONNECTOR_EVENT: self._send_connector_event,
            BATCH_PUT_MESSAGE: self._batch_put_message,
            BATCH_UPDATE_DETECTOR: self._batch_update_detector,
            LIST_DETECTORS: self._list_detectors,
            DESCRIBE_DETECTOR: self._describe_detector,
            PUBLISH: self._publish,
        }[operation]

    def _bind(
        self, operation: str, labels: Mapping[str, str], request: Request
    ) -> tuple[dict[str, Any], list[str]]:
        """The operation's input from URI labels, query string and JSON body, placed as the model says."""
        invalid = INVALID_REQUEST[SERVICE_OF[operation]]
        shapes = shapes_of(operation)
        input_shape = shapes[operation_model(operation)["input"]["shape"]]
        params: dict[str, Any] = {}
        unknown: list[str] = []
        raw_member = input_shape.get("payload")
        if raw_member is not None and shapes[input_shape["members"][raw_member]["shape"]]["type"] == "blob":
            # The body is the member itself (a Publish payload), not a JSON document of members.
            params[raw_member] = request.body
        elif request.body.strip():
            try:
                body = json.loads(request.body)
            except (UnicodeDecodeError, ValueError):
                raise ServiceError(invalid, "The request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise ServiceError(invalid, "The request body must be a JSON object")
            params.update(body)
        for name, member in input_shape.get("members", {}).items():
            location = member.get("location")
            wire = member.get("locationName", name)
            if location is None:
                continue
            if wire in params:  # a located member sent in the body is not that member
                unknown.append(wire)
                del params[wire]
            if location == "uri" and wire in labels:
                params[wire] = unquote(labels[wire])
            elif location == "querystring" and wire in request.query:
                params[wire] = _from_query(shapes[member["shape"]], request.query[wire][0])
        return params, unknown

    def _check(self, operation: str, params: Mapping[str, Any]) -> CheckResult:
        input_shape = operation_model(operation)["input"]["shape"]
        return self._checkers[operation].check(input_shape, params)

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    # ---- AWS IoT managed integrations ---------------------------------------------------------------------

    def _send_connector_event(
        self, params: dict[str, Any], unknown: list[str], faults: OperationFaults
    ) -> tuple[int, Any]:
        check = self._check(SEND_CONNECTOR_EVENT, params)
        if not check.ok:
            raise ServiceError("ValidationException", check.summary())
        connector = params["ConnectorId"]
        if self.connectors is not None and connector not in self.connectors:
            raise ServiceError(
                "ResourceNotFoundException",
                "The specified connector does not exist",
                ResourceId=connector,
                ResourceType="Connector",
            )
        forced = _forced_error(params, faults.error_codes)
        if forced is not None:
            raise ServiceError(forced, f"{forced} injected for this event")
        body = {k: v for k, v in params.items() if k != "ConnectorId"}
        with self._lock:
            self._connector_events.append(
                {
                    "sequence": self._next_sequence(),
                    "connectorId": connector,
                    "receivedAt": round(self._clock(), 3),
                    "body": body,
                    "ignoredMembers": unknown + check.unknown_members,
                }
            )
        return 202, {"ConnectorId": connector}

    # ---- AWS IoT Events Data ------------------------------------------------------------------------------

    def _batch_items(self, operation: str, params: dict[str, Any], list_member: str) -> list[_Item]:
        """Split violations: the envelope's fail the whole call, an item's fail only that item."""
        check = self._check(operation, params)
        per_item: dict[int, CheckResult] = {}
        envelope = CheckResult()
        pattern = re.compile(rf"{list_member}\[(\d+)\]")
        for violation in check.violations:
            found = pattern.match(violation.path)
            if found is None:
                envelope.violations.append(violation)
            else:
                per_item.setdefault(int(found.group(1)), CheckResult()).violations.append(violation)
        if not envelope.ok:
            raise ServiceError("InvalidRequestException", envelope.summary())
        items = params[list_member]
        for index, problems in per_item.items():
            if not isinstance(items[index], dict) or not isinstance(items[index].get("messageId"), str):
                raise ServiceError("InvalidRequestException", problems.summary())
        return [_Item(i, item, per_item.get(i, CheckResult())) for i, item in enumerate(items)]

    def _batch_put_message(
        self, params: dict[str, Any], unknown: list[str], faults: OperationFaults
    ) -> tuple[int, Any]:
        messages = params.get("messages")
        if isinstance(messages, list) and len(messages) > MAX_MESSAGES_PER_BATCH:
            raise ServiceError(
                "InvalidRequestException",
                f"Number of messages in the batch exceeds the limit {MAX_MESSAGES_PER_BATCH}",
            )
        entries: list[dict[str, str]] = []
        outcomes: list[str] = []
        seen: set[str] = set()
        now = self._clock()
        for item in self._batch_items(BATCH_PUT_MESSAGE, params, "messages"):
            message = item.value
            message_id = message["messageId"]
            error = self._message_error(item, seen, faults)
            seen.add(message_id)
            if error is not None:
                entries.append({"messageId": message_id, "errorCode": error[0], "errorMessage": error[1]})
                outcomes.append(error[0])
                continue
            payload = _decode_payload(base64.b64decode(message["payload"]))
            changed = self.store.apply_input(message["inputName"], payload, now)
            with self._lock:
                self._messages.append(
                    {
                        "sequence": self._next_sequence(),
                        "receivedAt": round(now, 3),
                        "messageId": message_id,
                        "inputName": message["inputName"],
                        "payload": payload,
                        "timeInMillis": (message.get("timestamp") or {}).get("timeInMillis"),
                        "changedDetectors": changed,
                    }
                )
            outcomes.append("ok")
        self.stats.items(BATCH_PUT_MESSAGE, outcomes)
        return 200, {"BatchPutMessageErrorEntries": entries}

    def _message_error(self, item: _Item, seen: set[str], faults: OperationFaults) -> tuple[str, str] | None:
        message = item.value
        if not item.violations.ok:
            return "InvalidRequestException", item.violations.summary()
        if message["messageId"] in seen:
            return "InvalidRequestException", "Each messageId must be unique within the batch"
        raw = base64.b64decode(message["payload"])
        if len(raw) > MAX_PAYLOAD_BYTES:
            return (
                "InvalidRequestException",
                f"Message payload exceeds the limit of {MAX_PAYLOAD_BYTES} bytes",
            )
        forced = faults.item_errors.get(message["messageId"])
        if forced is None:
            key = self.store.payload_key(message["inputName"], _decode_payload(raw))
            forced = faults.item_errors.get(key) if key is not None else None
        if forced is not None:
            return forced, f"{forced} injected for this message"
        if self.faults.chance(faults.item_throttle_rate):
            return THROTTLED, "Rate exceeded for this message"
        if not self.store.has_input(message["inputName"]):
            return "ResourceNotFoundException", f"Input {message['inputName']} does not exist"
        return None

    def _batch_update_detector(
        self, params: dict[str, Any], unknown: list[str], faults: OperationFaults
    ) -> tuple[int, Any]:
        entries: list[dict[str, str]] = []
        outcomes: list[str] = []
        seen: set[str] = set()
        now = self._clock()
        for item in self._batch_items(BATCH_UPDATE_DETECTOR, params, "detectors"):
            update = item.value
            error = self._update_error(item, seen, faults)
            seen.add(update["messageId"])
            if error is None:
                state = update["state"]
                applied = self.store.update(
                    model=update["detectorModelName"],
                    key=update.get("keyValue"),
                    state=state["stateName"],
                    variables=((v["name"], v["value"]) for v in state["variables"]),
                    timers=((t["name"], round(now + t["seconds"], 3)) for t in state["timers"]),
                    now=round(now, 3),
                )
                if not applied:  # removed between the check and the update
                    error = ("ResourceNotFoundException", "The detector does not exist")
            if error is not None:
                entries.append(
                    {"messageId": update["messageId"], "errorCode": error[0], "errorMessage": error[1]}
                )
                outcomes.append(error[0])
            else:
                outcomes.append("ok")
        self.stats.items(BATCH_UPDATE_DETECTOR, outcomes)
        return 200, {"batchUpdateDetectorErrorEntries": entries}

    def _update_error(self, item: _Item, seen: set[str], faults: OperationFaults) -> tuple[str, str] | None:
        update = item.value
        if not item.violations.ok:
            return "InvalidRequestException", item.violations.summary()
        if update["messageId"] in seen:
            return "InvalidRequestException", "Each messageId must be unique within the batch"
        state = update["state"]
        variable_names = [v["name"] for v in state["variables"]]
        timer_names = [t["name"] for t in state["timers"]]
        if len(set(variable_names)) != len(variable_names):
            return "InvalidRequestException", "A variable is listed more than once"
        if len(set(timer_names)) != len(timer_names):
            return "InvalidRequestException", "A timer is listed more than once"
        if len(timer_names) > MAX_TIMERS:
            return (
                "InvalidRequestException",
                f"Number of timers in the detector exceeds the limit {MAX_TIMERS}",
            )
        key = update.get("keyValue")
        forced = faults.item_errors.get(update["messageId"]) or (
            faults.item_errors.get(key) if key is not None else None
        )
        if forced is not None:
            return forced, f"{forced} injected for this detector"
        if self.faults.chance(faults.item_throttle_rate):
            return THROTTLED, "Rate exceeded for this detector"
        model = update["detectorModelName"]
        if not self.store.exists(model, key):
            return "ResourceNotFoundException", "The detector does not exist"
        states = self.store.states_of(model)
        if states is not None and state["stateName"] not in states:
            return "InvalidRequestException", f"State {state['stateName'][:128]} is not a state of {model}"
        return None

    def _list_detectors(
        self, params: dict[str, Any], unknown: list[str], faults: OperationFaults
    ) -> tuple[int, Any]:
        check = self._check(LIST_DETECTORS, params)
        if not check.ok:
            raise ServiceError("InvalidRequestException", check.summary())
        model = params["detectorModelName"]
        state = params.get("stateName")
        after = _read_token(params["nextToken"], model, state) if params.get("nextToken") else None
        if not self.store.has_model(model):
            raise ServiceError("ResourceNotFoundException", f"Detector model {model} does not exist")
        page = self.store.page(model, state, after, params.get("maxResults") or DEFAULT_MAX_RESULTS)
        body: dict[str, Any] = {"detectorSummaries": page.detectors}
        if page.last_key is not None:
            body["nextToken"] = _make_token(page.last_key, model, state)
        return 200, body

    def _describe_detector(
        self, params: dict[str, Any], unknown: list[str], faults: OperationFaults
    ) -> tuple[int, Any]:
        check = self._check(DESCRIBE_DETECTOR, params)
        if not check.ok:
            raise ServiceError("InvalidRequestException", check.summary())
        model = params["detectorModelName"]
        found = self.store.describe(model, params.get("keyValue"))
        if found is None:
            raise ServiceError(
                "ResourceNotFoundException", f"No detector of model {model} has that key value"
            )
        return 200, {"detector": found}

    # ---- AWS IoT Core (data plane) ------------------------------------------------------------------------

    def _publish(
        self, params: dict[str, Any], unknown: list[str], faults: OperationFaults
    ) -> tuple[int, Any]:
        payload = params.pop("payload", b"")
        check = self._check(PUBLISH, params)
        if not check.ok:
            raise ServiceError("InvalidRequestException", check.summary())
        topic = params["topic"]
        if not topic or set(topic) & {"+", "#"}:
            raise ServiceError("InvalidRequestException", "A topic to publish to has no wildcard")
        if len(payload) > MAX_MQTT_PAYLOAD_BYTES:
            raise ServiceError("InvalidRequestException", "Message payload exceeds the 128 KB limit")
        decoded = _decode_payload(payload)
        values = decoded.values() if isinstance(decoded, dict) else ()
        forced = next(
            (faults.item_errors[v] for v in values if isinstance(v, str) and v in faults.item_errors), None
        )
        if forced is not None:
            raise ServiceError(forced, f"{forced} injected for this message")
        with self._lock:
            self._publishes.append(
                {
                    "sequence": self._next_sequence(),
                    "receivedAt": round(self._clock(), 3),
                    "topic": topic,
                    "qos": params.get("qos", 0),
                    "payload": decoded,
                }
            )
        return 200, {}

    # ---- Inspection API -----------------------------------------------------------------------------------

    def _admin(self, request: Request) -> Response:
        name = request.path[len(ADMIN_PREFIX) :].split("?", 1)[0].strip("/")
        routes: dict[tuple[str, str], Callable[[Request], Any]] = {
            ("GET", "health"): lambda r: {"status": "ok", "detectors": self.store.count()},
            ("GET", "connector-events"): self._admin_connector_events,
            ("GET", "detectors"): self._admin_detectors,
            ("POST", "detectors"): self._admin_seed,
            ("GET", "messages"): self._admin_messages,
            ("GET", "publishes"): self._admin_publishes,
            ("GET", "faults"): lambda r: self.faults.plan(),
            ("PUT", "faults"): self._admin_set_faults,
            ("POST", "reset"): self._admin_reset,
            ("GET", "stats"): lambda r: self.stats.snapshot(),
            ("PUT", "connector"): self._admin_set_connector,
            ("POST", "connector-invocations"): self._admin_invoke_connector,
            ("GET", "connector-invocations"): self._admin_connector_invocations,
        }
        action = routes.get((request.method, name))
        if action is None:
            known = any(path == name for _, path in routes)
            status = 405 if known else 404
            return Response(status, {"error": f"no {request.method} /_standin/{name}"}, outcome="admin")
        try:
            return Response(200, action(request), outcome="admin")
        except AdminError as error:
            return Response(error.status, {"error": error.message}, outcome="admin")

    def _admin_set_connector(self, request: Request) -> dict[str, Any]:
        """The connector function managed integrations invokes: `{"lambdaUrl": ..., "functionName": ...}`
        (a Lambda Invoke endpoint, such as the local stack's)."""
        doc = _admin_json(request)
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("lambdaUrl"), str)
            or not doc.get("functionName")
        ):
            raise AdminError(400, "give lambdaUrl (http://host:port) and functionName")
        try:
            self.caller = ConnectorCaller(doc["lambdaUrl"], str(doc["functionName"]))
        except ValueError as error:
            raise AdminError(400, str(error)) from None
        return {"lambdaUrl": doc["lambdaUrl"], "functionName": self.caller.function_name}

    def _admin_invoke_connector(self, request: Request) -> dict[str, Any]:
        """Invoke the connector as managed integrations does, with retries, and answer what happened:
        `{"event": <the whole envelope>}`, or `{"operation", "connectorId", "auth", ...payload members}`."""
        if self.caller is None:
            raise AdminError(409, "no connector function is set: PUT /_standin/connector first")
        doc = _admin_json(request)
        if not isinstance(doc, dict):
            raise AdminError(400, "the body must be a JSON object")
        if "event" in doc:
            event = doc["event"]
        else:
            members = {k: v for k, v in doc.items() if k not in ("operation", "connectorId", "auth")}
            if not isinstance(doc.get("operation"), str) or not isinstance(doc.get("auth"), dict):
                raise AdminError(400, "give operation, connectorId and auth (or the whole event)")
            event = envelope(doc["operation"], str(doc.get("connectorId", "")), doc["auth"], **members)
        if not isinstance(event, dict):
            raise AdminError(400, "the event must be a JSON object")
        return self.caller.invoke(event).as_dict()

    def _admin_connector_invocations(self, request: Request) -> dict[str, Any]:
        return {"invocations": self.caller.recorded() if self.caller is not None else []}

    def _admin_connector_events(self, request: Request) -> dict[str, Any]:
        wanted = _query_one(request, "connectorId")
        with self._lock:
            events = [e for e in self._connector_events if wanted is None or e["connectorId"] == wanted]
        return {"events": events}

    def _admin_messages(self, request: Request) -> dict[str, Any]:
        wanted = _query_one(request, "inputName")
        with self._lock:
            messages = [m for m in self._messages if wanted is None or m["inputName"] == wanted]
        return {"messages": messages}

    def _admin_publishes(self, request: Request) -> dict[str, Any]:
        wanted = _query_one(request, "topic")
        with self._lock:
            publishes = [m for m in self._publishes if wanted is None or m["topic"] == wanted]
        return {"publishes": publishes}

    def _admin_detectors(self, request: Request) -> dict[str, Any]:
        return {"detectors": self.store.snapshot(_query_one(request, "model"), _query_one(request, "state"))}

    def _admin_seed(self, request: Request) -> dict[str, Any]:
        doc = _admin_json(request)
        if not isinstance(doc, dict):
            raise AdminError(400, "the body must be a seed document (a JSON object)")
        replace = doc.pop("replace", False)
        self.store.load(self._parse_seed(doc), replace=bool(replace))
        return {"detectors": self.store.count()}

    def _admin_set_faults(self, request: Request) -> dict[str, Any]:
        try:
            self.faults.replace(_admin_json(request))
        except FaultPlanError as error:
            raise AdminError(400, str(error)) from None
        return self.faults.plan()

    def _admin_reset(self, request: Request) -> dict[str, Any]:
        """Clear records and counters; optionally reseed (`seed`, or `reseed` for the start-up seed) and
        restore the start-up faults (`restoreFaults`)."""
        doc = _admin_json(request) if request.body.strip() else {}
        if not isinstance(doc, dict) or set(doc) - {"seed", "reseed", "restoreFaults"}:
            raise AdminError(400, "reset takes an optional JSON object with seed, reseed and restoreFaults")
        seed: Seed | None = None
        if doc.get("seed") is not None:
            seed = self._parse_seed(doc["seed"])
        elif doc.get("reseed"):
            seed = self._parse_seed(self._initial_seed)
        if seed is not None:
            self.store.load(seed, replace=True)
        if doc.get("restoreFaults"):
            self.faults.replace(self._initial_faults)
        self.faults.restart_random()
        with self._lock:
            self._connector_events.clear()
            self._messages.clear()
            self._publishes.clear()
            self._sequence = 0
        if self.caller is not None:
            self.caller.calls.clear()
        self.stats.clear()
        return {"detectors": self.store.count()}

    def _parse_seed(self, doc: object) -> Seed:
        try:
            return parse_seed(doc, now=self._clock())
        except SeedError as error:
            raise AdminError(400, str(error)) from None


def _admin_json(request: Request) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (UnicodeDecodeError, ValueError):
        raise AdminError(400, "the body must be JSON") from None


def _query_one(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[0] if values else None


def _from_query(shape: Mapping[str, Any], raw: str) -> Any:
    """Query strings are text; turn numbers and booleans back into what the model says they are."""
    kind = shape["type"]
    if kind in ("integer", "long") and re.fullmatch(r"-?[0-9]{1,20}", raw):
        return int(raw)
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


def _forced_error(params: Mapping[str, Any], codes: Mapping[str, str]) -> str | None:
    """An injected error for an event naming a listed device id or trace id."""
    if not codes:
        return None
    names: list[Any] = [params.get("ConnectorDeviceId"), params.get("TraceId")]
    names += [d.get("ConnectorDeviceId") for d in params.get("Devices") or [] if isinstance(d, dict)]
    for name in names:
        if isinstance(name, str) and name in codes:
            return codes[name]
    return None


def _decode_payload(raw: bytes) -> Any:
    """A message payload as JSON when it is JSON, else as text, else as base64."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode()}
    try:
        return json.loads(text)
    except ValueError:
        return text


def _fingerprint(model: str, state: str | None) -> str:
    return hashlib.sha256(f"{model}\0{state or ''}".encode()).hexdigest()[:16]


def _make_token(last_key: str, model: str, state: str | None) -> str:
    doc = {"v": 1, "after": last_key, "query": _fingerprint(model, state)}
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def _read_token(token: str, model: str, state: str | None) -> str:
    """The key a page starts after. A token from another listing, or one that does not parse, is refused."""
    try:
        doc = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise ServiceError("InvalidRequestException", "The nextToken is not valid") from None
    if (
        not isinstance(doc, dict)
        or doc.get("v") != 1
        or not isinstance(doc.get("after"), str)
        or doc.get("query") != _fingerprint(model, state)
    ):
        raise ServiceError("InvalidRequestException", "The nextToken is not valid for this request")
    return str(doc["after"])
