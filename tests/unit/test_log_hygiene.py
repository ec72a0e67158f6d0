"""Sensitive values never reach the logs, on the accepted, rejected and failing paths of both relay functions.

UserId, ConnectorDeviceId, Message and Matter attribute values (sensitive in AWS's model) and the signing
secret are distinctive sentinels here. The handlers run for real; only the AWS APIs are in-memory
stand-ins, which answer like the services do, error texts quoting the request included (AWS validation
messages and botocore's parameter reports can quote values). Everything logged is captured three ways:
the Powertools JSON stream, every log record on the root and service loggers, and stdout/stderr.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

import forwarder
import webhook_receiver
from bridge_local.samples import encode, http_api_event, signed_headers
from forwarder_adapters import ManagedIntegrationsConnectorEvents, SqsDeadLetterQueue
from intake import InProgress, IntakeLimits, WebhookIntake
from iotbridge.forwarding import Forwarder
from iotbridge.queued_event import QueuedEvent
from iotbridge.settings import settings
from receiver_adapters import SecretsManagerSigningKeys, SqsFifoEventQueue

NOW = 1_790_000_000
CONNECTOR = "acme-cloud"
USER_ID = "usr.SentinelUserId.5h2k"
DEVICE_ID = "dev.SentinelDeviceId.8q1z"
MESSAGE = "uri: auc://SentinelMessage-3v7x/state"
ATTRIBUTE_VALUE = "SentinelAttributeValue-6m4p"
SIGNING_KEY = b"SentinelSigningKey-0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SIGNING_KEY).decode()
SENSITIVE = (
    USER_ID,
    DEVICE_ID,
    MESSAGE,
    ATTRIBUTE_VALUE,
    SECRET,
    SECRET.removeprefix("whsec_"),
    SIGNING_KEY.decode(),
    # Fragments, so that a value cut short or re-encoded is still caught.
    "SentinelUserId",
    "SentinelDeviceId",
    "SentinelMessage",
    "SentinelAttributeValue",
    "SentinelSigningKey",
)

DEVICE_EVENT: dict[str, Any] = {
    "Operation": "DEVICE_EVENT",
    "UserId": USER_ID,
    "ConnectorDeviceId": DEVICE_ID,
    "Message": MESSAGE,
    "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x0006", "attributes": {"0x0000": ATTRIBUTE_VALUE}}]},
}
DISCOVERY: dict[str, Any] = {
    "Operation": "DEVICE_DISCOVERY",
    "UserId": USER_ID,
    "DeviceDiscoveryId": "job42",
    "Devices": [
        {
            "ConnectorDeviceId": DEVICE_ID,
            "CapabilityReport": {
                "version": "1.0.0",
                "endpoints": [
                    {
                        "id": "1",
                        "deviceTypes": ["0x0100"],
                        "clusters": [
                            {
                                "id": "0x0006",
                                "revision": 4,
                                "attributes": [{"id": "0x0000", "name": "OnOff", "value": ATTRIBUTE_VALUE}],
                            }
                        ],
                    }
                ],
            },
        }
    ],
}


def service_error(code: str, status: int, message: str, operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


# --- Capturing everything that is logged ----------------------------------------------------------------


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The message, its arguments and every extra field, however a formatter would render them.
        self.lines.append(f"{record.getMessage()} {record.__dict__!r}")


@dataclass
class Logs:
    streams: list[io.StringIO]
    recorder: _Recorder
    capfd: pytest.CaptureFixture[str]
    seen: list[str] = field(default_factory=list)

    def text(self) -> str:
        out, err = self.capfd.readouterr()
        self.seen += [out, err]
        return "\n".join([*(s.getvalue() for s in self.streams), *self.recorder.lines, *self.seen])

    def assert_nothing_sensitive(self) -> None:
        text = self.text()
        assert text.strip(), "nothing was logged: the capture is not working"
        leaked = [value for value in SENSITIVE if value in text]
        assert leaked == [], f"sensitive values in the logs: {leaked}"


def _restorer(handler: logging.StreamHandler[Any], stream: Any, owner: Any, level: Any) -> Callable[[], None]:
    def restore() -> None:
        handler.setStream(stream)
        owner.setLevel(level)

    return restore


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str]) -> Iterator[Logs]:
    recorder = _Recorder()
    loggers = [
        logging.getLogger(),
        *(logging.getLogger(m.logger.name) for m in (webhook_receiver, forwarder)),
    ]
    streams: list[io.StringIO] = []
    restore: list[Callable[[], None]] = []
    for powertools_logger in (webhook_receiver.logger, forwarder.logger):
        handler = powertools_logger.registered_handler
        assert isinstance(handler, logging.StreamHandler)
        stream = io.StringIO()
        previous_stream, previous_level = handler.setStream(stream), powertools_logger.log_level
        powertools_logger.setLevel("DEBUG")
        streams.append(stream)
        restore.append(_restorer(handler, previous_stream, powertools_logger, previous_level))
    for each in loggers:
        each.addHandler(recorder)
    yield Logs(streams, recorder, capfd)
    for each in loggers:
        each.removeHandler(recorder)
    for undo in restore:
        undo()


# --- The webhook receiver: real handler, domain and adapters; in-memory AWS APIs ------------------------


class InMemorySecretsManager:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.failure: Exception | None = None

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        if self.failure is not None:
            raise self.failure
        if SecretId not in self.secrets:
            raise service_error("ResourceNotFoundException", 400, f"{SecretId} not found", "GetSecretValue")
        return {"Name": SecretId, "SecretString": self.secrets[SecretId]}


class InMemorySqs:
    """SendMessageBatch; told to fail, it answers like SQS does, quoting what it was sent."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.failure: str | None = None

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        first = Entries[0]["MessageBody"]
        if self.failure == "error":
            raise service_error(
                "InvalidMessageContents", 400, f"Invalid message body: {first}", "SendMessageBatch"
            )
        if self.failure == "crash":
            raise RuntimeError(f"connection pool broke while sending {first}")
        if self.failure == "entries":
            return {
                "Successful": [],
                "Failed": [
                    {
                        "Id": e["Id"],
                        "Code": "InternalError",
                        "SenderFault": False,
                        "Message": e["MessageBody"],
                    }
                    for e in Entries
                ],
            }
        self.bodies += [e["MessageBody"] for e in Entries]
        return {"Successful": [{"Id": e["Id"], "MessageId": e["Id"]} for e in Entries], "Failed": []}


class InMemoryIdempotencyTable:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.busy = False

    def bind_context(self, context: Any) -> None:
        pass

    def once(
        self, connector_id: str, webhook_id: str, action: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        if self.busy:
            raise InProgress
        if (connector_id, webhook_id) in self.records:
            return self.records[connector_id, webhook_id], True
        result = action()
        self.records[connector_id, webhook_id] = result
        return result, False


@dataclass
class Receiver:
    secrets: InMemorySecretsManager
    sqs: InMemorySqs
    table: InMemoryIdempotencyTable
    context: Any

    def post(
        self,
        body: dict[str, Any] | bytes,
        *,
        secret: str = SECRET,
        timestamp: int = NOW,
        webhook_id: str = "msg_1",
    ) -> int:
        raw = body if isinstance(body, bytes) else encode(body)
        headers = signed_headers(raw, webhook_id=webhook_id, timestamp=timestamp, secret=secret)
        event = http_api_event(raw, headers, connector_id=CONNECTOR, timestamp=NOW)
        response = webhook_receiver.lambda_handler(event, self.context)
        self.last_body = response["body"]
        return int(response["statusCode"])


class _Context:
    function_name = "webhook-receiver"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:webhook-receiver"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Receiver:
    secrets = InMemorySecretsManager({f"connectors/{CONNECTOR}": SECRET})
    sqs, table = InMemorySqs(), InMemoryIdempotencyTable()
    intake = WebhookIntake(
        keys=SecretsManagerSigningKeys(secrets, prefix="connectors/", max_age_seconds=0),
        queue=SqsFifoEventQueue(
            sqs, "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo", sleep=lambda _: None
        ),
        deduplicator=table,
        contract=webhook_receiver.validate_body,
        limits=IntakeLimits(max_body_bytes=4096, tolerance_seconds=300),
        clock=lambda: NOW,
    )
    monkeypatch.setattr(webhook_receiver, "_wiring", lambda: (intake, table))
    return Receiver(secrets, sqs, table, _Context())


@pytest.mark.parametrize(
    "body", [DEVICE_EVENT, DISCOVERY, [DEVICE_EVENT, DISCOVERY]], ids=["event", "discovery", "array"]
)
def test_accepted_and_repeated_webhooks_log_no_sensitive_value(
    receiver: Receiver, logs: Logs, body: Any
) -> None:
    # GIVEN a valid webhook full of sensitive values WHEN it is delivered twice
    first, again = receiver.post(body), receiver.post(body)

    # THEN both are acknowledged, it is queued once, and nothing sensitive is logged
    assert (first, again) == (202, 202)
    assert len(receiver.sqs.bodies) == len(body) if isinstance(body, list) else 1
    logs.assert_nothing_sensitive()


def test_forged_and_stale_webhooks_log_no_sensitive_value(receiver: Receiver, logs: Logs) -> None:
    forged = "whsec_" + base64.b64encode(b"a key that is not the connector's").decode()
    assert receiver.post(DEVICE_EVENT, secret=forged) == 401
    assert receiver.post(DEVICE_EVENT, timestamp=NOW - 3600) == 401
    logs.assert_nothing_sensitive()


def test_invalid_webhook_logs_and_answers_no_sensitive_value(receiver: Receiver, logs: Logs) -> None:
    # GIVEN sensitive values that break the contract: too long, wrong type, null, in an unknown member
    body = {
        "Operation": "DEVICE_EVENT",
        "UserId": USER_ID * 4,
        "ConnectorDeviceId": [DEVICE_ID],
        "Message": {"text": MESSAGE},
        "StatusCode": ATTRIBUTE_VALUE,
        "MatterEndpoint": {"id": "1", "clusters": [{"id": ATTRIBUTE_VALUE, "attributes": None}]},
    }

    # WHEN it is delivered THEN it is refused, and neither the answer nor the logs quote a value
    assert receiver.post(body) == 422
    leaked = [value for value in SENSITIVE if value in receiver.last_body]
    assert leaked == []
    logs.assert_nothing_sensitive()


def test_oversize_and_malformed_webhooks_log_no_sensitive_value(receiver: Receiver, logs: Logs) -> None:
    assert receiver.post({**DEVICE_EVENT, "Padding": "x" * 5000}) == 413
    assert receiver.post(encode(DEVICE_EVENT)[:-1]) == 400
    logs.assert_nothing_sensitive()


@pytest.mark.parametrize(
    "failure",
    ["secrets_outage", "malformed_secret", "queue_error", "queue_entries", "queue_crash", "in_progress"],
)
def test_failing_dependencies_log_no_sensitive_value(receiver: Receiver, logs: Logs, failure: str) -> None:
    # GIVEN a dependency that fails, its error text quoting what it was given
    if failure == "secrets_outage":
        receiver.secrets.failure = service_error(
            "InternalServiceError", 500, f"failed reading {SECRET}", "GetSecretValue"
        )
    elif failure == "malformed_secret":
        receiver.secrets.secrets[f"connectors/{CONNECTOR}"] = SECRET + "!" + SIGNING_KEY.decode()
    elif failure == "in_progress":
        receiver.table.busy = True
    else:
        receiver.sqs.failure = failure.removeprefix("queue_")

    # WHEN a valid webhook arrives THEN the sender is told to retry, and nothing sensitive is logged
    assert receiver.post(DEVICE_EVENT) == 503
    logs.assert_nothing_sensitive()


# --- The forwarder: real handler, domain and adapters; a botocore client over an in-memory service -------


class _Body:
    def __init__(self, content: bytes) -> None:
        self.content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.content


class InMemoryManagedIntegrations:
    """SendConnectorEvent behind a real botocore client: requests are serialised, responses parsed by it.

    Told to fail, it answers with the service's error shapes and, like AWS validation messages can, quotes
    the request's values in the error text.
    """

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.failure: tuple[str, int] | None = None
        self.client = boto3.session.Session().client(
            "iot-managed-integrations",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )
        self.client.meta.events.register("before-send.iot-managed-integrations", self._answer)

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        sent = json.loads(request.body)
        if self.failure is None:
            self.accepted.append(sent)
            status, payload, headers = 202, {"ConnectorId": request.url.rsplit("/", 1)[-1]}, {}
        else:
            code, status = self.failure
            payload = {"message": f"1 validation error: value {json.dumps(sent)} is not valid"}
            headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/"}
        headers["content-type"] = "application/json"
        return AWSResponse(request.url, status, headers, _Body(json.dumps(payload).encode()))


class InMemoryDeadLetterSqs:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.broken = False

    def send_message(self, **params: Any) -> dict[str, Any]:
        if self.broken:
            raise service_error(
                "InvalidMessageContents", 400, f"cannot store {params['MessageBody']}", "SendMessage"
            )
        self.messages.append(params)
        return {"MessageId": f"dlq-{len(self.messages)}"}


@pytest.fixture
def relay(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[InMemoryManagedIntegrations, InMemoryDeadLetterSqs]]:
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/dlq.fifo")
    settings.cache_clear()
    service, dead_letters = InMemoryManagedIntegrations(), InMemoryDeadLetterSqs()
    built = Forwarder(
        ManagedIntegrationsConnectorEvents(lambda: service.client),
        SqsDeadLetterQueue(lambda: settings().dead_letter_queue_url, lambda: dead_letters),
        max_attempts=1,
    )
    monkeypatch.setattr(forwarder, "build_forwarder", lambda: built)
    yield service, dead_letters
    settings.cache_clear()


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{index}",
                "body": body,
                "attributes": {"MessageGroupId": f"{CONNECTOR}.g{index}", "ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs",
            }
            for index, body in enumerate(bodies)
        ]
    }


def queued(event: dict[str, Any], webhook_id: str = "w1") -> str:
    return QueuedEvent(CONNECTOR, webhook_id, 0, NOW, event).to_message_body()


def _dead_letter_attributes(dead_letters: InMemoryDeadLetterSqs) -> str:
    return json.dumps([m["MessageAttributes"] for m in dead_letters.messages])


def test_forwarded_events_log_no_sensitive_value(relay: Any, logs: Logs, lambda_context: Any) -> None:
    service, _ = relay
    response = forwarder.lambda_handler(
        sqs_event(queued(DEVICE_EVENT), queued(DISCOVERY, "w2")), lambda_context
    )
    assert response == {"batchItemFailures": []}
    assert [sent["UserId"] for sent in service.accepted] == [USER_ID, USER_ID]
    logs.assert_nothing_sensitive()


@pytest.mark.parametrize(
    ("code", "status"),
    [("ValidationException", 400), ("AccessDeniedException", 403), ("ResourceNotFoundException", 404)],
)
def test_dead_lettered_events_log_and_label_no_sensitive_value(
    relay: Any, logs: Logs, lambda_context: Any, code: str, status: int
) -> None:
    # GIVEN the service refusing the event with an error text that quotes it
    service, dead_letters = relay
    service.failure = (code, status)

    # WHEN it is forwarded THEN it is dead-lettered, labelled with the code, and nothing sensitive is logged
    assert forwarder.lambda_handler(sqs_event(queued(DEVICE_EVENT)), lambda_context) == {
        "batchItemFailures": []
    }
    [parked] = dead_letters.messages
    assert parked["MessageAttributes"]["ErrorCode"]["StringValue"] == code
    assert not [value for value in SENSITIVE if value in _dead_letter_attributes(dead_letters)]
    logs.assert_nothing_sensitive()


def test_event_failing_botocore_validation_logs_and_labels_no_sensitive_value(
    relay: Any, logs: Logs, lambda_context: Any
) -> None:
    # GIVEN a queued event botocore refuses, whose report would quote the values (wrong types)
    _, dead_letters = relay
    event = {**DEVICE_EVENT, "StatusCode": ATTRIBUTE_VALUE, "UserId": [USER_ID], "Message": {"m": MESSAGE}}

    # WHEN it is forwarded THEN it is dead-lettered naming members only
    assert forwarder.lambda_handler(sqs_event(queued(event)), lambda_context) == {"batchItemFailures": []}
    assert len(dead_letters.messages) == 1
    assert not [value for value in SENSITIVE if value in _dead_letter_attributes(dead_letters)]
    logs.assert_nothing_sensitive()


def test_malformed_and_unrouteable_messages_log_and_label_no_sensitive_value(
    relay: Any, logs: Logs, lambda_context: Any
) -> None:
    _, dead_letters = relay
    truncated = queued(DEVICE_EVENT)[:-7]
    wrong_type = json.dumps(
        {"connectorId": CONNECTOR, "webhookId": "w", "index": USER_ID, "receivedAt": 1, "event": {}}
    )
    other_connector = queued({**DEVICE_EVENT, "ConnectorId": "other-" + DEVICE_ID})
    forwarder.lambda_handler(sqs_event(truncated, wrong_type, other_connector), lambda_context)
    assert len(dead_letters.messages) == 3
    assert not [value for value in SENSITIVE if value in _dead_letter_attributes(dead_letters)]
    logs.assert_nothing_sensitive()


@pytest.mark.parametrize(("code", "status"), [("ThrottlingException", 429), ("InternalServerException", 500)])
def test_transient_failures_log_no_sensitive_value(
    relay: Any, logs: Logs, lambda_context: Any, code: str, status: int
) -> None:
    service, _ = relay
    service.failure = (code, status)
    response = forwarder.lambda_handler(sqs_event(queued(DEVICE_EVENT)), lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    logs.assert_nothing_sensitive()


def test_event_that_cannot_be_dead_lettered_logs_no_sensitive_value(
    relay: Any, logs: Logs, lambda_context: Any
) -> None:
    service, dead_letters = relay
    service.failure, dead_letters.broken = ("ValidationException", 400), True
    response = forwarder.lambda_handler(sqs_event(queued(DEVICE_EVENT)), lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    logs.assert_nothing_sensitive()


# --- The capture itself ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "how", ["receiver_logger", "forwarder_logger", "child_logger", "stdlib_logger", "print"]
)
def test_the_capture_sees_a_value_however_it_is_logged(logs: Logs, how: str) -> None:
    # GIVEN a sensitive value logged one way or another (a control: the checks above must be able to fail)
    if how == "receiver_logger":
        webhook_receiver.logger.debug("webhook handled", extra={"user": USER_ID})
    elif how == "forwarder_logger":
        forwarder.logger.warning("event dead-lettered", extra={"device": DEVICE_ID})
    elif how == "child_logger":
        from aws_lambda_powertools import Logger

        Logger(child=True).error("adapter failed", extra={"text": MESSAGE})
    elif how == "stdlib_logger":
        logging.getLogger("botocore.hooks").warning("request body %s", ATTRIBUTE_VALUE)
    else:
        print(SECRET)

    # WHEN the logs are checked THEN the value is found
    with pytest.raises(AssertionError, match="sensitive values in the logs"):
        logs.assert_nothing_sensitive()
