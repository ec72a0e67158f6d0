"""One request to a device cloud, under a deadline on the whole exchange, to an address checked first.

The deadline: socket timeouts bound each read, not the exchange, so a cloud that sends its answer a byte at
a time (or `100 Continue` lines without end) would hold the function until Lambda's own timeout. A
watchdog therefore shuts the connection's socket down when the time is up, whatever phase the exchange is
in (name resolution, connect, TLS, the request, the status line and headers, the body); the exchange then
ends with `timeout`.

The address: the URL's name is resolved here, every address checked, and the connection made to a
checked address while TLS's server name and the `Host` header stay the URL's name. A name is refused when
any of its addresses is internal (loopback, private, link-local, metadata, ...): a public service has no
reason to publish one, and trying the public ones only would leave which one is used to the order of a
DNS answer. Checking and connecting with the same address means a DNS answer that changes in between
cannot bypass the check. Under `allow_loopback` (the local stack), the loopback names themselves
(`localhost`, `127.0.0.1`, `::1`) are taken with whatever they resolve to: inside a `sam local`
container `localhost` also resolves to the Docker gateway, a private address.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

# urllib3 comes with botocore: its connections are used (TLS with certificate checks), not its pools.
import urllib3
from aws_lambda_powertools import Logger
from urllib3.connection import HTTPConnection, HTTPSConnection

from iotbridge.profile.device_cloud import LOOPBACK_HOSTS, Address, address_literal, is_internal_address

from .ports import ConnectorSetupError, DeviceCloudUnavailableError

logger = Logger(child=True)

Resolver = Callable[..., list[tuple[Any, ...]]]
# Connections kept between invocations, per scheme, name and port.
MAX_IDLE_PER_HOST = 4
MAX_IDLE_HOSTS = 16
# What is kept of an answer's headers: the first so many names, each value cut to so many characters.
MAX_ANSWER_HEADERS = 64
MAX_ANSWER_HEADER_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Answer:
    """A device cloud's answer: its status, its headers (lower-case names, bounded) and, when read, its body.
    `body_problem` says why the body was not read: `timeout`, `answer_too_large` or `unreadable_answer`."""

    status: int
    content: bytes | None
    body_problem: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    name: str
    port: int
    path: str

    @classmethod
    def of(cls, url: str) -> _Target:
        parts = urllib.parse.urlsplit(url)
        default = 443 if parts.scheme == "https" else 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname or "", parts.port or default, path)

    @property
    def host_header(self) -> str:
        name = f"[{self.name}]" if ":" in self.name else self.name
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


class _Guarded:
    """What a connection adds: a second handle on its TCP socket, which the watchdog shuts down (TLS takes
    the first one over, and a handshake in progress is reachable through no other)."""

    _guard: socket.socket | None = None
    _aborted = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._guard_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        with self._guard_lock:
            if self._aborted:
                sock.close()
                raise TimeoutError("deadline")
            self._guard = sock.dup()
        return sock

    def abort(self) -> None:
        with self._guard_lock:
            self._aborted = True
            guard = self._guard
        if guard is not None:
            # Already closed by the peer or by this side: nothing left to stop.
            with contextlib.suppress(OSError):
                guard.shutdown(socket.SHUT_RDWR)

    def rearm(self) -> None:
        with self._guard_lock:
            self._aborted = False

    def close(self) -> None:
        super().close()  # type: ignore[misc]
        with self._guard_lock:
            guard, self._guard = self._guard, None
        if guard is not None:
            guard.close()


class _HTTP(_Guarded, HTTPConnection):
    pass


class _HTTPS(_Guarded, HTTPSConnection):
    pass


type _Connection = _HTTP | _HTTPS


class _Watchdog:
    """Aborts the exchange's connection at the deadline (the one it is given then, or later)."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._connection: _Connection | None = None
        self.fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, connection: _Connection) -> None:
        with self._lock:
            self._connection = connection
            fired = self.fired
        if fired:
            connection.abort()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            connection = self._connection
        if connection is not None:
            connection.abort()

    def cancel(self) -> None:
        self._timer.cancel()


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        return self._end - time.monotonic()


class OutboundExchanges:
    """Requests to device clouds, each within its deadline, with connections kept from one invocation to the
    next. One try, no redirect followed."""

    def __init__(
        self,
        *,
        ca_certs: str | None = None,
        allow_loopback: bool = False,
        resolver: Resolver = socket.getaddrinfo,
        max_answer_bytes: int = 64 * 1024,
    ) -> None:
        self._ca_certs = ca_certs
        self._allow_loopback = allow_loopback
        self._resolver = resolver
        self._max_answer_bytes = max_answer_bytes
        # Name resolution cannot be interrupted: it runs here, and the exchange stops waiting at its deadline.
        self._resolving = ThreadPoolExecutor(max_workers=2, thread_name_prefix="device-cloud-dns")
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._lock = threading.Lock()

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout_seconds: float, read_body: bool
    ) -> Answer:
        """The answer to one POST (see `request`)."""
        return self.request("POST", url, body, headers, timeout_seconds=timeout_seconds, read_body=read_body)

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        *,
        timeout_seconds: float,
        read_body: bool,
        max_answer_bytes: int | None = None,
    ) -> Answer:
        """The answer to one request; raises DeviceCloudUnavailableError (`timeout`, `unreachable`) or
        ConnectorSetupError (`internal_address`). The body is read when `read_body` says so, else only to
        keep the connection for the next request; at most `max_answer_bytes` of it (by default the
        exchanges' own bound). A redirect is an answer like any other: its status, never followed."""
        target = _Target.of(url)
        limit = self._max_answer_bytes if max_answer_bytes is None else max_answer_bytes
        deadline = _Deadline(timeout_seconds)
        watchdog = _Watchdog(timeout_seconds)
        connection: _Connection | None = None
        try:
            try:
                connection = self._idle_connection(target) or self._connect(target, deadline, watchdog)
                watchdog.watch(connection)
                status, answer = self._exchange(connection, method, target, body, headers, deadline=deadline)
            except urllib3.exceptions.NewConnectionError as exc:  # (a kind of connect timeout to urllib3)
                self._discard(connection)
                raise _unreachable(exc) from None
            except (TimeoutError, urllib3.exceptions.TimeoutError):
                self._discard(connection)
                raise DeviceCloudUnavailableError("timeout") from None
            except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
                self._discard(connection)
                if watchdog.fired:
                    raise DeviceCloudUnavailableError("timeout") from None
                raise _unreachable(exc) from None
            except BaseException:
                self._discard(connection)
                raise
            if watchdog.fired:
                # The headers may have been cut short at the deadline: not an answer, read as if whole.
                self._discard(connection)
                raise DeviceCloudUnavailableError("timeout")
            content, problem = self._body(answer, read_body, watchdog, limit)
        finally:
            watchdog.cancel()
        if problem is None and connection.sock is not None and connection.is_connected:
            self._keep(target, connection)
        else:
            self._discard(connection)
        return Answer(status, content, problem, _answer_headers(answer))

    # --- connecting -------------------------------------------------------------------------------------

    def _idle_connection(self, target: _Target) -> _Connection | None:
        with self._lock:
            idle = self._idle.get((target.scheme, target.name, target.port), [])
            while idle:
                connection = idle.pop()
                if connection.is_connected:
                    connection.rearm()
                    return connection
                connection.close()
        return None

    def _keep(self, target: _Target, connection: _Connection) -> None:
        key = (target.scheme, target.name, target.port)
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE_PER_HOST and (len(self._idle) <= MAX_IDLE_HOSTS):
                idle.append(connection)
                return
        connection.close()

    @staticmethod
    def _discard(connection: _Connection | None) -> None:
        if connection is not None:
            connection.close()

    def _connect(self, target: _Target, deadline: _Deadline, watchdog: _Watchdog) -> _Connection:
        addresses = self._addresses(target, deadline)
        failure: BaseException | None = None
        for address in addresses:
            connection = self._connection(target, address, deadline)
            watchdog.watch(connection)
            try:
                connection.connect()
                return connection
            except urllib3.exceptions.NewConnectionError as exc:  # refused: a connect timeout to urllib3
                connection.close()
                failure = exc  # the next address, as a client that resolved the name itself would
            except (TimeoutError, urllib3.exceptions.TimeoutError):
                connection.close()
                raise
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                connection.close()
                failure = exc
            if watchdog.fired or deadline.left() <= 0:
                raise TimeoutError("deadline")
        raise failure or OSError("no address")

    def _addresses(self, target: _Target, deadline: _Deadline) -> list[Address]:
        literal = address_literal(target.name)
        if literal is not None:
            found = [literal]
        else:
            pending = self._resolving.submit(
                self._resolver, target.name, target.port, type=socket.SOCK_STREAM
            )
            try:
                infos = pending.result(timeout=max(deadline.left(), 0.0))
            except socket.gaierror:
                raise OSError("not resolved") from None
            found = []
            for info in infos:
                address = address_literal(str(info[4][0]))
                if address is not None and address not in found:
                    found.append(address)
        loopback_name = self._allow_loopback and target.name in LOOPBACK_HOSTS
        if not loopback_name and any(is_internal_address(address) for address in found):
            raise ConnectorSetupError("internal_address")
        if not found:
            raise OSError("no address")
        return found

    def _connection(self, target: _Target, address: Address, deadline: _Deadline) -> _Connection:
        timeout = max(deadline.left(), 0.001)
        if target.scheme == "https":
            return _HTTPS(
                str(address),
                target.port,
                timeout=timeout,
                server_hostname=target.name,  # TLS's server name and certificate check: the URL's name
                cert_reqs="CERT_REQUIRED",
                ca_certs=self._ca_certs,
            )
        return _HTTP(str(address), target.port, timeout=timeout)

    # --- the exchange -----------------------------------------------------------------------------------

    @staticmethod
    def _exchange(
        connection: _Connection,
        method: str,
        target: _Target,
        body: bytes | None,
        headers: Mapping[str, str],
        *,
        deadline: _Deadline,
    ) -> tuple[int, Any]:
        connection.timeout = max(deadline.left(), 0.001)
        connection.request(
            method,
            target.path,
            body=body,
            headers={**headers, "host": target.host_header},
            preload_content=False,
        )
        answer = connection.getresponse()
        return int(answer.status), answer

    @staticmethod
    def _body(
        answer: Any, read_body: bool, watchdog: _Watchdog, limit: int
    ) -> tuple[bytes | None, str | None]:
        try:
            content: bytes = answer.read(limit + 1)
        except (TimeoutError, urllib3.exceptions.TimeoutError):
            return None, "timeout"
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError):
            return None, "timeout" if watchdog.fired else "unreadable_answer"
        if watchdog.fired:
            return None, "timeout"
        if len(content) > limit:
            # The rest is left unread: the connection is closed with it, not kept.
            return None, "answer_too_large"
        return (content if read_body else None), None


def _answer_headers(answer: Any) -> dict[str, str]:
    """The answer's headers by lower-case name (repeated ones joined with ", "), at most MAX_ANSWER_HEADERS
    names, each value cut to MAX_ANSWER_HEADER_CHARS: a cloud's headers are read by expressions, never
    trusted to be small."""
    kept: dict[str, str] = {}
    for name, value in answer.headers.items():
        key = str(name).lower()
        if key in kept:
            kept[key] = f"{kept[key]}, {value}"[:MAX_ANSWER_HEADER_CHARS]
        elif len(kept) < MAX_ANSWER_HEADERS:
            kept[key] = str(value)[:MAX_ANSWER_HEADER_CHARS]
    return kept


def _unreachable(exc: BaseException) -> DeviceCloudUnavailableError:
    # The exception's type only: its text names the URL, which may carry a path of the team's choosing.
    logger.warning("device cloud unreachable", extra={"error": type(exc).__name__})
    return DeviceCloudUnavailableError("unreachable")
