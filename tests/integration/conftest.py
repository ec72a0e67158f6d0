"""Integration tests talk to real servers on 127.0.0.1: moto's server (SQS, Secrets Manager, DynamoDB,
SSM)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bridge_local.aws import local_client
from bridge_local.processes import ServerProcess, start_moto_server
from fakes.receiver import GROUP_KEY
from iotbridge import clients
from samples.webhooks import DEMO_CONNECTOR_ID, DEMO_SECRET

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def moto() -> Iterator[ServerProcess]:
    server = start_moto_server()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class RelayResources:
    endpoint: str
    queue_url: str
    dead_letter_queue_url: str
    table: str
    secret_prefix: str
    profile_prefix: str  # SSM parameters of connector profiles; none exist until a test puts one
    connector_id: str
    secret: str
    group_key: bytes


def _create_relay_resources(endpoint: str) -> RelayResources:
    """The template's queues, table and a connector secret, under names unique to one test."""
    suffix = uuid.uuid4().hex[:12]
    sqs = local_client("sqs", endpoint)
    fifo = {
        "FifoQueue": "true",
        "ContentBasedDeduplication": "false",
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
    }
    dlq_url = sqs.create_queue(QueueName=f"dlq-{suffix}.fifo", Attributes=fifo)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=f"events-{suffix}.fifo",
        Attributes={
            **fifo,
            "VisibilityTimeout": "2",
            "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"3"}}',
        },
    )["QueueUrl"]
    table = f"idempotency-{suffix}"
    dynamodb = local_client("dynamodb", endpoint)
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )
    prefix = f"test-{suffix}/connectors/"
    local_client("secretsmanager", endpoint).create_secret(
        Name=prefix + DEMO_CONNECTOR_ID, SecretString=DEMO_SECRET
    )
    return RelayResources(
        endpoint=endpoint,
        queue_url=queue_url,
        dead_letter_queue_url=dlq_url,
        table=table,
        secret_prefix=prefix,
        profile_prefix=f"/test-{suffix}/profiles/",
        connector_id=DEMO_CONNECTOR_ID,
        secret=DEMO_SECRET,
        group_key=GROUP_KEY,
    )


@pytest.fixture
def relay(moto: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[RelayResources]:
    """Fresh relay resources in moto, and the environment a deployed function would have."""
    resources = _create_relay_resources(moto.url)
    for service in ("SQS", "SECRETSMANAGER", "DYNAMODB", "SSM"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto.url)
    monkeypatch.setenv("EVENT_QUEUE_URL", resources.queue_url)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", resources.dead_letter_queue_url)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", resources.table)
    monkeypatch.setenv("SIGNING_SECRET_PREFIX", resources.secret_prefix)
    monkeypatch.setenv("PROFILE_PARAMETER_PREFIX", resources.profile_prefix)
    monkeypatch.setenv("MESSAGE_GROUP_KEY", resources.group_key.decode())
    clients.reset_clients()
    yield resources
    clients.reset_clients()
