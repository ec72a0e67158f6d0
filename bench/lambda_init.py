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


def run(spec: dict[str, Any]) -> dict[str, Any]:
    module = importlib.import_module(spec["module"])
    handler = getattr(module, spec.get("handler", "lambda_handler"))
    init_cpu = time.process_time()
    init_wall = time.time() - float(spec["spawned_at"])
    # Under `python -X importtime` the imports so far are the init's; what follows is the benchmark's.
    print(INIT_DONE, file=sys.stderr, flush=True)

    # The benchmark's own modules, imported only now, so the init phase above is the handler's alone.
    import cProfile

    from bench.answered_aws import AnsweredAws
    from bench.hotspots import summary
    from bench.lambda_context import LambdaContext
    from bench.memory import peak_rss_mb

    aws = AnsweredAws(**spec.get("aws", {}))
    aws.install()
    context = LambdaContext(
        spec["context"]["function_name"],
        memory_limit_in_mb=int(spec["context"]["memory_limit_in_mb"]),
        timeout_seconds=float(spec["context"]["timeout_seconds"]),
        counts_down=True,
    )
    event = spec["event"]
    profiler = None
    if spec.get("profile"):
        profiler = cProfile.Profile()
        profiler.enable()
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    response = handler(event, context)
    invoke_wall = time.perf_counter() - started_wall
    invoke_cpu = time.process_time() - started_cpu
    if profiler is not None:
        profiler.disable()

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
