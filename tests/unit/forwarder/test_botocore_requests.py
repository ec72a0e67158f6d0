"""Every request the forwarder's adapters make passes botocore's own validation for the real service models.

Real botocore clients from the project's client factory, pointed at a port nothing listens on, with
botocore's Stubber answering: nothing ever leaves the machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from iotbridge import clients
from iotbridge.forwarder.adapters import ManagedIntegrationsConnectorEvents, SqsDeadLetterQueue
from iotbridge.forwarder.domain.forwarding import Disposition, Forwarder, dead_letter_deduplication_id
from iotbridge.forwarder.edge import batch_response, records_from_event
from iotbridge.forwarder.settings import ForwarderSettings
from iotbridge.send_connector_event.queued import QueuedEvent

SAMPLE_EVENT = Path(__file__).resolve().parents[3] / "events" / "forwarder-sqs-fifo.json"
NOWHERE = "http://127.0.0.1:9"
DEAD_LETTER_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/iot-cloud-bridge-dead-letters.fifo"


@dataclass(frozen=True)
class RealClients:
    """The forwarder's two botocore clients, as its wiring builds them."""

    managed_integrations: Any
    sqs: Any


@pytest.fixture
def real_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[RealClients]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_IOT_MANAGED_INTEGRATIONS": NOWHERE,
        "AWS_ENDPOINT_URL_SQS": NOWHERE,
        "SEND_MAX_ATTEMPTS": "1",
        "DEAD_LETTER_QUEUE_URL": DEAD_LETTER_QUEUE_URL,
    }.items():
        monkeypatch.setenv(name, value)
    clients.reset_clients()
    settings = ForwarderSettings.from_environment()
    yield RealClients(
        managed_integrations=clients.client(
            "iot-managed-integrations", settings.clients, attempts=settings.send_max_attempts
        ),
        sqs=clients.client("sqs", settings.clients),
    )
    clients.reset_clients()


def relay_for(managed_integrations: Any, sqs: Any) -> Forwarder:
    return Forwarder(
        ManagedIntegrationsConnectorEvents(managed_integrations),
        SqsDeadLetterQueue(sqs, DEAD_LETTER_QUEUE_URL),
        # One group at a time: the Stubber answers strictly in the order responses were queued.
        workers=1,
    )


def test_sample_events_are_sent_as_valid_send_connector_event_requests(real_clients: RealClients) -> None:
    # The sample batch and a real iot-managed-integrations client expecting exactly its events
    managed_integrations, sqs = real_clients.managed_integrations, real_clients.sqs
    records = records_from_event(json.loads(SAMPLE_EVENT.read_text()))
    with Stubber(managed_integrations) as stub:
        for sqs_record in records:
            expected = QueuedEvent.from_message_body(sqs_record.body).send_connector_event_params()
            stub.add_response("send_connector_event", {"ConnectorId": expected["ConnectorId"]}, expected)

        # The batch is forwarded
        report = relay_for(managed_integrations, sqs).forward_batch(records)

        # Every request passed botocore's validation and matched the event it came from
        stub.assert_no_pending_responses()
    assert report.count(Disposition.FORWARDED) == 3


def test_dead_letter_message_is_a_valid_fifo_send_message_request(real_clients: RealClients) -> None:
    # An event the service rejects, and a real SQS client expecting the dead-letter message
    managed_integrations, sqs = real_clients.managed_integrations, real_clients.sqs
    [sqs_record, *_] = records_from_event(json.loads(SAMPLE_EVENT.read_text()))
    assert sqs_record.group_id is not None
    queued = QueuedEvent.from_message_body(sqs_record.body)
    with Stubber(managed_integrations) as service, Stubber(sqs) as queue:
        service.add_client_error(
            "send_connector_event", service_error_code="ValidationException", http_status_code=400
        )

        def text(value: str) -> dict[str, str]:
            return {"DataType": "String", "StringValue": value}

        queue.add_response(
            "send_message",
            {"MessageId": "b2c3d4e5-0000-4000-8000-00000000dead", "SequenceNumber": "18890000000000000100"},
            {
                "QueueUrl": DEAD_LETTER_QUEUE_URL,
                "MessageBody": sqs_record.body,
                "MessageGroupId": sqs_record.group_id,
                "MessageDeduplicationId": dead_letter_deduplication_id(sqs_record),
                "MessageAttributes": {
                    "ErrorCode": text("ValidationException"),
                    "ErrorMessage": text("SendConnectorEvent failed with ValidationException (HTTP 400)"),
                    "SourceMessageId": text(sqs_record.message_id),
                    "ConnectorId": text(queued.connector_id),
                    "WebhookId": text(queued.webhook_id),
                },
            },
        )

        # It is forwarded
        report = relay_for(managed_integrations, sqs).forward_batch([sqs_record])

        # The dead-letter request passed SQS's model validation and carried what an operator needs
        service.assert_no_pending_responses()
        queue.assert_no_pending_responses()
    assert batch_response(report) == {"batchItemFailures": []}
    assert report.outcomes[0].disposition is Disposition.DEAD_LETTERED


def test_event_the_model_rejects_never_leaves_the_client(real_clients: RealClients) -> None:
    # An event missing its required Operation, and a client with nothing stubbed (nothing listens)
    managed_integrations, sqs = real_clients.managed_integrations, real_clients.sqs
    body = QueuedEvent("acme-cloud-connector", "wh-no-op", 0, 1, {"UserId": "u-1"}).to_message_body()
    [sqs_record] = records_from_event(
        {"Records": [{"messageId": "m-1", "body": body, "attributes": {"MessageGroupId": "g"}}]}
    )
    with Stubber(sqs) as queue:
        queue.add_response("send_message", {"MessageId": "m-dead"})

        # It is forwarded
        [outcome] = relay_for(managed_integrations, sqs).forward_batch([sqs_record]).outcomes

        # Botocore's own validation stopped it and it was dead-lettered as such
        queue.assert_no_pending_responses()
    assert outcome.disposition is Disposition.DEAD_LETTERED
    assert outcome.error_code == "ParamValidationError"
