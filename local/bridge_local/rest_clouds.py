"""Two real device clouds' REST APIs on loopback, as their public documentation describes them, for the
connector function's profile-driven (`outbound`) calls: SwitchBot's API v1.1 and Nuki's Web API.

Each keeps its devices' state, records every request it receives (method, path, query, headers, body) for
tests to assert on, and answers an unknown path 404. Neither is a mock: a request is answered from the
cloud's state and its documented rules, never from what a test told it to say.

    switchbot = SwitchBotApi().start()            # token and secret: switchbot.token, switchbot.secret
    ... GET {switchbot.url}/v1.1/devices, signed as the README's "How to Sign?" says ...
    nuki = NukiWebApi(webhook_url="http://127.0.0.1:3000/connectors/nuki/events").start()
    ... POST {nuki.url}/smartlock/{id}/action/unlock/advanced -> {"requestId": ...}, then its webhook ...
    switchbot.stop(); nuki.stop()

SwitchBot (github.com/OpenWonderLabs/SwitchBotAPI, README.md):
- Every request carries `Authorization` (the open token), `t` (a 13-digit millisecond timestamp), `nonce`
  and `sign` = base64(HMAC-SHA256(secret, token + t + nonce)) ("Authentication", "Request Header"). The
  prose says to upper-case the signature and so do the PHP and Go examples; the Python, JavaScript, C# and
  Java examples do not. Both forms are working examples of the README, so both are taken; any other is not.
- A request that fails that check is answered HTTP 401 `{"message": "Unauthorized"}` ("Send device control
  commands", Errors; "Get device list", Responses).
- `GET /v1.1/devices`, `GET /v1.1/devices/{deviceId}/status` and `POST /v1.1/devices/{deviceId}/commands`
  answer `{"statusCode": ..., "body": {...}, "message": ...}`; a command's outcome is its statusCode:
  100 success, 151 device type error, 152 device not found, 160 command is not supported, 161 device
  offline, 171 hub device is offline, 190 device internal error or invalid command format.

Nuki (docs.nuki.io, and the Web API's Swagger reference at api.nuki.io as generated clients reproduce it):
- `Authorization: Bearer <token>`; anything else is answered 401.
- `GET /account` (the token's account: `accountId`, `email`, `name`, ...), `GET /smartlock` (Smartlock
  objects: `smartlockId`, `accountId`, `type`, `authId`, `name`, `favorite`, `state`, `serverState`,
  `adminPinState`, ...), `GET /smartlock/{smartlockId}`.
- `POST /smartlock/{smartlockId}/action/lock` and `.../unlock` (and `.../action` with a SmartlockAction
  body) answer with no body; the "advanced" ones (`.../action/lock/advanced`, `.../action/unlock/advanced`,
  `.../action/advanced`) answer `{"requestId": ...}` and, once done, send an "API triggered webhook" echoing
  that requestId (docs.nuki.io/guide/webhooks/type-api/), signed `X-Nuki-Signature-SHA256` = lower-case
  hex HMAC-SHA256 of the body with the decentral webhook's secret
  (docs.nuki.io/guide/webhooks/central-decentral/).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loopback import LoopbackHandler, LoopbackServer
from samples import nuki as nuki_signer

from .signing import post

log = logging.getLogger("bridge_local.rest_clouds")

MAX_REQUEST_BYTES = 1024 * 1024
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class ReceivedRequest:
    """One request a cloud received, as it came: for tests to assert on (the fakes log none of it)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int = 0
    answered_at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Answer:
    status: int
    payload: Any = None  # JSON to send; None: no body
    headers: tuple[tuple[str, str], ...] = ()


class RestCloud(LoopbackServer):
    """A loopback REST API: routes each request to `route`, records it with the status it was answered."""

    thread_name = "rest-cloud"

    def __init__(self, *, port: int = 0) -> None:
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.RLock()
        super().__init__(_handler_for(self), port=port)

    def route(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Answer:
        raise NotImplementedError

    def take(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        parts = urllib.parse.urlsplit(target)
        path = parts.path
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            answer = self.route(method, path, query, lowered, body)
        except Exception:  # a fake's bug answers 500 as a real server's would, and is logged without values
            log.exception("%s could not answer %s %s", type(self).__name__, method, path)
            answer = Answer(500, {"message": "Internal Server Error"})
        with self._lock:
            self.requests.append(ReceivedRequest(method, path, query, lowered, body, answer.status))
        return answer

    def received(self, method: str | None = None, path: str | None = None) -> list[ReceivedRequest]:
        """The requests received so far, optionally only those of one method and path."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]


def _handler_for(cloud: RestCloud) -> type[LoopbackHandler]:
    class Handler(LoopbackHandler):
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

        def _take(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self.close_connection = True
                self._send(Answer(413, {"message": "Payload Too Large"}))
                return
            body = self.read_body(length)
            self._send(cloud.take(self.command, self.path, dict(self.headers.items()), body))

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _take

        def _send(self, answer: Answer) -> None:
            headers = list(answer.headers)
            if answer.payload is None:
                self.answer(answer.status, b"", headers)
                return
            raw = json.dumps(answer.payload, separators=(",", ":")).encode("utf-8")
            self.answer(answer.status, raw, [("Content-Type", JSON_TYPE), *headers])

    return Handler


# --- SwitchBot API v1.1 ---------------------------------------------------------------------------------

SWITCHBOT_TOKEN = "4f1c9a0e2b7d4c55a8e36b1f0d2c9e7a41b5c8d3e6f7a9b0c1d2e3f4a5b6c7d8e9"  # noqa: S105 - local only
SWITCHBOT_SECRET = "0b7e6d5c4a3f2e1d"  # noqa: S105 - published for the local stack
SWITCHBOT_SUCCESS = 100
# The README's statusCodes of "Send device control commands", with its descriptions as messages.
SWITCHBOT_ERRORS = {
    151: "device type error",
    152: "device not found",
    160: "command is not supported",
    161: "device offline",
    171: "hub device is offline",
    190: (
        "Device internal error due to device states not synchronized with server. "
        "Or command format is invalid."
    ),
}
# The id the customer's General Authorization secret gives its SwitchBot user (the API names no user).
SWITCHBOT_USER = "switchbot-user-1"
NO_HUB = "000000000000"  # hubDeviceId "when the device itself is a Hub or it is connected through Wi-Fi"

# Physical devices of the README's "Get device list" ("Get all devices" sample for the object's shape),
# named by ids of the form its samples use (12 upper-case hex digits, the device's MAC address).
SWITCHBOT_DEVICES: tuple[dict[str, Any], ...] = (
    {
        "deviceId": "C1A2B3C4D501",
        "deviceName": "Kitchen bulb",
        "deviceType": "Color Bulb",
        "enableCloudService": True,
        "hubDeviceId": NO_HUB,
    },
    {
        "deviceId": "C1A2B3C4D502",
        "deviceName": "Desk strip",
        "deviceType": "Strip Light",
        "enableCloudService": True,
        "hubDeviceId": NO_HUB,
    },
    {
        "deviceId": "C1A2B3C4D503",
        "deviceName": "Front door",
        "deviceType": "Smart Lock",
        "enableCloudService": True,
        "hubDeviceId": "C1A2B3C4D5F0",
        "group": False,
        "master": True,
        "groupName": "",
        "lockDevicesIds": [],
    },
    {
        "deviceId": "C1A2B3C4D504",
        "deviceName": "Hallway meter",
        "deviceType": "Meter",
        "enableCloudService": True,
        "hubDeviceId": "C1A2B3C4D5F0",
    },
    {
        "deviceId": "C1A2B3C4D505",
        "deviceName": "Coffee plug",
        "deviceType": "Plug Mini (US)",
        "enableCloudService": True,
        "hubDeviceId": NO_HUB,
    },
    {
        "deviceId": "C1A2B3C4D5F0",
        "deviceName": "Hub",
        "deviceType": "Hub 2",
        "enableCloudService": True,
        "hubDeviceId": NO_HUB,
    },
)
# The README's own "Get all devices" sample entry of infraredRemoteList.
SWITCHBOT_REMOTES: tuple[dict[str, Any], ...] = (
    {
        "deviceId": "02-202008110034-13",
        "deviceName": "Living Room TV",
        "remoteType": "TV",
        "hubDeviceId": "FA7310762361",
    },
)
# Commands per deviceType, from the command tables of "Command set for physical devices" (the tables name
# the product, e.g. "Lock"; the device list names its type, e.g. "Smart Lock").
SWITCHBOT_COMMANDS: dict[str, frozenset[str]] = {
    "Color Bulb": frozenset(
        {"turnOn", "turnOff", "toggle", "setBrightness", "setColor", "setColorTemperature"}
    ),
    "Strip Light": frozenset({"turnOn", "turnOff", "toggle", "setBrightness", "setColor"}),
    "Ceiling Light": frozenset({"turnOn", "turnOff", "toggle", "setBrightness", "setColorTemperature"}),
    "Ceiling Light Pro": frozenset({"turnOn", "turnOff", "toggle", "setBrightness", "setColorTemperature"}),
    "Smart Lock": frozenset({"lock", "unlock", "deadbolt"}),
    "Smart Lock Pro": frozenset({"lock", "unlock", "deadbolt"}),
    "Smart Lock Pro Wifi": frozenset({"lock", "unlock", "nightLatchUnlock", "deadbolt"}),
    "Smart Lock Ultra": frozenset({"lock", "unlock", "deadbolt"}),
    "Lock Lite": frozenset({"lock", "unlock"}),
    "Plug": frozenset({"turnOn", "turnOff"}),
    "Plug Mini (US)": frozenset({"turnOn", "turnOff", "toggle"}),
    "Plug Mini (JP)": frozenset({"turnOn", "turnOff", "toggle"}),
    "Plug Mini (EU)": frozenset({"turnOn", "turnOff", "toggle"}),
}
# Parameter ranges of those tables: setBrightness `{1-100}` (Color Bulb, Strip Light, Ceiling Lights),
# setColorTemperature `{2700-6500}`, setColor `"{0-255}:{0-255}:{0-255}"`.
BRIGHTNESS = (1, 100)
KELVIN = (2700, 6500)
RGB_TEXT = re.compile(r"^(\d{1,3}):(\d{1,3}):(\d{1,3})$")


def _initial_status(device: Mapping[str, Any]) -> dict[str, Any]:
    """A device's status as `GET /v1.1/devices/{id}/status` reports it (its type's table in "Get device
    status"); values are ours."""
    status: dict[str, Any] = {
        "deviceId": device["deviceId"],
        "deviceType": device["deviceType"],
        "hubDeviceId": device["hubDeviceId"],
    }
    kind = device["deviceType"]
    if kind in ("Color Bulb", "Strip Light", "Ceiling Light", "Ceiling Light Pro"):
        status.update(power="off", brightness=100)
        if kind in ("Color Bulb", "Strip Light"):
            status["color"] = "255:255:255"
        if kind != "Strip Light":
            status["colorTemperature"] = 4000
    elif kind in SWITCHBOT_COMMANDS and "lock" in SWITCHBOT_COMMANDS[kind]:
        status.update(battery=100, lockState="lock", doorState="close", calibrate=True)
    elif kind.startswith("Plug"):
        status["power"] = "off"
    elif kind in ("Meter", "MeterPlus", "WoIOSensor", "Hub 2", "Hub 3"):
        status.update(temperature=21.5, humidity=48)
    return status


class SwitchBotApi(RestCloud):
    """SwitchBot's API v1.1 on loopback: signed requests, the device list, device status and commands."""

    thread_name = "switchbot-api"

    def __init__(
        self,
        *,
        token: str = SWITCHBOT_TOKEN,
        secret: str = SWITCHBOT_SECRET,
        devices: Iterable[Mapping[str, Any]] = SWITCHBOT_DEVICES,
        remotes: Iterable[Mapping[str, Any]] = SWITCHBOT_REMOTES,
        port: int = 0,
    ) -> None:
        self.token = token
        self.secret = secret
        self.devices: list[dict[str, Any]] = [dict(d) for d in devices]
        self.remotes: list[dict[str, Any]] = [dict(r) for r in remotes]
        self.status: dict[str, dict[str, Any]] = {d["deviceId"]: _initial_status(d) for d in self.devices}
        # Devices that answer 161 (device offline); hub ids that make their devices answer 171.
        self.offline: set[str] = set()
        self.offline_hubs: set[str] = set()
        super().__init__(port=port)

    # --- what the README documents -----------------------------------------------------------------------

    def signed(self, headers: Mapping[str, str]) -> bool:
        """Whether a request's headers carry the open token and a signature of it made with the secret."""
        token, t, nonce, sign = (headers.get(n) for n in ("authorization", "t", "nonce", "sign"))
        if not token or not t or nonce is None or not sign:
            return False
        if not hmac.compare_digest(token.encode(), self.token.encode()) or not re.fullmatch(r"\d{13}", t):
            return False
        message = f"{token}{t}{nonce}".encode()
        expected = base64.b64encode(hmac.new(self.secret.encode(), message, hashlib.sha256).digest()).decode()
        return hmac.compare_digest(sign, expected) or hmac.compare_digest(sign, expected.upper())

    def route(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Answer:
        if not path.startswith("/v1.1/"):
            return Answer(404)  # the README's "Standard HTTP Error Codes" give 404 no body
        if not self.signed(headers):
            return Answer(401, {"message": "Unauthorized"})
        segments = path.split("/")[2:]  # ["devices", id, "commands"]
        if method == "GET" and segments == ["devices"]:
            with self._lock:
                listed = {
                    "deviceList": copy.deepcopy(self.devices),
                    "infraredRemoteList": copy.deepcopy(self.remotes),
                }
            return self._success(listed)
        if len(segments) == 3 and segments[0] == "devices":
            device_id = urllib.parse.unquote(segments[1])
            if method == "GET" and segments[2] == "status":
                return self._device_status(device_id)
            if method == "POST" and segments[2] == "commands":
                return self._command(device_id, body)
        return Answer(404)

    @staticmethod
    def _success(body: Any) -> Answer:
        return Answer(200, {"statusCode": SWITCHBOT_SUCCESS, "body": body, "message": "success"})

    @staticmethod
    def _error(code: int) -> Answer:
        # The README gives these as the answer's statusCode, not as HTTP statuses: the HTTP status is 200.
        return Answer(200, {"statusCode": code, "body": {}, "message": SWITCHBOT_ERRORS[code]})

    def _device(self, device_id: str) -> dict[str, Any] | None:
        return next((d for d in self.devices if d["deviceId"] == device_id), None)

    def _device_status(self, device_id: str) -> Answer:
        with self._lock:
            device = self._device(device_id)
            if device is None:
                return self._error(152)
            return self._success(copy.deepcopy(self.status[device_id]))

    def _command(self, device_id: str, body: bytes) -> Answer:
        try:
            request = json.loads(body)
        except ValueError:
            return self._error(190)
        if not isinstance(request, dict) or not isinstance(request.get("command"), str):
            return self._error(190)
        with self._lock:
            device = self._device(device_id)
            if device is None:
                return self._error(152)
            kind = device["deviceType"]
            if request.get("commandType", "command") != "command" or request[
                "command"
            ] not in SWITCHBOT_COMMANDS.get(kind, ()):
                return self._error(160)
            if device_id in self.offline:
                return self._error(161)
            if device["hubDeviceId"] in self.offline_hubs:
                return self._error(171)
            change = _command_change(request["command"], request.get("parameter", "default"))
            if change is None:
                return self._error(190)
            self.status[device_id].update(change)
        return self._success({})


def switchbot_authorization(api: SwitchBotApi) -> dict[str, str]:
    """What a customer's General Authorization secret holds for a SwitchBot connector: the account's open
    token and secret key (from the app), and the id the connector reports as the user's."""
    return {"token": api.token, "secret": api.secret, "userId": SWITCHBOT_USER}


def _command_change(command: str, parameter: Any) -> dict[str, Any] | None:
    """What a command changes in its device's status; None when its parameter is not the documented one."""
    if command in ("turnOn", "turnOff"):
        return {"power": "on" if command == "turnOn" else "off"}
    if command in ("lock", "unlock"):
        return {"lockState": command}
    if command == "setBrightness":
        value = _integer(parameter)
        return None if value is None or not BRIGHTNESS[0] <= value <= BRIGHTNESS[1] else {"brightness": value}
    if command == "setColorTemperature":
        value = _integer(parameter)
        return None if value is None or not KELVIN[0] <= value <= KELVIN[1] else {"colorTemperature": value}
    if command == "setColor":
        match = RGB_TEXT.match(parameter) if isinstance(parameter, str) else None
        if match is None or any(int(part) > 255 for part in match.groups()):
            return None
        return {"color": parameter}
    return {}  # toggle, deadbolt, nightLatchUnlock: taken, nothing the status tables say changes


def _integer(value: Any) -> int | None:
    # The tables write brightness and kelvin unquoted (`{1-100}`), colours quoted: a number is what they
    # show; digits in a string are taken too, as the body table types every parameter String.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


# --- Nuki Web API ----------------------------------------------------------------------------------------

NUKI_TOKEN = "nuki-web-api-token-local-only-7c1f"  # noqa: S105 - published for the local stack
NUKI_ACCOUNT: dict[str, Any] = {
    "accountId": 987654321,
    "type": 0,
    "email": "owner@example.com",
    "name": "Local owner",
    "language": "en",
    "creationDate": "2025-01-16T12:20:23.541Z",
    "updateDate": "2025-09-13T11:27:37.772Z",
}
# Smartlock objects as the Swagger model describes them; the first one's ids and state are those of the
# DEVICE_STATUS example of docs.nuki.io/guide/webhooks/type-device/.
NUKI_SMARTLOCKS: tuple[dict[str, Any], ...] = (
    {
        "smartlockId": 123456789,
        "accountId": 987654321,
        "type": 4,
        "authId": 1212121212,
        "name": "Hello",
        "favorite": False,
        "firmwareVersion": 199175,
        "hardwareVersion": 1291,
        "serverState": 0,
        "adminPinState": 0,
        "virtualDevice": False,
        "creationDate": "2025-01-16T12:20:23.541Z",
        "updateDate": "2025-09-13T11:27:37.772Z",
        "state": {
            "mode": 2,
            "state": 1,
            "trigger": 6,
            "lastAction": 2,
            "batteryCritical": False,
            "batteryCharging": False,
            "batteryCharge": 90,
            "keypadBatteryCritical": False,
            "doorsensorBatteryCritical": False,
            "doorState": 0,
            "ringToOpenTimer": 0,
            "nightMode": False,
        },
    },
    {
        "smartlockId": 123456790,
        "accountId": 987654321,
        "type": 2,
        "authId": 1212121213,
        "name": "Building door",
        "favorite": False,
        "serverState": 0,
        "adminPinState": 0,
        "state": {
            "mode": 2,
            "state": 1,
            "trigger": 0,
            "lastAction": 1,
            "batteryCritical": False,
            "doorState": 0,
            "ringToOpenTimer": 0,
            "nightMode": False,
        },
    },
)
# Smartlock.State.state of a keyturner (types 0, 3, 4, 5) after an action: 1 locked, 3 unlocked.
NUKI_LOCKED, NUKI_UNLOCKED = 1, 3
# SmartlockAction.action of a keyturner: 1 unlock, 2 lock (the Swagger model's description).
NUKI_ACTIONS = {1: "unlock", 2: "lock"}
# What an API-triggered webhook names an action: only "UnlockAction" is shown by the docs (the advanced
# unlock example); "LockAction" is ours, by analogy.
NUKI_WEBHOOK_TYPES = {"unlock": "UnlockAction", "lock": "LockAction"}
_SMARTLOCK_PATH = re.compile(r"^/smartlock/(\d{1,20})(?:/action(?:/(lock|unlock))?(/advanced)?)?$")


class NukiWebApi(RestCloud):
    """Nuki's Web API on loopback: a bearer token, the account, smartlocks and their (advanced) actions,
    and the API-triggered webhook of an advanced action, signed as decentral webhooks are."""

    thread_name = "nuki-web-api"

    def __init__(
        self,
        *,
        token: str = NUKI_TOKEN,
        account: Mapping[str, Any] = NUKI_ACCOUNT,
        smartlocks: Iterable[Mapping[str, Any]] = NUKI_SMARTLOCKS,
        webhook_url: str | None = None,
        webhook_secret: str = nuki_signer.SECRET,
        webhook_delay: float = 0.05,
        port: int = 0,
    ) -> None:
        self.token = token
        self.account = dict(account)
        self.devices: list[dict[str, Any]] = [copy.deepcopy(dict(s)) for s in smartlocks]
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.webhook_delay = webhook_delay
        # Smartlocks whose advanced actions fail: their webhook says `"success": false`.
        self.failing: set[int] = set()
        self.webhooks: list[dict[str, Any]] = []  # each sent: {"body": ..., "status": <relay's answer>}
        self._pending = 0
        self._idle = threading.Condition(threading.Lock())
        super().__init__(port=port)

    @property
    def smartlocks(self) -> list[dict[str, Any]]:
        return self.devices

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every webhook the cloud owes has been sent."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def authorized(self, headers: Mapping[str, str]) -> bool:
        scheme, _, credential = (headers.get("authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credential.encode(), self.token.encode())

    def route(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> Answer:
        known = path in ("/account", "/smartlock") or _SMARTLOCK_PATH.match(path) is not None
        if not known:
            return Answer(404)
        if not self.authorized(headers):
            # The reference names the status only ("401: Not authorized"), not a body.
            return Answer(401)
        if path == "/account":
            return Answer(200, dict(self.account)) if method == "GET" else Answer(405)
        if path == "/smartlock":
            if method != "GET":
                return Answer(405)
            with self._lock:
                return Answer(200, copy.deepcopy(self.devices))
        match = _SMARTLOCK_PATH.match(path)
        assert match is not None
        smartlock_id, named_action, advanced = int(match.group(1)), match.group(2), match.group(3) is not None
        with self._lock:
            smartlock = next((s for s in self.devices if s["smartlockId"] == smartlock_id), None)
            if smartlock is None:
                return Answer(404)
            if "/action" not in path:
                return Answer(200, copy.deepcopy(smartlock)) if method == "GET" else Answer(405)
            if method != "POST":
                return Answer(405)
            action = named_action or _body_action(body)
            if action is None:
                return Answer(400)  # the reference's "400: Bad Parameter"
            if not advanced:
                self._act(smartlock, action)
                return Answer(204)
            request_id = secrets.token_hex(12)
            succeeded = smartlock_id not in self.failing
            if succeeded:
                self._act(smartlock, action)
        self._owe_webhook(
            {
                "type": NUKI_WEBHOOK_TYPES[action],
                "requestId": request_id,
                "smartlockId": smartlock_id,
                "success": succeeded,
            }
        )
        return Answer(200, {"requestId": request_id})

    @staticmethod
    def _act(smartlock: dict[str, Any], action: str) -> None:
        state = smartlock.setdefault("state", {})
        state["state"] = NUKI_LOCKED if action == "lock" else NUKI_UNLOCKED
        state["lastAction"] = 2 if action == "lock" else 1
        state["trigger"] = 0

    def _owe_webhook(self, body: dict[str, Any]) -> None:
        if self.webhook_url is None:
            return
        with self._idle:
            self._pending += 1
        threading.Thread(target=self._send_webhook, args=(body,), name="nuki-webhook", daemon=True).start()

    def _send_webhook(self, body: dict[str, Any]) -> None:
        try:
            time.sleep(self.webhook_delay)
            raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
            assert self.webhook_url is not None
            reply = post(self.webhook_url, raw, nuki_signer.signed_headers(raw, self.webhook_secret))
            with self._lock:
                self.webhooks.append({"body": body, "status": reply.status})
        except Exception as exc:
            log.error("the Nuki Web API stand-in could not send its webhook: %s", type(exc).__name__)
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()


def _body_action(body: bytes) -> str | None:
    """The action of a SmartlockAction body (`{"action": 1|2, "option": ...}`) a keyturner takes."""
    try:
        request = json.loads(body) if body else None
    except ValueError:
        return None
    action = request.get("action") if isinstance(request, dict) else None
    return NUKI_ACTIONS.get(action) if isinstance(action, int) and not isinstance(action, bool) else None
