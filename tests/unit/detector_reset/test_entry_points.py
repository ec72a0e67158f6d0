"""The scheduled function and the operator CLI: same code path, clear errors, exit codes, metrics."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.reset import MODEL, CapturedContinuations, FakeIotEvents

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "IotBridgeTests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "detector-reset")

import detector_reset
from fakes.lambda_context import FakeLambdaContext
from fakes.log_capture import Logs, captured_logs
from iotbridge.__main__ import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from iotbridge.composition import BuiltAtInit
from iotbridge.detector_reset import edge
from iotbridge.detector_reset.domain.plan import PlanError
from iotbridge.detector_reset.edge import ResetRunFailedError
from iotbridge.detector_reset.settings import ResetSettings
from iotbridge.detector_reset.wiring import ResetWiring

EVENTS = Path(__file__).resolve().parents[3] / "events"

PLAN: dict[str, Any] = {
    "name": "nightly",
    "detectorModelName": MODEL,
    "detectors": {"inStates": ["Alarm"]},
    "action": {"mode": "update", "stateName": "Normal"},
}


def LambdaContext(remaining_ms: int = 900_000) -> FakeLambdaContext:
    return FakeLambdaContext(
        function_name="detector-reset", memory_limit_in_mb=1344, remaining_millis=remaining_ms
    )


@pytest.fixture
def continuations() -> CapturedContinuations:
    return CapturedContinuations()


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, continuations: CapturedContinuations) -> Iterator[FakeIotEvents]:
    """The in-memory service behind the real wiring (the adapters are swapped, nothing else)."""
    fake = FakeIotEvents.with_fleet({"Alarm": 30, "Normal": 5})

    def over_the_fake() -> ResetWiring:
        return ResetWiring(
            ResetSettings.from_environment(), lambda _backend: fake, lambda _arn: continuations
        )

    monkeypatch.setattr(ResetWiring, "from_environment", staticmethod(over_the_fake))
    monkeypatch.setattr(detector_reset, "wiring", BuiltAtInit(over_the_fake))
    yield fake


# ---------------------------------------------------------------- Lambda handler


def test_the_handler_runs_the_plan_from_the_schedule_and_returns_the_summary(service: FakeIotEvents) -> None:
    summary = detector_reset.lambda_handler(dict(PLAN), LambdaContext())

    assert summary["status"] == "complete"
    assert summary["matched"] == 30
    assert summary["reset"] == 30
    assert summary["continuations"] == 0
    assert {d.state for d in service.detectors.values()} == {"Normal"}


def test_the_handler_emits_per_plan_metrics(
    service: FakeIotEvents, capsys: pytest.CaptureFixture[str]
) -> None:
    detector_reset.lambda_handler(dict(PLAN), LambdaContext())

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    reset_metrics = next(doc for doc in emf if "DetectorsReset" in doc)
    assert reset_metrics["plan"] == "nightly"
    assert reset_metrics["DetectorsReset"] in (30, [30])
    assert (
        reset_metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"]
        == os.environ["POWERTOOLS_METRICS_NAMESPACE"]
    )


def test_the_handler_continues_itself_when_time_runs_short(
    service: FakeIotEvents, continuations: CapturedContinuations
) -> None:
    service.detectors.update(FakeIotEvents.with_fleet({"Alarm": 600}).detectors)

    summary = detector_reset.lambda_handler(dict(PLAN), LambdaContext(remaining_ms=10_000))
    continuation = continuations.payloads[0]
    finished = detector_reset.lambda_handler(continuation, LambdaContext())

    assert summary["status"] == "continued"
    assert finished["status"] == "complete"
    assert finished["reset"] == 600
    assert finished["runId"] == summary["runId"]


def test_an_invalid_plan_raises_one_error_listing_every_problem(service: FakeIotEvents) -> None:
    event = json.loads((EVENTS / "reset-invalid-plan.json").read_text())

    with pytest.raises(PlanError) as raised:
        detector_reset.lambda_handler(event, LambdaContext())

    assert len(raised.value.problems) >= 3
    assert service.calls == {}


def test_a_malformed_continuation_is_rejected_like_a_plan(service: FakeIotEvents) -> None:
    with pytest.raises(PlanError, match=r"continuation\.runId"):
        detector_reset.lambda_handler({"continuation": {"plan": PLAN}}, LambdaContext())


def test_the_invocation_fails_when_failures_pass_the_allowed_share(
    service: FakeIotEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESET_FAILURE_SHARE", "0.1")
    detector_reset.wiring.rebuild()
    service.item_errors = {f"dev-{n:05d}": "InvalidRequestException" for n in range(4)}

    with pytest.raises(ResetRunFailedError, match=r"4 of 30 detector\(s\) failed \(13.3%\)"):
        detector_reset.lambda_handler(dict(PLAN), LambdaContext())


@pytest.mark.parametrize(
    "name", ["reset-update.json", "reset-message.json", "reset-dry-run.json", "reset-table-update.json"]
)
def test_the_sample_events_are_valid_plans(name: str) -> None:
    plan, resume = edge.read_event(json.loads((EVENTS / name).read_text()))

    assert resume is None
    assert plan.name


def test_the_example_plan_files_are_valid() -> None:
    files = sorted((EVENTS / "plans").glob("*.json"))

    assert files
    for path in files:
        edge.read_event(json.loads(path.read_text()))


# ---------------------------------------------------------------- CLI


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def write_plan(tmp_path: Path, plan: Any) -> str:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return str(path)


def test_cli_runs_a_plan_and_prints_a_table(service: FakeIotEvents, tmp_path: Path) -> None:
    code, out, _ = cli("reset", "--plan", write_plan(tmp_path, PLAN))

    assert code == EXIT_OK
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert rows["status"] == ["complete"]
    assert rows["reset"] == ["30"]
    assert rows["Alarm"] == ["30"]  # under matchedByState
    assert {d.state for d in service.detectors.values()} == {"Normal"}


def test_cli_dry_run_flag_changes_nothing(service: FakeIotEvents, tmp_path: Path) -> None:
    code, out, _ = cli("reset", "--plan", write_plan(tmp_path, PLAN), "--dry-run", "--json")

    assert code == EXIT_OK
    assert json.loads(out)["skipped"] == 30
    assert service.calls["update_detectors"] == 0


def test_cli_exits_1_when_failures_pass_the_allowed_share(service: FakeIotEvents, tmp_path: Path) -> None:
    service.item_errors = {f"dev-{n:05d}": "InvalidRequestException" for n in range(10)}

    code, _, err = cli("reset", "--plan", write_plan(tmp_path, PLAN))

    assert code == EXIT_FAILED
    assert "reset failed: 10 of 30 detector(s) failed" in err


def test_cli_exits_2_with_every_problem_for_an_invalid_plan(service: FakeIotEvents, tmp_path: Path) -> None:
    code, out, err = cli("reset", "--plan", write_plan(tmp_path, {"name": "x y", "detectors": {}}))

    assert code == EXIT_USAGE
    assert out == ""
    assert "invalid reset plan" in err and "name:" in err and "detectorModelName: Field required" in err
    assert "Traceback" not in err
    assert service.calls == {}


@pytest.mark.parametrize(
    "argv",
    [
        ["reset"],
        ["explode"],
        [],
        ["reset", "--plan", "/nonexistent/plan.json"],
    ],
)
def test_cli_exits_2_on_bad_usage(service: FakeIotEvents, argv: list[str]) -> None:
    code, _, _ = cli(*argv)

    assert code == EXIT_USAGE


def test_cli_exits_2_for_a_plan_that_is_not_json(service: FakeIotEvents, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{oops")

    code, _, err = cli("reset", "--plan", str(path))

    assert code == EXIT_USAGE
    assert "not valid JSON" in err


# ---------------------------------------------------------------- input that is hostile or broken


def deep_template_plan(depth: int = 5_000) -> dict[str, Any]:
    node: Any = "${keyValue}"
    for _ in range(depth):
        node = {"next": node}
    return {
        "name": "deep",
        "detectorModelName": MODEL,
        "detectors": {"all": True},
        "action": {"mode": "message", "inputName": "hvacReset", "payloadTemplate": node},
    }


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"name": "caf\xe9 reset"}', "(plan): not valid JSON (not UTF-8, UTF-16 or UTF-32 text)"),
        (b"[" * 100_000 + b"]" * 100_000, "(plan): nested too deeply to read"),
        (
            json.dumps(deep_template_plan()).encode(),
            "action: the payload template is nested more than 64 levels deep",
        ),
    ],
    ids=["not-utf-8", "100000-deep", "template-5000-deep"],
)
def test_cli_exits_2_listing_the_problem_of_a_plan_it_cannot_use(
    service: FakeIotEvents, tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(content)

    code, out, err = cli("reset", "--plan", str(path))

    assert code == EXIT_USAGE
    assert out == ""
    assert f"  - {problem}" in err.splitlines()
    assert "Traceback" not in err
    assert service.calls == {}


def test_cli_reads_a_plan_from_stdin_as_bytes(
    service: FakeIotEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"name": "\xff"}'), encoding="utf-8"))

    code, _, err = cli("reset", "--plan", "-")

    assert code == EXIT_USAGE
    assert "not UTF-8" in err


def handler_refusal(event: dict[str, Any], capfd: pytest.CaptureFixture[str]) -> tuple[PlanError, Logs]:
    """The handler's PlanError for `event`, and what it logged and printed (its metrics) meanwhile."""
    with captured_logs(capfd, [detector_reset.logger], ()) as logs:
        with pytest.raises(PlanError) as raised:
            detector_reset.lambda_handler(event, LambdaContext())
        logs.text()  # collects what was printed, the metrics included
    return raised.value, logs


def test_a_payload_template_nested_5000_deep_is_logged_and_counted_as_an_invalid_plan(
    service: FakeIotEvents, capfd: pytest.CaptureFixture[str]
) -> None:
    refusal, logs = handler_refusal(deep_template_plan(), capfd)

    assert refusal.descriptions() == ["action: the payload template is nested more than 64 levels deep"]
    [logged] = [line for line in logs.structured() if line.get("message") == "invalid reset plan"]
    assert logged["problems"] == refusal.descriptions()
    emf = [json.loads(line) for text in logs.seen for line in text.splitlines() if '"_aws"' in line]
    assert any(doc.get("ResetPlansInvalid") in (1, [1]) for doc in emf)
    assert service.calls == {}


def continuation(plan: dict[str, Any], cursor: dict[str, Any], **totals: Any) -> dict[str, Any]:
    return {
        "continuation": {
            "runId": "run1",
            "plan": plan,
            "cursor": cursor,
            "totals": totals,
            "invocation": 2,
            "startedAt": 1_767_225_600.0,
        }
    }


KEYS_PLAN = {**PLAN, "detectors": {"keyValues": ["dev-00000", "dev-00001", "dev-00002"]}}


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (continuation(PLAN, {"source": 1}), "continuation.cursor: source 1 is past the plan's 1 listing(s)"),
        (
            continuation({**PLAN, "detectors": {"inStates": ["Alarm", "Fault"]}}, {"source": 7}),
            "continuation.cursor: source 7 is past the plan's 2 listing(s)",
        ),
        (
            continuation(KEYS_PLAN, {"source": 0, "offset": 3}),
            "continuation.cursor: offset 3 is past the plan's 3 key value(s)",
        ),
        (
            continuation(KEYS_PLAN, {"source": 0, "offset": 1, "nextToken": "abc"}),
            "continuation.cursor: a nextToken cannot go with a list of key values",
        ),
        (
            continuation(PLAN, {"source": 0, "offset": 250}),
            "continuation.cursor: an offset goes only with a list of key values",
        ),
        (
            continuation(PLAN, {"source": 0}, matched=-5),
            "continuation.totals.matched: Input should be greater than or equal to 0",
        ),
    ],
    ids=["past-the-listings", "past-two-states", "past-the-keys", "token-with-keys", "offset", "counts"],
)
def test_a_forged_continuation_is_rejected_like_an_invalid_plan(
    service: FakeIotEvents, event: dict[str, Any], problem: str, capfd: pytest.CaptureFixture[str]
) -> None:
    refusal, logs = handler_refusal(event, capfd)

    assert problem in refusal.descriptions()
    assert any(line.get("message") == "invalid reset plan" for line in logs.structured())
    assert service.calls == {}


def test_a_continuation_of_a_key_value_plan_resumes_at_its_offset(service: FakeIotEvents) -> None:
    summary = detector_reset.lambda_handler(
        continuation(KEYS_PLAN, {"source": 0, "offset": 1}), LambdaContext()
    )

    assert summary["status"] == "complete"
    assert summary["reset"] == 2
    assert sorted(service.updates) == ["dev-00001", "dev-00002"]
