"""The local stack holds functions to Lambda's own limits, and reports them as Lambda and API Gateway do:
a call past the function's timeout, a result over 6 MB, an asynchronous payload over 1 MB."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge_local.aws import local_client
from bridge_local.http_api import HttpApi, Route
from bridge_local.lambda_api import MAX_ASYNC_PAYLOAD, LambdaService, RemoteFunction
from bridge_local.lambda_runtime import MAX_SYNC_RESPONSE_BYTES, FunctionError, InProcessFunction
from bridge_local.processes import ServerProcess, free_port, start_server
from bridge_local.signing import post

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def slow(event: Any, context: Any) -> Any:
    time.sleep(float(event.get("seconds", 0)))
    return {"slept": event.get("seconds", 0)}


def large(event: Any, context: Any) -> Any:
    asked = json.loads(event["body"]) if "body" in event else event  # an API Gateway event, or a direct call
    return {"statusCode": 200, "body": "x" * int(asked.get("bytes", 0))}


def test_a_call_past_the_function_s_timeout_ends_with_lambda_s_timeout_error() -> None:
    timed_out: list[bool] = []
    function = InProcessFunction("Slow", slow, timeout_seconds=0.5, on_timeout=lambda: timed_out.append(True))

    with pytest.raises(FunctionError) as raised:
        function.invoke({"seconds": 3})

    assert raised.value.error_type == "Sandbox.Timedout"
    assert "Task timed out after 0.50 seconds" in raised.value.error_message
    assert timed_out == [True]
    # The next call waits for the environment to be free again, then runs.
    assert function.invoke({"seconds": 0}) == {"slept": 0}


def test_a_result_over_6_mb_is_lambda_s_size_error_and_api_gateway_s_500() -> None:
    function = InProcessFunction("Large", large, timeout_seconds=10)
    assert function.invoke({"bytes": 1000})["body"] == "x" * 1000

    with pytest.raises(FunctionError) as raised:
        function.invoke({"bytes": MAX_SYNC_RESPONSE_BYTES})
    assert raised.value.error_type == "Function.ResponseSizeTooLarge"

    # Before, the local stack passed a 42 MB answer through: the HTTP path now answers as API Gateway does.
    with HttpApi([Route("POST /big", function)]) as api:
        reply = post(f"{api.url}/big", json.dumps({"bytes": MAX_SYNC_RESPONSE_BYTES}).encode(), {})
    assert reply.status == 500
    assert json.loads(reply.body) == {"message": "Internal Server Error"}


def test_an_asynchronous_payload_over_1_mb_is_refused_as_lambda_refuses_it() -> None:
    function = InProcessFunction("Slow", slow, timeout_seconds=10)
    with LambdaService({"Slow": function}) as service:
        client = local_client("lambda", service.url, attempts=1)
        small = client.invoke(FunctionName="Slow", InvocationType="Event", Payload=b'{"seconds": 0}')
        with pytest.raises(client.exceptions.RequestTooLargeException):
            padding = "x" * MAX_ASYNC_PAYLOAD
            client.invoke(
                FunctionName="Slow", InvocationType="Event", Payload=json.dumps({"p": padding}).encode()
            )
    assert small["StatusCode"] == 202


@pytest.fixture
def host(tmp_path: Path) -> Iterator[ServerProcess]:
    """A function host process with a handler that sleeps as long as its event says, timeout 1 s."""
    (tmp_path / "sleepy.py").write_text(
        textwrap.dedent(
            """
            import os, time
            STARTED_BY = os.getpid()
            INVOCATIONS = []

            def handler(event, context):
                INVOCATIONS.append(event)
                time.sleep(event.get("seconds", 0))
                return {"pid": os.getpid(), "invocationsInThisEnvironment": len(INVOCATIONS)}
            """
        ),
        encoding="utf-8",
    )
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "bridge_local.function_host",
        "--name",
        "Sleepy",
        "--handler",
        "sleepy.handler",
    ]
    argv += ["--timeout", "1", "--port", str(port)]
    path = os.pathsep.join([str(tmp_path), str(ROOT / "local"), str(ROOT / "layers" / "shared")])
    server = start_server(
        "sleepy", argv, port=port, env={"PYTHONPATH": path}, ready_path="/2015-03-31/functions/"
    )
    try:
        yield server
    finally:
        server.stop()


def test_after_a_timeout_the_host_answers_from_a_fresh_environment(host: ServerProcess) -> None:
    function = RemoteFunction(host.url, "Sleepy", timeout_seconds=1)
    first = function.invoke({"seconds": 0})
    assert first["invocationsInThisEnvironment"] == 1

    with pytest.raises(FunctionError) as raised:
        function.invoke({"seconds": 5})
    assert raised.value.error_type == "Sandbox.Timedout"

    # The same process (pid and port), restarted: the stuck call and the module's state are gone.
    after = function.invoke({"seconds": 0})
    assert after["pid"] == first["pid"] == host.pid
    assert after["invocationsInThisEnvironment"] == 1
