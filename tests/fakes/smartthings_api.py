"""SmartThings' REST API (api.smartthings.com) on loopback, as its public reference and its SDKs describe
it, for the connector function's profile-driven calls: a bearer token, the device list in pages linked by
`_links.next.href`, installed apps, and device commands answered with each command's status.

    api = SmartThingsApi(page_size=2).start()
    ... GET {api.url}/v1/devices  (Authorization: Bearer <api.token>) ...
    api.stop()

What it follows, and where from:
- Bearer authentication: `Authorization: Bearer <token>` (SmartThingsCommunity/smartthings-core-sdk,
  `src/authenticator.ts`, BearerTokenAuthenticator); anything else is answered 401.
- Lists are `{"items": [...], "_links": {"next": {"href": ...}, "previous": {"href": ...}}}` and a client
  follows `_links.next.href` until there is none (smartthings-core-sdk `src/endpoint-client.ts`,
  `ItemsList` and `getPagedItems`; `src/pagination.ts`). The next link is an absolute URL on the API's
  host, without the `/v1` prefix, with `max` and `page` (0-based) query parameters, as a real answer shows
  (github.com/pySmartThings/pysmartthings `tests/fixtures/devices_continued.json`:
  `https://api.smartthings.com/devices?max=200&page=1`); both `/v1/devices` and `/devices` are served.
- A device: `deviceId`, `name`, `label`, `manufacturerName`, `presentationId`, `locationId`, `ownerId`,
  `roomId`, `components` (each `id`, `label`, `capabilities` [{`id`, `version`}], `categories`
  [{`name`, `categoryType`}]), `type`, `restrictionTier` (smartthings-core-sdk `src/endpoint/devices.ts`,
  `Device`, `Component`; values shaped like pysmartthings' fixtures).
- `POST /v1/devices/{deviceId}/commands` takes `{"commands": [{"component", "capability", "command",
  "arguments"}]}` and answers `{"results": [{"id": ..., "status": "ACCEPTED"}]}` (smartthings-core-sdk
  `executeCommands`, `CommandResponse`, `CommandStatus` = ACCEPTED | COMPLETED | FAILED;
  pysmartthings `tests/fixtures/executed_command.json`). The state change arrives later as a device
  event (its subscription's webhook), which this fake does not send: it changes its device's status.
- `GET /v1/installedapps` lists installed apps (`installedAppId`, ...) in the same paged form
  (smartthings-core-sdk `src/endpoint/installedapps.ts`, `list`).

Which commands a capability takes, and their arguments, are those of SmartThings' capability reference as
the SDKs send them: `switch` on/off, `switchLevel` setLevel [0..100], `colorTemperature`
setColorTemperature [kelvin], `lock` lock/unlock. Errors are composed: an unknown device 404, a command its
device cannot take 422, each without a body the tests rely on.
"""

from __future__ import annotations

import copy
import hmac
import json
import re
import threading
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from loopback import LoopbackHandler, LoopbackServer

TOKEN = "7d6c1e0a-3b55-4f0e-9a8d-2c4b6e8f0a1d"
INSTALLED_APP_ID = "5f0f1b6e-6f8d-4a53-9b3a-1c2d3e4f5a6b"
LOCATION_ID = "f84d1ae8-bce8-48c5-9b49-3ac9dbe72d19"
MAX_REQUEST_BYTES = 256 * 1024


def _device(device_id: str, label: str, capabilities: list[str], category: str) -> dict[str, Any]:
    return {
        "deviceId": device_id,
        "name": label,
        "label": label,
        "manufacturerName": "SmartThingsCommunity",
        "presentationId": "generic",
        "locationId": LOCATION_ID,
        "ownerId": "83ed1d6b-2a05-c0b6-cfb1-2c60bb8a160a",
        "roomId": "14591410-f1b4-4e5a-af3f-2dd0424c580a",
        "components": [
            {
                "id": "main",
                "label": "main",
                "capabilities": [{"id": c, "version": 1} for c in capabilities],
                "categories": [{"name": category, "categoryType": "manufacturer"}],
            }
        ],
        "createTime": "2024-10-17T16:31:53.794Z",
        "type": "VIRTUAL",
        "restrictionTier": 0,
    }


DEVICES: tuple[dict[str, Any], ...] = (
    _device("0a1b2c3d-0000-4000-8000-000000000001", "Porch light", ["switch", "refresh"], "Light"),
    _device(
        "0a1b2c3d-0000-4000-8000-000000000002",
        "Reading lamp",
        ["switch", "switchLevel", "colorTemperature", "refresh"],
        "Light",
    ),
    _device("0a1b2c3d-0000-4000-8000-000000000003", "Back door", ["lock", "battery"], "SmartLock"),
    _device(
        "0a1b2c3d-0000-4000-8000-000000000004", "Hall sensor", ["motionSensor", "battery"], "MotionSensor"
    ),
    _device("0a1b2c3d-0000-4000-8000-000000000005", "Fridge", ["temperatureMeasurement"], "Refrigerator"),
)

# capability -> command -> how many arguments it takes and what each must be.
COMMANDS: dict[str, dict[str, tuple[tuple[int, int], ...]]] = {
    "switch": {"on": (), "off": ()},
    "switchLevel": {"setLevel": ((0, 100),)},
    "colorTemperature": {"setColorTemperature": ((1, 30000),)},
    "lock": {"lock": (), "unlock": ()},
}
_DEVICE_PATH = re.compile(r"^(?:/v1)?/devices(?:/([^/]+)(/commands|/status)?)?$")


class SmartThingsApi(LoopbackServer):
    """The devices, installed apps and commands of SmartThings' API, for one bearer token."""

    thread_name = "smartthings-api"

    def __init__(
        self,
        *,
        token: str = TOKEN,
        devices: Iterable[Mapping[str, Any]] = DEVICES,
        page_size: int = 2,
        installed_app_id: str = INSTALLED_APP_ID,
        port: int = 0,
    ) -> None:
        self.token = token
        self.devices: list[dict[str, Any]] = [copy.deepcopy(dict(d)) for d in devices]
        self.page_size = page_size
        self.installed_app_id = installed_app_id
        self.status: dict[str, dict[str, Any]] = {d["deviceId"]: {} for d in self.devices}
        self.requests: list[dict[str, Any]] = []  # {"method", "path", "query", "headers", "body", "status"}
        self._lock = threading.Lock()
        super().__init__(_handler_for(self), port=port)

    def authorized(self, headers: Mapping[str, str]) -> bool:
        scheme, _, credential = (headers.get("authorization") or "").partition(" ")
        return scheme == "Bearer" and hmac.compare_digest(credential.encode(), self.token.encode())

    def take(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        parts = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(parts.query)
        lowered = {k.lower(): v for k, v in headers.items()}
        status, payload = self._answer(method, parts.path, query, lowered, body)
        with self._lock:
            self.requests.append(
                {
                    "method": method,
                    "path": parts.path,
                    "query": query,
                    "headers": lowered,
                    "body": body,
                    "status": status,
                }
            )
        return status, payload

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any]:
        matched = _DEVICE_PATH.match(path)
        installed_apps = path in ("/v1/installedapps", "/installedapps")
        if matched is None and not installed_apps:
            return 404, None
        if not self.authorized(headers):
            return 401, None
        if installed_apps:
            app = {
                "installedAppId": self.installed_app_id,
                "installedAppType": "API_ONLY",
                "locationId": LOCATION_ID,
            }
            return (200, {"items": [app], "_links": {}}) if method == "GET" else (405, None)
        assert matched is not None
        device_id, tail = matched.group(1), matched.group(2)
        if device_id is None:
            return self._page(query) if method == "GET" else (405, None)
        device = next((d for d in self.devices if d["deviceId"] == device_id), None)
        if device is None:
            return 404, None
        if tail == "/commands" and method == "POST":
            return self._commands(device, body)
        if tail == "/status" and method == "GET":
            return 200, {"components": {"main": copy.deepcopy(self.status[device_id])}}
        if tail is None and method == "GET":
            return 200, copy.deepcopy(device)
        return 405, None

    def _page(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        size = _number(query.get("max"), self.page_size)
        page = _number(query.get("page"), 0)
        if size < 1 or page < 0:
            return 400, None
        start = page * size
        items = copy.deepcopy(self.devices[start : start + size])
        links: dict[str, Any] = {}
        if start + size < len(self.devices):
            links["next"] = {"href": f"{self.url}/devices?max={size}&page={page + 1}"}
        if page > 0:
            links["previous"] = {"href": f"{self.url}/devices?max={size}&page={page - 1}"}
        return 200, {"items": items, "_links": links}

    def _commands(self, device: dict[str, Any], body: bytes) -> tuple[int, Any]:
        try:
            request = json.loads(body)
        except ValueError:
            return 400, None
        commands = request.get("commands") if isinstance(request, dict) else None
        if not isinstance(commands, list) or not commands:
            return 400, None
        changes = []
        for command in commands:
            change = _change(device, command)
            if change is None:
                return 422, None
            changes.append(change)
        with self._lock:
            for capability, command_name, arguments in changes:
                self.status[device["deviceId"]][capability] = {
                    "command": command_name,
                    "arguments": arguments,
                }
        return 200, {"results": [{"id": str(uuid.uuid4()), "status": "ACCEPTED"} for _ in changes]}


def _change(device: Mapping[str, Any], command: Any) -> tuple[str, str, list[Any]] | None:
    """A command a device can take, as (capability, command, arguments); None when it cannot."""
    if not isinstance(command, dict):
        return None
    component_id = command.get("component", "main")
    capability, name = command.get("capability"), command.get("command")
    arguments = command.get("arguments", [])
    component = next((c for c in device["components"] if c["id"] == component_id), None)
    if component is None or not isinstance(arguments, list):
        return None
    if capability not in {c["id"] for c in component["capabilities"]}:
        return None
    expected = COMMANDS.get(str(capability), {}).get(str(name))
    if expected is None or len(arguments) != len(expected):
        return None
    for value, (low, high) in zip(arguments, expected, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            return None
    return str(capability), str(name), arguments


def _number(values: list[str] | None, default: int) -> int:
    if not values:
        return default
    text = values[0]
    return int(text) if text.isascii() and text.isdigit() else -1


def _handler_for(api: SmartThingsApi) -> type[LoopbackHandler]:
    class Handler(LoopbackHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _take(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self.close_connection = True
                self.answer(413, b"")
                return
            status, payload = api.take(
                self.command, self.path, dict(self.headers.items()), self.read_body(length)
            )
            raw = b"" if payload is None else json.dumps(payload).encode("utf-8")
            self.answer(status, raw, [("Content-Type", "application/json")] if raw else [])

        do_GET = do_POST = do_PUT = do_DELETE = _take

    return Handler
