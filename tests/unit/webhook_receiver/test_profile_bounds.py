"""The work and the answer for a profiled connector's webhook are bounded whatever the signed body: native
events and devices are counted before they are mapped, the profile's expressions share one budget of
evaluation steps per webhook, a 422 lists at most MAX_LISTED_PROBLEMS problems, and an expression the data
breaks (a sum beyond any float) is a 422, never an exception."""

from __future__ import annotations

import json
from typing import Any

from fakes.receiver import (
    InMemoryConnectorProfiles,
    InMemoryDeduplicator,
    InMemoryEventQueue,
    InMemorySigningKeys,
)
from iotbridge.errors import MAX_LISTED_PROBLEMS
from iotbridge.profile.document import ConnectorProfile, parse_profile
from iotbridge.profile.expressions import MAX_EVALUATION_STEPS
from iotbridge.webhook_receiver.domain.intake import Answer, IntakeLimits, WebhookIntake, WebhookRequest
from iotbridge.webhook_receiver.domain.mapping import MAX_NATIVE_DEVICES, MAX_NATIVE_EVENTS
from samples.device_clouds import LUMEN

NOW = 1_790_000_000
MiB = 1024 * 1024


def send(body: bytes, profile: ConnectorProfile | None = None) -> tuple[Answer, InMemoryEventQueue]:
    """One signed Lumen webhook through an intake with Lumen's profile (or `profile`, signed the same way)."""
    queue = InMemoryEventQueue()
    intake = WebhookIntake(
        keys=InMemorySigningKeys({LUMEN.connector_id: LUMEN.secret}),
        queue=queue,
        deduplicator=InMemoryDeduplicator(),
        limits=IntakeLimits(max_body_bytes=MiB, tolerance_seconds=300),
        profiles=InMemoryConnectorProfiles({LUMEN.connector_id: profile or LUMEN.profile()}),
        clock=lambda: NOW,
    )
    headers = LUMEN.signed(body, delivery_id="dlv-1", now=NOW)
    request = WebhookRequest(
        connector_id=LUMEN.connector_id,
        headers={"content-type": "application/json"} | {k.lower(): v for k, v in headers.items()},
        body=body,
    )
    return intake.handle(request), queue


def lumen(*events: Any) -> bytes:
    return json.dumps({"accountId": "acct-1", "events": list(events)}).encode()


def discovery(devices: list[Any]) -> dict[str, Any]:
    return {"type": "discovery.result", "discoveryId": "disc-1", "devices": devices}


def light(device: str = "bulb-1") -> dict[str, Any]:
    return {"type": "device.state", "kind": "light", "deviceId": device, "state": {"power": "on"}}


def with_rule(**changes: Any) -> ConnectorProfile:
    """Lumen's profile with its first rule (light-state) changed."""
    document = json.loads(LUMEN.profile_file.read_text())
    document["rules"][0] |= changes
    return parse_profile(document)


def test_a_1_mib_discovery_of_empty_devices_is_a_small_422_naming_the_device_bound() -> None:
    # GIVEN a signed 1 MiB body: one discovery of about 349,000 empty devices
    body = lumen(discovery([{}] * (MiB // 3 - 20)))[: MiB - 10]
    body = body[: body.rindex(b"{}") + 2] + b"]}]}"
    assert len(body) <= MiB
    # WHEN it is sent
    answer, queue = send(body)
    # THEN it is refused with one problem naming the bound, in an answer far below Lambda's 6 MB limit
    assert answer.status == 422
    assert answer.body["errors"] == [
        {
            "path": "events[0].devices",
            "rule": f"a webhook may carry at most {MAX_NATIVE_DEVICES} devices in all",
        }
    ]
    assert len(json.dumps(answer.body)) < 1000
    assert queue.messages == []


def test_a_mapping_with_thousands_of_problems_lists_the_first_ones_and_counts_the_rest() -> None:
    # GIVEN a discovery of 5,000 devices without a device id (within the device bound)
    # WHEN it is sent
    answer, _ = send(lumen(discovery([{"model": "LB-20T"}] * 5000)))
    # THEN the first MAX_LISTED_PROBLEMS are listed, each naming its device, and the rest are counted
    assert answer.status == 422
    assert len(answer.body["errors"]) == MAX_LISTED_PROBLEMS
    assert answer.body["errors"][0]["path"] == "events[0].devices[0].deviceId"
    assert answer.body["moreErrors"] == 5000 - MAX_LISTED_PROBLEMS


def test_more_native_events_than_the_bound_are_refused_before_they_are_mapped() -> None:
    # GIVEN a body of one event more than the bound, and one at the bound (events no rule matches: ignored)
    unmatched = {"type": "unknown"}
    # WHEN each is sent
    over, queue = send(lumen(*[unmatched] * (MAX_NATIVE_EVENTS + 1)))
    at_bound, _ = send(lumen(*[unmatched] * MAX_NATIVE_EVENTS))
    # THEN the first is refused naming the bound and where the events are; the second is acknowledged
    assert over.status == 422
    assert over.body["errors"] == [
        {"path": "events", "rule": f"a webhook may carry at most {MAX_NATIVE_EVENTS} native events"}
    ]
    assert queue.messages == []
    assert (at_bound.status, at_bound.outcome, at_bound.ignored) == (202, "ignored", MAX_NATIVE_EVENTS)


def test_a_batch_of_100_native_events_still_maps() -> None:
    # GIVEN a batch of 100 events (the largest a device cloud we know of sends): 40 lights, 60 unknown
    events = [light(f"bulb-{i}") for i in range(40)] + [{"type": "unknown"}] * 60
    # WHEN it is sent
    answer, queue = send(lumen(*events))
    # THEN the lights are queued and the rest ignored
    assert (answer.status, answer.queued, answer.ignored) == (202, 40, 60)
    assert len(queue.messages) == 40


def test_an_expression_reading_the_whole_body_per_event_stops_at_the_evaluation_budget() -> None:
    # GIVEN a rule whose condition reads every event of the body, for each event: quadratic in their number
    profile = with_rule(when="contains(body.events[*].t, 's')")
    # WHEN 1,000 events are sent (about 3 million evaluation steps)
    answer, queue = send(lumen(*[{"t": "x"}] * 1000), profile)
    # THEN the webhook is refused whole, naming the budget, and nothing is queued
    assert answer.status == 422
    assert answer.body["errors"] == [
        {
            "path": "",
            "rule": f"a webhook's bound: the profile's expressions need more than {MAX_EVALUATION_STEPS} "
            "evaluation steps for it",
        }
    ]
    assert queue.messages == []


def test_the_same_expression_on_a_small_batch_stays_within_the_budget() -> None:
    # GIVEN the quadratic rule, and 100 events that match it
    profile = with_rule(when="contains(body.events[*].t, 's')")
    events = [light(f"bulb-{i}") | {"t": "s"} for i in range(40)]
    # WHEN they are sent
    answer, _ = send(lumen(*events), profile)
    # THEN they are mapped and queued
    assert (answer.status, answer.queued) == (202, 40)


def test_a_sum_beyond_any_float_is_a_422_naming_the_rule_not_an_exception() -> None:
    # GIVEN a rule whose condition sums native numbers, and an event whose numbers overflow a float
    profile = with_rule(when="sum(event.watts) > `0`")
    # WHEN it is sent (a 400-digit integer and a float)
    answer, queue = send(lumen({"watts": [10**400, 1.5]}), profile)
    # THEN it is a 422 naming the event and the rule's condition, never a 503 or an exception
    assert answer.status == 422
    assert answer.body["errors"] == [
        {
            "path": "events[0]",
            "rule": "rule light-state: sum(event.watts) > `0` cannot be evaluated on this event",
        }
    ]
    assert queue.messages == []


def test_a_clamped_attribute_holds_for_every_finite_native_number() -> None:
    # GIVEN a rule setting the battery (half-percents, 0..200) from a percentage, clamped
    profile = with_rule(
        matterEndpoint={
            "set": [
                {"attribute": "OnOff.OnOff", "from": "event.state.power", "transform": {"equals": "on"}},
                {
                    "attribute": "PowerSource.BatPercentRemaining",
                    "from": "event.battery",
                    "transform": "percentToBattery",
                    "clamp": True,
                },
            ]
        }
    )
    for battery, expected in [(1e306, 200), (1e308, 200), (10**400, 200), (-1e308, 0), (50, 100)]:
        # WHEN an event reports it
        answer, queue = send(lumen(light() | {"battery": battery}), profile)
        # THEN it is clamped into the attribute's range, however far beyond a float the percentage goes
        assert answer.status == 202, (battery, answer.body)
        clusters = queue.messages[0].event["MatterEndpoint"]["clusters"]
        power_source = next(c for c in clusters if c["id"] == "0x002F")
        assert power_source["attributes"] == {"0x000C": expected}
