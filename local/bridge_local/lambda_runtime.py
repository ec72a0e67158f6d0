"""Run a Lambda handler in this process the way the Lambda runtime does: a context, a result or an error."""

from __future__ import annotations

import importlib
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account, so ARNs agree across the local stack
LOCAL_REGION = "us-east-1"
# Lambda's quota on a synchronous invocation's response (the same as on its request).
MAX_SYNC_RESPONSE_BYTES = 6 * 1024 * 1024

Handler = Callable[[Any, Any], Any]


def function_arn(name: str, region: str = LOCAL_REGION) -> str:
    return f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{name}"


def function_name_of(name_or_arn: str) -> str:
    """The bare function name from any form Invoke accepts: name, name:qualifier, partial or full ARN."""
    parts = name_or_arn.split(":")
    if name_or_arn.startswith("arn:") and len(parts) >= 7:
        return parts[6]
    if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:qualifier]
        return parts[2]
    return parts[0]


class LambdaContext:
    """The context object a Python handler receives (the members the Lambda runtime documents)."""

    def __init__(
        self, *, name: str, timeout_seconds: float, memory_mb: int, region: str = LOCAL_REGION
    ) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn(name, region)
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionError(Exception):
    """A handler raised: what the Lambda Invoke API reports as an `Unhandled` function error."""

    def __init__(
        self, *, error_type: str, error_message: str, request_id: str, stack_trace: tuple[str, ...] = ()
    ) -> None:
        super().__init__(f"{error_type}: {error_message}")
        self.error_type = error_type
        self.error_message = error_message
        self.request_id = request_id
        self.stack_trace = stack_trace

    @classmethod
    def from_payload(cls, payload: Any) -> FunctionError:
        data = payload if isinstance(payload, dict) else {}
        return cls(
            error_type=str(data.get("errorType") or "Unhandled"),
            error_message=str(data.get("errorMessage") or ""),
            request_id=str(data.get("requestId") or ""),
            stack_trace=tuple(str(line) for line in data.get("stackTrace") or ()),
        )

    def payload(self) -> dict[str, Any]:
        return {
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "requestId": self.request_id,
            "stackTrace": list(self.stack_trace),
        }


class Invoker(Protocol):
    """Something that runs a function with an event and returns its result (or raises FunctionError)."""

    def invoke(self, event: Any) -> Any: ...


@dataclass
class InProcessFunction:
    """A handler run in this process with a fresh context per call, one call at a time, as Lambda runs it.

    One call at a time is one execution environment: handlers may keep per-environment state at module
    level, as they do in Lambda, without having to be thread-safe. Lambda's limits hold: a call that runs
    past the function's timeout ends with Lambda's timeout error (and `on_timeout` is told, so that a host
    can start a fresh environment, as Lambda does), and a result over 6 MB is Lambda's size error.
    """

    name: str
    handler: Handler
    timeout_seconds: float = 30.0
    memory_mb: int = 256
    on_timeout: Callable[[], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stuck: threading.Thread | None = field(default=None, repr=False)

    @classmethod
    def load(cls, name: str, handler_path: str, **kwargs: Any) -> InProcessFunction:
        """`handler_path` as in a template's Handler property: `module.function`."""
        module_name, _, attribute = handler_path.rpartition(".")
        if not module_name:
            raise ValueError(f"handler {handler_path!r} is not of the form module.function")
        handler = getattr(importlib.import_module(module_name), attribute)
        return cls(name=name, handler=handler, **kwargs)

    def invoke(self, event: Any) -> Any:
        with self._lock:
            if self._stuck is not None:
                # The environment of a call that timed out is not reused while that call still runs.
                self._stuck.join()
                self._stuck = None
            context = LambdaContext(
                name=self.name, timeout_seconds=self.timeout_seconds, memory_mb=self.memory_mb
            )
            outcome: dict[str, Any] = {}

            def run() -> None:
                try:
                    outcome["result"] = self.handler(event, context)
                except Exception as exc:
                    outcome["error"] = exc

            worker = threading.Thread(target=run, name=f"invoke-{self.name}", daemon=True)
            worker.start()
            worker.join(self.timeout_seconds)
            if worker.is_alive():
                self._stuck = worker
                if self.on_timeout is not None:
                    self.on_timeout()
                raise FunctionError(
                    error_type="Sandbox.Timedout",
                    error_message=(
                        f"{context.aws_request_id} Task timed out after {self.timeout_seconds:.2f} seconds"
                    ),
                    request_id=context.aws_request_id,
                )
            if "error" in outcome:
                exc = outcome["error"]
                raise FunctionError(
                    error_type=type(exc).__name__,
                    error_message=str(exc),
                    request_id=context.aws_request_id,
                    stack_trace=tuple(traceback.format_tb(exc.__traceback__)),
                ) from exc
            try:
                # Lambda serialises the result; a value JSON cannot carry is a function error there too.
                payload = json.dumps(outcome.get("result"))
            except (TypeError, ValueError) as exc:
                raise FunctionError(
                    error_type="Runtime.MarshalError",
                    error_message=f"Unable to marshal response: {type(exc).__name__}",
                    request_id=context.aws_request_id,
                ) from exc
            if len(payload.encode("utf-8")) > MAX_SYNC_RESPONSE_BYTES:
                raise FunctionError(
                    error_type="Function.ResponseSizeTooLarge",
                    error_message=(
                        "Response payload size exceeded maximum allowed payload size "
                        f"({MAX_SYNC_RESPONSE_BYTES} bytes)."
                    ),
                    request_id=context.aws_request_id,
                )
            return json.loads(payload)
