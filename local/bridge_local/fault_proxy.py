"""A loopback HTTP proxy in front of an AWS JSON-protocol endpoint (moto's DynamoDB, locally) that hands it
one call at a time and answers some calls with the failures the service sends under load, before the
endpoint sees them.

One at a time, because moto's DynamoDB is not safe for a query while other requests change the items it
sorts: a page that resumes after a key can then return detectors an earlier page returned (seen as 1,436
detectors matched of 1,000 while a reset moved them out of the state being listed). DynamoDB itself pages
by key position, so a moved item is never listed twice.

    python -m bridge_local.fault_proxy --upstream http://127.0.0.1:5100 [--port 0] [--faults faults.json]
        [--random-seed 0]

Faults are keyed by operation (the `X-Amz-Target` suffix: `UpdateItem`, `Query`, ...) or `"*"`:

    {"*": {"latencyMs": 2},
     "UpdateItem": {"throttleRate": 0.3, "error500Rate": 0.05,
                    "refuse": {"device-00007": "ValidationException"}}}

`throttleRate` answers `ProvisionedThroughputExceededException` (400), `error500Rate` `InternalServerError`
(500), `refuse` the given code (400) to every call whose body holds that string (a key value, say), all in
DynamoDB's error shape; a refused call is not forwarded, so nothing of it is applied. Draws come from one
RNG seeded with `--random-seed` (restarted by a reset). Inspection: `GET /_faults/stats` (calls by
operation and outcome: `ok`, the code injected, or the code the endpoint answered), `PUT /_faults/plan`,
`POST /_faults/reset` (zero the counts, restart the RNG).
It prints one line once it listens (`fault-proxy listening on http://127.0.0.1:PORT`) and never logs a body.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loopback import LOOPBACK, LoopbackHandler, LoopbackServer

from .processes import ServerProcess, free_port, start_server, wait_for_stop

ADMIN = "/_faults/"
ERROR_NAMESPACE = "com.amazonaws.dynamodb.v20120810"
KNOWN_SETTINGS = frozenset({"throttleRate", "error500Rate", "latencyMs", "refuse"})
# Request and response headers that belong to one hop, not to the message.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


class FaultPlanError(ValueError):
    """A fault plan that cannot be applied; the message says which entry."""


def check_plan(plan: object) -> dict[str, dict[str, Any]]:
    if not isinstance(plan, dict):
        raise FaultPlanError("a fault plan is a JSON object keyed by operation or '*'")
    checked: dict[str, dict[str, Any]] = {}
    for operation, entry in plan.items():
        if not isinstance(entry, dict) or set(entry) - KNOWN_SETTINGS:
            raise FaultPlanError(f"{operation}: settings are {', '.join(sorted(KNOWN_SETTINGS))}")
        settings: dict[str, Any] = {}
        for name, value in entry.items():
            if name == "refuse":
                if not isinstance(value, dict) or not all(
                    isinstance(v, str) for v in [*value, *value.values()]
                ):
                    raise FaultPlanError(f"{operation}.refuse must map strings to error codes")
                settings[name] = dict(value)
                continue
            rate = name != "latencyMs"
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or value < 0 or (rate and value > 1):
                raise FaultPlanError(f"{operation}.{name} must be {'0 to 1' if rate else 'milliseconds'}")
            settings[name] = float(value)
        checked[str(operation)] = settings
    return checked


class FaultProxy(LoopbackServer):
    request_queue_size = 256
    thread_name = "dynamodb-proxy"

    def __init__(self, upstream: str, plan: object = None, random_seed: int = 0, *, port: int = 0) -> None:
        super().__init__(_Handler, port=port)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or LOOPBACK, parts.port or 80)
        self.plan = check_plan(plan or {})
        self.random_seed = random_seed
        self._random = random.Random(random_seed)  # noqa: S311 - repeatable test faults, not security
        self._lock = threading.Lock()
        self.turn = threading.Lock()  # held while a call is at the endpoint
        self.calls: dict[str, Counter[str]] = {}

    def setting(self, operation: str, name: str) -> Any:
        own, common = self.plan.get(operation, {}), self.plan.get("*", {})
        return own.get(name, common.get(name, {} if name == "refuse" else 0.0))

    def refusal(self, operation: str, body: bytes) -> tuple[int, str] | None:
        """The failure to answer this call with, or None to forward it."""
        for text, code in self.setting(operation, "refuse").items():
            if json.dumps(text).encode() in body:
                return 400, code
        with self._lock:
            for name, status, code in (
                ("throttleRate", 400, "ProvisionedThroughputExceededException"),
                ("error500Rate", 500, "InternalServerError"),
            ):
                rate = self.setting(operation, name)
                if rate > 0 and self._random.random() < rate:
                    return status, code
        return None

    def count(self, operation: str, outcome: str) -> None:
        with self._lock:
            self.calls.setdefault(operation, Counter())[outcome] += 1

    def admin(self, method: str, name: str, body: bytes) -> tuple[int, Any]:
        if (method, name) == ("GET", "stats"):
            with self._lock:
                return 200, {"calls": {op: dict(outcomes) for op, outcomes in self.calls.items()}}
        if (method, name) == ("PUT", "plan"):
            try:
                self.plan = check_plan(json.loads(body or b"{}"))
            except (ValueError, FaultPlanError) as error:
                return 400, {"error": str(error)}
            return 200, self.plan
        if (method, name) == ("POST", "reset"):
            with self._lock:
                self.calls.clear()
                self._random = random.Random(self.random_seed)  # noqa: S311
            return 200, {}
        return 404, {"error": f"no {method} {ADMIN}{name}"}


class _Handler(LoopbackHandler):
    disable_nagle_algorithm = True
    server: FaultProxy

    def _serve(self) -> None:
        body = self.read_body()
        if self.path.startswith(ADMIN):
            status, answer = self.server.admin(self.command, self.path[len(ADMIN) :].strip("/"), body)
            self._answer(status, {"Content-Type": "application/json"}, json.dumps(answer).encode())
            return
        operation = str(self.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1] or "(none)"
        delay = self.server.setting(operation, "latencyMs")
        if delay > 0:
            time.sleep(delay / 1000)
        refusal = self.server.refusal(operation, body)
        if refusal is not None:
            status, code = refusal
            error = {
                "__type": f"{ERROR_NAMESPACE}#{code}",
                "message": f"{code} (injected by the fault proxy)",
            }
            self.server.count(operation, code)
            self._answer(status, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(error).encode())
            return
        with self.server.turn:
            status, headers, answer = self._forward(body)
        self.server.count(operation, "ok" if 200 <= status < 300 else _error_code(answer))
        self._answer(status, headers, answer)

    do_GET = do_POST = do_PUT = _serve

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        host, port = self.server.upstream
        connection = http.client.HTTPConnection(host, port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
            return response.status, kept, answer
        finally:
            connection.close()

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.answer(status, body, headers.items())

    def log_message(self, format: str, *args: object) -> None:
        return  # requests are counted, never logged: their bodies are fleet data


def _error_code(answer: bytes) -> str:
    try:
        found = json.loads(answer).get("__type", "")
    except (ValueError, AttributeError):
        return "Unknown"
    return str(found).rsplit("#", 1)[-1] or "Unknown"


class RunningProxy:
    """A proxy started by `running_fault_proxy`: its URL, and its inspection API."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.url = server.url

    def _call(self, method: str, name: str, body: Any = None) -> Any:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname or LOOPBACK, parts.port or 80, timeout=30)
        try:
            connection.request(
                method, ADMIN + name, body=json.dumps(body).encode() if body is not None else None
            )
            response = connection.getresponse()
            answer = json.loads(response.read() or b"{}")
        finally:
            connection.close()
        if response.status != 200:
            raise FaultPlanError(str(answer.get("error")))
        return answer

    def stats(self) -> dict[str, dict[str, int]]:
        return dict(self._call("GET", "stats")["calls"])

    def set_faults(self, plan: dict[str, Any]) -> None:
        self._call("PUT", "plan", plan)

    def reset(self) -> None:
        self._call("POST", "reset")


@contextlib.contextmanager
def running_fault_proxy(
    upstream: str, faults: dict[str, Any] | None = None, random_seed: int = 0
) -> Iterator[RunningProxy]:
    """The proxy in its own process on a free loopback port, stopped by its process id afterwards."""
    port = free_port()
    argv = [sys.executable, "-m", "bridge_local.fault_proxy", "--upstream", upstream, "--port", str(port)]
    argv += ["--random-seed", str(random_seed), "--faults-json", json.dumps(faults or {})]
    local = str(Path(__file__).resolve().parents[1])
    layer = str(Path(__file__).resolve().parents[2] / "layers" / "shared")
    server = start_server(
        "fault-proxy", argv, port=port, ready_path=ADMIN + "stats", env={"PYTHONPATH": f"{local}:{layer}"}
    )
    try:
        yield RunningProxy(server)
    finally:
        server.stop()


def serve_in_thread(upstream: str, plan: object = None) -> FaultProxy:
    """A proxy on a free loopback port, served by a thread of this process (`shutdown()` ends it)."""
    return FaultProxy(upstream, plan).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bridge_local.fault_proxy", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--upstream", required=True, help="the endpoint to forward to, e.g. moto's URL")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--faults", type=Path, help="JSON fault plan")
    parser.add_argument("--faults-json", default=None, help="the fault plan inline")
    parser.add_argument("--random-seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        text = args.faults.read_text(encoding="utf-8") if args.faults else (args.faults_json or "{}")
        proxy = FaultProxy(args.upstream, json.loads(text), args.random_seed, port=args.port)
    except (OSError, ValueError) as error:
        print(f"fault-proxy: {error}", file=sys.stderr)
        return 2
    proxy.start()
    print(f"fault-proxy listening on {proxy.url}", flush=True)
    wait_for_stop()
    proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
