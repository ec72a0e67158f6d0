"""Sensitive values never reach the logs, on the accepted, rejected and failing paths of both relay functions.

UserId, ConnectorDeviceId, Message and Matter attribute values (sensitive in AWS's model) and the signing
secret are distinctive sentinels here. The handlers run for real; only the AWS APIs are in-memory
stand-ins, which answer like the services do, error texts quoting the request included (AWS validation
messages and botocore's parameter reports can quote values). Everything logged is captured three ways:
the Powertools JSON stream, every log record on the root and service loggers, and stdout/stderr.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import forwarder
import webhook_receiver
from fakes.aws import InMemoryManagedIntegrations, InMemorySecretsManager, InMemorySqs, client_error
from fakes.lambda_context import FakeLambdaContext
from fakes.log_capture import Logs, captured_logs
from fakes.receiver import GROUP_KEY, InMemoryDeduplicator
from iotbridge.composition import BuiltAtInit
from iotbridge.forwarder.adapters import ManagedIntegrationsConnectorEvents, SqsDeadLetterQueue
from iotbridge.forwarder.domain.forwarding import Forwarder
from iotbridge.forwarder.wiring import ForwarderWiring
from iotbridge.registry.secrets import SecretsManagerSigningKeys
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.webhook_receiver.adapters import SqsFifoEventQueue
from iotbridge.webhook_receiver.domain.intake import IntakeLimits, WebhookIntake
from iotbridge.webhook_receiver.wiring import ReceiverWiring
from samples.webhooks import encode, http_api_event, signed_headers

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


service_error = client_error


# --- Capturing everything that is logged ----------------------------------------------------------------


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str]) -> Iterator[Logs]:
    with captured_logs(capfd, [webhook_receiver.logger, forwarder.logger], SENSITIVE) as captured:
        yield captured


# --- The webhook receiver: real handler, domain and adapters; in-memory AWS APIs ------------------------


@dataclass
class Receiver:
    secrets: InMemorySecretsManager
    sqs: InMemorySqs
    table: InMemoryDeduplicator
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


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Receiver:
    secrets = InMemorySecretsManager({f"connectors/{CONNECTOR}": SECRET})
    sqs, table = InMemorySqs(), InMemoryDeduplicator()
    intake = WebhookIntake(
        keys=SecretsManagerSigningKeys(secrets, prefix="connectors/", max_age_seconds=0),
        queue=SqsFifoEventQueue(
            sqs,
            "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo",
            group_key=GROUP_KEY,
            sleep=lambda _: None,
        ),
        deduplicator=table,
        limits=IntakeLimits(max_body_bytes=4096, tolerance_seconds=300),
        clock=lambda: NOW,
    )
    monkeypatch.setattr(webhook_receiver, "wiring", BuiltAtInit.fixed(ReceiverWiring(intake)))
    return Receiver(secrets, sqs, table, FakeLambdaContext(function_name="webhook-receiver"))


@pytest.mark.parametrize(
    "body", [DEVICE_EVENT, DISCOVERY, [DEVICE_EVENT, DISCOVERY]], ids=["event", "discovery", "array"]
)
def test_accepted_and_repeated_webhooks_log_no_sensitive_value(
    receiver: Receiver, logs: Logs, body: Any
) -> None:
    # A valid webhook full of sensitive values, when it is delivered twice
    first, again = receiver.post(body), receiver.post(body)

    # Both are acknowledged, it is queued once, and nothing sensitive is logged
    assert (first, again) == (202, 202)
    assert len(receiver.sqs.bodies) == len(body) if isinstance(body, list) else 1
    logs.assert_nothing_sensitive()


def test_forged_and_stale_webhooks_log_no_sensitive_value(receiver: Receiver, logs: Logs) -> None:
    forged = "whsec_" + base64.b64encode(b"a key that is not the connector's").decode()
    assert receiver.post(DEVICE_EVENT, secret=forged) == 401
    assert receiver.post(DEVICE_EVENT, timestamp=NOW - 3600) == 401
    logs.assert_nothing_sensitive()


def test_invalid_webhook_logs_and_answers_no_sensitive_value(receiver: Receiver, logs: Logs) -> None:
    # Sensitive values that break the contract: too long, wrong type, null, in an unknown member
    body = {
        "Operation": "DEVICE_EVENT",
        "UserId": USER_ID * 4,
        "ConnectorDeviceId": [DEVICE_ID],
        "Message": {"text": MESSAGE},
        "StatusCode": ATTRIBUTE_VALUE,
        "MatterEndpoint": {"id": "1", "clusters": [{"id": ATTRIBUTE_VALUE, "attributes": None}]},
    }

    # It is delivered, then it is refused, and neither the answer nor the logs quote a value
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
    # A dependency that fails, its error text quoting what it was given
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

    # A valid webhook arrives, then the sender is told to retry (or, for an unusable secret, that the
    # request cannot be authenticated, as for any unknown connector), and nothing sensitive is logged
    assert receiver.post(DEVICE_EVENT) == (401 if failure == "malformed_secret" else 503)
    logs.assert_nothing_sensitive()


# --- The forwarder: real handler, domain and adapters; a botocore client over an in-memory service -------


@dataclass(frozen=True)
class Relay:
    """The forwarder's two AWS services, in memory, behind its real handler."""

    service: InMemoryManagedIntegrations
    dead_letters: InMemorySqs


@pytest.fixture
def relay(monkeypatch: pytest.MonkeyPatch) -> Relay:
    service, dead_letters = InMemoryManagedIntegrations(), InMemorySqs()
    built = Forwarder(
        ManagedIntegrationsConnectorEvents(service.client),
        SqsDeadLetterQueue(dead_letters, "https://sqs.us-east-1.amazonaws.com/123456789012/dlq.fifo"),
    )
    monkeypatch.setattr(forwarder, "wiring", BuiltAtInit.fixed(ForwarderWiring(built)))
    return Relay(service, dead_letters)


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


def _dead_letter_attributes(dead_letters: InMemorySqs) -> str:
    return json.dumps([m["MessageAttributes"] for m in dead_letters.sent])


def test_forwarded_events_log_no_sensitive_value(relay: Relay, logs: Logs, lambda_context: Any) -> None:
    service = relay.service
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
    relay: Relay, logs: Logs, lambda_context: Any, code: str, status: int
) -> None:
    # The service refusing the event with an error text that quotes it
    service, dead_letters = relay.service, relay.dead_letters
    service.failure = (code, status)

    # It is forwarded, then it is dead-lettered, labelled with the code, and nothing sensitive is logged
    assert forwarder.lambda_handler(sqs_event(queued(DEVICE_EVENT)), lambda_context) == {
        "batchItemFailures": []
    }
    [parked] = dead_letters.sent
    assert parked["MessageAttributes"]["ErrorCode"]["StringValue"] == code
    assert not [value for value in SENSITIVE if value in _dead_letter_attributes(dead_letters)]
    logs.assert_nothing_sensitive()


def test_event_failing_botocore_validation_logs_and_labels_no_sensitive_value(
    relay: Relay, logs: Logs, lambda_context: Any
) -> None:
    # A queued event botocore refuses, whose report would quote the values (wrong types)
    dead_letters = relay.dead_letters
    event = {**DEVICE_EVENT, "StatusCode": ATTRIBUTE_VALUE, "UserId": [USER_ID], "Message": {"m": MESSAGE}}

    # It is forwarded, then it is dead-lettered naming members only
    assert forwarder.lambda_handler(sqs_event(queued(event)), lambda_context) == {"batchItemFailures": []}
    assert len(dead_letters.sent) == 1
    assert not [value for value in SENSITIVE if value in _dead_letter_attributes(dead_letters)]
    logs.assert_nothing_sensitive()


def test_malformed_and_unrouteable_messages_log_and_label_no_sensitive_value(
    relay: Relay, logs: Logs, lambda_context: Any
) -> None:
    dead_letters = relay.dead_letters
    truncated = queued(DEVICE_EVENT)[:-7]
    wrong_type = json.dumps(
        {"connectorId": CONNECTOR, "webhookId": "w", "index": USER_ID, "receivedAt": 1, "event": {}}
    )
    other_connector = queued({**DEVICE_EVENT, "ConnectorId": "other-" + DEVICE_ID})
    forwarder.lambda_handler(sqs_event(truncated, wrong_type, other_connector), lambda_context)
    assert len(dead_letters.sent) == 3
    assert not [value for value in SENSITIVE if value in _dead_letter_attributes(dead_letters)]
    logs.assert_nothing_sensitive()


@pytest.mark.parametrize(("code", "status"), [("ThrottlingException", 429), ("InternalServerException", 500)])
def test_transient_failures_log_no_sensitive_value(
    relay: Relay, logs: Logs, lambda_context: Any, code: str, status: int
) -> None:
    service = relay.service
    service.failure = (code, status)
    response = forwarder.lambda_handler(sqs_event(queued(DEVICE_EVENT)), lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    logs.assert_nothing_sensitive()


def test_event_that_cannot_be_dead_lettered_logs_no_sensitive_value(
    relay: Relay, logs: Logs, lambda_context: Any
) -> None:
    service, dead_letters = relay.service, relay.dead_letters
    service.failure, dead_letters.broken = ("ValidationException", 400), True
    response = forwarder.lambda_handler(sqs_event(queued(DEVICE_EVENT)), lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    logs.assert_nothing_sensitive()


# --- The capture itself ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "how", ["receiver_logger", "forwarder_logger", "child_logger", "stdlib_logger", "print"]
)
def test_the_capture_sees_a_value_however_it_is_logged(logs: Logs, how: str) -> None:
    # A sensitive value logged one way or another (a control: the checks above must be able to fail)
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

    # The logs are checked, then the value is found
    with pytest.raises(AssertionError, match="sensitive values in the logs"):
        logs.assert_nothing_sensitive()
