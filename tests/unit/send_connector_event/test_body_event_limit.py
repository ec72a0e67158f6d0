"""How many events one body may hold: 1..50 for a body sent as SendConnectorEvent requests (the documented
contract of the webhook endpoint), and up to a caller's larger limit for the events a profile maps from one
native body; either bound is named in the problem."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from iotbridge.send_connector_event.body import (
    MAX_EVENTS_PER_BODY,
    EventValidationError,
    parse_webhook_body,
    wire_events,
)

CONNECTOR = "connector-1"


def device_event(n: int) -> dict[str, Any]:
    return {"Operation": "DEVICE_EVENT", "ConnectorDeviceId": f"dev-{n}", "MatterEndpoint": {"id": "1"}}


def refusal(data: object, **limit: int) -> list[dict[str, str]]:
    with pytest.raises(EventValidationError) as refused:
        wire_events(data, CONNECTOR, **limit)
    return [p.as_dict() for p in refused.value.problems]


def test_a_body_holds_at_most_50_events_unless_told_otherwise() -> None:
    assert MAX_EVENTS_PER_BODY == 50
    assert refusal([device_event(n) for n in range(51)]) == [
        {"path": "", "rule": "array must hold 1..50 events"}
    ]


@pytest.mark.parametrize("size", [51, 100, 1000])
def test_a_larger_limit_takes_that_many_events_in_order(size: int) -> None:
    events = [device_event(n) for n in range(size)]
    assert wire_events(copy.deepcopy(events), CONNECTOR, limit=1000) == events
    parsed = parse_webhook_body(events, CONNECTOR, limit=1000)
    assert [e.ConnectorDeviceId for e in parsed] == [f"dev-{n}" for n in range(size)]


def test_beyond_a_larger_limit_the_problem_names_it() -> None:
    assert refusal([device_event(n) for n in range(1001)], limit=1000) == [
        {"path": "", "rule": "array must hold 1..1000 events"}
    ]


def test_problems_of_a_long_array_name_the_event_by_its_place() -> None:
    events = [device_event(n) for n in range(300)]
    events[250]["StatusCode"] = 600
    assert refusal(events, limit=1000) == [{"path": "[250].StatusCode", "rule": "must be 100..550"}]
