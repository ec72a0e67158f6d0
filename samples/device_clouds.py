"""Two fictional device clouds that send their own JSON, signed their own way, to profiled connectors.

Their profiles and native payloads are files under events/profiles/ (what a connector team would write);
their secrets are published here on purpose, for the local stack only. The local stack stores each profile
in SSM and each secret in Secrets Manager, as a deployment would; the demo and the sample events sign each
payload the way its cloud does.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from iotbridge.profile.document import ConnectorProfile, parse_profile_json
from iotbridge.webhook_receiver.domain.verification import sign

PROFILES_DIR = Path(__file__).resolve().parents[1] / "events" / "profiles"


@dataclass(frozen=True)
class ProfiledCloud:
    """A device cloud with a profile (`events/profiles/<connector id>.json`) and its native payloads (one file
    each under `events/profiles/<connector id>/`)."""

    connector_id: str

    @property
    def profile_file(self) -> Path:
        return PROFILES_DIR / f"{self.connector_id}.json"

    @property
    def payloads_dir(self) -> Path:
        return PROFILES_DIR / self.connector_id

    def profile(self) -> ConnectorProfile:
        return parse_profile_json(self.profile_file.read_bytes())

    def payload(self, name: str) -> bytes:
        """A native payload, byte for byte as the file holds it (what the cloud signs)."""
        return (self.payloads_dir / f"{name}.json").read_bytes()

    def payload_names(self) -> list[str]:
        return sorted(path.stem for path in self.payloads_dir.glob("*.json"))


@dataclass(frozen=True)
class DemoCloud(ProfiledCloud):
    secret: str  # as stored in Secrets Manager: one value per line
    what: str
    # The whsec_ secret the connector function signs its requests to this cloud with (None: the connector
    # function does not ask this cloud anything).
    outbound_secret: str | None = None

    def signed(
        self,
        body: bytes,
        *,
        delivery_id: str | None = None,
        now: float | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        """The headers this cloud sends with `body`: its signature (with `secret`, by default its own),
        timestamp and delivery id, as its profile describes them."""
        profile = self.profile()
        delivery_id = delivery_id or f"dlv-{uuid.uuid4().hex[:16]}"
        headers = sign(
            profile.verification,
            secret or self.secret,
            body,
            message_id=delivery_id,
            now=time.time() if now is None else now,
        )
        if profile.message_id_header:
            headers.setdefault(profile.message_id_header, delivery_id)
        return headers


LUMEN = DemoCloud(
    connector_id="lumen-home",
    secret="lumen-home demo webhook secret, local use only",  # noqa: S106 - published for the local stack
    what="lights and plugs, signed like GitHub (sha256= HMAC of the raw body)",
    outbound_secret="whsec_" + base64.b64encode(b"lumen-home device cloud requests, local use only").decode(),
)
AERIE = DemoCloud(
    connector_id="aerie-sensors",
    secret="aerie-sensors demo signing secret, local use only",  # noqa: S106 - published for the local stack
    what="sensors, signed like Slack (v0:{timestamp}:{body}, five minutes' tolerance)",
)
DEMO_CLOUDS = (LUMEN, AERIE)
