"""The detector reset job, run as an operator runs it (`python -m iotbridge reset --plan ... --json`), on both
backends while they throttle 30% of the detectors' updates or messages and fail whole calls with server
errors: the IoT stand-in's IoT Events Data API, and the template's detector table in moto's DynamoDB behind
the fault proxy (message resets published to AWS IoT Core, recorded by the stand-in).

Afterwards each backend's detectors, counters and message record are reconciled with the job's report:
every matched detector was reset exactly once or is reported failed with its error code, and nothing else
was touched.
"""

from __future__ import annotations

import json
import os
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

from .reset_backends import BACKENDS, DetectorTableBackend, FleetBackend, IotEventsBackend, fleet_backends

pytestmark = pytest.mark.integration

MODEL = "boilerMonitor"
RESET_INPUT, RESET_TOPIC = "boilerReset", "boilers/resets"
FLEET = 600
STATES = ["Normal", "Alarm", "Fault", "Idle"]  # detector i is in STATES[i % 4]: 150 in each
MATCHED_STATES = ["Alarm", "Fault"]
TARGET = "Normal"
# The job's own settings, as the template deploys them (attempts per call and per entry, failure share).
JOB_ENV = {
    "RESET_MAX_ITEM_ATTEMPTS": "8",
    "RESET_WORKERS": "4",
    "RESET_BATCH_SIZE": "10",
    "RESET_FAILURE_SHARE": "0.05",
}
# Codes the job retries; an entry still failing after the last attempt is reported with one of them.
TRANSIENT = {
    "ThrottlingException",
    "ServiceUnavailableException",
    "InternalFailureException",
    "ProvisionedThroughputExceededException",
    "InternalServerError",
}
SEED = fleet_seed(
    MODEL,
    FLEET,
    STATES,
    variables={"lifetimeAlarms": "7", "scratch": "x"},
    timers={"cooldown": 600},
    reset_input=RESET_INPUT,
    reset_state=TARGET,
    key_field="device",
)


def key(index: int) -> str:
    return f"device-{index:05d}"


# Matched detectors each backend always refuses, and one unmatched one (which the job must never send):
# (code the backend answers, code the report gives) by key, per backend and action mode.
REFUSED_KEYS = {
    key(1): "invalid",
    key(6): "invalid",
    key(105): "missing",
    key(598): "invalid",
    key(3): "invalid",
}
REFUSALS = {
    ("iotevents-data", "update"): {
        "invalid": ("InvalidRequestException",) * 2,
        "missing": ("ResourceNotFoundException",) * 2,
    },
    ("iotevents-data", "message"): {
        "invalid": ("InvalidRequestException",) * 2,
        "missing": ("ResourceNotFoundException",) * 2,
    },
    ("dynamodb", "update"): {
        "invalid": ("ValidationException",) * 2,
        # The conditional write's answer for a detector deleted meanwhile.
        "missing": ("ConditionalCheckFailedException", "ResourceNotFoundException"),
    },
    ("dynamodb", "message"): {
        "invalid": ("InvalidRequestException",) * 2,
        "missing": ("UnauthorizedException",) * 2,
    },
}


def refusals(backend: FleetBackend, mode: str) -> tuple[dict[str, str], dict[str, str]]:
    """What to inject (key -> code the backend answers) and what the report must say (key -> code)."""
    codes = REFUSALS[(backend.kind, mode)]
    return (
        {k: codes[kind][0] for k, kind in REFUSED_KEYS.items()},
        {k: codes[kind][1] for k, kind in REFUSED_KEYS.items()},
    )


# The stand-in and the proxy each draw their faults from one sequence, restarted by each restore. With these
# seeds, a run's first call (the first listing, made before any other) is answered with a server error.
STANDIN_FAULT_SEED, PROXY_FAULT_SEED = 22, 1


@pytest.fixture(scope="module")
def standin() -> Iterator[Standin]:
    with running_standin(seed=SEED, random_seed=STANDIN_FAULT_SEED) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(moto: ServerProcess) -> Iterator[RunningProxy]:
    with running_fault_proxy(moto.url, random_seed=PROXY_FAULT_SEED) as running:
        yield running


@pytest.fixture(scope="module")
def backends(standin: Standin, proxy: RunningProxy, moto: ServerProcess) -> dict[str, FleetBackend]:
    return fleet_backends(standin, proxy, moto.url, SEED["detectors"], MODEL, RESET_INPUT, RESET_TOPIC)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, backends: dict[str, FleetBackend]) -> FleetBackend:
    chosen = backends[request.param]
    chosen.restore()
    # A little latency on every call, and whole listings and describes failing now and then.
    if isinstance(chosen, IotEventsBackend):
        chosen.standin.set_faults({"*": {"latencyMs": 3, "latencyJitterMs": 2}})
    chosen.fail_reads(listing_error_rate=0.25, describe_error_rate=0.1)
    return chosen


def run_reset(backend: FleetBackend, plan: dict[str, Any], tmp_path: Path) -> tuple[int, dict[str, Any], str]:
    """The operator command, in its own process, pointed at the backend by its endpoint variables."""
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps({**plan, "backend": backend.plan_backend()}), encoding="utf-8")
    layer = Path(clients.__file__).resolve().parents[1]
    env = {**os.environ, **JOB_ENV, "PYTHONPATH": str(layer), **backend.environment()}
    done = subprocess.run(
        [sys.executable, "-m", "iotbridge", "reset", "--plan", str(plan_file), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def variables(detector: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["value"] for v in detector["state"]["variables"]}


def reconcile(
    report: dict[str, Any],
    before: dict[str, dict[str, Any]],
    after: dict[str, dict[str, Any]],
    reported: dict[str, str],
    changes: bool = True,
) -> set[str]:
    """The keys reset, after checking them and the keys that failed against the report. Without `changes`
    (messages on the detector table: nothing applies them), the report is checked on its own."""
    matched = {k for k, d in before.items() if d["state"]["stateName"] in MATCHED_STATES}
    changed = {k for k in before if after[k] != before[k]}
    # Nothing outside the selection was touched: not its state, variables, timers or update time.
    assert changed <= matched, sorted(changed - matched)[:10]
    assert report["status"] == "complete"
    assert report["matched"] == len(matched) == 300
    assert report["matchedByState"] == {"Alarm": 150, "Fault": 150}
    failed = set(report["failedKeys"])
    reset = matched - failed
    if changes:
        assert changed == reset
    assert report["reset"] == len(reset)
    assert sum(report["failed"].values()) == len(failed)
    assert report["matched"] == report["reset"] + sum(report["failed"].values())
    # Every refused detector is reported with the code its backend gave; anything else that failed ran out
    # of attempts on a transient code and is reported with it.
    refused_matched = {k: code for k, code in reported.items() if k in matched}
    assert refused_matched.keys() <= failed
    other_failures = Counter(report["failed"]) - Counter(refused_matched.values())
    assert set(other_failures) <= TRANSIENT, report["failed"]
    assert sum(other_failures.values()) == len(failed) - len(refused_matched)
    assert len(failed) <= 20  # the report lists up to 20 failed keys: here, all of them
    return reset


UPDATE_PLAN = {
    "name": "boiler-reset",
    "detectorModelName": MODEL,
    "detectors": {"inStates": MATCHED_STATES},
    "action": {
        "mode": "update",
        "stateName": TARGET,
        "variables": [{"name": "alarmCount", "value": "0"}],
        "preserveVariables": ["lifetimeAlarms"],
    },
}
MESSAGE_PLAN = {
    "name": "boiler-reset-message",
    "detectorModelName": MODEL,
    "detectors": {"inStates": MATCHED_STATES},
    "action": {
        "mode": "message",
        "inputName": RESET_INPUT,
        "topic": RESET_TOPIC,
        "payloadTemplate": {"device": "${keyValue}", "plan": "${planName}", "run": "${runId}"},
    },
}


def test_update_resets_each_matched_detector_once_under_throttling_and_server_errors(
    backend: FleetBackend, tmp_path: Path
) -> None:
    # 300 of 600 detectors in Alarm or Fault; 30% of the updates throttled, 15% failing with server errors,
    # some detectors refused for good
    inject, reported = refusals(backend, "update")
    backend.fail_updates(throttle_rate=0.3, error_rate=0.15, refuse=inject)
    before = backend.detectors()

    # The operator runs the plan
    code, report, stderr = run_reset(backend, UPDATE_PLAN, tmp_path)

    # The run succeeds, and the detectors reconcile with the report
    assert code == 0, stderr
    after = backend.detectors()
    reset = reconcile(report, before, after, reported)
    for k in reset:
        assert after[k]["state"]["stateName"] == TARGET
        assert variables(after[k]) == {"alarmCount": "0", "lifetimeAlarms": "7"}
        assert after[k]["state"]["timers"] == []
    # No detector was updated twice: as many updates were applied as detectors changed
    outcomes = backend.update_outcomes()
    assert outcomes["ok"] == len(reset)
    assert report["preservedVariables"] == len(reset)
    # The faults were really there
    assert sum(n for c, n in outcomes.items() if c in TRANSIENT) > 50
    print(json.dumps(_figures(backend, report)))


def test_message_resets_each_matched_detector_once_under_throttling_and_server_errors(
    backend: FleetBackend, tmp_path: Path
) -> None:
    # The same fleet; 30% of the messages throttled, 15% failing with server errors, the messages for some
    # detectors refused for good
    inject, reported = refusals(backend, "message")
    backend.fail_messages(throttle_rate=0.3, error_rate=0.15, refuse=inject)
    before = backend.detectors()

    # The operator runs the plan
    code, report, stderr = run_reset(backend, MESSAGE_PLAN, tmp_path)

    # The run succeeds, and the detectors reconcile with the report
    assert code == 0, stderr
    after = backend.detectors()
    # On IoT Events Data the detector model's logic (the stand-in's input rule) applies each message.
    applied = backend.kind == "iotevents-data"
    reset = reconcile(report, before, after, reported, changes=applied)
    if applied:
        for k in reset:
            assert after[k]["state"]["stateName"] == TARGET
            assert variables(after[k]) == {}  # the input's reset rule clears them
    else:
        assert after == before
    # Each reset detector received exactly one reset message, and no other detector any
    messages = backend.messages()
    assert Counter(m["device"] for m in messages) == Counter(reset)
    assert {m["run"] for m in messages} == {report["runId"]}
    # The faults were really there
    publishes = backend.kind == "dynamodb"
    stats = backend.standin.stats()["operations"]
    outcomes = Counter(stats["Publish"]["calls"] if publishes else stats["BatchPutMessage"]["items"])
    assert outcomes["ThrottlingException"] > 50
    print(json.dumps(_figures(backend, report)))


def _figures(backend: FleetBackend, report: dict[str, Any]) -> dict[str, Any]:
    calls: Any = backend.standin.stats()["operations"]
    if isinstance(backend, DetectorTableBackend):
        calls = {**backend.proxy.stats(), **calls}  # the table's calls, and the publishes
    return {
        "backend": backend.kind,
        "plan": report["plan"],
        "matched": report["matched"],
        "reset": report["reset"],
        "failed": report["failed"],
        "durationSeconds": report["durationSeconds"],
        "calls": calls,
    }


def test_a_first_listing_that_fails_is_retried(backend: FleetBackend, tmp_path: Path) -> None:
    # Both fault sequences start with a server error for the run's first call, its first listing
    plan = {**UPDATE_PLAN, "action": {"mode": "update", "stateName": TARGET}}

    code, report, stderr = run_reset(backend, plan, tmp_path)

    assert code == 0, stderr
    assert (report["matched"], report["reset"]) == (300, 300)
    if isinstance(backend, DetectorTableBackend):
        assert backend.proxy.stats()["Query"]["InternalServerError"] >= 1
    else:
        listings = backend.standin.stats()["operations"]["ListDetectors"]["calls"]
        assert listings["ServiceUnavailableException"] >= 1
