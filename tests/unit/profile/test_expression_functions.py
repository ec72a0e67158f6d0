"""The functions a profile may call besides JMESPath's own (from_json, split, regex_extract, lower, upper,
to_epoch): JMESPath's semantics (a value of the wrong type is an error, what is not there is null), their
work counted against the webhook's one budget, and a profile that calls them wrongly refused when it is
read, at the path of the expression."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from iotbridge.profile.document import ProfileError, parse_profile
from iotbridge.profile.expressions import (
    MAX_EVALUATION_STEPS,
    MAX_JSON_TEXT_CHARS,
    MAX_REGEX_SECONDS,
    REGEX_TIMEOUT_SECONDS,
    Evaluation,
    EvaluationBudgetError,
    Expression,
    ExpressionError,
    _expression,
)


def search(text: str, context: Any, evaluation: Evaluation | None = None) -> Any:
    return _expression(text).search(context, evaluation)


def fails(text: str, context: Any) -> None:
    with pytest.raises(ExpressionError):
        search(text, context)


# --- from_json ---------------------------------------------------------------------------------------------


def test_from_json_reads_the_value_a_text_holds_and_expressions_go_on_into_it() -> None:
    payload = json.dumps({"type": "block_actions", "actions": [{"value": "on"}]})
    assert search("from_json(body.payload).actions[0].value", {"body": {"payload": payload}}) == "on"


@pytest.mark.parametrize("text", ['"text"', "12.5", "true", "null", "[]"])
def test_from_json_gives_any_json_value(text: str) -> None:
    assert search("from_json(@)", text) == json.loads(text)


@pytest.mark.parametrize("value", [12, None, [], {}])
def test_from_json_of_anything_but_text_is_an_error_as_jmespaths_own_functions(value: Any) -> None:
    fails("from_json(@)", value)


@pytest.mark.parametrize("text", ["{", "NaN", "Infinity", "-Infinity", '{"t": NaN}', "[1, Infinity]", ""])
def test_from_json_refuses_what_is_not_json_nan_and_the_infinities_among_it(text: str) -> None:
    fails("from_json(@)", text)


def test_from_json_refuses_json_nested_deeper_than_the_parser_follows() -> None:
    fails("from_json(@)", "[" * 100_000 + "]" * 100_000)


def test_from_json_refuses_text_longer_than_its_bound_before_parsing_it() -> None:
    text = json.dumps("x" * MAX_JSON_TEXT_CHARS)
    fails("from_json(@)", text)
    assert search("from_json(@)", text[: MAX_JSON_TEXT_CHARS - 1] + '"') == "x" * (MAX_JSON_TEXT_CHARS - 2)


# --- split, lower, upper -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "separator", "pieces"),
    [
        ("255:128:0", ":", ["255", "128", "0"]),
        ("a::b", ":", ["a", "", "b"]),
        ("abc", ",", ["abc"]),
        ("", ",", [""]),
        ("abc", "", ["a", "b", "c"]),  # as JMESPath Community's split: each character
        ("a--b--c", "--", ["a", "b", "c"]),
    ],
)
def test_split_gives_the_pieces_between_separators(text: str, separator: str, pieces: list[str]) -> None:
    assert search("split(t, s)", {"t": text, "s": separator}) == pieces


def test_split_pieces_go_on_into_jmespath() -> None:
    assert search("to_number(split(event.color, ':')[1])", {"event": {"color": "255:128:0"}}) == 128


@pytest.mark.parametrize("context", [{"t": 1, "s": ":"}, {"t": "a", "s": None}, {"s": ":"}])
def test_split_of_anything_but_texts_is_an_error(context: dict[str, Any]) -> None:
    fails("split(t, s)", context)


def test_lower_and_upper_change_a_texts_case() -> None:
    context = {"scale": "Celsius", "word": "straße"}
    assert search("lower(scale)", context) == "celsius"
    assert search("upper(scale)", context) == "CELSIUS"
    assert search("upper(word)", context) == "STRASSE"


def test_lower_makes_a_comparison_ignore_case() -> None:
    assert search("lower(event.state) == 'on'", {"event": {"state": "ON"}}) is True


@pytest.mark.parametrize("value", [None, 3, ["A"]])
def test_lower_and_upper_of_anything_but_text_are_errors(value: Any) -> None:
    fails("lower(@)", value)
    fails("upper(@)", value)


# --- regex_extract -----------------------------------------------------------------------------------------


def test_regex_extract_gives_the_whole_first_match_by_default() -> None:
    assert search("regex_extract(t, '[0-9]+')", {"t": "temp 21 then 22"}) == "21"


def test_regex_extract_gives_a_numbered_or_named_group() -> None:
    context = {"t": "device=lamp-7;state=on"}
    assert search("regex_extract(t, 'device=([a-z]+)-([0-9]+)', `2`)", context) == "7"
    assert search("regex_extract(t, 'state=(?P<state>\\w+)', 'state')", context) == "on"


def test_regex_extract_of_text_it_does_not_match_is_null() -> None:
    assert search("regex_extract(t, 'x=(\\d+)', `1`)", {"t": "y=1"}) is None


def test_regex_extract_of_a_group_that_took_no_part_in_the_match_is_null() -> None:
    assert search("regex_extract(t, '(a)|(b)', `1`)", {"t": "b"}) is None


@pytest.mark.parametrize("value", [None, 12, ["a"]])
def test_regex_extract_of_anything_but_text_is_an_error(value: Any) -> None:
    fails("regex_extract(@, 'a')", value)


def test_a_pattern_that_backtracks_without_end_is_stopped_at_its_timeout() -> None:
    # GIVEN a pattern the regex module backtracks on exponentially, and text that makes it
    expression = _expression("regex_extract(@, '(a|aa)+$')")
    started = time.monotonic()
    # WHEN it is evaluated
    with pytest.raises(ExpressionError):
        expression.search("a" * 60 + "b")
    # THEN it stops at the timeout, not when the backtracking would end (never, in practice)
    assert time.monotonic() - started < REGEX_TIMEOUT_SECONDS + 1


def test_one_webhooks_regular_expressions_share_one_time_budget() -> None:
    # GIVEN one evaluation, and a pattern that runs out of time on every event
    evaluation = Evaluation()
    expression = _expression("regex_extract(@, '(a|aa)+$')")
    calls = 0
    # WHEN it runs until the evaluation refuses
    with pytest.raises(EvaluationBudgetError):
        while calls < 100:
            calls += 1
            try:
                expression.search("a" * 60 + "b", evaluation)
            except ExpressionError:
                continue
    # THEN the webhook spent about MAX_REGEX_SECONDS, not 100 timeouts
    assert calls <= MAX_REGEX_SECONDS / REGEX_TIMEOUT_SECONDS + 2


# --- to_epoch ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1970-01-01T00:00:00Z", 0),
        (
            "2021-02-26T19:13:55.749Z",
            1614366835.749,
        ),  # Pub/Sub's publishTime (cloud.google.com/pubsub/docs/push)
        ("2021-02-26T19:13:55.749123456Z", 1614366835.749123456),  # nanoseconds, as Google's APIs may send
        ("2021-02-26T21:13:55+02:00", 1614366835),
        ("2021-02-26T14:13:55-0500", 1614366835),
        ("2021-02-26t19:13:55z", 1614366835),  # RFC 3339 allows lower case
        ("2021-02-26 19:13:55Z", 1614366835),  # and a space
        ("2016-12-31T23:59:60Z", 1483228800),  # a leap second: the next minute's first second
        ("2021-02-26T19:13:55.000Z", 1614366835),
    ],
)
def test_to_epoch_reads_an_rfc_3339_date_time_as_seconds_since_the_epoch(text: str, seconds: float) -> None:
    assert search("to_epoch(@)", text) == pytest.approx(seconds, abs=1e-6)


def test_to_epoch_of_whole_seconds_is_a_whole_number() -> None:
    found = search("to_epoch(@)", "2021-02-26T19:13:55Z")
    assert found == 1614366835 and isinstance(found, int)


@pytest.mark.parametrize(
    "text",
    [
        "2021-02-26T19:13:55",  # no offset: names no one instant
        "2021-02-26",
        "19:13:55Z",
        "2021-02-30T00:00:00Z",
        "2021-02-26T25:00:00Z",
        "yesterday",
        "",
        "2021-02-26T19:13:55Z" + " " * 100,
    ],
)
def test_to_epoch_of_text_that_is_no_instant_is_null_as_to_number_of_text_that_is_no_number(
    text: str,
) -> None:
    assert search("to_epoch(@)", text) is None


def test_to_epoch_of_anything_but_text_is_an_error() -> None:
    fails("to_epoch(@)", 1614366835)


# --- The budget ---------------------------------------------------------------------------------------------


def test_a_functions_arguments_and_result_are_counted_as_the_builtins_are() -> None:
    # GIVEN text of 6,399 characters that splits into 800 pieces
    text = ",".join(["abcdefg"] * 800)
    evaluation = Evaluation()
    # WHEN split reads it
    search("split(@, ',')", text, evaluation)
    # THEN it paid for the text (one step per 64 characters) and for each piece it gave back
    spent = MAX_EVALUATION_STEPS - evaluation.steps_left
    assert spent >= len(text) // 64 + 800


def test_a_function_called_once_per_event_on_the_whole_body_stops_at_the_budget() -> None:
    # GIVEN a body of 2,000 events of which each reads the whole body as text, through the functions
    body = {"events": [{"text": "x" * 40_000}] * 2_000}
    expression = _expression("length(split(lower(@), 'x'))")
    evaluation = Evaluation()
    # WHEN every event's text is read
    with pytest.raises(EvaluationBudgetError):
        for event in body["events"]:
            expression.search(event["text"], evaluation)
    # THEN the webhook stopped at its budget


def test_expressions_with_functions_are_not_on_the_fast_path_and_keep_jmespaths_meaning() -> None:
    expression = _expression("upper(event.state) == 'ON' && !contains(event.tags, 'muted')")
    assert isinstance(expression, Expression) and expression.fast is None
    assert expression.search({"event": {"state": "on", "tags": ["a"]}}) is True


# --- Validation ---------------------------------------------------------------------------------------------

RULE: dict[str, Any] = {
    "name": "state",
    "operation": "DEVICE_EVENT",
    "members": {"ConnectorDeviceId": "event.id"},
    "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
}
PROFILE: dict[str, Any] = {
    "version": 1,
    "verification": {"scheme": "hmac", "signatureHeader": "X-Signature"},
    "deduplication": {"digest": True},
    "rules": [RULE],
}


def problems_with_when(when: str) -> list[tuple[str, str]]:
    document = copy.deepcopy(PROFILE)
    document["rules"][0]["when"] = when
    with pytest.raises(ProfileError) as caught:
        parse_profile(document)
    return [(p.path, p.rule) for p in caught.value.problems]


def test_an_unknown_function_is_refused_at_the_rules_path_with_the_known_ones() -> None:
    [(path, rule)] = problems_with_when("from_jsn(event.payload).type == 'x'")
    assert path == "rules[0].when"
    assert rule.startswith("unknown function from_jsn(); known: abs, avg,")
    assert all(name in rule for name in ("from_json", "split", "regex_extract", "lower", "upper", "to_epoch"))


def test_an_unknown_function_deep_inside_an_expression_is_found() -> None:
    [(path, rule)] = problems_with_when("event.a && (event.b || length(trim(event.c)) > `0`)")
    assert (path, rule.split(";")[0]) == ("rules[0].when", "unknown function trim()")


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("lower(event.a, event.b) == 'x'", "lower() takes 1 argument, not 2"),
        ("split(event.a) == `[]`", "split() takes 2 arguments, not 1"),
        ("regex_extract(event.a) == 'x'", "regex_extract() takes 2 to 3 arguments, not 1"),
        ("regex_extract(event.a, 'x', `0`, `1`) == 'x'", "regex_extract() takes 2 to 3 arguments, not 4"),
        ("length(event.a, event.b) > `0`", "length() takes 1 argument, not 2"),
        ("to_epoch() > `0`", "to_epoch() takes 1 argument, not 0"),
    ],
)
def test_a_known_function_with_the_wrong_number_of_arguments_is_refused(when: str, expected: str) -> None:
    assert problems_with_when(when) == [("rules[0].when", expected)]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("regex_extract(event.a, event.pattern) == 'x'", "pattern must be a literal text"),
        ("regex_extract(event.a, `1`) == 'x'", "pattern must be a literal text"),
        ("regex_extract(event.a, '(unclosed') == 'x'", "is not a regular expression"),
        ("regex_extract(event.a, 'a(b)', `2`) == 'x'", "has groups 0 to 1, not 2"),
        ("regex_extract(event.a, 'a(b)', `1.5`) == 'x'", "has groups 0 to 1, not 1.5"),
        ("regex_extract(event.a, 'a(?P<x>b)', 'y') == 'x'", "has no group named 'y'"),
        ("regex_extract(event.a, 'a(b)', event.group) == 'x'", "group must be a literal number or name"),
        ("regex_extract(event.a, 'a(b)', `true`) == 'x'", "group must be a literal number or name"),
    ],
)
def test_a_regex_extract_whose_pattern_or_group_cannot_be_used_is_refused(when: str, expected: str) -> None:
    [(path, rule)] = problems_with_when(when)
    assert path == "rules[0].when" and expected in rule


def test_a_pattern_given_as_a_json_literal_is_a_literal_too() -> None:
    assert search('regex_extract(@, `"[0-9]+"`)', "a1") == "1"


def test_functions_are_checked_in_every_expression_of_a_profile() -> None:
    # GIVEN an unknown function in a member's source, deep inside the rule
    document = copy.deepcopy(PROFILE)
    document["rules"][0]["matterEndpoint"]["set"][0]["from"] = "to_bool(event.on)"
    # WHEN the profile is read
    with pytest.raises(ProfileError) as caught:
        parse_profile(document)
    # THEN the problem is at that member
    [problem] = caught.value.problems
    assert problem.path == "rules[0].matterEndpoint.set[0].from"
    assert problem.rule.startswith("unknown function to_bool()")
