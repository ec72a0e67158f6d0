"""Where a SendConnectorEvent member's value comes from: an expression, an expression and its transform, a
literal, or a template of text and expressions."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, PrivateAttr, model_validator

from iotbridge.wire import CamelModel

from .expressions import _PLACEHOLDER, Expression, ExpressionText, _expression
from .transforms import Transforms


class FromValue(CamelModel):
    from_: Annotated[ExpressionText, Field(alias="from")]
    transform: Transforms | None = None


class LiteralValue(CamelModel):
    value: Any


class TemplateValue(CamelModel):
    """Text with `{expression}` placeholders, each filled with what its expression finds."""

    template: Annotated[str, Field(min_length=1, max_length=512)]
    _parts: tuple[str | Expression, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _compile(self) -> TemplateValue:
        parts: list[str | Expression] = []
        last = 0
        for found in _PLACEHOLDER.finditer(self.template):
            parts.append(self.template[last : found.start()])
            parts.append(_expression(found.group(1)))
            last = found.end()
        parts.append(self.template[last:])
        self._parts = tuple(parts)
        return self

    @property
    def parts(self) -> tuple[str | Expression, ...]:
        """Literal text and expressions, in order."""
        return self._parts


MemberValue = Annotated[
    ExpressionText | FromValue | LiteralValue | TemplateValue, Field(union_mode="left_to_right")
]
