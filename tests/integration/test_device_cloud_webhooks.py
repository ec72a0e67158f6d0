"""The connector function's device cloud as an outbound signed webhook (iotbridge.connector.adapters), against
a device cloud on loopback that this module starts, with profiles in SSM and secrets in Secrets Manager
(moto's server); and the General Authorization secrets it reads by ARN."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

from bridge_local.aws import local_client
from bridge_local.processes import LOOPBACK, ServerProcess, free_port
from iotbridge.connector.adapters import (
    MAX_ANSWER_BYTES,
    SecretsManagerAuthorizations,
    WebhookDeviceCloud,
    WebhookDeviceClouds,
)
from iotbridge.connector.ports import (
    CloudRequest,
    ConnectorSetupError,
    Credential,
    DeviceCloudRefusedError,
    DeviceCloudUnavailableError,
    RequestedCommand,
    UnusableCredentialError,
)
from iotbridge.errors import DependencyUnavailableError
from iotbridge.registry.profiles import SsmConnectorProfiles
from iotbridge.registry.secrets import SecretsManagerSigningKeys
from samples.device_clouds import LUMEN

REQUESTS_PATH = "/aws-iot/requests"
TOKEN = "lumen-access-token-for-acct-1"
TIMEOUT = 1.0
LARGE_ANSWER_BYTES = 256 * 1024 * 1024


# --- A device cloud on loopback, answering as each test scripts it -------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Script:
    """How the cloud answers the next requests: a status and body, after holding the answer until
    `release` is set (when `hold` is), or a body of `stream_bytes` written until the client goes away."""

    status: int = 202
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False
    stream_bytes: int = 0
    stream_start: bytes = b""


class ScriptedCloud(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _CloudHandler)
        self.script = Script()
        self.received: list[Received] = []
        self.release = threading.Event()
        self.streamed: list[tuple[int, str]] = []  # bytes written of a streamed answer, and how it ended
        self.stream_ended = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}{REQUESTS_PATH}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that closes a connection with an answer left unread resets it: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _CloudHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedCloud

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append(
            Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        script = self.server.script
        if script.hold:
            self.server.release.wait(30)
        if script.stream_bytes:
            self._stream(script)
            return
        self.send_response(script.status)
        for name, value in script.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(script.body)))
        self.end_headers()
        try:
            self.wfile.write(script.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # a client that stopped reading a body it did not need

    def _stream(self, script: Script) -> None:
        self.send_response(script.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(script.stream_bytes))
        self.end_headers()
        self.connection.settimeout(20)  # a client that neither reads nor closes ends the stream this way
        chunk = b" " * 65536
        written, ended = 0, "complete"
        try:
            self.wfile.write(script.stream_start)
            written += len(script.stream_start)
            while written < script.stream_bytes:
                self.wfile.write(chunk)
                written += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            ended = "closed by the client"
        except TimeoutError:
            ended = "stalled"
        self.server.streamed.append((written, ended))
        self.server.stream_ended.set()
        self.close_connection = True


@pytest.fixture
def cloud() -> Iterator[ScriptedCloud]:
    server = ScriptedCloud()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="device-cloud", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


# --- The connector's configuration in moto ------------------------------------------------------------


@dataclass
class Configuration:
    ssm: Any
    secretsmanager: Any
    profile_prefix: str
    secret_prefix: str
    authorization_prefix: str

    def put_profile(self, connector_id: str, document: dict[str, Any]) -> None:
        self.ssm.put_parameter(
            Name=self.profile_prefix + connector_id, Type="String", Value=json.dumps(document), Overwrite=True
        )

    def put_secret(self, name: str, value: str) -> None:
        self.secretsmanager.create_secret(Name=self.secret_prefix + name, SecretString=value)

    def clouds(self, *, allow_loopback: bool = True, exchanges: Any = None) -> WebhookDeviceClouds:
        return WebhookDeviceClouds(
            SsmConnectorProfiles(self.ssm, prefix=self.profile_prefix, max_age_seconds=300),
            SecretsManagerSigningKeys(self.secretsmanager, prefix=self.secret_prefix, max_age_seconds=300),
            exchanges=exchanges,
            allow_loopback=allow_loopback,
        )


@pytest.fixture
def config(moto: ServerProcess) -> Configuration:
    suffix = uuid.uuid4().hex[:10]
    return Configuration(
        ssm=local_client("ssm", moto.url),
        secretsmanager=local_client("secretsmanager", moto.url),
        profile_prefix=f"/test-{suffix}/profiles/",
        secret_prefix=f"test-{suffix}/device-clouds/",
        authorization_prefix=f"test-{suffix}/authorization/",
    )


def lumen_profile(url: str, **device_cloud: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(LUMEN.profile_file.read_text(encoding="utf-8"))
    document["deviceCloud"] = {"url": url, **device_cloud}
    return document


@pytest.fixture
def lumen(config: Configuration, cloud: ScriptedCloud) -> WebhookDeviceCloud:
    """The lumen-home connector's device cloud: its profile names the cloud on loopback, its outbound
    secret is under the prefix."""
    assert LUMEN.outbound_secret is not None
    config.put_profile(LUMEN.connector_id, lumen_profile(cloud.url))
    config.put_secret(LUMEN.connector_id, LUMEN.outbound_secret)
    found = config.clouds().for_connector(LUMEN.connector_id)
    assert isinstance(found, WebhookDeviceCloud)
    return found


def discovery(request_id: str = "disc0001") -> CloudRequest:
    return CloudRequest(
        operation="discoverDevices",
        connector_id=LUMEN.connector_id,
        credential=Credential("OAuth2.0", TOKEN),
        request_id=request_id,
        user_id="acct-1",
        payload={"deviceDiscoveryId": request_id, "connectorId": LUMEN.connector_id},
    )


def command(trace_id: str = "9b75f3839b6140f=_1") -> CloudRequest:
    return CloudRequest(
        operation="sendCommand",
        connector_id=LUMEN.connector_id,
        credential=Credential("GeneralAuthorization", "service-key-text"),
        request_id=trace_id,
        user_id="acct-1",
        connector_device_id="lmn-bulb-0042",
        commands=(RequestedCommand("1", "0x0006", "0x00", "OnOff.Off", None),),
    )


def activation() -> CloudRequest:
    return CloudRequest(
        operation="activateUser", connector_id=LUMEN.connector_id, credential=Credential("OAuth2.0", TOKEN)
    )


def verified(cloud: ScriptedCloud, index: int = 0, secret: str | None = None) -> Any:
    """The request as the cloud would take it: its Standard Webhooks signature checked by the reference
    library with the connector's outbound secret."""
    received = cloud.received[index]
    return Webhook(secret or LUMEN.outbound_secret or "").verify(received.body, received.headers)


# --- What the cloud receives ------------------------------------------------------------------------------


def test_a_discovery_is_posted_signed_with_its_request_id_and_the_user_s_token(
    lumen: WebhookDeviceCloud, cloud: ScriptedCloud
) -> None:
    lumen.discover_devices(discovery("disc0001"), timeout_seconds=TIMEOUT)

    [received] = cloud.received
    assert received.path == REQUESTS_PATH
    assert received.headers["content-type"] == "application/json"
    body = verified(cloud)
    assert body["type"] == "discoverDevices"
    assert body["connectorId"] == LUMEN.connector_id
    assert body["requestId"] == "disc0001"
    assert body["userId"] == "acct-1"
    assert body["auth"] == {"type": "OAuth2.0", "token": TOKEN}
    assert body["payload"] == {"deviceDiscoveryId": "disc0001", "connectorId": LUMEN.connector_id}


def test_a_command_carries_its_trace_id_device_commands_and_the_general_authorization_secret(
    lumen: WebhookDeviceCloud, cloud: ScriptedCloud
) -> None:
    lumen.send_command(command("9b75f3839b6140f=_1"), timeout_seconds=TIMEOUT)

    body = verified(cloud)
    assert body["type"] == "sendCommand"
    assert body["requestId"] == "9b75f3839b6140f=_1"
    assert body["connectorDeviceId"] == "lmn-bulb-0042"
    assert body["auth"] == {"type": "GeneralAuthorization", "secret": "service-key-text"}
    assert body["commands"] == [
        {"endpoint": "1", "clusterId": "0x0006", "commandId": "0x00", "name": "OnOff.Off", "fields": {}}
    ]


def test_a_retried_request_has_the_same_webhook_id_and_another_request_its_own(
    lumen: WebhookDeviceCloud, cloud: ScriptedCloud
) -> None:
    lumen.discover_devices(discovery("disc0001"), timeout_seconds=TIMEOUT)
    lumen.discover_devices(discovery("disc0001"), timeout_seconds=TIMEOUT)
    lumen.discover_devices(discovery("disc0002"), timeout_seconds=TIMEOUT)

    ids = [r.headers["webhook-id"] for r in cloud.received]
    assert ids[0] == ids[1] != ids[2]


def test_during_a_rotation_the_request_verifies_with_either_secret(
    config: Configuration, cloud: ScriptedCloud
) -> None:
    old = "whsec_" + "b2xkIGRldmljZSBjbG91ZCBzZWNyZXQ="
    new = "whsec_" + "bmV3IGRldmljZSBjbG91ZCBzZWNyZXQ="
    config.put_profile(LUMEN.connector_id, lumen_profile(cloud.url))
    config.put_secret(LUMEN.connector_id, f"{old}\n{new}\n")
    found = config.clouds().for_connector(LUMEN.connector_id)
    assert found is not None

    found.discover_devices(discovery(), timeout_seconds=TIMEOUT)

    assert verified(cloud, secret=old)["requestId"] == verified(cloud, secret=new)["requestId"] == "disc0001"


def test_activation_answers_the_user_id_the_cloud_gives(
    lumen: WebhookDeviceCloud, cloud: ScriptedCloud
) -> None:
    cloud.script = Script(status=200, body=b'{"userId": "lumen-acct-2291"}')
    assert lumen.activate_user(activation(), timeout_seconds=TIMEOUT) == "lumen-acct-2291"

    cloud.script = Script(status=200, body=b"")
    assert lumen.activate_user(activation(), timeout_seconds=TIMEOUT) is None
    # Without a request id, each call is its own delivery.
    assert cloud.received[0].headers["webhook-id"] != cloud.received[1].headers["webhook-id"]
    assert "requestId" not in verified(cloud)


def test_a_profile_naming_another_secret_under_the_prefix_signs_with_that_one(
    config: Configuration, cloud: ScriptedCloud
) -> None:
    shared = "whsec_" + "c2hhcmVkIGRldmljZSBjbG91ZCBzZWNyZXQ="
    config.put_secret("shared/lumen", shared)
    config.put_profile(
        LUMEN.connector_id, lumen_profile(cloud.url, secret=config.secret_prefix + "shared/lumen")
    )
    found = config.clouds().for_connector(LUMEN.connector_id)
    assert found is not None

    found.discover_devices(discovery(), timeout_seconds=TIMEOUT)

    assert verified(cloud, secret=shared)["requestId"] == "disc0001"


# --- What the cloud answers -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 429])
def test_a_4xx_is_a_refusal_with_its_status(
    lumen: WebhookDeviceCloud, cloud: ScriptedCloud, status: int
) -> None:
    cloud.script = Script(status=status, body=b'{"error": "no"}')

    with pytest.raises(DeviceCloudRefusedError) as raised:
        lumen.send_command(command(), timeout_seconds=TIMEOUT)
    assert raised.value.status == status


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_is_unavailable(lumen: WebhookDeviceCloud, cloud: ScriptedCloud, status: int) -> None:
    cloud.script = Script(status=status)

    with pytest.raises(DeviceCloudUnavailableError) as raised:
        lumen.discover_devices(discovery(), timeout_seconds=TIMEOUT)
    assert raised.value.reason == "status_5xx"


def test_a_cloud_that_holds_its_answer_past_the_timeout_is_unavailable(
    lumen: WebhookDeviceCloud, cloud: ScriptedCloud
) -> None:
    cloud.script = Script(hold=True)

    with pytest.raises(DeviceCloudUnavailableError) as raised:
        lumen.discover_devices(discovery(), timeout_seconds=0.3)
    assert raised.value.reason == "timeout"


def test_an_unreachable_cloud_is_unavailable(config: Configuration) -> None:
    assert LUMEN.outbound_secret is not None
    config.put_profile(LUMEN.connector_id, lumen_profile(f"http://{LOOPBACK}:{free_port()}{REQUESTS_PATH}"))
    config.put_secret(LUMEN.connector_id, LUMEN.outbound_secret)
    found = config.clouds().for_connector(LUMEN.connector_id)
    assert found is not None

    with pytest.raises(DeviceCloudUnavailableError) as raised:
        found.discover_devices(discovery(), timeout_seconds=TIMEOUT)
    assert raised.value.reason == "unreachable"


def test_a_redirect_is_not_followed(lumen: WebhookDeviceCloud, cloud: ScriptedCloud) -> None:
    elsewhere = cloud.url.replace(REQUESTS_PATH, "/elsewhere")
    cloud.script = Script(status=307, headers={"Location": elsewhere})

    with pytest.raises(DeviceCloudUnavailableError) as raised:
        lumen.send_command(command(), timeout_seconds=TIMEOUT)
    assert raised.value.reason == "status_3xx"
    assert [r.path for r in cloud.received] == [REQUESTS_PATH]


@pytest.mark.parametrize(
    "answer", [b"not json", b'{"userId": ', b"[" * 30_000 + b"]" * 30_000], ids=["text", "cut", "deep"]
)
def test_an_answer_that_is_not_json_is_unavailable(
    lumen: WebhookDeviceCloud, cloud: ScriptedCloud, answer: bytes
) -> None:
    cloud.script = Script(status=200, body=answer)

    with pytest.raises(DeviceCloudUnavailableError) as raised:
        lumen.activate_user(activation(), timeout_seconds=TIMEOUT)
    assert raised.value.reason == "unreadable_answer"


@pytest.mark.parametrize("answer", [b'{"userId": 42}', b'{"userId": ""}', b'["acct-1"]', b"null"])
def test_an_answer_without_a_user_id_gives_none(
    lumen: WebhookDeviceCloud, cloud: ScriptedCloud, answer: bytes
) -> None:
    cloud.script = Script(status=200, body=answer)
    assert lumen.activate_user(activation(), timeout_seconds=TIMEOUT) is None


def test_a_huge_answer_is_not_read_to_its_end_and_the_next_request_gets_a_clean_connection(
    lumen: WebhookDeviceCloud, cloud: ScriptedCloud
) -> None:
    # Its first bytes are a whole answer: what follows makes it one the protocol does not allow.
    cloud.script = Script(status=200, stream_bytes=LARGE_ANSWER_BYTES, stream_start=b'{"userId": "acct-1"}')

    with pytest.raises(DeviceCloudUnavailableError) as raised:
        lumen.activate_user(activation(), timeout_seconds=10)

    assert raised.value.reason == "answer_too_large"
    assert cloud.stream_ended.wait(30)
    [(written, ended)] = cloud.streamed
    # The connection is closed, not kept with the rest of the answer unread in it.
    assert ended == "closed by the client"
    assert written < LARGE_ANSWER_BYTES
    cloud.script = Script(status=200, body=b'{"userId": "acct-1"}')
    assert lumen.activate_user(activation(), timeout_seconds=TIMEOUT) == "acct-1"


def test_an_answer_of_the_bound_is_read_and_one_byte_more_is_too_large(
    lumen: WebhookDeviceCloud, cloud: ScriptedCloud
) -> None:
    padded = b'{"userId": "acct-1"}' + b" " * (MAX_ANSWER_BYTES - 20)
    assert len(padded) == MAX_ANSWER_BYTES
    cloud.script = Script(status=200, body=padded)
    assert lumen.activate_user(activation(), timeout_seconds=TIMEOUT) == "acct-1"

    cloud.script = Script(status=200, body=padded + b" ")
    with pytest.raises(DeviceCloudUnavailableError) as raised:
        lumen.activate_user(activation(), timeout_seconds=TIMEOUT)
    assert raised.value.reason == "answer_too_large"


def test_a_refusal_with_a_huge_body_is_still_a_refusal(
    lumen: WebhookDeviceCloud, cloud: ScriptedCloud
) -> None:
    cloud.script = Script(status=403, body=b"x" * (MAX_ANSWER_BYTES * 3))

    with pytest.raises(DeviceCloudRefusedError) as raised:
        lumen.send_command(command(), timeout_seconds=TIMEOUT)
    assert raised.value.status == 403


# --- Which connectors have a device cloud, and which URLs are allowed -------------------------------------


def test_a_connector_without_profile_or_without_device_cloud_has_none(config: Configuration) -> None:
    document = lumen_profile("https://hooks.lumen-home.example/aws-iot/requests")
    del document["deviceCloud"]
    config.put_profile("no-device-cloud", document)

    clouds = config.clouds()
    assert clouds.for_connector("no-profile") is None
    assert clouds.for_connector("no-device-cloud") is None


def test_an_https_device_cloud_is_taken(config: Configuration) -> None:
    config.put_profile(LUMEN.connector_id, lumen_profile("https://hooks.lumen-home.example/aws-iot/requests"))
    assert config.clouds(allow_loopback=False).for_connector(LUMEN.connector_id) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.lumen-home.example/aws-iot/requests",
        "http://hooks.lumen-home.example:8080/aws-iot/requests",
        "http://10.0.0.7:8080/aws-iot/requests",
        "ftp://hooks.lumen-home.example/requests",
        "https://user:pass@hooks.lumen-home.example/requests",
    ],
)
def test_a_device_cloud_url_that_is_not_https_is_a_setup_error(config: Configuration, url: str) -> None:
    config.put_profile(LUMEN.connector_id, lumen_profile(url))

    with pytest.raises(ConnectorSetupError):
        config.clouds(allow_loopback=True).for_connector(LUMEN.connector_id)


def test_a_loopback_device_cloud_is_a_setup_error_unless_loopback_is_allowed(
    config: Configuration, cloud: ScriptedCloud
) -> None:
    config.put_profile(LUMEN.connector_id, lumen_profile(cloud.url))

    with pytest.raises(ConnectorSetupError) as raised:
        config.clouds(allow_loopback=False).for_connector(LUMEN.connector_id)
    assert raised.value.reason == "insecure_url"
    assert config.clouds(allow_loopback=True).for_connector(LUMEN.connector_id) is not None
    assert cloud.received == []


@pytest.mark.parametrize(
    "stored",
    [None, "not a whsec value", '{"secret": "whsec_x"}', "whsec_!!!not-base64!!!"],
    ids=["missing", "text", "json", "malformed"],
)
def test_an_unusable_outbound_secret_is_a_setup_error_and_nothing_is_sent(
    config: Configuration, cloud: ScriptedCloud, stored: str | None
) -> None:
    config.put_profile(LUMEN.connector_id, lumen_profile(cloud.url))
    if stored is not None:
        config.put_secret(LUMEN.connector_id, stored)
    found = config.clouds().for_connector(LUMEN.connector_id)
    assert found is not None

    with pytest.raises(ConnectorSetupError) as raised:
        found.discover_devices(discovery(), timeout_seconds=TIMEOUT)
    assert raised.value.reason == "unusable_outbound_secret"
    assert cloud.received == []


def test_a_profile_naming_a_secret_outside_the_prefix_is_a_setup_error(
    config: Configuration, cloud: ScriptedCloud
) -> None:
    config.secretsmanager.create_secret(Name="elsewhere/lumen", SecretString=LUMEN.outbound_secret)
    config.put_profile(LUMEN.connector_id, lumen_profile(cloud.url, secret="elsewhere/lumen"))
    found = config.clouds().for_connector(LUMEN.connector_id)
    assert found is not None

    with pytest.raises(ConnectorSetupError):
        found.discover_devices(discovery(), timeout_seconds=TIMEOUT)
    assert cloud.received == []


# --- General Authorization secrets --------------------------------------------------------------------


@pytest.fixture
def authorizations(config: Configuration) -> Callable[..., SecretsManagerAuthorizations]:
    def make(client: Any = None) -> SecretsManagerAuthorizations:
        return SecretsManagerAuthorizations(
            client or config.secretsmanager, prefix=config.authorization_prefix, max_age_seconds=300
        )

    return make


def test_a_general_authorization_secret_is_read_by_arn_and_version(
    config: Configuration, authorizations: Callable[..., SecretsManagerAuthorizations]
) -> None:
    created = config.secretsmanager.create_secret(
        Name=config.authorization_prefix + "lumen/service-key", SecretString="service-key-v1"
    )
    later = config.secretsmanager.put_secret_value(SecretId=created["ARN"], SecretString="service-key-v2")

    reader = authorizations()
    assert reader.secret_for("lumen", created["ARN"], created["VersionId"]) == "service-key-v1"
    assert reader.secret_for("lumen", created["ARN"], later["VersionId"]) == "service-key-v2"
    assert reader.secret_for("lumen", created["ARN"], None) == "service-key-v2"


def test_a_missing_secret_or_version_is_an_unusable_credential(
    config: Configuration, authorizations: Callable[..., SecretsManagerAuthorizations]
) -> None:
    created = config.secretsmanager.create_secret(
        Name=config.authorization_prefix + "lumen/k", SecretString="k"
    )
    missing = created["ARN"].split(":secret:")[0] + f":secret:{config.authorization_prefix}lumen/none-AbCdEf"

    with pytest.raises(UnusableCredentialError):
        authorizations().secret_for("lumen", missing, None)
    with pytest.raises(UnusableCredentialError):
        authorizations().secret_for("lumen", created["ARN"], str(uuid.uuid4()))


def test_a_binary_secret_is_an_unusable_credential(
    config: Configuration, authorizations: Callable[..., SecretsManagerAuthorizations]
) -> None:
    created = config.secretsmanager.create_secret(
        Name=config.authorization_prefix + "lumen/binary", SecretBinary=b"\x00\x01"
    )

    with pytest.raises(UnusableCredentialError) as raised:
        authorizations().secret_for("lumen", created["ARN"], created["VersionId"])
    assert raised.value.reason == "not_text"


def test_a_secret_outside_the_prefix_is_never_read(
    config: Configuration, authorizations: Callable[..., SecretsManagerAuthorizations]
) -> None:
    created = config.secretsmanager.create_secret(
        Name=f"other-{uuid.uuid4().hex[:6]}/lumen", SecretString="k"
    )

    with pytest.raises(UnusableCredentialError) as raised:
        authorizations(unreachable_secrets()).secret_for("lumen", created["ARN"], created["VersionId"])
    assert raised.value.reason == "outside_prefix"


@pytest.mark.parametrize("owner", ["aerie-sensors", "lumen-home"])
def test_another_connector_s_general_authorization_secret_is_never_read(
    config: Configuration, authorizations: Callable[..., SecretsManagerAuthorizations], owner: str
) -> None:
    # GIVEN a secret under the authorization prefix, in the part of another connector (or one whose name
    # merely starts with this connector's id)
    created = config.secretsmanager.create_secret(
        Name=f"{config.authorization_prefix}{owner}/service-key", SecretString="another connector's key"
    )

    # WHEN connector "lumen" is invoked naming it
    # THEN it is refused before any call (the client could not even reach Secrets Manager)
    with pytest.raises(UnusableCredentialError) as raised:
        authorizations(unreachable_secrets()).secret_for("lumen", created["ARN"], created["VersionId"])
    assert raised.value.reason == "other_connector"


def test_an_unreachable_secrets_manager_is_unavailable_not_an_unusable_credential(
    config: Configuration, authorizations: Callable[..., SecretsManagerAuthorizations]
) -> None:
    arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{config.authorization_prefix}lumen/k-AbCdEf"

    with pytest.raises(DependencyUnavailableError):
        authorizations(unreachable_secrets()).secret_for("lumen", arn, None)


def unreachable_secrets() -> Any:
    """A Secrets Manager client aimed at a loopback port nothing listens on (a read would fail)."""
    return local_client("secretsmanager", f"http://{LOOPBACK}:{free_port()}", attempts=1, connect_timeout=1)


def test_a_profile_store_outage_is_unavailable_not_a_connector_without_device_cloud(
    config: Configuration,
) -> None:
    config.ssm = local_client("ssm", f"http://{LOOPBACK}:{free_port()}", attempts=1, connect_timeout=1)

    with pytest.raises(DependencyUnavailableError):
        config.clouds().for_connector(LUMEN.connector_id)


def test_a_secrets_store_outage_is_unavailable_and_nothing_is_sent(
    config: Configuration, cloud: ScriptedCloud
) -> None:
    config.put_profile(LUMEN.connector_id, lumen_profile(cloud.url))
    config.secretsmanager = unreachable_secrets()
    found = config.clouds().for_connector(LUMEN.connector_id)
    assert found is not None

    with pytest.raises(DependencyUnavailableError):
        found.discover_devices(discovery(), timeout_seconds=TIMEOUT)
    assert cloud.received == []
