"""A small device cloud on loopback, for the connector's whole loop on one machine.

It takes the connector function's requests (the outbound webhooks of iotbridge.connector.adapters), checks
their Standard Webhooks signature with the reference library (`standardwebhooks`, not the project's own
code), and answers as a device cloud would: the user of a credential for `activateUser` and
`deactivateUser`; for `discoverDevices` and `sendCommand` a 202 at once and, a moment later, its own native
webhook to the relay (a demo cloud's JSON, signed its way), echoing the request's id so that the relay
correlates it. It also reports device-initiated state changes. Devices in `silent_devices` take commands and
never answer them; the next `unavailable_next` requests are answered 503, as a cloud briefly down.

    cloud = FakeDeviceCloud(LUMEN, credentials={"token": "lumen-acct-2291"}).start()
    cloud.relay_url = "http://127.0.0.1:3000"     # where its webhooks go (None: it only takes requests)
    ... cloud.url is the profile's deviceCloud.url ...
    cloud.stop()
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from loopback import LOOPBACK, LoopbackHandler, LoopbackServer

from .demo_clouds import LUMEN, DemoCloud
from .signing import Reply, post

log = logging.getLogger("bridge_local.device_cloud")

REQUESTS_PATH = "/aws-iot/requests"
MAX_REQUEST_BYTES = 1024 * 1024
# The demo user's credentials: an OAuth access token, and a General Authorization secret's text.
DEMO_TOKEN = "lumen-demo-access-token-2291"  # noqa: S105 - published for the local stack
DEMO_SERVICE_KEY = "lumen-demo-service-key-2291"
DEMO_USER = "lumen-acct-2291"
DEMO_CREDENTIALS = {DEMO_TOKEN: DEMO_USER, DEMO_SERVICE_KEY: DEMO_USER}
# What discovery finds for a user: native device records of the lights cloud.
DEMO_DEVICES: tuple[dict[str, Any], ...] = (
    {"deviceId": "lmn-bulb-0042", "name": "Kitchen pendant", "model": "LB-20T", "features": []},
    {"deviceId": "lmn-plug-0007", "name": "Kettle plug", "model": "SP-1", "features": ["metering"]},
)
# Matter commands as the lights cloud names them.
COMMANDS = {"OnOff.On": "turnOn", "OnOff.Off": "turnOff", "OnOff.Toggle": "toggle"}
POWER_AFTER = {"turnOn": "on", "turnOff": "off"}


@dataclass
class Received:
    """One request the cloud received (never its credential)."""

    type: str
    connector_id: str
    request_id: str | None
    webhook_id: str
    verified: bool
    status: int
    received_at: float
    device: str | None = None
    commands: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "connectorId": self.connector_id,
            "requestId": self.request_id,
            "webhookId": self.webhook_id,
            "verified": self.verified,
            "status": self.status,
            "receivedAt": round(self.received_at, 3),
            "device": self.device,
            "commands": self.commands,
        }


class FakeDeviceCloud(LoopbackServer):
    thread_name = "device-cloud"

    def __init__(
        self,
        cloud: DemoCloud = LUMEN,
        *,
        credentials: Mapping[str, str] | None = None,
        devices: tuple[dict[str, Any], ...] = DEMO_DEVICES,
        reply_delay: float = 0.05,
        port: int = 0,
    ) -> None:
        if cloud.outbound_secret is None:
            raise ValueError(f"{cloud.connector_id} takes no requests from the connector function")
        self.cloud = cloud
        self.credentials = dict(DEMO_CREDENTIALS if credentials is None else credentials)
        self.devices = devices
        self.reply_delay = reply_delay
        self.relay_url: str | None = None
        self.silent_devices: set[str] = set()
        self.unavailable_next = 0
        self.received: list[Received] = []
        self.replies: list[dict[str, Any]] = []
        self._webhook = Webhook(cloud.outbound_secret)
        self._lock = threading.Lock()
        self._replies: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._replier = threading.Thread(target=self._send_replies, name="device-cloud-replies", daemon=True)
        super().__init__(_handler_for(self), port=port)

    @property
    def url(self) -> str:
        """What the connector's profile names as its deviceCloud.url."""
        return f"http://{LOOPBACK}:{self.server_address[1]}{REQUESTS_PATH}"

    def start(self) -> Self:
        self._replier.start()
        return super().start()

    def stop(self) -> None:
        self._replies.put(None)
        super().stop()

    # --- what happened ------------------------------------------------------------------------------------

    def requests(self, request_id: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if request_id is None or r.request_id == request_id]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every answer the cloud owes the relay has been sent."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    # --- taking a request ---------------------------------------------------------------------------------

    def take(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """A request of the connector function: the HTTP status and JSON to answer it with."""
        try:
            self._webhook.verify(body, dict(headers))
        except (WebhookVerificationError, ValueError):
            self._record({}, headers, verified=False, status=401)
            return 401, {"message": "signature does not verify"}
        try:
            request = json.loads(body)
        except ValueError:
            return 400, {"message": "not JSON"}
        if not isinstance(request, dict):
            return 400, {"message": "not an object"}
        with self._lock:
            unavailable = self.unavailable_next > 0
            self.unavailable_next -= 1 if unavailable else 0
        if unavailable:
            self._record(request, headers, verified=True, status=503)
            return 503, {"message": "briefly unavailable"}
        found = request.get("auth")
        auth: Mapping[str, Any] = found if isinstance(found, dict) else {}
        user = self.credentials.get(str(auth.get("token") or auth.get("secret") or ""))
        if user is None:
            self._record(request, headers, verified=True, status=401)
            return 401, {"message": "unknown credential"}
        kind = request.get("type")
        if kind in ("activateUser", "deactivateUser"):
            self._record(request, headers, verified=True, status=200)
            return 200, {"userId": user}
        if kind == "discoverDevices":
            self._record(request, headers, verified=True, status=202)
            self._owe("discovery", {"user": user, "requestId": request.get("requestId")})
            return 202, {"accepted": True}
        if kind == "sendCommand":
            device = str(request.get("connectorDeviceId") or "")
            self._record(request, headers, verified=True, status=202)
            if device not in self.silent_devices:
                self._owe("command", {"user": user, "device": device, **request})
            return 202, {"accepted": True}
        self._record(request, headers, verified=True, status=400)
        return 400, {"message": "unknown request type"}

    def _record(
        self, request: Mapping[str, Any], headers: Mapping[str, str], *, verified: bool, status: int
    ) -> None:
        commands = [
            str(c.get("name") or c.get("commandId"))
            for c in request.get("commands") or []
            if isinstance(c, dict)
        ]
        entry = Received(
            type=str(request.get("type") or "?"),
            connector_id=str(request.get("connectorId") or ""),
            request_id=request.get("requestId") if isinstance(request.get("requestId"), str) else None,
            webhook_id=str({k.lower(): v for k, v in headers.items()}.get("webhook-id", "")),
            verified=verified,
            status=status,
            received_at=time.time(),
            device=request.get("connectorDeviceId")
            if isinstance(request.get("connectorDeviceId"), str)
            else None,
            commands=commands,
        )
        with self._lock:
            self.received.append(entry)

    # --- answering through the relay --------------------------------------------------------------------

    def _owe(self, kind: str, request: dict[str, Any]) -> None:
        if self.relay_url is None:
            return  # no relay to answer through (a benchmark's cloud): the request is only taken
        with self._lock:
            self._pending += 1
        self._replies.put((kind, request))

    def _send_replies(self) -> None:
        while True:
            item = self._replies.get()
            if item is None:
                return
            kind, request = item
            time.sleep(self.reply_delay)
            try:
                body = self._discovery(request) if kind == "discovery" else self._command_result(request)
                reply = self.send(body)
                with self._lock:
                    self.replies.append(
                        {"type": kind, "requestId": request.get("requestId"), "status": reply.status}
                    )
            except Exception as exc:
                log.error("the device cloud could not answer through the relay: %s", exc)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _discovery(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return _native(
            request["user"],
            {
                "type": "discovery.result",
                "discoveryId": request.get("requestId"),
                "devices": list(self.devices),
            },
        )

    @staticmethod
    def _command_result(request: Mapping[str, Any]) -> dict[str, Any]:
        names = [c.get("name") for c in request.get("commands") or [] if isinstance(c, dict)]
        command = next((COMMANDS[n] for n in names if n in COMMANDS), "toggle")
        result = {
            "type": "command.result",
            "deviceId": request["device"],
            "requestId": request.get("requestId"),
            "command": command,
            "result": "ok",
            "state": {"power": POWER_AFTER.get(command, "on")},
        }
        return _native(request["user"], result)

    def report_state(
        self, user: str, device_id: str, state: Mapping[str, Any], *, kind: str = "light"
    ) -> Reply:
        """A device-initiated change, sent to the relay as the cloud sends its states."""
        return self.send(
            _native(user, {"type": "device.state", "kind": kind, "deviceId": device_id, "state": dict(state)})
        )

    def send(self, body: Mapping[str, Any]) -> Reply:
        """POST one native webhook to the relay, signed as this cloud signs."""
        if self.relay_url is None:
            raise RuntimeError("the device cloud does not know the relay's URL yet")
        raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
        return post(
            f"{self.relay_url}/connectors/{self.cloud.connector_id}/events", raw, self.cloud.signed(raw)
        )


def _native(user: str, event: dict[str, Any]) -> dict[str, Any]:
    sent_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"accountId": user, "sentAt": sent_at, "events": [event]}


def _handler_for(cloud: FakeDeviceCloud) -> type[LoopbackHandler]:
    class Handler(LoopbackHandler):
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] == "/_cloud/requests":
                with cloud._lock:
                    listed = [r.as_dict() for r in cloud.received]
                self._send(200, {"requests": listed, "replies": list(cloud.replies)})
            else:
                self._send(404, {"message": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != REQUESTS_PATH or length > MAX_REQUEST_BYTES:
                self.close_connection = True
                self._send(404 if self.path != REQUESTS_PATH else 413, {"message": "not taken"})
                return
            body = self.read_body(length)
            status, answer = cloud.take(body, {k: v for k, v in self.headers.items()})
            self._send(status, answer)

        def _send(self, status: int, payload: Any) -> None:
            self.answer(status, json.dumps(payload).encode("utf-8"), [("Content-Type", "application/json")])

    return Handler
