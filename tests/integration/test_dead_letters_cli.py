"""`python -m iotbridge dead-letters` against moto's SQS, on messages the forwarder really dead-lettered.

Events are queued as the webhook receiver queues them, received from the FIFO event queue, and run
through the forwarder's domain and its real SQS dead-letter adapter; SendConnectorEvent (the forwarder
tests' in-memory managed integrations) refuses them permanently, so the dead-letter queue holds exactly
what the forwarder writes there.
"""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bridge_local.aws import local_client
from fakes.aws import client_error
from fakes.forwarder import FakeManagedIntegrations
from fakes.receiver import GROUP_KEY
from iotbridge.__main__ import main
from iotbridge.forwarder.adapters import ManagedIntegrationsConnectorEvents, SqsDeadLetterQueue
from iotbridge.forwarder.domain.forwarding import Forwarder, SqsRecord
from iotbridge.operations import dead_letters
from iotbridge.send_connector_event.queued import QueuedEvent

pytestmark = pytest.mark.integration

DEMO, OTHER = "demo-connector", "other-connector"


def event(connector: str, device: str, webhook_id: str, operation: str = "DEVICE_EVENT") -> QueuedEvent:
    return QueuedEvent(
        connector,
        webhook_id,
        0,
        1_795_430_400,
        {
            "Operation": operation,
            "ConnectorDeviceId": device,
            "UserId": f"user-of-{device}",
            "Message": f"onoff of {device} {webhook_id}",  # the fake names the webhook by the last word
            "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x0006", "attributes": {"0x0000": True}}]},
        },
    )


def dead_letter(relay: Any, events: list[QueuedEvent], codes: dict[str, str]) -> dict[str, str]:
    """Queue the events, then forward them all with each send refused by its webhook's code; returns
    each webhook id's group id."""
    sqs = local_client("sqs", relay.endpoint)
    for queued in events:
        sqs.send_message(
            QueueUrl=relay.queue_url,
            MessageBody=queued.to_message_body(),
            MessageGroupId=queued.message_group_id(GROUP_KEY),
            MessageDeduplicationId=queued.deduplication_id,
        )
    service = FakeManagedIntegrations()
    for webhook_id, code in codes.items():
        service.fail(webhook_id, client_error(code, operation="SendConnectorEvent"))
    forwarder = Forwarder(
        ManagedIntegrationsConnectorEvents(service),
        SqsDeadLetterQueue(local_client("sqs", relay.endpoint, attempts=1), relay.dead_letter_queue_url),
    )
    while received := receive(sqs, relay.queue_url):
        records = [
            SqsRecord(
                m["MessageId"],
                m["Body"],
                m["Attributes"]["MessageGroupId"],
                m["Attributes"]["MessageDeduplicationId"],
                int(m["Attributes"]["ApproximateReceiveCount"]),
            )
            for m in received
        ]
        report = forwarder.forward_batch(records)
        assert not report.unacknowledged()
        for m in received:
            sqs.delete_message(QueueUrl=relay.queue_url, ReceiptHandle=m["ReceiptHandle"])
    assert service.accepted == []
    return {queued.webhook_id: queued.message_group_id(GROUP_KEY) for queued in events}


def receive(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    return list(
        sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
    )


def drain(relay: Any, queue_url: str) -> list[tuple[str, str]]:
    """Every message of a FIFO queue as (group id, webhook id), each group in order; the queue is emptied."""
    sqs = local_client("sqs", relay.endpoint)
    found = []
    while received := receive(sqs, queue_url):
        for m in received:
            found.append((m["Attributes"]["MessageGroupId"], json.loads(m["Body"])["webhookId"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return found


def in_group(messages: list[tuple[str, str]], group_id: str) -> list[str]:
    return [webhook for group, webhook in messages if group == group_id]


def cli(relay: Any, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    flags = ["--endpoint-url", relay.endpoint, "--dead-letter-queue-url", relay.dead_letter_queue_url]
    if argv[0] == "redrive":
        flags += ["--queue-url", relay.queue_url]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(["dead-letters", *argv, *flags], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def parked(relay: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Seven dead-lettered events: demo's device A (3, ValidationException) and B (2,
    ResourceNotFoundException, command responses), other's device C (2, ValidationException)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    events = [
        event(DEMO, "dev-a", "a1"),
        event(DEMO, "dev-b", "b1", "DEVICE_COMMAND_RESPONSE"),
        event(OTHER, "dev-c", "c1"),
        event(DEMO, "dev-a", "a2"),
        event(DEMO, "dev-b", "b2", "DEVICE_COMMAND_RESPONSE"),
        event(DEMO, "dev-a", "a3"),
        event(OTHER, "dev-c", "c2"),
    ]
    codes = {"a1": "ValidationException", "a2": "ValidationException", "a3": "ValidationException"}
    codes |= {"b1": "ResourceNotFoundException", "b2": "ResourceNotFoundException"}
    codes |= {"c1": "ValidationException", "c2": "ValidationException"}
    return dead_letter(relay, events, codes)


def test_list_groups_by_connector_operation_and_error_code_and_removes_nothing(
    relay: Any, parked: Any
) -> None:
    code, out, _ = cli(relay, "list", "--json")

    assert code == 0
    listed = json.loads(out)
    counts = {(g["connector"], g["operation"], g["errorCode"]): g["count"] for g in listed["groups"]}
    assert counts == {
        (DEMO, "DEVICE_EVENT", "ValidationException"): 3,
        (DEMO, "DEVICE_COMMAND_RESPONSE", "ResourceNotFoundException"): 2,
        (OTHER, "DEVICE_EVENT", "ValidationException"): 2,
    }
    assert all(g["firstSeen"] <= g["lastSeen"] for g in listed["groups"])
    # Everything is still there, visible at once
    assert len(drain(relay, relay.dead_letter_queue_url)) == 7


def test_list_as_a_table_and_filtered(relay: Any, parked: Any) -> None:
    code, out, _ = cli(relay, "list", "--connector", OTHER)

    assert code == 0
    header, *rows = out.strip().splitlines()
    assert header.split()[:3] == ["CONNECTOR", "OPERATION", "ERROR"]
    assert len(rows) == 1 and rows[0].split()[:4] == [OTHER, "DEVICE_EVENT", "ValidationException", "2"]


def test_show_gives_the_error_and_masks_user_and_device_ids_unless_asked(relay: Any, parked: Any) -> None:
    first = drain_count(relay)[0]

    code, out, _ = cli(relay, "show", first["MessageId"])
    _, unmasked, _ = cli(relay, "show", first["MessageId"], "--unmask")

    assert code == 0
    shown = json.loads(out)
    assert shown["errorCode"] in {"ValidationException", "ResourceNotFoundException"}
    assert shown["errorMessage"].startswith("SendConnectorEvent failed with")
    device = json.loads(unmasked)["event"]["event"]["ConnectorDeviceId"]
    assert device.startswith("dev-")
    assert "dev-" not in out and "user-of" not in out and "onoff" not in out
    assert shown["event"]["event"]["ConnectorDeviceId"].startswith("<masked")
    assert shown["event"]["event"]["Operation"] in {"DEVICE_EVENT", "DEVICE_COMMAND_RESPONSE"}


def test_redrive_is_a_dry_run_unless_applied(relay: Any, parked: Any) -> None:
    code, out, _ = cli(relay, "redrive", "--connector", DEMO)

    assert code == 0
    assert "5 messages would be redriven" in out
    assert drain(relay, relay.queue_url) == []
    assert len(drain(relay, relay.dead_letter_queue_url)) == 7


def test_redrive_moves_only_matching_messages_in_their_groups_order_and_deletes_them(
    relay: Any, parked: dict[str, str]
) -> None:
    code, out, _ = cli(
        relay, "redrive", "--apply", "--connector", DEMO, "--error-code", "ValidationException", "--json"
    )

    assert code == 0
    assert json.loads(out)["moved"] == 3
    queued = drain(relay, relay.queue_url)
    assert queued == [(parked["a1"], "a1"), (parked["a2"], "a2"), (parked["a3"], "a3")]
    left = drain(relay, relay.dead_letter_queue_url)
    assert sorted(webhook for _, webhook in left) == ["b1", "b2", "c1", "c2"]


def test_redrive_by_operation_and_age(relay: Any, parked: dict[str, str]) -> None:
    assert cli(relay, "redrive", "--apply", "--operation", "DEVICE_EVENT", "--newer-than", "1d")[0] == 0
    assert cli(relay, "redrive", "--apply", "--older-than", "1d")[1].startswith("redriven: 0 of 0")

    assert sorted(webhook for _, webhook in drain(relay, relay.queue_url)) == ["a1", "a2", "a3", "c1", "c2"]
    assert sorted(webhook for _, webhook in drain(relay, relay.dead_letter_queue_url)) == ["b1", "b2"]


class FailingNthSend:
    """A botocore SQS client whose `fail_at`th SendMessage fails (after that, sends succeed again)."""

    def __init__(self, client: Any, fail_at: int) -> None:
        self._client, self._fail_at, self.sends = client, fail_at, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def send_message(self, **params: Any) -> Any:
        self.sends += 1
        if self.sends == self._fail_at:
            raise ClientError(
                {"Error": {"Code": "InternalError", "Message": "injected"}, "ResponseMetadata": {}},
                "SendMessage",
            )
        return self._client.send_message(**params)


def redrive_with(relay: Any, client: Any, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    dead_letters.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "dead-letters",
            "redrive",
            *argv,
            "--dead-letter-queue-url",
            relay.dead_letter_queue_url,
            "--queue-url",
            relay.queue_url,
        ]
    )
    err = io.StringIO()
    return dead_letters.run(args, io.StringIO(), err, queues=dead_letters.SqsQueues(client)), err.getvalue()


def test_a_send_failing_mid_redrive_leaves_it_and_the_rest_of_its_group_and_loses_nothing(
    relay: Any, parked: dict[str, str]
) -> None:
    # GIVEN the redrive of demo's device A (3) and other's device C (2), whose second send fails
    flaky = FailingNthSend(local_client("sqs", relay.endpoint), fail_at=2)

    code, err = redrive_with(relay, flaky, "--apply", "--error-code", "ValidationException")

    # THEN it says so, and the failed message and every later one of its group stay in the dead-letter queue
    assert code == 1
    assert "InternalError" in err and "held back" in err
    moved = drain(relay, relay.queue_url)
    left = drain(relay, relay.dead_letter_queue_url)
    assert len(moved) + len(left) == 7  # nothing lost, nothing doubled
    assert {webhook for _, webhook in moved} | {webhook for _, webhook in left} == set(parked)
    # Groups are worked through one after the other: the first one's second send is the one that fails
    failed_group, other_group = sorted({parked["a1"], parked["c1"]})
    members = {group: sorted(w for w, g in parked.items() if g == group) for group in parked.values()}
    assert in_group(moved, failed_group) == members[failed_group][:1]
    assert sorted(in_group(left, failed_group)) == members[failed_group][1:]
    assert in_group(moved, other_group) == members[other_group]


def test_a_second_redrive_after_a_failure_completes_each_group_in_order(
    relay: Any, parked: dict[str, str]
) -> None:
    sqs = local_client("sqs", relay.endpoint)
    redrive_with(relay, FailingNthSend(sqs, fail_at=2), "--apply", "--error-code", "ValidationException")

    code, _ = redrive_with(relay, sqs, "--apply", "--error-code", "ValidationException")

    assert code == 0
    moved = drain(relay, relay.queue_url)
    assert in_group(moved, parked["a1"]) == ["a1", "a2", "a3"]
    assert in_group(moved, parked["c1"]) == ["c1", "c2"]


def test_purge_removes_only_matching_messages_after_the_count_is_typed(relay: Any, parked: Any) -> None:
    code, _, err = cli(relay, "purge", "--connector", OTHER, stdin="3\n")
    assert code == 1 and "not confirmed" in err
    assert len(drain_count(relay)) == 7

    code, out, err = cli(relay, "purge", "--connector", OTHER, stdin="2\n")

    assert code == 0 and "type 2 to confirm" in err and "purged: 2 of 2" in out
    assert sorted(webhook for _, webhook in drain(relay, relay.dead_letter_queue_url)) == [
        "a1",
        "a2",
        "a3",
        "b1",
        "b2",
    ]


def drain_count(relay: Any) -> list[dict[str, Any]]:
    """What one read of the dead-letter queue sees, made visible again at once."""
    sqs = local_client("sqs", relay.endpoint)
    seen: list[dict[str, Any]] = []
    while received := receive(sqs, relay.dead_letter_queue_url):
        seen.extend(received)
    for m in seen:
        sqs.change_message_visibility(
            QueueUrl=relay.dead_letter_queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
        )
    return seen


def test_purge_with_yes_does_not_ask(relay: Any, parked: Any) -> None:
    code, out, _ = cli(relay, "purge", "--error-code", "ResourceNotFoundException", "--yes")

    assert code == 0 and "purged: 2 of 2" in out
    assert len(drain(relay, relay.dead_letter_queue_url)) == 5


def test_bad_flags_and_unreachable_queues_get_a_clear_message_and_exit_code(relay: Any, parked: Any) -> None:
    assert cli(relay, "redrive", "--rate", "fast")[0] == 2
    assert cli(relay, "list", "--older-than", "yesterday")[0] == 2
    out, err = io.StringIO(), io.StringIO()
    assert main(["dead-letters", "list"], out=out, err=err) == 2
    assert "--stack" in err.getvalue()

    missing = relay.dead_letter_queue_url.rsplit("/", 1)[0] + "/no-such-queue.fifo"
    err = io.StringIO()
    code = main(
        ["dead-letters", "list", "--endpoint-url", relay.endpoint, "--dead-letter-queue-url", missing],
        out=io.StringIO(),
        err=err,
    )
    assert code == 1
    assert "ReceiveMessage failed with" in err.getvalue() and "Traceback" not in err.getvalue()


def test_the_queues_are_found_from_the_stack_outputs(relay: Any, parked: Any) -> None:
    # GIVEN a stack whose outputs name the queues, as the template's do
    template = {
        "Resources": {"Spare": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "DeadLetterQueueUrl": {"Value": relay.dead_letter_queue_url},
            "EventQueueUrl": {"Value": relay.queue_url},
        },
    }
    stack = "bridge-" + relay.table.rsplit("-", 1)[-1]  # unique in the session's moto
    local_client("cloudformation", relay.endpoint).create_stack(
        StackName=stack, TemplateBody=json.dumps(template)
    )
    out, err = io.StringIO(), io.StringIO()

    code = main(
        ["dead-letters", "redrive", "--stack", stack, "--endpoint-url", relay.endpoint, "--apply"],
        out=out,
        err=err,
    )

    assert code == 0, err.getvalue()
    assert out.getvalue().startswith("redriven: 7 of 7")
    assert len(drain(relay, relay.queue_url)) == 7


def test_a_stack_that_does_not_exist_is_named_in_a_clear_message(relay: Any, parked: Any) -> None:
    err = io.StringIO()

    code = main(
        ["dead-letters", "list", "--stack", "no-such-stack", "--endpoint-url", relay.endpoint], err=err
    )

    assert code == 1
    assert "DescribeStacks of no-such-stack failed with ValidationError" in err.getvalue()
