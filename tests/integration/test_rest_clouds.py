"""The REST cloud stand-ins enforce what their clouds document: SwitchBot's request signing and statusCodes,
Nuki's bearer token and its advanced action's signed webhook, SmartThings' bearer token and linked pages."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from bridge_local.rest_clouds import NukiWebApi, SwitchBotApi
from fakes.smartthings_api import SmartThingsApi
from loopback import LoopbackServer
from samples import nuki as nuki_signer
from samples import switchbot as switchbot_signer

pytestmark = pytest.mark.integration


def call(method: str, url: str, headers: dict[str, str] | None = None, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


@pytest.fixture
def switchbot() -> Iterator[SwitchBotApi]:
    with SwitchBotApi() as cloud:
        yield cloud


def signed(cloud: SwitchBotApi, **overrides: str) -> dict[str, str]:
    headers = switchbot_signer.request_headers(cloud.token, cloud.secret, t=int(time.time() * 1000))
    return {**headers, **overrides}


# --- SwitchBot ------------------------------------------------------------------------------------------


def test_a_request_signed_as_the_readme_signs_gets_the_device_list(switchbot: SwitchBotApi) -> None:
    status, answer = call("GET", f"{switchbot.url}/v1.1/devices", signed(switchbot))

    assert status == 200
    assert (answer["statusCode"], answer["message"]) == (100, "success")
    first = answer["body"]["deviceList"][0]
    assert set(first) >= {"deviceId", "deviceName", "deviceType", "enableCloudService", "hubDeviceId"}
    assert answer["body"]["infraredRemoteList"][0]["remoteType"] == "TV"


def test_the_upper_cased_signature_of_the_readme_prose_is_taken_too(switchbot: SwitchBotApi) -> None:
    headers = signed(switchbot)
    status, _ = call("GET", f"{switchbot.url}/v1.1/devices", {**headers, "sign": headers["sign"].upper()})

    assert status == 200


@pytest.mark.parametrize(
    "spoil",
    [
        {"sign": "bm90IHRoZSBzaWduYXR1cmU="},
        {"Authorization": "another-token"},
        {"t": "1661927531"},  # ten digits: seconds, not the documented 13-digit milliseconds
    ],
    ids=["wrong sign", "wrong token", "seconds timestamp"],
)
def test_a_badly_signed_request_is_refused_401_unauthorized(
    switchbot: SwitchBotApi, spoil: dict[str, str]
) -> None:
    status, answer = call("GET", f"{switchbot.url}/v1.1/devices", signed(switchbot, **spoil))

    assert (status, answer) == (401, {"message": "Unauthorized"})


def test_a_signature_made_with_another_secret_is_refused(switchbot: SwitchBotApi) -> None:
    t = int(time.time() * 1000)
    headers = switchbot_signer.request_headers(switchbot.token, "not-the-secret", t=t)

    assert call("GET", f"{switchbot.url}/v1.1/devices", headers)[0] == 401


def test_a_command_changes_the_state_its_status_reports(switchbot: SwitchBotApi) -> None:
    bulb = "C1A2B3C4D501"
    command = {"command": "setColor", "parameter": "122:80:20", "commandType": "command"}

    status, answer = call("POST", f"{switchbot.url}/v1.1/devices/{bulb}/commands", signed(switchbot), command)
    call(
        "POST",
        f"{switchbot.url}/v1.1/devices/{bulb}/commands",
        signed(switchbot),
        {"command": "turnOn", "parameter": "default", "commandType": "command"},
    )
    _, reported = call("GET", f"{switchbot.url}/v1.1/devices/{bulb}/status", signed(switchbot))

    assert (status, answer) == (200, {"statusCode": 100, "body": {}, "message": "success"})
    assert reported["body"]["color"] == "122:80:20"
    assert reported["body"]["power"] == "on"


@pytest.mark.parametrize(
    ("device", "command", "code"),
    [
        ("000000000001", {"command": "turnOn", "parameter": "default"}, 152),
        ("C1A2B3C4D504", {"command": "turnOn", "parameter": "default"}, 160),  # a Meter takes no commands
        ("C1A2B3C4D502", {"command": "setColorTemperature", "parameter": 3000}, 160),  # not a Strip Light's
        ("C1A2B3C4D501", {"command": "setBrightness", "parameter": 140}, 190),  # outside {1-100}
        ("C1A2B3C4D501", {"command": "setColor", "parameter": "300:0:0"}, 190),
    ],
)
def test_a_command_the_device_cannot_take_answers_its_documented_status_code(
    switchbot: SwitchBotApi, device: str, command: dict[str, Any], code: int
) -> None:
    status, answer = call(
        "POST", f"{switchbot.url}/v1.1/devices/{device}/commands", signed(switchbot), command
    )

    assert status == 200
    assert answer["statusCode"] == code


def test_an_offline_device_and_an_offline_hub_answer_161_and_171(switchbot: SwitchBotApi) -> None:
    switchbot.offline.add("C1A2B3C4D501")
    switchbot.offline_hubs.add("C1A2B3C4D5F0")
    lock = {"command": "lock", "parameter": "default", "commandType": "command"}

    _, bulb = call(
        "POST",
        f"{switchbot.url}/v1.1/devices/C1A2B3C4D501/commands",
        signed(switchbot),
        {"command": "turnOn", "parameter": "default", "commandType": "command"},
    )
    _, behind_hub = call(
        "POST", f"{switchbot.url}/v1.1/devices/C1A2B3C4D503/commands", signed(switchbot), lock
    )

    assert (bulb["statusCode"], behind_hub["statusCode"]) == (161, 171)


def test_every_request_is_recorded_and_an_unknown_path_is_404(switchbot: SwitchBotApi) -> None:
    call("GET", f"{switchbot.url}/v1.0/devices", signed(switchbot))
    call(
        "POST",
        f"{switchbot.url}/v1.1/devices/C1A2B3C4D503/commands",
        signed(switchbot),
        {"command": "unlock", "parameter": "default", "commandType": "command"},
    )

    first, second = switchbot.requests
    assert (first.method, first.path, first.status) == ("GET", "/v1.0/devices", 404)
    assert (second.method, second.status, second.json()["command"]) == ("POST", 200, "unlock")
    assert second.headers["authorization"] == switchbot.token
    assert switchbot.status["C1A2B3C4D503"]["lockState"] == "unlock"


# --- Nuki -----------------------------------------------------------------------------------------------


class WebhookSink(LoopbackServer):
    """Takes webhooks: each POST's headers and body, answered 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                sink.arrived.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as server:
        yield server


@pytest.fixture
def nuki(sink: WebhookSink) -> Iterator[NukiWebApi]:
    with NukiWebApi(webhook_url=f"{sink.url}/connectors/nuki/events", webhook_delay=0.01) as cloud:
        yield cloud


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_nuki_lists_smartlocks_and_the_account_for_its_bearer_token(nuki: NukiWebApi) -> None:
    status, smartlocks = call("GET", f"{nuki.url}/smartlock", bearer(nuki.token))
    _, account = call("GET", f"{nuki.url}/account", bearer(nuki.token))

    assert status == 200
    assert {"smartlockId", "name", "type", "state"} <= set(smartlocks[0])
    assert account["accountId"] == 987654321


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "token"}])
def test_nuki_refuses_a_missing_or_wrong_token_401(nuki: NukiWebApi, headers: dict[str, str]) -> None:
    assert call("GET", f"{nuki.url}/smartlock", headers)[0] == 401
    assert call("POST", f"{nuki.url}/smartlock/123456789/action/unlock/advanced", headers)[0] == 401


def test_a_plain_lock_action_answers_204_and_changes_the_state(nuki: NukiWebApi, sink: WebhookSink) -> None:
    status, answer = call("POST", f"{nuki.url}/smartlock/123456789/action/unlock", bearer(nuki.token))
    _, smartlock = call("GET", f"{nuki.url}/smartlock/123456789", bearer(nuki.token))

    assert (status, answer) == (204, None)
    assert smartlock["state"]["state"] == 3  # unlocked
    assert nuki.wait_idle() and sink.received == []


def test_an_advanced_action_answers_a_request_id_and_sends_its_signed_webhook(
    nuki: NukiWebApi, sink: WebhookSink
) -> None:
    status, answer = call(
        "POST", f"{nuki.url}/smartlock/123456789/action/unlock/advanced", bearer(nuki.token)
    )

    assert status == 200 and set(answer) == {"requestId"}
    assert nuki.wait_idle() and sink.arrived.wait(5)
    headers, body = sink.received[0]
    assert headers["x-nuki-signature-sha256"] == nuki_signer.signature(body)
    assert hmac.compare_digest(
        headers["x-nuki-signature-sha256"],
        hmac.new(nuki_signer.SECRET.encode(), body, hashlib.sha256).hexdigest(),
    )
    assert json.loads(body) == {
        "type": "UnlockAction",
        "requestId": answer["requestId"],
        "smartlockId": 123456789,
        "success": True,
    }
    assert nuki.smartlocks[0]["state"]["state"] == 3


def test_an_advanced_action_of_a_failing_lock_reports_success_false(
    nuki: NukiWebApi, sink: WebhookSink
) -> None:
    nuki.failing.add(123456789)

    _, answer = call("POST", f"{nuki.url}/smartlock/123456789/action/lock/advanced", bearer(nuki.token))

    assert nuki.wait_idle() and sink.arrived.wait(5)
    sent = json.loads(sink.received[0][1])
    assert (sent["requestId"], sent["type"], sent["success"]) == (answer["requestId"], "LockAction", False)
    assert nuki.smartlocks[0]["state"]["state"] == 1  # still locked


def test_nuki_answers_an_unknown_smartlock_or_path_404(nuki: NukiWebApi) -> None:
    assert call("POST", f"{nuki.url}/smartlock/42/action/lock", bearer(nuki.token))[0] == 404
    assert call("GET", f"{nuki.url}/smartlocks", bearer(nuki.token))[0] == 404
    assert [r.status for r in nuki.requests] == [404, 404]


# --- SmartThings ----------------------------------------------------------------------------------------


@pytest.fixture
def smartthings() -> Iterator[SmartThingsApi]:
    with SmartThingsApi(page_size=2) as api:
        yield api


def test_smartthings_devices_come_in_pages_linked_by_next_href(smartthings: SmartThingsApi) -> None:
    headers = bearer(smartthings.token)
    status, page = call("GET", f"{smartthings.url}/v1/devices", headers)
    pages = [page]
    while "next" in pages[-1]["_links"]:
        pages.append(call("GET", pages[-1]["_links"]["next"]["href"], headers)[1])

    assert status == 200
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert pages[1]["_links"]["next"]["href"] == f"{smartthings.url}/devices?max=2&page=2"
    assert [d["deviceId"] for p in pages for d in p["items"]] == [d["deviceId"] for d in smartthings.devices]


def test_smartthings_refuses_a_wrong_token_401(smartthings: SmartThingsApi) -> None:
    assert call("GET", f"{smartthings.url}/v1/devices", bearer("wrong"))[0] == 401


def test_smartthings_accepts_commands_its_device_has_and_refuses_others(smartthings: SmartThingsApi) -> None:
    lamp = "0a1b2c3d-0000-4000-8000-000000000002"
    url = f"{smartthings.url}/v1/devices/{lamp}/commands"
    commands = [
        {"component": "main", "capability": "switch", "command": "on", "arguments": []},
        {"component": "main", "capability": "switchLevel", "command": "setLevel", "arguments": [70]},
    ]

    status, answer = call("POST", url, bearer(smartthings.token), {"commands": commands})
    refused, _ = call(
        "POST",
        url,
        bearer(smartthings.token),
        {"commands": [{"component": "main", "capability": "lock", "command": "lock", "arguments": []}]},
    )

    assert status == 200
    assert [r["status"] for r in answer["results"]] == ["ACCEPTED", "ACCEPTED"]
    assert refused == 422
    assert smartthings.status[lamp]["switchLevel"] == {"command": "setLevel", "arguments": [70]}
