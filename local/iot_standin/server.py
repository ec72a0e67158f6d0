"""HTTP front of the stand-in: one thread per connection, so injected latency never holds up other calls."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs, urlsplit

from loopback import LOOPBACK, LoopbackHandler, LoopbackServer

from .app import Request, Response, Standin

log = logging.getLogger("iot_standin")

# Far above any request either API accepts; a bigger body is refused before it is read.
MAX_BODY_BYTES = 8 * 1024 * 1024


class StandinHTTPServer(LoopbackServer):
    # Benchmarks open many connections at once; the default backlog of 5 would refuse some of them.
    request_queue_size = 512
    thread_name = "iot-standin"
    # A short poll interval lets SIGTERM stop the server within a fraction of a second.
    poll_seconds = 0.05

    def __init__(self, standin: Standin, *, host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__(StandinRequestHandler, host=host, port=port)
        self.standin = standin


class StandinRequestHandler(LoopbackHandler):
    # Headers and body go out in separate writes: without this, Nagle's algorithm and the client's delayed
    # ACK add 40 ms to every response.
    disable_nagle_algorithm = True
    server: StandinHTTPServer
    server_version = "iot-standin"
    sys_version = ""

    def _serve(self) -> None:
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(
                Response(413, {"message": "Request body too large"}, {"x-amzn-ErrorType": "PayloadTooLarge"})
            )
            return
        body = self.read_body(length)
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

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def _send(self, response: Response) -> None:
        headers = [("Content-Type", "application/json"), *response.headers.items()]
        self.answer(response.status, response.encoded(), headers)

    def log_message(self, format: str, *args: object) -> None:
        # Requests are logged by _serve with the operation and outcome; keep http.server's own lines quiet.
        return

    def log_error(self, format: str, *args: object) -> None:
        log.warning("bad request from client: " + format, *args)


def make_server(standin: Standin, host: str = LOOPBACK, port: int = 0) -> StandinHTTPServer:
    return StandinHTTPServer(standin, host=host, port=port)
