"""Smithy constraint semantics: unanchored ECMAScript patterns, code-point lengths, inclusive ranges."""

from __future__ import annotations

import re
from typing import Annotated, Any

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from iotbridge.send_connector_event.smithy import (
    SmithyLength,
    SmithyPattern,
    SmithyRange,
    compile_pattern,
    ecma_to_python,
)

MATTER_ID = r"0[xX][0-9a-fA-F]+$|^[0-9]+"
# Every pattern of the SendConnectorEvent model.
MODEL_PATTERNS = [
    r"[A-Za-z0-9-_]+",
    r"[a-zA-Z0-9_.,@-]+",
    r"[0-9.]+",
    r"[\sa-zA-Z0-9_.,@-]+",
    r"[A-Za-z0-9]+",
    r"[a-zA-Z0-9:=_-]+",
    r"[\p{L}\p{N} ._-]+",
    r"1\.0\.0",
    r"[a-zA-Z0-9=_.,@\+\-/]+",
    r"[0-9a-zA-Z]+",
    r"[a-zA-Z0-9=_. ,@\+\-/]+",
    MATTER_ID,
    r"[a-zA-Z0-9.]+@(\d+\.\d+(\.\d+)?|\$latest)",
    r"[/a-zA-Z0-9\._ -]+",
    r"\d+\.\d+",
    r"[0-9a-zA-Z._-]+",
]


def rejects(annotation: Any, value: object) -> str | None:
    """The error message a constrained type gives for `value`, or None when it accepts it."""
    try:
        TypeAdapter(annotation).validate_python(value, strict=True)
    except ValidationError as exc:
        return exc.errors()[0]["msg"]
    return None


@pytest.mark.parametrize(
    ("pattern", "value", "passes"),
    [
        # Not anchored: some part of the value matching is enough.
        (r"[a-zA-Z0-9:=_-]+", "!abc!", True),
        (r"[a-zA-Z0-9:=_-]+", "!!!", False),
        (r"[\sa-zA-Z0-9_.,@-]+", "uri: auc://dev-1/switch", True),
        (r"[\sa-zA-Z0-9_.,@-]+", "://", False),
        (r"1\.0\.0", "v1.0.0-beta", True),
        (r"1\.0\.0", "1.0", False),
        # Anchors the pattern carries are honoured: ends with hex OR starts with digits.
        (MATTER_ID, "0x1A", True),
        (MATTER_ID, "123", True),
        (MATTER_ID, "12x", True),
        (MATTER_ID, "x0x1", True),
        (MATTER_ID, "0x", True),
        (MATTER_ID, "x12", False),
        (MATTER_ID, "0x1Z", True),
        (MATTER_ID, "x0x1Z", False),
        (MATTER_ID, "abc", False),
        # ECMAScript '$' is the end of input: a final newline is not skipped as Python's '$' would.
        (MATTER_ID, "x0x1\n", False),
        # Unicode letters and digits.
        (r"[\p{L}\p{N} ._-]+", "Küchen-Kühlschrank", True),
        (r"[\p{L}\p{N} ._-]+", "冷蔵庫", True),
        (r"[\p{L}\p{N} ._-]+", "٣", True),
        (r"[\p{L}\p{N} ._-]+", "@@@", False),
        # ECMAScript's \d is ASCII only.
        (r"\d+\.\d+", "1.0", True),
        (r"\d+\.\d+", "\u0661.\u0662", False),  # Arabic-Indic digits
        # ECMAScript's \s includes no-break space and the byte order mark.
        (r"[\sa-zA-Z0-9_.,@-]+", "\u00a0", True),
        (r"[\sa-zA-Z0-9_.,@-]+", "\ufeff", True),
        (r"[\sa-zA-Z0-9_.,@-]+", "\u0085", False),
        (r"[a-zA-Z0-9.]+@(\d+\.\d+(\.\d+)?|\$latest)", "aws.OnOff@1.4", True),
        (r"[a-zA-Z0-9.]+@(\d+\.\d+(\.\d+)?|\$latest)", "aws.OnOff@$latest", True),
        (r"[a-zA-Z0-9.]+@(\d+\.\d+(\.\d+)?|\$latest)", "aws.OnOff@latest", False),
    ],
)
def test_pattern_passes_when_some_part_of_the_value_matches(pattern: str, value: str, passes: bool) -> None:
    # A Smithy pattern /, when a value is checked /, then it passes exactly when some part matches
    assert SmithyPattern(pattern).matches(value) is passes


@pytest.mark.parametrize(
    ("ecma", "python"),
    [
        (r"\d+", "[0-9]+"),
        (r"[\d.]", "[0-9.]"),
        (r"\w", "[A-Za-z0-9_]"),
        (r"\D", "[^0-9]"),
        (r"a$", r"a\Z"),
        (r"[$]", "[$]"),
        (r"\$latest", r"\$latest"),
        (r"[\p{L}]", r"[\p{L}]"),
        (r"a.b", "a[^\n\r\u2028\u2029]b"),
        (r"[.]", "[.]"),
        (r"[\]a]$", r"[\]a]\Z"),
    ],
)
def test_ecmascript_syntax_is_rewritten_to_the_same_meaning_in_python(ecma: str, python: str) -> None:
    assert ecma_to_python(ecma) == python


def test_unicode_property_patterns_use_the_regex_package_and_others_the_faster_re() -> None:
    assert isinstance(compile_pattern(r"[\p{L}]+"), regex.Pattern)
    assert isinstance(compile_pattern(r"[a-z]+"), re.Pattern)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([p for p in MODEL_PATTERNS if r"\p" not in p]), st.text(max_size=12))
def test_re_and_regex_agree_on_every_rewritten_model_pattern(pattern: str, value: str) -> None:
    # The faster engine must mean exactly what the ECMAScript-aware one means.
    translated = ecma_to_python(pattern)
    assert (re.search(translated, value) is None) == (regex.search(translated, value) is None)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_a_class_pattern_passes_exactly_when_one_character_is_in_the_class(value: str) -> None:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:=_-")
    assert SmithyPattern(r"[a-zA-Z0-9:=_-]+").matches(value) is any(ch in allowed for ch in value)


def test_pattern_error_names_the_pattern_and_never_the_value() -> None:
    message = rejects(Annotated[str, SmithyPattern("[0-9]+")], "SENTINEL-SECRET")
    assert message == "must match pattern [0-9]+"


def test_lone_surrogate_is_rejected_as_invalid_text() -> None:
    # json.loads('"\\ud800"') gives such a string; it could never be encoded to send on.
    assert rejects(Annotated[str, SmithyPattern("[a-z]+")], "abc\ud800") == "must be valid Unicode text"


Name = Annotated[str, SmithyLength(1, 3)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a", None),
        ("abc", None),
        ("", "length must be 1..3"),
        ("abcd", "length must be 1..3"),
        # Code points, not UTF-8 bytes nor UTF-16 units: three emoji are three characters.
        ("😀😀😀", None),
        ("éèê", None),
        ("😀😀😀😀", "length must be 1..3"),
    ],
)
def test_string_length_counts_code_points(value: str, message: str | None) -> None:
    assert rejects(Name, value) == message


def test_length_bound_does_not_hide_a_type_error() -> None:
    assert rejects(Name, 12) == "Input should be a valid string"


@pytest.mark.parametrize(
    ("annotation", "value", "message"),
    [
        (Annotated[list[int], SmithyLength(1, 2)], [1, 2], None),
        (Annotated[list[int], SmithyLength(1, 2)], [], "must hold 1..2 items"),
        (Annotated[list[int], SmithyLength(1, 2)], [1, 2, 3], "must hold 1..2 items"),
        (Annotated[dict[str, int], SmithyLength(1, 2)], {"a": 1}, None),
        (Annotated[dict[str, int], SmithyLength(1, 2)], {}, "must hold 1..2 entries"),
        (Annotated[list[int], SmithyLength(0)], [], None),
    ],
)
def test_list_and_map_lengths_count_items_and_entries(
    annotation: object, value: object, message: str | None
) -> None:
    assert rejects(annotation, value) == message


def test_oversized_list_is_one_problem_not_one_per_item() -> None:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(Annotated[list[int], SmithyLength(0, 2)]).validate_python(["x", "y", "z"], strict=True)
    assert [e["msg"] for e in caught.value.errors()] == ["must hold 0..2 items"]


Revision = Annotated[int, SmithyRange(1, 10)]


@pytest.mark.parametrize(
    ("value", "message"),
    [(1, None), (10, None), (0, "must be 1..10"), (11, "must be 1..10"), (-(2**70), "must be 1..10")],
)
def test_range_bounds_are_inclusive(value: int, message: str | None) -> None:
    assert rejects(Revision, value) == message


def test_json_schema_carries_the_constraints_unchanged() -> None:
    schema = TypeAdapter(Annotated[str, SmithyLength(1, 24), SmithyPattern(MATTER_ID)]).json_schema()
    assert schema == {"type": "string", "minLength": 1, "maxLength": 24, "pattern": MATTER_ID}
    assert TypeAdapter(Revision).json_schema() == {"type": "integer", "minimum": 1, "maximum": 10}
    listed = TypeAdapter(Annotated[list[int], SmithyLength(0, 50)]).json_schema()
    assert (listed["minItems"], listed["maxItems"]) == (0, 50)
