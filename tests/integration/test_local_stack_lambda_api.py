"""The local Lambda Invoke endpoint answers boto3's lambda client as Lambda does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bridge_local.aws import local_client
from bridge_local.lambda_api import LambdaService
from bridge_local.lambda_runtime import InProcessFunction, function_arn

pytestmark = pytest.mark.integration


class Echo:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.contexts: list[Any] = []
        self.done = threading.Event()

    def __call__(self, event: Any, context: Any) -> Any:
        if event.get("fail"):
            raise ValueError("told to fail")
        self.events.append(event)
        self.contexts.append(context)
        self.done.set()
        return {"echo": event, "remainingMs": context.get_remaining_time_in_millis()}


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def service(echo: Echo) -> Iterator[LambdaService]:
    function = InProcessFunction("EchoFunction", echo, timeout_seconds=5)
    with LambdaService({"EchoFunction": function}) as running:
        yield running


@pytest.fixture
def lambda_client(service: LambdaService) -> Any:
    return local_client("lambda", service.url, attempts=1)


def test_a_synchronous_invoke_returns_the_functions_result(lambda_client: Any, echo: Echo) -> None:
    response = lambda_client.invoke(FunctionName="EchoFunction", Payload=json.dumps({"n": 1}))

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    payload = json.loads(response["Payload"].read())
    assert payload["echo"] == {"n": 1}
    assert 0 < payload["remainingMs"] <= 5000
    assert echo.contexts[0].invoked_function_arn == function_arn("EchoFunction")


def test_a_function_error_is_reported_as_unhandled(lambda_client: Any) -> None:
    response = lambda_client.invoke(FunctionName="EchoFunction", Payload=json.dumps({"fail": True}))

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "told to fail"


def test_an_event_invoke_by_arn_is_accepted_at_once_and_runs_in_the_background(
    lambda_client: Any, service: LambdaService, echo: Echo
) -> None:
    # The function invokes itself the way a continuation does: by ARN, InvocationType Event
    response = lambda_client.invoke(
        FunctionName=function_arn("EchoFunction"),
        InvocationType="Event",
        Payload=json.dumps({"continuation": 1}),
    )

    # The call is accepted with 202 and the function runs afterwards
    assert response["StatusCode"] == 202
    assert service.wait_idle(timeout=5)
    assert echo.events == [{"continuation": 1}]


def test_an_unknown_function_is_resource_not_found(lambda_client: Any) -> None:
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")
