"""Every reset plan the template schedules is a valid plan once the stack's parameters are filled in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge_local.sam_template import LocalResolver, load, read
from iotbridge.reset.domain.plan import DynamoDbBackend, parse_plan_json

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def scheduled_inputs() -> list[tuple[str, Any]]:
    template = load(TEMPLATE)
    found = []
    for name, resource in template["Resources"].items():
        for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") == "ScheduleV2":
                found.append((f"{name}.{event_name}", event["Properties"]["Input"]))
    return found


# The parameter values a schedule's plan depends on: each backend, with the stack's table or a team's own.
DEPLOYMENTS = {
    "defaults": {},
    "own-table": {"DetectorTableName": "team-detectors", "DetectorStateIndexName": "detectorsByState"},
    "iotevents-data": {"ResetBackend": "iotevents-data"},
}


def scheduled_plan(raw: Any, overrides: dict[str, str]) -> Any:
    """A schedule's Input as CloudFormation would fill it in with these parameter values."""
    resolver = LocalResolver(read(TEMPLATE), parameter_overrides=overrides)
    resolver.bind("DetectorTable", "stack-detector-table")
    value = resolver.value(raw)
    assert isinstance(value, str)
    return parse_plan_json(value)


def test_template_schedules_at_least_one_reset() -> None:
    assert scheduled_inputs(), "no ScheduleV2 event in template.yaml"


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
@pytest.mark.parametrize(
    ("schedule", "raw"), scheduled_inputs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_scheduled_plan_is_valid(schedule: str, raw: Any, deployment: str) -> None:
    parameters = load(TEMPLATE)["Parameters"]
    overrides = DEPLOYMENTS[deployment]

    plan = scheduled_plan(raw, overrides)

    assert plan.detector_model_name == parameters["ResetDetectorModelName"]["Default"]
    assert plan.backend.kind == overrides.get("ResetBackend", parameters["ResetBackend"]["Default"])
    if isinstance(plan.backend, DynamoDbBackend):
        assert plan.backend.table == overrides.get("DetectorTableName", "stack-detector-table")
        assert plan.backend.state_index == overrides.get("DetectorStateIndexName", "byState")


def test_the_plan_is_the_same_on_both_backends_but_for_the_backend() -> None:
    [(_, raw), *_] = scheduled_inputs()

    on_table = scheduled_plan(raw, {})
    on_iotevents = scheduled_plan(raw, {"ResetBackend": "iotevents-data"})

    assert on_table.model_copy(update={"backend": on_iotevents.backend}) == on_iotevents


FOURTEEN_DAYS = 14 * 24 * 3600


def schedule_events() -> list[tuple[str, dict[str, Any]]]:
    resources = load(TEMPLATE)["Resources"]
    return [
        (f"{name}.{event_name}", event["Properties"])
        for name, resource in resources.items()
        for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items()
        if event.get("Type") == "ScheduleV2"
    ]


@pytest.mark.parametrize(
    ("schedule", "props"), schedule_events(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_schedule_dead_letters_to_an_encrypted_alarmed_queue_the_template_defines(
    schedule: str, props: dict[str, Any]
) -> None:
    resources = load(TEMPLATE)["Resources"]
    config = props.get("DeadLetterConfig") or {}
    # `Type: SQS` would have SAM generate a queue with default properties (no encryption set, 4-day
    # retention, no alarm): the schedule must name a queue of the template.
    assert "Type" not in config, f"{schedule}: name the dead-letter queue with Arn"
    arn = config.get("Arn")
    assert isinstance(arn, dict) and "Fn::GetAtt" in arn and arn["Fn::GetAtt"][1] == "Arn", schedule
    queue_id = arn["Fn::GetAtt"][0]
    queue = resources[queue_id]
    assert queue["Type"] == "AWS::SQS::Queue"
    properties = queue["Properties"]
    assert properties.get("SqsManagedSseEnabled") is True or properties.get("KmsMasterKeyId")
    assert properties.get("MessageRetentionPeriod") == FOURTEEN_DAYS
    watching = [
        name
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm"
        and resource["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}
        in resource["Properties"].get("Dimensions", [])
        and resource["Properties"].get("Threshold") == 0
        and resource["Properties"].get("ComparisonOperator") == "GreaterThanThreshold"
    ]
    assert watching, f"no alarm watches {queue_id}"
