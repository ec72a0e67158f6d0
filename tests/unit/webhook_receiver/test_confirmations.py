"""The confirmation GET a handshake makes, against a real server on 127.0.0.1: made only to a URL that is
allowed (checked before any request), within its deadline, its answer read only so far, no redirect
followed."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fakes.confirmation_server import LOOPBACK, ConfirmationServer, confirmation_server
from iotbridge.webhook_receiver.confirmations import MAX_CONFIRMATION_ANSWER_BYTES, UrllibConfirmations
from iotbridge.webhook_receiver.ports import ConfirmationRefusedError, DependencyUnavailableError

HOSTS = (LOOPBACK,)


@pytest.fixture
def server() -> Iterator[ConfirmationServer]:
    with confirmation_server() as running:
        yield running


def loopback_allowed(timeout_seconds: float = 3.0) -> UrllibConfirmations:
    return UrllibConfirmations(allow_loopback=True, timeout_seconds=timeout_seconds)


def refusal(confirmations: UrllibConfirmations, url: str, hosts: tuple[str, ...] = HOSTS) -> str:
    with pytest.raises(ConfirmationRefusedError) as caught:
        confirmations.confirm(url, hosts)
    return str(caught.value)


def test_the_confirmation_url_is_fetched_once_with_its_query(server: ConfirmationServer) -> None:
    loopback_allowed().confirm(server.url(), HOSTS)
    assert server.received == [
        "/apps/fd9949ee-a3bf-4069-b4b3-3e9c1c922e29/confirm-registration?token=fd9581b5-628c-4cd7-b1c2-dc14761234f3"
    ]


def test_plain_http_to_loopback_is_refused_unless_the_deployment_allows_it(
    server: ConfirmationServer,
) -> None:
    assert refusal(UrllibConfirmations(), server.url()) == "not_https"
    assert server.received == []


def test_a_host_off_the_allow_list_is_refused_before_any_request(server: ConfirmationServer) -> None:
    # GIVEN the server's own URL, with an allow-list that names another host
    url = server.url()
    # WHEN it is to be confirmed
    reason = refusal(loopback_allowed(), url, ("api.smartthings.com",))
    # THEN nothing was asked of the server
    assert reason == "host_not_allowed" and server.received == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://api.smartthings.com/x",
        "http://api.smartthings.com/x",  # plain HTTP to anything but loopback, even when loopback is allowed
        "https://user:pw@api.smartthings.com/x",
        "https://api.smartthings.com:99999/x",
        "https:///x",
        "https://api.smartthings.com/" + "x" * 3000,
        "https://api.smartthings.com/a b",
    ],
)
def test_a_url_that_is_not_an_https_url_to_a_named_host_is_refused(url: str) -> None:
    resolved: list[str] = []

    def resolver(host: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        resolved.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]

    confirmations = UrllibConfirmations(allow_loopback=True, resolver=resolver)
    with pytest.raises(ConfirmationRefusedError):
        confirmations.confirm(url, ("api.smartthings.com",))
    assert resolved == []


@pytest.mark.parametrize("address", ["10.0.0.7", "169.254.169.254", "127.0.0.1", "fd00:ec2::254", "::1"])
def test_a_name_that_resolves_to_an_internal_address_is_refused_before_connecting(address: str) -> None:
    # GIVEN an allowed https:// host whose name resolves to an internal address
    def resolver(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port),
            )
        ]

    confirmations = UrllibConfirmations(allow_loopback=True, resolver=resolver)
    # WHEN it is to be confirmed, THEN it is refused as the connector function refuses such names
    assert refusal(confirmations, "https://api.smartthings.com/confirm", ("api.smartthings.com",)) == (
        "internal_address"
    )


@pytest.mark.parametrize("status", [201, 204])
def test_any_2xx_confirms(server: ConfirmationServer, status: int) -> None:
    server.script.status, server.script.body_bytes = status, 0
    loopback_allowed().confirm(server.url(), HOSTS)


@pytest.mark.parametrize("status", [400, 404, 410, 500, 503])
def test_an_answer_other_than_2xx_is_unavailable(server: ConfirmationServer, status: int) -> None:
    server.script.status = status
    with pytest.raises(DependencyUnavailableError) as caught:
        loopback_allowed().confirm(server.url(), HOSTS)
    assert caught.value.reason == "confirmation"


def test_a_redirect_is_not_followed(server: ConfirmationServer) -> None:
    # GIVEN a confirmation endpoint that redirects to another path of the same allowed host
    server.script.status, server.script.location = 302, server.url("/elsewhere", "")
    # WHEN the URL is confirmed
    with pytest.raises(DependencyUnavailableError):
        loopback_allowed().confirm(server.url(), HOSTS)
    # THEN the redirect's target was never asked
    assert [path.split("?")[0] for path in server.received] == [
        "/apps/fd9949ee-a3bf-4069-b4b3-3e9c1c922e29/confirm-registration"
    ]


def test_an_endpoint_that_does_not_answer_is_given_up_at_the_deadline(server: ConfirmationServer) -> None:
    server.script.hold = True
    started = time.monotonic()
    with pytest.raises(DependencyUnavailableError):
        loopback_allowed(timeout_seconds=0.3).confirm(server.url(), HOSTS)
    assert time.monotonic() - started < 2
    assert len(server.received) == 1


def test_an_oversized_answer_is_read_only_so_far_and_still_confirms(server: ConfirmationServer) -> None:
    # GIVEN a confirmation endpoint whose 200 carries 64 MiB
    server.script.body_bytes = 64 * 1024 * 1024
    started = time.monotonic()
    # WHEN the URL is confirmed
    loopback_allowed().confirm(server.url(), HOSTS)
    # THEN the GET confirmed without reading the answer (its first 16 KiB at most, discarded)
    assert time.monotonic() - started < 2
    assert MAX_CONFIRMATION_ANSWER_BYTES == 16 * 1024


def test_an_endpoint_that_is_not_listening_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    with pytest.raises(DependencyUnavailableError):
        loopback_allowed().confirm(f"http://{LOOPBACK}:{port}/confirm", HOSTS)
