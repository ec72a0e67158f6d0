"""The benchmark code's own logic: statistics, goals, tables, import-time parsing, patches and fakes.

No timing is asserted here: benchmarks never fail on a slow machine.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from bench.cold_start import Patch, PatchDoesNotApply, apply_patches, parse_importtime, top_imports
from bench.forwarder_batch import groups_in_order
from bench.lambda_layer import requirement_names
from bench.receiver import short_location
from bench.report import Section, document, markdown_table, text_table
from bench.service_fakes import FakeDynamoDb, FakeSqs
from bench.sizing import PeakMemory, recommendations, reset_cpu_floor_mb
from bench.stats import Figure, Goal, format_number, median, percentile, ratio, recommend_memory_mb
from botocore.exceptions import ClientError

from iotbridge.receiver.adapters import IdempotencyTableDeduplicator
from iotbridge.receiver.ports import WebhookInProgressError

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


# --- in-memory services -----------------------------------------------------------------------------------


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _deduplicator(table: FakeDynamoDb, clock: _Clock) -> IdempotencyTableDeduplicator:
    # The receiver's own deduplication code drives the fake, so the fake answers what the code asks.
    return IdempotencyTableDeduplicator(
        table, "t", window_seconds=1_000, fingerprint_key=b"k" * 32, clock=clock
    )


def test_the_dedupe_table_refuses_a_live_record_and_returns_it_like_dynamodb() -> None:
    table, clock = FakeDynamoDb(), _Clock(1_000.0)
    dedupe = _deduplicator(table, clock)
    dedupe.once("c", "w", lambda: {"queued": 1})
    clock.now = 1_500.0

    assert dedupe.once("c", "w", lambda: {"queued": 2}) == ({"queued": 1}, True)
    ((record,),) = [list(table.items.values())]
    assert record["expiration"] == {"N": "2000"}
    assert record["status"] == {"S": "COMPLETED"}


def test_the_dedupe_table_lets_an_expired_record_be_replaced() -> None:
    table, clock = FakeDynamoDb(), _Clock(1_000.0)
    dedupe = _deduplicator(table, clock)
    dedupe.once("c", "w", lambda: {"queued": 1})
    clock.now = 2_001.0

    assert dedupe.once("c", "w", lambda: {"queued": 2}) == ({"queued": 2}, False)
    ((record,),) = [list(table.items.values())]
    assert record["expiration"] == {"N": "3001"}


def test_the_dedupe_table_answers_in_progress_until_the_owner_s_time_is_up() -> None:
    table, clock = FakeDynamoDb(), _Clock(1_000.0)
    dedupe = _deduplicator(table, clock)

    def interrupted() -> dict[str, int]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dedupe.once("c", "w", interrupted)
    assert table.items == {}  # a failed hand-off releases its record
    table.put_item(
        TableName="t",
        Item={
            "id": {"S": IdempotencyTableDeduplicator.record_id("c", "w")},
            "status": {"S": "IN_PROGRESS"},
            "expiration": {"N": "2000"},
            "in_progress_expiration": {"N": "1010000"},
        },
    )
    with pytest.raises(WebhookInProgressError):
        dedupe.once("c", "w", lambda: {"queued": 1})
    clock.now = 1_011.0
    assert dedupe.once("c", "w", lambda: {"queued": 1}) == ({"queued": 1}, False)


def test_the_queue_takes_at_most_ten_entries_and_keeps_nothing_when_told_not_to() -> None:
    queue = FakeSqs(keep=False)
    entries = [{"Id": str(i), "MessageBody": "{}", "MessageGroupId": "g"} for i in range(10)]

    answer = queue.send_message_batch(QueueUrl="q", Entries=entries)

    assert [s["Id"] for s in answer["Successful"]] == [str(i) for i in range(10)]
    assert (queue.sent, queue.messages) == (10, [])
    with pytest.raises(ClientError):
        queue.send_message_batch(QueueUrl="q", Entries=[*entries, {**entries[0], "Id": "10"}])


# --- memory sizing ----------------------------------------------------------------------------------------


def test_memory_is_peak_times_headroom_rounded_up_to_the_step_within_lambdas_range() -> None:
    assert recommend_memory_mb(100, headroom=1.5) == 192
    assert recommend_memory_mb(10) == 128
    assert recommend_memory_mb(100, cpu_floor_mb=512) == 512
    assert recommend_memory_mb(100_000) == 10_240


def test_the_reset_cpu_floor_is_the_vcpu_share_its_pace_needs() -> None:
    # 2 ms of CPU per call at 200 calls/s is 0.4 vCPU: 0.4 x 1,769 MB.
    assert reset_cpu_floor_mb(2.0, 200) == 708
    assert reset_cpu_floor_mb(0.1, 200) == 256
    assert reset_cpu_floor_mb(None, 200) == 256


def test_every_measured_function_gets_a_recommendation_at_least_its_peak_with_headroom() -> None:
    peaks = PeakMemory()
    peaks.add("detector_reset", 300)
    peaks.add("detector_reset", 200)  # the largest peak counts
    chosen = recommendations(peaks)
    assert chosen["detector_reset"][0] == 512  # 300 x 1.5 = 450, rounded up to 64 MB steps


def test_locations_lose_the_machines_folders() -> None:
    assert short_location("/x/.venv/lib/python3.13/site-packages/jmespath/visitor.py:92") == (
        "jmespath/visitor.py:92"
    )
    assert short_location("/usr/lib/python3.13/json/decoder.py:336") == "json/decoder.py:336"
