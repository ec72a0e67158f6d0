"""The webhooks the receiver benchmarks send: signed now, as API Gateway hands them to the function."""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench.layout import RECEIVER, template_environment
from bridge_local.demo_clouds import LUMEN
from bridge_local.samples import BODIES, SIGNING_SECRET_PREFIX, encode, http_api_event, signed_headers


def webhook_event() -> dict[str, Any]:
    """A signed DEVICE_EVENT webhook for the demo connector, signed now."""
    body = encode(BODIES["device-event"])
    now = int(time.time())
    headers = signed_headers(body, webhook_id=f"msg_{uuid.uuid4().hex}", timestamp=now)
    return http_api_event(body, headers, timestamp=now)


def native_webhook() -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """A demo device cloud's own state webhook, signed its way now; the secrets and the SSM parameters
    (its connector's profile) the receiver reads for it."""
    body = LUMEN.payload("state")
    now = int(time.time())
    event = http_api_event(body, LUMEN.signed(body, now=now), connector_id=LUMEN.connector_id, timestamp=now)
    prefix = template_environment(RECEIVER)[0]["PROFILE_PARAMETER_PREFIX"]
    return (
        event,
        {SIGNING_SECRET_PREFIX + LUMEN.connector_id: LUMEN.secret},
        {prefix + LUMEN.connector_id: LUMEN.profile_file.read_text(encoding="utf-8")},
    )
