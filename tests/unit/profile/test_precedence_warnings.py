"""Expressions JMESPath accepts that say something other than what they read as: `profile validate` warns of
them. Each trap is shown to be one by evaluating it (it never finds what it seems to ask), and the fix the
warning gives is shown to find it."""

from __future__ import annotations

import pytest

from iotbridge.profile.expressions import _expression, precedence_warnings

EVENT = {"event": {"state": {"on": True}, "muted": False, "type": "state", "true": "a field"}}


def test_not_before_a_path_applies_to_its_first_name_alone_and_always_finds_null() -> None:
    # GIVEN `!event.muted`, which reads as "not muted" and is (!event).muted
    trap = "!event.muted"
    # THEN it finds null whatever the event says, the warning names the trap, and its fix means the reading
    assert _expression(trap).search(EVENT) is None
    [warning] = precedence_warnings(trap)
    assert warning.startswith("!event.muted reads as (!event).muted")
    assert warning.endswith("write !(event.muted)")
    assert _expression("!(event.muted)").search(EVENT) is True


def test_not_before_a_longer_path_names_the_whole_path() -> None:
    [warning] = precedence_warnings("!event.state.on")
    assert "(!event).state.on" in warning and "!(event.state.on)" in warning


@pytest.mark.parametrize(
    ("trap", "reading"),
    [
        ("!event.tags[0]", "(!event).tags[0]"),
        ("!event.tags[*].name", "(!event).tags[*].name"),
        ("!event.type == 'state'", "(!event).type"),
        ("event.type == 'state' && !event.muted", "(!event).muted"),
    ],
)
def test_not_before_a_path_is_found_wherever_the_path_goes_on(trap: str, reading: str) -> None:
    assert _expression(trap).search({"event": {"tags": ["y"], "type": "plug"}}) in (None, False)
    [warning] = precedence_warnings(trap)
    assert f"reads as {reading}" in warning


def test_not_before_a_filter_applies_to_the_list_alone() -> None:
    trap = "!tags[?starts_with(@, 'x')]"
    assert _expression(trap).search({"tags": ["y"]}) is None
    [warning] = precedence_warnings(trap)
    assert "applies `!` to tags alone" in warning


def test_a_negated_comparison_compares_the_negation() -> None:
    # GIVEN `!type == 'state'`, which reads as "type is not state" and is (!type) == 'state'
    trap = "!type == 'state'"
    assert _expression(trap).search({"type": "plug"}) is False
    # THEN the warning says so, and its fix means the reading
    assert precedence_warnings(trap) == [
        "!type == 'state' compares (!type), true or false, with 'state'; "
        "write !(type == 'state') for the opposite of the comparison"
    ]
    assert _expression("!(type == 'state')").search({"type": "plug"}) is True


def test_a_double_quoted_operand_is_a_field_not_text() -> None:
    trap = 'event.type == "state"'
    assert _expression(trap).search(EVENT) is False
    [warning] = precedence_warnings(trap)
    assert warning.startswith('"state" is the field named state')
    assert "write 'state'" in warning
    assert _expression("event.type == 'state'").search(EVENT) is True


@pytest.mark.parametrize("word", ["true", "false", "null"])
def test_a_bare_true_false_or_null_operand_is_a_field_of_that_name(word: str) -> None:
    [warning] = precedence_warnings(f"event.state.on == {word}")
    assert warning == f"{word} is the field named {word}, not the value: write `{word}` (backticks)"
    assert _expression("event.state.on == true").search(EVENT) is False
    assert _expression("event.state.on == `true`").search(EVENT) is True


def test_a_bare_word_on_the_left_is_found_too() -> None:
    assert precedence_warnings("null != event.type") == [
        "null is the field named null, not the value: write `null` (backticks)"
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "!(event.muted)",
        "!event",
        "event.type == 'state' && !(event.muted)",
        "!tags[0]",  # parsed as !(tags[0])
        "!tags[*].name",  # parsed as !(tags[*].name)
        "event.\"device-id\" == 'lamp'",  # a quoted name for a field with a dash: meant
        'event."true" == `true`',
        "event.true == 'a field'",  # a field named true, read through a path: meant
        '"state" == event.type',  # a quoted name on the left: a field, as meant
        'event.type == `"state"`',
        "!(event.muted) || event.type != 'state'",
    ],
)
def test_expressions_that_mean_what_they_read_as_get_no_warning(expression: str) -> None:
    assert precedence_warnings(expression) == []


def test_traps_inside_filters_and_functions_are_found() -> None:
    found = precedence_warnings('length(body.events[?!state.on && type == "x"]) > `0`')
    assert len(found) == 2
    assert found[0].startswith("!state.on reads as (!state).on")
    assert found[1].startswith('"x" is the field named x')


def test_one_warning_per_trap_however_often_it_appears() -> None:
    assert len(precedence_warnings("!a.b || !a.b")) == 1


def test_an_expression_that_does_not_compile_gets_no_warning() -> None:
    # Validation reports it; warnings are for expressions JMESPath accepts.
    assert precedence_warnings("event.[") == []
