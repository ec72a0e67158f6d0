"""Adapters from the reset job's ports to AWS: the IoT Events Data client and Lambda self-invocation."""

from __future__ import annotations

import json
from typing import Any

from iotbridge.clients import failure_of
from iotbridge.errors import service_call_error

from .ports import (
    DetectorPage,
    DetectorRef,
    DetectorSnapshot,
    DetectorUpdate,
    InputMessage,
    ItemError,
)


class IotEventsDataService:
    """DetectorService over a botocore `iotevents-data` client.

    The client makes one attempt per call: the job's loop is the one retry layer of these calls (per call
    and per batch entry; see iotbridge.clients).
    """

    CLIENT_ATTEMPTS = 1

    def __init__(self, client: Any) -> None:
        self._client = client

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self._client, operation)(**params)
        except Exception as exc:
            raise service_call_error(failure_of(exc)) from exc

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


class LambdaSelfInvoker:
    """ContinuationSink: an asynchronous invocation (InvocationType=Event) of this same function."""

    def __init__(self, client: Any, function_arn: str) -> None:
        self._client = client
        self._function_arn = function_arn

    def continue_later(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        try:
            self._client.invoke(FunctionName=self._function_arn, InvocationType="Event", Payload=body)
        except Exception as exc:
            raise service_call_error(failure_of(exc)) from exc
