"""The connector benchmark: what the connector is given, what it is sent, and which runs count.

No timing is asserted here: benchmarks never fail on a slow machine.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "operation", ["AWS.ActivateUser", "AWS.DiscoverDevices", "AWS.SendCommand", "AWS.DeactivateUser"]
)
def test_each_benchmark_invocation_is_one_the_connector_takes_with_ids_of_its_own(operation: str) -> None:
    from bench.connector import invocation
    from iotbridge.connector.domain.invocations import request_id_of
    from iotbridge.connector.domain.requests import parse_invocation

    first, second = parse_invocation(invocation(operation)), parse_invocation(invocation(operation))

    assert first.payload.operation_name == operation
    if operation in ("AWS.DiscoverDevices", "AWS.SendCommand"):
        assert request_id_of(first) != request_id_of(second)  # a retry would be answered from its record


def test_a_warm_invocation_is_modelled_with_each_aws_call_and_the_device_cloud_s_latency() -> None:
    from bench.connector import OperationRun

    run = OperationRun(
        [1_000.0, 2_000.0, 3_000.0], [], {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1}, 1.0
    )

    assert run.aws_calls == 2
    assert run.modelled_ms(50, 1769) == pytest.approx(2.0 + 3 * 10)
    assert run.modelled_ms(50, 512) == pytest.approx(2.0 / (512 / 1769) + 30)


def test_a_warm_run_that_failed_or_did_not_ask_the_cloud_each_time_is_refused() -> None:
    from collections import Counter

    from bench.connector import CLOUD_REQUESTS, check_run
    from bench.connector import UnexpectedAnswer as Refused

    operations = {op: {"codes": {"200": 3}, "unanswered": {}} for op in CLOUD_REQUESTS}
    asked = Counter(dict.fromkeys(CLOUD_REQUESTS.values(), 3))
    check_run("connector", {"operations": operations}, asked, 3)

    failed = {**operations, "AWS.SendCommand": {"codes": {"200": 2, "504": 1}, "unanswered": {}}}
    with pytest.raises(Refused, match=r"AWS\.SendCommand"):
        check_run("connector", {"operations": failed}, asked, 3)
    with pytest.raises(Refused, match="device cloud took 2"):
        check_run("connector", {"operations": operations}, asked - Counter({"discoverDevices": 1}), 3)


def test_only_requests_the_device_cloud_verified_and_took_are_counted() -> None:
    from bench.connector import cloud_requests
    from bridge_local.device_cloud import Received

    def received(kind: str, *, verified: bool = True, status: int = 202) -> Received:
        return Received(kind, "lumen-home", None, "msg_1", verified, status, 0.0)

    found = cloud_requests(
        [
            received("sendCommand"),
            received("sendCommand", verified=False, status=401),
            received("x", status=400),
        ]
    )

    assert found == {"sendCommand": 1}
