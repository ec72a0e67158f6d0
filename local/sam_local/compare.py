"""Answers of a function, as `sam local invoke` printed them and as the local stack gave them, compared.

An answer is reduced to what the caller sees (an HTTP status and JSON body for the webhook receiver, the
returned document for the others); values that differ from one run to the next by design (run ids, times,
durations, request ids) are replaced by a placeholder before the comparison, and nothing else is.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

# Keys whose values are per run by design: ids made at run time, clocks and durations.
VOLATILE_KEYS = frozenset(
    {
        "runId",
        "requestId",
        "startedAt",
        "finishedAt",
        "completedAt",
        "requestedAt",
        "durationMs",
        "durationSeconds",
        "elapsedMs",
        "elapsedSeconds",
        "seconds",
        "time",
        "timestamp",
    }
)
PLACEHOLDER = "<varies>"
_RUN_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


class AnswerError(ValueError):
    """sam local invoke printed no answer that can be read."""


def parse_sam_output(stdout: str) -> Any:
    """The function's answer: the last line of sam local invoke's standard output that is JSON."""
    for raw in reversed(stdout.strip().splitlines()):
        line = raw.strip()
        if not line:
            continue
        try:
            return json.loads(line)
        except ValueError:
            continue
    raise AnswerError("no JSON answer in sam local invoke's output")


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: Any


def http_answer(result: Any) -> HttpAnswer:
    """An API Gateway proxy result (what the receiver returns) as the status and parsed body a caller sees."""
    if not isinstance(result, dict) or "statusCode" not in result:
        raise AnswerError(f"not an HTTP API result: {_short(result)}")
    body = result.get("body")
    if isinstance(body, str) and body:
        with contextlib.suppress(ValueError):
            body = json.loads(body)
    return HttpAnswer(int(result["statusCode"]), body)


def normalize(value: Any) -> Any:
    """`value` with the per-run values replaced by a placeholder."""
    if isinstance(value, dict):
        return {k: PLACEHOLDER if k in VOLATILE_KEYS else normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, str):
        return _RUN_ID.sub(PLACEHOLDER, value)
    return value


def differences(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Where two (normalized) documents differ, as `path: expected != actual` lines."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(set(expected) | set(actual), key=str):
            if key not in actual:
                found.append(f"{path}.{key}: missing (expected {_short(expected[key])})")
            elif key not in expected:
                found.append(f"{path}.{key}: unexpected {_short(actual[key])}")
            else:
                found += differences(expected[key], actual[key], f"{path}.{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        found = []
        for index, (a, b) in enumerate(zip(expected, actual, strict=True)):
            found += differences(a, b, f"{path}[{index}]")
        return found
    return [] if expected == actual else [f"{path}: {_short(expected)} != {_short(actual)}"]


def caller_view(answer: Any) -> Any:
    """What a caller sees of an answer: an HTTP API result as its status and parsed body; a function error
    (as the emulator prints it, or as the Lambda API reports it) as its type and message."""
    if isinstance(answer, dict) and "functionError" in answer and isinstance(answer.get("payload"), dict):
        answer = answer["payload"]
    if isinstance(answer, dict) and "errorType" in answer and "errorMessage" in answer:
        return {"error": {"type": answer["errorType"], "message": answer["errorMessage"]}}
    if isinstance(answer, dict) and "statusCode" in answer:
        http = http_answer(answer)
        return {"statusCode": http.status, "body": http.body}
    return answer


def compare(local: Any, sam: Any) -> list[str]:
    """Differences between the local stack's answer and sam local invoke's as a caller sees them, per-run
    values aside."""
    return differences(normalize(caller_view(local)), normalize(caller_view(sam)))


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
