"""Run the stand-in as a child process for tests, the local stack and benchmarks.

`running_standin(seed=..., faults=...)` starts it on a free loopback port and yields a `Standin`; put
`standin.endpoint_env()` into the environment (or pass `standin.url` as endpoint_url) and boto3 clients of
both APIs reach it; read what it received with `connector_events()`, `detectors()` and `messages()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bridge_local.processes import ServerProcess, free_port, start_server

# The folder holding this package, and the shared layer (the stand-in reads patterns as the relay does):
# both go on the child's PYTHONPATH.
_LOCAL_DIR = Path(__file__).resolve().parent.parent
_LAYER_DIR = _LOCAL_DIR.parent / "layers" / "shared"


class StandinAdminError(RuntimeError):
    """The inspection API refused a call (bad fault plan, bad seed, ...)."""


class StandinAdmin:
    """The inspection API of a stand-in at `url`, in small wrappers (for tests, the local stack, the demo)."""

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def url(self) -> str:
        return self._url

    def endpoint_env(self) -> dict[str, str]:
        """Environment variables that point botocore's clients of both APIs at this stand-in."""
        return {
            "AWS_ENDPOINT_URL_IOT_MANAGED_INTEGRATIONS": self.url,
            "AWS_ENDPOINT_URL_IOTEVENTS_DATA": self.url,
            "AWS_ENDPOINT_URL_IOT_DATA": self.url,
        }

    def boto_client(self, service: str, **config: Any) -> Any:
        """A client of `service` aimed at this stand-in: fake credentials, one attempt, and the project's own
        service models (botocore no longer ships iotevents-data). Keyword arguments go to botocore's
        Config, e.g. parameter_validation=False to send what botocore itself would refuse."""
        from bridge_local.aws import local_client

        return local_client(service, self.url, attempts=1, **config)

    def connector_events(self, connector_id: str | None = None) -> list[dict[str, Any]]:
        """Accepted SendConnectorEvent calls, oldest first: sequence, connectorId, receivedAt, body."""
        return list(self._get("connector-events", connectorId=connector_id)["events"])

    def detectors(self, model: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        """Detectors as DescribeDetector shows them, in model then key order."""
        return list(self._get("detectors", model=model, state=state)["detectors"])

    def messages(self, input_name: str | None = None) -> list[dict[str, Any]]:
        """Accepted BatchPutMessage messages, oldest first, payload decoded."""
        return list(self._get("messages", inputName=input_name)["messages"])

    def publishes(self, topic: str | None = None) -> list[dict[str, Any]]:
        """Accepted AWS IoT Core publishes, oldest first (sequence, receivedAt, topic, qos, payload)."""
        return list(self._get("publishes", topic=topic)["publishes"])

    def call_connector_function(self, lambda_url: str, function_name: str) -> None:
        """Take managed integrations' part: invoke this function at this Lambda Invoke endpoint."""
        self._call("PUT", "connector", {"lambdaUrl": lambda_url, "functionName": function_name})

    def invoke_connector(
        self, operation: str, connector_id: str, auth: dict[str, Any], **members: Any
    ) -> dict[str, Any]:
        """Invoke the connector function with one operation as managed integrations does (2 s timeout, up
        to 5 retries): the call's tries and the answer kept."""
        return dict(
            self._call(
                "POST",
                "connector-invocations",
                {"operation": operation, "connectorId": connector_id, "auth": auth, **members},
            )
        )

    def connector_invocations(self) -> list[dict[str, Any]]:
        return list(self._get("connector-invocations")["invocations"])

    def faults(self) -> dict[str, Any]:
        return dict(self._get("faults"))

    def set_faults(self, plan: dict[str, Any]) -> None:
        """Replace the fault plan (an empty dict removes every fault)."""
        self._call("PUT", "faults", plan)

    def seed(self, doc: dict[str, Any], *, replace: bool = False) -> None:
        """Add detector models, detectors and inputs (or, with replace, swap the whole set)."""
        self._call("POST", "detectors", {**doc, "replace": replace})

    def reset(self, seed: dict[str, Any] | None = None) -> None:
        """Back to the start: no records, zeroed stats, start-up faults, and the start-up seed (or `seed`)."""
        self._call("POST", "reset", {"seed": seed, "reseed": seed is None, "restoreFaults": True})

    def stats(self) -> dict[str, Any]:
        """{"operations": {op: {"calls": {outcome: n}, "items": {outcome: n}}}, "throttled": {...}}."""
        return dict(self._get("stats"))

    def _get(self, name: str, **query: str | None) -> Any:
        params = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        return self._call("GET", f"{name}?{params}" if params else name, None)

    def _call(self, method: str, name: str, body: Any) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback URL built here
            f"{self.url}/_standin/{name}", data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback URL built here
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = json.loads(error.read() or b"{}").get("error", error.reason)
            raise StandinAdminError(f"{method} /_standin/{name}: {detail}") from None


class Standin(StandinAdmin):
    """A running stand-in: its inspection API, and its process (id, stop)."""

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server.url)
        self._server = server

    @property
    def pid(self) -> int:
        return self._server.pid

    def stop(self) -> None:
        self._server.stop()


@contextlib.contextmanager
def running_standin(
    seed: dict[str, Any] | None = None,
    faults: dict[str, Any] | None = None,
    random_seed: int = 0,
    *,
    connectors: list[str] | None = None,
    log_file: Path | None = None,
) -> Iterator[Standin]:
    """Start the stand-in on a free loopback port, wait until it answers, and stop it by pid afterwards.

    Requests are logged only when `log_file` is given (stdout and stderr both go there).
    """
    with tempfile.TemporaryDirectory(prefix="iot-standin-") as workdir:
        port = free_port()
        argv = [sys.executable, "-m", "iot_standin", "--port", str(port), "--random-seed", str(random_seed)]
        if seed is not None:
            argv += ["--seed", _write(Path(workdir) / "seed.json", seed)]
        if faults is not None:
            argv += ["--faults", _write(Path(workdir) / "faults.json", faults)]
        if connectors is not None:
            argv += ["--connectors", ",".join(connectors)]
        if log_file is None:
            argv.append("--quiet")
        python_path = os.pathsep.join(
            p for p in (str(_LOCAL_DIR), str(_LAYER_DIR), os.environ.get("PYTHONPATH", "")) if p
        )
        server = start_server(
            "iot-standin",
            argv,
            port=port,
            ready_path="/_standin/health",
            env={"PYTHONPATH": python_path},
            log_file=log_file,
        )
        standin = Standin(server)
        try:
            yield standin
        finally:
            standin.stop()


def _write(path: Path, doc: dict[str, Any]) -> str:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)
