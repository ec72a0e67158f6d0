"""What the connector function records for the relay's lookups: the device cloud's own id of a command it
took (when its answer carries one), and each discovery as the latest of its user and of its connector,
undone when the hand-over fails. Over the in-memory ports."""

from __future__ import annotations

from typing import Any

import pytest

from fakes.connector import CONNECTOR, ConnectorFakes, FakeDeviceCloud, jwt
from iot_standin.caller import envelope, matter_command, oauth
from iotbridge.connector.domain.invocations import ConnectorOperations, InvocationOutcome
from iotbridge.connector.domain.requests import DISCOVER_DEVICES, SEND_COMMAND, parse_invocation
from iotbridge.connector.ports import DeviceCloudUnavailableError
from iotbridge.correlation.model import Status
from iotbridge.errors import DependencyUnavailableError

USER = "987654321"
TOKEN = jwt({"sub": USER})
TRACE_ID = "9b75f3839b6140f=_1"
CLOUD_REQUEST = "68c4242a9e1f4b7d8a3cfede"


class Seconds:
    def remaining_seconds(self) -> float:
        return 1.5


@pytest.fixture
def fakes() -> ConnectorFakes:
    return ConnectorFakes(cloud=FakeDeviceCloud(user_id_claim="sub"))


def invoke(
    operations: ConnectorOperations, operation: str, token: str = TOKEN, **members: Any
) -> InvocationOutcome:
    return operations.handle(
        parse_invocation(envelope(operation, CONNECTOR, oauth(token), **members)), Seconds()
    )


def send_command(operations: ConnectorOperations, trace_id: str = TRACE_ID) -> InvocationOutcome:
    members: dict[str, Any] = {
        "traceId": trace_id,
        "connectorDeviceId": "lock-1",
        "endpoints": matter_command("1", "0x0101", "0x01"),
    }
    return invoke(operations, SEND_COMMAND, **members)


def measured(outcome: InvocationOutcome) -> dict[str, float]:
    return {m.name: m.value for m in outcome.all_measurements()}


# --- The device cloud's own id of a command --------------------------------------------------------------


def test_a_command_the_cloud_answers_with_its_own_id_is_recorded_by_that_id_before_it_is_handed_over(
    fakes: ConnectorFakes,
) -> None:
    fakes.cloud.cloud_request_ids[TRACE_ID] = CLOUD_REQUEST

    outcome = send_command(fakes.operations())

    assert outcome.code == 200
    assert fakes.pending.cloud_requests == {(CONNECTOR, CLOUD_REQUEST): TRACE_ID}
    assert fakes.pending.calls == ["begin", "record_cloud_request_id", "handed_over"]
    assert measured(outcome) == {"CommandsRequested": 1, "CloudRequestIdsRecorded": 1}


def test_a_command_whose_answer_carries_no_id_records_none(fakes: ConnectorFakes) -> None:
    outcome = send_command(fakes.operations())

    assert outcome.code == 200
    assert fakes.pending.cloud_requests == {}
    assert fakes.pending.calls == ["begin", "handed_over"]


def test_an_id_that_cannot_be_recorded_still_acknowledges_the_command_the_cloud_took(
    fakes: ConnectorFakes,
) -> None:
    # GIVEN a cloud that answers with its own id, and a table that cannot take it
    fakes.cloud.cloud_request_ids[TRACE_ID] = CLOUD_REQUEST
    fakes.pending.failures["record_cloud_request_id"] = DependencyUnavailableError("correlation")

    # WHEN the command is sent
    outcome = send_command(fakes.operations())

    # THEN it is acknowledged and handed over (a retry would not ask the cloud again), and counted
    assert outcome.code == 200
    assert fakes.pending.status_of(TRACE_ID) is Status.PENDING
    assert measured(outcome) == {"CommandsRequested": 1, "CloudRequestIdsUnrecorded": 1}


def test_an_id_that_already_names_another_command_keeps_the_first(fakes: ConnectorFakes) -> None:
    fakes.cloud.cloud_request_ids.update({TRACE_ID: CLOUD_REQUEST, "other-trace": CLOUD_REQUEST})
    operations = fakes.operations()
    send_command(operations)

    outcome = send_command(operations, "other-trace")

    assert fakes.pending.cloud_requests == {(CONNECTOR, CLOUD_REQUEST): TRACE_ID}
    assert measured(outcome)["CloudRequestIdsUnrecorded"] == 1


def test_a_retried_command_handed_over_before_asks_nothing_and_records_nothing_again(
    fakes: ConnectorFakes,
) -> None:
    fakes.cloud.cloud_request_ids[TRACE_ID] = CLOUD_REQUEST
    operations = fakes.operations()
    send_command(operations)

    outcome = send_command(operations)

    assert outcome.reason == "handed_over_before"
    assert fakes.pending.calls.count("record_cloud_request_id") == 1
    assert len(fakes.cloud.asked("sendCommand")) == 1


# --- The latest discovery of a user and of a connector ---------------------------------------------------


def test_a_discovery_is_the_latest_of_its_user_and_of_the_connector(fakes: ConnectorFakes) -> None:
    outcome = invoke(fakes.operations(), DISCOVER_DEVICES, deviceDiscoveryId="disc1")

    assert outcome.code == 200
    assert {key: r.request_id for key, r in fakes.pending.latest.items()} == {
        (CONNECTOR, USER): "disc1",
        (CONNECTOR, None): "disc1",
    }


def test_a_newer_discovery_is_the_latest_and_another_user_s_is_theirs(fakes: ConnectorFakes) -> None:
    operations = fakes.operations()
    invoke(operations, DISCOVER_DEVICES, deviceDiscoveryId="disc1")
    fakes.clock.advance(30)

    invoke(operations, DISCOVER_DEVICES, deviceDiscoveryId="disc2")
    invoke(operations, DISCOVER_DEVICES, token=jwt({"sub": "another-user"}), deviceDiscoveryId="disc3")

    latest = {key: r.request_id for key, r in fakes.pending.latest.items()}
    assert latest == {
        (CONNECTOR, USER): "disc2",
        (CONNECTOR, "another-user"): "disc3",
        (CONNECTOR, None): "disc3",
    }


def test_a_discovery_whose_user_is_not_known_is_only_the_connector_s_latest() -> None:
    fakes = ConnectorFakes(cloud=FakeDeviceCloud())  # no userIdClaim: the user is not known when it begins

    invoke(fakes.operations(), DISCOVER_DEVICES, deviceDiscoveryId="disc1")

    assert list(fakes.pending.latest) == [(CONNECTOR, None)]


def test_a_discovery_the_cloud_could_not_take_is_no_longer_the_latest(fakes: ConnectorFakes) -> None:
    fakes.cloud.failures.append(DeviceCloudUnavailableError("unreachable"))

    outcome = invoke(fakes.operations(), DISCOVER_DEVICES, deviceDiscoveryId="disc1")

    assert outcome.code == 504
    assert fakes.pending.latest == {}
