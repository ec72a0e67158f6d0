"""The stand-in's detector store, seeds, fleets and fault plans, without a server."""

from __future__ import annotations

import pytest

from iot_standin.detectors import DetectorStore, SeedError, parse_seed
from iot_standin.faults import FaultPlanError, Faults, TokenBucket, validate_plan
from iot_standin.fleet import FLEET_EPOCH, fleet_seed


def store_of(count: int, states: list[str]) -> DetectorStore:
    return DetectorStore(parse_seed(fleet_seed("Pump", count, states)))


# ---- listing ---------------------------------------------------------------------------------------------


def test_pages_walk_every_detector_once_in_key_order() -> None:
    store = store_of(7, ["Normal"])
    keys: list[str] = []
    after = None
    while True:
        page = store.page("Pump", None, after, 3)
        keys += [d["keyValue"] for d in page.detectors]
        if page.last_key is None:
            break
        after = page.last_key
    assert keys == [f"device-{i:05d}" for i in range(7)]


def test_a_full_last_page_carries_no_continuation() -> None:
    page = store_of(3, ["Normal"]).page("Pump", None, None, 3)
    assert len(page.detectors) == 3
    assert page.last_key is None


def test_detectors_leaving_the_filtered_state_mid_listing_do_not_hide_others() -> None:
    # GIVEN A listing of Alarm detectors, as a reset job makes while it resets them
    store = store_of(6, ["Alarm"])
    first = store.page("Pump", "Alarm", None, 2)
    # WHEN the detectors already listed are reset before the next page is asked for
    for summary in first.detectors:
        store.update(model="Pump", key=summary["keyValue"], state="Normal", variables=[], timers=[], now=1.0)
    rest = store.page("Pump", "Alarm", first.last_key, 10)
    # THEN the remaining ones all still come
    assert [d["keyValue"] for d in rest.detectors] == [f"device-{i:05d}" for i in range(2, 6)]


# ---- updates and inputs ----------------------------------------------------------------------------------


def test_update_replaces_variables_and_timers_and_stamps_the_time() -> None:
    store = DetectorStore(
        parse_seed(fleet_seed("Pump", 1, ["Alarm"], variables={"a": "1", "b": "2"}, timers={"t": 60}))
    )
    store.update(
        model="Pump", key="device-00000", state="Normal", variables=[("a", "0")], timers=[], now=99.0
    )
    found = store.describe("Pump", "device-00000")
    assert found is not None
    assert found["state"] == {"stateName": "Normal", "variables": [{"name": "a", "value": "0"}], "timers": []}
    assert found["lastUpdateTime"] == 99.0
    assert found["creationTime"] == FLEET_EPOCH


def test_update_of_an_unknown_detector_changes_nothing() -> None:
    store = store_of(1, ["Alarm"])
    assert not store.update(model="Pump", key="nope", state="Normal", variables=[], timers=[], now=1.0)
    assert not store.update(
        model="Other", key="device-00000", state="Normal", variables=[], timers=[], now=1.0
    )


def test_a_reset_rule_puts_the_named_detector_into_its_state_and_clears_it() -> None:
    seed = fleet_seed(
        "Pump", 2, ["Alarm"], variables={"n": "3"}, reset_input="ResetInput", reset_state="Normal"
    )
    store = DetectorStore(parse_seed(seed))
    changed = store.apply_input("ResetInput", {"keyValue": "device-00001"}, now=5.0)
    assert changed == [{"detectorModelName": "Pump", "keyValue": "device-00001"}]
    assert [(d["keyValue"], d["state"]["stateName"], d["state"]["variables"]) for d in store.snapshot()] == [
        ("device-00000", "Alarm", [{"name": "n", "value": "3"}]),
        ("device-00001", "Normal", []),
    ]


def test_a_message_naming_no_detector_changes_nothing() -> None:
    store = DetectorStore(parse_seed(fleet_seed("Pump", 1, ["Alarm"], reset_input="ResetInput")))
    assert store.apply_input("ResetInput", {"keyValue": "missing"}, now=1.0) == []
    assert store.apply_input("ResetInput", "not an object", now=1.0) == []


# ---- seeds and fleets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be a JSON object"),
        ({"detector": []}, "unknown seed section"),
        ({"detectors": [{"keyValue": "k", "state": {"stateName": "A"}}]}, "detectors[0].detectorModelName"),
        ({"detectors": [{"detectorModelName": "M", "state": {}}]}, "detectors[0].state.stateName"),
        (
            {
                "detectorModels": {"M": {"states": ["A"]}},
                "detectors": [{"detectorModelName": "M", "state": {"stateName": "B"}}],
            },
            "not one of the states of M",
        ),
        ({"inputs": {"I": {"reset": {"keyFrom": "k"}}}}, "inputs.I.reset needs setState"),
    ],
)
def test_a_bad_seed_is_refused_with_the_place_it_is_wrong(doc: object, message: str) -> None:
    with pytest.raises(SeedError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_seed(doc)


def test_fleet_seeds_are_repeatable_and_cycle_through_the_states() -> None:
    first = fleet_seed("Pump", 5, ["Normal", "Alarm"], variables={"v": "1"}, timers={"t": 30})
    assert first == fleet_seed("Pump", 5, ["Normal", "Alarm"], variables={"v": "1"}, timers={"t": 30})
    assert [d["state"]["stateName"] for d in first["detectors"]] == ["Normal", "Alarm"] * 2 + ["Normal"]
    assert first["detectors"][0]["state"]["timers"] == [{"name": "t", "timestamp": FLEET_EPOCH + 30}]
    assert parse_seed(first).models["Pump"].states == ("Normal", "Alarm")


# ---- fault plans -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({"Sendconnectorevent": {}}, "unknown operation"),
        ({"*": {"throttleRate": 1.5}}, "throttleRate must be a number from 0 to 1"),
        ({"*": {"latencyMs": -1}}, "latencyMs"),
        ({"*": {"maxRps": 0}}, "maxRps must be a number above 0"),
        ({"*": {"retryAfter": 1}}, "unknown fault setting"),
        ({"ListDetectors": {"itemThrottleRate": 0.5}}, "batch operations only"),
        ({"BatchUpdateDetector": {"errorCodes": {"d": "ValidationException"}}}, "SendConnectorEvent only"),
        ({"SendConnectorEvent": {"errorCodes": {"d": "Boom"}}}, "error code must be one of"),
        ({"BatchPutMessage": {"itemErrors": {"k": "ValidationException"}}}, "error code must be one of"),
    ],
)
def test_a_bad_fault_plan_is_refused_with_a_reason(plan: object, message: str) -> None:
    with pytest.raises(FaultPlanError, match=message):
        validate_plan(plan)


def test_an_operations_own_faults_override_the_common_ones() -> None:
    faults = Faults({"*": {"latencyMs": 20, "throttleRate": 0.1}, "ListDetectors": {"throttleRate": 0.5}})
    listed = faults.for_operation("ListDetectors")
    assert (listed.latency_ms, listed.throttle_rate) == (20, 0.5)
    assert faults.for_operation("DescribeDetector").throttle_rate == 0.1


def test_fault_dice_repeat_for_the_same_random_seed() -> None:
    def rolls(seed: int) -> list[bool]:
        faults = Faults(random_seed=seed)
        return [faults.chance(0.5) for _ in range(50)]

    assert rolls(7) == rolls(7)
    assert rolls(7) != rolls(8)
    assert 5 < sum(rolls(7)) < 45


def test_token_bucket_allows_a_seconds_worth_then_refills_with_time() -> None:
    now = [0.0]
    bucket = TokenBucket(5, clock=lambda: now[0])
    assert [bucket.take() for _ in range(7)] == [True] * 5 + [False] * 2
    now[0] += 0.4  # two tokens' worth
    assert [bucket.take() for _ in range(3)] == [True, True, False]
