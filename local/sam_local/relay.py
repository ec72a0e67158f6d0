"""TCP relays from the container bridge's gateway address to the local stack on 127.0.0.1.

The local stack listens on loopback only; a container reaches the host at the bridge's gateway
(`host.docker.internal` with `--add-host host.docker.internal:host-gateway`). A relay listens on
gateway:port and copies bytes both ways to 127.0.0.1:target, one thread pair per connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"


@dataclass
class Relay:
    listen_host: str
    listen_port: int
    target_port: int
    target_host: str = LOOPBACK
    _server: socket.socket | None = field(default=None, init=False, repr=False)
    _stopped: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def start(self) -> Relay:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind((self.listen_host, self.listen_port))
        except OSError as exc:
            server.close()
            raise OSError(
                f"cannot listen on {self.listen_host}:{self.listen_port} ({exc.strerror})"
            ) from None
        server.listen(64)
        server.settimeout(0.2)
        self._server = server
        threading.Thread(target=self._accept, name=f"relay-{self.listen_port}", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._server is not None:
            self._server.close()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection((self.target_host, self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RD)
