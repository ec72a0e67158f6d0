"""Invoke the detector reset function with a plan through the local Lambda Invoke endpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .aws import local_client
from .stack import StackError


@dataclass(frozen=True)
class ResetOutcome:
    function: str
    asynchronous: bool
    status_code: int
    function_error: str | None
    payload: Any

    @property
    def ok(self) -> bool:
        return self.function_error is None and self.status_code in (200, 202)

    def describe(self) -> str:
        if self.asynchronous:
            return (
                f"{self.function} invoked asynchronously (HTTP {self.status_code}), as EventBridge Scheduler "
                "does; its report is in the function's log"
            )
        head = f"{self.function}: " + (
            f"function error {self.function_error}" if self.function_error else "ok"
        )
        return head + "\n" + json.dumps(self.payload, indent=2)


def read_plan(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StackError(f"{path}: no such plan file") from None
    except ValueError as exc:
        raise StackError(f"{path} is not JSON: {exc}") from None


def invoke_reset(
    state: dict[str, Any], plan: Path | Any, *, function: str | None = None, asynchronous: bool = False
) -> ResetOutcome:
    """Invoke with the plan as the event; continuations run on the local Lambda endpoint, as in AWS."""
    name = function or state.get("resetFunction")
    if not name:
        raise StackError("the template has no detector reset function; name one with --function")
    event = read_plan(plan) if isinstance(plan, Path) else plan
    # One attempt: a reset run is not to be repeated behind the caller's back; 15 minutes is Lambda's cap.
    client = local_client("lambda", state["lambdaUrl"], attempts=1, read_timeout=910, connect_timeout=5)
    response = client.invoke(
        FunctionName=name,
        InvocationType="Event" if asynchronous else "RequestResponse",
        Payload=json.dumps(event).encode("utf-8"),
    )
    body = response["Payload"].read()
    payload = json.loads(body) if body else None
    return ResetOutcome(
        function=name,
        asynchronous=asynchronous,
        status_code=int(response["StatusCode"]),
        function_error=response.get("FunctionError"),
        payload=payload,
    )
