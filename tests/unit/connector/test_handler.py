"""The connector function's Lambda handler, invoked as managed integrations (and the sweep's schedule)
invoke it, with its wiring built over in-memory ports: every failure is an answer, an unexpected error
inside is the internal-failure answer, and no token, secret, user or device id reaches a log line or an
answer's message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import connector
from fakes.connector import (
    CONNECTOR,
    SECRET_ARN,
    ConnectorFakes,
    FakeDeviceCloud,
    InMemoryAuthorizations,
    jwt,
)
from fakes.lambda_context import FakeLambdaContext
from fakes.log_capture import Logs, captured_logs
from iot_standin.caller import envelope, general_authorization, matter_command, oauth
from iotbridge.composition import BuiltAtInit
from iotbridge.connector.edge import SWEEP_EVENT
from iotbridge.connector.ports import DeviceCloudRefusedError, DeviceCloudUnavailableError
from iotbridge.connector.wiring import ConnectorWiring

USER = "usr.SentinelUserId.5h2k"
DEVICE = "dev.SentinelDeviceId.8q1z"
TOKEN = jwt({"sub": USER, "jti": "SentinelTokenId-4r8t"})
OPAQUE_TOKEN = "SentinelOpaqueToken-7c3n"
SERVICE_KEY = "SentinelServiceKey-2b9d"
SENSITIVE = (
    USER,
    DEVICE,
    TOKEN,
    OPAQUE_TOKEN,
    SERVICE_KEY,
    # Fragments, so that a value cut short or re-encoded is still caught.
    "SentinelUserId",
    "SentinelDeviceId",
    "SentinelOpaque",
    "SentinelServiceKey",
    TOKEN.split(".")[1],
)
DISCOVERY_ID = "8f3a9c2e71d54b0c"
TRACE_ID = "9b75f3839b6140f=_1"


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> ConnectorFakes:
    """The handler's wiring, over in-memory ports."""
    cloud = FakeDeviceCloud(user_id_claim="sub", users={OPAQUE_TOKEN: USER, SERVICE_KEY: USER})
    built = ConnectorFakes(
        cloud=cloud, authorizations=InMemoryAuthorizations({(SECRET_ARN, "v-1"): SERVICE_KEY})
    )
    monkeypatch.setattr(connector, "wiring", built.wiring())
    return built


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str]) -> Iterator[Logs]:
    with captured_logs(capfd, [connector.logger], SENSITIVE) as captured:
        yield captured


def invoke(event: Any, *, remaining_millis: int = 10_000) -> dict[str, Any]:
    # Through JSON, as Lambda hands the function its payload and managed integrations reads the answer.
    answer = connector.lambda_handler(
        json.loads(json.dumps(event)), FakeLambdaContext(remaining_millis=remaining_millis)
    )
    return json.loads(json.dumps(answer))


def code_of(answer: dict[str, Any]) -> int:
    code = answer["header"]["responseCode"]
    assert isinstance(code, int)
    return code


def discovery(auth: dict[str, Any] | None = None) -> dict[str, Any]:
    return envelope("AWS.DiscoverDevices", CONNECTOR, auth or oauth(TOKEN), deviceDiscoveryId=DISCOVERY_ID)


def command(auth: dict[str, Any] | None = None) -> dict[str, Any]:
    return envelope(
        "AWS.SendCommand",
        CONNECTOR,
        auth or oauth(TOKEN),
        traceId=TRACE_ID,
        connectorDeviceId=DEVICE,
        endpoints=matter_command("1", "0x0006", "0x00"),
    )


def emitted_metrics(output: str) -> dict[str, float]:
    """Every metric of the embedded-metric documents the handler printed, summed by name."""
    totals: dict[str, float] = {}
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        document = json.loads(line)
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                values = document[metric["Name"]]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(
                    values if isinstance(values, list) else [values]
                )
    return totals


# --- Answers ----------------------------------------------------------------------------------------------


def test_each_operation_is_answered_by_the_handler_with_its_metric(
    fakes: ConnectorFakes, capfd: pytest.CaptureFixture[str]
) -> None:
    activated = invoke(envelope("AWS.ActivateUser", CONNECTOR, oauth(TOKEN)))
    discovered = invoke(discovery())
    commanded = invoke(command())
    deactivated = invoke(envelope("AWS.DeactivateUser", CONNECTOR, oauth(OPAQUE_TOKEN)))

    assert activated == {
        "header": {"responseCode": 200},
        "payload": {"responseMessage": "The user is activated.", "userId": USER},
    }
    assert [code_of(a) for a in (discovered, commanded, deactivated)] == [200, 200, 200]
    assert [r.operation for r in fakes.cloud.requests] == ["discoverDevices", "sendCommand", "deactivateUser"]
    metrics = emitted_metrics(capfd.readouterr().out)
    assert {
        name: metrics.get(name)
        for name in ("UsersActivated", "DiscoveriesRequested", "CommandsRequested", "UsersDeactivated")
    } == {
        "UsersActivated": 1,
        "DiscoveriesRequested": 1,
        "CommandsRequested": 1,
        "UsersDeactivated": 1,
    }
    assert "InvocationsFailed" not in metrics


def test_a_failure_is_an_answer_with_a_metric_of_its_reason(
    fakes: ConnectorFakes, capfd: pytest.CaptureFixture[str]
) -> None:
    fakes.cloud.failures.append(DeviceCloudUnavailableError("timeout"))

    answer = invoke(command())

    assert answer == {
        "header": {"responseCode": 504},
        "payload": {"responseMessage": "The device cloud could not take the request; retry."},
    }
    metrics = emitted_metrics(capfd.readouterr().out)
    assert metrics.get("InvocationsFailed") == 1
    assert metrics.get("Failed_device_cloud_timeout") == 1


@pytest.mark.parametrize(
    "event",
    [
        None,
        "AWS.ActivateUser",
        42,
        [],
        {},
        {"header": None, "payload": None},
        {"payload": {"operationName": []}},
    ],
    ids=["null", "text", "number", "list", "empty", "nulls", "list-name"],
)
def test_an_event_that_is_no_invocation_is_a_400_never_an_exception(
    fakes: ConnectorFakes, event: Any
) -> None:
    answer = invoke(event)

    assert code_of(answer) == 400
    assert answer["payload"]["responseMessage"].startswith("Invalid invocation: ")
    assert fakes.cloud.requests == []


def test_an_unknown_operation_is_a_400_saying_so(fakes: ConnectorFakes) -> None:
    answer = invoke(envelope("AWS.GetDeviceState", CONNECTOR, oauth(TOKEN)))

    assert code_of(answer) == 400
    assert answer["payload"]["responseMessage"].startswith("Unknown operation: payload.operationName")


def test_the_sweeps_schedule_gets_the_sweep(fakes: ConnectorFakes) -> None:
    invoke(command())
    fakes.clock.advance(61)

    answer = invoke(SWEEP_EVENT)

    assert answer == {
        "header": {"responseCode": 200},
        "payload": {"responseMessage": "Expired unanswered: 0 discovery, 1 command."},
    }


def test_the_answer_comes_within_the_callers_wait_not_the_functions_timeout(fakes: ConnectorFakes) -> None:
    # The function may run 10 s; managed integrations waits 2 s, so the device cloud gets what is left of
    # ANSWER_WITHIN_SECONDS (1.5 s) less the margin, at most its own timeout of 1 s.
    invoke(discovery(), remaining_millis=10_000)
    invoke(command(), remaining_millis=600)

    first, second = fakes.cloud.timeouts
    assert 0 < first <= 1.0
    assert 0 < second <= 0.6 - 0.25


def test_an_invocation_with_almost_no_time_left_does_not_ask_the_cloud(fakes: ConnectorFakes) -> None:
    answer = invoke(command(), remaining_millis=200)

    assert code_of(answer) == 504
    assert fakes.cloud.requests == []


def test_an_unexpected_error_inside_is_the_internal_failure_answer(fakes: ConnectorFakes, logs: Logs) -> None:
    # GIVEN a device-cloud adapter with a bug whose message quotes the request
    fakes.cloud.failures.append(RuntimeError(f"cannot send {TOKEN} for {USER} to {DEVICE}"))

    # WHEN the handler is invoked
    answer = invoke(command())

    # THEN the answer is the internal failure (managed integrations retries it), the record is released
    assert answer == {
        "header": {"responseCode": 500},
        "payload": {"responseMessage": "The connector failed; retry."},
    }
    assert fakes.pending.entries == {}
    # AND the log says what failed and where, never the message
    text = logs.assert_nothing_sensitive()
    assert "RuntimeError" in text
    assert emitted_metrics(text).get("Failed_internal") == 1
    [failure] = [line for line in logs.structured() if line.get("message") == "unexpected failure"]
    assert failure["level"] == "ERROR" and failure["error"] == "RuntimeError"


def test_a_function_that_cannot_run_with_its_settings_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, logs: Logs
) -> None:
    monkeypatch.delenv("CORRELATION_TABLE", raising=False)
    monkeypatch.setenv("CONNECTOR_USER_TABLE", "ConnectorUserTable")
    monkeypatch.setattr(connector, "wiring", BuiltAtInit(ConnectorWiring.from_environment))

    answer = invoke(discovery())

    assert answer == {
        "header": {"responseCode": 500},
        "payload": {"responseMessage": "The connector failed; retry."},
    }
    [line] = [line for line in logs.structured() if line.get("message") == "cannot run with these settings"]
    assert line["level"] == "ERROR"
    assert line["problems"] == ["CORRELATION_TABLE: required: the function cannot run without it"]


# --- Log hygiene ----------------------------------------------------------------------------------------


# A retried invocation asks for nothing new: it publishes no metric.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_every_operation_logs_and_answers_no_token_secret_user_or_device(
    fakes: ConnectorFakes, logs: Logs
) -> None:
    answers = [
        invoke(envelope("AWS.ActivateUser", CONNECTOR, oauth(TOKEN))),
        invoke(envelope("AWS.ActivateUser", CONNECTOR, general_authorization(SECRET_ARN, "v-1"))),
        invoke(discovery(general_authorization(SECRET_ARN, "v-1"))),
        invoke(command()),
        invoke(command()),  # retried
        invoke(envelope("AWS.DeactivateUser", CONNECTOR, oauth(OPAQUE_TOKEN))),
    ]

    assert [code_of(a) for a in answers] == [200] * 6
    logs.assert_nothing_sensitive()
    messages = " ".join(a["payload"]["responseMessage"] for a in answers)
    assert not [value for value in SENSITIVE if value in messages]
    # What is logged identifies the invocation: operation, connector, request id, code and outcome
    answered = [line for line in logs.structured() if line.get("message") == "invocation answered"]
    assert [line["outcome"] for line in answered] == ["ok"] * 4 + ["handed_over_before", "ok"]
    assert {"operation": "AWS.SendCommand", "request_id": TRACE_ID, "response_code": 200}.items() <= answered[
        3
    ].items()


def test_failures_log_and_answer_no_token_secret_user_or_device(fakes: ConnectorFakes, logs: Logs) -> None:
    fakes.cloud.failures += [DeviceCloudRefusedError(403), DeviceCloudUnavailableError("unreachable")]
    fakes.cloud.users[OPAQUE_TOKEN] = USER + " but not an id " * 10

    answers = [
        invoke(discovery()),
        invoke(command()),
        invoke(envelope("AWS.ActivateUser", CONNECTOR, oauth(OPAQUE_TOKEN))),
        invoke(envelope("AWS.ActivateUser", CONNECTOR, general_authorization(SECRET_ARN, "v-missing"))),
        invoke(envelope("AWS.Reboot" + USER, CONNECTOR, oauth(TOKEN))),
        invoke(
            {"header": {"auth": {"type": OPAQUE_TOKEN, "token": TOKEN}}, "payload": {"connectorId": USER * 3}}
        ),
        invoke(
            envelope(
                "AWS.SendCommand", CONNECTOR, oauth(TOKEN), traceId=TRACE_ID, connectorDeviceId=DEVICE * 20
            )
        ),
    ]

    assert [code_of(a) for a in answers] == [403, 504, 502, 401, 400, 400, 400]
    logs.assert_nothing_sensitive()
    messages = " ".join(a["payload"]["responseMessage"] for a in answers)
    assert not [value for value in SENSITIVE if value in messages]
    assert "payload.connectorDeviceId" in messages
