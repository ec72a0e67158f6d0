"""The webhook receiver end to end against moto's server: signed webhooks in, FIFO messages out."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bridge_local.aws import local_client
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.webhook_receiver.adapters import IdempotencyTableDeduplicator
from samples.webhooks import BODIES, INVALID_BODY, encode, http_api_event, signed_headers

from .conftest import RelayResources

Post = Callable[..., dict[str, Any]]


@pytest.fixture
def post(relay: RelayResources, lambda_context: Any) -> Iterator[Post]:
    import webhook_receiver

    webhook_receiver.wiring.rebuild()

    def send(
        body: bytes,
        *,
        webhook_id: str = "msg_1",
        timestamp: int | None = None,
        secret: str | None = None,
        connector_id: str | None = None,
        headers: dict[str, str] | None = None,
        base64_body: bool = False,
    ) -> dict[str, Any]:
        ts = int(time.time()) if timestamp is None else timestamp
        signed = signed_headers(body, webhook_id=webhook_id, timestamp=ts, secret=secret or relay.secret)
        event = http_api_event(
            body, {**signed, **(headers or {})}, connector_id=connector_id or relay.connector_id
        )
        if base64_body:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
        response = webhook_receiver.lambda_handler(event, lambda_context)
        response["json"] = json.loads(response["body"])
        return response

    yield send
    webhook_receiver.wiring.rebuild()


def rewire() -> None:
    """Build the receiver's wiring again from the environment as a test changed it."""
    import webhook_receiver

    webhook_receiver.wiring.rebuild()


def queued_messages(relay: RelayResources) -> list[dict[str, Any]]:
    sqs = local_client("sqs", relay.endpoint)
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=relay.queue_url,
            MaxNumberOfMessages=10,
            MessageSystemAttributeNames=["All"],
            VisibilityTimeout=30,
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        # A FIFO group stays locked while received messages are undeleted, as for a real consumer.
        for message in batch:
            sqs.delete_message(QueueUrl=relay.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.mark.parametrize("operation", sorted(BODIES))
def test_signed_webhook_for_each_operation_is_queued_with_its_body(
    operation: str, post: Post, relay: RelayResources
) -> None:
    body = BODIES[operation]
    response = post(encode(body), webhook_id=f"msg_{operation}")

    assert response["statusCode"] == 202
    assert response["json"] == {"webhookId": f"msg_{operation}", "queued": 1}
    [message] = queued_messages(relay)
    queued = QueuedEvent.from_message_body(message["Body"])
    assert queued.connector_id == relay.connector_id
    assert queued.event == body
    assert queued.send_connector_event_params() == {"ConnectorId": relay.connector_id, **body}
    assert message["Attributes"]["MessageGroupId"] == queued.message_group_id(relay.group_key)


def test_array_of_events_is_queued_in_order(post: Post, relay: RelayResources) -> None:
    events = [{**BODIES["device-event"], "Message": f"uri: auc://lamp-0042/step{i}"} for i in range(12)]
    response = post(json.dumps(events).encode())

    assert response["statusCode"] == 202
    assert response["json"]["queued"] == 12
    messages = [QueuedEvent.from_message_body(m["Body"]) for m in queued_messages(relay)]
    assert [m.index for m in messages] == list(range(12))
    assert [m.event["Message"] for m in messages] == [e["Message"] for e in events]


def emf_metrics(stdout: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric-format documents a handler printed, one per invocation (the cold
    start metric, a document of its own, left out)."""
    documents = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [d for d in documents if "_aws" in d and "ColdStart" not in d]


def data_points(value: float | list[float]) -> list[float]:
    # EMF allows one value or an array of values for a metric.
    return value if isinstance(value, list) else [value]


def test_an_accepted_webhook_is_one_data_point_counting_its_events(
    post: Post, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [{**BODIES["device-event"], "Message": f"uri: auc://lamp-0042/step{i}"} for i in range(3)]
    capsys.readouterr()
    post(json.dumps(events).encode(), webhook_id="msg_metrics")
    post(json.dumps(events).encode(), webhook_id="msg_metrics")  # a repeat is counted apart

    first, repeat = emf_metrics(capsys.readouterr().out)
    assert data_points(first["EventsAccepted"]) == [3]
    declared = first["_aws"]["CloudWatchMetrics"][0]
    assert {"Name": "EventsAccepted", "Unit": "Count"} in declared["Metrics"]
    assert declared["Namespace"] == "IoTBridge"
    assert "EventsAccepted" not in repeat
    assert data_points(repeat["WebhooksDuplicate"]) == [1]


def test_the_dedupe_record_outlives_the_signature_tolerance_whatever_the_window(
    post: Post, relay: RelayResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A window shorter than the tolerance would let a replay with a still-valid signature be queued again:
    # the relay's own tolerance, and with profiles on the longest one a profile may set (an hour).
    monkeypatch.setenv("DEDUPE_WINDOW_SECONDS", "60")
    monkeypatch.setenv("SIGNATURE_TOLERANCE_SECONDS", "900")
    dynamodb = local_client("dynamodb", relay.endpoint)
    for profiles, webhook_id, outlives in (
        ("", "msg_window", 900),
        (relay.profile_prefix, "msg_window_p", 3600),
    ):
        monkeypatch.setenv("PROFILE_PARAMETER_PREFIX", profiles)
        rewire()
        before = int(time.time())
        post(encode(BODIES["device-event"]), webhook_id=webhook_id)

        key = {"id": {"S": IdempotencyTableDeduplicator.record_id(relay.connector_id, webhook_id)}}
        record = dynamodb.get_item(TableName=relay.table, Key=key, ConsistentRead=True)["Item"]
        assert before + outlives <= int(record["expiration"]["N"]) <= int(time.time()) + outlives


def test_duplicate_webhook_id_is_acknowledged_the_same_and_queued_once(
    post: Post, relay: RelayResources
) -> None:
    body = encode(BODIES["device-event"])
    first = post(body, webhook_id="msg_dup", timestamp=int(time.time()) - 5)
    # A re-signed resend: same id, new timestamp.
    again = post(body, webhook_id="msg_dup")

    assert first["statusCode"] == again["statusCode"] == 202
    assert first["json"] == again["json"] == {"webhookId": "msg_dup", "queued": 1}
    assert len(queued_messages(relay)) == 1


def test_202_body_has_exactly_the_members_the_published_contract_requires(post: Post) -> None:
    from tools.contract import openapi

    schema = openapi()["components"]["schemas"]["WebhookAccepted"]
    body = post(encode(BODIES["device-event"]))["json"]
    # What a profiled connector's skipped events add is optional; nothing else is there.
    assert set(body) == set(schema["required"])
    assert set(schema["properties"]) - set(schema["required"]) == {"skipped", "moreSkipped"}


def test_same_webhook_id_for_another_connector_is_not_a_duplicate(post: Post, relay: RelayResources) -> None:
    other = "other-connector"
    local_client("secretsmanager", relay.endpoint).create_secret(
        Name=relay.secret_prefix + other, SecretString=relay.secret
    )
    body = encode(BODIES["device-event"])
    assert post(body, webhook_id="msg_shared")["statusCode"] == 202
    assert post(body, webhook_id="msg_shared", connector_id=other)["json"]["queued"] == 1
    assert len(queued_messages(relay)) == 2


@pytest.mark.parametrize(
    "forgery",
    [
        {"secret": "whsec_" + base64.b64encode(b"an attacker's guess at a secret").decode()},
        {"connector_id": "no-such-connector"},
        {"timestamp": 1_000_000_000},
        {"headers": {"webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl"}},
        {"headers": {"webhook-signature": "garbage"}},
        {"connector_id": "!!!"},
    ],
    ids=[
        "wrong-secret",
        "unknown-connector",
        "stale-timestamp",
        "wrong-signature",
        "malformed",
        "bad-connector",
    ],
)
def test_forgeries_get_one_generic_401_and_nothing_is_queued(
    forgery: dict[str, Any], post: Post, relay: RelayResources
) -> None:
    response = post(encode(BODIES["device-event"]), **forgery)

    assert response["statusCode"] == 401
    assert response["json"] == {"message": "The request could not be authenticated."}
    assert queued_messages(relay) == []


def test_invalid_body_is_422_naming_each_field_without_echoing_values(
    post: Post, relay: RelayResources
) -> None:
    response = post(encode(INVALID_BODY))

    assert response["statusCode"] == 422
    paths = {problem["path"] for problem in response["json"]["errors"]}
    assert {"StatusCode", "MatterEndpoint"} <= paths
    assert "lamp-0042" not in response["body"]
    assert queued_messages(relay) == []


def test_body_over_the_limit_is_413(
    post: Post, relay: RelayResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webhook_receiver

    monkeypatch.setenv("MAX_BODY_BYTES", "2048")
    webhook_receiver.wiring.rebuild()
    body = encode({**BODIES["device-event"], "Message": "x" * 2100})

    assert post(body)["statusCode"] == 413
    assert queued_messages(relay) == []


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("application/json; charset=utf-8", 202),
    ],
)
def test_content_type_must_be_json(content_type: str, status: int, post: Post) -> None:
    response = post(encode(BODIES["device-event"]), headers={"content-type": content_type})
    assert response["statusCode"] == status


@pytest.mark.parametrize("raw", [b"{not json", b'{"a": NaN}', b"\xff\xfe", b"[" * 100_000])
def test_malformed_json_is_400(raw: bytes, post: Post) -> None:
    response = post(raw, base64_body=True)
    assert response["statusCode"] == 400


def test_base64_encoded_body_is_verified_on_its_decoded_bytes(post: Post, relay: RelayResources) -> None:
    response = post(encode(BODIES["command-response"]), base64_body=True)
    assert response["statusCode"] == 202
    assert len(queued_messages(relay)) == 1


def test_queue_failure_is_503_with_retry_after_and_the_retry_succeeds(
    post: Post, relay: RelayResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webhook_receiver

    monkeypatch.setenv("EVENT_QUEUE_URL", relay.queue_url.replace("events-", "missing-"))
    webhook_receiver.wiring.rebuild()
    body = encode(BODIES["device-event"])
    failed = post(body, webhook_id="msg_retry")
    assert failed["statusCode"] == 503
    assert int(failed["headers"]["Retry-After"]) > 0

    monkeypatch.setenv("EVENT_QUEUE_URL", relay.queue_url)
    webhook_receiver.wiring.rebuild()
    retried = post(body, webhook_id="msg_retry")
    assert retried["statusCode"] == 202
    assert retried["json"]["queued"] == 1
    assert len(queued_messages(relay)) == 1
