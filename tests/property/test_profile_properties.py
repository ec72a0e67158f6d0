"""Properties of the profiled path, over native bodies hypothesis makes up: the demo clouds' payloads with
their values replaced by any JSON, and members dropped or added.

Whatever the body, the intake answers with a documented status and never raises; what it queues passes
botocore's own validation of SendConnectorEvent; and a 422 never quotes a value that was sent.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import botocore.session
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes.receiver import (
    InMemoryConnectorProfiles,
    InMemoryDeduplicator,
    InMemoryEventQueue,
    InMemorySigningKeys,
)
from iotbridge.webhook_receiver.domain.intake import IntakeLimits, WebhookIntake, WebhookRequest
from samples.device_clouds import AERIE, DEMO_CLOUDS, LUMEN, DemoCloud

NOW = 1_790_000_000
DOCUMENTED = {202, 400, 409, 413, 422}
SHAPE = (
    botocore.session.get_session()
    .get_service_model("iot-managed-integrations")
    .operation_model("SendConnectorEvent")
    .input_shape
)
PROFILES = {cloud.connector_id: cloud.profile() for cloud in DEMO_CLOUDS}
# Values distinctive enough that finding one in an answer means it was quoted.
MARKERS = st.sampled_from(["zq-marker-7731", "zq marker 7731", -98_765_431, 98_765.4321])
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | MARKERS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def intake() -> tuple[WebhookIntake, InMemoryEventQueue]:
    queue = InMemoryEventQueue()
    relay = WebhookIntake(
        keys=InMemorySigningKeys({cloud.connector_id: cloud.secret for cloud in DEMO_CLOUDS}),
        queue=queue,
        deduplicator=InMemoryDeduplicator(),
        limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
        profiles=InMemoryConnectorProfiles(PROFILES),
        clock=lambda: NOW,
    )
    return relay, queue


def _leaves(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _leaves(v, (*path, i))] or [path]
    return [path]


@st.composite
def mutated(draw: st.DrawFn, cloud: DemoCloud) -> Any:
    """One of the cloud's payloads with some of its values replaced, dropped, or members added."""
    body = copy.deepcopy(json.loads(cloud.payload(draw(st.sampled_from(cloud.payload_names())))))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _leaves(body) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=6))] = draw(VALUES)
        else:
            parent[path[-1]] = draw(VALUES)
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_native_body_gets_a_documented_answer_and_only_valid_events_are_queued(
    data: st.DataObject,
) -> None:
    cloud = data.draw(st.sampled_from([LUMEN, AERIE]))
    body = json.dumps(data.draw(mutated(cloud))).encode()
    relay, queue = intake()
    request = WebhookRequest(
        connector_id=cloud.connector_id,
        headers={"content-type": "application/json"} | cloud.signed(body, delivery_id="dlv-p", now=NOW),
        body=body,
    )

    answer = relay.handle(request)

    assert answer.status in DOCUMENTED, answer
    if answer.status == 202:
        assert answer.body["queued"] == len(queue.messages)
    else:
        assert queue.messages == []
    for message in queue.messages:
        report = ParamValidator().validate(message.send_connector_event_params(), SHAPE)
        assert not report.has_errors(), report.generate_report()
    if answer.status == 422:
        text = json.dumps(answer.body)
        for marker in ("zq-marker-7731", "zq marker 7731", "98765431", "98765.4321"):
            assert marker not in text
