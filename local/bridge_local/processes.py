"""Start local servers as child processes on free loopback ports, and stop them by process id."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from loopback import LOOPBACK


def wait_for_stop(*, parent_pid: int = 0) -> None:
    """Block until SIGTERM or SIGINT arrives, or, with `parent_pid`, until that parent process is gone (a
    server must not outlive the supervisor that started it). Call from the main thread."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(0.5):
        if parent_pid and os.getppid() != parent_pid:
            return


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_until_ready(
    url: str, *, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll `url` until it answers with any HTTP status; fail early if `process` exits."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server process exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1.0):  # noqa: S310 - loopback URL built here
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError as exc:
            last = exc
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s ({last})")


@dataclass
class ServerProcess:
    """A server child process on a loopback port."""

    name: str
    url: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server and every process it started (its own process group), by id."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)


def start_server(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    ready_path: str = "/",
    env: dict[str, str] | None = None,
    log_file: Path | None = None,
    timeout: float = 30.0,
    inherit_env: bool = True,
) -> ServerProcess:
    """Start `argv` (which must listen on `port`) in its own process group and wait until it answers.

    The child gets this process's environment plus `env`, or only `env` when `inherit_env` is False.
    """
    out = open(log_file, "ab") if log_file is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(  # noqa: S603 - argv is built by the caller from fixed parts
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**(os.environ if inherit_env else {}), **(env or {})},
            start_new_session=True,
        )
    finally:
        if log_file is not None:
            out.close()  # type: ignore[union-attr]
    server = ServerProcess(name=name, url=f"http://{LOOPBACK}:{port}", process=process)
    try:
        wait_until_ready(server.url + ready_path, timeout=timeout, process=process)
    except BaseException:
        server.stop()
        raise
    return server


def start_moto_server(*, port: int | None = None, log_file: Path | None = None) -> ServerProcess:
    """moto's server (SQS, Secrets Manager, DynamoDB and the rest) on a loopback port."""
    port = port or free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
    return start_server("moto", argv, port=port, ready_path="/moto-api/", log_file=log_file)


@contextlib.contextmanager
def moto_server() -> Iterator[ServerProcess]:
    server = start_moto_server()
    try:
        yield server
    finally:
        server.stop()
