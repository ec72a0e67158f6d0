"""The detector reset job, run as an operator runs it (`python -m iotbridge reset --plan ... --json`),
against the IoT stand-in while it throttles 30% of the batch entries and fails whole calls with 503s.

Afterwards the stand-in's detectors, counters and message record are reconciled with the job's report:
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

from iot_standin.fleet import fleet_seed
from iot_standin.testing import Standin, running_standin
from iotbridge import clients

pytestmark = pytest.mark.integration

MODEL = "boilerMonitor"
RESET_INPUT = "boilerReset"
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
TRANSIENT = {"ThrottlingException", "ServiceUnavailableException", "InternalFailureException"}


def key(index: int) -> str:
    return f"device-{index:05d}"


# Matched detectors the service always refuses, and one unmatched one (which the job must never send).
REFUSED = {
    key(1): "InvalidRequestException",  # Alarm
    key(6): "InvalidRequestException",  # Fault
    key(105): "ResourceNotFoundException",  # Alarm
    key(598): "InvalidRequestException",  # Fault
    key(3): "InvalidRequestException",  # Idle: not matched
}


# The stand-in draws its faults from one sequence, restarted by each reset. A run's first call is
# ListDetectors, made before any other: with this seed it is answered 503, so every run meets one.
FAULT_SEED = 22


def call_faults() -> dict[str, Any]:
    """Whole calls failing with 503 on every operation the job makes, a little latency on each."""
    return {
        "*": {"latencyMs": 3, "latencyJitterMs": 2},
        "ListDetectors": {"error503Rate": 0.25},
        "DescribeDetector": {"error503Rate": 0.1},
    }


@pytest.fixture(scope="module")
def standin() -> Iterator[Standin]:
    seed = fleet_seed(
        MODEL,
        FLEET,
        STATES,
        variables={"lifetimeAlarms": "7", "scratch": "x"},
        timers={"cooldown": 600},
        reset_input=RESET_INPUT,
        reset_state=TARGET,
        key_field="device",
    )
    with running_standin(seed=seed, random_seed=FAULT_SEED) as server:
        yield server


def run_reset(standin: Standin, plan: dict[str, Any], tmp_path: Path) -> tuple[int, dict[str, Any], str]:
    """The operator command, in its own process, pointed at the stand-in by its endpoint variable."""
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    layer = Path(clients.__file__).resolve().parents[1]
    env = {
        **os.environ,
        **JOB_ENV,
        "PYTHONPATH": str(layer),
        "AWS_ENDPOINT_URL_IOTEVENTS_DATA": standin.url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "iotbridge", "reset", "--plan", str(plan_file), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def snapshot(standin: Standin) -> dict[str, dict[str, Any]]:
    return {d["keyValue"]: d for d in standin.detectors(model=MODEL)}


def variables(detector: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["value"] for v in detector["state"]["variables"]}


def reconcile(
    report: dict[str, Any], before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> set[str]:
    """The keys reset, after checking them and the keys that failed against the report."""
    matched = {k for k, d in before.items() if d["state"]["stateName"] in MATCHED_STATES}
    changed = {k for k in before if after[k] != before[k]}
    # Nothing outside the selection was touched: not its state, variables, timers or update time.
    assert changed <= matched, sorted(changed - matched)[:10]
    reset, failed = matched & changed, matched - changed
    assert report["status"] == "complete"
    assert report["matched"] == len(matched) == 300
    assert report["matchedByState"] == {"Alarm": 150, "Fault": 150}
    assert report["reset"] == len(reset)
    assert sum(report["failed"].values()) == len(failed)
    assert report["matched"] == report["reset"] + sum(report["failed"].values())
    # Every refused detector is reported with the code the service gave; anything else that failed ran
    # out of attempts on a transient code and is reported with it.
    refused_matched = {k: code for k, code in REFUSED.items() if k in matched}
    assert refused_matched.keys() <= failed
    other_failures = Counter(report["failed"]) - Counter(refused_matched.values())
    assert set(other_failures) <= TRANSIENT, report["failed"]
    assert sum(other_failures.values()) == len(failed) - len(refused_matched)
    assert len(failed) <= 20  # the report lists up to 20 failed keys: here, all of them
    assert set(report["failedKeys"]) == failed
    return reset


@pytest.fixture
def fresh(standin: Standin) -> Standin:
    standin.reset()  # the start-up fleet, no records, zeroed counters
    return standin


def test_update_resets_each_matched_detector_once_under_throttling_and_503s(
    fresh: Standin, tmp_path: Path
) -> None:
    # 300 of 600 detectors in Alarm or Fault, and the stand-in throttling 30% of BatchUpdateDetector
    # entries, failing whole calls with 503s and refusing some detectors for good
    fresh.set_faults(
        {
            **call_faults(),
            "BatchUpdateDetector": {"itemThrottleRate": 0.3, "error503Rate": 0.15, "itemErrors": REFUSED},
        }
    )
    before = snapshot(fresh)
    plan = {
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

    # The operator runs the plan
    code, report, stderr = run_reset(fresh, plan, tmp_path)

    # The run succeeds, and the detectors reconcile with the report
    assert code == 0, stderr
    after = snapshot(fresh)
    reset = reconcile(report, before, after)
    for k in reset:
        assert after[k]["state"]["stateName"] == TARGET
        assert variables(after[k]) == {"alarmCount": "0", "lifetimeAlarms": "7"}
        assert after[k]["state"]["timers"] == []
    # No detector was updated twice: as many entries were applied as detectors changed
    stats = fresh.stats()["operations"]
    applied = Counter(stats["BatchUpdateDetector"]["items"])
    assert applied["ok"] == len(reset)
    assert report["preservedVariables"] == len(reset)
    # The faults were really there
    assert applied["ThrottlingException"] > 50
    assert stats["BatchUpdateDetector"]["calls"]["ServiceUnavailableException"] > 0
    assert stats["ListDetectors"]["calls"]["ServiceUnavailableException"] > 0
    assert stats["DescribeDetector"]["calls"]["ServiceUnavailableException"] > 0
    print(json.dumps(_figures(report, stats)))


def test_message_resets_each_matched_detector_once_under_throttling_and_503s(
    fresh: Standin, tmp_path: Path
) -> None:
    # The same fleet, and BatchPutMessage throttling 30% of its entries, failing whole calls with
    # 503s and refusing the messages for some detectors for good
    fresh.set_faults(
        {
            **call_faults(),
            "BatchPutMessage": {"itemThrottleRate": 0.3, "error503Rate": 0.15, "itemErrors": REFUSED},
        }
    )
    before = snapshot(fresh)
    plan = {
        "name": "boiler-reset-message",
        "detectorModelName": MODEL,
        "detectors": {"inStates": MATCHED_STATES},
        "action": {
            "mode": "message",
            "inputName": RESET_INPUT,
            "payloadTemplate": {"device": "${keyValue}", "plan": "${planName}", "run": "${runId}"},
        },
    }

    # The operator runs the plan
    code, report, stderr = run_reset(fresh, plan, tmp_path)

    # The run succeeds, and the detectors reconcile with the report
    assert code == 0, stderr
    after = snapshot(fresh)
    reset = reconcile(report, before, after)
    for k in reset:
        assert after[k]["state"]["stateName"] == TARGET
        assert variables(after[k]) == {}  # the input's reset rule clears them
    # Each reset detector received exactly one reset message, and no other detector any
    messages = fresh.messages(RESET_INPUT)
    per_detector = Counter(m["payload"]["device"] for m in messages)
    assert per_detector == Counter(reset)
    assert {m["payload"]["run"] for m in messages} == {report["runId"]}
    assert all(m["changedDetectors"] for m in messages)
    # The faults were really there
    stats = fresh.stats()["operations"]
    assert Counter(stats["BatchPutMessage"]["items"])["ThrottlingException"] > 50
    assert stats["BatchPutMessage"]["calls"]["ServiceUnavailableException"] > 0
    assert stats["ListDetectors"]["calls"]["ServiceUnavailableException"] > 0
    print(json.dumps(_figures(report, stats)))


def _figures(report: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "plan": report["plan"],
        "matched": report["matched"],
        "reset": report["reset"],
        "failed": report["failed"],
        "durationSeconds": report["durationSeconds"],
        "operations": stats,
    }
