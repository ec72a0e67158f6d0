"""The profile expressions that run as plain functions (fields, literals, `==`, `!=`, `&&`, `||`, `!`) must
find what JMESPath finds, whatever the document; the others still go through JMESPath."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iotbridge.profile.expressions import ExpressionError, _expression

KEYS = st.sampled_from(["a", "b", "event", "state", "0", "a-b"])
DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def quoted(key: str) -> str:
    return key if key.isidentifier() else f'"{key}"'


@st.composite
def fast_expressions(draw: st.DrawFn, depth: int = 0) -> str:
    """Expressions of the plain-function kind, nested."""
    path = ".".join(quoted(key) for key in draw(st.lists(KEYS, min_size=1, max_size=3)))
    literal = draw(st.sampled_from(["'x'", "`1`", "`0`", "`true`", "`false`", "`null`", "`[]`", '`""`']))
    if depth >= 2:
        return draw(st.sampled_from([path, literal]))
    inner = fast_expressions(depth + 1)
    left, right = draw(inner), draw(inner)
    return draw(
        st.sampled_from(
            [
                path,
                f"{path} == {literal}",
                f"{path} != {literal}",
                f"{left} && {right}",
                f"{left} || {right}",
                f"!({left})",
                f"({left}) == ({right})",
            ]
        )
    )


@given(path=st.lists(KEYS, min_size=1, max_size=4), document=DOCUMENTS)
def test_a_field_path_finds_what_jmespath_finds(path: list[str], document: Any) -> None:
    text = ".".join(quoted(key) for key in path)
    expression = _expression(text)
    assert expression.fast is not None
    assert expression.search(document) == jmespath.search(text, document)


@given(text=fast_expressions(), document=DOCUMENTS)
def test_conditions_find_what_jmespath_finds(text: str, document: Any) -> None:
    expression = _expression(text)
    assert expression.fast is not None, text
    expected = jmespath.search(text, document)
    found = expression.search(document)
    assert found == expected and type(found) is type(expected), text


@given(document=DOCUMENTS)
def test_other_expressions_still_go_through_jmespath(document: Any) -> None:
    for text in ("a[0]", "a.b > `1`", "[a, b]", "length(@)", "a[?b == `1`]"):
        expression = _expression(text)
        assert expression.fast is None
        try:
            expected = jmespath.search(text, document)
        except (jmespath.exceptions.JMESPathError, TypeError):  # jmespath's own error, or text > number
            with pytest.raises(ExpressionError):
                expression.search(document)
            continue
        assert expression.search(document) == expected
