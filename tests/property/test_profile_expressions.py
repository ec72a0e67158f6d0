"""A profile expression that only reads fields is walked without JMESPath's interpreter: it must find what
JMESPath finds, whatever the document."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iotbridge.profile import ExpressionError, _expression

KEYS = st.sampled_from(["a", "b", "event", "state", "0", "a-b"])
DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


def quoted(key: str) -> str:
    return key if key.isidentifier() else f'"{key}"'


@given(path=st.lists(KEYS, min_size=1, max_size=4), document=DOCUMENTS)
def test_a_field_path_finds_what_jmespath_finds(path: list[str], document: Any) -> None:
    text = ".".join(quoted(key) for key in path)
    expression = _expression(text)
    assert expression.fields == tuple(path)
    assert expression.search(document) == jmespath.search(text, document)


@given(document=DOCUMENTS)
def test_other_expressions_still_go_through_jmespath(document: Any) -> None:
    for text in ("a || b", "a[0]", "a.b == `1`", "[a, b]", "length(@)"):
        expression = _expression(text)
        assert expression.fields is None
        try:
            expected = jmespath.search(text, document)
        except jmespath.exceptions.JMESPathError:
            with pytest.raises(ExpressionError):
                expression.search(document)
            continue
        assert expression.search(document) == expected
