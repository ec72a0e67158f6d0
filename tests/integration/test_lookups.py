"""Lookups end to end against moto's DynamoDB, SSM, Secrets Manager and SQS and a device cloud on loopback:
the correlation table's lookup entries (the command a device cloud knows by its own request id; the latest
discovery of a user and of a connector, a newer one winning, open until its deadline), the connector function
recording the id the cloud's answer carries, and the receiver's handler mapping the cloud's webhooks that name
only that id, or the user's account, to the requests recorded."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bridge_local.aws import local_client
from bridge_local.fault_proxy import serve_in_thread
from bridge_local.processes import ServerProcess
from fakes.connector import InMemoryAuthorizations, jwt
from integration import test_device_cloud_webhooks as webhooks
from integration.test_connector_tables import (
    LEASE,
    RETENTION,
    T0,
    Clock,
    Tables,
    template_tables,
    throttled,
    unreachable,
)
from integration.test_device_cloud_webhooks import Script, ScriptedCloud
from iot_standin.caller import envelope, matter_command, oauth
from iotbridge.budget import UnlimitedBudget
from iotbridge.connector.adapters import WebhookDeviceCloud, WebhookDeviceClouds
from iotbridge.connector.domain.invocations import ConnectorOperations, InvocationOutcome
from iotbridge.connector.domain.requests import DISCOVER_DEVICES, SEND_COMMAND, parse_invocation
from iotbridge.connector.ports import CloudRequest, Credential
from iotbridge.correlation.model import (
    COMMAND,
    DISCOVERY,
    LATEST_DISCOVERY,
    Begun,
    PendingRequest,
    Status,
    record_key,
)
from iotbridge.correlation.tables import ConnectorUserTable, CorrelationTable
from iotbridge.errors import DependencyUnavailableError
from iotbridge.registry.profiles import SsmConnectorProfiles
from iotbridge.registry.secrets import SecretsManagerSigningKeys
from iotbridge.send_connector_event.queued import QueuedEvent
from samples import lookups as lock_cloud
from samples.webhooks import http_api_event

from .conftest import RelayResources

# The scripted device cloud of the outbound tests.
cloud = webhooks.cloud

CONNECTOR = lock_cloud.CONNECTOR_ID
ACCOUNT = str(lock_cloud.ACCOUNT_ID)
CLOUD_REQUEST = "68c4242a9e1f4b7d8a3cfede"


@pytest.fixture
def dynamodb(moto: ServerProcess) -> Any:
    return local_client("dynamodb", moto.url, attempts=1)


@pytest.fixture
def tables(dynamodb: Any) -> Tables:
    return template_tables(dynamodb)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def correlation(dynamodb: Any, tables: Tables, clock: Clock) -> CorrelationTable:
    return CorrelationTable(dynamodb, tables.correlation, retention_seconds=RETENTION, clock=clock)


def command(trace_id: str = "trace-1", *, connector_id: str = CONNECTOR, at: float = T0) -> PendingRequest:
    return PendingRequest(COMMAND, connector_id, trace_id, ACCOUNT, requested_at=at, deadline=at + 60)


def discovery(
    discovery_id: str = "disc1", *, user: str | None = ACCOUNT, at: float = T0, deadline_in: float = 600
) -> PendingRequest:
    return PendingRequest(
        DISCOVERY, CONNECTOR, discovery_id, user, requested_at=at, deadline=at + deadline_in
    )


# --- The command a device cloud knows by its own request id ------------------------------------------------


def test_a_cloud_request_id_finds_its_command_as_long_as_the_command_s_entry_is_kept(
    correlation: CorrelationTable, clock: Clock
) -> None:
    request = command()

    assert correlation.record_cloud_request_id(request, CLOUD_REQUEST) is True

    assert correlation.lookup(COMMAND, CONNECTOR, CLOUD_REQUEST) == "trace-1"
    clock.now = request.deadline + RETENTION - 1
    assert correlation.lookup(COMMAND, CONNECTOR, CLOUD_REQUEST) == "trace-1"
    # Past it: gone, whether or not DynamoDB's time to live has removed the entry yet
    clock.now = request.deadline + RETENTION + 1
    assert correlation.lookup(COMMAND, CONNECTOR, CLOUD_REQUEST) is None


def test_a_cloud_request_id_is_the_connector_s_own(correlation: CorrelationTable) -> None:
    correlation.record_cloud_request_id(command(), CLOUD_REQUEST)

    assert correlation.lookup(COMMAND, "another-connector", CLOUD_REQUEST) is None
    assert correlation.lookup(COMMAND, CONNECTOR, "another-request") is None
    assert correlation.lookup(COMMAND, CONNECTOR, None) is None


def test_recording_the_same_again_is_idempotent_and_another_command_cannot_take_the_id(
    correlation: CorrelationTable, clock: Clock
) -> None:
    first = command("trace-1")
    correlation.record_cloud_request_id(first, CLOUD_REQUEST)

    again = correlation.record_cloud_request_id(first, CLOUD_REQUEST)
    other = correlation.record_cloud_request_id(command("trace-2"), CLOUD_REQUEST)

    assert (again, other) == (True, False)
    assert correlation.lookup(COMMAND, CONNECTOR, CLOUD_REQUEST) == "trace-1"
    # Once the first has expired, the id may name a new command
    clock.now = first.deadline + RETENTION + 1
    assert correlation.record_cloud_request_id(command("trace-3", at=clock.now), CLOUD_REQUEST) is True
    assert correlation.lookup(COMMAND, CONNECTOR, CLOUD_REQUEST) == "trace-3"


def test_the_lookup_entries_keep_no_user_id_or_cloud_id_in_their_keys_and_stay_out_of_the_sweep(
    dynamodb: Any, tables: Tables, correlation: CorrelationTable, clock: Clock
) -> None:
    correlation.record_cloud_request_id(command(), CLOUD_REQUEST)
    correlation.begin(discovery(), LEASE)

    keys = [item["id"]["S"] for item in dynamodb.scan(TableName=tables.correlation)["Items"]]
    clock.now += 10_000
    report = correlation.expire_overdue(UnlimitedBudget())

    assert sorted(key.split("#")[0] for key in keys) == [
        "cloudcmd",
        "discovery",
        "latestdiscovery",
        "latestdiscovery",
    ]
    assert not [key for key in keys if ACCOUNT in key or CLOUD_REQUEST in key]
    assert report.expired == {DISCOVERY: 1, COMMAND: 0}  # only the discovery's own entry awaited an answer


# --- The latest discovery of a user and of a connector ---------------------------------------------------


def test_a_discovery_begun_is_the_latest_of_its_user_and_of_its_connector(
    correlation: CorrelationTable,
) -> None:
    assert correlation.begin(discovery("disc1"), LEASE) is Begun.NEW

    assert correlation.lookup(DISCOVERY, CONNECTOR, ACCOUNT) == "disc1"
    assert correlation.lookup(DISCOVERY, CONNECTOR, None) == "disc1"
    assert correlation.lookup(DISCOVERY, CONNECTOR, "another-user") is None
    assert correlation.lookup(DISCOVERY, "another-connector", ACCOUNT) is None


def test_a_newer_discovery_wins_and_an_older_one_recorded_later_does_not(
    correlation: CorrelationTable,
) -> None:
    # GIVEN a discovery requested at T0 + 10
    correlation.begin(discovery("newer", at=T0 + 10), LEASE)

    # WHEN one requested earlier is recorded after it (an invocation that was slower to get there)
    correlation.begin(discovery("older", at=T0), LEASE)

    # THEN the newer stays the latest, of the user and of the connector
    assert correlation.lookup(DISCOVERY, CONNECTOR, ACCOUNT) == "newer"
    assert correlation.lookup(DISCOVERY, CONNECTOR, None) == "newer"
    # AND a newer one still wins
    correlation.begin(discovery("newest", at=T0 + 20), LEASE)
    assert correlation.lookup(DISCOVERY, CONNECTOR, ACCOUNT) == "newest"


def test_another_user_s_discovery_is_the_connector_s_latest_but_not_this_user_s(
    correlation: CorrelationTable,
) -> None:
    correlation.begin(discovery("mine", at=T0), LEASE)

    correlation.begin(discovery("theirs", user="another-user", at=T0 + 5), LEASE)

    assert correlation.lookup(DISCOVERY, CONNECTOR, ACCOUNT) == "mine"
    assert correlation.lookup(DISCOVERY, CONNECTOR, "another-user") == "theirs"
    assert correlation.lookup(DISCOVERY, CONNECTOR, None) == "theirs"


def test_a_discovery_is_open_until_its_deadline_answered_or_not(
    correlation: CorrelationTable, clock: Clock
) -> None:
    # GIVEN a discovery handed over and answered once (a cloud may announce each device in its own webhook)
    request = discovery(deadline_in=600)
    correlation.begin(request, LEASE)
    correlation.handed_over(request)
    correlation.answered(DISCOVERY, CONNECTOR, request.request_id)

    # THEN it is found until its deadline, and not after
    clock.now = request.deadline
    assert correlation.lookup(DISCOVERY, CONNECTOR, ACCOUNT) == request.request_id
    clock.now = request.deadline + 1
    assert correlation.lookup(DISCOVERY, CONNECTOR, ACCOUNT) is None
    assert correlation.lookup(DISCOVERY, CONNECTOR, None) is None


def test_a_discovery_released_is_no_longer_the_latest(correlation: CorrelationTable) -> None:
    request = discovery()
    correlation.begin(request, LEASE)

    correlation.release(request)

    assert correlation.lookup(DISCOVERY, CONNECTOR, ACCOUNT) is None
    assert correlation.lookup(DISCOVERY, CONNECTOR, None) is None


def test_a_first_invocation_released_after_a_retry_took_over_leaves_the_retry_s_latest(
    correlation: CorrelationTable, clock: Clock
) -> None:
    first = discovery(at=T0)
    correlation.begin(first, LEASE)
    clock.now += LEASE + 1
    retry = discovery(at=clock.now)
    assert correlation.begin(retry, LEASE) is Begun.NEW

    correlation.release(first)

    assert correlation.lookup(DISCOVERY, CONNECTOR, ACCOUNT) == "disc1"


def test_a_discovery_whose_latest_cannot_be_recorded_is_not_recorded_at_all(
    moto: ServerProcess, dynamodb: Any, tables: Tables, clock: Clock
) -> None:
    # GIVEN a table that takes the discovery's entry but refuses the writes of its latest-discovery entries
    proxy = serve_in_thread(
        moto.url, {"PutItem": {"refuse": {LATEST_DISCOVERY: "ProvisionedThroughputExceededException"}}}
    )
    try:
        client = local_client("dynamodb", proxy.url, attempts=1)
        table = CorrelationTable(client, tables.correlation, retention_seconds=RETENTION, clock=clock)
        request = discovery()

        # WHEN the discovery begins
        with pytest.raises(DependencyUnavailableError):
            table.begin(request, LEASE)
    finally:
        proxy.shutdown()
        proxy.server_close()

    # THEN its entry is gone again, so that the invocation's retry begins it afresh
    found = dynamodb.get_item(
        TableName=tables.correlation, Key={"id": {"S": request.key}}, ConsistentRead=True
    )
    assert "Item" not in found
    again = CorrelationTable(dynamodb, tables.correlation, retention_seconds=RETENTION)
    assert again.begin(request, LEASE) is Begun.NEW


LOOKUP_CALLS: dict[str, Callable[[CorrelationTable], object]] = {
    "lookup_command": lambda t: t.lookup(COMMAND, CONNECTOR, CLOUD_REQUEST),
    "lookup_discovery": lambda t: t.lookup(DISCOVERY, CONNECTOR, ACCOUNT),
    "record_cloud_request_id": lambda t: t.record_cloud_request_id(command(), CLOUD_REQUEST),
    "begin_discovery": lambda t: t.begin(discovery(), LEASE),
}


@pytest.mark.parametrize("call", LOOKUP_CALLS)
def test_a_throttled_or_unreachable_table_is_unavailable_to_lookups(
    moto: ServerProcess, tables: Tables, call: str
) -> None:
    with throttled(moto) as client, pytest.raises(DependencyUnavailableError) as raised:
        LOOKUP_CALLS[call](CorrelationTable(client, tables.correlation, retention_seconds=RETENTION))
    assert raised.value.reason == "correlation"
    with pytest.raises(DependencyUnavailableError):
        LOOKUP_CALLS[call](CorrelationTable(unreachable(), tables.correlation, retention_seconds=RETENTION))


# --- The device cloud's answer to a command ---------------------------------------------------------------


@dataclass
class Deployment:
    """The lock cloud's connector in moto: its profile (naming the cloud on loopback), the receiver's
    signing secret and the connector function's outbound secret, and the connector's two tables."""

    relay: RelayResources
    tables: Tables
    outbound_prefix: str
    dynamodb: Any

    def clouds(self) -> WebhookDeviceClouds:
        return WebhookDeviceClouds(
            SsmConnectorProfiles(
                local_client("ssm", self.relay.endpoint), prefix=self.relay.profile_prefix, max_age_seconds=0
            ),
            SecretsManagerSigningKeys(
                local_client("secretsmanager", self.relay.endpoint),
                prefix=self.outbound_prefix,
                max_age_seconds=300,
            ),
            allow_loopback=True,
        )

    def operations(self) -> ConnectorOperations:
        return ConnectorOperations(
            device_clouds=self.clouds(),
            requests=CorrelationTable(self.dynamodb, self.tables.correlation, retention_seconds=RETENTION),
            users=ConnectorUserTable(self.dynamodb, self.tables.users),
            authorizations=InMemoryAuthorizations({}),
        )

    def put_profile(self, document: dict[str, Any]) -> None:
        local_client("ssm", self.relay.endpoint).put_parameter(
            Name=self.relay.profile_prefix + CONNECTOR,
            Value=json.dumps(document),
            Type="String",
            Overwrite=True,
        )

    def entry(self, kind: str, request_id: str) -> dict[str, Any] | None:
        key = record_key(kind, CONNECTOR, request_id)
        found = self.dynamodb.get_item(
            TableName=self.tables.correlation, Key={"id": {"S": key}}, ConsistentRead=True
        )
        item = found.get("Item")
        return dict(item) if item is not None else None


@pytest.fixture
def deployment(relay: RelayResources, dynamodb: Any, tables: Tables, cloud: ScriptedCloud) -> Deployment:
    outbound_prefix = f"test-{uuid.uuid4().hex[:10]}/device-clouds/"
    secrets = local_client("secretsmanager", relay.endpoint)
    secrets.create_secret(Name=relay.secret_prefix + CONNECTOR, SecretString=lock_cloud.SECRET)
    secrets.create_secret(Name=outbound_prefix + CONNECTOR, SecretString=lock_cloud.OUTBOUND_SECRET)
    found = Deployment(relay, tables, outbound_prefix, dynamodb)
    found.put_profile(lock_cloud.profile_document(cloud.url))
    return found


class Seconds:
    def remaining_seconds(self) -> float:
        return 1.5


def invoke(deployment: Deployment, operation: str, **members: Any) -> InvocationOutcome:
    token = jwt({"sub": lock_cloud.ACCOUNT_ID})
    event = envelope(operation, CONNECTOR, oauth(token), **members)
    return deployment.operations().handle(parse_invocation(event), Seconds())


def unlock(deployment: Deployment, trace_id: str) -> InvocationOutcome:
    members = {
        "traceId": trace_id,
        "connectorDeviceId": "lock-1",
        "endpoints": matter_command("1", "0x0101", "0x01"),
    }
    return invoke(deployment, SEND_COMMAND, **members)


def answering(cloud: ScriptedCloud, body: bytes) -> None:
    cloud.script = Script(status=200, body=body, headers={"Content-Type": "application/json"})


def lock_command(trace_id: str = "trace-1") -> CloudRequest:
    return CloudRequest(
        operation="sendCommand",
        connector_id=CONNECTOR,
        credential=Credential("OAuth2.0", "token"),
        request_id=trace_id,
        connector_device_id="lock-1",
    )


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        (json.dumps({"requestId": CLOUD_REQUEST}).encode(), CLOUD_REQUEST),
        (b'{"requestId": 4711}', "4711"),
        (b'{"requestId": ""}', None),
        (b'{"requestId": {"id": "x"}}', None),
        (b'{"statusCode": 100}', None),
        (b"accepted", None),
        (b"", None),
        (json.dumps({"requestId": "x" * 257}).encode(), None),
    ],
    ids=["text", "number", "empty", "object", "missing", "not-json", "no-body", "too-long"],
)
def test_the_cloud_s_request_id_is_read_from_its_answer_where_the_profile_says(
    deployment: Deployment, cloud: ScriptedCloud, answer: bytes, found: str | None
) -> None:
    answering(cloud, answer)
    device_cloud = deployment.clouds().for_connector(CONNECTOR)
    assert isinstance(device_cloud, WebhookDeviceCloud)

    assert device_cloud.send_command(lock_command(), timeout_seconds=1.0).cloud_request_id == found
    assert len(cloud.received) == 1


def test_without_request_id_in_the_profile_no_id_is_taken_from_the_answer(
    deployment: Deployment, cloud: ScriptedCloud
) -> None:
    document = lock_cloud.profile_document(cloud.url)
    del document["deviceCloud"]["requestId"]
    deployment.put_profile(document)
    answering(cloud, json.dumps({"requestId": CLOUD_REQUEST}).encode())
    device_cloud = deployment.clouds().for_connector(CONNECTOR)
    assert device_cloud is not None

    assert device_cloud.send_command(lock_command(), timeout_seconds=1.0).cloud_request_id is None


# --- The whole loop: the connector function records, the receiver looks up -------------------------------


Post = Callable[[Any], dict[str, Any]]


@pytest.fixture
def post(deployment: Deployment, monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> Iterator[Post]:
    """The receiver's handler, with the connector's tables; posts a webhook of the lock cloud, signed."""
    import webhook_receiver

    monkeypatch.setenv("CORRELATION_TABLE", deployment.tables.correlation)
    monkeypatch.setenv("CONNECTOR_USER_TABLE", deployment.tables.users)
    webhook_receiver.wiring.rebuild()

    def send(body: Any) -> dict[str, Any]:
        raw = lock_cloud.encode(body)
        event = http_api_event(
            raw, lock_cloud.signed(raw), connector_id=CONNECTOR, timestamp=int(time.time())
        )
        response: dict[str, Any] = webhook_receiver.lambda_handler(event, lambda_context)
        response["json"] = json.loads(response["body"])
        return response

    yield send
    webhook_receiver.wiring.rebuild()


def queued(relay: RelayResources) -> list[dict[str, Any]]:
    sqs = local_client("sqs", relay.endpoint)
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=relay.queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            found.append(QueuedEvent.from_message_body(message["Body"]).event)
            sqs.delete_message(QueueUrl=relay.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_a_command_result_naming_only_the_cloud_s_id_reaches_send_connector_event_with_the_trace_id(
    deployment: Deployment, cloud: ScriptedCloud, post: Post
) -> None:
    # GIVEN a command the device cloud took, answering with its own request id
    answering(cloud, json.dumps({"requestId": CLOUD_REQUEST}).encode())
    trace_id = f"trace-{uuid.uuid4().hex[:12]}=_1"
    outcome = unlock(deployment, trace_id)
    assert outcome.code == 200
    assert {m.name for m in outcome.all_measurements()} == {"CommandsRequested", "CloudRequestIdsRecorded"}

    # WHEN the cloud's webhook of the outcome comes, naming only its own id
    response = post(lock_cloud.action_result(CLOUD_REQUEST))

    # THEN the command's response is queued with the command's TraceId, and the command is answered
    assert (response["statusCode"], response["json"]["queued"]) == (202, 1)
    [event] = queued(deployment.relay)
    assert (event["Operation"], event["TraceId"]) == ("DEVICE_COMMAND_RESPONSE", trace_id)
    entry = deployment.entry(COMMAND, trace_id)
    assert entry is not None and entry["status"] == {"S": Status.ANSWERED}


def test_locks_announced_for_the_account_answer_its_latest_discovery_each_in_its_own_webhook(
    deployment: Deployment, cloud: ScriptedCloud, post: Post
) -> None:
    # GIVEN a discovery of the user the token names (the account), handed to the cloud
    answering(cloud, b"")
    discovery_id = "disc" + uuid.uuid4().hex
    assert invoke(deployment, DISCOVER_DEVICES, deviceDiscoveryId=discovery_id).code == 200

    # WHEN the cloud announces the account's two locks, one webhook each
    first = post(lock_cloud.masterdata(smartlock_id=1001, name="Front door"))
    second = post(lock_cloud.masterdata(smartlock_id=1002, name="Back door"))

    # THEN both are DEVICE_DISCOVERY of that discovery (answered by the first, still open for the second)
    assert [first["statusCode"], second["statusCode"]] == [202, 202]
    events = queued(deployment.relay)
    assert [(e["Operation"], e["DeviceDiscoveryId"], e["UserId"]) for e in events] == [
        ("DEVICE_DISCOVERY", discovery_id, ACCOUNT)
    ] * 2
    assert [e["Devices"][0]["ConnectorDeviceId"] for e in events] == ["1001", "1002"]
    entry = deployment.entry(DISCOVERY, discovery_id)
    assert entry is not None and entry["status"] == {"S": Status.ANSWERED}


def test_a_result_for_an_id_nobody_recorded_is_skipped_and_reported(
    deployment: Deployment, post: Post
) -> None:
    response = post(lock_cloud.action_result("never-recorded"))

    assert response["statusCode"] == 202
    assert response["json"]["queued"] == 0
    assert response["json"]["skipped"][0]["rule"] == "action-result"
    assert queued(deployment.relay) == []


def test_the_receiver_answers_503_while_the_lookups_table_cannot_be_read(
    deployment: Deployment, post: Post, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webhook_receiver

    monkeypatch.setenv("CORRELATION_TABLE", f"missing-{uuid.uuid4().hex[:8]}")
    webhook_receiver.wiring.rebuild()

    response = post(lock_cloud.action_result(CLOUD_REQUEST))

    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "5"
    assert queued(deployment.relay) == []
