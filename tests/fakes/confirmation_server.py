"""A device cloud's confirmation endpoint on 127.0.0.1 (a free port): a real HTTP server that records each GET
and answers as its script says (a status, a body of any size, a redirect, or no answer until released)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"
CONFIRM_PATH = "/apps/fd9949ee-a3bf-4069-b4b3-3e9c1c922e29/confirm-registration"


@dataclass
class Script:
    status: int = 200
    body_bytes: int = 2
    location: str | None = None
    hold: bool = False


class ConfirmationServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.script = Script()
        self.received: list[str] = []
        self.release = threading.Event()

    def url(self, path: str = CONFIRM_PATH, query: str = "token=fd9581b5-628c-4cd7-b1c2-dc14761234f3") -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}{path}" + (f"?{query}" if query else "")

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that closes a connection with an answer left unread resets it: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ConfirmationServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.server.received.append(self.path)
        script = self.server.script
        if script.hold:
            self.server.release.wait(10)
            return
        self.send_response(script.status)
        if script.location is not None:
            self.send_header("Location", script.location)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(script.body_bytes))
        self.end_headers()
        try:
            left = script.body_bytes
            while left > 0:
                chunk = min(left, 64 * 1024)
                self.wfile.write(b"{}" if script.body_bytes == 2 else b" " * chunk)
                left -= chunk
        except ConnectionError:
            pass  # the client read what it wanted and closed


@contextmanager
def confirmation_server() -> Iterator[ConfirmationServer]:
    """A server on a free loopback port, stopped (and any held request released) on leaving."""
    server = ConfirmationServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
