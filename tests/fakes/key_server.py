"""A sender's key host on 127.0.0.1 (a free port): a real HTTP server that answers GETs from the documents it
is given (a PEM per key id, a JWK set, an OpenID configuration), with a status and headers of the test's
choosing, and records every path asked for."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"


@dataclass
class Document:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # sent without a Content-Length
    delay: float = 0.0  # seconds before the answer


class KeyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.documents: dict[str, Document] = {}
        self.received: list[str] = []

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def serve(
        self,
        path: str,
        body: bytes,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        chunked: bool = False,
        delay: float = 0.0,
    ) -> str:
        """Answer GET `path` with `body`; its URL."""
        self.documents[path] = Document(body, status, dict(headers or {}), chunked, delay)
        return self.url(path)

    def fetches(self, path: str) -> int:
        return self.received.count(path)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: KeyServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.server.received.append(self.path)
        document = self.server.documents.get(self.path) or Document(b"not found", 404)
        if document.delay:
            time.sleep(document.delay)
        self.send_response(document.status)
        for name, value in document.headers.items():
            self.send_header(name, value)
        if document.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(document.body)))
        self.end_headers()
        try:
            if document.chunked:
                self.wfile.write(f"{len(document.body):x}\r\n".encode() + document.body + b"\r\n0\r\n\r\n")
            else:
                self.wfile.write(document.body)
        except ConnectionError:
            pass


@contextmanager
def key_server() -> Iterator[KeyServer]:
    """A key host on a free loopback port, stopped on leaving."""
    server = KeyServer()
    # A short poll: shutting down waits for one.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
