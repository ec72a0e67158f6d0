"""The context object Lambda hands a handler, with what the handlers and Powertools read from it.

Standard library only: a cold-start child imports it after the init phase, and nothing it loads may be
counted as the handler's.
"""

from __future__ import annotations

import time


class LambdaContext:
    """One function's context. Its remaining time counts down from `timeout_seconds` once made, as in a
    single invocation; with `counts_down=False` it stays at the full timeout, for a warm benchmark that
    hands one context to thousands of invocations."""

    function_version = "$LATEST"
    aws_request_id = "00000000-0000-4000-8000-00000000bench"
    log_stream_name = "bench"

    def __init__(
        self,
        function_name: str,
        *,
        memory_limit_in_mb: int = 512,
        timeout_seconds: float = 10.0,
        counts_down: bool = False,
    ) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = memory_limit_in_mb
        self.timeout_seconds = timeout_seconds
        self.counts_down = counts_down
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        if not self.counts_down:
            return int(self.timeout_seconds * 1000)
        return max(0, int((self._deadline - time.monotonic()) * 1000))
