"""The reset job against an in-memory IoT Events Data that keeps state and fails on demand."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from fakes.reset import MODEL, CapturedContinuations, CountdownBudget, FakeDetector, FakeIotEvents
from iotbridge.budget import UnlimitedBudget
from iotbridge.detector_reset.domain.job import JobOptions, ResetJob
from iotbridge.detector_reset.domain.plan import ResetPlan, parse_plan
from iotbridge.detector_reset.domain.progress import Continuation, ResetReport

FAST = JobOptions(batch_size=10, workers=3, max_item_attempts=6, page_size=25, time_margin_seconds=60)


def update_plan(**changes: Any) -> ResetPlan:
    plan: dict[str, Any] = {
        "name": "nightly",
        "detectorModelName": MODEL,
        "detectors": {"inStates": ["Alarm", "Fault"]},
        "action": {
            "mode": "update",
            "stateName": "Normal",
            "variables": [{"name": "alarmCount", "value": "0"}],
            "timers": [{"name": "cooldown", "seconds": 300}],
        },
    }
    plan.update(changes)
    return parse_plan(plan)


def message_plan(**changes: Any) -> ResetPlan:
    plan: dict[str, Any] = {
        "name": "nightly",
        "detectorModelName": MODEL,
        "detectors": {"inStates": ["Alarm"]},
        "action": {
            "mode": "message",
            "inputName": "hvacReset",
            "payloadTemplate": {"device": "${keyValue}", "by": "${planName}", "run": "${runId}"},
        },
    }
    plan.update(changes)
    return parse_plan(plan)


def job(service: FakeIotEvents, options: JobOptions = FAST, **kwargs: Any) -> ResetJob:
    kwargs.setdefault("budget", UnlimitedBudget())
    return ResetJob(service, options=options, sleep=lambda _: None, rng=random.Random(7), **kwargs)


def states(service: FakeIotEvents) -> dict[str, int]:
    counts: dict[str, int] = {}
    for detector in service.detectors.values():
        counts[detector.state] = counts.get(detector.state, 0) + 1
    return counts


# ---------------------------------------------------------------- selection and batching


def test_detectors_in_the_listed_states_are_reset_and_the_rest_left_alone() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 30, "Fault": 12, "Normal": 20, "Idle": 7})
    idle_before = {k: d for k, d in service.detectors.items() if d.state == "Idle"}

    report = job(service).run(update_plan())

    assert report.status == "complete"
    assert states(service) == {"Normal": 62, "Idle": 7}
    assert {k: service.detectors[k] for k in idle_before} == idle_before
    assert report.totals.matched == 42
    assert report.totals.reset == 42
    assert report.totals.matched_by_state == {"Alarm": 30, "Fault": 12}
    assert set(service.updates.values()) == {1}
    assert report.problem(0.05) is None


def test_updates_go_out_in_batches_of_the_configured_size() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 23})

    job(service, JobOptions(batch_size=4, workers=2, page_size=250)).run(update_plan())

    assert sorted(service.batch_sizes) == [3] + [4] * 5


def test_message_ids_are_unique_within_each_batch() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 50})

    job(service).run(update_plan())

    for ids in service.message_ids_per_call:
        assert len(set(ids)) == len(ids)
        assert all(len(i) <= 64 for i in ids)


def test_selecting_all_resets_every_detector_once() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 10, "Normal": 30})

    report = job(service).run(update_plan(detectors={"all": True}))

    assert report.totals.reset == 40
    assert set(service.updates.values()) == {1}


def test_the_target_state_is_listed_first_so_nothing_is_reset_twice() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 30, "Normal": 30})

    report = job(service).run(update_plan(detectors={"inStates": ["Alarm", "Normal"]}))

    assert report.totals.reset == 60
    assert set(service.updates.values()) == {1}


def test_key_values_are_reset_and_unknown_ones_reported_as_not_found() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 3})

    report = job(service).run(update_plan(detectors={"keyValues": ["dev-00000", "dev-00002", "missing-1"]}))

    assert report.totals.reset == 2
    assert report.totals.failed == {"ResourceNotFoundException": 1}
    assert report.totals.failed_keys == ["missing-1"]
    assert service.calls["list_detectors"] == 0


# ---------------------------------------------------------------- variables and verification


def test_preserved_variables_are_carried_over_and_the_rest_cleared() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 15}, variables={"lifetimeCount": "41", "scratch": "x"})
    service.detectors["dev-00003"].variables = {"scratch": "y"}  # has nothing to preserve
    plan = update_plan(
        action={
            "mode": "update",
            "stateName": "Normal",
            "variables": [{"name": "alarmCount", "value": "0"}],
            "preserveVariables": ["lifetimeCount"],
        }
    )

    report = job(service).run(plan)

    assert service.detectors["dev-00000"] == FakeDetector(
        "Normal", {"alarmCount": "0", "lifetimeCount": "41"}, {}
    )
    assert service.detectors["dev-00003"].variables == {"alarmCount": "0"}
    assert report.totals.preserved_variables == 14


def test_a_detector_that_cannot_be_read_is_not_reset_without_its_preserved_variables() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 1}, variables={"lifetimeCount": "41"})
    service.failing_calls["describe_detector"] = ["InvalidRequestException"]
    plan = update_plan(
        action={"mode": "update", "stateName": "Normal", "preserveVariables": ["lifetimeCount"]}
    )

    report = job(service).run(plan)

    assert report.totals.failed == {"InvalidRequestException": 1}
    assert service.detectors["dev-00000"].variables == {"lifetimeCount": "41"}


class DriftingIotEvents(FakeIotEvents):
    """A fleet where some detectors move on by themselves right after an update."""

    def update_detectors(self, detector_model_name: str, updates: Any) -> Any:
        errors = super().update_detectors(detector_model_name, updates)
        for _, update in updates:
            if update.key_value.endswith("7"):
                self.detectors[update.key_value].state = "Alarm"
        return errors


def test_verify_reports_detectors_not_in_the_target_state() -> None:
    service = DriftingIotEvents.with_fleet({"Alarm": 20})

    report = job(service).run(update_plan(verify={}))

    assert report.totals.verified == 20
    assert report.totals.verify_mismatches == 2
    assert sorted(report.totals.mismatched_keys) == ["dev-00007", "dev-00017"]


def test_verify_checks_only_a_sample_of_the_configured_size() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 40})

    report = job(service).run(update_plan(verify={"sampleSize": 5}))

    assert report.totals.verified == 5
    assert service.calls["describe_detector"] == 5


# ---------------------------------------------------------------- dry run


def test_dry_run_lists_and_reports_but_changes_nothing() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 30, "Fault": 5, "Normal": 3})
    before = {
        k: FakeDetector(d.state, dict(d.variables), dict(d.timers)) for k, d in service.detectors.items()
    }

    report = job(service).run(update_plan(dryRun=True))

    assert service.detectors == before
    assert service.calls["update_detectors"] == 0
    assert report.totals.matched == 35
    assert report.totals.skipped == 35
    assert report.totals.reset == 0
    assert report.totals.matched_by_state == {"Alarm": 30, "Fault": 5}
    assert len(report.totals.sample_keys) == 20
    assert report.problem(0.05) is None


def test_dry_run_of_key_values_looks_each_one_up() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 2})

    report = job(service).run(update_plan(dryRun=True, detectors={"keyValues": ["dev-00001", "nope"]}))

    assert report.totals.matched_by_state == {"Alarm": 1, "(not found)": 1}
    assert service.calls["update_detectors"] == 0


def test_dry_run_of_a_message_plan_sends_nothing() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 12})

    report = job(service).run(message_plan(dryRun=True))

    assert service.messages == []
    assert report.totals.skipped == 12


# ---------------------------------------------------------------- retries and failures


def test_throttled_entries_are_retried_until_they_succeed() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 30})
    for n in range(0, 30, 3):
        service.item_throttles[f"dev-{n:05d}"] = 3
    slept: list[float] = []

    report = ResetJob(
        service, options=FAST, budget=UnlimitedBudget(), sleep=slept.append, rng=random.Random(1)
    ).run(update_plan())

    assert report.totals.reset == 30
    assert report.totals.failed == {}
    assert set(service.updates.values()) == {1}
    assert slept and all(0 <= s <= FAST.backoff_cap_seconds for s in slept)


def test_entries_still_throttled_after_the_attempt_bound_are_reported_by_code() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 5})
    service.item_throttles["dev-00001"] = 100

    report = job(service, JobOptions(max_item_attempts=3)).run(update_plan())

    assert report.totals.reset == 4
    assert report.totals.failed == {"ThrottlingException": 1}
    assert service.item_throttles["dev-00001"] == 97


def test_permanent_entry_errors_are_reported_by_code_and_not_retried() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 20})
    service.item_errors = {"dev-00004": "InvalidRequestException", "dev-00009": "InvalidRequestException"}

    report = job(service).run(update_plan())

    assert report.totals.reset == 18
    assert report.totals.failed == {"InvalidRequestException": 2}
    assert sorted(report.totals.failed_keys) == ["dev-00004", "dev-00009"]
    assert service.calls["update_detectors"] == 2  # one per batch, no resend of permanent errors


def test_a_throttled_whole_call_is_retried() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 10})
    service.failing_calls["update_detectors"] = ["ThrottlingException", "ServiceUnavailableException"]
    service.failing_calls["list_detectors"] = ["InternalFailureException"]

    report = job(service).run(update_plan())

    assert report.totals.reset == 10
    assert service.calls["update_detectors"] == 3


def test_a_permanently_failing_batch_does_not_stop_the_others() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 30})
    service.failing_calls["update_detectors"] = ["InvalidRequestException"]

    report = job(service, JobOptions(workers=1, page_size=250)).run(update_plan())

    assert report.totals.failed == {"InvalidRequestException": 10}
    assert report.totals.reset == 20


def test_messages_go_out_at_most_ten_a_request_with_the_filled_payload() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 25})

    report = job(service, JobOptions(batch_size=50, page_size=250)).run(message_plan())

    assert max(service.batch_sizes) == 10
    assert report.totals.reset == 25
    name, payload = service.messages[0]
    assert name == "hvacReset"
    assert json.loads(payload) == {
        "device": json.loads(payload)["device"],
        "by": "nightly",
        "run": report.run_id,
    }
    assert service.calls["update_detectors"] == 0


def test_throttled_messages_are_resent() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 10})
    service.item_throttles["dev-00002"] = 2

    report = job(service).run(message_plan())

    assert report.totals.reset == 10
    assert len(service.messages) == 10


def test_an_unknown_detector_model_makes_the_run_incomplete() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 10})

    report = job(service).run(update_plan(detectorModelName="other"))

    assert report.status == "incomplete"
    assert report.problem(
        0.05
    ) == f"run {report.run_id} stopped before the end: listing detectors failed " + (
        "(ResourceNotFoundException)"
    )


# ---------------------------------------------------------------- failure threshold


def report_with(reset: int, failed: int, share: float = 0.05) -> str | None:
    service = FakeIotEvents.with_fleet({"Alarm": reset + failed})
    service.item_errors = {f"dev-{n:05d}": "InvalidRequestException" for n in range(failed)}
    return job(service).run(update_plan()).problem(share)


def test_failures_within_the_allowed_share_do_not_fail_the_run() -> None:
    assert report_with(reset=95, failed=5) is None


def test_failures_over_the_allowed_share_fail_the_run() -> None:
    assert report_with(reset=94, failed=6) == "6 of 100 detector(s) failed (6.0%), more than the allowed 5.0%"


def test_a_run_where_nothing_could_be_reset_fails_whatever_the_share() -> None:
    assert report_with(reset=0, failed=3, share=1.0) == "nothing could be reset: 3 of 3 detector(s) failed"


def test_a_run_that_matches_nothing_succeeds() -> None:
    service = FakeIotEvents.with_fleet({"Normal": 3})

    report = job(service).run(update_plan())

    assert report.totals.matched == 0
    assert report.problem(0.0) is None


# ---------------------------------------------------------------- continuations


def run_to_the_end(
    service: FakeIotEvents, plan: ResetPlan, *, budget_steps: float
) -> tuple[list[ResetReport], CapturedContinuations]:
    sink = CapturedContinuations()
    reports = [job(service, continuation_sink=sink, budget=CountdownBudget(100, budget_steps)).run(plan)]
    while reports[-1].status == "continued":
        event = sink.payloads[-1]
        resume = Continuation.model_validate(json.loads(json.dumps(event))["continuation"])
        budget = CountdownBudget(100, budget_steps)
        reports.append(job(service, continuation_sink=sink, budget=budget).run(resume.plan, resume=resume))
    return reports, sink


@pytest.mark.parametrize(
    "plan",
    [
        update_plan(),
        update_plan(detectors={"all": True}),
        update_plan(detectors={"keyValues": [f"dev-{n:05d}" for n in range(0, 140, 2)]}),
        message_plan(),
    ],
    ids=["states", "all", "key-values", "message"],
)
def test_a_run_out_of_time_continues_and_ends_with_the_same_totals(plan: ResetPlan) -> None:
    uninterrupted_service = FakeIotEvents.with_fleet({"Alarm": 60, "Fault": 40, "Normal": 40})
    uninterrupted = job(uninterrupted_service).run(plan)
    service = FakeIotEvents.with_fleet({"Alarm": 60, "Fault": 40, "Normal": 40})

    reports, sink = run_to_the_end(service, plan, budget_steps=45)

    assert len(reports) >= 3
    final = reports[-1]
    assert final.status == "complete"
    assert final.totals.matched == uninterrupted.totals.matched
    assert final.totals.reset == uninterrupted.totals.reset
    assert final.totals.matched_by_state == uninterrupted.totals.matched_by_state
    assert service.updates == uninterrupted_service.updates
    assert set(service.updates.values()) == {1}
    assert len({r.run_id for r in reports}) == 1
    assert final.continuations == len(sink.payloads) == len(reports) - 1
    assert sum(r.this_invocation.reset for r in reports) == final.totals.reset


def test_every_invocation_makes_progress_even_with_no_time_left() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 60})

    reports, _ = run_to_the_end(service, update_plan(), budget_steps=1000)

    assert len(reports) == 4  # one page of 25 per invocation: 25, 25, 10 in Alarm, then an empty Fault
    assert reports[-1].totals.reset == 60


def test_the_continuation_payload_round_trips() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 60})
    sink = CapturedContinuations()

    report = job(service, continuation_sink=sink, budget=CountdownBudget(0, 1)).run(update_plan(verify={}))

    event = sink.payloads[0]
    resume = Continuation.model_validate(event["continuation"])
    assert report.status == "continued"
    assert resume.plan == update_plan(verify={})
    assert resume.run_id == report.run_id
    assert resume.invocation == 2
    assert resume.totals == report.totals
    assert resume.cursor.next_token == "dev-00024"
    assert Continuation.model_validate(resume.to_event()["continuation"]) == resume


def test_a_continuation_that_cannot_be_started_makes_the_run_incomplete() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 60})
    sink = CapturedContinuations(fail_with="AccessDeniedException")

    report = job(service, continuation_sink=sink, budget=CountdownBudget(0, 1)).run(update_plan())

    assert report.status == "incomplete"
    assert "could not start the continuation (AccessDeniedException)" in (report.problem(0.05) or "")


def test_verify_sample_is_shared_across_continuations() -> None:
    service = FakeIotEvents.with_fleet({"Alarm": 60})

    reports, _ = run_to_the_end(service, update_plan(verify={"sampleSize": 30}), budget_steps=1000)

    assert reports[-1].totals.verified == 30
