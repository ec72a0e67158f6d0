"""Run one measurement in a fresh Python process, with a function's import path and environment.

Parent side: `run_child("bench.receiver:measure_warm", args, env=..., code_root=...)` returns the dict the
function returned. Child side: `python -m bench.child MODULE:FUNCTION ARGS_JSON RESULT_FILE` imports
the function, calls it with the parsed arguments and writes its JSON result to the file (stdout is left
to the code under test, which logs there as it does in Lambda).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.layout import ROOT, base_environment, python_path


class ChildFailed(RuntimeError):
    """The measurement process failed; the message carries the end of its error output."""


def run_child(
    target: str,
    args: dict[str, Any],
    *,
    code_root: Path | None,
    env: dict[str, str] | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        result_file = Path(workdir) / "result.json"
        child_env = {**base_environment(), **(env or {}), "PYTHONPATH": python_path(code_root)}
        argv = [sys.executable, "-m", "bench.child", target, json.dumps(args), str(result_file)]
        try:
            done = subprocess.run(  # noqa: S603 - argv built here from fixed parts
                argv,
                cwd=ROOT,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ChildFailed(f"{target} did not finish within {timeout:.0f} s") from None
        if done.returncode != 0 or not result_file.exists():
            tail = done.stderr.decode("utf-8", errors="replace").strip().splitlines()[-12:]
            raise ChildFailed(f"{target} exited with code {done.returncode}: " + " / ".join(tail))
        result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
        return result


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m bench.child MODULE:FUNCTION ARGS_JSON RESULT_FILE", file=sys.stderr)
        return 2
    target, raw_args, result_path = argv
    module_name, _, function_name = target.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    result = function(json.loads(raw_args))
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
