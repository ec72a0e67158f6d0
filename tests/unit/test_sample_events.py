"""The files in events/ work as they are with `sam local invoke -e ... --env-vars events/env.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bridge_local.sam_template import load
from bridge_local.samples import (
    DEMO_CONNECTOR_ID,
    DEMO_MESSAGE_GROUP_KEY,
    DEMO_SECRET,
    SAMPLE_TIMESTAMP,
    sample_events,
)
from fakes.receiver import InMemoryDeduplicator, InMemoryEventQueue, InMemorySigningKeys
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
    intake = WebhookIntake(
        keys=InMemorySigningKeys({DEMO_CONNECTOR_ID: DEMO_SECRET}),
        queue=InMemoryEventQueue(),
        deduplicator=InMemoryDeduplicator(),
        limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=tolerance),
        clock=lambda: now,
    )
    return intake.handle(request).status


def webhook_files() -> list[Path]:
    return sorted(EVENTS.glob("webhook-*.json"))


def test_sample_webhooks_are_what_the_generator_writes() -> None:
    expected = sample_events()
    on_disk = {path.name: json.loads(path.read_text()) for path in webhook_files()}
    assert on_disk == expected, (
        "events/ is stale: run `PYTHONPATH=layers/shared:local python -m bridge_local.samples`"
    )


@pytest.mark.parametrize("path", webhook_files(), ids=lambda p: p.name)
def test_sample_webhook_gets_its_status_under_the_local_env_tolerance(path: Path) -> None:
    tolerance = int(ENV_VARS["WebhookReceiverFunction"]["SIGNATURE_TOLERANCE_SECONDS"])
    expected = {"webhook-wrong-signature.json": 401, "webhook-invalid-body.json": 422}.get(path.name, 202)
    event = json.loads(path.read_text())
    # Whenever the user runs it: years after the fixed sample timestamp.
    assert answer_for(event, tolerance, now=SAMPLE_TIMESTAMP + 5 * 365 * 86400) == expected


@pytest.mark.parametrize("path", webhook_files(), ids=lambda p: p.name)
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
