"""Detector resets on both backends, the same scenarios on each over the same fleet: the IoT stand-in's IoT
Events Data API, and the template's detector table in moto's DynamoDB (through the fault proxy, with AWS IoT
Core publishes recorded by the stand-in). Real servers on loopback, reached through botocore and the wiring
the function and the operator command use; throttling and refusals injected on either side."""

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

from bridge_local.fault_proxy import RunningProxy, running_fault_proxy
from bridge_local.processes import ServerProcess
from iot_standin.fleet import fleet_seed
from iot_standin.testing import Standin, running_standin
from iotbridge import clients
from iotbridge.budget import LambdaBudget, UnlimitedBudget
from iotbridge.detector_reset.domain.job import JobOptions, ResetJob
from iotbridge.detector_reset.domain.plan import ResetPlan, parse_plan
from iotbridge.detector_reset.domain.progress import Continuation, ResetReport
from iotbridge.detector_reset.ports import DetectorService, DetectorUpdate, ItemError
from iotbridge.detector_reset.wiring import ResetWiring

from .reset_backends import BACKENDS, FleetBackend, fleet_backends

pytestmark = pytest.mark.integration

MODEL = "hvac"
FLEET = 2000
STATES = ["Alarm", "Fault", "Normal", "Idle"]  # detector i is in STATES[i % 4]: 500 in each
INPUT, TOPIC = "hvacReset", "hvac/resets"
OPTIONS = JobOptions(
    batch_size=10, workers=4, max_item_attempts=10, backoff_base_seconds=0.005, backoff_cap_seconds=0.05
)
SEED = fleet_seed(
    MODEL,
    FLEET,
    STATES,
    variables={"lifetimeAlarms": "7", "scratch": "x"},
    timers={"cooldown": 600},
    reset_input=INPUT,
    reset_state="Normal",
    key_field="device",
)


@pytest.fixture(scope="module")
def standin() -> Iterator[Standin]:
    with running_standin(seed=SEED, random_seed=11) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(moto: ServerProcess) -> Iterator[RunningProxy]:
    with running_fault_proxy(moto.url, random_seed=11) as running:
        yield running


@pytest.fixture(scope="module")
def backends(standin: Standin, proxy: RunningProxy, moto: ServerProcess) -> dict[str, FleetBackend]:
    return fleet_backends(standin, proxy, moto.url, SEED["detectors"], MODEL, INPUT, TOPIC)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, backends: dict[str, FleetBackend]) -> FleetBackend:
    chosen = backends[request.param]
    chosen.restore()
    return chosen


@pytest.fixture
def wiring(backend: FleetBackend, monkeypatch: pytest.MonkeyPatch) -> Iterator[ResetWiring]:
    """The project's own wiring and client factory, steered to the backend by its endpoint variables."""
    for name, value in backend.environment().items():
        monkeypatch.setenv(name, value)
    clients.reset_clients()
    yield ResetWiring.from_environment()
    clients.reset_clients()


def plan(backend: FleetBackend, **changes: Any) -> ResetPlan:
    doc: dict[str, Any] = {
        "name": "fleet-reset",
        "detectorModelName": MODEL,
        "backend": backend.plan_backend(),
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


MESSAGE_ACTION = {
    "mode": "message",
    "inputName": INPUT,  # where it goes on the IoT Events Data API
    "topic": TOPIC,  # where it goes on the detector table's backend
    "payloadTemplate": {"device": "${keyValue}", "by": "${planName}", "run": "${runId}"},
}


def run(service: DetectorService, reset_plan: ResetPlan, **kwargs: Any) -> ResetReport:
    kwargs.setdefault("budget", UnlimitedBudget())
    return ResetJob(service, options=OPTIONS, rng=random.Random(3), **kwargs).run(reset_plan)


def by_state(backend: FleetBackend) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for detector in backend.detectors().values():
        grouped.setdefault(detector["state"]["stateName"], []).append(detector)
    return grouped


def variables(detector: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["value"] for v in detector["state"]["variables"]}


def matched_keys(backend: FleetBackend, states: tuple[str, ...] = ("Alarm", "Fault")) -> set[str]:
    return {k for k, d in backend.detectors().items() if d["state"]["stateName"] in states}


@pytest.mark.slow
def test_a_plan_for_two_states_resets_exactly_those_and_keeps_the_named_variables(
    backend: FleetBackend, wiring: ResetWiring
) -> None:
    before = backend.detectors()
    reset_keys = matched_keys(backend)
    reset_plan = plan(backend)

    report = run(wiring.services(reset_plan.backend), reset_plan)

    after = backend.detectors()
    assert {d["state"]["stateName"] for d in after.values()} == {"Normal", "Idle"}
    untouched = {k for k in before if k not in reset_keys}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}  # timers and times too
    for key in reset_keys:
        assert variables(after[key]) == {"alarmCount": "0", "lifetimeAlarms": "7"}
        assert after[key]["state"]["timers"] == []
    totals = report.totals
    assert report.status == "complete"
    assert totals.matched == len(reset_keys) == 1000
    assert totals.matched_by_state == {"Alarm": 500, "Fault": 500}
    assert totals.reset + totals.failed_total == totals.matched
    assert totals.reset == 1000
    assert totals.preserved_variables == 1000
    assert backend.applied_updates() == 1000  # each detector updated exactly once


def test_per_detector_throttling_is_absorbed_by_retries(backend: FleetBackend, wiring: ResetWiring) -> None:
    backend.fail_updates(throttle_rate=0.2)
    reset_plan = plan(backend, action={"mode": "update", "stateName": "Normal"})

    report = run(wiring.services(reset_plan.backend), reset_plan)

    assert report.totals.failed == {}
    assert report.totals.reset == 1000
    assert set(by_state(backend)) == {"Normal", "Idle"}
    outcomes = backend.update_outcomes()
    assert outcomes["ok"] == 1000
    assert sum(n for code, n in outcomes.items() if code != "ok") > 100  # the faults were really there


def test_detectors_that_do_not_exist_are_reported_not_found_and_the_rest_succeed(
    backend: FleetBackend, wiring: ResetWiring
) -> None:
    keys = [f"device-{n:05d}" for n in range(10)] + ["device-99998", "device-99999"]
    reset_plan = plan(backend, detectors={"keyValues": keys}, action={"mode": "update", "stateName": "Idle"})

    report = run(wiring.services(reset_plan.backend), reset_plan)

    assert report.totals.failed == {"ResourceNotFoundException": 2}
    assert sorted(report.totals.failed_keys) == ["device-99998", "device-99999"]
    assert report.totals.reset == 10
    detectors = backend.detectors()
    assert [detectors[k]["state"]["stateName"] for k in keys[:10]] == ["Idle"] * 10
    assert "device-99998" not in detectors and "device-99999" not in detectors  # never created


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
    backend: FleetBackend, wiring: ResetWiring
) -> None:
    reset_plan = plan(backend, detectors={"all": True}, action={"mode": "update", "stateName": "Normal"})
    service = wiring.services(reset_plan.backend)
    whole = run(service, reset_plan)
    whole_states = {s: len(d) for s, d in by_state(backend).items()}
    backend.restore()

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
    assert backend.applied_updates() == FLEET  # none twice, none skipped
    assert {s: len(d) for s, d in by_state(backend).items()} == whole_states


def test_a_message_plan_sends_one_message_to_each_detector(
    backend: FleetBackend, wiring: ResetWiring
) -> None:
    faulted = matched_keys(backend, ("Fault",))
    reset_plan = plan(backend, detectors={"inStates": ["Fault"]}, action=MESSAGE_ACTION)

    report = run(wiring.services(reset_plan.backend), reset_plan)

    assert report.totals.reset == 500
    messages = backend.messages()
    assert Counter(m["device"] for m in messages) == Counter(faulted)
    assert {(m["by"], m["run"]) for m in messages} == {("fleet-reset", report.run_id)}
    if backend.kind == "iotevents-data":
        # The detector model's own logic (the stand-in's reset rule for the input) did the reset.
        assert set(by_state(backend)) == {"Alarm", "Normal", "Idle"}


def test_dry_run_changes_nothing(backend: FleetBackend, wiring: ResetWiring) -> None:
    before = backend.detectors()
    reset_plan = plan(backend, dryRun=True)

    report = run(wiring.services(reset_plan.backend), reset_plan)

    assert backend.detectors() == before
    assert report.totals.skipped == 1000
    assert sum(backend.update_outcomes().values()) == 0


class Drifting:
    """The job's service, and a detector model whose logic moves some detectors back to Alarm right after
    they are reset (keys ending in 7), as a live model may."""

    def __init__(self, service: DetectorService, backend: FleetBackend) -> None:
        self._service = service
        self._backend = backend
        self.list_detectors = service.list_detectors
        self.describe_detector = service.describe_detector
        self.put_messages = service.put_messages

    def update_detectors(self, model: str, updates: list[tuple[str, DetectorUpdate]]) -> list[ItemError]:
        errors = self._service.update_detectors(model, updates)
        for _, update in updates:
            if update.key_value.endswith("7"):
                self._backend.move(update.key_value, "Alarm")
        return errors


def test_verify_reports_the_detectors_that_are_not_in_the_target_state(
    backend: FleetBackend, wiring: ResetWiring
) -> None:
    keys = [f"device-{n:05d}" for n in range(30)]
    reset_plan = plan(backend, detectors={"keyValues": keys}, verify={})
    drifting = Drifting(wiring.services(reset_plan.backend), backend)

    report = run(drifting, reset_plan)

    assert report.totals.reset == report.totals.verified == 30
    assert report.totals.verify_mismatches == 3
    assert sorted(report.totals.mismatched_keys) == ["device-00007", "device-00017", "device-00027"]


def test_the_same_plan_gives_the_same_report_on_both_backends(
    backends: dict[str, FleetBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = {}
    for kind, backend in backends.items():
        backend.restore()
        for name, value in backend.environment().items():
            monkeypatch.setenv(name, value)
        clients.reset_clients()
        reset_plan = plan(backend, verify={"sampleSize": 50})
        report = run(ResetWiring.from_environment().services(reset_plan.backend), reset_plan)
        reports[kind] = report.totals.model_dump(exclude={"failed_keys", "mismatched_keys", "sample_keys"})
    clients.reset_clients()

    assert reports["iotevents-data"] == reports["dynamodb"]
    assert reports["dynamodb"]["reset"] == 1000 and reports["dynamodb"]["verified"] == 50


def operator_cli(
    backend: FleetBackend, reset_plan: ResetPlan, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(reset_plan.model_dump(mode="json", by_alias=True, exclude_defaults=True)))
    layer = Path(clients.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(layer), **backend.environment()}
    return subprocess.run(
        [sys.executable, "-m", "iotbridge", "reset", "--plan", str(plan_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_operator_cli_runs_a_plan_and_exits_0(backend: FleetBackend, tmp_path: Path) -> None:
    done = operator_cli(backend, plan(backend, detectors={"inStates": ["Fault"]}), tmp_path)

    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line.strip()}
    assert rows["reset"] == ["500"]
    assert "Fault" not in by_state(backend)


def test_operator_cli_exits_1_when_too_many_detectors_fail(backend: FleetBackend, tmp_path: Path) -> None:
    keys = [f"device-{n:05d}" for n in range(7)] + [f"gone-{n}" for n in range(3)]

    done = operator_cli(backend, plan(backend, detectors={"keyValues": keys}), tmp_path)

    assert done.returncode == 1
    assert "reset failed: 3 of 10 detector(s) failed" in done.stderr
    assert "Traceback" not in done.stderr
