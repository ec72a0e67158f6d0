"""IoT Events Data on the stand-in, driven by boto3 clients built from the bridge's own service model."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from iot_standin.fleet import fleet_seed
from iot_standin.testing import Standin, running_standin

pytestmark = pytest.mark.integration

MODEL = "PumpMonitor"
FLEET_SIZE = 600


def seed() -> dict[str, Any]:
    fleet = fleet_seed(
        MODEL,
        FLEET_SIZE,
        ["Normal", "Alarm", "Fault"],
        variables={"pressure": "9", "alarms": "2"},
        timers={"cooldown": 300},
        reset_input="ResetInput",
        reset_state="Normal",
    )
    fleet["detectorModels"]["EmptyModel"] = {"states": ["Normal"]}
    fleet["inputs"]["AuditInput"] = {}
    return fleet


@pytest.fixture(scope="module")
def module_standin() -> Iterator[Standin]:
    with running_standin(seed=seed()) as standin:
        yield standin


@pytest.fixture
def standin(module_standin: Standin) -> Standin:
    module_standin.reset()
    return module_standin


@pytest.fixture(scope="module")
def events(module_standin: Standin) -> Any:
    return module_standin.boto_client("iotevents-data")


@pytest.fixture(scope="module")
def unchecked_events(module_standin: Standin) -> Any:
    """A client that sends what botocore's own validation would stop, to reach the server's checks."""
    return module_standin.boto_client("iotevents-data", parameter_validation=False)


def list_all(events: Any, **query: Any) -> tuple[list[str], list[int]]:
    keys: list[str] = []
    sizes: list[int] = []
    while True:
        page = events.list_detectors(detectorModelName=MODEL, **query)
        sizes.append(len(page["detectorSummaries"]))
        keys += [s["keyValue"] for s in page["detectorSummaries"]]
        if "nextToken" not in page:
            return keys, sizes
        query["nextToken"] = page["nextToken"]


def update(message_id: str, key: str, state: str = "Normal", **extra: Any) -> dict[str, Any]:
    definition = {"stateName": state, "variables": [], "timers": [], **extra}
    return {"messageId": message_id, "detectorModelName": MODEL, "keyValue": key, "state": definition}


def key(index: int) -> str:
    return f"device-{index:05d}"


# ---- ListDetectors -----------------------------------------------------------------------------------------


def test_paging_with_the_largest_page_returns_every_detector_exactly_once(
    standin: Standin, events: Any
) -> None:
    keys, sizes = list_all(events, maxResults=250)
    assert sizes == [250, 250, 100]
    assert keys == [key(i) for i in range(FLEET_SIZE)]


def test_summaries_carry_the_documented_members(standin: Standin, events: Any) -> None:
    [summary] = events.list_detectors(detectorModelName=MODEL, maxResults=1)["detectorSummaries"]
    assert summary["detectorModelName"] == MODEL
    assert summary["keyValue"] == key(0)
    assert summary["detectorModelVersion"] == "1"
    assert summary["state"] == {"stateName": "Normal"}
    assert summary["creationTime"].timestamp() == 1767225600
    assert summary["lastUpdateTime"].timestamp() == 1767225600


def test_state_filter_lists_only_detectors_in_that_state(standin: Standin, events: Any) -> None:
    keys, _ = list_all(events, stateName="Alarm", maxResults=100)
    assert keys == [key(i) for i in range(1, FLEET_SIZE, 3)]


def test_default_page_size_is_fifty(standin: Standin, events: Any) -> None:
    page = events.list_detectors(detectorModelName=MODEL)
    assert len(page["detectorSummaries"]) == 50
    assert "nextToken" in page


def test_a_model_without_detectors_lists_nothing(standin: Standin, events: Any) -> None:
    assert events.list_detectors(detectorModelName="EmptyModel")["detectorSummaries"] == []


def test_an_unknown_model_is_not_found(standin: Standin, events: Any) -> None:
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.list_detectors(detectorModelName="NoSuchModel")


@pytest.mark.parametrize("token", ["not-a-token", "eyJ2IjoxfQ==", "%%%"])
def test_a_token_that_does_not_parse_is_an_invalid_request(standin: Standin, events: Any, token: str) -> None:
    with pytest.raises(events.exceptions.InvalidRequestException):
        events.list_detectors(detectorModelName=MODEL, nextToken=token)


def test_a_token_from_another_listing_is_an_invalid_request(standin: Standin, events: Any) -> None:
    token = events.list_detectors(detectorModelName=MODEL, maxResults=1)["nextToken"]
    with pytest.raises(events.exceptions.InvalidRequestException, match="not valid for this request"):
        events.list_detectors(detectorModelName=MODEL, stateName="Alarm", nextToken=token)


@pytest.mark.parametrize("max_results", [0, 251, -1])
def test_max_results_outside_1_to_250_is_an_invalid_request(
    standin: Standin, unchecked_events: Any, max_results: int
) -> None:
    with pytest.raises(unchecked_events.exceptions.InvalidRequestException) as raised:
        unchecked_events.list_detectors(detectorModelName=MODEL, maxResults=max_results)
    assert "maxResults" in raised.value.response["Error"]["Message"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_bad_model_name_is_an_invalid_request(standin: Standin, events: Any) -> None:
    with pytest.raises(events.exceptions.InvalidRequestException, match="detectorModelName"):
        events.list_detectors(detectorModelName="bad name")


# ---- DescribeDetector --------------------------------------------------------------------------------------


def test_describe_returns_state_variables_and_timers(standin: Standin, events: Any) -> None:
    detector = events.describe_detector(detectorModelName=MODEL, keyValue=key(1))["detector"]
    assert detector["keyValue"] == key(1)
    assert detector["state"]["stateName"] == "Alarm"
    assert detector["state"]["variables"] == [
        {"name": "pressure", "value": "9"},
        {"name": "alarms", "value": "2"},
    ]
    assert [(t["name"], t["timestamp"].timestamp()) for t in detector["state"]["timers"]] == [
        ("cooldown", 1767225900)
    ]


def test_describe_of_an_unknown_key_is_not_found(standin: Standin, events: Any) -> None:
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.describe_detector(detectorModelName=MODEL, keyValue="device-99999")


# ---- BatchUpdateDetector -----------------------------------------------------------------------------------


def test_update_sets_the_state_and_clears_what_it_leaves_out(standin: Standin, events: Any) -> None:
    before = time.time()
    answer = events.batch_update_detector(
        detectors=[
            update(
                "m1",
                key(1),
                variables=[{"name": "pressure", "value": "0"}],
                timers=[{"name": "grace", "seconds": 60}],
            )
        ]
    )
    assert answer["batchUpdateDetectorErrorEntries"] == []
    detector = events.describe_detector(detectorModelName=MODEL, keyValue=key(1))["detector"]
    assert detector["state"]["stateName"] == "Normal"
    assert detector["state"]["variables"] == [{"name": "pressure", "value": "0"}]  # 'alarms' cleared
    [timer] = detector["state"]["timers"]  # 'cooldown' cleared
    assert timer["name"] == "grace"
    assert before + 59 <= timer["timestamp"].timestamp() <= time.time() + 61
    assert detector["lastUpdateTime"].timestamp() >= before - 1
    assert detector["creationTime"].timestamp() == 1767225601


def test_per_item_errors_leave_the_other_updates_applied(standin: Standin, events: Any) -> None:
    answer = events.batch_update_detector(
        detectors=[
            update("ok-1", key(1)),
            update("missing", "device-99999"),
            update("ok-1", key(4)),  # messageId repeated within the batch
            update("bad-var", key(7), variables=[{"name": "9lives", "value": "x"}]),
            update("bad-state", key(10), state="Exploded"),
            {**update("no-model", key(13)), "detectorModelName": "NoSuchModel"},
        ]
    )
    entries = {(e["messageId"], e["errorCode"]) for e in answer["batchUpdateDetectorErrorEntries"]}
    assert entries == {
        ("missing", "ResourceNotFoundException"),
        ("ok-1", "InvalidRequestException"),
        ("bad-var", "InvalidRequestException"),
        ("bad-state", "InvalidRequestException"),
        ("no-model", "ResourceNotFoundException"),
    }
    states = {d["keyValue"]: d["state"]["stateName"] for d in standin.detectors(model=MODEL)}
    assert (states[key(1)], states[key(4)], states[key(7)], states[key(10)]) == (
        "Normal",
        "Alarm",
        "Alarm",
        "Alarm",
    )


def test_a_bad_variable_name_is_reported_by_member_path(standin: Standin, events: Any) -> None:
    answer = events.batch_update_detector(
        detectors=[update("m", key(1), variables=[{"name": "9lives", "value": "x"}])]
    )
    [entry] = answer["batchUpdateDetectorErrorEntries"]
    assert "detectors[0].state.variables[0].name" in entry["errorMessage"]


def test_more_than_five_timers_is_refused_per_item(standin: Standin, events: Any) -> None:
    timers = [{"name": f"t{i}", "seconds": 10} for i in range(6)]
    answer = events.batch_update_detector(detectors=[update("m", key(1), timers=timers)])
    assert [e["errorCode"] for e in answer["batchUpdateDetectorErrorEntries"]] == ["InvalidRequestException"]


def test_an_empty_update_batch_is_an_invalid_request(standin: Standin, unchecked_events: Any) -> None:
    with pytest.raises(unchecked_events.exceptions.InvalidRequestException, match="detectors"):
        unchecked_events.batch_update_detector(detectors=[])


def test_lists_made_while_updating_still_reach_every_detector(standin: Standin, events: Any) -> None:
    # A walk over Alarm detectors that resets each page before asking for the next, as a reset job does
    reset: list[str] = []
    query: dict[str, Any] = {"stateName": "Alarm", "maxResults": 30}
    while True:
        page = events.list_detectors(detectorModelName=MODEL, **query)
        batch = [update(f"m{i}", s["keyValue"]) for i, s in enumerate(page["detectorSummaries"])]
        if batch:
            events.batch_update_detector(detectors=batch)
        reset += [s["keyValue"] for s in page["detectorSummaries"]]
        if "nextToken" not in page:
            break
        query["nextToken"] = page["nextToken"]
    # No Alarm detector was skipped
    assert len(reset) == FLEET_SIZE // 3
    assert standin.detectors(model=MODEL, state="Alarm") == []


# ---- BatchPutMessage ---------------------------------------------------------------------------------------


def message(message_id: str, payload: Any, input_name: str = "ResetInput") -> dict[str, Any]:
    return {"messageId": message_id, "inputName": input_name, "payload": json.dumps(payload).encode()}


def test_a_reset_message_is_recorded_and_resets_the_detector_it_names(standin: Standin, events: Any) -> None:
    answer = events.batch_put_message(
        messages=[
            {
                **message("m1", {"keyValue": key(1), "reason": "nightly"}),
                "timestamp": {"timeInMillis": 1700000000000},
            }
        ]
    )
    assert answer["BatchPutMessageErrorEntries"] == []
    [recorded] = standin.messages()
    assert recorded["inputName"] == "ResetInput"
    assert recorded["payload"] == {"keyValue": key(1), "reason": "nightly"}
    assert recorded["timeInMillis"] == 1700000000000
    assert recorded["changedDetectors"] == [{"detectorModelName": MODEL, "keyValue": key(1)}]
    [detector] = [d for d in standin.detectors(model=MODEL) if d["keyValue"] == key(1)]
    assert detector["state"] == {"stateName": "Normal", "variables": [], "timers": []}


def test_an_input_without_a_rule_records_messages_and_changes_nothing(standin: Standin, events: Any) -> None:
    events.batch_put_message(messages=[message("m1", {"keyValue": key(1)}, input_name="AuditInput")])
    assert [m["changedDetectors"] for m in standin.messages()] == [[]]
    assert standin.detectors(model=MODEL, state="Alarm")[0]["keyValue"] == key(1)


def test_eleven_messages_are_an_invalid_request(standin: Standin, events: Any) -> None:
    with pytest.raises(events.exceptions.InvalidRequestException, match="limit 10"):
        events.batch_put_message(messages=[message(f"m{i}", {"keyValue": key(i)}) for i in range(11)])
    assert standin.messages() == []


def test_messages_to_unknown_inputs_are_reported_per_item(standin: Standin, events: Any) -> None:
    answer = events.batch_put_message(
        messages=[
            message("m1", {"keyValue": key(1)}),
            message("m2", {"keyValue": key(4)}, input_name="NoSuchInput"),
            message("m1", {"keyValue": key(7)}),  # repeated messageId
            message("m3", "x" * 1100),  # over the 1 KB payload quota
        ]
    )
    assert {(e["messageId"], e["errorCode"]) for e in answer["BatchPutMessageErrorEntries"]} == {
        ("m2", "ResourceNotFoundException"),
        ("m1", "InvalidRequestException"),
        ("m3", "InvalidRequestException"),
    }
    assert [m["messageId"] for m in standin.messages()] == ["m1"]


def test_a_bad_input_name_is_reported_per_item(standin: Standin, events: Any) -> None:
    answer = events.batch_put_message(messages=[message("m1", {}, input_name="-starts-with-dash")])
    [entry] = answer["BatchPutMessageErrorEntries"]
    assert entry["errorCode"] == "InvalidRequestException"
    assert "messages[0].inputName" in entry["errorMessage"]


# ---- modeled errors reach botocore as their own exception classes ------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [
        ("throttleRate", "ThrottlingException", 429),
        ("error500Rate", "InternalFailureException", 500),
        ("error503Rate", "ServiceUnavailableException", 503),
    ],
)
@pytest.mark.parametrize(
    "operation", ["ListDetectors", "DescribeDetector", "BatchUpdateDetector", "BatchPutMessage"]
)
def test_whole_call_faults_raise_the_modeled_exception_class(
    standin: Standin, events: Any, operation: str, fault: str, code: str, status: int
) -> None:
    standin.set_faults({operation: {fault: 1.0}})
    calls = {
        "ListDetectors": lambda: events.list_detectors(detectorModelName=MODEL),
        "DescribeDetector": lambda: events.describe_detector(detectorModelName=MODEL, keyValue=key(0)),
        "BatchUpdateDetector": lambda: events.batch_update_detector(detectors=[update("m", key(0))]),
        "BatchPutMessage": lambda: events.batch_put_message(messages=[message("m", {"keyValue": key(0)})]),
    }
    with pytest.raises(getattr(events.exceptions, code)) as raised:
        calls[operation]()
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert standin.stats()["operations"][operation]["calls"] == {code: 1}
