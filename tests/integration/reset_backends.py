"""One fleet on both backends the reset job runs on, so that a test states its scenario once and runs it
on each: the IoT stand-in's IoT Events Data API, and the detector table in moto's DynamoDB (created from
template.yaml, behind the fault proxy) with the stand-in recording AWS IoT Core publishes.

Both answer in the same shapes: detectors as DescribeDetector shows them, the number of updates each
applied (so "no detector reset twice" is one check), the messages a message-mode reset sent, and faults
set per backend with the same meaning (a share of updates or messages throttled, some detectors refused).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from bridge_local.aws import local_client
from bridge_local.detector_table import put_detectors, table_detectors
from bridge_local.fault_proxy import RunningProxy
from bridge_local.resources import create_tables
from bridge_local.sam_template import LocalResolver, read
from iot_standin.testing import Standin

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
BACKENDS = ("iotevents-data", "dynamodb")


class FleetBackend(Protocol):
    kind: str
    standin: Standin  # the IoT Events Data API, or the recorder of AWS IoT Core publishes

    def plan_backend(self) -> dict[str, Any]:
        """The plan's `backend` member for this backend."""
        ...

    def environment(self) -> dict[str, str]:
        """Endpoint variables that point the job's clients here."""
        ...

    def restore(self) -> None:
        """Back to the seeded fleet: every detector as seeded, no faults, no records, zeroed counts."""
        ...

    def detectors(self) -> dict[str, dict[str, Any]]:
        """Every detector of the model, by key value, as DescribeDetector shows it."""
        ...

    def applied_updates(self) -> int:
        """Updates the backend applied since the restore (one per detector reset by update)."""
        ...

    def update_outcomes(self) -> Counter[str]:
        """Update attempts by outcome: `ok` or the error code."""
        ...

    def messages(self) -> list[dict[str, Any]]:
        """Payloads of the message-mode resets received, oldest first."""
        ...

    def fail_updates(
        self, *, throttle_rate: float = 0.0, error_rate: float = 0.0, refuse: dict[str, str] | None = None
    ) -> None:
        """Throttle a share of the updates, fail a share with server errors, refuse some for good."""
        ...

    def fail_messages(
        self, *, throttle_rate: float = 0.0, error_rate: float = 0.0, refuse: dict[str, str] | None = None
    ) -> None: ...

    def fail_reads(self, *, listing_error_rate: float = 0.0, describe_error_rate: float = 0.0) -> None:
        """Whole listing and describe calls failing with a server error."""
        ...

    def move(self, key: str, state: str) -> None:
        """A detector's own logic moving it to another state (its variables and timers kept)."""
        ...


@dataclass
class IotEventsBackend:
    """The stand-in's IoT Events Data API, seeded with the fleet at start-up."""

    standin: Standin
    model: str
    message_input: str
    kind: str = "iotevents-data"

    def plan_backend(self) -> dict[str, Any]:
        return {"kind": "iotevents-data"}

    def environment(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_IOTEVENTS_DATA": self.standin.url}

    def restore(self) -> None:
        self.standin.reset()

    def detectors(self) -> dict[str, dict[str, Any]]:
        return {d["keyValue"]: d for d in self.standin.detectors(model=self.model)}

    def update_outcomes(self) -> Counter[str]:
        return Counter(self.standin.stats()["operations"].get("BatchUpdateDetector", {}).get("items", {}))

    def applied_updates(self) -> int:
        return self.update_outcomes()["ok"]

    def messages(self) -> list[dict[str, Any]]:
        return [m["payload"] for m in self.standin.messages(self.message_input)]

    def _set(
        self, operation: str, throttle_rate: float, error_rate: float, refuse: dict[str, str] | None
    ) -> None:
        plan = self.standin.faults()
        plan[operation] = {
            "itemThrottleRate": throttle_rate,
            "error503Rate": error_rate,
            "itemErrors": refuse or {},
        }
        self.standin.set_faults(plan)

    def fail_updates(
        self, *, throttle_rate: float = 0.0, error_rate: float = 0.0, refuse: dict[str, str] | None = None
    ) -> None:
        self._set("BatchUpdateDetector", throttle_rate, error_rate, refuse)

    def fail_messages(
        self, *, throttle_rate: float = 0.0, error_rate: float = 0.0, refuse: dict[str, str] | None = None
    ) -> None:
        self._set("BatchPutMessage", throttle_rate, error_rate, refuse)

    def fail_reads(self, *, listing_error_rate: float = 0.0, describe_error_rate: float = 0.0) -> None:
        plan = self.standin.faults()
        plan["ListDetectors"] = {"error503Rate": listing_error_rate}
        plan["DescribeDetector"] = {"error503Rate": describe_error_rate}
        self.standin.set_faults(plan)

    def move(self, key: str, state: str) -> None:
        detector = self.detectors()[key]
        self.standin.seed({"detectors": [{**detector, "state": {**detector["state"], "stateName": state}}]})


@dataclass
class DetectorTableBackend:
    """The template's detector table in moto's DynamoDB, reached through the fault proxy; message-mode resets
    are AWS IoT Core publishes, recorded by the stand-in."""

    moto_url: str
    proxy: RunningProxy
    standin: Standin
    seed: list[dict[str, Any]]
    model: str
    topic: str
    kind: str = "dynamodb"

    def __post_init__(self) -> None:
        self._dynamodb = local_client("dynamodb", self.moto_url)
        self._faults: dict[str, Any] = {}
        spec = read(TEMPLATE)
        definition = spec.tables["DetectorTable"]
        # A name of its own: test modules share one moto server.
        named = replace(
            definition, properties={**definition.properties, "TableName": f"detectors-{uuid.uuid4().hex[:8]}"}
        )
        self.table = create_tables(
            self._dynamodb, replace(spec, tables={"DetectorTable": named}), LocalResolver(spec)
        )["DetectorTable"]
        put_detectors(self._dynamodb, self.table, self.seed)

    def plan_backend(self) -> dict[str, Any]:
        return {"kind": "dynamodb", "table": self.table}

    def environment(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_DYNAMODB": self.proxy.url, "AWS_ENDPOINT_URL_IOT_DATA": self.standin.url}

    def restore(self) -> None:
        self._faults = {}
        self.proxy.set_faults({})
        self.proxy.reset()
        self.standin.reset()
        put_detectors(self._dynamodb, self.table, self.seed)

    def detectors(self) -> dict[str, dict[str, Any]]:
        return {d["keyValue"]: d for d in table_detectors(self._dynamodb, self.table, model=self.model)}

    def update_outcomes(self) -> Counter[str]:
        return Counter(self.proxy.stats().get("UpdateItem", {}))

    def applied_updates(self) -> int:
        return self.update_outcomes()["ok"]

    def messages(self) -> list[dict[str, Any]]:
        return [p["payload"] for p in self.standin.publishes(self.topic)]

    def _merge(self, operation: str, settings: dict[str, Any]) -> None:
        self._faults = {**self._faults, operation: settings}
        self.proxy.set_faults(self._faults)

    def fail_updates(
        self, *, throttle_rate: float = 0.0, error_rate: float = 0.0, refuse: dict[str, str] | None = None
    ) -> None:
        self._merge(
            "UpdateItem", {"throttleRate": throttle_rate, "error500Rate": error_rate, "refuse": refuse or {}}
        )

    def fail_messages(
        self, *, throttle_rate: float = 0.0, error_rate: float = 0.0, refuse: dict[str, str] | None = None
    ) -> None:
        plan = self.standin.faults()
        plan["Publish"] = {
            "throttleRate": throttle_rate,
            "error503Rate": error_rate,
            "itemErrors": refuse or {},
        }
        self.standin.set_faults(plan)

    def fail_reads(self, *, listing_error_rate: float = 0.0, describe_error_rate: float = 0.0) -> None:
        self._merge("Query", {"error500Rate": listing_error_rate})
        self._merge("GetItem", {"error500Rate": describe_error_rate})

    def move(self, key: str, state: str) -> None:
        self._dynamodb.update_item(
            TableName=self.table,
            Key={"detectorModel": {"S": self.model}, "keyValue": {"S": key}},
            UpdateExpression="SET stateName = :s",
            ExpressionAttributeValues={":s": {"S": state}},
        )


def fleet_backends(
    standin: Standin,
    proxy: RunningProxy,
    moto_url: str,
    seed: list[dict[str, Any]],
    model: str,
    message_input: str,
    topic: str,
) -> dict[str, FleetBackend]:
    """Both backends over one fleet: the detectors the stand-in was started with (`seed`, of `model`)."""
    return {
        "iotevents-data": IotEventsBackend(standin, model, message_input),
        "dynamodb": DetectorTableBackend(moto_url, proxy, standin, seed, model, topic),
    }
