"""Real device clouds as examples: each one's profile and documented payloads (events/profiles/), how it
signs a delivery, and what the local stack changes in its profile to run it on one machine.

A real cloud's profile names the cloud's own hosts: SmartThings' certificates at key.smartthings.com, Google's
keys at www.googleapis.com, SmartThings' confirmation URLs at api.smartthings.com. The local stack cannot
reach them, so it serves stand-ins on loopback (`bridge_local.real_cloud_endpoints`: the test keys of
`samples.smartthings` and `samples.google_nest`, and a server that takes a handshake's GET) and stores each
profile as `local_profile` rewrites it: the same rules, with its key URLs and host allow-lists pointed at that
server. The relay fetches over plain HTTP only from loopback, and only with ALLOW_LOOPBACK_DEVICE_CLOUDS.

The local stack, the sample events and the tests iterate REAL_CLOUDS.
"""

from __future__ import annotations

import base64
import copy
import json
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from samples import enode, google_nest, nuki, smartthings, switchbot
from samples.device_clouds import ProfiledCloud

# A signed sample: the body and the headers the cloud sends with it.
type SignedSample = tuple[bytes, dict[str, str]]


@dataclass(frozen=True)
class LocalEndpoints:
    """Where the local stack serves what real clouds' profiles fetch and call (one loopback server)."""

    base_url: str  # http://127.0.0.1:<port>

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.base_url).hostname or "127.0.0.1"

    def url(self, path: str) -> str:
        return self.base_url + path


def _as_is(document: dict[str, Any], _: LocalEndpoints) -> dict[str, Any]:
    return document


def _no_documents() -> dict[str, tuple[str, bytes]]:
    return {}


def _no_samples(_: int) -> dict[str, SignedSample]:
    return {}


def events_path(connector_id: str) -> str:
    """The relay's webhook path for a connector, as the HTTP API passes it on (rawPath)."""
    return f"/connectors/{connector_id}/events"


@dataclass(frozen=True)
class RealCloud(ProfiledCloud):
    what: str = ""
    # The connector's secret as stored in Secrets Manager (None: the scheme verifies with the cloud's
    # published keys and reads no secret).
    secret: str | None = None
    # The whsec_ secret the connector function signs its requests to this cloud with (None: none locally).
    outbound_secret: str | None = None
    # What the local key server serves for this cloud: path -> (content type, body).
    documents: Callable[[], dict[str, tuple[str, bytes]]] = field(default=_no_documents)
    # The profile document as the local stack stores it.
    localized: Callable[[dict[str, Any], LocalEndpoints], dict[str, Any]] = field(default=_as_is)
    # The sample events of events/ (webhook-<connector id>-<name>.json), signed at a timestamp.
    samples: Callable[[int], dict[str, SignedSample]] = field(default=_no_samples)
    # The token its webhooks' URL carries in its path (/connectors/<id>/events/<token>): a path-token
    # scheme's secret (None: they are posted to /connectors/<id>/events).
    path_token: str | None = None

    def local_profile(self, endpoints: LocalEndpoints) -> str:
        """The profile as the local stack stores it in SSM (compact JSON)."""
        document = json.loads(self.profile_file.read_text(encoding="utf-8"))
        return json.dumps(self.localized(copy.deepcopy(document), endpoints), separators=(",", ":"))


# --- SmartThings ------------------------------------------------------------------------------------------

SMARTTHINGS_KEYS_PATH = "/smartthings/keys"
# Where the local stand-in for api.smartthings.com takes a CONFIRMATION's GET.
SMARTTHINGS_API_PATH = "/smartthings/api"


def _smartthings_documents() -> dict[str, tuple[str, bytes]]:
    return {
        SMARTTHINGS_KEYS_PATH + smartthings.KEY_ID: ("application/x-pem-file", smartthings.CERTIFICATE_PEM)
    }


def _smartthings_local(document: dict[str, Any], endpoints: LocalEndpoints) -> dict[str, Any]:
    verification = document["verification"]
    verification["keyUrl"] = endpoints.url(SMARTTHINGS_KEYS_PATH) + "{keyId}"
    verification["keyHosts"] = [endpoints.host]
    for handshake in document.get("handshakes", []):
        if "confirm" in handshake:
            handshake["confirm"]["hosts"] = [endpoints.host]
    return document


def smartthings_confirmation_url(endpoints: LocalEndpoints, app_id: str = smartthings.APP_ID) -> str:
    """A CONFIRMATION's URL at the local stand-in for api.smartthings.com (the documented URL's shape)."""
    path = f"{SMARTTHINGS_API_PATH}/apps/{app_id}/confirm-registration"
    return endpoints.url(path) + "?token=" + str(uuid.uuid4())


def _smartthings_samples(timestamp: int) -> dict[str, SignedSample]:
    body = SMARTTHINGS.payload("device-events-motion-lock")
    return {
        "device-event": (
            body,
            smartthings.signed_headers(body, path=events_path("smartthings"), now=timestamp),
        )
    }


SMARTTHINGS = RealCloud(
    connector_id="smartthings",
    what="SmartThings webhook SmartApps: draft-cavage HTTP Signatures (rsa-sha256, Digest, Date), x.509 keys",
    documents=_smartthings_documents,
    localized=_smartthings_local,
    samples=_smartthings_samples,
)


# --- Google Nest (SDM over Cloud Pub/Sub push) ------------------------------------------------------------

GOOGLE_JWKS_PATH = "/google/oauth2/v3/certs"
# Where the connector function's requests for the Nest connector go locally: taken, never answered, so that a
# discovery begun through the connector function stays open.
GOOGLE_NEST_REQUESTS_PATH = "/google-nest/aws-iot/requests"


def _google_documents() -> dict[str, tuple[str, bytes]]:
    return {GOOGLE_JWKS_PATH: ("application/json", json.dumps(google_nest.jwks()).encode("utf-8"))}


def _google_nest_local(document: dict[str, Any], endpoints: LocalEndpoints) -> dict[str, Any]:
    document["verification"]["jwksUrl"] = endpoints.url(GOOGLE_JWKS_PATH)
    # The user's id is the `sub` of the local demo's access tokens (Google's own are opaque).
    document["deviceCloud"] = {"url": endpoints.url(GOOGLE_NEST_REQUESTS_PATH), "userIdClaim": "sub"}
    return document


def google_nest_push(
    event: bytes, *, now: float, message_id: str | None = None, token: str | None = None
) -> SignedSample:
    """A native SDM event as Pub/Sub pushes it: wrapped, with the push's bearer JWT issued at `now`."""
    body = google_nest.push_envelope(
        event, message_id=message_id or str(uuid.uuid4().int)[:16], published=now
    )
    return body, google_nest.push_headers(token or google_nest.push_token(now=now))


def _google_nest_samples(timestamp: int) -> dict[str, SignedSample]:
    event = GOOGLE_NEST.payload("trait-thermostat-mode-setpoint")
    return {"trait-event": google_nest_push(event, now=timestamp, message_id="2070443601311540")}


GOOGLE_NEST = RealCloud(
    connector_id="google-nest",
    what="Google Nest SDM events over Pub/Sub push: an OIDC JWT (RS256) per push, base64 JSON message data",
    outbound_secret="whsec_" + base64.b64encode(b"google-nest local request-taker, local use only").decode(),
    documents=_google_documents,
    localized=_google_nest_local,
    samples=_google_nest_samples,
)


# --- Nuki, SwitchBot, Enode: signed with a secret, their device cloud's requests taken locally -------------


def _requests_taken_locally(name: str) -> Callable[[dict[str, Any], LocalEndpoints], dict[str, Any]]:
    """A profile whose connector function's requests go to the local server, which takes them (202)."""

    def localized(document: dict[str, Any], endpoints: LocalEndpoints) -> dict[str, Any]:
        if "outbound" in document:
            # A profile that calls the cloud's own REST API: its calls go to the local server too.
            document["outbound"]["baseUrl"] = endpoints.url(f"/{name}")
        else:
            document["deviceCloud"]["url"] = endpoints.url(f"/{name}/aws-iot/requests")
        return document

    return localized


def _nuki_samples(_: int) -> dict[str, SignedSample]:
    # Nuki signs no timestamp: the sample is good whenever it is sent.
    body = NUKI.payload("device-status")
    return {"device-status": (body, nuki.signed_headers(body))}


NUKI = RealCloud(
    connector_id=nuki.CONNECTOR_ID,
    what="Nuki Web API decentral webhooks: hex HMAC-SHA256 of the body, no timestamp, no delivery id",
    secret=nuki.SECRET,
    outbound_secret="whsec_" + base64.b64encode(b"nuki local request-taker, local use only").decode(),
    localized=_requests_taken_locally("nuki"),
    samples=_nuki_samples,
)


def _switchbot_samples(_: int) -> dict[str, SignedSample]:
    # SwitchBot signs nothing: its webhook carries its body, and the URL its token.
    body = SWITCHBOT.payload("meter")
    return {"meter": (body, switchbot.webhook_headers())}


SWITCHBOT = RealCloud(
    connector_id=switchbot.CONNECTOR_ID,
    what="SwitchBot API v1.1 webhooks: unsigned, a secret token in the registered URL's path",
    secret=switchbot.PATH_TOKEN,
    outbound_secret="whsec_" + base64.b64encode(b"switchbot local request-taker, local use only").decode(),
    localized=_requests_taken_locally("switchbot"),
    samples=_switchbot_samples,
    path_token=switchbot.PATH_TOKEN,
)


def _enode_samples(_: int) -> dict[str, SignedSample]:
    # The delivery id is fixed, so the sample is one delivery whenever it is sent.
    body = ENODE.payload("batch-100")
    return {"batch": (body, enode.signed_headers(body, delivery_id="8a6f2c1e-3b5d-4f7a-9c0e-1d2b3a4c5e6f"))}


ENODE = RealCloud(
    connector_id=enode.CONNECTOR_ID,
    what="Enode webhooks: sha1= HMAC of the body, an unsigned delivery id, up to 100 events a delivery",
    secret=enode.SECRET,
    outbound_secret="whsec_" + base64.b64encode(b"enode local request-taker, local use only").decode(),
    localized=_requests_taken_locally("enode"),
    samples=_enode_samples,
)


REAL_CLOUDS: tuple[RealCloud, ...] = (SMARTTHINGS, GOOGLE_NEST, NUKI, SWITCHBOT, ENODE)


def local_documents(clouds: tuple[RealCloud, ...] = REAL_CLOUDS) -> Mapping[str, tuple[str, bytes]]:
    """Every document the local key server serves, by path."""
    found: dict[str, tuple[str, bytes]] = {}
    for cloud in clouds:
        found.update(cloud.documents())
    return found
