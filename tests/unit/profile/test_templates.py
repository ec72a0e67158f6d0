"""Request templates (iotbridge.profile.templates): text with `{expression}` placeholders and JSON whose
strings are templates, compiled when the profile is read and filled in for each request."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from iotbridge.profile.expressions import Evaluation, EvaluationBudgetError
from iotbridge.profile.templates import (
    MAX_JSON_TEMPLATE_DEPTH,
    MAX_JSON_TEMPLATE_STRINGS,
    MAX_PLACEHOLDERS,
    MAX_TEMPLATE_CHARS,
    JsonTemplate,
    JsonTemplateField,
    TemplateError,
    TextTemplate,
    TextTemplateField,
)
from iotbridge.wire import CamelModel

SECRET = "s3cr3t-value-never-shown"


class Holder(CamelModel):
    text: TextTemplateField
    body: JsonTemplateField | None = None


# --- Text ---------------------------------------------------------------------------------------------------


def test_placeholders_are_filled_and_the_text_around_them_kept() -> None:
    template = TextTemplate("/v1.1/devices/{device.id}/commands")

    assert template.render({"device": {"id": "C0FFEE"}}) == "/v1.1/devices/C0FFEE/commands"
    assert [str(e) for e in template.expressions] == ["device.id"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (1.0, "1"),  # JSON's 1, not Python's 1.0
        (0.5, "0.5"),
        (-3, "-3"),
        (True, "true"),
        (False, "false"),
        ("on", "on"),
        ("", ""),
    ],
)
def test_a_scalar_is_written_as_json_writes_it(value: Any, text: str) -> None:
    assert TextTemplate("{v}").render({"v": value}) == text


@pytest.mark.parametrize(
    ("value", "found"),
    [(None, "nothing found"), ({"secret": SECRET}, "an object found"), ([SECRET], "a list found")],
)
def test_null_an_object_or_a_list_is_an_error_naming_the_expression_never_the_value(
    value: Any, found: str
) -> None:
    # GIVEN a template whose placeholder finds no text
    template = TextTemplate("Bearer {secret.token}")

    # WHEN it is rendered THEN the error names the placeholder, not what it found
    with pytest.raises(TemplateError) as caught:
        template.render({"secret": {"token": value}})
    assert found in caught.value.reason
    assert "{secret.token}" in caught.value.reason
    assert SECRET not in str(caught.value)


def test_a_missing_member_is_an_error_not_the_empty_text() -> None:
    with pytest.raises(TemplateError):
        TextTemplate("/devices/{device.id}").render({"device": {"id": None}})


def test_an_expression_that_cannot_be_evaluated_is_a_template_error() -> None:
    with pytest.raises(TemplateError) as caught:
        TextTemplate("{length(n)}").render({"n": 7})
    assert "{length(n)}" in caught.value.reason


def test_doubled_braces_are_literal_braces() -> None:
    template = TextTemplate("{{literal}} {{{v}}} }}")

    assert template.render({"v": "x"}) == "{literal} {x} }"
    assert [str(e) for e in template.expressions] == ["v"]


def test_a_template_without_placeholders_is_its_text() -> None:
    template = TextTemplate("application/json; charset=utf8")

    assert template.is_literal
    assert template.render({}) == "application/json; charset=utf8"


@pytest.mark.parametrize("source", ["a { b", "a } b", "{", "}", "{}", "x{a}}"])
def test_a_lone_brace_is_refused_when_read(source: str) -> None:
    with pytest.raises(ValueError, match="literal brace"):
        TextTemplate(source)


def test_a_placeholder_that_is_no_expression_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"placeholder \{device\[\}"):
        TextTemplate("/{device[}")


def test_escape_applies_to_what_placeholders_find_only() -> None:
    # GIVEN a path whose placeholder finds text with a slash
    template = TextTemplate("/devices/{device.id}/status")

    # WHEN it is rendered with a path segment's encoding
    rendered = template.render({"device": {"id": "a/b c"}}, escape=lambda text: text.replace("/", "%2F"))

    # THEN the value is encoded and the profile's own slashes are not
    assert rendered == "/devices/a%2Fb c/status"


def test_a_template_has_a_bounded_size_and_number_of_placeholders() -> None:
    assert len(TextTemplate("{a}" * MAX_PLACEHOLDERS).expressions) == MAX_PLACEHOLDERS
    with pytest.raises(ValueError, match="placeholders"):
        TextTemplate("{a}" * (MAX_PLACEHOLDERS + 1))
    TextTemplate("x" * MAX_TEMPLATE_CHARS)
    with pytest.raises(ValueError, match="characters"):
        TextTemplate("x" * (MAX_TEMPLATE_CHARS + 1))


def test_rendering_counts_its_work_against_the_evaluation_given() -> None:
    # A function call goes through the counting interpreter: a budget of one step cannot pay for it.
    with pytest.raises(EvaluationBudgetError):
        TextTemplate("{length(items)}").render({"items": [1, 2, 3]}, Evaluation(steps=1))


# --- JSON ---------------------------------------------------------------------------------------------------


def test_a_string_that_is_one_placeholder_keeps_the_json_type_found() -> None:
    template = JsonTemplate({"command": "{command}", "n": "{n}", "on": "{on}", "gone": "{gone}"})

    rendered = template.render({"command": {"command": "turnOn"}, "n": 2.5, "on": False})

    assert rendered == {"command": {"command": "turnOn"}, "n": 2.5, "on": False, "gone": None}


def test_other_strings_are_text_and_other_values_are_kept() -> None:
    template = JsonTemplate(
        {
            "parameter": "{level}%",
            "literal": "{{level}}",
            "list": [1, None, True, "id-{id}"],
            "nested": {"x": 1.5},
        }
    )

    rendered = template.render({"level": 40, "id": 7})

    assert rendered == {
        "parameter": "40%",
        "literal": "{level}",
        "list": [1, None, True, "id-7"],
        "nested": {"x": 1.5},
    }


def test_object_keys_are_literal() -> None:
    assert JsonTemplate({"{k}": "v"}).render({"k": "x"}) == {"{k}": "v"}


def test_a_whole_string_template_may_be_the_body() -> None:
    assert JsonTemplate("{command}").render({"command": [1, 2]}) == [1, 2]


def test_reads_lists_every_placeholder_in_document_order() -> None:
    template = JsonTemplate({"a": "{x}", "b": ["{y}-{z}"], "c": 3})

    assert [str(e) for e in template.reads()] == ["x", "y", "z"]


def test_each_render_builds_new_containers() -> None:
    template = JsonTemplate({"list": [1]})

    first = template.render({})
    first["list"].append(2)

    assert template.render({}) == {"list": [1]}


def test_a_placed_template_names_the_string_at_fault() -> None:
    # GIVEN a body placed at its path in the profile
    template = JsonTemplate({"items": ["ok", "id-{device.id}"]})
    template.place("sendCommand.request.body")

    # WHEN a text placeholder finds nothing THEN the error names where, to the string
    with pytest.raises(TemplateError) as caught:
        template.render({"device": {}})
    assert caught.value.where == "sendCommand.request.body.items[1]"


def test_json_nests_at_most_the_bound() -> None:
    def nested(depth: int) -> Any:
        value: Any = "{x}"
        for _ in range(depth):
            value = [value]
        return value

    deepest = JsonTemplate(nested(MAX_JSON_TEMPLATE_DEPTH)).render({"x": "found"})
    for _ in range(MAX_JSON_TEMPLATE_DEPTH):
        (deepest,) = deepest
    assert deepest == "found"
    with pytest.raises(ValueError, match="nests at most"):
        JsonTemplate(nested(MAX_JSON_TEMPLATE_DEPTH + 1))


def test_a_body_a_thousand_levels_deep_is_refused_not_a_recursion_error() -> None:
    value: Any = 1
    for _ in range(5000):
        value = {"a": value}
    with pytest.raises(ValueError, match="nests at most"):
        JsonTemplate(value)


def test_json_has_a_bounded_number_of_strings() -> None:
    JsonTemplate(["x"] * MAX_JSON_TEMPLATE_STRINGS)
    with pytest.raises(ValueError, match="strings"):
        JsonTemplate(["x"] * (MAX_JSON_TEMPLATE_STRINGS + 1))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), {1: "x"}])
def test_what_json_cannot_hold_is_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        JsonTemplate({"a": value})


def test_a_string_problem_names_where_in_the_json() -> None:
    with pytest.raises(ValueError, match=r"^a\.b\[1\]: a lone"):
        JsonTemplate({"a": {"b": ["ok", "{"]}})


# --- As pydantic fields ------------------------------------------------------------------------------------


def test_fields_compile_from_the_document_and_dump_back_to_it() -> None:
    holder = Holder.model_validate({"text": "/d/{device.id}", "body": {"c": "{command}"}})

    assert isinstance(holder.text, TextTemplate)
    assert isinstance(holder.body, JsonTemplate)
    assert holder.model_dump(by_alias=True) == {"text": "/d/{device.id}", "body": {"c": "{command}"}}
    assert Holder.model_validate(holder.model_dump(by_alias=True)) == holder


@pytest.mark.parametrize(
    ("document", "where", "rule"),
    [
        ({"text": 5}, "text", "must be text"),
        ({"text": "{"}, "text", "literal brace"),
        ({"text": "x" * (MAX_TEMPLATE_CHARS + 1)}, "text", "characters"),
        ({"text": "/", "body": {"a": "{b[}"}}, "body", "placeholder"),
    ],
)
def test_a_field_that_is_no_template_is_a_problem_at_its_path(
    document: dict[str, Any], where: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Holder.model_validate(document)
    (error,) = caught.value.errors()
    assert error["loc"] == (where,)
    assert rule in error["msg"]
