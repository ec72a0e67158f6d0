"""A profile's lookups: a device cloud's webhook that names its own request id, or the user's account, becomes
the DEVICE_COMMAND_RESPONSE or DEVICE_DISCOVERY of the request the connector function recorded, each distinct
key read once per webhook, every lookup counted; a miss does what `otherwise` says; the lookups' table being
unavailable is a 503 to retry."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fakes.receiver import (
    InMemoryConnectorProfiles,
    InMemoryDeduplicator,
    InMemoryEventQueue,
    InMemoryLookups,
    InMemorySigningKeys,
)
from iotbridge.profile.document import parse_profile
from iotbridge.telemetry import Measurement
from iotbridge.webhook_receiver.domain.intake import Answer, IntakeLimits, WebhookIntake, WebhookRequest
from iotbridge.webhook_receiver.domain.lookups import WebhookLookups
from iotbridge.webhook_receiver.domain.mapping import map_body
from iotbridge.webhook_receiver.edge import http_response
from iotbridge.webhook_receiver.ports import DependencyUnavailableError
from samples import lookups as cloud

NOW = 1_790_000_000
CONNECTOR = cloud.CONNECTOR_ID
TRACE_ID = "9b75f3839b6140f=_1"
CLOUD_REQUEST = "68c4242a9e1f4b7d8a3cfede"
DISCOVERY_ID = "8f3a9c2e71d54b0c"
ACCOUNT = str(cloud.ACCOUNT_ID)


class Relay:
    """One intake with the lock cloud's connector (its profile, `otherwise` as given) and what the connector
    function recorded, in memory."""

    def __init__(self, *, otherwise: Any = "skip", lookups: InMemoryLookups | None = None) -> None:
        self.profile = parse_profile(cloud.profile_document(otherwise=otherwise))
        self.queue = InMemoryEventQueue()
        self.lookups = lookups if lookups is not None else InMemoryLookups()
        self.intake = WebhookIntake(
            keys=InMemorySigningKeys({CONNECTOR: cloud.SECRET}),
            queue=self.queue,
            deduplicator=InMemoryDeduplicator(),
            limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
            profiles=InMemoryConnectorProfiles({CONNECTOR: self.profile}),
            lookups=self.lookups,
            clock=lambda: NOW,
        )

    def send(self, body: Any) -> Answer:
        raw = cloud.encode(body)
        headers = {k.lower(): v for k, v in cloud.signed(raw).items()}
        return self.intake.handle(WebhookRequest(connector_id=CONNECTOR, headers=headers, body=raw))

    def queued(self) -> list[dict[str, Any]]:
        return [m.event for m in self.queue.messages]


def lookups_counted(answer: Answer) -> dict[str, float]:
    return {m.dimensions["Outcome"]: m.value for m in answer.measurements() if m.name == "Lookups"}


# --- Hits ------------------------------------------------------------------------------------------------


def test_a_command_result_naming_the_cloud_s_request_id_answers_the_command_recorded_for_it() -> None:
    relay = Relay()
    relay.lookups.commands[(CONNECTOR, CLOUD_REQUEST)] = TRACE_ID

    answer = relay.send(cloud.action_result(CLOUD_REQUEST))

    assert (answer.status, answer.queued) == (202, 1)
    assert relay.queued() == [
        {
            "Operation": "DEVICE_COMMAND_RESPONSE",
            "TraceId": TRACE_ID,
            "ConnectorDeviceId": str(cloud.SMARTLOCK_ID),
            "StatusCode": 200,
        }
    ]
    assert lookups_counted(answer) == {"hit": 1}


def test_a_lock_announced_for_an_account_is_a_discovery_of_that_user_s_latest_discovery() -> None:
    relay = Relay()
    relay.lookups.discoveries[(CONNECTOR, ACCOUNT)] = DISCOVERY_ID

    answer = relay.send(cloud.masterdata())

    assert (answer.status, answer.queued) == (202, 1)
    [event] = relay.queued()
    assert (event["Operation"], event["DeviceDiscoveryId"], event["UserId"]) == (
        "DEVICE_DISCOVERY",
        DISCOVERY_ID,
        ACCOUNT,
    )
    assert [d["ConnectorDeviceId"] for d in event["Devices"]] == [str(cloud.SMARTLOCK_ID)]
    # The account is a number in the webhook: looked up as its text, as the token's claim recorded it
    assert relay.lookups.reads == [("discovery", CONNECTOR, ACCOUNT)]


def test_a_discovery_lookup_without_by_finds_the_connector_s_latest() -> None:
    # GIVEN a profile whose discovery lookup names no user
    document = cloud.profile_document()
    del document["rules"][1]["members"]["DeviceDiscoveryId"]["by"]
    relay = Relay()
    relay.intake = WebhookIntake(
        keys=InMemorySigningKeys({CONNECTOR: cloud.SECRET}),
        queue=relay.queue,
        deduplicator=InMemoryDeduplicator(),
        limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
        profiles=InMemoryConnectorProfiles({CONNECTOR: parse_profile(document)}),
        lookups=relay.lookups,
        clock=lambda: NOW,
    )
    relay.lookups.discoveries[(CONNECTOR, None)] = DISCOVERY_ID

    # WHEN a lock is announced
    answer = relay.send(cloud.masterdata())

    # THEN it answers the connector's latest discovery
    assert answer.status == 202
    assert relay.queued()[0]["DeviceDiscoveryId"] == DISCOVERY_ID
    assert relay.lookups.reads == [("discovery", CONNECTOR, None)]


def test_another_connector_s_records_are_not_found() -> None:
    relay = Relay(otherwise="reject")
    relay.lookups.commands[("other-connector", CLOUD_REQUEST)] = TRACE_ID

    answer = relay.send(cloud.action_result(CLOUD_REQUEST))

    assert answer.status == 422
    assert relay.queued() == []


# --- Misses ----------------------------------------------------------------------------------------------


def test_a_miss_under_skip_leaves_the_event_out_reports_it_and_queues_the_others() -> None:
    relay = Relay(otherwise="skip")
    relay.lookups.commands[(CONNECTOR, "known")] = TRACE_ID

    answer = relay.send([cloud.action_result("unknown"), cloud.action_result("known")])

    assert (answer.status, answer.queued) == (202, 1)
    assert [e["TraceId"] for e in relay.queued()] == [TRACE_ID]
    assert answer.body["skipped"] == [
        {
            "rule": "action-result",
            "path": "[0].requestId",
            "reason": "TraceId: the command lookup found nothing recorded",
        }
    ]
    assert lookups_counted(answer) == {"hit": 1, "miss": 1}
    skipped = [m for m in answer.measurements() if m.name == "SkippedEvents"]
    assert [dict(m.dimensions) for m in skipped] == [{"Rule": "action-result", "Reason": "lookup_miss"}]


def test_a_webhook_whose_every_lookup_misses_under_skip_is_acknowledged_with_nothing_queued() -> None:
    relay = Relay(otherwise="skip")

    answer = relay.send(cloud.action_result(CLOUD_REQUEST))

    assert (answer.status, answer.body["queued"], answer.queued) == (202, 0, 0)
    assert lookups_counted(answer) == {"miss": 1}


def test_a_miss_under_reject_refuses_the_webhook_naming_the_lookup() -> None:
    relay = Relay(otherwise="reject")

    answer = relay.send(cloud.action_result(CLOUD_REQUEST))

    assert (answer.status, answer.outcome) == (422, "invalid_event")
    assert answer.body["errors"] == [
        {
            "path": "requestId",
            "rule": "rule action-result: TraceId: the command lookup found nothing recorded",
        }
    ]
    assert relay.queued() == []


def test_a_miss_with_a_literal_fallback_takes_the_literal() -> None:
    relay = Relay(otherwise={"value": "unmatched-trace"})

    answer = relay.send(cloud.action_result(CLOUD_REQUEST))

    assert answer.status == 202
    assert relay.queued()[0]["TraceId"] == "unmatched-trace"
    assert lookups_counted(answer) == {"miss": 1}


def test_an_event_without_the_key_misses_without_a_read() -> None:
    relay = Relay(otherwise="skip")
    event = cloud.masterdata()
    del event["accountId"]

    answer = relay.send(event)

    assert (answer.status, answer.queued) == (202, 0)
    assert relay.lookups.reads == []
    assert lookups_counted(answer) == {"miss": 1}


def test_a_key_that_is_an_object_is_a_problem_of_the_event_not_a_read() -> None:
    relay = Relay(otherwise={"value": "fallback"})

    answer = relay.send(cloud.action_result({"nested": "id"}))  # type: ignore[arg-type]

    assert answer.status == 422
    assert answer.body["errors"][0]["path"] == "requestId"
    assert "looked up by a text or a number" in answer.body["errors"][0]["rule"]
    assert relay.lookups.reads == []


def test_without_any_lookups_port_every_lookup_misses() -> None:
    profile = parse_profile(cloud.profile_document(otherwise={"value": "fallback"}))

    mapped = map_body(profile, cloud.action_result(CLOUD_REQUEST), {})

    assert mapped.events[0].event["TraceId"] == "fallback"
    assert (mapped.lookups_hit, mapped.lookups_missed) == (0, 0)


# --- One read per distinct key per webhook ----------------------------------------------------------------


def test_each_distinct_key_is_read_once_per_webhook_and_every_lookup_counted() -> None:
    # GIVEN a webhook of five outcomes, naming two request ids of the cloud's
    relay = Relay()
    relay.lookups.commands[(CONNECTOR, "first")] = "trace-1"
    relay.lookups.commands[(CONNECTOR, "second")] = "trace-2"
    body = [cloud.action_result(rid) for rid in ("first", "second", "first", "first", "second")]

    # WHEN it is handled
    answer = relay.send(body)

    # THEN each id was read once, and each event has its command's TraceId
    assert sorted(relay.lookups.reads) == [("command", CONNECTOR, "first"), ("command", CONNECTOR, "second")]
    assert [e["TraceId"] for e in relay.queued()] == ["trace-1", "trace-2", "trace-1", "trace-1", "trace-2"]
    assert lookups_counted(answer) == {"hit": 5}


def test_a_miss_is_read_once_too() -> None:
    relay = Relay(otherwise="skip")

    relay.send([cloud.action_result("gone"), cloud.action_result("gone")])

    assert relay.lookups.reads == [("command", CONNECTOR, "gone")]


def test_the_next_webhook_reads_again() -> None:
    relay = Relay()
    relay.lookups.commands[(CONNECTOR, CLOUD_REQUEST)] = TRACE_ID
    relay.send(cloud.action_result(CLOUD_REQUEST))
    relay.lookups.commands[(CONNECTOR, CLOUD_REQUEST)] = "another-trace"

    relay.send(cloud.action_result(CLOUD_REQUEST) | {"success": False})

    assert [e["TraceId"] for e in relay.queued()] == [TRACE_ID, "another-trace"]


def test_webhook_lookups_count_hits_and_misses_of_cached_reads() -> None:
    port = InMemoryLookups()
    port.commands[(CONNECTOR, "a")] = "t"
    lookups = WebhookLookups(port, CONNECTOR)

    found = [lookups.find("command", key) for key in ("a", "a", "b", "b")]

    assert found == ["t", "t", None, None]
    assert (lookups.hits, lookups.misses, len(port.reads)) == (2, 2, 2)


# --- The table unavailable --------------------------------------------------------------------------------


def test_a_lookups_table_that_cannot_be_read_is_a_503_to_retry_and_nothing_is_queued() -> None:
    relay = Relay()
    relay.lookups.failure = DependencyUnavailableError("correlation")

    answer = relay.send(cloud.action_result(CLOUD_REQUEST))

    response = http_response(answer)
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "5"
    assert answer.outcome == "unavailable.correlation"
    assert relay.queued() == []


def test_after_a_503_the_same_delivery_is_taken_once_the_table_is_back() -> None:
    relay = Relay()
    relay.lookups.commands[(CONNECTOR, CLOUD_REQUEST)] = TRACE_ID
    relay.lookups.failure = DependencyUnavailableError("correlation")
    body = cloud.action_result(CLOUD_REQUEST)
    assert relay.send(body).status == 503

    relay.lookups.failure = None
    answer = relay.send(copy.deepcopy(body))

    assert (answer.status, answer.queued) == (202, 1)
    assert relay.queued()[0]["TraceId"] == TRACE_ID


@pytest.mark.parametrize("outcome", ["hit", "miss"])
def test_lookups_are_one_metric_with_an_outcome_dimension(outcome: str) -> None:
    relay = Relay()
    if outcome == "hit":
        relay.lookups.commands[(CONNECTOR, CLOUD_REQUEST)] = TRACE_ID

    answer = relay.send(cloud.action_result(CLOUD_REQUEST))

    assert Measurement("Lookups", 1, dimensions={"Outcome": outcome}) in answer.measurements()
