"""Templates of the requests a profile sends to a device cloud: text with `{expression}` placeholders (a
path, a query value, a header), and JSON whose strings are such text (a body). Compiled once when the
profile is read; rendered with a context of plain JSON values for each request.

- In text, `{expr}` is replaced by what the JMESPath expression finds: text as it is, a number as JSON
  writes it, `true`/`false`. Null, an object or a list is an error of the template (nothing silently
  becomes "" or "None"). `{{` and `}}` are literal braces; a lone brace is refused when the profile is read.
- In JSON, a string that is exactly one placeholder (`"{command}"`) takes the value found with its JSON
  type (null included); any other string is text as above. Object keys are literal.
"""

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from iotbridge.errors import PermanentError

from .expressions import _PLACEHOLDER, Evaluation, Expression, ExpressionError, _expression, scalar_text

MAX_TEMPLATE_CHARS = 2048
MAX_PLACEHOLDERS = 32
MAX_JSON_TEMPLATE_DEPTH = 16
MAX_JSON_TEMPLATE_STRINGS = 256
# Every value of a JSON template, containers and scalars alike: a body is a few dozen.
MAX_JSON_TEMPLATE_VALUES = 1024

# A doubled brace first, so that `{{x}}` is the literal text `{x}`; then a placeholder; then a lone brace.
_TEXT_PART = re.compile(r"\{\{|\}\}|" + _PLACEHOLDER.pattern + r"|[{}]")


class TemplateError(PermanentError, ValueError):
    """A template that cannot be filled with the values it was given. `where` is the template's place in the
    profile (`sendCommand.request.path`, "" when unknown) and `reason` names the placeholder's expression,
    never a value."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.where = where
        self.reason = reason


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return "an object" if isinstance(value, dict) else "a list"


class TextTemplate:
    """Text with `{expr}` placeholders, compiled from `source` (see the module's description)."""

    __slots__ = ("_parts", "expressions", "source", "where")

    def __init__(self, source: str) -> None:
        if not isinstance(source, str):
            raise ValueError("must be text")
        if len(source) > MAX_TEMPLATE_CHARS:
            raise ValueError(f"a template has at most {MAX_TEMPLATE_CHARS} characters")
        parts: list[str | Expression] = []
        literal: list[str] = []
        last = 0
        for found in _TEXT_PART.finditer(source):
            literal.append(source[last : found.start()])
            last = found.end()
            token = found.group(0)
            if token in ("{{", "}}"):
                literal.append(token[0])
            elif found.group(1) is None:
                raise ValueError(
                    f"a lone {token!r} at character {found.start() + 1}: "
                    f"write {token * 2!r} for a literal brace"
                )
            else:
                try:
                    expression = _expression(found.group(1))
                except ValueError as exc:
                    raise ValueError(f"placeholder {{{found.group(1)[:64]}}}: {exc}") from None
                parts.extend(["".join(literal), expression])
                literal = []
        literal.append(source[last:])
        parts.append("".join(literal))
        expressions = tuple(part for part in parts if isinstance(part, Expression))
        if len(expressions) > MAX_PLACEHOLDERS:
            raise ValueError(f"a template has at most {MAX_PLACEHOLDERS} placeholders")
        self.source = source
        self.expressions = expressions
        # Literal text and expressions alternate, text first and last (either may be "").
        self._parts = tuple(part for part in parts if part != "" or isinstance(part, Expression))
        self.where = ""

    def __repr__(self) -> str:
        return f"TextTemplate({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextTemplate) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    @property
    def is_literal(self) -> bool:
        """Whether the template has no placeholder (its text is its source, braces undoubled)."""
        return not self.expressions

    @property
    def literal_text(self) -> str:
        """The template's text without its placeholders (what the profile wrote around them)."""
        return "".join(part for part in self._parts if not isinstance(part, Expression))

    def reads(self) -> tuple[Expression, ...]:
        """The expressions of the placeholders, in order."""
        return self.expressions

    def render(
        self,
        context: Mapping[str, Any],
        evaluation: Evaluation | None = None,
        *,
        escape: Callable[[str], str] | None = None,
    ) -> str:
        """The text with each placeholder replaced by what its expression finds in `context`, passed
        through `escape` when given (a path segment's percent-encoding; the literal text is not escaped).
        Raises TemplateError when a placeholder finds null, an object or a list, or cannot be evaluated;
        EvaluationBudgetError when the evaluation's budget runs out."""
        evaluation = evaluation or Evaluation()
        out: list[str] = []
        for part in self._parts:
            if not isinstance(part, Expression):
                out.append(part)
                continue
            text = _text_of(part, _found(part, context, evaluation, self.where), self.where)
            out.append(escape(text) if escape is not None else text)
        return "".join(out)


def _found(expression: Expression, context: Mapping[str, Any], evaluation: Evaluation, where: str) -> Any:
    try:
        return expression.search(context, evaluation)
    except ExpressionError:
        raise TemplateError(where, f"{{{expression}}} cannot be evaluated on these values") from None


def _text_of(expression: Expression, value: Any, where: str) -> str:
    if value is None or isinstance(value, dict | list):
        what = "nothing found" if value is None else f"{_kind(value)} found, not text or a number,"
        raise TemplateError(where, f"{what} for {{{expression}}}")
    if isinstance(value, float) and not math.isfinite(value):
        raise TemplateError(where, f"a number JSON cannot write found for {{{expression}}}")
    return value if isinstance(value, str) else scalar_text(value)


class _Whole:
    """A JSON string that is exactly one placeholder: the value found, with its JSON type."""

    __slots__ = ("expression", "where")

    def __init__(self, expression: Expression) -> None:
        self.expression = expression
        self.where = ""


def _whole_placeholder(text: str) -> Expression | None:
    found = _PLACEHOLDER.fullmatch(text)
    if found is None:
        return None
    try:
        return _expression(found.group(1))
    except ValueError as exc:
        raise ValueError(f"placeholder {{{found.group(1)[:64]}}}: {exc}") from None


class JsonTemplate:
    """Any JSON value whose strings are templates (see the module's description), compiled from `source`."""

    __slots__ = ("_compiled", "_where", "source")

    def __init__(self, source: Any) -> None:
        counts = {"strings": 0, "values": 0}
        self._compiled = _compile_json(source, "", 0, counts)
        self.source = source
        self._where = ""

    def __repr__(self) -> str:
        return f"JsonTemplate({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonTemplate) and other.source == self.source

    def __hash__(self) -> int:
        return hash(json.dumps(self.source, sort_keys=True))

    @property
    def where(self) -> str:
        """The template's place in the profile ("" until it is placed)."""
        return self._where

    def place(self, where: str) -> None:
        """Names the template's place in the profile, and each of its strings' below it (`body.command`)."""
        self._where = where
        for path, leaf in _leaves(self._compiled, where):
            leaf.where = path

    def reads(self) -> tuple[Expression, ...]:
        """The expressions of every placeholder, in document order."""
        found: list[Expression] = []
        for _, leaf in _leaves(self._compiled, ""):
            found.extend(leaf.expressions if isinstance(leaf, TextTemplate) else (leaf.expression,))
        return tuple(found)

    def render(self, context: Mapping[str, Any], evaluation: Evaluation | None = None) -> Any:
        """The JSON value with each string filled in from `context`. Raises TemplateError as
        TextTemplate.render does, for text; a whole placeholder may find any value, null included."""
        return _render_json(self._compiled, context, evaluation or Evaluation())


def _compile_json(value: Any, path: str, depth: int, counts: dict[str, int]) -> Any:
    counts["values"] += 1
    if counts["values"] > MAX_JSON_TEMPLATE_VALUES:
        raise ValueError(f"a JSON template has at most {MAX_JSON_TEMPLATE_VALUES} values")
    at = f"{path}: " if path else ""
    if isinstance(value, dict | list):
        if depth >= MAX_JSON_TEMPLATE_DEPTH:
            raise ValueError(f"a JSON template nests at most {MAX_JSON_TEMPLATE_DEPTH} deep")
        if isinstance(value, list):
            return [
                _compile_json(item, f"{path}[{index}]", depth + 1, counts) for index, item in enumerate(value)
            ]
        compiled = {}
        for key, item in value.items():
            if not isinstance(key, str) or len(key) > MAX_TEMPLATE_CHARS:
                raise ValueError(f"{at}an object's keys are text of at most {MAX_TEMPLATE_CHARS} characters")
            compiled[key] = _compile_json(item, _member_path(path, key), depth + 1, counts)
        return compiled
    if isinstance(value, str):
        counts["strings"] += 1
        if counts["strings"] > MAX_JSON_TEMPLATE_STRINGS:
            raise ValueError(f"a JSON template has at most {MAX_JSON_TEMPLATE_STRINGS} strings")
        try:
            whole = _whole_placeholder(value)
            return _Whole(whole) if whole is not None else TextTemplate(value)
        except ValueError as exc:
            raise ValueError(f"{at}{exc}") from None
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise ValueError(f"{at}must be JSON (text, numbers, true, false, null, lists and objects)")


def _member_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _leaves(compiled: Any, path: str) -> Iterator[tuple[str, "TextTemplate | _Whole"]]:
    if isinstance(compiled, TextTemplate | _Whole):
        yield path, compiled
    elif isinstance(compiled, list):
        for index, item in enumerate(compiled):
            yield from _leaves(item, f"{path}[{index}]")
    elif isinstance(compiled, dict):
        for key, item in compiled.items():
            yield from _leaves(item, _member_path(path, key))


def _render_json(compiled: Any, context: Mapping[str, Any], evaluation: Evaluation) -> Any:
    if isinstance(compiled, TextTemplate):
        return compiled.render(context, evaluation)
    if isinstance(compiled, _Whole):
        return _found(compiled.expression, context, evaluation, compiled.where)
    if isinstance(compiled, list):
        return [_render_json(item, context, evaluation) for item in compiled]
    if isinstance(compiled, dict):
        return {key: _render_json(item, context, evaluation) for key, item in compiled.items()}
    return compiled


def _text_template(value: Any) -> TextTemplate:
    if isinstance(value, TextTemplate):
        return value
    if not isinstance(value, str):
        raise ValueError("must be text (a template with {expression} placeholders)")
    return TextTemplate(value)


def _json_template(value: Any) -> JsonTemplate:
    return value if isinstance(value, JsonTemplate) else JsonTemplate(value)


TextTemplateField = Annotated[
    TextTemplate,
    PlainValidator(_text_template),
    PlainSerializer(lambda template: template.source),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": MAX_TEMPLATE_CHARS,
            "description": "Text with {expression} placeholders (JMESPath); {{ and }} are literal braces.",
        }
    ),
]
JsonTemplateField = Annotated[
    JsonTemplate,
    PlainValidator(_json_template),
    PlainSerializer(lambda template: template.source),
    WithJsonSchema(
        {
            "description": "JSON whose strings are templates; a string that is one {placeholder} "
            "keeps the value's JSON type."
        }
    ),
]


def place_templates(node: Any, where: str) -> None:
    """Names every template in a validated model tree by its path in the document
    (`sendCommand.request.path`), for the errors of its rendering."""
    from pydantic import BaseModel

    if isinstance(node, TextTemplate):
        node.where = where
    elif isinstance(node, JsonTemplate):
        node.place(where)
    elif isinstance(node, BaseModel):
        for name, info in type(node).model_fields.items():
            place_templates(getattr(node, name), _member_path(where, info.alias or name))
    elif isinstance(node, list | tuple):
        for index, item in enumerate(node):
            place_templates(item, f"{where}[{index}]")
    elif isinstance(node, dict):
        for key, item in node.items():
            place_templates(item, _member_path(where, key))
