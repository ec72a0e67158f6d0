"""What real device clouds' profiles fetch and call, served on loopback for the local stack.

A real cloud's profile names hosts the local stack cannot reach: where the cloud publishes its keys (an x.509
certificate per SmartThings keyId, Google's JWKS) and where a handshake confirms a registration (SmartThings'
confirmation URL). This server stands in for them: it serves each key document at its path, answers a GET to
any `.../confirm-registration` URL with 200 (as api.smartthings.com does), takes the connector function's
requests for a cloud at `.../aws-iot/requests` with 202 and never answers them, and records every request it
was sent (method and path; never a body or a header).

    endpoints = RealCloudEndpoints(local_documents()).start()
    ... endpoints.url, endpoints.seen("/smartthings/api") ...
    endpoints.stop()
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopback import LoopbackHandler, LoopbackServer

log = logging.getLogger("bridge_local.real_cloud_endpoints")

MAX_REQUEST_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # with its query
    status: int


class RealCloudEndpoints(LoopbackServer):
    thread_name = "real-cloud-endpoints"

    def __init__(self, documents: Mapping[str, tuple[str, bytes]], *, port: int = 0) -> None:
        self.documents = dict(documents)
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        super().__init__(_handler_for(self), port=port)

    def seen(self, prefix: str = "/") -> list[Seen]:
        """The requests whose path starts with `prefix`, in the order they came."""
        with self._lock:
            return [s for s in self._seen if s.path.startswith(prefix)]

    def record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._seen.append(Seen(method, path, status))

    def answer_get(self, path: str) -> tuple[int, str, bytes]:
        """The status, content type and body a GET of `path` is answered with."""
        document = self.documents.get(path.split("?", 1)[0])
        if document is not None:
            return 200, document[0], document[1]
        if path.split("?", 1)[0].endswith("/confirm-registration"):
            return 200, "application/json", b"{}"
        return 404, "application/json", b'{"message":"not found"}'


def _handler_for(server: RealCloudEndpoints) -> type[LoopbackHandler]:
    class Handler(LoopbackHandler):
        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

        def do_GET(self) -> None:
            status, content_type, body = server.answer_get(self.path)
            server.record("GET", self.path, status)
            self.answer(status, body, [("Content-Type", content_type)])

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            taken = self.path.endswith("/aws-iot/requests") and length <= MAX_REQUEST_BYTES
            if length <= MAX_REQUEST_BYTES:
                self.read_body(length)
            else:
                self.close_connection = True
            status = 202 if taken else 404
            server.record("POST", self.path, status)
            body = {"accepted": True} if taken else {"message": "not taken"}
            self.answer(status, json.dumps(body).encode("utf-8"), [("Content-Type", "application/json")])

    return Handler
