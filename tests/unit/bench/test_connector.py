"""The connector benchmark: what the connector is given, what it is sent, and which runs count.

No timing is asserted here: benchmarks never fail on a slow machine.
"""

from __future__ import annotations

from typing import Any

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


# --- the REST connector (a profile's `outbound` block) ---------------------------------------------------


def test_the_rest_profile_points_at_the_stand_in_and_keeps_its_own_arn_patterns_when_they_allow() -> None:
    from bench.connector import rest_profile

    document: dict[str, Any] = {
        "outbound": {"baseUrl": "https://api.switch-bot.com"},
        "generalAuthorization": {"secretArns": ["arn:aws:secretsmanager:*:*:secret:auth/switchbot/*"]},
    }
    allowed = "arn:aws:secretsmanager:us-east-1:000000000000:secret:auth/switchbot/bench-AbCdEf"
    elsewhere = "arn:aws:secretsmanager:us-east-1:000000000000:secret:other/switchbot/bench-AbCdEf"

    kept = rest_profile(document, "http://127.0.0.1:9000", allowed)
    widened = rest_profile(document, "http://127.0.0.1:9000", elsewhere)

    assert kept["outbound"]["baseUrl"] == "http://127.0.0.1:9000"
    assert kept["generalAuthorization"] == document["generalAuthorization"]
    assert widened["generalAuthorization"] == {"secretArns": [elsewhere]}
    assert document["outbound"]["baseUrl"] == "https://api.switch-bot.com"  # the original is not touched


def test_the_rest_invocations_secret_is_one_the_switchbot_profile_allows_and_the_connector_takes() -> None:
    import json

    from bench.connector import REST_PROFILE, rest_invocation, rest_secret_arn
    from iotbridge.connector.domain.invocations import request_id_of
    from iotbridge.connector.domain.requests import parse_invocation
    from iotbridge.profile.outbound import GeneralAuthorizationScope

    scope = json.loads(REST_PROFILE.read_text(encoding="utf-8"))["generalAuthorization"]
    first, second = parse_invocation(rest_invocation()), parse_invocation(rest_invocation())

    assert GeneralAuthorizationScope.model_validate(scope).allows(rest_secret_arn())
    assert first.payload.operation_name == "AWS.SendCommand"
    assert request_id_of(first) != request_id_of(second)


def test_only_signed_taken_commands_of_the_benchmark_are_counted() -> None:
    from bench.connector import REST_DEVICE, signed_commands
    from bridge_local.rest_clouds import ReceivedRequest

    path = f"/v1.1/devices/{REST_DEVICE}/commands"
    turn_on = b'{"command":"turnOn","parameter":"default","commandType":"command"}'

    def received(
        method: str = "POST", status: int = 200, body: bytes = turn_on, sign: str = "ok"
    ) -> ReceivedRequest:
        return ReceivedRequest(method, path, {}, {"sign": sign}, body, status)

    found = signed_commands(
        [
            received(),
            received(sign="forged"),
            received(status=401),
            received(body=b'{"command":"turnOff"}'),
            received(method="GET", body=b""),
        ],
        lambda headers: headers.get("sign") == "ok",
    )

    assert found == 1


def _queued(event: dict[str, object]) -> str:
    import json

    return json.dumps({"connectorId": "switchbot", "webhookId": "command:t", "index": 0, "event": event})


def test_answered_at_once_needs_the_invocation_s_own_successful_response_queued_and_marked() -> None:
    from bench.connector import answered_at_once, command_response

    response = {"Operation": "DEVICE_COMMAND_RESPONSE", "TraceId": "t-1=_1", "StatusCode": 200}

    assert command_response(_queued(response)) == response
    assert command_response(_queued({"Operation": "DEVICE_EVENT"})) is None
    assert command_response("not json") is None
    assert answered_at_once([_queued(response)], 1, "t-1=_1")
    assert not answered_at_once([_queued(response)], 0, "t-1=_1")  # not marked answered
    assert not answered_at_once([_queued(response)], 1, "t-2=_1")  # another command's
    assert not answered_at_once([_queued({**response, "StatusCode": 500})], 1, "t-1=_1")
    assert not answered_at_once([_queued(response), _queued(response)], 1, "t-1=_1")
    assert not answered_at_once([], 1, "t-1=_1")


def test_an_update_that_marks_a_correlation_entry_answered_is_told_from_others() -> None:
    from bench.connector import marks_answered

    assert marks_answered({"ExpressionAttributeValues": {":answered": {"S": "ANSWERED"}, ":now": {"N": "1"}}})
    assert not marks_answered({"ExpressionAttributeValues": {":pending": {"S": "PENDING"}}})
    assert not marks_answered({})


def test_a_rest_run_that_failed_did_not_sign_or_queued_no_response_is_refused() -> None:
    from bench.connector import REST_OPERATION, check_rest_run
    from bench.connector import UnexpectedAnswer as Refused

    good = {"codes": {"200": 3}, "unanswered": {}, "responses_queued": 3}
    check_rest_run({"operations": {REST_OPERATION: good}}, 3, 3)

    with pytest.raises(Refused, match="answered"):
        check_rest_run({"operations": {REST_OPERATION: {**good, "codes": {"200": 2, "500": 1}}}}, 3, 3)
    with pytest.raises(Refused, match="took 2 signed commands"):
        check_rest_run({"operations": {REST_OPERATION: good}}, 2, 3)
    with pytest.raises(Refused, match="2 of 3 invocations queued"):
        check_rest_run({"operations": {REST_OPERATION: {**good, "responses_queued": 2}}}, 3, 3)
