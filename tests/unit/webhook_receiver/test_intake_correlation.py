"""The relay's side of the connector: an accepted DEVICE_DISCOVERY or DEVICE_COMMAND_RESPONSE marks the
request it answers, a profile fills in the request id its device cloud echoes, events of deactivated users
are dropped and counted (never a 410, which would stop the connector's whole endpoint), and neither an
unknown request nor a correlation table outage refuses or loses an event."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest

from fakes.receiver import (
    InMemoryConnectorProfiles,
    InMemoryDeduplicator,
    InMemoryEventQueue,
    InMemorySigningKeys,
)
from iotbridge.correlation.model import COMMAND, DISCOVERY, AnswerMatch, Status
from iotbridge.telemetry import Measurement
from iotbridge.webhook_receiver.domain.intake import Answer, IntakeLimits, WebhookIntake, WebhookRequest
from iotbridge.webhook_receiver.edge import http_response
from iotbridge.webhook_receiver.ports import DependencyUnavailableError
from samples.device_clouds import LUMEN
from samples.webhooks import BODIES, DEMO_CONNECTOR_ID, DEMO_SECRET, encode, signed_headers

NOW = 1_790_000_000
DISCOVERY_ID = str(BODIES["device-discovery"]["DeviceDiscoveryId"])
TRACE_ID = str(BODIES["command-response"]["TraceId"])
USER = str(BODIES["device-event"]["UserId"])


@dataclass
class Entry:
    status: Status
    deadline: float


class InMemoryCorrelation:
    """The connector's pending requests, answered as the correlation table answers: the first answer in
    time ANSWERED, past the deadline (or after the sweep) LATE, again REPEATED, to no request of this
    connector UNMATCHED. Raises `failure` when set; records every call."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str, str], Entry] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.failure: Exception | None = None
        self.now = float(NOW)

    def expect(self, kind: str, connector_id: str, request_id: str, *, deadline_in: float = 60) -> None:
        self.entries[(kind, connector_id, request_id)] = Entry(Status.PENDING, self.now + deadline_in)

    def answered(self, kind: str, connector_id: str, request_id: str) -> AnswerMatch:
        self.calls.append((kind, connector_id, request_id))
        if self.failure is not None:
            raise self.failure
        entry = self.entries.get((kind, connector_id, request_id))
        if entry is None:
            return AnswerMatch.UNMATCHED
        if entry.status == Status.ANSWERED:
            return AnswerMatch.REPEATED
        late = entry.status == Status.EXPIRED or self.now > entry.deadline
        entry.status = Status.ANSWERED
        return AnswerMatch.LATE if late else AnswerMatch.ANSWERED

    def status(self, kind: str, connector_id: str, request_id: str) -> Status:
        return self.entries[(kind, connector_id, request_id)].status


class InMemoryUsers:
    """Deactivated users by (connector, user); raises `failure` when set; records each lookup."""

    def __init__(self) -> None:
        self.deactivated: set[tuple[str, str]] = set()
        self.failure: Exception | None = None
        self.lookups: list[tuple[str, str]] = []

    def is_deactivated(self, connector_id: str, user_id: str) -> bool:
        self.lookups.append((connector_id, user_id))
        if self.failure is not None:
            raise self.failure
        return (connector_id, user_id) in self.deactivated


class Relay:
    """One intake with the demo connector (Standard Webhooks) and the lumen-home connector (its profile),
    the connector function's two tables in memory, and what it queued."""

    def __init__(self) -> None:
        self.keys = InMemorySigningKeys({DEMO_CONNECTOR_ID: DEMO_SECRET, LUMEN.connector_id: LUMEN.secret})
        self.profiles = InMemoryConnectorProfiles({LUMEN.connector_id: LUMEN.profile()})
        self.queue = InMemoryEventQueue()
        self.dedupe = InMemoryDeduplicator()
        self.users = InMemoryUsers()
        self.correlation = InMemoryCorrelation()
        self.intake = WebhookIntake(
            keys=self.keys,
            queue=self.queue,
            deduplicator=self.dedupe,
            limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
            profiles=self.profiles,
            users=self.users,
            correlation=self.correlation,
            clock=lambda: NOW,
        )

    def send(self, body: Any, *, webhook_id: str = "msg_1") -> Answer:
        raw = encode(body) if not isinstance(body, list) else json.dumps(body).encode()
        headers = {
            **signed_headers(raw, webhook_id=webhook_id, timestamp=NOW),
            "content-type": "application/json",
        }
        return self.intake.handle(WebhookRequest(connector_id=DEMO_CONNECTOR_ID, headers=headers, body=raw))

    def send_lumen(self, body: dict[str, Any], *, delivery_id: str = "dlv-1") -> Answer:
        raw = json.dumps(body).encode()
        sent = LUMEN.signed(raw, delivery_id=delivery_id, now=NOW)
        headers = {"content-type": "application/json"} | {k.lower(): v for k, v in sent.items()}
        return self.intake.handle(WebhookRequest(connector_id=LUMEN.connector_id, headers=headers, body=raw))

    def queued(self) -> list[dict[str, Any]]:
        return [m.event for m in self.queue.messages]


def counted(answer: Answer) -> dict[str, float]:
    return {m.name: m.value for m in answer.measurements()}


def lumen_command_result(
    request_id: Any = "c2c-trace-5b1e90", user: str = "lumen-acct-2291"
) -> dict[str, Any]:
    event = {
        "type": "command.result",
        "deviceId": "lmn-bulb-0042",
        "command": "turnOff",
        "result": "ok",
        "state": {"power": "off"},
    }
    if request_id is not None:
        event["requestId"] = request_id
    return {"accountId": user, "events": [event]}


# --- Answers mark their requests ----------------------------------------------------------------------


def test_an_accepted_discovery_marks_its_request_answered_and_is_counted() -> None:
    relay = Relay()
    relay.correlation.expect(DISCOVERY, DEMO_CONNECTOR_ID, DISCOVERY_ID, deadline_in=600)

    answer = relay.send(BODIES["device-discovery"])

    assert (answer.status, answer.outcome, answer.queued) == (202, "accepted", 1)
    assert relay.correlation.status(DISCOVERY, DEMO_CONNECTOR_ID, DISCOVERY_ID) == Status.ANSWERED
    assert counted(answer)["DiscoveriesAnswered"] == 1


def test_an_accepted_command_response_marks_its_command_answered_by_its_trace_id() -> None:
    relay = Relay()
    relay.correlation.expect(COMMAND, DEMO_CONNECTOR_ID, TRACE_ID)

    answer = relay.send(BODIES["command-response"])

    assert (answer.status, answer.queued) == (202, 1)
    assert relay.correlation.calls == [(COMMAND, DEMO_CONNECTOR_ID, TRACE_ID)]
    assert counted(answer)["CommandsAnswered"] == 1


def test_a_late_answer_is_accepted_and_counted_late() -> None:
    relay = Relay()
    relay.correlation.expect(COMMAND, DEMO_CONNECTOR_ID, TRACE_ID, deadline_in=60)
    relay.correlation.now += 61

    answer = relay.send(BODIES["command-response"])

    assert (answer.status, answer.queued) == (202, 1)
    assert counted(answer)["CommandsAnsweredLate"] == 1


@pytest.mark.parametrize("name", ["device-event", "command-request"])
def test_events_that_answer_no_request_are_not_looked_up(name: str) -> None:
    relay = Relay()

    answer = relay.send(BODIES[name])

    assert (answer.status, answer.queued) == (202, 1)
    assert relay.correlation.calls == []


def test_an_answer_with_no_matching_request_is_counted_and_still_queued() -> None:
    relay = Relay()

    answer = relay.send(BODIES["command-response"])

    assert (answer.status, answer.outcome, answer.body) == (
        202,
        "accepted",
        {"webhookId": "msg_1", "queued": 1},
    )
    assert relay.queued() == [BODIES["command-response"]]
    assert counted(answer)["AnswersUnmatched"] == 1


def test_another_connector_s_request_is_not_answered_through_this_connector() -> None:
    relay = Relay()
    relay.correlation.expect(COMMAND, LUMEN.connector_id, TRACE_ID)

    answer = relay.send(BODIES["command-response"])  # through the demo connector

    assert counted(answer)["AnswersUnmatched"] == 1
    assert relay.correlation.status(COMMAND, LUMEN.connector_id, TRACE_ID) == Status.PENDING


def test_the_same_delivery_again_marks_nothing_again() -> None:
    relay = Relay()
    relay.correlation.expect(COMMAND, DEMO_CONNECTOR_ID, TRACE_ID)
    relay.send(BODIES["command-response"])

    again = relay.send(BODIES["command-response"])

    assert (again.status, again.outcome) == (202, "duplicate")
    assert len(relay.correlation.calls) == 1
    assert len(relay.queued()) == 1


def test_a_second_delivery_answering_the_same_request_is_queued_and_counted_repeated() -> None:
    relay = Relay()
    relay.correlation.expect(COMMAND, DEMO_CONNECTOR_ID, TRACE_ID)
    relay.send(BODIES["command-response"], webhook_id="msg_1")

    second = relay.send(BODIES["command-response"], webhook_id="msg_2")

    assert (second.status, second.queued) == (202, 1)
    assert counted(second)["AnswersRepeated"] == 1


def test_each_answer_of_a_batch_is_marked_and_counted_by_kind() -> None:
    relay = Relay()
    relay.correlation.expect(DISCOVERY, DEMO_CONNECTOR_ID, DISCOVERY_ID)
    relay.correlation.expect(COMMAND, DEMO_CONNECTOR_ID, TRACE_ID)
    other = {**BODIES["command-response"], "TraceId": "other-trace"}

    answer = relay.send(
        [BODIES["device-discovery"], BODIES["command-response"], other, BODIES["device-event"]]
    )

    assert (answer.status, answer.queued) == (202, 4)
    found = counted(answer)
    assert (found["DiscoveriesAnswered"], found["CommandsAnswered"], found["AnswersUnmatched"]) == (1, 1, 1)


def test_a_request_is_marked_only_once_its_answer_is_queued() -> None:
    relay = Relay()
    relay.correlation.expect(COMMAND, DEMO_CONNECTOR_ID, TRACE_ID)
    relay.queue.fail()

    assert relay.send(BODIES["command-response"]).status == 503
    assert relay.correlation.calls == []
    relay.queue.failure = None
    retried = relay.send(BODIES["command-response"])

    assert (retried.status, retried.queued) == (202, 1)
    assert relay.correlation.status(COMMAND, DEMO_CONNECTOR_ID, TRACE_ID) == Status.ANSWERED


# --- A correlation table outage -----------------------------------------------------------------------


def test_a_correlation_table_outage_neither_refuses_nor_loses_the_answer() -> None:
    relay = Relay()
    relay.correlation.expect(COMMAND, DEMO_CONNECTOR_ID, TRACE_ID)
    relay.correlation.failure = DependencyUnavailableError("correlation")

    answer = relay.send(BODIES["command-response"])

    assert (answer.status, answer.outcome, answer.queued) == (202, "accepted", 1)
    assert relay.queued() == [BODIES["command-response"]]
    assert counted(answer)["CorrelationUnavailable"] == 1
    # The delivery is recorded as accepted: the sender's retry is a duplicate, not queued twice.
    relay.correlation.failure = None
    assert relay.send(BODIES["command-response"]).outcome == "duplicate"
    assert len(relay.queued()) == 1


def test_after_one_failed_mark_the_rest_of_the_webhook_s_answers_are_counted_without_waiting_on_it() -> None:
    relay = Relay()
    relay.correlation.failure = DependencyUnavailableError("correlation")
    answers = [{**BODIES["command-response"], "TraceId": f"trace-{n}"} for n in range(5)]

    answer = relay.send([*answers, BODIES["device-event"]])

    assert (answer.status, answer.queued) == (202, 6)
    assert len(relay.correlation.calls) == 1
    assert counted(answer)["CorrelationUnavailable"] == 5


# --- The profile fills in the id its device cloud echoes -------------------------------------------------


def test_a_profiled_command_result_gets_the_echoed_request_id_as_its_trace_id_and_marks_it() -> None:
    relay = Relay()
    relay.correlation.expect(COMMAND, LUMEN.connector_id, "c2c-trace-5b1e90")

    answer = relay.send_lumen(lumen_command_result("c2c-trace-5b1e90"))

    assert (answer.status, answer.queued) == (202, 1)
    [event] = relay.queued()
    assert event["Operation"] == "DEVICE_COMMAND_RESPONSE"
    assert event["TraceId"] == "c2c-trace-5b1e90"
    assert relay.correlation.status(COMMAND, LUMEN.connector_id, "c2c-trace-5b1e90") == Status.ANSWERED


def test_the_lumen_sample_command_result_is_answered_with_its_echoed_id() -> None:
    relay = Relay()
    body = json.loads(LUMEN.payload("command-result"))
    [native] = body["events"]
    relay.correlation.expect(COMMAND, LUMEN.connector_id, native["requestId"])

    answer = relay.send_lumen(body)

    assert counted(answer)["CommandsAnswered"] == 1
    assert relay.queued()[0]["TraceId"] == native["requestId"]


def test_a_numeric_request_id_is_taken_as_its_text() -> None:
    relay = Relay()
    relay.correlation.expect(COMMAND, LUMEN.connector_id, "90210")

    answer = relay.send_lumen(lumen_command_result(90210))

    assert answer.status == 202
    assert relay.queued()[0]["TraceId"] == "90210"


@pytest.mark.parametrize("request_id", [None, {"id": "x"}, True], ids=["missing", "object", "boolean"])
def test_a_command_result_without_a_usable_request_id_is_a_422_naming_it(request_id: Any) -> None:
    relay = Relay()

    answer = relay.send_lumen(lumen_command_result(request_id))

    assert answer.status == 422
    assert "TraceId" in json.dumps(answer.body["errors"])
    assert relay.queued() == [] and relay.correlation.calls == []


def test_a_profiled_discovery_is_marked_by_the_discovery_id_its_members_map() -> None:
    relay = Relay()
    body = json.loads(LUMEN.payload("discovery"))
    discovery_id = body["events"][0]["discoveryId"]
    relay.correlation.expect(DISCOVERY, LUMEN.connector_id, discovery_id)

    answer = relay.send_lumen(body)

    assert (answer.status, counted(answer)["DiscoveriesAnswered"]) == (202, 1)


# --- Deactivated users ------------------------------------------------------------------------------


def test_events_of_a_deactivated_user_are_202_dropped_and_counted_and_nothing_is_queued_or_marked() -> None:
    # GIVEN a user the connector function deactivated
    relay = Relay()
    relay.users.deactivated.add((DEMO_CONNECTOR_ID, USER))
    relay.correlation.expect(COMMAND, DEMO_CONNECTOR_ID, TRACE_ID)

    # WHEN a webhook of only their events comes
    answer = relay.send(BODIES["command-response"])
    response = http_response(answer)

    # THEN it is acknowledged (a 410 would have the sender stop the endpoint every user shares), nothing
    # is queued or marked, and the dropped events are counted
    assert (answer.status, answer.outcome) == (202, "ignored")
    assert response["statusCode"] == 202
    assert json.loads(response["body"]) == {"webhookId": "msg_1", "queued": 0}
    assert USER not in response["body"]
    assert counted(answer) == {"EventsOfDeactivatedUsers": 1}
    assert relay.queued() == [] and relay.correlation.calls == []


def test_an_accepted_delivery_repeated_after_its_user_was_deactivated_answers_as_it_first_did() -> None:
    # GIVEN a delivery accepted while its user was active
    relay = Relay()
    first = relay.send(BODIES["device-event"])
    assert (first.status, first.queued) == (202, 1)

    # WHEN the user is deactivated and the sender repeats the delivery
    relay.users.deactivated.add((DEMO_CONNECTOR_ID, USER))
    again = relay.send(BODIES["device-event"])

    # THEN it is a duplicate, answered with its first answer, and queued once
    assert (again.status, again.outcome, again.body) == (202, "duplicate", first.body)
    assert relay.queued() == [BODIES["device-event"]]


def test_a_user_deactivated_for_another_connector_is_still_active_here() -> None:
    relay = Relay()
    relay.users.deactivated.add((LUMEN.connector_id, USER))

    assert relay.send(BODIES["device-event"]).status == 202


def test_a_profiled_connector_s_deactivated_user_is_dropped_not_refused() -> None:
    relay = Relay()
    relay.users.deactivated.add((LUMEN.connector_id, "lumen-acct-2291"))

    answer = relay.send_lumen(lumen_command_result(user="lumen-acct-2291"))

    assert (answer.status, answer.of_deactivated_users) == (202, 1)
    assert relay.queued() == []


def test_in_a_batch_only_the_deactivated_user_s_events_are_left_out_and_counted() -> None:
    relay = Relay()
    relay.users.deactivated.add((DEMO_CONNECTOR_ID, "user-gone"))
    gone = {**copy.deepcopy(BODIES["device-event"]), "UserId": "user-gone"}

    answer = relay.send([gone, BODIES["device-event"], gone])

    assert (answer.status, answer.queued) == (202, 1)
    assert relay.queued() == [BODIES["device-event"]]
    assert counted(answer)["EventsOfDeactivatedUsers"] == 2
    # One lookup per user of the webhook, not per event.
    assert sorted(relay.users.lookups) == [(DEMO_CONNECTOR_ID, "user-8842"), (DEMO_CONNECTOR_ID, "user-gone")]


def test_a_user_table_outage_is_a_503_and_nothing_is_queued() -> None:
    relay = Relay()
    relay.users.failure = DependencyUnavailableError("users")

    answer = relay.send(BODIES["device-event"])

    assert (answer.status, answer.outcome) == (503, "unavailable.users")
    assert answer.headers["Retry-After"]
    assert relay.queued() == [] and relay.dedupe.records == {}
    relay.users.failure = None
    assert relay.send(BODIES["device-event"]).outcome == "accepted"


def test_without_the_connector_function_s_tables_the_intake_checks_and_marks_nothing() -> None:
    relay = Relay()
    intake = WebhookIntake(
        keys=relay.keys,
        queue=relay.queue,
        deduplicator=relay.dedupe,
        limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
        clock=lambda: NOW,
    )
    raw = encode(BODIES["command-response"])
    headers = {**signed_headers(raw, webhook_id="msg_1", timestamp=NOW), "content-type": "application/json"}

    answer = intake.handle(WebhookRequest(DEMO_CONNECTOR_ID, headers, raw))

    assert (answer.status, answer.queued) == (202, 1)
    assert Measurement("AnswersUnmatched", 1) not in answer.measurements()
