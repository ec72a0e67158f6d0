"""The benchmark code's own logic: statistics, goals, tables, import-time parsing, patches, the answered
services, the Lambda CPU model and memory sizing.

No timing is asserted here: benchmarks never fail on a slow machine.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from bench.answered_aws import AnsweredAws, calls_in_a_row, clients_in_process
from bench.cold_start import (
    Patch,
    PatchDoesNotApply,
    UnexpectedAnswer,
    apply_patches,
    check_answer,
    parse_importtime,
    top_imports,
)
from bench.forwarder_batch import groups_in_order
from bench.lambda_layer import requirement_names
from bench.lambda_model import Phases, invoke_ms, memory_sizes, smallest_memory, vcpu_share
from bench.profiles import package_of, short_location
from bench.report import Section, document, markdown_table, text_table
from bench.sizing import Findings, ForwarderCpu, ResetCpu, memory_floor_mb, recommend
from bench.stats import Figure, Goal, format_number, median, percentile, ratio
from bridge_local.answered import answered_client
from fakes.receiver import GROUP_KEY
from iotbridge.correlation.model import COMMAND, Begun, PendingRequest
from iotbridge.correlation.tables import ConnectorUserTable, CorrelationTable
from iotbridge.registry import SecretsManagerSigningKeys, SsmConnectorProfiles
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.webhook_receiver.adapters import IdempotencyTableDeduplicator, SqsFifoEventQueue
from iotbridge.webhook_receiver.ports import WebhookConflictError, WebhookInProgressError

# --- statistics ---------------------------------------------------------------------------------------


def test_percentile_interpolates_between_the_nearest_ranks() -> None:
    samples = [10.0, 20.0, 30.0, 40.0]
    assert percentile(samples, 0) == 10
    assert percentile(samples, 100) == 40
    assert percentile(samples, 50) == 25
    assert percentile(samples, 99) == pytest.approx(39.7)


def test_median_of_an_odd_count_is_the_middle_sample_whatever_the_order() -> None:
    assert median([9.0, 1.0, 5.0]) == 5


def test_percentile_refuses_no_samples_and_out_of_range_q() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_ratio_of_a_zero_baseline_is_infinite_unless_both_are_zero() -> None:
    assert ratio(3, 2) == 1.5
    assert math.isinf(ratio(1, 0))
    assert ratio(0, 0) == 1.0


# --- goals ------------------------------------------------------------------------------------------------


def test_an_upper_goal_is_met_up_to_and_including_its_bound() -> None:
    goal = Goal("<=", 1.25)
    assert goal.met(1.25)
    assert not goal.met(1.2501)
    assert goal.margin(1.0) == pytest.approx(0.2)
    assert goal.margin(1.5) == pytest.approx(-0.2)


def test_a_lower_goal_is_met_from_its_bound_up() -> None:
    goal = Goal(">=", 0.8)
    assert goal.met(0.8)
    assert not goal.met(0.79)
    assert goal.margin(0.4) == pytest.approx(-0.5)


def test_a_goal_is_never_met_by_an_unknown_value() -> None:
    assert not Goal("<=", 2).met(float("nan"))


def test_a_figure_compares_its_ratio_with_its_goal_and_says_by_how_much() -> None:
    slow = Figure("cold start", measured=500, baseline=250, unit="ms", goal=Goal("<=", 1.25))
    fast = Figure("cold start", measured=300, baseline=250, unit="ms", goal=Goal("<=", 1.25))
    info = Figure("note", measured=1, baseline=1, unit="ms")

    assert slow.ratio == 2.0
    assert slow.met is False
    assert slow.verdict() == "NOT met (60% outside)"
    assert fast.verdict() == "met (4% inside)"
    assert info.met is None
    assert info.verdict() == "info"


def test_numbers_are_shown_with_three_significant_digits() -> None:
    assert format_number(1234.5) == "1,234"
    assert format_number(12.345) == "12.3"
    assert format_number(1.2345) == "1.23"
    assert format_number(0.012345) == "0.0123"
    assert format_number(float("inf")) == "inf"


# --- tables and the document ----------------------------------------------------------------------------


def test_markdown_table_escapes_pipes_inside_cells() -> None:
    table = markdown_table(["a", "b"], [["x|y", "z"]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | z |"]


def test_text_table_aligns_columns_to_the_widest_cell() -> None:
    lines = text_table(["name", "v"], [["long name", "1"], ["n", "22"]]).splitlines()
    assert lines[0] == "name       v"
    assert lines[2] == "long name  1"
    assert lines[3] == "n          22"


def test_the_document_names_the_command_the_machine_and_every_goal() -> None:
    section = Section(
        "Cold start", figures=[Figure("cold start, forwarder", 110, 100, "ms", Goal("<=", 1.25))]
    )
    broken = Section("Forwarder", error="ChildFailed: boom")

    text = document(
        [section, broken],
        command=".venv/bin/python -m bench",
        started="2026-11-20 10:00 UTC",
        duration_seconds=61,
        machine_info={"CPU": "Some CPU", "Cores": "2"},
    )

    assert "- Command: `.venv/bin/python -m bench`" in text
    assert "- CPU: Some CPU" in text
    assert "| cold start, forwarder | 110 ms | 100 ms | 1.10x | <= 1.25x | met (12% inside) |" in text
    assert "- Forwarder: ChildFailed: boom" in text


# --- -X importtime ----------------------------------------------------------------------------------------

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |     _io_helper
import time:      2000 |      52000 |   botocore.client
import time:       500 |      90000 | boto3
import time:       900 |        900 | handler_helpers
some other line
"""


def test_importtime_lines_are_parsed_with_their_depth_and_the_header_skipped() -> None:
    costs = parse_importtime(IMPORTTIME)

    assert [(c.module, c.self_us, c.cumulative_us, c.depth) for c in costs] == [
        ("_io_helper", 120, 120, 2),
        ("botocore.client", 2000, 52000, 1),
        ("boto3", 500, 90000, 0),
        ("handler_helpers", 900, 900, 0),
    ]


def test_top_imports_are_ordered_by_cumulative_time() -> None:
    assert [c.module for c in top_imports(parse_importtime(IMPORTTIME), 2)] == ["boto3", "botocore.client"]


# --- patched copies ---------------------------------------------------------------------------------------


def test_a_patch_replaces_its_text_once_in_the_copy(tmp_path: Path) -> None:
    handler = tmp_path / "functions" / "fn" / "fn.py"
    handler.parent.mkdir(parents=True)
    handler.write_text("from x import Logger, Tracer\ntracer = Tracer()\n", encoding="utf-8")

    apply_patches(tmp_path, [Patch("functions/fn/fn.py", "tracer = Tracer()\n", "")])

    assert handler.read_text(encoding="utf-8") == "from x import Logger, Tracer\n"


def test_a_patch_whose_text_is_gone_says_so_instead_of_measuring_the_wrong_code(tmp_path: Path) -> None:
    (tmp_path / "fn.py").write_text("print('changed')\n", encoding="utf-8")
    with pytest.raises(PatchDoesNotApply, match="no longer contains"):
        apply_patches(tmp_path, [Patch("fn.py", "tracer = Tracer()\n", "")])


# --- the layer's requirements -----------------------------------------------------------------------------


def test_requirement_names_skip_comments_options_and_versions() -> None:
    lines = ["# runtime", "boto3==1.44.5", "", "-r other.txt", "aws-lambda-powertools>=3  # logs", "regex"]
    assert requirement_names(lines) == ["boto3", "aws-lambda-powertools", "regex"]


# --- the forwarder's order check --------------------------------------------------------------------------


def test_group_order_holds_when_each_device_sees_its_events_in_batch_order() -> None:
    devices = ["a", "b", "a", "b"]
    recorded = ["uri: auc://b/seq-1", "uri: auc://a/seq-0", "uri: auc://a/seq-2", "uri: auc://b/seq-3"]
    assert groups_in_order(recorded, devices)


def test_group_order_fails_when_a_device_sees_a_later_event_first_or_misses_one() -> None:
    devices = ["a", "b", "a", "b"]
    swapped = ["uri: auc://a/seq-2", "uri: auc://a/seq-0", "uri: auc://b/seq-1", "uri: auc://b/seq-3"]
    missing = ["uri: auc://a/seq-0", "uri: auc://b/seq-1", "uri: auc://b/seq-3"]
    assert not groups_in_order(swapped, devices)
    assert not groups_in_order(missing, devices)


# --- the answered services -------------------------------------------------------------------------------


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _deduplicator(clock: _Clock) -> tuple[IdempotencyTableDeduplicator, AnsweredAws]:
    # The receiver's own deduplication code drives the answers through botocore, so they answer what it asks.
    aws = AnsweredAws(clock=clock)
    client = answered_client(
        "dynamodb", lambda request, operation: aws.serve(request, f"before-send.dynamodb.{operation}")
    )
    dedupe = IdempotencyTableDeduplicator(
        client, "t", window_seconds=1_000, fingerprint_key=GROUP_KEY, clock=clock
    )
    return dedupe, aws


def test_the_dedupe_table_refuses_a_live_record_and_returns_it_like_dynamodb() -> None:
    clock = _Clock(1_000.0)
    dedupe, aws = _deduplicator(clock)
    dedupe.once("c", "w", lambda: {"queued": 1})
    clock.now = 1_500.0

    assert dedupe.once("c", "w", lambda: {"queued": 2}) == ({"queued": 1}, True)
    ((record,),) = [list(aws.items.values())]
    assert record["expiration"] == {"N": "2000"}
    assert record["status"] == {"S": "COMPLETED"}
    assert aws.calls == {"dynamodb.PutItem": 2, "dynamodb.UpdateItem": 1}


def test_the_dedupe_table_lets_an_expired_record_be_replaced() -> None:
    clock = _Clock(1_000.0)
    dedupe, aws = _deduplicator(clock)
    dedupe.once("c", "w", lambda: {"queued": 1})
    clock.now = 2_001.0

    assert dedupe.once("c", "w", lambda: {"queued": 2}) == ({"queued": 2}, False)
    ((record,),) = [list(aws.items.values())]
    assert record["expiration"] == {"N": "3001"}


def test_the_dedupe_table_returns_the_record_s_fingerprint_so_another_body_is_a_conflict() -> None:
    clock = _Clock(1_000.0)
    dedupe, _ = _deduplicator(clock)
    dedupe.once("c", "w", lambda: {"queued": 1}, body_digest="a" * 64)

    assert dedupe.once("c", "w", lambda: {"queued": 2}, body_digest="a" * 64) == ({"queued": 1}, True)
    with pytest.raises(WebhookConflictError):
        dedupe.once("c", "w", lambda: {"queued": 3}, body_digest="b" * 64)


def test_a_failed_hand_off_releases_the_record_and_a_held_one_is_in_progress() -> None:
    clock = _Clock(1_000.0)
    dedupe, aws = _deduplicator(clock)

    def interrupted() -> dict[str, int]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dedupe.once("c", "w", interrupted)
    assert aws.items == {}

    def while_held() -> dict[str, int]:
        with pytest.raises(WebhookInProgressError):
            dedupe.once("c", "w", lambda: {"queued": 2})
        return {"queued": 1}

    assert dedupe.once("c", "w", while_held) == ({"queued": 1}, False)


def test_the_queue_answers_every_entry_of_a_batch_and_keeps_only_a_count() -> None:
    aws = AnsweredAws(keep=False)
    client = answered_client(
        "sqs", lambda request, operation: aws.serve(request, f"before-send.sqs.{operation}")
    )
    queue = SqsFifoEventQueue(
        client, "https://sqs.us-east-1.amazonaws.com/000000000000/q.fifo", group_key=GROUP_KEY
    )
    events = [
        QueuedEvent("c", "w", n, 0, {"Operation": "DEVICE_EVENT", "ConnectorDeviceId": f"d{n}"})
        for n in range(12)
    ]

    queue.enqueue(events)

    assert aws.messages_sent == 12
    assert aws.calls == {"sqs.SendMessageBatch": 2}  # at most ten entries a request


def test_an_operation_the_benchmark_does_not_answer_is_recorded_and_refused() -> None:
    aws = AnsweredAws()
    client = answered_client(
        "sqs", lambda request, operation: aws.serve(request, f"before-send.sqs.{operation}")
    )

    with pytest.raises(Exception, match="NotAnsweredByTheBenchmark"):
        client.list_queues()
    assert aws.unanswered == {"sqs.ListQueues": 1}


def test_installing_answers_every_client_made_afterwards_from_any_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3
    import botocore.session

    from bridge_local.aws import local_client

    # Installing replaces how every session makes clients: undone after this test.
    monkeypatch.setattr(botocore.session.Session, "create_client", botocore.session.Session.create_client)
    aws = AnsweredAws(secrets={"s": "v"})
    aws.install(made_so_far=False)
    from_botocore = local_client("secretsmanager", "https://example.invalid")
    from_boto3 = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("secretsmanager")

    assert from_botocore.get_secret_value(SecretId="s")["SecretString"] == "v"
    assert from_boto3.get_secret_value(SecretId="s")["SecretString"] == "v"
    assert aws.calls == {"secrets-manager.GetSecretValue": 2}


def test_the_clients_a_module_made_at_import_are_found_to_be_answered() -> None:
    from bridge_local.aws import local_client

    made_earlier = local_client("sqs", "https://example.invalid")

    assert any(found is made_earlier for found in clients_in_process())


def test_calls_in_a_row_count_only_calls_that_waited_for_one_another() -> None:
    assert calls_in_a_row([(0, 1), (1, 2), (2, 3)]) == 3  # one after another
    assert calls_in_a_row([(0, 1)] * 10) == 1  # side by side
    assert calls_in_a_row([(0, 1), (1, 2), (1.5, 2.5), (2.5, 3)]) == 3  # a list, then workers
    assert calls_in_a_row([]) == 0


# --- the Lambda model and the first request ----------------------------------------------------------------


def test_invocation_cpu_is_stretched_by_the_memory_s_vcpu_share_and_init_is_not() -> None:
    phases = Phases(init_cpu_ms=300, invoke_cpu_ms=29, calls_in_a_row=4)

    assert vcpu_share(1769) == 1.0
    assert phases.modelled_ms(512, latency_ms=10) == pytest.approx(300 + 29 / (512 / 1769) + 40)
    # One thread cannot use more than one vCPU: more memory stops helping there.
    assert invoke_ms(29, 3538) == 29


def test_memory_sizes_run_from_128_mb_in_64_mb_steps_and_the_smallest_that_meets_is_chosen() -> None:
    sizes = memory_sizes(high=1024)
    assert sizes[:3] == [128, 192, 256]
    assert sizes[-1] == 1024
    assert smallest_memory(lambda mb: mb >= 700, sizes) == 704
    assert smallest_memory(lambda mb: False, sizes) is None


def test_a_first_request_that_did_not_do_its_job_is_not_measured() -> None:
    good = {"calls": {}, "unanswered": {}, "messages_sent": 1, "response": {"statusCode": 202}}
    check_answer("webhook", good)
    with pytest.raises(UnexpectedAnswer):
        check_answer("webhook", {**good, "response": {"statusCode": 401}})
    with pytest.raises(UnexpectedAnswer, match="does not answer"):
        check_answer("nothing", {**good, "response": {}, "unanswered": {"sqs.ListQueues": 1}})


# --- memory sizing ----------------------------------------------------------------------------------------


def _findings(init: float, invoke: float, floor_init: float) -> Findings:
    findings = Findings()
    findings.cold = {
        "reset": [Phases(init, invoke, 2)],
        "floor": [Phases(floor_init, 0.0, 0)],
    }
    findings.add_peak("detector_reset", 40)
    findings.add_peak("detector_reset", 30)  # the largest peak counts
    return findings


def test_the_memory_floor_is_the_peak_with_headroom_in_64_mb_steps() -> None:
    assert memory_floor_mb(100) == 192
    assert memory_floor_mb(10) == 128


def test_the_smallest_size_meeting_every_goal_is_recommended() -> None:
    findings = _findings(init=200, invoke=10, floor_init=200)
    findings.reset = ResetCpu(cpu_ms_per_call=2.0, calls_per_second=200)  # 0.4 vCPU

    chosen = recommend("detector_reset", findings)

    # 200 + 10 / share + 20 ms is within 1.25 x 200 ms from a third of a vCPU (640 MB); the pace needs
    # 0.4 vCPU, 708 MB: 768 MB in 64 MB steps.
    assert chosen.memory_mb == 768
    assert "vCPU needed / vCPU share 0.92 (goal <= 1: met)" in chosen.reason


def test_a_goal_memory_cannot_reach_does_not_buy_memory_beyond_a_tenth_of_its_best() -> None:
    findings = _findings(init=400, invoke=20, floor_init=200)  # init alone is 2x the floor

    chosen = recommend("detector_reset", findings)

    best = (400 + 20 + 20) / 200
    ratio = findings.modelled_ms("reset", chosen.memory_mb) / 200
    below = findings.modelled_ms("reset", chosen.memory_mb - 64) / 200
    assert ratio <= best * 1.10 < below
    assert "not met" in chosen.reason


def test_the_template_s_size_is_checked_against_the_same_rule() -> None:
    from bench.sizing import template_holds

    findings = _findings(init=200, invoke=10, floor_init=200)
    findings.reset = ResetCpu(cpu_ms_per_call=2.0, calls_per_second=200)
    chosen = recommend("detector_reset", findings)

    assert template_holds(chosen, 1024) == "yes"
    assert template_holds(chosen, 512) == "no"  # 0.4 vCPU does not fit in 0.29
    assert template_holds(chosen, None) == "-"


def test_a_batch_s_calls_overlap_their_latency_and_share_the_cpu() -> None:
    batch, one = ForwarderCpu(single_cpu_ms=1.0, batch_cpu_ms=10.0, latency_ms=50).modelled_ms(1769)
    assert (batch, one) == (60.0, 51.0)


# --- locations in profiles ----------------------------------------------------------------------------


def test_locations_lose_the_machines_folders() -> None:
    assert (
        short_location("/x/.venv/lib/python3.13/site-packages/jmespath/visitor.py") == "jmespath/visitor.py"
    )
    assert short_location("/usr/lib/python3.13/json/decoder.py") == "json/decoder.py"
    assert (
        short_location("/home/u/repo/layers/shared/iotbridge/clients.py")
        == "layers/shared/iotbridge/clients.py"
    )


def test_profiled_time_is_grouped_by_distribution_or_project_part() -> None:
    assert package_of("botocore/hooks.py") == "botocore"
    assert package_of("layers/shared/iotbridge/webhook_receiver/adapters.py") == "layers/shared/iotbridge"
    assert package_of("~") == "(built-in)"


def test_import_time_is_summed_by_top_level_package_without_counting_twice() -> None:
    from bench.cold_start import imports_by_distribution

    totals = dict(imports_by_distribution(parse_importtime(IMPORTTIME)))

    assert totals == {"boto3": 0.5, "botocore": 2.0, "(standard library)": 0.12, "handler_helpers": 0.9}


def test_imports_after_the_init_phase_are_not_counted_as_the_init_s() -> None:
    from bench.lambda_init import INIT_DONE

    costs = parse_importtime(
        IMPORTTIME + INIT_DONE + "\nimport time:       700 |        700 | bench.answered_aws\n"
    )

    assert "bench.answered_aws" not in [c.module for c in costs]
    assert len(costs) == 4


# --- the connector ----------------------------------------------------------------------------------------


def _answered(aws: AnsweredAws, service: str) -> Any:
    # botocore's events name a service by its id: "secrets-manager" for the "secretsmanager" client.
    named = {"secretsmanager": "secrets-manager"}.get(service, service)
    return answered_client(
        service, lambda request, operation: aws.serve(request, f"before-send.{named}.{operation}")
    )


def _pending(request_id: str) -> PendingRequest:
    return PendingRequest(COMMAND, "lumen-home", request_id, "user-1", 1_000.0, 1_060.0)


def test_the_correlation_table_records_a_request_once_and_a_retry_finds_it_handed_over() -> None:
    # The connector's own table code drives the answers through botocore, so they answer what it asks.
    clock = _Clock(1_000.0)
    aws = AnsweredAws(clock=clock)
    table = CorrelationTable(_answered(aws, "dynamodb"), "correlation", retention_seconds=600, clock=clock)
    request = _pending("trace-1")

    assert table.begin(request, lease_seconds=2) is Begun.NEW
    assert table.begin(request, lease_seconds=2) is Begun.IN_PROGRESS  # still being handed over
    table.handed_over(request)

    assert table.begin(request, lease_seconds=2) is Begun.HANDED_OVER
    ((entry,),) = [list(aws.items.values())]
    assert entry["status"] == {"S": "PENDING"}
    assert "leaseUntil" not in entry  # REMOVE applied as well as SET
    assert aws.calls == {"dynamodb.PutItem": 3, "dynamodb.UpdateItem": 1}


def test_a_released_request_is_forgotten_so_a_retry_asks_again() -> None:
    clock = _Clock(1_000.0)
    aws = AnsweredAws(clock=clock)
    table = CorrelationTable(_answered(aws, "dynamodb"), "correlation", retention_seconds=600, clock=clock)
    request = _pending("trace-2")
    table.begin(request, lease_seconds=2)

    table.release(request)

    assert aws.items == {}
    assert table.begin(request, lease_seconds=2) is Begun.NEW


def test_the_user_table_reads_back_the_status_the_connector_put() -> None:
    aws = AnsweredAws()
    users = ConnectorUserTable(_answered(aws, "dynamodb"), "users", max_age_seconds=0)

    users.set_status("lumen-home", "user-1", active=False)

    assert users.is_deactivated("lumen-home", "user-1")
    assert not users.is_deactivated("lumen-home", "user-2")


def test_the_connector_finds_its_profile_and_outbound_secret_where_the_template_says() -> None:
    from bench.connector import connector_services
    from bench.layout import CONNECTOR, template_environment
    from bridge_local.demo_clouds import LUMEN

    url = "http://127.0.0.1:9/aws-iot/requests"
    aws = AnsweredAws(**connector_services(url))
    variables, _ = template_environment(CONNECTOR)
    profiles = SsmConnectorProfiles(
        _answered(aws, "ssm"), prefix=variables["PROFILE_PARAMETER_PREFIX"], max_age_seconds=60
    )
    secrets = SecretsManagerSigningKeys(
        _answered(aws, "secretsmanager"), prefix=variables["DEVICE_CLOUD_SECRET_PREFIX"], max_age_seconds=60
    )

    profile = profiles.profile_for(LUMEN.connector_id)
    assert profile is not None and profile.device_cloud is not None
    assert profile.device_cloud.url == url
    assert secrets.secret_values(LUMEN.connector_id, None) == (LUMEN.outbound_secret,)


@pytest.mark.parametrize(
    "operation", ["AWS.ActivateUser", "AWS.DiscoverDevices", "AWS.SendCommand", "AWS.DeactivateUser"]
)
def test_each_benchmark_invocation_is_one_the_connector_takes_with_ids_of_its_own(operation: str) -> None:
    from bench.connector import invocation
    from iotbridge.connector.domain.invocations import request_id_of
    from iotbridge.connector.domain.requests import parse_invocation

    first, second = parse_invocation(invocation(operation)), parse_invocation(invocation(operation))

    assert first.payload.operation_name == operation
    if operation in ("AWS.DiscoverDevices", "AWS.SendCommand"):
        assert request_id_of(first) != request_id_of(second)  # a retry would be answered from its record


def test_a_first_command_that_did_not_reach_the_device_cloud_is_not_measured() -> None:
    good = {
        "calls": {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1, "ssm.GetParameter": 1},
        "unanswered": {},
        "device_cloud_calls": 1,
        "response": {"header": {"responseCode": 200}, "payload": {"responseMessage": "ok"}},
    }
    check_answer("command", good)
    with pytest.raises(UnexpectedAnswer):
        check_answer("command", {**good, "device_cloud_calls": 0})
    with pytest.raises(UnexpectedAnswer):
        check_answer("command", {**good, "response": {"header": {"responseCode": 504}}})


def test_the_device_cloud_s_request_counts_as_one_more_call_in_a_row() -> None:
    from bench.cold_start import phases_of

    result = {"init_cpu_s": 0.3, "invoke_cpu_s": 0.02, "init_wall_s": 0.4, "invoke_wall_s": 0.05}
    assert phases_of({**result, "calls_in_a_row": 4, "device_cloud_calls": 1}).calls_in_a_row == 5
    assert phases_of({**result, "calls_in_a_row": 4}).calls_in_a_row == 4


def test_a_warm_invocation_is_modelled_with_each_aws_call_and_the_device_cloud_s_latency() -> None:
    from bench.connector import OperationRun

    run = OperationRun(
        [1_000.0, 2_000.0, 3_000.0], [], {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1}, 1.0
    )

    assert run.aws_calls == 2
    assert run.modelled_ms(50, 1769) == pytest.approx(2.0 + 3 * 10)
    assert run.modelled_ms(50, 512) == pytest.approx(2.0 / (512 / 1769) + 30)


def test_a_warm_run_that_failed_or_did_not_ask_the_cloud_each_time_is_refused() -> None:
    from collections import Counter

    from bench.connector import CLOUD_REQUESTS, check_run
    from bench.connector import UnexpectedAnswer as Refused

    operations = {op: {"codes": {"200": 3}, "unanswered": {}} for op in CLOUD_REQUESTS}
    asked = Counter(dict.fromkeys(CLOUD_REQUESTS.values(), 3))
    check_run("connector", {"operations": operations}, asked, 3)

    failed = {**operations, "AWS.SendCommand": {"codes": {"200": 2, "504": 1}, "unanswered": {}}}
    with pytest.raises(Refused, match=r"AWS\.SendCommand"):
        check_run("connector", {"operations": failed}, asked, 3)
    with pytest.raises(Refused, match="device cloud took 2"):
        check_run("connector", {"operations": operations}, asked - Counter({"discoverDevices": 1}), 3)


def test_only_requests_the_device_cloud_verified_and_took_are_counted() -> None:
    from bench.connector import cloud_requests
    from bridge_local.device_cloud import Received

    def received(kind: str, *, verified: bool = True, status: int = 202) -> Received:
        return Received(kind, "lumen-home", None, "msg_1", verified, status, 0.0)

    found = cloud_requests(
        [
            received("sendCommand"),
            received("sendCommand", verified=False, status=401),
            received("x", status=400),
        ]
    )

    assert found == {"sendCommand": 1}
