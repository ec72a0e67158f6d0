"""Every reset plan the template schedules is a valid plan once the stack's parameters are filled in; the
connector's sweep is scheduled with the event the connector function takes for it; every schedule
dead-letters to an encrypted, alarmed queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bridge_local.sam_template import LocalResolver, load, read
from iotbridge.detector_reset.domain.plan import DynamoDbBackend, parse_plan_json

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


def scheduled_inputs(handler: str = "detector_reset.") -> list[tuple[str, Any]]:
    """Each schedule's Input, of the functions whose handler starts with `handler` (the reset job's)."""
    template = load(TEMPLATE)
    found = []
    for name, resource in template["Resources"].items():
        if not str(resource.get("Properties", {}).get("Handler", "")).startswith(handler):
            continue
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


def test_the_connector_function_is_scheduled_with_its_sweep_event() -> None:
    from iotbridge.connector.edge import SWEEP_EVENT, is_sweep

    [(schedule, raw)] = scheduled_inputs("connector.")

    assert schedule == "ConnectorFunction.CorrelationSweep"
    assert is_sweep(json.loads(raw))
    assert json.loads(raw) == SWEEP_EVENT


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


def test_the_alarm_on_commands_never_answered_watches_the_metric_the_sweep_publishes() -> None:
    from iotbridge.budget import UnlimitedBudget
    from iotbridge.connector.domain.invocations import ConnectorOperations
    from iotbridge.correlation.model import COMMAND, DISCOVERY, SweepReport

    class Expired:
        def expire_overdue(self, budget: Any, *, page_size: int = 100) -> SweepReport:
            return SweepReport({DISCOVERY: 0, COMMAND: 3})

    template = load(TEMPLATE)
    resources = template["Resources"]
    alarm = resources["CommandsNeverAnsweredAlarm"]["Properties"]
    function = resources["ConnectorFunction"]["Properties"]
    operations = ConnectorOperations(
        device_clouds=None,  # type: ignore[arg-type]
        requests=Expired(),  # type: ignore[arg-type]
        users=None,  # type: ignore[arg-type]
        authorizations=None,  # type: ignore[arg-type]
    )

    published = {m.name: m.value for m in operations.sweep(UnlimitedBudget()).measurements}

    assert published[alarm["MetricName"]] == 3
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **function["Environment"]["Variables"],
    }
    # Powertools publishes under its namespace, with the function's service as the one dimension.
    assert alarm["Namespace"] == variables["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        0,
        "GreaterThanThreshold",
    )
    # Every period the alarm looks at holds at least one sweep.
    rate = function["Events"]["CorrelationSweep"]["Properties"]["ScheduleExpression"]
    minutes = int(rate.removeprefix("rate(").split()[0])
    assert minutes * 60 <= alarm["Period"] * alarm["EvaluationPeriods"]


def test_a_missed_sweep_is_not_retried_but_dead_lettered() -> None:
    function = load(TEMPLATE)["Resources"]["ConnectorFunction"]["Properties"]
    sweep = function["Events"]["CorrelationSweep"]["Properties"]

    assert sweep["State"] == "ENABLED"
    # The next sweep does the missed one's work; a retry would only overlap it.
    assert sweep["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert sweep["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["CorrelationSweepDeadLetterQueue", "Arn"]}
    # The sweep may run longer than an invocation by managed integrations is answered in.
    assert function["Timeout"] > 2
