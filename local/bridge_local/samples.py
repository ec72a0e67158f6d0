"""The demo connector, its (public, demo-only) secret, and the sample webhooks that `events/` holds.

`python -m bridge_local.samples [FOLDER] [--fresh]` rewrites the API Gateway events in events/ from the
bodies below and from the demo clouds' native payloads (events/profiles/). They are signed at a fixed time
(events/env.json widens the relay's tolerance to accept the Standard Webhooks ones); `--fresh` signs them
now instead, which the sensors cloud's events need: its profile allows five minutes.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

from samples.real_clouds import REAL_CLOUDS

# The sample data lives in the repository's `samples` package, shared with the tests; named here as before.
from samples.webhooks import (
    BODIES,
    DEMO_CONNECTOR_ID,
    DEMO_MESSAGE_GROUP_KEY,
    DEMO_SECRET,
    INVALID_BODY,
    SAMPLE_TIMESTAMP,
    SIGNING_SECRET_PREFIX,
    encode,
    http_api_event,
    signed_headers,
)

from .demo_clouds import DEMO_CLOUDS

__all__ = [
    "BODIES",
    "DEMO_CONNECTOR_ID",
    "DEMO_MESSAGE_GROUP_KEY",
    "DEMO_SECRET",
    "INVALID_BODY",
    "SAMPLE_TIMESTAMP",
    "SIGNING_SECRET_PREFIX",
    "encode",
    "http_api_event",
    "sample_events",
    "signed_headers",
    "write_sample_events",
]


def sample_events(timestamp: int = SAMPLE_TIMESTAMP) -> dict[str, dict[str, Any]]:
    """File name -> event, for every sample webhook under events/, signed at `timestamp`."""
    events: dict[str, dict[str, Any]] = {}
    for name, body in BODIES.items():
        raw = encode(body)
        webhook_id = f"msg_sample_{name.replace('-', '_')}"
        headers = signed_headers(raw, webhook_id=webhook_id, timestamp=timestamp)
        events[f"webhook-{name}.json"] = http_api_event(
            raw, headers, timestamp=timestamp, request_id=f"sample-{name}"
        )

    raw = encode(BODIES["device-event"])
    forged = signed_headers(
        raw,
        webhook_id="msg_sample_forged",
        timestamp=timestamp,
        secret="whsec_" + base64.b64encode(b"not the connector's secret at all").decode(),
    )
    events["webhook-wrong-signature.json"] = http_api_event(
        raw, forged, timestamp=timestamp, request_id="sample-forged"
    )

    raw = encode(INVALID_BODY)
    headers = signed_headers(raw, webhook_id="msg_sample_invalid", timestamp=timestamp)
    events["webhook-invalid-body.json"] = http_api_event(
        raw, headers, timestamp=timestamp, request_id="sample-invalid"
    )
    for cloud in DEMO_CLOUDS:
        for name in cloud.payload_names():
            raw = cloud.payload(name)
            headers = cloud.signed(raw, delivery_id=f"dlv-sample-{name}", now=timestamp)
            events[f"webhook-{cloud.connector_id}-{name}.json"] = http_api_event(
                raw,
                headers,
                connector_id=cloud.connector_id,
                timestamp=timestamp,
                request_id=f"sample-{cloud.connector_id}-{name}",
            )
    for real in REAL_CLOUDS:
        for name, (raw, headers) in real.samples(timestamp).items():
            # Header names as API Gateway passes them on: lower case.
            events[f"webhook-{real.connector_id}-{name}.json"] = http_api_event(
                raw,
                {header.lower(): value for header, value in headers.items()},
                connector_id=real.connector_id,
                timestamp=timestamp,
                request_id=f"sample-{real.connector_id}-{name}",
                token=real.path_token,
            )
    return events


def write_sample_events(folder: Path, *, timestamp: int = SAMPLE_TIMESTAMP) -> list[Path]:
    written = []
    for name, event in sample_events(timestamp).items():
        path = folder / name
        path.write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--fresh"]
    target = Path(arguments[0]) if arguments else Path("events")
    signed_at = int(time.time()) if "--fresh" in sys.argv[1:] else SAMPLE_TIMESTAMP
    for path in write_sample_events(target, timestamp=signed_at):
        print(path)
