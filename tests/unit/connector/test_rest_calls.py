"""One request of a profile's `outbound` block, sent to a real HTTP server on loopback: the request line and
headers as sent, the HMAC signature as the device cloud checks it, the status classification, and the
exchange's guarantees (one deadline, no redirect followed, a bounded answer, internal addresses refused)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from iotbridge.connector.outbound import OutboundExchanges
from iotbridge.connector.ports import (
    CloudRequest,
    ConnectorSetupError,
    Credential,
    DeviceCloudRefusedError,
    DeviceCloudUnavailableError,
)
from iotbridge.connector.rest import CloudAnswer, RestCalls, secret_members, template_context
from iotbridge.profile.expressions import _expression
from iotbridge.profile.outbound import Outbound, RequestSpec
from loopback import LoopbackHandler, LoopbackServer
from samples.switchbot import request_signature

TOKEN = "switchbot-open-token-51a2"
SECRET = "switchbot-secret-9f"
NOW = 1_795_430_400.123
NONCE = "5b0c2f3e-7d41-4a8e-9c55-0f3e2d1a6b77"


@dataclass
class Script:
    """What the server answers next, and every request it got."""

    status: int = 200
    body: bytes = b'{"statusCode":100,"body":{}}'
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("Content-Type", "application/json")])
    requests: list[dict[str, Any]] = field(default_factory=list)


class _Handler(LoopbackHandler):
    server: Any

    def _any(self) -> None:
        script: Script = self.server.script
        script.requests.append(
            {
                "line": self.requestline,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": self.read_body(),
            }
        )
        self.answer(script.status, script.body, script.headers)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    def log_message(self, *_: Any) -> None:
        pass

    def handle(self) -> None:
        # A client that stops reading a large answer closes the connection under the server's write.
        with contextlib.suppress(ConnectionError):
            super().handle()


@pytest.fixture
def cloud() -> Iterator[tuple[LoopbackServer, Script]]:
    server = LoopbackServer(_Handler)
    server.script = Script()  # type: ignore[attr-defined]
    with server:
        yield server, server.script  # type: ignore[attr-defined]


def outbound(base_url: str, **members: Any) -> Outbound:
    document = {
        "baseUrl": base_url,
        "auth": {"type": "headers"},
        "userIdClaim": "sub",
        "discoverDevices": {
            "request": {"path": "/v1.1/devices"},
            "devices": "body.body.deviceList",
            "device": {"connectorDeviceId": "device.deviceId", "deviceType": "OnOffPlugInUnit"},
        },
        "sendCommand": {
            "request": {"method": "POST", "path": "/v1.1/devices/{device.id}/commands", "body": "{command}"},
            "commands": [{"name": "on", "command": "OnOff.On", "body": {"command": "turnOn"}}],
            "answer": {"mode": "sync"},
        },
        **members,
    }
    return Outbound.model_validate(document)


def switchbot(base_url: str) -> Outbound:
    return outbound(
        base_url,
        headers={"Authorization": "{secret.token}", "t": "{timestamp.ms}", "nonce": "{nonce}"},
        auth={
            "type": "hmac",
            "key": "{secret.secret}",
            "message": "{secret.token}{timestamp.ms}{nonce}",
            "header": "sign",
        },
    )


def calls(profile: Outbound, **options: Any) -> RestCalls:
    exchanges = options.pop("exchanges", None) or OutboundExchanges(allow_loopback=True)
    return RestCalls(
        profile, exchanges, allow_loopback=True, clock=lambda: NOW, nonce=lambda: NONCE, **options
    )


def request(**members: Any) -> RequestSpec:
    return RequestSpec.model_validate(members)


def context(**more: Any) -> dict[str, Any]:
    cloud_request = CloudRequest(
        operation="sendCommand",
        connector_id="switchbot",
        credential=Credential("GeneralAuthorization", json.dumps({"token": TOKEN, "secret": SECRET})),
        request_id="9b75f3839b6140f=_1",
        connector_device_id="C4:7C:8D/6A 2B",
    )
    return {**template_context(cloud_request, secret_members(cloud_request.credential.value)), **more}


# --- the request as sent --------------------------------------------------------------------------------


def test_a_switchbot_request_carries_the_v1_1_signature_the_cloud_checks(cloud: Any) -> None:
    # GIVEN SwitchBot's API v1.1 signing: HMAC-SHA256 of token + t + nonce, keyed with the secret
    server, script = cloud

    # WHEN the device list is asked for
    answer = calls(switchbot(server.url)).call(request(path="/v1.1/devices"), context(), timeout_seconds=2.0)

    # THEN the request line is the path, and the signature is the one SwitchBot's own example computes
    sent = script.requests[0]
    assert sent["line"] == "GET /v1.1/devices HTTP/1.1"
    t = str(int(NOW * 1000))
    assert sent["headers"]["authorization"] == TOKEN
    assert sent["headers"]["t"] == t
    assert sent["headers"]["nonce"] == NONCE
    assert sent["headers"]["sign"] == request_signature(TOKEN, SECRET, t=int(t), nonce=NONCE)
    assert "content-type" not in sent["headers"]
    assert sent["body"] == b""
    assert answer == CloudAnswer(200, answer.headers, {"statusCode": 100, "body": {}})
    assert answer.headers["content-type"] == "application/json"


def test_each_path_placeholder_is_one_segment_and_the_query_is_encoded(cloud: Any) -> None:
    server, script = cloud
    spec = request(
        method="POST",
        path="/v1.1/devices/{device.id}/commands",
        query={"scope": "{request.id}", "page": "2"},
        body={"command": "turnOn", "parameter": "default", "device": "{device.id}"},
    )

    calls(outbound(server.url)).call(spec, context(), timeout_seconds=2.0)

    sent = script.requests[0]
    # "/" and " " of the device id stay inside its segment: the value cannot reach another resource.
    assert sent["line"] == (
        "POST /v1.1/devices/C4%3A7C%3A8D%2F6A%202B/commands?scope=9b75f3839b6140f%3D_1&page=2 HTTP/1.1"
    )
    assert sent["body"] == b'{"command":"turnOn","parameter":"default","device":"C4:7C:8D/6A 2B"}'
    assert sent["headers"]["content-type"] == "application/json"


def test_the_profiles_content_type_is_kept_and_a_form_is_url_encoded(cloud: Any) -> None:
    server, script = cloud
    profile = outbound(server.url, headers={"Content-Type": "application/json; charset=utf8"})

    calls(profile).call(request(method="POST", path="/c", body={"a": 1}), context(), timeout_seconds=2.0)
    calls(outbound(server.url)).call(
        request(method="POST", path="/oauth/revoke", form={"token": "{secret.token}", "kind": "a b&c"}),
        context(),
        timeout_seconds=2.0,
    )

    assert script.requests[0]["headers"]["content-type"] == "application/json; charset=utf8"
    assert script.requests[1]["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert script.requests[1]["body"] == f"token={TOKEN}&kind=a+b%26c".encode()


def test_bearer_auth_sends_the_invocations_token_or_the_profiles_template(cloud: Any) -> None:
    server, script = cloud
    oauth = CloudRequest("activateUser", "nuki", Credential("OAuth2.0", "oauth-access-7"))

    calls(outbound(server.url, auth={"type": "bearer"})).call(
        request(path="/me"), template_context(oauth, None), timeout_seconds=2.0
    )
    calls(outbound(server.url, auth={"type": "bearer", "token": "{secret.token}"})).call(
        request(path="/me"), context(), timeout_seconds=2.0
    )

    assert script.requests[0]["headers"]["authorization"] == "Bearer oauth-access-7"
    assert script.requests[1]["headers"]["authorization"] == f"Bearer {TOKEN}"


def test_an_hmac_over_method_path_and_body_signs_what_is_sent(cloud: Any) -> None:
    server, script = cloud
    profile = outbound(
        server.url,
        headers={"x-signature": "v1={signature}"},
        auth={
            "type": "hmac",
            "key": "{secret.secret}",
            "message": "{method}\n{path}\n{bodySha256}\n{body}",
            "encoding": "hex",
            "case": "upper",
            "header": "x-sign",
        },
    )

    calls(profile).call(
        request(method="PUT", path="/locks/{device.id}", query={"q": "1"}, body={"action": 2}),
        context(),
        timeout_seconds=2.0,
    )

    sent = script.requests[0]
    body = b'{"action":2}'
    message = f"PUT\n/locks/C4%3A7C%3A8D%2F6A%202B?q=1\n{hashlib.sha256(body).hexdigest()}\n{body.decode()}"
    expected = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest().upper()
    assert sent["body"] == body
    assert sent["headers"]["x-sign"] == expected
    assert sent["headers"]["x-signature"] == f"v1={expected}"


# --- the status ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "detail"),
    [
        (404, DeviceCloudRefusedError, 404),
        (401, DeviceCloudRefusedError, 401),
        (429, DeviceCloudRefusedError, 429),
        (408, DeviceCloudRefusedError, 408),
        (500, DeviceCloudUnavailableError, "status_5xx"),
        (503, DeviceCloudUnavailableError, "status_5xx"),
        (302, DeviceCloudUnavailableError, "redirect"),
    ],
)
def test_a_status_outside_success_is_classified(cloud: Any, status: int, error: type, detail: Any) -> None:
    server, script = cloud
    script.status = status
    script.headers = [("Location", f"{server.url}/elsewhere")]

    with pytest.raises(error) as raised:
        calls(outbound(server.url)).call(request(path="/v1.1/devices"), context(), timeout_seconds=2.0)

    assert getattr(raised.value, "status", getattr(raised.value, "reason", None)) == detail
    # A redirect is a status, never followed.
    assert [sent["line"] for sent in script.requests] == ["GET /v1.1/devices HTTP/1.1"]


def test_expect_takes_a_4xx_as_an_answer_and_a_2xx_it_does_not_list_as_refused(cloud: Any) -> None:
    server, script = cloud
    script.status = 409
    answer = calls(outbound(server.url)).call(
        request(path="/x", expect=[200, 409]), context(), timeout_seconds=2.0
    )
    assert answer.status == 409

    script.status = 204
    with pytest.raises(DeviceCloudUnavailableError, match="status_2xx"):
        calls(outbound(server.url)).call(request(path="/x", expect=[200]), context(), timeout_seconds=2.0)


def test_a_body_that_is_not_json_is_null_and_unreadable_when_an_expression_needs_it(cloud: Any) -> None:
    server, script = cloud
    script.body = b"<html>ok</html>"

    answer = calls(outbound(server.url)).call(request(path="/x"), context(), timeout_seconds=2.0)

    assert answer.body is None
    assert answer.read(_expression("status")) == 200
    with pytest.raises(DeviceCloudUnavailableError, match="unreadable_answer"):
        answer.read(_expression("body.id"))


def test_an_answers_headers_are_kept_by_lower_case_name_and_bounded(cloud: Any) -> None:
    server, script = cloud
    script.headers = [(f"X-Many-{n}", "v" * 2000) for n in range(80)]

    answer = calls(outbound(server.url)).call(request(path="/x"), context(), timeout_seconds=2.0)

    assert len(answer.headers) == 64
    assert all(name == name.lower() and len(value) <= 1024 for name, value in answer.headers.items())


def test_a_next_page_on_another_host_is_not_asked(cloud: Any) -> None:
    server, script = cloud
    rest = calls(outbound(server.url))

    with pytest.raises(DeviceCloudUnavailableError, match="foreign_next_page"):
        rest.call(request(path="/x"), context(), timeout_seconds=2.0, url="http://127.0.0.2:1/x?page=2")
    rest.call(request(path="/x"), context(), timeout_seconds=2.0, url=f"{server.url}/v1/devices?page=2")

    assert [sent["line"] for sent in script.requests] == ["GET /v1/devices?page=2 HTTP/1.1"]


def test_a_template_that_cannot_be_filled_is_a_setup_error_and_nothing_is_sent(cloud: Any) -> None:
    server, script = cloud
    missing = CloudRequest("sendCommand", "switchbot", Credential("OAuth2.0", "oauth-access-7"))

    with pytest.raises(ConnectorSetupError, match="template"):
        calls(outbound(server.url)).call(
            outbound(server.url).send_command.request,
            template_context(missing, None),
            timeout_seconds=2.0,
        )

    assert script.requests == []


# --- the exchange's guarantees -----------------------------------------------------------------------------


class _Dripping:
    """A server that sends its answer a byte at a time, without end."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        connection, _ = self._listener.accept()
        connection.recv(65536)
        try:
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while True:
                connection.sendall(b"x")
                time.sleep(0.05)
        except OSError:
            connection.close()

    def stop(self) -> None:
        self._listener.close()


def test_a_cloud_that_drips_its_answer_is_cut_at_the_deadline() -> None:
    dripping = _Dripping()
    try:
        started = time.monotonic()
        answer = calls(outbound(dripping.url)).call(request(path="/x"), context(), timeout_seconds=0.5)
        took = time.monotonic() - started
    finally:
        dripping.stop()

    assert took < 1.5
    assert answer.body is None
    assert answer.body_problem == "timeout"


def test_a_ten_megabyte_answer_is_read_no_further_than_its_bound(cloud: Any) -> None:
    server, script = cloud
    script.body = b'{"a":"' + b"x" * (10 * 1024 * 1024) + b'"}'

    answer = calls(outbound(server.url)).call(
        request(path="/x"), context(), timeout_seconds=5.0, max_answer_bytes=64 * 1024
    )

    assert answer.body is None
    assert answer.body_problem == "answer_too_large"


def test_a_name_that_resolves_to_an_internal_address_is_refused_before_connecting() -> None:
    asked: list[str] = []

    def resolver(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    exchanges = OutboundExchanges(resolver=resolver)
    rest = RestCalls(outbound("https://api.switch-bot.example"), exchanges, allow_loopback=False)

    with pytest.raises(ConnectorSetupError, match="internal_address"):
        rest.call(request(path="/v1.1/devices"), context(), timeout_seconds=1.0)
    assert asked == ["api.switch-bot.example"]


def test_plain_http_is_refused_outside_the_local_stack() -> None:
    with pytest.raises(ConnectorSetupError, match="insecure_url"):
        RestCalls(outbound("http://localhost:8080"), OutboundExchanges(), allow_loopback=False)
