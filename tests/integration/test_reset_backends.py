"""Detector resets against the IoT stand-in: a real HTTP server on loopback, through botocore and the
project's own service model, with injected throttling and per-item errors."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iot_standin.fleet import fleet_seed
from iot_standin.testing import Standin, running_standin
from iotbridge import clients
from iotbridge.budget import LambdaBudget, UnlimitedBudget
from iotbridge.reset.adapters import IotEventsDataService
from iotbridge.reset.domain.job import JobOptions, ResetJob
from iotbridge.reset.domain.plan import ResetPlan, parse_plan
from iotbridge.reset.domain.progress import Continuation, ResetReport
from iotbridge.settings import ClientSettings, Environment

pytestmark = pytest.mark.integration

MODEL = "hvac"
FLEET = 2000
STATES = ["Alarm", "Fault", "Normal", "Idle"]
OPTIONS = JobOptions(
    batch_size=10, workers=4, max_item_attempts=10, backoff_base_seconds=0.005, backoff_cap_seconds=0.05
)


@pytest.fixture(scope="module")
def standin() -> Iterator[Standin]:
    seed = fleet_seed(
        MODEL,
        FLEET,
        STATES,
        variables={"lifetimeAlarms": "7", "scratch": "x"},
        timers={"cooldown": 600},
        reset_input="hvacReset",
        reset_state="Normal",
        key_field="device",
    )
    with running_standin(seed=seed, random_seed=11) as server:
        yield server


@pytest.fixture
def service(standin: Standin, monkeypatch: pytest.MonkeyPatch) -> Iterator[IotEventsDataService]:
    """The project's own client factory, steered to the stand-in by its endpoint variable."""
    standin.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_IOTEVENTS_DATA", standin.url)
    clients.reset_clients()
    yield IotEventsDataService(
        clients.client("iotevents-data", ClientSettings.read(Environment()), attempts=1)
    )
    clients.reset_clients()


def plan(**changes: Any) -> ResetPlan:
    doc: dict[str, Any] = {
        "name": "standin-reset",
        "detectorModelName": MODEL,
        "detectors": {"inStates": ["Alarm", "Fault"]},
        "action": {
            "mode": "update",
            "stateName": "Normal",
            "variables": [{"name": "alarmCount", "value": "0"}],
            "preserveVariables": ["lifetimeAlarms"],
        },
    }
    doc.update(changes)
    return parse_plan(doc)


def run(service: IotEventsDataService, reset_plan: ResetPlan) -> ResetReport:
    return ResetJob(service, options=OPTIONS, budget=UnlimitedBudget(), rng=random.Random(3)).run(reset_plan)


def by_state(standin: Standin) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for detector in standin.detectors(model=MODEL):
        grouped.setdefault(detector["state"]["stateName"], []).append(detector)
    return grouped


def variables(detector: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["value"] for v in detector["state"]["variables"]}


def updated_items(standin: Standin) -> Counter[str]:
    return Counter(standin.stats()["operations"].get("BatchUpdateDetector", {}).get("items", {}))


@pytest.mark.slow
def test_a_plan_for_two_states_resets_exactly_those_and_keeps_the_named_variables(
    standin: Standin, service: IotEventsDataService
) -> None:
    before = by_state(standin)

    report = run(service, plan())

    after = by_state(standin)
    assert set(after) == {"Normal", "Idle"}
    assert after["Idle"] == before["Idle"]  # untouched, variables and timers included
    reset_keys = {d["keyValue"] for d in before["Alarm"] + before["Fault"]}
    for detector in after["Normal"]:
        if detector["keyValue"] in reset_keys:
            assert variables(detector) == {"alarmCount": "0", "lifetimeAlarms": "7"}
            assert detector["state"]["timers"] == []
        else:
            assert variables(detector) == {"lifetimeAlarms": "7", "scratch": "x"}
    totals = report.totals
    assert report.status == "complete"
    assert totals.matched == len(reset_keys) == 1000
    assert totals.matched_by_state == {"Alarm": 500, "Fault": 500}
    assert totals.reset + totals.failed_total == totals.matched
    assert totals.reset == 1000
    assert totals.preserved_variables == 1000
    assert sum(updated_items(standin).values()) == 1000  # each detector updated exactly once


def test_per_item_throttling_is_absorbed_by_retries(standin: Standin, service: IotEventsDataService) -> None:
    standin.set_faults({"BatchUpdateDetector": {"itemThrottleRate": 0.2}})

    report = run(service, plan(action={"mode": "update", "stateName": "Normal"}))

    assert report.totals.failed == {}
    assert report.totals.reset == 1000
    assert set(by_state(standin)) == {"Normal", "Idle"}
    items = updated_items(standin)
    assert items["ThrottlingException"] > 100  # the faults were really there


def test_permanent_item_errors_are_reported_by_code_and_the_rest_succeed(
    standin: Standin, service: IotEventsDataService
) -> None:
    refused = {"device-00000": "InvalidRequestException", "device-00005": "ResourceNotFoundException"}
    standin.set_faults({"BatchUpdateDetector": {"itemErrors": refused}})
    keys = [f"device-{n:05d}" for n in range(12)]

    report = run(service, plan(detectors={"keyValues": keys}, action={"mode": "update", "stateName": "Idle"}))

    assert report.totals.failed == {"InvalidRequestException": 1, "ResourceNotFoundException": 1}
    assert sorted(report.totals.failed_keys) == sorted(refused)
    assert report.totals.reset == 10
    states = {d["keyValue"]: d["state"]["stateName"] for d in standin.detectors(model=MODEL)}
    assert [k for k in keys if states[k] != "Idle"] == sorted(refused)


class ShrinkingContext:
    """A Lambda context whose remaining time drops by `step_ms` each time it is asked."""

    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:detector-reset"

    def __init__(self, start_ms: int = 90_000, step_ms: int = 20_000) -> None:
        self.left = start_ms
        self.step = step_ms

    def get_remaining_time_in_millis(self) -> int:
        self.left -= self.step
        return max(0, self.left)


class CapturedInvocations:
    """Stands in for Lambda's asynchronous self-invocation: keeps the payloads to run them afterwards."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def continue_later(self, payload: dict[str, Any]) -> None:
        self.payloads.append(json.loads(json.dumps(payload)))


def test_a_run_with_a_small_time_budget_finishes_through_continuations_with_the_same_totals(
    standin: Standin, service: IotEventsDataService
) -> None:
    reset_plan = plan(detectors={"all": True}, action={"mode": "update", "stateName": "Normal"})
    whole = run(service, reset_plan)
    whole_states = by_state(standin)
    standin.reset()

    invoker = CapturedInvocations()
    reports = []
    resume: Continuation | None = None
    while True:
        job = ResetJob(
            service, options=OPTIONS, budget=LambdaBudget(ShrinkingContext()), continuation_sink=invoker
        )
        reports.append(job.run(reset_plan, resume=resume))
        if reports[-1].status != "continued":
            break
        resume = Continuation.model_validate(invoker.payloads[-1]["continuation"])

    final = reports[-1]
    assert len(reports) >= 4
    assert final.status == "complete"
    assert final.totals.matched == whole.totals.matched == FLEET
    assert final.totals.reset == whole.totals.reset == FLEET
    assert final.totals.matched_by_state == whole.totals.matched_by_state
    assert final.continuations == len(reports) - 1
    assert sum(updated_items(standin).values()) == FLEET  # none twice, none skipped
    assert {s: len(d) for s, d in by_state(standin).items()} == {s: len(d) for s, d in whole_states.items()}


def test_a_message_plan_lets_the_detector_model_do_the_reset(
    standin: Standin, service: IotEventsDataService
) -> None:
    message_plan = plan(
        detectors={"inStates": ["Fault"]},
        action={
            "mode": "message",
            "inputName": "hvacReset",
            "payloadTemplate": {"device": "${keyValue}", "by": "${planName}"},
        },
    )

    report = run(service, message_plan)

    assert report.totals.reset == 500
    assert len(standin.messages("hvacReset")) == 500
    assert set(by_state(standin)) == {"Alarm", "Normal", "Idle"}


def test_dry_run_changes_nothing_on_the_service(standin: Standin, service: IotEventsDataService) -> None:
    before = standin.detectors(model=MODEL)

    report = run(service, plan(dryRun=True))

    assert standin.detectors(model=MODEL) == before
    assert report.totals.skipped == 1000
    assert "BatchUpdateDetector" not in standin.stats()["operations"]


def operator_cli(standin: Standin, plan_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    layer = Path(clients.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(layer), "AWS_ENDPOINT_URL_IOTEVENTS_DATA": standin.url}
    return subprocess.run(
        [sys.executable, "-m", "iotbridge", "reset", "--plan", str(plan_file), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_operator_cli_runs_a_plan_and_exits_0(
    standin: Standin, service: IotEventsDataService, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(
        json.dumps(
            plan(detectors={"inStates": ["Fault"]}).model_dump(
                mode="json", by_alias=True, exclude_defaults=True
            )
        )
    )

    done = operator_cli(standin, plan_file)

    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line.strip()}
    assert rows["reset"] == ["500"]
    assert "Fault" not in by_state(standin)


def test_operator_cli_exits_1_when_too_many_detectors_fail(
    standin: Standin, service: IotEventsDataService, tmp_path: Path
) -> None:
    keys = [f"device-{n:05d}" for n in range(10)]
    standin.set_faults(
        {"BatchUpdateDetector": {"itemErrors": dict.fromkeys(keys[:3], "InvalidRequestException")}}
    )
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(
        json.dumps(
            plan(detectors={"keyValues": keys}).model_dump(mode="json", by_alias=True, exclude_defaults=True)
        )
    )

    done = operator_cli(standin, plan_file)

    assert done.returncode == 1
    assert "reset failed: 3 of 10 detector(s) failed" in done.stderr
    assert "Traceback" not in done.stderr
