"""The discovery queue, its dead-letter queue and the correlation table's record of a discovery's fetch,
against moto in this process: the template's queues and table, through botocore's real clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import moto
import pytest

from bridge_local.aws import local_client
from bridge_local.lambda_runtime import LOCAL_REGION
from bridge_local.resources import create_queues, create_tables
from bridge_local.sam_template import LocalResolver, read
from iotbridge import clients
from iotbridge.connector.discovery import SqsDiscoveryDeadLetters, SqsDiscoveryJobs, parse_job
from iotbridge.connector.ports import DiscoveryJob, JobCredential
from iotbridge.correlation.model import DISCOVERY, AnswerMatch, PendingRequest, record_key
from iotbridge.correlation.tables import CorrelationTable
from iotbridge.errors import DependencyUnavailableError

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
CONNECTOR = "switchbot-home"
DISCOVERY_ID = "358275hbk3qr"
NOW = 1_795_430_400.0


@dataclass
class Aws:
    sqs: Any
    dynamodb: Any
    queue_url: str
    dead_letter_url: str
    table: CorrelationTable
    table_name: str

    def received(self, queue_url: str) -> list[dict[str, Any]]:
        found = self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
        )
        messages: list[dict[str, Any]] = found.get("Messages", [])
        return messages

    def entry(self) -> dict[str, Any]:
        key = record_key(DISCOVERY, CONNECTOR, DISCOVERY_ID)
        item: dict[str, Any] = self.dynamodb.get_item(TableName=self.table_name, Key={"id": {"S": key}})[
            "Item"
        ]
        return item


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto in this process, with the template's discovery queues and correlation table."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", LOCAL_REGION)
    monkeypatch.setenv("AWS_REGION", LOCAL_REGION)
    with moto.mock_aws():
        clients.reset_clients()
        spec = read(TEMPLATE)
        resolver = LocalResolver(spec)
        sqs = local_client("sqs", None, attempts=1)
        dynamodb = local_client("dynamodb", None, attempts=1)
        queues = create_queues(sqs, spec, resolver, visibility_timeout=None)
        table_name = create_tables(dynamodb, spec, resolver)["CorrelationTable"]
        table = CorrelationTable(dynamodb, table_name, retention_seconds=3600, clock=lambda: NOW)
        yield Aws(
            sqs,
            dynamodb,
            queues["DiscoveryQueue"].url,
            queues["DiscoveryDeadLetterQueue"].url,
            table,
            table_name,
        )
    clients.reset_clients()


def job() -> DiscoveryJob:
    return DiscoveryJob(
        connector_id=CONNECTOR,
        device_discovery_id=DISCOVERY_ID,
        user_id="user-1",
        credential=JobCredential.oauth("token-abc"),
        payload={"connectorId": CONNECTOR, "deviceDiscoveryId": DISCOVERY_ID, "extra": [1, 2]},
        requested_at=NOW,
    )


def begun(table: CorrelationTable) -> PendingRequest:
    pending = PendingRequest(DISCOVERY, CONNECTOR, DISCOVERY_ID, "user-1", NOW, NOW + 600)
    table.begin(pending, 2.0)
    table.handed_over(pending)
    return pending


# --- the queues -----------------------------------------------------------------------------------------


def test_a_submitted_job_is_on_the_discovery_queue_as_the_worker_reads_it(aws: Aws) -> None:
    SqsDiscoveryJobs(aws.sqs, aws.queue_url).submit(job())

    [message] = aws.received(aws.queue_url)
    assert parse_job(message["Body"]) == job()
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"


def test_the_template_s_discovery_queue_redrives_to_its_dead_letter_queue(aws: Aws) -> None:
    attributes = aws.sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["All"])["Attributes"]

    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":DiscoveryDeadLetterQueue")
    assert redrive["maxReceiveCount"] == 5
    assert attributes["VisibilityTimeout"] == "60"
    assert "FifoQueue" not in attributes


def test_a_queue_that_cannot_be_reached_is_a_dependency_unavailable(aws: Aws) -> None:
    missing = aws.queue_url.rsplit("/", 1)[0] + "/NoSuchQueue"

    with pytest.raises(DependencyUnavailableError) as caught:
        SqsDiscoveryJobs(aws.sqs, missing).submit(job())
    assert caught.value.reason == "discovery_queue"
    with pytest.raises(DependencyUnavailableError) as dead:
        SqsDiscoveryDeadLetters(aws.sqs, missing).put("{}")
    assert dead.value.reason == "discovery_dead_letter_queue"


def test_a_dead_lettered_job_is_kept_on_the_dead_letter_queue(aws: Aws) -> None:
    SqsDiscoveryDeadLetters(aws.sqs, aws.dead_letter_url).put('{"reason":"device_cloud_status_401"}')

    [message] = aws.received(aws.dead_letter_url)
    assert json.loads(message["Body"]) == {"reason": "device_cloud_status_401"}


# --- the correlation table ------------------------------------------------------------------------------


def test_a_discovery_s_device_count_is_recorded_on_its_entry(aws: Aws) -> None:
    begun(aws.table)

    assert aws.table.record_discovery(CONNECTOR, DISCOVERY_ID, devices=120, failure=None) is True

    entry = aws.entry()
    assert entry["devices"] == {"N": "120"}
    assert "failure" not in entry
    assert entry["status"] == {"S": "PENDING"}  # the status is the answer's, not the fetch's
    assert entry["fetchedAt"] == {"N": f"{NOW:.3f}"}


def test_a_later_outcome_replaces_the_earlier_one(aws: Aws) -> None:
    begun(aws.table)
    aws.table.record_discovery(CONNECTOR, DISCOVERY_ID, devices=None, failure="device_cloud_status_5xx")

    aws.table.record_discovery(CONNECTOR, DISCOVERY_ID, devices=3, failure=None)

    entry = aws.entry()
    assert entry["devices"] == {"N": "3"} and "failure" not in entry


def test_a_failure_is_recorded_by_its_reason(aws: Aws) -> None:
    begun(aws.table)

    aws.table.record_discovery(CONNECTOR, DISCOVERY_ID, devices=None, failure="device_cloud_status_401")

    entry = aws.entry()
    assert entry["failure"] == {"S": "device_cloud_status_401"} and "devices" not in entry


def test_no_entry_is_created_for_a_discovery_the_table_does_not_have(aws: Aws) -> None:
    assert aws.table.record_discovery(CONNECTOR, DISCOVERY_ID, devices=1, failure=None) is False
    assert aws.table.record_discovery("other", DISCOVERY_ID, devices=1, failure=None) is False

    key = record_key(DISCOVERY, CONNECTOR, DISCOVERY_ID)
    assert "Item" not in aws.dynamodb.get_item(TableName=aws.table_name, Key={"id": {"S": key}})


def test_a_discovery_reads_as_answered_once_it_is_marked(aws: Aws) -> None:
    begun(aws.table)
    assert aws.table.is_answered(DISCOVERY, CONNECTOR, DISCOVERY_ID) is False

    assert aws.table.answered(DISCOVERY, CONNECTOR, DISCOVERY_ID) is AnswerMatch.ANSWERED

    assert aws.table.is_answered(DISCOVERY, CONNECTOR, DISCOVERY_ID) is True
    assert aws.table.is_answered(DISCOVERY, "other-connector", DISCOVERY_ID) is False
    assert aws.table.is_answered(DISCOVERY, CONNECTOR, "unknown") is False


def test_a_table_that_cannot_be_reached_is_a_dependency_unavailable(aws: Aws) -> None:
    table = CorrelationTable(aws.dynamodb, "NoSuchTable", retention_seconds=3600, clock=lambda: NOW)

    with pytest.raises(DependencyUnavailableError):
        table.is_answered(DISCOVERY, CONNECTOR, DISCOVERY_ID)
    with pytest.raises(DependencyUnavailableError):
        table.record_discovery(CONNECTOR, DISCOVERY_ID, devices=1, failure=None)
