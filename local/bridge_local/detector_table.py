"""Detectors in a detector table (the layout `iotbridge.detector_reset.domain.plan.TableAttributes`
documents): written from a fleet seed of the IoT stand-in, whose detectors have DescribeDetector's shape,
and read back in that shape, so that the demo and the tests seed and inspect both backends alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from iotbridge.detector_reset.domain.plan import TableAttributes

DEFAULT_NAMES = TableAttributes()
BATCH_WRITE_LIMIT = 25  # BatchWriteItem takes at most 25 requests


def item_of(detector: Mapping[str, Any], names: TableAttributes = DEFAULT_NAMES) -> dict[str, Any]:
    """A detector (DescribeDetector's shape) as a table item, in DynamoDB's attribute-value form."""
    state = detector.get("state") or {}
    return {
        names.detector_model: {"S": detector["detectorModelName"]},
        names.key_value: {"S": detector["keyValue"]},
        names.state_name: {"S": state["stateName"]},
        names.variables: {"M": {v["name"]: {"S": v["value"]} for v in state.get("variables", [])}},
        names.timers: {"M": {t["name"]: {"N": str(t["timestamp"])} for t in state.get("timers", [])}},
        names.detector_model_version: {"S": str(detector.get("detectorModelVersion", "1"))},
        names.creation_time: {"N": str(detector.get("creationTime", 0))},
        names.last_update_time: {"N": str(detector.get("lastUpdateTime", 0))},
    }


def detector_of(item: Mapping[str, Any], names: TableAttributes = DEFAULT_NAMES) -> dict[str, Any]:
    """A table item in DescribeDetector's shape (numbers as floats)."""

    def text(name: str) -> Any:
        value = item.get(name) or {}
        return value.get("S", value.get("N"))

    def number(name: str) -> float | None:
        found = text(name)
        return None if found is None else float(found)

    variables = (item.get(names.variables) or {}).get("M") or {}
    timers = (item.get(names.timers) or {}).get("M") or {}
    return {
        "detectorModelName": text(names.detector_model),
        "keyValue": text(names.key_value),
        "detectorModelVersion": text(names.detector_model_version),
        "state": {
            "stateName": text(names.state_name),
            "variables": [{"name": n, "value": v.get("S", v.get("N"))} for n, v in sorted(variables.items())],
            "timers": [{"name": n, "timestamp": float(v["N"])} for n, v in sorted(timers.items())],
        },
        "creationTime": number(names.creation_time),
        "lastUpdateTime": number(names.last_update_time),
    }


def put_detectors(
    client: Any, table: str, detectors: Iterable[Mapping[str, Any]], names: TableAttributes = DEFAULT_NAMES
) -> int:
    """Write every detector into the table (25 a call, resending what DynamoDB leaves unprocessed)."""
    written = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        pending: dict[str, Any] = {table: batch}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    for detector in detectors:
        batch.append({"PutRequest": {"Item": item_of(detector, names)}})
        written += 1
        if len(batch) == BATCH_WRITE_LIMIT:
            flush()
            batch = []
    if batch:
        flush()
    return written


def table_detectors(
    client: Any,
    table: str,
    *,
    model: str | None = None,
    state: str | None = None,
    names: TableAttributes = DEFAULT_NAMES,
) -> list[dict[str, Any]]:
    """Every detector in the table (a scan: for inspection, not for the job), by model then key."""
    found = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page.get("Items", []):
            detector = detector_of(item, names)
            if (model is None or detector["detectorModelName"] == model) and (
                state is None or detector["state"]["stateName"] == state
            ):
                found.append(detector)
    return sorted(found, key=lambda d: (str(d["detectorModelName"]), str(d["keyValue"])))
