"""One function's execution environment: its own process and environment, serving the Lambda Invoke API.

    python -m bridge_local.function_host --name ForwarderFunction --handler forwarder.lambda_handler --port 0

The caller sets the function's environment variables and PYTHONPATH (code folder, then the layer).
Prints `function host listening on http://127.0.0.1:PORT` once it serves.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

from .lambda_api import LambdaService
from .lambda_runtime import InProcessFunction
from .processes import wait_for_stop


def _fresh_environment_after_the_answer(service: LambdaService) -> None:
    """After a timed-out call Lambda starts a new execution environment: this process becomes a new one
    (same pid and port, module state and the stuck call gone), once the timeout's answer is on its way.
    New connections are refused from now on, so that no call reaches the environment being replaced."""
    service.stop_accepting()

    def restart() -> None:
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "bridge_local.function_host", *sys.argv[1:]])  # noqa: S606

    threading.Timer(0.5, restart).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge_local.function_host")
    parser.add_argument("--name", required=True)
    parser.add_argument("--handler", required=True, help="module.function, as the template's Handler")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--memory", type=int, default=256)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    hosting: list[LambdaService] = []
    try:
        function = InProcessFunction.load(
            args.name,
            args.handler,
            timeout_seconds=args.timeout,
            memory_mb=args.memory,
            on_timeout=lambda: _fresh_environment_after_the_answer(hosting[0]),
        )
    except Exception as exc:
        print(f"cannot load {args.handler} for {args.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    with LambdaService({args.name: function}, port=args.port) as service:
        hosting.append(service)
        print(f"function host listening on {service.url}", flush=True)
        wait_for_stop(parent_pid=args.parent_pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
