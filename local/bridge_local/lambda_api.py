"""The Lambda Invoke API on loopback: `POST /2015-03-31/functions/{name}/invocations`.

Synchronous (`RequestResponse`) calls run the function and answer with its result; `Event` calls are
queued, answered 202 at once and run in the background, one at a time per function, as Lambda's
asynchronous invocation does. What a function is behind the name is an `Invoker`: a handler in this
process, or another process that serves the same API (see `RemoteFunction`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopback import LoopbackHandler, LoopbackServer

from .lambda_runtime import FunctionError, Invoker, function_arn, function_name_of

log = logging.getLogger("bridge_local.lambda")

INVOKE_PATH_PREFIX = "/2015-03-31/functions/"
# Lambda's payload quotas: 6 MB for a synchronous request, 1 MB for an asynchronous one.
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 1024 * 1024


class LambdaServiceError(RuntimeError):
    """The Invoke call itself failed (unknown function, bad request, unreachable host)."""


@dataclass
class RemoteFunction:
    """A function served by another process over the Lambda Invoke API."""

    endpoint: str
    name: str
    timeout_seconds: float = 30.0

    # How long a host that is starting a fresh environment (after a timeout) may take to answer again.
    restart_seconds: float = 20.0

    def invoke(self, event: Any) -> Any:
        url = f"{self.endpoint}{INVOKE_PATH_PREFIX}{urllib.parse.quote(self.name, safe='')}/invocations"
        data = json.dumps(event).encode("utf-8")
        deadline = time.monotonic() + self.restart_seconds
        while True:
            request = urllib.request.Request(  # noqa: S310 - loopback endpoint of the local stack
                url,
                data=data,
                method="POST",
                headers={"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"},
            )
            try:
                # A margin over the function's own timeout, so a slow function is not cut short by us.
                with urllib.request.urlopen(request, timeout=self.timeout_seconds + 10) as response:  # noqa: S310
                    body = response.read()
                    function_error = response.headers.get("X-Amz-Function-Error")
                break
            except urllib.error.HTTPError as exc:
                raise LambdaServiceError(f"invoking {self.name} failed with HTTP {exc.code}") from None
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, ConnectionRefusedError) and time.monotonic() < deadline:
                    time.sleep(0.1)  # the host is starting a fresh environment
                    continue
                raise LambdaServiceError(f"invoking {self.name} failed: {exc}") from None
            except OSError as exc:
                raise LambdaServiceError(f"invoking {self.name} failed: {exc}") from None
        payload = json.loads(body) if body else None
        if function_error:
            raise FunctionError.from_payload(payload)
        return payload


class _AsyncQueue:
    """Asynchronous invocations of one function, run in arrival order by one worker thread."""

    def __init__(self, name: str, invoker: Invoker) -> None:
        self.name = name
        self._invoker = invoker
        self._queue: queue.Queue[Any] = queue.Queue()
        self._pending = 0
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"async-{name}", daemon=True)
        self._thread.start()

    def put(self, event: Any) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put(event)

    def pending(self) -> int:
        with self._lock:
            return self._pending

    def wait_idle(self, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            try:
                self._invoker.invoke(event)
                log.info("asynchronous invocation of %s finished", self.name)
            except FunctionError as exc:
                # Lambda would retry twice over minutes and then drop or dead-letter the event.
                log.error("asynchronous invocation of %s failed: %s", self.name, exc.error_type)
            except Exception as exc:
                log.error("asynchronous invocation of %s could not run: %s", self.name, exc)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify_all()


_STOP = object()


class LambdaService(LoopbackServer):
    """Serves the Invoke API for a set of named functions on a loopback port."""

    thread_name = "lambda-api"

    def __init__(self, functions: Mapping[str, Invoker], *, port: int = 0) -> None:
        self._functions = dict(functions)
        self._async = {name: _AsyncQueue(name, invoker) for name, invoker in self._functions.items()}
        super().__init__(_InvokeRequest, port=port)

    def stop(self) -> None:
        super().stop()
        for pending in self._async.values():
            if pending.pending():
                log.warning("dropping %d queued invocation(s) of %s", pending.pending(), pending.name)
            pending.close()

    def stop_accepting(self) -> None:
        """Refuse new connections at once (calls in progress still get their answers). A shutdown first:
        a close alone leaves the socket listening until the serving thread's poll returns."""
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.socket.close()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no asynchronous invocation is queued or running; False on timeout."""
        return all(q.wait_idle(timeout) for q in self._async.values())

    def function(self, name: str) -> Invoker | None:
        return self._functions.get(name)

    def enqueue(self, name: str, event: Any) -> None:
        self._async[name].put(event)


class _InvokeRequest(LoopbackHandler):
    server: LambdaService

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if not (path.startswith(INVOKE_PATH_PREFIX) and path.endswith("/invocations")):
            self._error(404, "UnknownOperationException", "Unknown operation")
            return
        raw_name = urllib.parse.unquote(path[len(INVOKE_PATH_PREFIX) : -len("/invocations")])
        name = function_name_of(raw_name)
        body = self.read_body()
        invoker = self.server.function(name)
        if invoker is None:
            self._error(404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}")
            return
        invocation_type = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        limit = MAX_ASYNC_PAYLOAD if invocation_type == "Event" else MAX_SYNC_PAYLOAD
        if len(body) > limit:
            self._error(413, "RequestTooLargeException", f"Request must be smaller than {limit} bytes")
            return
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            self._error(400, "InvalidRequestContentException", "Could not parse request body into json")
            return
        if invocation_type == "Event":
            self.server.enqueue(name, event)
            self._send(202, b"")
        elif invocation_type == "DryRun":
            self._send(204, b"")
        elif invocation_type == "RequestResponse":
            self._run(invoker, event)
        else:
            self._error(400, "InvalidParameterValueException", "Unsupported InvocationType")

    def _run(self, invoker: Invoker, event: Any) -> None:
        try:
            result = invoker.invoke(event)
        except FunctionError as exc:
            payload = json.dumps(exc.payload()).encode("utf-8")
            self._send(200, payload, {"X-Amz-Function-Error": "Unhandled"})
            return
        except LambdaServiceError as exc:
            self._error(502, "ServiceException", str(exc))
            return
        self._send(200, json.dumps(result).encode("utf-8"))

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"Type": "User", "message": message}).encode("utf-8")
        self._send(status, body, {"x-amzn-ErrorType": code})

    def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        fixed = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
        self.answer(status, body, [*fixed, *(headers or {}).items()])
