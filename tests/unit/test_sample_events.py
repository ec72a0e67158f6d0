"""The files in events/ work as they are with `sam local invoke -e ... --env-vars events/env.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bridge_local.demo_clouds import DEMO_CLOUDS
from bridge_local.sam_template import load
from bridge_local.samples import (
    DEMO_CONNECTOR_ID,
    DEMO_MESSAGE_GROUP_KEY,
    DEMO_SECRET,
    SAMPLE_TIMESTAMP,
    sample_events,
)
from fakes.receiver import (
    InMemoryConnectorProfiles,
    InMemoryDeduplicator,
    InMemoryEventQueue,
    InMemorySigningKeys,
)
from iotbridge.connector_event import wire_events
from iotbridge.queued_event import QueuedEvent
from iotbridge.receiver.domain.intake import IntakeLimits, WebhookIntake
from iotbridge.receiver.events import read_request

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
ENV_VARS = json.loads((EVENTS / "env.json").read_text())
TEMPLATE = load(ROOT / "template.yaml")


def answer_for(event: dict[str, Any], tolerance: int, now: float) -> int:
    request = read_request(event)
    secrets = {DEMO_CONNECTOR_ID: DEMO_SECRET} | {cloud.connector_id: cloud.secret for cloud in DEMO_CLOUDS}
    intake = WebhookIntake(
        keys=InMemorySigningKeys(secrets),
        queue=InMemoryEventQueue(),
        deduplicator=InMemoryDeduplicator(),
        limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=tolerance),
        profiles=InMemoryConnectorProfiles({cloud.connector_id: cloud.profile() for cloud in DEMO_CLOUDS}),
        clock=lambda: now,
    )
    return intake.handle(request).status


def webhook_files() -> list[Path]:
    return sorted(EVENTS.glob("webhook-*.json"))


# Whenever the user runs them: years after the fixed sample timestamp.
YEARS_LATER = SAMPLE_TIMESTAMP + 5 * 365 * 86400
EXPECTED = {
    "webhook-wrong-signature.json": 401,
    "webhook-invalid-body.json": 422,
    "webhook-lumen-home-out-of-range.json": 422,
    "webhook-aerie-sensors-unknown-sensor.json": 422,
}
# The sensors cloud signs a timestamp with its profile's five minutes of tolerance: its events must be
# re-signed (`python -m bridge_local.samples --fresh`) right before they are invoked.
TIMESTAMPED = [path for path in webhook_files() if path.name.startswith("webhook-aerie-sensors-")]
# Standard Webhooks events, whose timestamp the relay's own tolerance (widened in env.json) applies to.
STANDARD = [
    path for path in webhook_files() if not path.name.startswith(("webhook-aerie-", "webhook-lumen-"))
]


def test_sample_webhooks_are_what_the_generator_writes() -> None:
    expected = sample_events()
    on_disk = {path.name: json.loads(path.read_text()) for path in webhook_files()}
    assert on_disk == expected, (
        "events/ is stale: run `PYTHONPATH=layers/shared:local python -m bridge_local.samples`"
    )


def test_every_demo_cloud_payload_has_a_sample_event() -> None:
    names = {path.name for path in webhook_files()}
    for cloud in DEMO_CLOUDS:
        assert cloud.payload_names()
        for payload in cloud.payload_names():
            assert f"webhook-{cloud.connector_id}-{payload}.json" in names


@pytest.mark.parametrize("path", [p for p in webhook_files() if p not in TIMESTAMPED], ids=lambda p: p.name)
def test_sample_webhook_gets_its_status_under_the_local_env_tolerance(path: Path) -> None:
    tolerance = int(ENV_VARS["WebhookReceiverFunction"]["SIGNATURE_TOLERANCE_SECONDS"])
    event = json.loads(path.read_text())
    assert answer_for(event, tolerance, now=YEARS_LATER) == EXPECTED.get(path.name, 202)


@pytest.mark.parametrize("path", TIMESTAMPED, ids=lambda p: p.name)
def test_timestamped_profile_samples_get_their_status_once_signed_fresh(path: Path) -> None:
    tolerance = int(ENV_VARS["WebhookReceiverFunction"]["SIGNATURE_TOLERANCE_SECONDS"])
    assert answer_for(json.loads(path.read_text()), tolerance, now=YEARS_LATER) == 401
    fresh = sample_events(timestamp=YEARS_LATER)[path.name]
    assert answer_for(fresh, tolerance, now=YEARS_LATER + 10) == EXPECTED.get(path.name, 202)


@pytest.mark.parametrize("path", STANDARD, ids=lambda p: p.name)
def test_sample_webhooks_are_stale_under_the_deployed_tolerance(path: Path) -> None:
    # The widened tolerance is a setting, not a bypass: with the deployed default they are refused.
    default = int(TEMPLATE["Parameters"]["SignatureToleranceSeconds"]["Default"])
    assert answer_for(json.loads(path.read_text()), default, now=SAMPLE_TIMESTAMP + 3600) == 401


def declared_variables(function: str) -> set[str]:
    globals_env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    own = TEMPLATE["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    return set(globals_env) | set(own)


def test_env_vars_file_sets_only_variables_the_template_declares() -> None:
    # sam local invoke silently ignores any variable the template does not declare for the function.
    functions = [
        name for name, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    ]
    for name in functions:
        assert set(ENV_VARS["Parameters"]) <= declared_variables(name), name
    for name, variables in ENV_VARS.items():
        if name != "Parameters":
            assert name in functions, f"{name} is not a function of the template"
            assert set(variables) <= declared_variables(name), name


def test_forwarder_sample_records_are_queued_events() -> None:
    event = json.loads((EVENTS / "forwarder-sqs-fifo.json").read_text())
    assert len(event["Records"]) >= 2
    for record in event["Records"]:
        queued = QueuedEvent.from_message_body(record["body"])
        assert record["attributes"]["MessageGroupId"] == queued.message_group_id(
            DEMO_MESSAGE_GROUP_KEY.encode()
        )
        assert wire_events(queued.event, queued.connector_id) == [queued.event]
