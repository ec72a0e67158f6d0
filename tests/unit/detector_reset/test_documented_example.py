"""The example of a migrated detector model's Lambda in docs/detector-resets.md, run as written against moto's
DynamoDB in this process, on a detector table made from template.yaml, with the reset job writing the same
table."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest

from bridge_local.lambda_runtime import LOCAL_REGION
from bridge_local.resources import create_tables
from bridge_local.sam_template import LocalResolver, read
from iotbridge import clients
from iotbridge.budget import UnlimitedBudget
from iotbridge.detector_reset.adapters import DetectorTableService
from iotbridge.detector_reset.domain.job import JobOptions, ResetJob
from iotbridge.detector_reset.domain.plan import DynamoDbBackend, parse_plan
from iotbridge.detector_reset.settings import ResetSettings
from iotbridge.detector_reset.wiring import ResetWiring

ROOT = Path(__file__).resolve().parents[3]
MODEL = "hvacTemperature"


def readme_example() -> str:
    text = (ROOT / "docs" / "detector-resets.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- doc-example: detector-table -->\n```python\n(.*?)```", text, re.DOTALL)
    assert found, "the detector table example of docs/detector-resets.md is gone"
    return found.group(1)


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The example's module namespace, its table the template's detector table in moto."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", LOCAL_REGION)
    with moto.mock_aws():
        clients.reset_clients()
        spec = read(ROOT / "template.yaml")
        name = create_tables(boto3.client("dynamodb"), spec, LocalResolver(spec))["DetectorTable"]
        namespace: dict[str, Any] = {"__name__": "readme_example"}
        exec(compile(readme_example(), "docs/detector-resets.md", "exec"), namespace)
        namespace["table"] = boto3.resource("dynamodb").Table(name)
        namespace["table_name"] = name
        yield namespace
    clients.reset_clients()


def reset(table_name: str, *, later_by: float = 0.0) -> None:
    """The reset job resets the table's Alarm detectors, its clock `later_by` seconds ahead."""
    plan = parse_plan(
        {
            "name": "nightly",
            "detectorModelName": MODEL,
            "backend": {"kind": "dynamodb", "table": table_name},
            "detectors": {"inStates": ["Alarm"]},
            "action": {"mode": "update", "stateName": "Normal", "preserveVariables": ["alarmCount"]},
        }
    )
    assert isinstance(plan.backend, DynamoDbBackend)
    wired = ResetWiring.build(ResetSettings()).services(plan.backend)
    assert isinstance(wired, DetectorTableService)
    service = DetectorTableService(wired._client, plan.backend, wired, clock=lambda: time.time() + later_by)
    report = ResetJob(
        service, options=JobOptions(workers=1), budget=UnlimitedBudget(), rng=random.Random(1)
    ).run(plan)
    assert report.totals.reset == 1


def test_the_example_creates_a_detector_the_reset_job_then_resets(example: dict[str, Any]) -> None:
    before = time.time()

    assert example["on_temperature"](MODEL, "room-101", 35.0) is True

    item = example["table"].get_item(Key={"detectorModel": MODEL, "keyValue": "room-101"})["Item"]
    assert item["stateName"] == "Alarm" and item["variables"] == {"alarmCount": "1"}
    assert before + 299 < float(item["timers"]["cooldown"]) < time.time() + 301  # an expiry time
    assert item["creationTime"] == item["lastUpdateTime"]

    reset(example["table_name"])

    item = example["table"].get_item(Key={"detectorModel": MODEL, "keyValue": "room-101"})["Item"]
    assert (item["stateName"], item["variables"], item["timers"]) == ("Normal", {"alarmCount": "1"}, {})


def test_the_example_does_not_overwrite_a_reset_made_between_its_read_and_its_write(
    example: dict[str, Any],
) -> None:
    example["on_temperature"](MODEL, "room-102", 35.0)
    real = example["table"]

    class ResetDuringRead:
        """The table, with a reset landing right after the example has read the detector."""

        meta = real.meta

        def get_item(self, **request: Any) -> Any:
            found = real.get_item(**request)
            reset(example["table_name"], later_by=1.0)  # a lastUpdateTime surely not the item's
            return found

        def put_item(self, **request: Any) -> Any:
            return real.put_item(**request)

    example["table"] = ResetDuringRead()
    assert example["on_temperature"](MODEL, "room-102", 20.0) is False  # it read a state that is gone

    example["table"] = real
    assert example["on_temperature"](MODEL, "room-102", 20.0) is True
    item = real.get_item(Key={"detectorModel": MODEL, "keyValue": "room-102"})["Item"]
    assert item["stateName"] == "Normal"
