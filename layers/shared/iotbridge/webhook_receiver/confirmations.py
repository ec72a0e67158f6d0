"""The one GET a handshake may make: a device cloud's confirmation URL (SmartThings' CONFIRMATION lifecycle),
checked first, bounded in time and size.

The URL must be https:// (http:// only to a loopback name, and only when the deployment allows loopback
device clouds: the local stack), its host on the profile's allow-list, and every address its name resolves
to public (as the connector function's device-cloud URLs: loopback, private, link-local and metadata
addresses are refused). The connection goes to the checked address, with TLS's server name and `Host` kept
as the URL's name, so a DNS answer that changes after the check cannot redirect it. One try, no redirect
followed, at most CONFIRMATION_TIMEOUT_SECONDS for the whole exchange (a watchdog shuts the socket at the
deadline, whatever the exchange is waiting for), at most MAX_CONFIRMATION_ANSWER_BYTES of the answer read
and discarded.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from iotbridge.profile.device_cloud import (
    LOOPBACK_HOSTS,
    MAX_URL_CHARS,
    Address,
    address_literal,
    is_internal_address,
)
from iotbridge.profile.handshakes import host_allowed

from .ports import ConfirmationRefusedError, DependencyUnavailableError

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

logger = Logger(child=True)

CONFIRMATION_TIMEOUT_SECONDS = 3.0
MAX_CONFIRMATION_ANSWER_BYTES = 16 * 1024
_CHUNK_BYTES = 4096

Resolver = Callable[..., list[tuple[Any, ...]]]


class UrllibConfirmations:
    """Confirmation GETs over the standard library's HTTP client, to checked addresses only."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        timeout_seconds: float = CONFIRMATION_TIMEOUT_SECONDS,
        resolver: Resolver = socket.getaddrinfo,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._timeout = timeout_seconds
        self._resolver = resolver
        self._tls = tls
        # Name resolution cannot be interrupted: it runs in a thread of its own (made on the first GET, which
        # most deployments never make), and the GET stops waiting at its deadline.
        self._resolving: ThreadPoolExecutor | None = None

    def confirm(self, url: str, hosts: tuple[str, ...]) -> None:
        scheme, host, port, target = self._checked(url, hosts)
        deadline = time.monotonic() + self._timeout
        address = self._address(host, port, deadline)
        connection = self._connection(scheme, host, port, address, deadline)
        watchdog = threading.Timer(max(deadline - time.monotonic(), 0.0), _shut, (connection,))
        watchdog.daemon = True
        watchdog.start()
        try:
            connection.request(
                "GET", target, headers={"Accept": "application/json", "User-Agent": "iot-bridge"}
            )
            answer = connection.getresponse()
            # Read a bounded part of the answer, and discard it: the GET itself is the confirmation.
            left = MAX_CONFIRMATION_ANSWER_BYTES
            while left > 0 and answer.read(min(_CHUNK_BYTES, left)):
                left -= _CHUNK_BYTES
            status = answer.status
        except (OSError, http.client.HTTPException) as exc:
            logger.warning("confirmation failed", extra={"error": type(exc).__name__})
            raise DependencyUnavailableError("confirmation") from None
        finally:
            watchdog.cancel()
            connection.close()
        if not 200 <= status < 300:
            # A redirect is not followed: where it leads was never checked.
            logger.warning("confirmation refused by the device cloud", extra={"status": status})
            raise DependencyUnavailableError("confirmation")

    def _checked(self, url: str, hosts: tuple[str, ...]) -> tuple[str, str, int, str]:
        """The URL's scheme, host, port and request target, once it may be fetched. Raises
        ConfirmationRefusedError."""
        if len(url) > MAX_URL_CHARS or not url.isascii() or not url.isprintable() or " " in url:
            raise ConfirmationRefusedError("not_a_url")
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            raise ConfirmationRefusedError("not_a_url") from None
        host = (parts.hostname or "").rstrip(".")
        if not host or parts.username is not None or parts.password is not None:
            raise ConfirmationRefusedError("not_a_url")
        loopback = host in LOOPBACK_HOSTS
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback and self._allow_loopback):
            raise ConfirmationRefusedError("not_https")
        if not host_allowed(host, hosts):
            raise ConfirmationRefusedError("host_not_allowed")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), target

    def _address(self, host: str, port: int, deadline: float) -> Address:
        """The address to connect to: the URL's literal, or the first its name resolves to, once every one
        of them is checked. Raises ConfirmationRefusedError, DependencyUnavailableError."""
        literal = address_literal(host)
        if literal is not None:
            found = [literal]
        else:
            from concurrent.futures import ThreadPoolExecutor
            from concurrent.futures import TimeoutError as FutureTimeoutError

            if self._resolving is None:
                self._resolving = ThreadPoolExecutor(max_workers=1, thread_name_prefix="confirmation-dns")
            pending = self._resolving.submit(self._resolver, host, port, type=socket.SOCK_STREAM)
            try:
                infos = pending.result(timeout=max(deadline - time.monotonic(), 0.0))
            except (OSError, FutureTimeoutError):
                raise DependencyUnavailableError("confirmation") from None
            found = [a for info in infos if (a := address_literal(str(info[4][0]))) is not None]
        loopback_name = self._allow_loopback and host in LOOPBACK_HOSTS
        if not loopback_name and any(is_internal_address(address) for address in found):
            raise ConfirmationRefusedError("internal_address")
        if not found:
            raise DependencyUnavailableError("confirmation")
        return found[0]

    def _connection(
        self, scheme: str, host: str, port: int, address: Address, deadline: float
    ) -> http.client.HTTPConnection:
        timeout = max(deadline - time.monotonic(), 0.001)
        connection: http.client.HTTPConnection
        if scheme == "https":
            tls = self._tls or ssl.create_default_context()
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)

        def to_checked_address(_: Any, timeout: float, source: Any = None) -> socket.socket:
            # The checked address; TLS's server name and Host stay the URL's name (http.client sets both).
            return socket.create_connection((str(address), port), timeout, source)

        connection._create_connection = to_checked_address  # type: ignore[attr-defined]
        return connection


def _shut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        # Already closed by the peer or by this side: nothing left to stop.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
