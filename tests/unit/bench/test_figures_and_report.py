"""Statistics, goals, and the tables and document the figures are reported in.

No timing is asserted here: benchmarks never fail on a slow machine.
"""

from __future__ import annotations

import math

import pytest

from bench.report import Section, document, markdown_table, text_table
from bench.stats import Figure, Goal, format_number, median, percentile, ratio


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
