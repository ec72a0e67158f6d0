"""A profile, or an expression, that the code cannot take is a ProfileError or an ExpressionError with a
bounded list of problems: never another exception (which the receiver would answer 503 on every retry)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iotbridge.errors import MAX_LISTED_PROBLEMS
from iotbridge.profile.document import ProfileError, parse_profile_json
from iotbridge.profile.expressions import Evaluation, EvaluationBudgetError, ExpressionError, _expression
from samples.device_clouds import LUMEN


def lumen_document() -> dict[str, Any]:
    return dict(json.loads(LUMEN.profile_file.read_text()))


def test_an_expression_nested_a_thousand_deep_is_a_profile_error_naming_its_field() -> None:
    # GIVEN a 2.3 KB profile whose first rule's condition nests 1,000 parentheses
    document = lumen_document()
    document["rules"][0]["when"] = "(" * 1000 + "event.x" + ")" * 1000
    # WHEN it is parsed
    with pytest.raises(ProfileError) as refused:
        parse_profile_json(json.dumps(document))
    # THEN it is refused like any other invalid profile, by the field's path, in a short message
    assert [p.path for p in refused.value.problems] == ["rules[0].when"]
    assert "nested too deep" in refused.value.problems[0].rule
    assert len(str(refused.value)) < 500


def test_a_profile_with_very_many_problems_lists_the_first_ones_and_counts_the_rest() -> None:
    # GIVEN a profile of 50 rules, each with three unknown members (150 problems)
    document = lumen_document()
    document["rules"] = [rule | {"a": 1, "b": 2, "c": 3} for rule in document["rules"]] * 13
    document["rules"] = document["rules"][:50]
    # WHEN it is parsed
    with pytest.raises(ProfileError) as refused:
        parse_profile_json(json.dumps(document))
    # THEN the first MAX_LISTED_PROBLEMS are listed and the rest counted, in the message too
    assert len(refused.value.problems) == MAX_LISTED_PROBLEMS
    assert refused.value.more >= 50
    assert f"... and {refused.value.more} more" in str(refused.value)


def test_a_sum_beyond_any_float_is_an_expression_error() -> None:
    # GIVEN a sum over a 400-digit integer and a float
    expression = _expression("sum(xs)")
    # WHEN it is evaluated THEN it cannot be, as an ExpressionError (not Python's OverflowError)
    with pytest.raises(ExpressionError):
        expression.search({"xs": [10**400, 1.5]})


def test_an_evaluation_stops_when_its_budget_is_spent() -> None:
    # GIVEN a projection over 1,000 items and an evaluation with a budget of 500 steps
    expression = _expression("contains(xs[*].t, 's')")
    context = {"xs": [{"t": "x"}] * 1000}
    # WHEN it is evaluated with that budget, and with the default one
    with pytest.raises(EvaluationBudgetError):
        expression.search(context, Evaluation(steps=500))
    # THEN only the small budget runs out
    assert expression.search(context) is False


def test_a_function_pays_for_the_values_it_is_given() -> None:
    # GIVEN `contains` over a 10,000-item list, read in one step of the interpreter
    expression = _expression("contains(xs, `1`)")
    evaluation = Evaluation(steps=20_000)
    # WHEN it is evaluated twice on one budget
    expression.search({"xs": [0] * 10_000}, evaluation)
    # THEN the list's items were counted, so a third evaluation exceeds the budget
    with pytest.raises(EvaluationBudgetError):
        expression.search({"xs": [0] * 10_000}, evaluation)
