"""The libraries of the public-key schemes (PyJWT, http-message-signatures, http-sf) load only when a profile
uses them: a connector on Standard Webhooks pays nothing for them at cold start. Checked in a fresh
interpreter, since this one has loaded them for other tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

LIBRARIES = ["jwt", "http_message_signatures", "http_sf", "cryptography.x509"]

# The receiver's edge and wiring imported, then one Standard Webhooks request verified for a connector
# without a profile, and one for a connector whose profile says standard-webhooks.
_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from standardwebhooks import Webhook
    from datetime import datetime, UTC

    import iotbridge.webhook_receiver.edge as edge
    import iotbridge.webhook_receiver.wiring  # noqa: F401 - what the function imports at init
    from fakes.receiver import (
        InMemoryConnectorProfiles, InMemoryDeduplicator, InMemoryEventQueue, InMemorySigningKeys,
    )
    from iotbridge.profile.document import parse_profile
    from iotbridge.webhook_receiver.domain.intake import IntakeLimits, WebhookIntake

    secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
    profile = parse_profile({
        "version": 1,
        "verification": {"scheme": "standard-webhooks"},
        "rules": [{
            "name": "state", "operation": "DEVICE_EVENT",
            "members": {"UserId": "event.UserId", "ConnectorDeviceId": "event.id"},
            "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
        }],
    })
    intake = WebhookIntake(
        keys=InMemorySigningKeys({"plain": secret, "profiled": secret}),
        queue=InMemoryEventQueue(),
        deduplicator=InMemoryDeduplicator(),
        limits=IntakeLimits(max_body_bytes=1 << 20, tolerance_seconds=300),
        profiles=InMemoryConnectorProfiles({"profiled": profile}),
    )
    bodies = {
        "plain": {"Operation": "DEVICE_EVENT", "UserId": "user-1", "ConnectorDeviceId": "lamp-1",
                  "MatterEndpoint": {"id": "1", "clusters": [{"id": "0x0006",
                  "attributes": {"0x0000": True}}]}},
        "profiled": {"UserId": "user-1", "id": "lamp-1", "on": True},
    }
    statuses = {}
    for connector, body in bodies.items():
        text = json.dumps(body)
        now = datetime.now(tz=UTC)
        signature = Webhook(secret).sign("msg_1", now, text)
        event = {
            "rawPath": f"/connectors/{connector}/events",
            "headers": {"content-type": "application/json", "webhook-id": "msg_1",
                        "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature},
            "requestContext": {"http": {"method": "POST", "sourceIp": "192.0.2.1"}},
            "pathParameters": {"connectorId": connector},
            "body": text,
        }
        statuses[connector] = intake.handle(edge.read_request(event)).status
    print(json.dumps({"statuses": statuses, "loaded": [m for m in LIBRARIES if m in sys.modules]}))
    """
)


def test_standard_webhooks_verification_loads_none_of_the_public_key_libraries() -> None:
    # GIVEN a fresh interpreter with the test's import roots
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    script = f"LIBRARIES = {LIBRARIES!r}\n" + _SCRIPT

    # WHEN it verifies Standard Webhooks requests through the receiver's edge and intake
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )

    # THEN both were accepted, and none of those libraries was imported
    assert run.returncode == 0, run.stderr[-2000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["statuses"] == {"plain": 202, "profiled": 202}
    assert found["loaded"] == []
