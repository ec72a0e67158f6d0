"""The building blocks of a profile: JMESPath expressions, compiled once when the profile is read and
evaluated with JMESPath's meaning; the header names a profile may read; the `{placeholder}` of a template."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from jmespath.visitor import Options, TreeInterpreter  # botocore's own dependency: in the layer already
from pydantic import PlainValidator, WithJsonSchema

from iotbridge.errors import PermanentError

# fullmatch, not match: "$" would let a trailing newline through.
_HEADER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,127}")
# Headers a sender does not set, or that a proxy rewrites: never a place for a signature or an id.
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "connection", "transfer-encoding", "upgrade", "te", "trailer"}
)
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def _compiled(text: str) -> Any:
    import jmespath  # botocore's own dependency: in the layer already
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.compile(text)
    except JMESPathError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"not a JMESPath expression ({first_line[:120]})") from None
    except RecursionError:
        # jmespath's parser recurses once per nesting level: 1,000 parentheses exhaust Python's stack.
        raise ValueError("not a usable JMESPath expression (nested too deep)") from None


# The JMESPath work one webhook may cost (see Evaluation): a node visited is one step, and a function costs
# one more per item of the lists and objects it is given or gives back, and per 64 characters of text.
MAX_EVALUATION_STEPS = 1_000_000
_CHARACTERS_PER_STEP = 64


class EvaluationBudgetError(PermanentError):
    """The expressions of one webhook needed more than MAX_EVALUATION_STEPS: the webhook is refused whole."""


class ExpressionError(PermanentError, ValueError):
    """An expression that cannot be evaluated on the values it was given (a ValueError too, so that pydantic
    reports it as a validation problem where a model evaluates one)."""

    def __init__(self, expression: str) -> None:
        super().__init__(expression)
        self.expression = expression


_Evaluate = Callable[[Any], Any]


def _is_false(value: Any) -> bool:
    # JMESPath's falsehood: null, false, and the empty string, list and object; 0 is true.
    return value is None or value is False or (isinstance(value, str | list | dict) and not value)


def _equal(left: Any, right: Any) -> bool:
    # JMESPath's equality: JSON values, where true is not 1 and false is not 0.
    numbers = (isinstance(left, int | float) and not isinstance(left, bool)) or (
        isinstance(right, int | float) and not isinstance(right, bool)
    )
    if numbers and (isinstance(left, bool) or isinstance(right, bool)):
        return False
    return bool(left == right)


def _fast(node: dict[str, Any]) -> _Evaluate | None:
    """The expression as a plain function, for what profiles mostly write (fields, literals, `==`, `!=`,
    `&&`, `||`, `!`), with JMESPath's meaning; None for anything else, which the interpreter evaluates."""
    kind, children = node["type"], [_fast(child) for child in node.get("children", [])]
    if any(child is None for child in children):
        return None
    parts: list[_Evaluate] = [c for c in children if c is not None]
    if kind == "field":
        name = node["value"]
        return lambda value: value.get(name) if isinstance(value, dict) else None
    if kind == "literal":
        constant = node["value"]
        return lambda _: constant
    if kind == "subexpression":

        def chained(value: Any) -> Any:
            for part in parts:
                value = part(value)
            return value

        return chained
    if kind == "comparator" and node["value"] in ("eq", "ne") and len(parts) == 2:
        left, right, same = parts[0], parts[1], node["value"] == "eq"
        return lambda value: _equal(left(value), right(value)) is same
    if kind == "and_expression" and len(parts) == 2:
        first, second = parts
        return lambda value: found if _is_false(found := first(value)) else second(value)
    if kind == "or_expression" and len(parts) == 2:
        first, second = parts
        return lambda value: second(value) if _is_false(found := first(value)) else found
    if kind == "not_expression" and len(parts) == 1:
        (inner,) = parts
        return lambda value: _is_false(inner(value))
    return None


class Expression(str):
    """A JMESPath expression, compiled once when the profile is read.

    What profiles mostly write (`event.state.power`, `event.type == 'state' && event.kind != 'plug'`) runs
    as plain functions with JMESPath's meaning, at a fraction of its interpreter's cost; anything else goes
    through one interpreter shared by all."""

    compiled: Any
    fast: _Evaluate | None

    def search(self, context: Any, evaluation: Evaluation | None = None) -> Any:
        """What the expression finds in `context`, its work counted by `evaluation` (one webhook's; by
        default a budget of its own). Raises ExpressionError when it cannot be evaluated there (a function
        given a value of the wrong type, `length(null)`, a sum beyond any float, a structure nested too
        deep), and EvaluationBudgetError when the evaluation's budget runs out."""
        from jmespath.exceptions import JMESPathError

        try:
            if self.fast is not None:
                return self.fast(context)
            return (evaluation or Evaluation()).visit(self.compiled.parsed, context)
        except (JMESPathError, TypeError, ValueError, ArithmeticError, RecursionError):
            # jmespath orders any two values it deems comparable, text among them, so text against a
            # number raises Python's TypeError; `sum` of a huge integer and a float, OverflowError.
            raise ExpressionError(self) from None


def _steps(value: Any) -> int:
    if isinstance(value, list | dict):
        return len(value)
    return len(value) // _CHARACTERS_PER_STEP if isinstance(value, str) else 0


class _CountingInterpreter(TreeInterpreter):
    """JMESPath's interpreter, counting its steps against one Evaluation's budget."""

    def __init__(self, evaluation: Evaluation) -> None:
        super().__init__(Options())
        self._evaluation = evaluation

    def visit(self, node: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._evaluation.spend(1)
        return super().visit(node, *args, **kwargs)

    def visit_function_expression(self, node: dict[str, Any], value: Any) -> Any:
        # A function works on whole values in what is one step to the interpreter (`contains`, `sort`,
        # `to_string`): it pays for what it is given and gives back.
        arguments = [self.visit(child, value) for child in node["children"]]
        self._evaluation.spend(sum(_steps(argument) for argument in arguments))
        result = self._functions.call_function(node["value"], arguments)
        self._evaluation.spend(_steps(result))
        return result


class Evaluation:
    """The JMESPath work of one webhook, counted against a budget, so that an expression that reads the
    whole body once per event (`contains(body.events[*].type, 'x')` in a rule) costs a bounded amount
    whatever the body. Raises EvaluationBudgetError once the budget is spent."""

    def __init__(self, steps: int = MAX_EVALUATION_STEPS) -> None:
        self.steps_left = steps
        self._interpreter = _CountingInterpreter(self)

    def spend(self, steps: int) -> None:
        self.steps_left -= steps
        if self.steps_left < 0:
            raise EvaluationBudgetError(f"more than {MAX_EVALUATION_STEPS} evaluation steps")

    def visit(self, parsed: dict[str, Any], context: Any) -> Any:
        return self._interpreter.visit(parsed, context)


def _expression(text: Any) -> Expression:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("must be a JMESPath expression")
    expression = Expression(text)
    expression.compiled = _compiled(text)
    expression.fast = _fast(expression.compiled.parsed)
    return expression


def _header_name(name: Any) -> str:
    if not isinstance(name, str) or not _HEADER.fullmatch(name):
        raise ValueError("must be an HTTP header name (letters, digits and '-')")
    if name.lower() in _RESERVED_HEADERS or name.lower().startswith("x-forwarded-"):
        raise ValueError("is a header a sender does not control")
    return name.lower()


ExpressionText = Annotated[
    Expression,
    PlainValidator(_expression),
    WithJsonSchema({"type": "string", "description": "A JMESPath expression."}),
]
HeaderName = Annotated[
    str,
    PlainValidator(_header_name),
    WithJsonSchema({"type": "string", "description": "An HTTP header name."}),
]
