"""The connector function's outbound exchange against device clouds that misbehave on purpose, on loopback:
answers a byte at a time, `100 Continue` without end, 2xx answers that are not JSON, URLs whose names
resolve to internal addresses (iotbridge.connector.outbound, iotbridge.connector.adapters)."""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge_local.processes import LOOPBACK
from fakes.connector import InMemoryAuthorizations, InMemoryPendingRequests, InMemoryUserDirectory
from integration import test_device_cloud_webhooks as webhooks
from integration.test_device_cloud_webhooks import (
    REQUESTS_PATH,
    TOKEN,
    Configuration,
    Script,
    ScriptedCloud,
    activation,
    command,
    discovery,
    lumen_profile,
)
from iot_standin.caller import envelope, matter_command, oauth
from iotbridge.connector.adapters import WebhookDeviceCloud
from iotbridge.connector.domain.invocations import ConnectorOperations
from iotbridge.connector.domain.requests import DISCOVER_DEVICES, SEND_COMMAND, parse_invocation
from iotbridge.connector.outbound import OutboundExchanges
from iotbridge.connector.ports import (
    CloudRequest,
    ConnectorSetupError,
    Credential,
    DeviceCloudUnavailableError,
)
from iotbridge.correlation.model import Status
from samples.device_clouds import LUMEN

# The fixtures of the well-behaved cloud's tests: moto's profiles and secrets, and the scripted cloud.
config = webhooks.config
cloud = webhooks.cloud

DEADLINE = 0.5
# The hostile servers give up on their own after this: only so that a client without a deadline cannot hang
# the suite; far above the deadline.
SERVER_CEILING = 8.0


# --- Device clouds that misbehave ----------------------------------------------------------------------


class HostileCloud:
    """A TCP server on loopback that reads each request and then answers as `answer` writes, and records
    whether the client closed the connection (or the server gave up at its ceiling)."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self._answer = answer
        self._server = socket.create_server((LOOPBACK, 0))
        self.port = self._server.getsockname()[1]
        self.connections = 0
        self.endings: list[str] = []
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hostile-cloud", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}{REQUESTS_PATH}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            _read_request(connection)
            try:
                self._answer(connection)
                self.endings.append("gave up")
            except OSError:
                self.endings.append("closed by the client")
            self.ended.set()

    def stop(self) -> None:
        # Shutting a listening socket down wakes the accept() waiting on it; closing it does not.
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(5)


def _read_request(connection: socket.socket) -> bytes:
    """The request's head, once the whole request (its body too) is read."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head


def _trickle(connection: socket.socket, first: bytes, then: bytes) -> None:
    connection.sendall(first)
    until = time.monotonic() + SERVER_CEILING
    while time.monotonic() < until:
        connection.sendall(then)
        time.sleep(0.05)


def trickled_headers(connection: socket.socket) -> None:
    _trickle(connection, b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a")


def trickled_body(connection: socket.socket) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    _trickle(connection, head + b'{"userId": "', b"a")


def endless_continue(connection: socket.socket) -> None:
    _trickle(connection, b"", b"HTTP/1.1 100 Continue\r\n\r\n")


@pytest.fixture
def hostile() -> Iterator[Callable[[Callable[[socket.socket], None]], HostileCloud]]:
    started: list[HostileCloud] = []

    def start(answer: Callable[[socket.socket], None]) -> HostileCloud:
        server = HostileCloud(answer)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def cloud_at(config: Configuration, url: str, **options: Any) -> WebhookDeviceCloud:
    assert LUMEN.outbound_secret is not None
    config.put_profile(LUMEN.connector_id, lumen_profile(url))
    config.put_secret(LUMEN.connector_id, LUMEN.outbound_secret)
    found = config.clouds(**options).for_connector(LUMEN.connector_id)
    assert isinstance(found, WebhookDeviceCloud)
    return found


class Seconds:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def remaining_seconds(self) -> float:
        return self.seconds


def operations_over(config: Configuration, pending: InMemoryPendingRequests) -> ConnectorOperations:
    return ConnectorOperations(
        device_clouds=config.clouds(),
        requests=pending,
        users=InMemoryUserDirectory(),
        authorizations=InMemoryAuthorizations({}),
        device_cloud_seconds=DEADLINE,
    )


# --- A deadline on the whole exchange -------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer", [trickled_headers, trickled_body, endless_continue], ids=["headers", "body", "continue"]
)
def test_a_cloud_that_answers_a_byte_at_a_time_is_a_timeout_at_the_deadline(
    config: Configuration, hostile: Callable[..., HostileCloud], answer: Callable[[socket.socket], None]
) -> None:
    # GIVEN a device cloud that keeps sending, a little at a time, and never finishes its answer
    server = hostile(answer)
    found = cloud_at(config, server.url)

    # WHEN the connector asks it for a user id with half a second to spare
    with pytest.raises(DeviceCloudUnavailableError) as raised:
        found.activate_user(activation(), timeout_seconds=DEADLINE)

    # THEN the call ends as a timeout, and the connection was closed by the client, not outlasted
    assert raised.value.reason == "timeout"
    assert server.ended.wait(SERVER_CEILING + 5)
    assert server.endings == ["closed by the client"]


@pytest.mark.parametrize("answer", [trickled_headers, endless_continue], ids=["headers", "continue"])
def test_a_hand_over_to_a_trickling_cloud_is_a_504_and_its_entry_is_released_for_the_retry(
    config: Configuration, hostile: Callable[..., HostileCloud], answer: Callable[[socket.socket], None]
) -> None:
    # GIVEN a device cloud that never finishes its status line and headers
    server = hostile(answer)
    cloud_at(config, server.url)
    pending = InMemoryPendingRequests()

    # WHEN managed integrations invokes DiscoverDevices
    event = envelope(DISCOVER_DEVICES, LUMEN.connector_id, oauth(TOKEN), deviceDiscoveryId="disc-trickle")
    outcome = operations_over(config, pending).handle(parse_invocation(event), Seconds(1.5))

    # THEN it is answered as a device cloud timeout, and no entry is left being handed over
    assert (outcome.code, outcome.reason) == (504, "device_cloud_timeout")
    assert pending.status_of("disc-trickle") is None
    assert server.ended.wait(SERVER_CEILING + 5)
    assert server.endings == ["closed by the client"]


# --- Any 2xx takes a hand-over --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        Script(status=200, body=b"OK"),
        Script(status=202, body=b"<html><body>Accepted</body></html>"),
        Script(status=200, body=b'{"accepted": '),
        Script(status=200, stream_bytes=256 * 1024 * 1024, stream_start=b"accepted"),
    ],
    ids=["text", "html", "cut", "huge"],
)
def test_a_2xx_to_a_hand_over_takes_it_whatever_its_body(
    config: Configuration, cloud: ScriptedCloud, script: Script
) -> None:
    # GIVEN a device cloud whose 2xx carries a body that is not JSON, or is larger than any answer
    found = cloud_at(config, cloud.url)
    cloud.script = script

    # WHEN a discovery and a command are handed over THEN both are taken
    found.discover_devices(discovery(), timeout_seconds=2.0)
    found.send_command(command(), timeout_seconds=2.0)
    assert [r.path for r in cloud.received] == [REQUESTS_PATH, REQUESTS_PATH]


def test_a_command_whose_2xx_is_not_json_is_asked_once_through_the_callers_retries(
    config: Configuration, cloud: ScriptedCloud
) -> None:
    # GIVEN a device cloud that answers "OK" as text to a toggle
    cloud_at(config, cloud.url)
    cloud.script = Script(status=200, body=b"OK")
    pending = InMemoryPendingRequests()
    operations = operations_over(config, pending)
    event = envelope(
        SEND_COMMAND,
        LUMEN.connector_id,
        oauth(TOKEN),
        traceId="trace-toggle-1",
        connectorDeviceId="lmn-bulb-0042",
        endpoints=matter_command("1", "0x0006", "0x02"),
    )

    # WHEN managed integrations invokes SendCommand and retries it as often as it may
    outcomes = [operations.handle(parse_invocation(event), Seconds(1.5)) for _ in range(6)]

    # THEN the first is handed over, the retries acknowledged without asking, and the cloud asked once
    assert [o.code for o in outcomes] == [200] * 6
    assert [o.reason for o in outcomes] == ["ok"] + ["handed_over_before"] * 5
    assert len(cloud.received) == 1
    assert pending.status_of("trace-toggle-1") is Status.PENDING


def test_a_deactivation_whose_2xx_is_not_json_keeps_the_user_the_request_named(
    config: Configuration, cloud: ScriptedCloud
) -> None:
    # GIVEN a device cloud that revokes and answers text
    found = cloud_at(config, cloud.url)
    cloud.script = Script(status=200, body=b"revoked")
    request = CloudRequest(
        operation="deactivateUser",
        connector_id=LUMEN.connector_id,
        credential=Credential("OAuth2.0", TOKEN),
        user_id="acct-1",
    )

    # WHEN the user is deactivated with the id from the token's claim THEN the cloud's answer adds none
    assert found.deactivate_user(request, timeout_seconds=2.0) is None

    # AND without an id of its own the answer is a failure to retry, as for an activation
    with pytest.raises(DeviceCloudUnavailableError) as raised:
        found.deactivate_user(
            CloudRequest(
                operation="deactivateUser",
                connector_id=LUMEN.connector_id,
                credential=Credential("OAuth2.0", TOKEN),
            ),
            timeout_seconds=2.0,
        )
    assert raised.value.reason == "unreadable_answer"


# --- Internal addresses ---------------------------------------------------------------------------------


class Resolver:
    """getaddrinfo's answers for chosen names (a device cloud's DNS, as hostile as it likes)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        self.asked.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in self.answers[host]
        ]


@pytest.fixture
def listener() -> Iterator[HostileCloud]:
    server = HostileCloud(
        lambda connection: connection.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
    )
    yield server
    server.stop()


def test_an_https_name_that_resolves_to_loopback_is_refused_before_connecting(
    config: Configuration, listener: HostileCloud
) -> None:
    # GIVEN a deployed function and a profile whose https name resolves to this machine
    found = cloud_at(config, f"https://localhost:{listener.port}{REQUESTS_PATH}", allow_loopback=False)

    # WHEN it hands a discovery over THEN the URL is a setup error and nothing is connected to
    with pytest.raises(ConnectorSetupError) as raised:
        found.discover_devices(discovery(), timeout_seconds=DEADLINE)
    assert raised.value.reason == "internal_address"
    assert listener.connections == 0


@pytest.mark.parametrize(
    "addresses",
    [["169.254.169.254"], ["fd00:ec2::254"], ["203.0.113.9", "10.0.0.7"], ["::ffff:127.0.0.1"]],
    ids=["metadata", "metadata-v6", "one-of-two", "mapped"],
)
@pytest.mark.parametrize("allow_loopback", [False, True])
def test_a_name_with_any_internal_address_is_refused(
    config: Configuration, listener: HostileCloud, addresses: list[str], allow_loopback: bool
) -> None:
    # GIVEN a name whose DNS answer holds an internal address (even beside a public one)
    resolver = Resolver({"hooks.lumen-home.example": addresses})
    exchanges = OutboundExchanges(resolver=resolver, allow_loopback=allow_loopback)
    found = cloud_at(
        config,
        "https://hooks.lumen-home.example/aws-iot/requests",
        exchanges=exchanges,
        allow_loopback=allow_loopback,
    )

    # WHEN a command is handed over THEN it is refused, whether or not the local stack's setting is on
    with pytest.raises(ConnectorSetupError) as raised:
        found.send_command(command(), timeout_seconds=DEADLINE)
    assert raised.value.reason == "internal_address"
    assert resolver.asked == ["hooks.lumen-home.example"]
    assert listener.connections == 0


def test_the_local_stacks_localhost_is_taken_at_each_of_its_addresses_in_turn(
    config: Configuration, listener: HostileCloud
) -> None:
    # GIVEN the local stack's setting, and `localhost` resolving to an address where nothing listens and then
    # to the one where the cloud does (as in a container, its own loopback and then the Docker gateway)
    resolver = Resolver({"localhost": ["127.0.0.2", LOOPBACK]})
    exchanges = OutboundExchanges(resolver=resolver, allow_loopback=True)
    found = cloud_at(config, f"http://localhost:{listener.port}{REQUESTS_PATH}", exchanges=exchanges)

    # WHEN a discovery is handed over THEN it reaches the cloud at the second address
    found.discover_devices(discovery(), timeout_seconds=2.0)
    assert listener.connections == 1


# --- TLS to the checked address, in the URL's name ------------------------------------------------------


class TlsCloud:
    """A TLS server on 127.0.0.1 with a certificate for `localhost` only, recording the server name each
    client asked for and the Host header of each request."""

    def __init__(self, directory: Path) -> None:
        self.ca_file = directory / "cert.pem"
        context = _context_for("localhost", self.ca_file, directory / "key.pem")
        self.server_names: list[str | None] = []
        self.hosts: list[str] = []
        context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        self._context = context
        self._server = socket.create_server((LOOPBACK, 0))
        self.port = self._server.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self._server.accept()
            except OSError:
                return
            try:
                with self._context.wrap_socket(raw, server_side=True) as connection:
                    # Read to the body's end: closing with some of it unread would reset the connection.
                    head = _read_request(connection)
                    host = [line for line in head.split(b"\r\n") if line.lower().startswith(b"host:")]
                    self.hosts.append(host[0].split(b":", 1)[1].strip().decode())
                    connection.sendall(
                        b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
            except (OSError, ssl.SSLError):
                continue

    def stop(self) -> None:
        # Shutting a listening socket down wakes the accept() waiting on it; closing it does not.
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(5)


def _context_for(name: str, cert_file: Path, key_file: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_tls_goes_to_the_checked_address_in_the_urls_name(config: Configuration, tmp_path: Path) -> None:
    # GIVEN a TLS device cloud whose certificate names `localhost`, and the local stack's setting
    server = TlsCloud(tmp_path)
    try:
        exchanges = OutboundExchanges(ca_certs=str(server.ca_file), allow_loopback=True)
        found = cloud_at(config, f"https://localhost:{server.port}{REQUESTS_PATH}", exchanges=exchanges)

        # WHEN a discovery is handed over (to the address `localhost` resolved to)
        found.discover_devices(discovery(), timeout_seconds=2.0)
    finally:
        server.stop()

    # THEN the server name TLS asked for, the certificate checked and the Host header are the URL's name
    assert server.server_names == ["localhost"]
    assert server.hosts == [f"localhost:{server.port}"]
