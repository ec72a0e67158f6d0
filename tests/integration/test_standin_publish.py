"""AWS IoT Core's Publish on the stand-in (moto serves it too, but keeps no record a test can read over HTTP):
driven by botocore's own iot-data client, as the reset job's message-mode resets on a detector table are."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iot_standin.faults import FaultPlanError, validate_plan
from iot_standin.testing import Standin, StandinAdminError, running_standin

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def module_standin() -> Iterator[Standin]:
    with running_standin() as standin:
        yield standin


@pytest.fixture
def standin(module_standin: Standin) -> Standin:
    module_standin.reset()
    return module_standin


@pytest.fixture(scope="module")
def iot(module_standin: Standin) -> Any:
    return module_standin.boto_client("iot-data")


def error_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_a_publish_is_recorded_with_its_topic_qos_and_payload(standin: Standin, iot: Any) -> None:
    iot.publish(topic="hvac/resets/building 1", qos=1, payload=b'{"device": "room-101"}')
    iot.publish(topic="$aws/rules/detector_resets/hvac", payload=b"plain text")

    assert [(p["topic"], p["qos"], p["payload"]) for p in standin.publishes()] == [
        ("hvac/resets/building 1", 1, {"device": "room-101"}),
        ("$aws/rules/detector_resets/hvac", 0, "plain text"),
    ]
    assert [p["topic"] for p in standin.publishes(topic="hvac/resets/building 1")] == [
        "hvac/resets/building 1"
    ]
    assert standin.stats()["operations"]["Publish"]["calls"] == {"ok": 2}


def test_a_payload_over_128_kb_or_a_wildcard_topic_is_refused(standin: Standin, iot: Any) -> None:
    assert error_of(lambda: iot.publish(topic="t", payload=b"x" * (128 * 1024 + 1))) == (
        "InvalidRequestException",
        400,
    )
    assert error_of(lambda: iot.publish(topic="hvac/+/reset", payload=b"{}")) == (
        "InvalidRequestException",
        400,
    )
    assert standin.publishes() == []


def test_injected_throttling_and_refusals_fail_single_messages(standin: Standin, iot: Any) -> None:
    standin.set_faults({"Publish": {"itemErrors": {"room-7": "UnauthorizedException"}}})

    assert error_of(lambda: iot.publish(topic="t", payload=b'{"device": "room-7"}')) == (
        "UnauthorizedException",
        401,
    )
    iot.publish(topic="t", payload=b'{"device": "room-8"}')
    standin.set_faults({"Publish": {"throttleRate": 1.0}})
    assert error_of(lambda: iot.publish(topic="t", payload=b'{"device": "room-9"}')) == (
        "ThrottlingException",
        429,
    )

    assert [p["payload"]["device"] for p in standin.publishes()] == ["room-8"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"itemThrottleRate": 0.5}, "use throttleRate"),
        ({"itemErrors": {"k": "ResourceNotFoundException"}}, "error code must be one of"),
    ],
)
def test_a_fault_plan_that_does_not_fit_publish_is_refused(
    standin: Standin, entry: Any, message: str
) -> None:
    with pytest.raises(FaultPlanError, match=message):
        validate_plan({"Publish": entry})
    with pytest.raises(StandinAdminError, match=message):
        standin.set_faults({"Publish": entry})


def test_a_reset_forgets_the_publishes(standin: Standin, iot: Any) -> None:
    iot.publish(topic="t", payload=b"{}")

    standin.reset()

    assert standin.publishes() == []
