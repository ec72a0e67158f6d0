"""The detector reset job logs what an operator needs to act, and never the fleet data it writes.

Sensitive here: the values a reset writes (a plan's variable values, a message's payload) and the values it
carries over (the preserved variables' current values, read from the fleet). Identifiers are not: detector
key values and the detector model name are what an operator needs to find a failed detector, so they must be
in the logs of a failing run.

The Lambda handler and the operator CLI run for real, through the real adapters and botocore's own
`iotevents-data` and `lambda` clients; only the services' answers are in memory, and when told to fail they
quote the request in their error texts, as AWS validation messages can. Everything logged is captured: the
Powertools JSON stream, every record on the root, service and job loggers (extra fields included), and
stdout/stderr, plus the CLI's own output streams and the text of any exception the handler raises.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import moto
import pytest

import detector_reset
from bridge_local.aws import local_client
from bridge_local.detector_table import put_detectors, table_detectors
from bridge_local.lambda_runtime import LOCAL_ACCOUNT_ID, LOCAL_REGION
from bridge_local.resources import create_tables
from bridge_local.sam_template import LocalResolver, read
from fakes.lambda_context import FakeLambdaContext
from fakes.log_capture import Logs, captured_logs
from fakes.reset import Detector, InMemoryIotEventsData, InMemoryLambda, Refusals
from iotbridge.__main__ import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from iotbridge.detector_reset import wiring as reset_wiring
from iotbridge.detector_reset.domain import job as reset_job_module
from iotbridge.detector_reset.domain.plan import PlanError
from iotbridge.detector_reset.edge import ResetRunFailedError

MODEL = "BoilerMonitorModel_Id4"
INPUT = "BoilerResetInput_Id4"
KEYS = [f"boiler-key-{n:03d}" for n in range(24)]
ALARM_KEYS, FAULT_KEYS = KEYS[:16], KEYS[16:]

# Fleet data: written by the reset or read from the detectors. None of it may reach a log.
VARIABLE_VALUE = "SentinelVariableValue-7k2q"
PRESERVED_VALUE = "SentinelPreservedValue-3m8w"
PAYLOAD_VALUE = "SentinelPayloadValue-9d4h"
SENSITIVE = (
    VARIABLE_VALUE,
    PRESERVED_VALUE,
    PAYLOAD_VALUE,
    # Fragments, so that a value cut short, escaped or re-encoded is still caught.
    "SentinelVariable",
    "SentinelPreserved",
    "SentinelPayload",
    base64.b64encode(PAYLOAD_VALUE.encode()).decode()[:16],
)

UPDATE_PLAN: dict[str, Any] = {
    "name": "boiler-nightly",
    "detectorModelName": MODEL,
    "detectors": {"inStates": ["Alarm", "Fault"]},
    "action": {
        "mode": "update",
        "stateName": "Normal",
        "variables": [{"name": "alarmCount", "value": VARIABLE_VALUE}],
        "timers": [{"name": "cooldown", "seconds": 300}],
        "preserveVariables": ["serialCode"],
    },
    "verify": {"sampleSize": 5},
}
MESSAGE_PLAN: dict[str, Any] = {
    "name": "boiler-by-message",
    "detectorModelName": MODEL,
    "detectors": {"keyValues": KEYS},
    "action": {
        "mode": "message",
        "inputName": INPUT,
        "payloadTemplate": {"command": "reset", "key": "${keyValue}", "token": PAYLOAD_VALUE},
    },
}


def fleet() -> dict[str, Detector]:
    states = {**dict.fromkeys(ALARM_KEYS, "Alarm"), **dict.fromkeys(FAULT_KEYS, "Fault")}
    return {
        key: Detector(state, {"serialCode": PRESERVED_VALUE, "alarmCount": "7"})
        for key, state in states.items()
    }


@dataclass
class Services:
    iot_events: InMemoryIotEventsData
    lambda_: InMemoryLambda


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """The real runner wiring, with the client factory handing out the in-memory-answered clients."""
    built = Services(InMemoryIotEventsData(fleet(), MODEL), InMemoryLambda())
    by_name = {"iotevents-data": built.iot_events.client, "lambda": built.lambda_.client}
    monkeypatch.setattr(reset_wiring, "DeferredClient", lambda name, *_, **__: by_name.get(name))
    monkeypatch.setenv("RESET_WORKERS", "2")
    monkeypatch.setenv("RESET_BATCH_SIZE", "5")
    yield built


def LambdaContext(remaining_ms: int = 900_000) -> FakeLambdaContext:
    return FakeLambdaContext(
        function_name="detector-reset", memory_limit_in_mb=1344, remaining_millis=remaining_ms
    )


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str]) -> Iterator[Logs]:
    # As deployed with LogLevel=DEBUG, the most that is ever logged.
    job_logger = reset_job_module.logger
    level = job_logger.log_level
    job_logger.setLevel("DEBUG")
    with captured_logs(capfd, [detector_reset.logger], SENSITIVE) as captured:
        logging.getLogger(job_logger.name).addHandler(captured.recorder)
        yield captured
        logging.getLogger(job_logger.name).removeHandler(captured.recorder)
    job_logger.setLevel(level)


def run_handler(
    event: dict[str, Any], logs: Logs, context: FakeLambdaContext | None = None
) -> dict[str, Any] | None:
    """The handler's summary, or None when it raised: then the error text, as Lambda would log it.

    A fresh execution environment each time: its wiring is built from the environment as the test set it.
    """
    detector_reset.wiring.rebuild()
    try:
        return detector_reset.lambda_handler(event, context or LambdaContext())
    except (ResetRunFailedError, PlanError) as exc:
        logs.add(f"{type(exc).__name__}: {exc}")
        return None


def run_cli(tmp_path: Path, plan: dict[str, Any] | str, logs: Logs, *flags: str) -> int:
    path = tmp_path / "plan.json"
    path.write_text(plan if isinstance(plan, str) else json.dumps(plan), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(["reset", "--plan", str(path), *flags], out=out, err=err)
    logs.add(out.getvalue(), err.getvalue())
    return code


def failure_logs(logs: Logs) -> str:
    """The structured lines of the run's end (summary, warnings, errors), as one text."""
    return "\n".join(json.dumps(line) for line in logs.structured() if line.get("level") != "DEBUG")


# --- The Lambda handler ---------------------------------------------------------------------------------


def test_a_successful_update_reset_logs_none_of_the_values_it_writes(services: Services, logs: Logs) -> None:
    # The nightly plan resets the fleet, setting one variable and carrying another over
    summary = run_handler(UPDATE_PLAN, logs)

    # Every detector got both values, and neither is logged
    assert summary is not None and summary["status"] == "complete"
    assert summary["reset"] == len(KEYS) and summary["verified"] == 5
    variables = [
        {v["name"]: v["value"] for v in u["state"]["variables"]} for u in services.iot_events.updates
    ]
    assert variables == [{"alarmCount": VARIABLE_VALUE, "serialCode": PRESERVED_VALUE}] * len(KEYS)
    logs.assert_nothing_sensitive()
    assert any(line.get("message") == "reset summary" for line in logs.structured())


def test_a_successful_message_reset_logs_none_of_the_payloads(services: Services, logs: Logs) -> None:
    summary = run_handler(MESSAGE_PLAN, logs)

    assert summary is not None and summary["reset"] == len(KEYS)
    assert [p["token"] for p in services.iot_events.payloads] == [PAYLOAD_VALUE] * len(KEYS)
    logs.assert_nothing_sensitive()


@pytest.mark.parametrize(
    ("plan", "codes"),
    [
        (
            UPDATE_PLAN,
            {"boiler-key-002": "InvalidRequestException", "boiler-key-017": "ResourceNotFoundException"},
        ),
        (
            MESSAGE_PLAN,
            {"boiler-key-005": "InvalidRequestException", "boiler-key-020": "ResourceNotFoundException"},
        ),
    ],
    ids=["update", "message"],
)
def test_failed_items_are_named_by_key_and_model_without_the_values_the_service_quoted(
    services: Services, logs: Logs, plan: dict[str, Any], codes: dict[str, str]
) -> None:
    # GIVEN two detectors the service refuses, with error texts quoting the values sent
    services.iot_events.item_errors = dict(codes)

    # WHEN the plan runs, then the run fails (2 of 24 is over the allowed 5%)
    assert run_handler(plan, logs) is None
    assert any(VARIABLE_VALUE in q or PAYLOAD_VALUE in q for q in services.iot_events.quoted)

    # THEN the logs name the failed detectors, their model and the error codes, and quote no value
    logs.assert_nothing_sensitive()
    text = failure_logs(logs)
    assert all(key in text for key in codes), text
    assert all(code in text for code in codes.values()), text
    assert MODEL in text and plan["name"] in text


def test_a_detector_whose_variables_cannot_be_read_is_named_without_its_values(
    services: Services, logs: Logs
) -> None:
    # A detector whose DescribeDetector (to preserve a variable) fails quoting its variables
    services.iot_events.describe_errors = {"boiler-key-009": "ResourceNotFoundException"}

    summary = run_handler(UPDATE_PLAN, logs)

    # The rest is reset (1 of 24 is within 5%), and the one left is named, its values are not
    assert summary is not None and summary["failedKeys"] == ["boiler-key-009"]
    assert any(PRESERVED_VALUE in q for q in services.iot_events.quoted)
    logs.assert_nothing_sensitive()
    assert "boiler-key-009" in failure_logs(logs)


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [
        ("ListDetectors", "AccessDeniedException", 403),
        ("BatchUpdateDetector", "InvalidRequestException", 400),
        ("BatchUpdateDetector", "InternalFailureException", 500),
        ("DescribeDetector", "ThrottlingException", 429),
    ],
)
def test_a_whole_call_failing_is_reported_by_code_and_model_without_the_request(
    services: Services, logs: Logs, monkeypatch: pytest.MonkeyPatch, operation: str, code: str, status: int
) -> None:
    # An operation failing as a whole, its error text quoting the request (transient ones forever)
    monkeypatch.setenv("RESET_MAX_ITEM_ATTEMPTS", "2")
    services.iot_events.call_errors = {operation: (code, status)}

    # The plan runs, then the run fails, and the logs say which call, model and code, quoting nothing
    assert run_handler(UPDATE_PLAN, logs) is None
    assert services.iot_events.quoted
    logs.assert_nothing_sensitive()
    text = failure_logs(logs)
    assert code in text and MODEL in text, text
    if operation != "ListDetectors":
        assert "boiler-key-000" in text  # the detectors not reset are named


def test_a_continuation_that_cannot_start_is_reported_without_the_plan_it_carried(
    services: Services, logs: Logs
) -> None:
    # An invocation about to run out of time, and Lambda refusing the continuation quoting its payload
    services.lambda_.failure = ("InvalidRequestContentException", 400)

    # The plan runs, then the first listing is reset, the run stops incomplete, and the payload (the
    # whole plan, values included) is not logged
    assert run_handler(UPDATE_PLAN, logs, LambdaContext(remaining_ms=1_000)) is None
    assert any(VARIABLE_VALUE in q for q in services.lambda_.quoted)
    logs.assert_nothing_sensitive()
    assert "InvalidRequestContentException" in failure_logs(logs)


def test_a_continuation_is_handed_over_without_logging_its_payload(services: Services, logs: Logs) -> None:
    summary = run_handler(UPDATE_PLAN, logs, LambdaContext(remaining_ms=1_000))

    assert summary is not None and summary["status"] == "continued"
    [handed_over] = services.lambda_.invocations
    assert VARIABLE_VALUE in json.dumps(handed_over)
    logs.assert_nothing_sensitive()


@pytest.mark.parametrize(
    "event",
    [
        {
            **UPDATE_PLAN,
            "action": {**UPDATE_PLAN["action"], "variables": [{"name": "x", "value": VARIABLE_VALUE * 60}]},
        },
        {**UPDATE_PLAN, "action": {**UPDATE_PLAN["action"], "stateName": ["Normal", VARIABLE_VALUE]}},
        {**MESSAGE_PLAN, "action": {**MESSAGE_PLAN["action"], "payloadTemplate": {"token": PAYLOAD_VALUE}}},
        {**MESSAGE_PLAN, "action": {**MESSAGE_PLAN["action"], "payloadTemplate": PAYLOAD_VALUE}},
        {**UPDATE_PLAN, "extraSecret": VARIABLE_VALUE, "verify": {"sampleSize": PAYLOAD_VALUE}},
        {"continuation": {"runId": "r1", "plan": UPDATE_PLAN, "cursor": {"source": -1}, "totals": {}}},
    ],
    ids=[
        "value-too-long",
        "wrong-type",
        "no-key-placeholder",
        "template-not-object",
        "unknown-member",
        "continuation",
    ],
)
def test_an_invalid_plan_is_refused_naming_its_problems_not_its_values(
    services: Services, logs: Logs, event: dict[str, Any]
) -> None:
    assert run_handler(event, logs) is None
    assert services.iot_events.updates == [] and services.iot_events.payloads == []
    logs.assert_nothing_sensitive()
    [refusal] = [line for line in logs.structured() if line.get("message") == "invalid reset plan"]
    assert refusal["problems"]


# --- The operator CLI -----------------------------------------------------------------------------------


def test_the_cli_prints_a_successful_reset_without_the_values_it_wrote(
    services: Services, logs: Logs, tmp_path: Path
) -> None:
    assert run_cli(tmp_path, UPDATE_PLAN, logs) == EXIT_OK
    assert run_cli(tmp_path, MESSAGE_PLAN, logs, "--json") == EXIT_OK
    assert len(services.iot_events.updates) == len(services.iot_events.payloads) == len(KEYS)
    logs.assert_nothing_sensitive()


def test_the_cli_names_failed_detectors_without_the_values_the_service_quoted(
    services: Services, logs: Logs, tmp_path: Path
) -> None:
    services.iot_events.item_errors = {
        "boiler-key-003": "InvalidRequestException",
        "boiler-key-021": "ResourceNotFoundException",
    }

    assert run_cli(tmp_path, UPDATE_PLAN, logs) == EXIT_FAILED

    text = logs.assert_nothing_sensitive()
    assert "boiler-key-003" in text and "boiler-key-021" in text and "InvalidRequestException" in text


def test_the_cli_reports_a_failed_call_by_code_without_the_request(
    services: Services, logs: Logs, tmp_path: Path
) -> None:
    services.iot_events.call_errors = {"ListDetectors": ("AccessDeniedException", 403)}

    assert run_cli(tmp_path, UPDATE_PLAN, logs) == EXIT_FAILED

    text = logs.assert_nothing_sensitive()
    assert "AccessDeniedException" in text


@pytest.mark.parametrize(
    "plan",
    [
        {
            **UPDATE_PLAN,
            "action": {**UPDATE_PLAN["action"], "variables": [{"name": "x", "value": VARIABLE_VALUE * 60}]},
        },
        {**MESSAGE_PLAN, "action": {**MESSAGE_PLAN["action"], "payloadTemplate": {"token": PAYLOAD_VALUE}}},
        '{"name": "boiler-nightly", "action": {"variables": [{"value": "' + VARIABLE_VALUE + '"}]',
    ],
    ids=["value-too-long", "no-key-placeholder", "not-json"],
)
def test_the_cli_refuses_an_invalid_plan_without_printing_its_values(
    services: Services, logs: Logs, tmp_path: Path, plan: dict[str, Any] | str
) -> None:
    assert run_cli(tmp_path, plan, logs) == EXIT_USAGE
    assert services.iot_events.updates == []
    logs.assert_nothing_sensitive()


# --- The capture itself ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "how", ["handler_logger", "job_logger", "stdlib_logger", "exception", "print", "cli_output"]
)
def test_the_capture_sees_a_value_however_it_is_logged(logs: Logs, how: str) -> None:
    # A sensitive value logged one way or another (a control: the checks above must be able to fail)
    emit: dict[str, Callable[[], None]] = {
        "handler_logger": lambda: detector_reset.logger.debug("reset summary", extra={"v": VARIABLE_VALUE}),
        "job_logger": lambda: reset_job_module.logger.warning("batch failed", extra={"p": PRESERVED_VALUE}),
        "stdlib_logger": lambda: logging.getLogger("botocore.endpoint").warning("body %s", PAYLOAD_VALUE),
        "exception": _log_an_exception,
        "print": lambda: print(VARIABLE_VALUE),
        "cli_output": lambda: logs.add(f"reset failed: {PRESERVED_VALUE}"),
    }
    emit[how]()

    # The logs are checked, then the value is found
    with pytest.raises(AssertionError, match="sensitive values in the logs"):
        logs.assert_nothing_sensitive()


def _log_an_exception() -> None:
    try:
        raise ValueError(f"could not write {VARIABLE_VALUE}")
    except ValueError:
        reset_job_module.logger.exception("reset batch failed unexpectedly")


# --- The detector table backend: DynamoDB and AWS IoT Core ----------------------------------------------

TABLE_TOPIC = "boilers/resets"


@dataclass
class TableServices:
    """moto's DynamoDB and IoT Data in this process, behind the real wiring, and refusals ahead of them
    whose error texts quote the request."""

    table: str
    clients: dict[str, Any]
    refusals: Refusals
    lambda_: InMemoryLambda

    def refuse(self, service: str, operation: str, codes: dict[str, tuple[str, int]]) -> None:
        """Refuse the calls whose request names one of these keys, with that key's (code, status)."""
        self.refusals.on(
            self.clients[service],
            operation,
            lambda body: next((codes[k] for k in codes if f'"{k}"' in body), None),
        )

    def published(self) -> list[dict[str, Any]]:
        from moto.iotdata.models import iotdata_backends

        return [json.loads(p) for _, p in iotdata_backends[LOCAL_ACCOUNT_ID][LOCAL_REGION].published_payloads]

    def items(self) -> list[dict[str, Any]]:
        return table_detectors(self.clients["dynamodb"], self.table, model=MODEL)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[TableServices]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", LOCAL_REGION)
    monkeypatch.setenv("RESET_WORKERS", "2")
    monkeypatch.setenv("RESET_BATCH_SIZE", "5")
    with moto.mock_aws():
        made = {name: local_client(name, None, attempts=1) for name in ("dynamodb", "iot-data")}
        lambda_ = InMemoryLambda()
        made["lambda"] = lambda_.client
        monkeypatch.setattr(reset_wiring, "DeferredClient", lambda name, *_, **__: made.get(name))
        spec = read(Path(__file__).resolve().parents[3] / "template.yaml")
        name = create_tables(made["dynamodb"], spec, LocalResolver(spec))["DetectorTable"]
        detectors = [
            {
                "detectorModelName": MODEL,
                "keyValue": key,
                "state": {
                    "stateName": detector.state,
                    "variables": [{"name": n, "value": v} for n, v in detector.variables.items()],
                },
            }
            for key, detector in fleet().items()
        ]
        put_detectors(made["dynamodb"], name, detectors)
        yield TableServices(name, made, Refusals(quote=True), lambda_)


def on_table(plan: dict[str, Any], table: TableServices) -> dict[str, Any]:
    action = dict(plan["action"])
    if action["mode"] == "message":
        action["topic"] = TABLE_TOPIC
    return {**plan, "backend": {"kind": "dynamodb", "table": table.table}, "action": action}


def test_a_successful_update_of_the_table_logs_none_of_the_values_it_writes(
    table: TableServices, logs: Logs
) -> None:
    summary = run_handler(on_table(UPDATE_PLAN, table), logs)

    assert summary is not None and summary["reset"] == len(KEYS) and summary["verified"] == 5
    assert {json.dumps(d["state"]["variables"]) for d in table.items()} == {
        json.dumps(
            [
                {"name": "alarmCount", "value": VARIABLE_VALUE},
                {"name": "serialCode", "value": PRESERVED_VALUE},
            ]
        )
    }
    logs.assert_nothing_sensitive()


def test_a_successful_publish_reset_logs_none_of_the_payloads(table: TableServices, logs: Logs) -> None:
    summary = run_handler(on_table(MESSAGE_PLAN, table), logs)

    assert summary is not None and summary["reset"] == len(KEYS)
    assert [p["token"] for p in table.published()] == [PAYLOAD_VALUE] * len(KEYS)
    logs.assert_nothing_sensitive()


@pytest.mark.parametrize(
    ("plan", "service", "operation", "codes"),
    [
        (
            UPDATE_PLAN,
            "dynamodb",
            "UpdateItem",
            {
                "boiler-key-002": ("ValidationException", 400),
                "boiler-key-017": ("ConditionalCheckFailedException", 400),
            },
        ),
        (
            MESSAGE_PLAN,
            "iot-data",
            "Publish",
            {
                "boiler-key-005": ("InvalidRequestException", 400),
                "boiler-key-020": ("UnauthorizedException", 401),
            },
        ),
    ],
    ids=["update", "publish"],
)
def test_refused_detectors_on_the_table_are_named_without_the_values_the_service_quoted(
    table: TableServices,
    logs: Logs,
    plan: dict[str, Any],
    service: str,
    operation: str,
    codes: dict[str, tuple[str, int]],
) -> None:
    table.refuse(service, operation, codes)

    assert run_handler(on_table(plan, table), logs) is None  # 2 of 24 is over the allowed 5%
    assert any(VARIABLE_VALUE in q or PAYLOAD_VALUE in q for q in table.refusals.quoted)

    logs.assert_nothing_sensitive()
    text = failure_logs(logs)
    assert all(key in text for key in codes), text
    assert MODEL in text and plan["name"] in text


def test_a_table_item_that_cannot_be_read_is_named_without_its_values(
    table: TableServices, logs: Logs
) -> None:
    table.refuse("dynamodb", "GetItem", {"boiler-key-009": ("AccessDeniedException", 400)})

    summary = run_handler(on_table(UPDATE_PLAN, table), logs)

    assert summary is not None and summary["failedKeys"] == ["boiler-key-009"]
    logs.assert_nothing_sensitive()
    assert "boiler-key-009" in failure_logs(logs)


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [("Query", "AccessDeniedException", 400), ("Query", "InternalServerError", 500)],
)
def test_a_failing_table_listing_is_reported_by_code_and_model_without_the_request(
    table: TableServices, logs: Logs, monkeypatch: pytest.MonkeyPatch, operation: str, code: str, status: int
) -> None:
    monkeypatch.setenv("RESET_MAX_ITEM_ATTEMPTS", "2")
    table.refusals.on(table.clients["dynamodb"], operation, lambda body: (code, status))

    assert run_handler(on_table(UPDATE_PLAN, table), logs) is None
    assert table.refusals.quoted
    logs.assert_nothing_sensitive()
    text = failure_logs(logs)
    assert code in text and MODEL in text, text


def test_the_cli_resets_the_table_and_names_refused_detectors_without_their_values(
    table: TableServices, logs: Logs, tmp_path: Path
) -> None:
    assert run_cli(tmp_path, on_table(MESSAGE_PLAN, table), logs, "--json") == EXIT_OK
    table.refuse("dynamodb", "UpdateItem", {"boiler-key-003": ("ValidationException", 400)})
    table.refuse("dynamodb", "UpdateItem", {"boiler-key-021": ("ValidationException", 400)})

    assert run_cli(tmp_path, on_table(UPDATE_PLAN, table), logs) == EXIT_FAILED

    text = logs.assert_nothing_sensitive()
    assert "boiler-key-003" in text and "boiler-key-021" in text and "ValidationException" in text
