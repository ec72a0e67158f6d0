"""The AWS services answered in the measuring process: their state, their refusals, their hook into botocore.

No timing is asserted here: benchmarks never fail on a slow machine.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.answered_aws import AnsweredAws, calls_in_a_row, clients_in_process
from bridge_local.answered import answered_client
from fakes.receiver import GROUP_KEY
from iotbridge.correlation.model import COMMAND, Begun, PendingRequest
from iotbridge.correlation.tables import ConnectorUserTable, CorrelationTable
from iotbridge.registry.profiles import SsmConnectorProfiles
from iotbridge.registry.secrets import SecretsManagerSigningKeys
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.webhook_receiver.adapters import IdempotencyTableDeduplicator, SqsFifoEventQueue
from iotbridge.webhook_receiver.ports import WebhookConflictError, WebhookInProgressError


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _deduplicator(clock: _Clock) -> tuple[IdempotencyTableDeduplicator, AnsweredAws]:
    # The receiver's own deduplication code drives the answers through botocore, so they answer what it asks.
    aws = AnsweredAws(clock=clock)
    client = answered_client(
        "dynamodb", lambda request, operation: aws.serve(request, f"before-send.dynamodb.{operation}")
    )
    dedupe = IdempotencyTableDeduplicator(
        client, "t", window_seconds=1_000, fingerprint_key=GROUP_KEY, clock=clock
    )
    return dedupe, aws


def test_the_dedupe_table_refuses_a_live_record_and_returns_it_like_dynamodb() -> None:
    clock = _Clock(1_000.0)
    dedupe, aws = _deduplicator(clock)
    dedupe.once("c", "w", lambda: {"queued": 1})
    clock.now = 1_500.0

    assert dedupe.once("c", "w", lambda: {"queued": 2}) == ({"queued": 1}, True)
    ((record,),) = [list(aws.items.values())]
    assert record["expiration"] == {"N": "2000"}
    assert record["status"] == {"S": "COMPLETED"}
    assert aws.calls == {"dynamodb.PutItem": 2, "dynamodb.UpdateItem": 1}


def test_the_dedupe_table_lets_an_expired_record_be_replaced() -> None:
    clock = _Clock(1_000.0)
    dedupe, aws = _deduplicator(clock)
    dedupe.once("c", "w", lambda: {"queued": 1})
    clock.now = 2_001.0

    assert dedupe.once("c", "w", lambda: {"queued": 2}) == ({"queued": 2}, False)
    ((record,),) = [list(aws.items.values())]
    assert record["expiration"] == {"N": "3001"}


def test_the_dedupe_table_returns_the_record_s_fingerprint_so_another_body_is_a_conflict() -> None:
    clock = _Clock(1_000.0)
    dedupe, _ = _deduplicator(clock)
    dedupe.once("c", "w", lambda: {"queued": 1}, body_digest="a" * 64)

    assert dedupe.once("c", "w", lambda: {"queued": 2}, body_digest="a" * 64) == ({"queued": 1}, True)
    with pytest.raises(WebhookConflictError):
        dedupe.once("c", "w", lambda: {"queued": 3}, body_digest="b" * 64)


def test_a_failed_hand_off_releases_the_record_and_a_held_one_is_in_progress() -> None:
    clock = _Clock(1_000.0)
    dedupe, aws = _deduplicator(clock)

    def interrupted() -> dict[str, int]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dedupe.once("c", "w", interrupted)
    assert aws.items == {}

    def while_held() -> dict[str, int]:
        with pytest.raises(WebhookInProgressError):
            dedupe.once("c", "w", lambda: {"queued": 2})
        return {"queued": 1}

    assert dedupe.once("c", "w", while_held) == ({"queued": 1}, False)


def test_the_queue_answers_every_entry_of_a_batch_and_keeps_only_a_count() -> None:
    aws = AnsweredAws(keep=False)
    client = answered_client(
        "sqs", lambda request, operation: aws.serve(request, f"before-send.sqs.{operation}")
    )
    queue = SqsFifoEventQueue(
        client, "https://sqs.us-east-1.amazonaws.com/000000000000/q.fifo", group_key=GROUP_KEY
    )
    events = [
        QueuedEvent("c", "w", n, 0, {"Operation": "DEVICE_EVENT", "ConnectorDeviceId": f"d{n}"})
        for n in range(12)
    ]

    queue.enqueue(events)

    assert aws.messages_sent == 12
    assert aws.calls == {"sqs.SendMessageBatch": 2}  # at most ten entries a request


def test_an_operation_the_benchmark_does_not_answer_is_recorded_and_refused() -> None:
    aws = AnsweredAws()
    client = answered_client(
        "sqs", lambda request, operation: aws.serve(request, f"before-send.sqs.{operation}")
    )

    with pytest.raises(Exception, match="NotAnsweredByTheBenchmark"):
        client.list_queues()
    assert aws.unanswered == {"sqs.ListQueues": 1}


def test_installing_answers_every_client_made_afterwards_from_any_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3
    import botocore.session

    from bridge_local.aws import local_client

    # Installing replaces how every session makes clients: undone after this test.
    monkeypatch.setattr(botocore.session.Session, "create_client", botocore.session.Session.create_client)
    aws = AnsweredAws(secrets={"s": "v"})
    aws.install(made_so_far=False)
    from_botocore = local_client("secretsmanager", "https://example.invalid")
    from_boto3 = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("secretsmanager")

    assert from_botocore.get_secret_value(SecretId="s")["SecretString"] == "v"
    assert from_boto3.get_secret_value(SecretId="s")["SecretString"] == "v"
    assert aws.calls == {"secrets-manager.GetSecretValue": 2}


def test_the_clients_a_module_made_at_import_are_found_to_be_answered() -> None:
    from bridge_local.aws import local_client

    made_earlier = local_client("sqs", "https://example.invalid")

    assert any(found is made_earlier for found in clients_in_process())


def test_calls_in_a_row_count_only_calls_that_waited_for_one_another() -> None:
    assert calls_in_a_row([(0, 1), (1, 2), (2, 3)]) == 3  # one after another
    assert calls_in_a_row([(0, 1)] * 10) == 1  # side by side
    assert calls_in_a_row([(0, 1), (1, 2), (1.5, 2.5), (2.5, 3)]) == 3  # a list, then workers
    assert calls_in_a_row([]) == 0


def _answered(aws: AnsweredAws, service: str) -> Any:
    # botocore's events name a service by its id: "secrets-manager" for the "secretsmanager" client.
    named = {"secretsmanager": "secrets-manager"}.get(service, service)
    return answered_client(
        service, lambda request, operation: aws.serve(request, f"before-send.{named}.{operation}")
    )


def _pending(request_id: str) -> PendingRequest:
    return PendingRequest(COMMAND, "lumen-home", request_id, "user-1", 1_000.0, 1_060.0)


def test_the_correlation_table_records_a_request_once_and_a_retry_finds_it_handed_over() -> None:
    # The connector's own table code drives the answers through botocore, so they answer what it asks.
    clock = _Clock(1_000.0)
    aws = AnsweredAws(clock=clock)
    table = CorrelationTable(_answered(aws, "dynamodb"), "correlation", retention_seconds=600, clock=clock)
    request = _pending("trace-1")

    assert table.begin(request, lease_seconds=2) is Begun.NEW
    assert table.begin(request, lease_seconds=2) is Begun.IN_PROGRESS  # still being handed over
    table.handed_over(request)

    assert table.begin(request, lease_seconds=2) is Begun.HANDED_OVER
    ((entry,),) = [list(aws.items.values())]
    assert entry["status"] == {"S": "PENDING"}
    assert "leaseUntil" not in entry  # REMOVE applied as well as SET
    assert aws.calls == {"dynamodb.PutItem": 3, "dynamodb.UpdateItem": 1}


def test_a_released_request_is_forgotten_so_a_retry_asks_again() -> None:
    clock = _Clock(1_000.0)
    aws = AnsweredAws(clock=clock)
    table = CorrelationTable(_answered(aws, "dynamodb"), "correlation", retention_seconds=600, clock=clock)
    request = _pending("trace-2")
    table.begin(request, lease_seconds=2)

    table.release(request)

    assert aws.items == {}
    assert table.begin(request, lease_seconds=2) is Begun.NEW


def test_the_user_table_reads_back_the_status_the_connector_put() -> None:
    aws = AnsweredAws()
    users = ConnectorUserTable(_answered(aws, "dynamodb"), "users", max_age_seconds=0)

    users.set_status("lumen-home", "user-1", active=False)

    assert users.is_deactivated("lumen-home", "user-1")
    assert not users.is_deactivated("lumen-home", "user-2")


def test_the_connector_finds_its_profile_and_outbound_secret_where_the_template_says() -> None:
    from bench.connector import connector_services
    from bench.layout import CONNECTOR, template_environment
    from bridge_local.demo_clouds import LUMEN

    url = "http://127.0.0.1:9/aws-iot/requests"
    aws = AnsweredAws(**connector_services(url))
    variables, _ = template_environment(CONNECTOR)
    profiles = SsmConnectorProfiles(
        _answered(aws, "ssm"), prefix=variables["PROFILE_PARAMETER_PREFIX"], max_age_seconds=60
    )
    secrets = SecretsManagerSigningKeys(
        _answered(aws, "secretsmanager"), prefix=variables["DEVICE_CLOUD_SECRET_PREFIX"], max_age_seconds=60
    )

    profile = profiles.profile_for(LUMEN.connector_id)
    assert profile is not None and profile.device_cloud is not None
    assert profile.device_cloud.url == url
    assert secrets.secret_values(LUMEN.connector_id, None) == (LUMEN.outbound_secret,)
