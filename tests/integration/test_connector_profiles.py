"""Profiled connectors end to end against moto's server: the profile in SSM, the secret in Secrets Manager,
each demo cloud's native webhooks signed its own way (Slack-style ones by slack_sdk itself) through the
receiver's handler, and FIFO messages out that botocore's own validator accepts for SendConnectorEvent."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from slack_sdk.signature import SignatureVerifier

from bridge_local.aws import local_client
from fakes.log_capture import captured_logs
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.webhook_receiver.offline import try_webhook
from samples.device_clouds import AERIE, DEMO_CLOUDS, LUMEN, DemoCloud
from samples.webhooks import http_api_event

from .conftest import RelayResources

Post = Callable[..., dict[str, Any]]


@pytest.fixture
def profiled(relay: RelayResources) -> RelayResources:
    """The relay's resources with both demo clouds' connectors: profiles in SSM, secrets in Secrets
    Manager."""
    ssm = local_client("ssm", relay.endpoint)
    secrets = local_client("secretsmanager", relay.endpoint)
    for cloud in DEMO_CLOUDS:
        ssm.put_parameter(
            Name=relay.profile_prefix + cloud.connector_id,
            Value=cloud.profile_file.read_text(),
            Type="String",
        )
        secrets.create_secret(Name=relay.secret_prefix + cloud.connector_id, SecretString=cloud.secret)
    return relay


@pytest.fixture
def post(profiled: RelayResources, lambda_context: Any) -> Iterator[Post]:
    import webhook_receiver

    webhook_receiver.wiring.rebuild()

    def send(cloud: DemoCloud, body: bytes, headers: dict[str, str] | None = None) -> dict[str, Any]:
        event = http_api_event(
            body, headers if headers is not None else cloud.signed(body), connector_id=cloud.connector_id
        )
        response = webhook_receiver.lambda_handler(event, lambda_context)
        response["json"] = json.loads(response["body"])
        return response

    yield send
    webhook_receiver.wiring.rebuild()


def queued(relay: RelayResources) -> list[QueuedEvent]:
    sqs = local_client("sqs", relay.endpoint)
    found: list[QueuedEvent] = []
    while batch := sqs.receive_message(
        QueueUrl=relay.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30
    ).get("Messages", []):
        for message in batch:
            found.append(QueuedEvent.from_message_body(message["Body"]))
            sqs.delete_message(QueueUrl=relay.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def botocore_problems(params: dict[str, Any]) -> str:
    model = botocore.session.get_session().get_service_model("iot-managed-integrations")
    shape = model.operation_model("SendConnectorEvent").input_shape
    report = ParamValidator().validate(params, shape)
    return report.generate_report() if report.has_errors() else ""


def slack_headers(body: bytes, timestamp: int, secret: str = AERIE.secret) -> dict[str, str]:
    """The sensors cloud's headers, signed by Slack's own SDK (the scheme it copies)."""
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    assert signature is not None  # typed optional: the SDK signs nothing without a timestamp
    return {"X-Aerie-Signature": signature, "X-Aerie-Request-Timestamp": str(timestamp)}


@pytest.mark.parametrize(
    ("cloud", "payload"),
    [(c, name) for c in DEMO_CLOUDS for name in c.payload_names()],
    ids=lambda v: v if isinstance(v, str) else v.connector_id,
)
def test_each_native_sample_gets_the_relays_verdict_and_the_tool_gives_the_same(
    cloud: DemoCloud, payload: str, post: Post, profiled: RelayResources
) -> None:
    body = cloud.payload(payload)
    headers = cloud.signed(body)
    response = post(cloud, body, headers)
    verdict = try_webhook(
        cloud.profile(), body=body, headers=headers, secret=cloud.secret, connector_id=cloud.connector_id
    )

    assert response["statusCode"] == verdict.answer.status
    assert response["json"] == verdict.answer.body
    messages = queued(profiled)
    assert [m.send_connector_event_params() for m in messages] == verdict.events
    if response["statusCode"] == 202:
        assert messages, "an accepted sample queues at least one event"
    for message in messages:
        assert botocore_problems(message.send_connector_event_params()) == ""


def test_slack_sdk_signed_sensor_readings_are_queued_and_the_sdk_agrees_on_every_verdict(
    post: Post, profiled: RelayResources
) -> None:
    body = AERIE.payload("readings")
    now = int(time.time())
    verifier = SignatureVerifier(AERIE.secret)
    good = slack_headers(body, now)
    cases = {
        "signed now": (body, good, 202),
        "tampered": (body.replace(b"71.6", b"91.6"), good, 401),
        "stale": (body, slack_headers(body, now - 600), 401),
        "other secret": (body, slack_headers(body, now, secret="not aerie's"), 401),
    }
    for name, (sent, headers, status) in cases.items():
        response = post(AERIE, sent, headers)
        assert response["statusCode"] == status, name
        slack_says = verifier.is_valid(
            body=sent, timestamp=headers["X-Aerie-Request-Timestamp"], signature=headers["X-Aerie-Signature"]
        )
        assert slack_says == (status == 202), name

    events = [m.event for m in queued(profiled)]
    assert [e["ConnectorDeviceId"] for e in events] == ["aer-th-2201", "aer-door-17", "aer-pir-3"]
    climate = events[0]["MatterEndpoint"]["clusters"]
    # 71.6 °F = 22 °C, in hundredths; 43.5 % in hundredths; 88 % battery in half-percents.
    assert climate == [
        {"id": "0x0402", "attributes": {"0x0000": 2200}},
        {"id": "0x0405", "attributes": {"0x0000": 4350}},
        {"id": "0x002F", "attributes": {"0x000C": 176}},
    ]


def test_a_profile_change_in_ssm_applies_once_the_cache_age_passes(
    post: Post, profiled: RelayResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    rewired(monkeypatch, PROFILE_CACHE_SECONDS="0")
    body = LUMEN.payload("state")
    assert post(LUMEN, body)["json"]["queued"] == 2

    document = json.loads(LUMEN.profile_file.read_text())
    document["rules"] = [r for r in document["rules"] if r["name"] != "plug-state"]
    local_client("ssm", profiled.endpoint).put_parameter(
        Name=profiled.profile_prefix + LUMEN.connector_id,
        Value=json.dumps(document),
        Type="String",
        Overwrite=True,
    )
    # The cloud's next delivery (the lights cloud does not sign its delivery id, so the same bytes again
    # would be the first delivery repeated, answered as it was)
    later = body.replace(b"2026-11-30T18:04:11Z", b"2026-11-30T18:05:11Z")
    assert later != body
    assert post(LUMEN, later)["json"]["queued"] == 1  # the plug's state now matches no rule: ignored


def test_an_invalid_profile_in_ssm_refuses_its_connector_and_is_logged_once_without_values(
    post: Post, profiled: RelayResources, capfd: pytest.CaptureFixture[str]
) -> None:
    import webhook_receiver

    document = json.loads(LUMEN.profile_file.read_text())
    document["verification"]["algorithm"] = "md5"
    local_client("ssm", profiled.endpoint).put_parameter(
        Name=profiled.profile_prefix + LUMEN.connector_id,
        Value=json.dumps(document),
        Type="String",
        Overwrite=True,
    )
    body = LUMEN.payload("state")
    with captured_logs(capfd, [webhook_receiver.logger], [LUMEN.secret]) as logs:
        answers = [post(LUMEN, body)["statusCode"] for _ in range(3)]
        logs.assert_nothing_sensitive()
        invalid = [
            line for line in logs.structured() if line.get("message", "").startswith("connector profile")
        ]
    assert answers == [401, 401, 401]
    assert len(invalid) == 1
    assert invalid[0]["problems"] == ["verification.algorithm: Input should be 'sha256', 'sha1' or 'sha512'"]


def rewired(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """The receiver's wiring built again with these environment variables changed."""
    import webhook_receiver

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    webhook_receiver.wiring.rebuild()


def test_an_unreachable_profile_store_is_a_503_to_retry(
    post: Post, profiled: RelayResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    rewired(monkeypatch, AWS_ENDPOINT_URL_SSM="http://127.0.0.1:9", AWS_CONNECT_TIMEOUT_SECONDS="0.2")
    response = post(LUMEN, LUMEN.payload("state"))
    assert response["statusCode"] == 503 and response["headers"]["Retry-After"] == "5"
    assert queued(profiled) == []


def test_with_profiles_switched_off_a_native_webhook_is_an_unsigned_standard_one(
    post: Post, monkeypatch: pytest.MonkeyPatch
) -> None:
    rewired(monkeypatch, PROFILE_PARAMETER_PREFIX="")
    assert post(LUMEN, LUMEN.payload("state"))["statusCode"] == 401


def test_a_batch_of_100_native_events_is_queued_in_order_per_device_and_its_bad_event_reported(
    post: Post, profiled: RelayResources
) -> None:
    # GIVEN Lumen's profile skipping events with a problem, and one delivery of 100 states of 5 bulbs, one of
    # them out of range
    document = json.loads(LUMEN.profile_file.read_text()) | {"onError": "skip"}
    local_client("ssm", profiled.endpoint).put_parameter(
        Name=profiled.profile_prefix + LUMEN.connector_id,
        Value=json.dumps(document),
        Type="String",
        Overwrite=True,
    )
    states: list[dict[str, Any]] = [
        {
            "type": "device.state",
            "kind": "light",
            "deviceId": f"bulb-{n % 5}",
            "state": {"power": "on", "brightness": 987 if n == 42 else n},
        }
        for n in range(100)
    ]
    # WHEN it is posted to the handler
    response = post(LUMEN, json.dumps({"accountId": "acct-1", "events": states}).encode())
    # THEN 99 are queued and the bad one is reported by its rule and path, without its value
    assert response["statusCode"] == 202
    assert response["json"]["queued"] == 99
    assert response["json"]["skipped"] == [
        {
            "rule": "light-state",
            "path": "events[42].state.brightness",
            "reason": "LevelControl.CurrentLevel must be 0..254",
        }
    ]
    # AND each is a message of its own, every device's in the order sent, each one AWS would accept
    messages = queued(profiled)
    assert len(messages) == 99
    for device in range(5):
        mine = [m for m in messages if m.event["ConnectorDeviceId"] == f"bulb-{device}"]
        assert [m.index for m in mine] == sorted(m.index for m in mine)
    assert sorted(m.index for m in messages) == list(range(99))
    assert all(botocore_problems(m.send_connector_event_params()) == "" for m in messages)
