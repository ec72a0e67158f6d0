"""Injected faults on the running stand-in: throttling, per-item errors, rate caps and latency."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from iot_standin.fleet import fleet_seed
from iot_standin.testing import Standin, StandinAdminError, running_standin

pytestmark = pytest.mark.integration

MODEL = "PumpMonitor"


@pytest.fixture(scope="module")
def module_standin() -> Iterator[Standin]:
    with running_standin(
        seed=fleet_seed(MODEL, 40, ["Alarm"], reset_input="ResetInput", reset_state="Normal"), random_seed=3
    ) as s:
        yield s


@pytest.fixture
def standin(module_standin: Standin) -> Standin:
    module_standin.reset()
    return module_standin


@pytest.fixture(scope="module")
def mi(module_standin: Standin) -> Any:
    return module_standin.boto_client("iot-managed-integrations")


@pytest.fixture(scope="module")
def events(module_standin: Standin) -> Any:
    return module_standin.boto_client("iotevents-data", max_pool_connections=20)


def send(mi: Any) -> None:
    mi.send_connector_event(ConnectorId="conn-1", Operation="DEVICE_EVENT", ConnectorDeviceId="dev-1")


def updates(count: int) -> list[dict[str, Any]]:
    state = {"stateName": "Normal", "variables": [], "timers": []}
    return [
        {"messageId": f"m{i}", "detectorModelName": MODEL, "keyValue": f"device-{i:05d}", "state": state}
        for i in range(count)
    ]


def test_throttle_rate_one_throttles_every_call_and_is_counted(standin: Standin, mi: Any) -> None:
    standin.set_faults({"SendConnectorEvent": {"throttleRate": 1.0}})
    for _ in range(3):
        with pytest.raises(mi.exceptions.ThrottlingException):
            send(mi)
    assert standin.connector_events() == []
    assert standin.stats()["throttled"]["calls"] == 3


def test_faults_changed_while_running_take_effect_at_once(standin: Standin, mi: Any) -> None:
    standin.set_faults({"*": {"throttleRate": 1.0}})
    with pytest.raises(mi.exceptions.ThrottlingException):
        send(mi)
    standin.set_faults({})
    send(mi)
    assert standin.faults() == {}
    assert len(standin.connector_events()) == 1


def test_item_throttle_rate_one_throttles_every_item_but_not_the_call(standin: Standin, events: Any) -> None:
    standin.set_faults({"BatchUpdateDetector": {"itemThrottleRate": 1.0}})
    answer = events.batch_update_detector(detectors=updates(5))
    assert [e["errorCode"] for e in answer["batchUpdateDetectorErrorEntries"]] == ["ThrottlingException"] * 5
    assert standin.detectors(state="Normal") == []
    assert standin.stats()["operations"]["BatchUpdateDetector"] == {
        "calls": {"ok": 1},
        "items": {"ThrottlingException": 5},
    }


def test_a_partial_item_throttle_rate_repeats_after_a_reset(standin: Standin, events: Any) -> None:
    def throttled_ids() -> list[str]:
        standin.reset()
        standin.set_faults({"BatchUpdateDetector": {"itemThrottleRate": 0.5}})
        answer = events.batch_update_detector(detectors=updates(40))
        return [e["messageId"] for e in answer["batchUpdateDetectorErrorEntries"]]

    first = throttled_ids()
    assert 5 < len(first) < 35
    assert throttled_ids() == first


def test_item_errors_fail_the_named_detectors_and_messages(standin: Standin, events: Any) -> None:
    standin.set_faults(
        {
            "BatchUpdateDetector": {"itemErrors": {"device-00001": "InternalFailureException"}},
            "BatchPutMessage": {"itemErrors": {"device-00002": "ServiceUnavailableException"}},
        }
    )
    answer = events.batch_update_detector(detectors=updates(3))
    assert [(e["messageId"], e["errorCode"]) for e in answer["batchUpdateDetectorErrorEntries"]] == [
        ("m1", "InternalFailureException")
    ]
    payloads = [json.dumps({"keyValue": f"device-{i:05d}"}).encode() for i in (2, 3)]
    answer = events.batch_put_message(
        messages=[
            {"messageId": f"p{i}", "inputName": "ResetInput", "payload": p} for i, p in enumerate(payloads)
        ]
    )
    assert [(e["messageId"], e["errorCode"]) for e in answer["BatchPutMessageErrorEntries"]] == [
        ("p0", "ServiceUnavailableException")
    ]


def test_max_rps_throttles_a_burst_above_the_cap(standin: Standin, mi: Any) -> None:
    standin.set_faults({"SendConnectorEvent": {"maxRps": 5}})
    outcomes = []
    started = time.monotonic()
    for _ in range(15):
        try:
            send(mi)
            outcomes.append("ok")
        except mi.exceptions.ThrottlingException:
            outcomes.append("throttled")
    elapsed = time.monotonic() - started
    # A second's worth (5) goes through, plus what refilled while the burst ran, however long it took
    refilled = int(5 * elapsed) + 1
    assert 5 <= outcomes.count("ok") <= 5 + refilled
    assert outcomes[:5] == ["ok"] * 5
    throttled = standin.stats()["operations"]["SendConnectorEvent"]["calls"].get("ThrottlingException", 0)
    assert throttled == outcomes.count("throttled") >= 15 - 5 - refilled


def test_latency_is_added_to_each_call_without_holding_up_the_others(standin: Standin, events: Any) -> None:
    standin.set_faults({"DescribeDetector": {"latencyMs": 300}})

    def describe(_: int) -> tuple[float, float]:
        started = time.monotonic()
        events.describe_detector(detectorModelName=MODEL, keyValue="device-00000")
        return started, time.monotonic()

    with ThreadPoolExecutor(max_workers=10) as pool:
        spans = list(pool.map(describe, range(10)))
    assert min(end - start for start, end in spans) >= 0.3
    # Served side by side: calls overlapped in time (one after another, none would). An overlap, not a
    # duration, so that a busy machine cannot fail it.
    spans.sort()
    assert any(later_start < earlier_end for (_, earlier_end), (later_start, _) in itertools.pairwise(spans))


def test_latency_applies_only_to_the_operation_it_is_set_for(standin: Standin, events: Any) -> None:
    # A latency far beyond what a call takes even on a busy machine: a call under it was not delayed.
    standin.set_faults({"ListDetectors": {"latencyMs": 5000}})
    started = time.monotonic()
    events.describe_detector(detectorModelName=MODEL, keyValue="device-00000")
    assert time.monotonic() - started < 5.0


def test_a_bad_fault_plan_is_refused_and_the_old_one_stays(standin: Standin) -> None:
    standin.set_faults({"ListDetectors": {"throttleRate": 0.5}})
    with pytest.raises(StandinAdminError, match="throttleRate must be a number from 0 to 1"):
        standin.set_faults({"ListDetectors": {"throttleRate": 2}})
    assert standin.faults() == {"ListDetectors": {"throttleRate": 0.5}}


def test_faults_given_at_start_up_are_in_force_and_come_back_on_reset() -> None:
    with running_standin(faults={"SendConnectorEvent": {"error503Rate": 1.0}}) as standin:
        mi = standin.boto_client("iot-managed-integrations")
        with pytest.raises(mi.exceptions.ServiceUnavailableException):
            send(mi)
        standin.set_faults({})
        send(mi)
        standin.reset()
        with pytest.raises(mi.exceptions.ServiceUnavailableException):
            send(mi)
