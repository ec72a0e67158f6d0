"""Child: one Lambda execution environment's init and first request, each phase's CPU measured apart.

`python -S -m bench.lambda_init SPEC_FILE RESULT_FILE`. The spec (JSON) names the handler module, the
event of the first request, the context and the answered AWS services. The program:

1. imports the handler module as Lambda's runtime does (`importlib.import_module`, then the handler
   attribute): the init phase, with whatever the module builds at import;
2. answers every botocore client in the process in-process (bench.answered_aws), outside both phases;
3. invokes the handler once with the event: the first invocation.

CPU is the process's (every thread, user and system) from `time.process_time()`; the init phase's
includes the interpreter's own start, as Lambda's init includes the runtime's. Wall time of the init
phase counts from the moment the parent started the process. Only the standard library is imported
before the handler, so nothing is loaded for the code under test ahead of its own init.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from typing import Any

INIT_DONE = "bench.lambda_init: init done"


class LambdaContext:
    """What the handlers and Powertools read from Lambda's context object."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.function_name = spec["function_name"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(spec["memory_limit_in_mb"])
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"
        self.aws_request_id = "00000000-0000-4000-8000-00000000bench"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "bench"
        self._deadline = time.monotonic() + float(spec["timeout_seconds"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def run(spec: dict[str, Any]) -> dict[str, Any]:
    module = importlib.import_module(spec["module"])
    handler = getattr(module, spec.get("handler", "lambda_handler"))
    init_cpu = time.process_time()
    init_wall = time.time() - float(spec["spawned_at"])
    # Under `python -X importtime` the imports so far are the init's; what follows is the benchmark's.
    print(INIT_DONE, file=sys.stderr, flush=True)

    from bench.answered_aws import AnsweredAws

    aws = AnsweredAws(**spec.get("aws", {}))
    aws.install()
    context = LambdaContext(spec["context"])
    event = spec["event"]
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    response = handler(event, context)
    invoke_wall = time.perf_counter() - started_wall
    invoke_cpu = time.process_time() - started_cpu
    if profiler is not None:
        profiler.disable()
    from bench.memory import peak_rss_mb
    from bench.profiles import summary

    return {
        "init_cpu_s": init_cpu,
        "init_wall_s": init_wall,
        "invoke_cpu_s": invoke_cpu,
        "invoke_wall_s": invoke_wall,
        "calls": dict(aws.calls),
        "unanswered": dict(aws.unanswered),
        "calls_in_a_row": aws.calls_in_a_row(),
        "messages_sent": aws.messages_sent,
        "detectors_updated": aws.detectors_updated,
        "response": response,
        "peak_rss_mb": peak_rss_mb(),
        "profile": summary(profiler) if profiler is not None else None,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -S -m bench.lambda_init SPEC_FILE RESULT_FILE", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as spec_file:
        spec = json.load(spec_file)
    result = run(spec)
    with open(argv[1], "w", encoding="utf-8") as result_file:
        json.dump(result, result_file, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
