"""HTTP front of the stand-in: one thread per connection, so injected latency never holds up other calls."""

from __future__ import annotations

import logging
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .app import Request, Response, Standin

log = logging.getLogger("iot_standin")

# Far above any request either API accepts; a bigger body is refused before it is read.
MAX_BODY_BYTES = 8 * 1024 * 1024


class StandinHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Benchmarks open many connections at once; the default backlog of 5 would refuse some of them.
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], standin: Standin) -> None:
        super().__init__(address, StandinRequestHandler)
        self.standin = standin

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class StandinRequestHandler(BaseHTTPRequestHandler):
    # Keep-alive, as botocore's connection pool expects; every response carries Content-Length.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm and the client's delayed
    # ACK add 40 ms to every response.
    disable_nagle_algorithm = True
    server: StandinHTTPServer
    server_version = "iot-standin"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(
                Response(413, {"message": "Request body too large"}, {"x-amzn-ErrorType": "PayloadTooLarge"})
            )
            return
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True), body)
        try:
            response = self.server.standin.handle(request)
        except Exception as error:
            # Only the type: messages of unexpected errors may carry request values.
            log.error("unexpected %s while serving %s %s", type(error).__name__, self.command, parts.path)
            response = Response(
                500,
                {
                    "message": "Internal failure in the stand-in",
                    "Message": "Internal failure in the stand-in",
                },
                {"x-amzn-ErrorType": "InternalFailure"},
                outcome="InternalFailure",
            )
        # Logged before the answer goes out: a caller that has its answer may stop the stand-in at once, and
        # the handler's thread (a daemon) would not get to write the line after it.
        log.info(
            "%s %s -> %d %s %s %.1fms",
            self.command,
            parts.path,
            response.status,
            response.operation or "-",
            response.outcome,
            (time.monotonic() - started) * 1000,
        )
        self._send(response)

    def _send(self, response: Response) -> None:
        payload = response.encoded()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        # Requests are logged by _serve with the operation and outcome; keep http.server's own lines quiet.
        return

    def log_error(self, format: str, *args: object) -> None:
        log.warning("bad request from client: " + format, *args)


def make_server(standin: Standin, host: str = "127.0.0.1", port: int = 0) -> StandinHTTPServer:
    return StandinHTTPServer((host, port), standin)
