"""Each AWS call has one retry layer (iotbridge.clients): the calls a failure costs are counted on the
clients the wirings really build, their HTTP answered in memory."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from bridge_local.answered import json_response
from fakes.receiver import GROUP_KEY
from iotbridge import clients
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.settings import Environment
from iotbridge.webhook_receiver.adapters import SqsFifoEventQueue
from iotbridge.webhook_receiver.ports import DependencyUnavailableError
from iotbridge.webhook_receiver.settings import ReceiverSettings
from iotbridge.webhook_receiver.wiring import ReceiverWiring

NOWHERE = "http://127.0.0.1:9"


class Answers:
    """Answers every request with one error, and counts the requests by operation."""

    def __init__(self, status: int, error: dict[str, Any], code: str) -> None:
        self.status, self.error, self.code = status, error, code
        self.calls: dict[str, int] = {}

    def __call__(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        self.calls[operation] = self.calls.get(operation, 0) + 1
        return json_response(request.url, self.status, self.error, error_code=self.code)


@pytest.fixture
def receiver() -> Any:
    clients.reset_clients()
    environment = {
        "IDEMPOTENCY_TABLE": "t",
        "EVENT_QUEUE_URL": f"{NOWHERE}/123456789012/events.fifo",
        "MESSAGE_GROUP_KEY": GROUP_KEY.decode(),
        "AWS_ENDPOINT_URL_SQS": NOWHERE,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    yield ReceiverWiring.build(ReceiverSettings.from_environment(Environment(environment)))
    clients.reset_clients()


def test_a_throttled_hand_off_makes_as_many_calls_as_its_one_retry_layer_allows(receiver: Any) -> None:
    queue = receiver.intake._queue
    throttled = Answers(
        400, {"__type": "com.amazonaws.sqs#RequestThrottled", "message": "slow down"}, "RequestThrottled"
    )
    queue._client.meta.events.register("before-send.sqs", throttled)
    queue._sleep = lambda _: None

    with pytest.raises(DependencyUnavailableError):
        queue.enqueue([QueuedEvent("c", "w", 0, 1, {"Operation": "DEVICE_EVENT"})])

    # The hand-off loop's tries, each one call: botocore makes no retries of its own underneath.
    assert throttled.calls == {"SendMessageBatch": SqsFifoEventQueue.ATTEMPTS}


def test_a_refused_hand_off_is_not_retried(receiver: Any) -> None:
    queue = receiver.intake._queue
    refused = Answers(400, {"__type": "com.amazonaws.sqs#InvalidAddress", "message": "no"}, "InvalidAddress")
    queue._client.meta.events.register("before-send.sqs", refused)

    with pytest.raises(DependencyUnavailableError):
        queue.enqueue([QueuedEvent("c", "w", 0, 1, {"Operation": "DEVICE_EVENT"})])

    assert refused.calls == {"SendMessageBatch": 1}


# --- The reset job: its loop is the one retry layer of the detector table's and IoT Core's calls ---------


@pytest.fixture
def reset(monkeypatch: pytest.MonkeyPatch) -> Any:
    from iotbridge.detector_reset.settings import ResetSettings
    from iotbridge.detector_reset.wiring import ResetWiring

    clients.reset_clients()
    for service in ("DYNAMODB", "IOT_DATA"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", NOWHERE)
    yield ResetWiring.build(ResetSettings.from_environment(Environment({"RESET_MAX_ITEM_ATTEMPTS": "3"})))
    clients.reset_clients()


def _table_plan(action: dict[str, Any]) -> Any:
    from iotbridge.detector_reset.domain.plan import parse_plan

    return parse_plan(
        {
            "name": "retries",
            "detectorModelName": "hvac",
            "backend": {"kind": "dynamodb", "table": "detectors"},
            "detectors": {"keyValues": ["d1"]} if action["mode"] == "message" else {"all": True},
            "action": action,
        }
    )


def _quick(job: Any) -> Any:
    job._sleep = lambda _: None
    return job


def test_a_throttled_detector_table_is_tried_as_often_as_the_job_allows_and_no_more(reset: Any) -> None:
    plan = _table_plan({"mode": "update", "stateName": "Normal"})
    job = _quick(reset.cli_job(backend=plan.backend))
    code = "ProvisionedThroughputExceededException"
    throttled = Answers(400, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "slow"}, code)
    job._service._client.meta.events.register("before-send.dynamodb", throttled)

    report = job.run(plan)

    assert report.status == "incomplete"
    assert throttled.calls == {"Query": 3}


def test_a_throttled_publish_is_tried_as_often_as_the_job_allows_and_no_more(reset: Any) -> None:
    plan = _table_plan({"mode": "message", "topic": "resets", "payloadTemplate": {"k": "${keyValue}"}})
    job = _quick(reset.cli_job(backend=plan.backend))
    throttled = Answers(429, {"message": "Rate exceeded"}, "ThrottlingException")
    job._service._messages._client.meta.events.register("before-send.iot-data-plane", throttled)

    report = job.run(plan)

    assert report.totals.failed == {"ThrottlingException": 1}
    assert throttled.calls == {"Publish": 3}


# --- The rule by error code (iotbridge.errors) ---------------------------------------------------------


def test_every_code_botocore_retries_counts_as_transient() -> None:
    # GIVEN the throttling and transient codes botocore's standard retry mode retries
    from botocore.retries.standard import ThrottledRetryableChecker, TransientRetryableChecker

    from iotbridge.errors import code_is_transient

    retried = [
        *ThrottledRetryableChecker._THROTTLED_ERROR_CODES,
        *TransientRetryableChecker._TRANSIENT_ERROR_CODES,
    ]

    # THEN the project's rule retries every one of them too
    assert retried
    assert [code for code in retried if not code_is_transient(code)] == []


@pytest.mark.parametrize(
    "code",
    [
        "InternalServerException",  # iot-managed-integrations 500
        "InternalFailureException",  # iotevents-data 500
        "ServiceUnavailableException",
        "ExpiredTokenException",  # credentials rotated while the call was in flight
        "RequestTimeTooSkewed",
        "InvalidSignatureException",
    ],
)
def test_documented_transient_codes_are_retried(code: str) -> None:
    from iotbridge.errors import code_is_transient

    assert code_is_transient(code)


def test_every_listed_permanent_code_is_not_retried() -> None:
    from iotbridge.errors import PERMANENT_CODES, code_is_transient

    assert PERMANENT_CODES
    assert not any(code_is_transient(code) for code in PERMANENT_CODES)


@pytest.mark.parametrize("code", ["SomeNewException", "HTTP502", "Unidentified", ""])
def test_a_code_in_neither_table_counts_as_transient(code: str) -> None:
    from iotbridge.errors import code_is_transient

    assert code_is_transient(code)


def test_a_failed_send_is_retried_or_dead_lettered_as_the_code_table_says() -> None:
    from botocore.exceptions import ClientError

    from iotbridge.clients import failure_of

    def failure(code: str) -> bool:
        error = ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "Send")
        return failure_of(error).transient

    assert failure("ThrottlingException") and failure("SomeNewException")
    assert not failure("ValidationException")
