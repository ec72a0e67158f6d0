"""The one HTTP server base of the local stack and the stand-in: loopback, one thread per connection.

A server binds 127.0.0.1 on a free port unless told otherwise, and is served either by a daemon thread of
this process (`start()`/`stop()`, or `with`) or by whoever calls `serve_forever`. Its handlers answer with
`answer`, which always sends Content-Length, as the keep-alive connections of botocore and urllib expect.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

LOOPBACK = "127.0.0.1"


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # What its serving thread is called, and how soon that thread notices a stop.
    thread_name = "loopback"
    poll_seconds = 0.1

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__((host, port), handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        """Serve from a daemon thread of this process."""
        threading.Thread(
            target=self.serve_forever, args=(self.poll_seconds,), name=self.thread_name, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """End a server that was started: its thread returns, and its port is closed."""
        self.shutdown()
        self.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class LoopbackHandler(BaseHTTPRequestHandler):
    # Keep-alive, as botocore's connection pool expects; every answer carries Content-Length.
    protocol_version = "HTTP/1.1"

    def read_body(self, length: int | None = None) -> bytes:
        """The request's body (of `length` bytes when the caller has already read the header)."""
        length = int(self.headers.get("Content-Length") or 0) if length is None else length
        return self.rfile.read(length) if length > 0 else b""

    def answer(self, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
