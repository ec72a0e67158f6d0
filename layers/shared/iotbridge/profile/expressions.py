"""The building blocks of a profile: JMESPath expressions, compiled once when the profile is read and
evaluated with JMESPath's meaning; the functions a profile may call besides JMESPath's own; the header
names a profile may read; the `{placeholder}` of a template."""

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any

from jmespath import exceptions as jmespath_errors
from jmespath.functions import Functions, signature
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


def truthy(value: Any) -> bool:
    """Whether JMESPath holds a value true (what `when` asks): anything but null, false, and the empty text,
    list and object."""
    return not _is_false(value)


def scalar_text(value: Any) -> str:
    """A JSON scalar as text the way a template writes it: `true`/`false`, whole floats without `.0`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


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
    """JMESPath's interpreter, with the profile functions, counting its steps against one Evaluation's
    budget."""

    def __init__(self, evaluation: Evaluation) -> None:
        super().__init__(Options(custom_functions=ProfileFunctions(evaluation)))
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
        self.regex_seconds_left = MAX_REGEX_SECONDS
        self._interpreter = _CountingInterpreter(self)

    def spend(self, steps: int) -> None:
        self.steps_left -= steps
        if self.steps_left < 0:
            raise EvaluationBudgetError(f"more than {MAX_EVALUATION_STEPS} evaluation steps")

    def visit(self, parsed: dict[str, Any], context: Any) -> Any:
        return self._interpreter.visit(parsed, context)


# --- The functions a profile may call besides JMESPath's own ---------------------------------------------

# from_json's text, at most: what a webhook body may be (the receiver's default limit).
MAX_JSON_TEXT_CHARS = 1024 * 1024
# regex_extract: the longest pattern, the time one call may take, and the time one webhook's calls may take
# in all (a pattern that backtracks without end is stopped, not left to run the function out of time).
MAX_PATTERN_CHARS = 512
REGEX_TIMEOUT_SECONDS = 0.1
MAX_REGEX_SECONDS = 0.5
# to_epoch's text, at most: an RFC 3339 date-time with nanoseconds and an offset is 35 characters.
_MAX_DATE_TIME_CHARS = 64


def _not_a_json_number(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON number")


def json_value(text: str | bytes, max_chars: int) -> Any:
    """The JSON value `text` holds, bounded: at most `max_chars` characters (bytes, for bytes), no NaN or
    Infinity (json.loads reads them; JSON has no such numbers). Raises ValueError for anything else: text
    that is not JSON, too long, or nested deeper than the parser can follow."""
    if len(text) > max_chars:
        raise ValueError(f"more than {max_chars} characters of JSON")
    try:
        return json.loads(text, parse_constant=_not_a_json_number)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def _arity(parameters: tuple[dict[str, Any], ...]) -> tuple[int, float]:
    """How many arguments a function takes, at least and at most (a variadic one, any number more)."""
    required = sum(1 for p in parameters if not p.get("optional"))
    if parameters and parameters[-1].get("variadic"):
        return required, math.inf
    return required, len(parameters)


@functools.lru_cache(maxsize=256)
def _pattern(text: str) -> Any:
    """A compiled `regex` pattern; compiled when the profile is read, so evaluation finds it here."""
    import regex  # in the layer; loaded only by profiles that call regex_extract

    return regex.compile(text)


_DATE_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}):(\d{2})(?:[.,](\d+))?([Zz]|[+-]\d{2}(?::?\d{2})?)"
)


def _epoch_seconds(text: str) -> int | float | None:
    """An RFC 3339 / ISO 8601 date-time with an offset (`Z`, `+02:00`) as seconds since the epoch; None for
    any other text (a date alone, or a time without an offset, names no one instant)."""
    found = _DATE_TIME.fullmatch(text) if len(text) <= _MAX_DATE_TIME_CHARS else None
    if found is None:
        return None
    day, hours_minutes, seconds, fraction, offset = found.groups()
    # RFC 3339 allows a leap second (:60), which datetime does not: it is the next minute's first second.
    leap = seconds == "60"
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        moment = datetime.fromisoformat(f"{day}T{hours_minutes}:{'59' if leap else seconds}{offset}")
    except ValueError:
        return None
    whole = int((moment + timedelta(seconds=1 if leap else 0)).timestamp())
    if fraction and fraction.strip("0"):
        return whole + float(f"0.{fraction}")
    return whole


class ProfileFunctions(Functions):
    """JMESPath's functions and the profile's own, for one Evaluation.

    Each behaves as JMESPath's own do: a value of the wrong type is an error (the expression cannot be
    evaluated on this event), what is not there is null. Their work is counted as the built-ins' is (per
    item and per 64 characters they are given and give back); regex_extract's time is bounded too.

    - `from_json(text)`: the JSON value the text holds; text that is not JSON is an error (unlike
      to_number's null: a member that should hold JSON and does not is the sender's mistake, reported).
    - `split(text, separator)`: the pieces of the text between separators (an empty separator: each
      character), as JMESPath Community's `split`.
    - `regex_extract(text, pattern[, group])`: the text the group (default 0: the whole match) matched at the
      first match, or null; the pattern is a literal, compiled when the profile is read.
    - `lower(text)`, `upper(text)`: the text in lower or upper case.
    - `to_epoch(text)`: an RFC 3339 / ISO 8601 date-time with an offset as seconds since the epoch (a whole
      number unless the text has fractional seconds); null for any other text.
    """

    def __init__(self, evaluation: Evaluation) -> None:
        self._evaluation = evaluation

    def _validate_arguments(self, args: list[Any], signature: Any, function_name: str) -> Any:
        # JMESPath's own check knows no optional parameter (regex_extract's group).
        least, most = _arity(signature)
        if not least <= len(args) <= most:
            raise jmespath_errors.ArityError(least, len(args), function_name)
        for argument, parameter in zip(args, signature, strict=False):
            if parameter["types"]:
                self._type_check_single(argument, parameter["types"], function_name)

    @signature({"types": ["string"]})
    def _func_from_json(self, text: str) -> Any:
        return json_value(text, MAX_JSON_TEXT_CHARS)

    @signature({"types": ["string"]}, {"types": ["string"]})
    def _func_split(self, text: str, separator: str) -> list[str]:
        return list(text) if not separator else text.split(separator)

    @signature(
        {"types": ["string"]}, {"types": ["string"]}, {"types": ["number", "string"], "optional": True}
    )
    def _func_regex_extract(self, text: str, pattern: str, group: int | str = 0) -> str | None:
        left = self._evaluation.regex_seconds_left
        if left <= 0:
            raise EvaluationBudgetError(f"more than {MAX_REGEX_SECONDS} s of regular expressions")
        started = time.monotonic()
        try:
            found = _pattern(pattern).search(text, timeout=min(REGEX_TIMEOUT_SECONDS, left))
        except TimeoutError:
            raise ValueError("regex_extract() ran out of time") from None
        finally:
            self._evaluation.regex_seconds_left = left - (time.monotonic() - started)
        if found is None:
            return None
        try:
            # A float group from a JSON literal (`2.0`) names the group 2: JMESPath's numbers may be floats.
            matched: str | None = found.group(int(group) if isinstance(group, float) else group)
        except IndexError:
            raise ValueError("regex_extract(): no such group") from None
        return matched

    @signature({"types": ["string"]})
    def _func_lower(self, text: str) -> str:
        return text.lower()

    @signature({"types": ["string"]})
    def _func_upper(self, text: str) -> str:
        return text.upper()

    @signature({"types": ["string"]})
    def _func_to_epoch(self, text: str) -> int | float | None:
        return _epoch_seconds(text)


FUNCTION_NAMES = tuple(sorted(ProfileFunctions.FUNCTION_TABLE))


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every node of a parsed expression (a slice's children are numbers, not nodes)."""
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            yield current
            pending.extend(current.get("children", ()))


def _check_functions(parsed: dict[str, Any]) -> None:
    """Every function the expression calls exists and is given as many arguments as it takes, and every
    regex_extract's pattern and group are literals that compile. Raises ValueError saying which."""
    for node in _nodes(parsed):
        if node["type"] != "function_expression":
            continue
        name, arguments = node["value"], node["children"]
        entry = ProfileFunctions.FUNCTION_TABLE.get(name)
        if entry is None:
            raise ValueError(f"unknown function {name}(); known: {', '.join(FUNCTION_NAMES)}")
        least, most = _arity(entry["signature"])
        if not least <= len(arguments) <= most:
            expected = (
                f"{least} or more"
                if most == math.inf
                else f"{least}"
                if least == most
                else f"{least} to {most}"
            )
            noun = "argument" if expected == "1" else "arguments"
            raise ValueError(f"{name}() takes {expected} {noun}, not {len(arguments)}")
        if name == "regex_extract":
            _check_regex(arguments)


def _check_regex(arguments: list[dict[str, Any]]) -> None:
    pattern = arguments[1]
    if pattern["type"] != "literal" or not isinstance(pattern["value"], str):
        raise ValueError("regex_extract()'s pattern must be a literal text ('...'), compiled when read")
    if len(pattern["value"]) > MAX_PATTERN_CHARS:
        raise ValueError(f"regex_extract()'s pattern is longer than {MAX_PATTERN_CHARS} characters")
    import regex

    try:
        compiled = _pattern(pattern["value"])
    except regex.error as exc:
        raise ValueError(
            f"regex_extract()'s pattern is not a regular expression ({str(exc)[:120]})"
        ) from None
    if len(arguments) < 3:
        return
    group = arguments[2]
    value = group.get("value")
    if group["type"] != "literal" or isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("regex_extract()'s group must be a literal number or name")
    if isinstance(value, str):
        if value not in compiled.groupindex:
            raise ValueError(f"regex_extract()'s pattern has no group named {value[:64]!r}")
    elif not float(value).is_integer() or not 0 <= value <= compiled.groups:
        raise ValueError(f"regex_extract()'s pattern has groups 0 to {compiled.groups}, not {value}")


def _expression(text: Any) -> Expression:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("must be a JMESPath expression")
    expression = Expression(text)
    expression.compiled = _compiled(text)
    _check_functions(expression.compiled.parsed)
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


# --- Precedence traps --------------------------------------------------------------------------------------

_COMPARATORS = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
# What a `!` in front of them stops at: `!a.b` is `(!a).b`, `!a[?x]` is `(!a)[?x]`.
_CHAINS = frozenset({"subexpression", "projection", "filter_projection", "value_projection", "flatten"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Tokens after which an identifier is part of a longer path, not an operand on its own.
_PATH_TOKENS = frozenset({"dot", "lbracket", "filter", "flatten", "lbrace"})


def _text(node: dict[str, Any]) -> str:
    """A parsed expression written back, for the messages (the common nodes; `...` for the rest)."""
    kind, children = node["type"], node.get("children", [])
    if kind == "field":
        name = str(node["value"])
        return name if _IDENTIFIER.fullmatch(name) else json.dumps(name)
    if kind == "subexpression":
        return ".".join(_text(child) for child in children)
    if kind == "index_expression":
        return "".join(_text(child) for child in children)
    if kind == "index":
        return f"[{node['value']}]"
    if kind in ("current", "identity"):
        return "@"
    if kind == "not_expression":
        return "!" + _text(children[0])
    if kind == "literal":
        value = node["value"]
        return "'" + value.replace("'", "\\'") + "'" if isinstance(value, str) else f"`{json.dumps(value)}`"
    if kind == "comparator":
        return f" {_COMPARATORS.get(node['value'], node['value'])} ".join(_text(child) for child in children)
    if kind == "function_expression":
        return f"{node['value']}({', '.join(_text(child) for child in children)})"
    if kind == "projection" and len(children) == 2:
        right = _text(children[1])
        return f"{_text(children[0])}[*]" + ("" if right == "@" else f".{right}")
    return "..."


def _chained_not(node: dict[str, Any]) -> str | None:
    children = node.get("children", [])
    if node["type"] not in _CHAINS or not children or not isinstance(children[0], dict):
        return None
    if children[0]["type"] != "not_expression":
        return None
    inner = _text(children[0]["children"][0])
    if node["type"] == "subexpression":
        rest = "".join("." + _text(child) for child in children[1:])
        return (
            f"!{inner}{rest} reads as (!{inner}){rest}: `!` applies to {inner} alone, and true or false has "
            f"no members, so it always finds null; write !({inner}{rest})"
        )
    return (
        f"!{inner} followed by a projection or filter applies `!` to {inner} alone, and true or false is no "
        f"list, so it always finds null; put what `!` should apply to in parentheses: !({inner}...)"
    )


def _negated_comparison(node: dict[str, Any]) -> str | None:
    children = node.get("children", [])
    if node["type"] != "comparator" or not children or children[0].get("type") != "not_expression":
        return None
    operator = _COMPARATORS.get(node["value"], node["value"])
    inner, right = _text(children[0]["children"][0]), _text(children[1])
    return (
        f"!{inner} {operator} {right} compares (!{inner}), true or false, with {right}; "
        f"write !({inner} {operator} {right}) for the opposite of the comparison"
    )


def _operand_traps(text: str) -> list[str]:
    """Operands of a comparison that are field names though they read as values: `"on"` in double quotes
    (a quoted field name; text is `'on'`), and a bare `true`, `false` or `null` (fields of those names;
    the values are `` `true` ``...)."""
    from jmespath.lexer import Lexer

    try:
        tokens = list(Lexer().tokenize(text))
    except jmespath_errors.JMESPathError:
        return []
    found = []
    for index, token in enumerate(tokens):
        if token["type"] not in _COMPARATORS:
            continue
        right, after = tokens[index + 1], tokens[index + 2] if index + 2 < len(tokens) else None
        operands = []
        if after is None or after["type"] not in _PATH_TOKENS:
            operands.append(right)
        if index > 0 and (index < 2 or tokens[index - 2]["type"] != "dot"):
            operands.append(tokens[index - 1])
        for operand in operands:
            value = operand["value"]
            if operand is right and operand["type"] == "quoted_identifier":
                found.append(
                    f'"{value}" is the field named {value} (double quotes name a field), not the text: '
                    f"write '{value}' to compare with the text"
                )
            elif operand["type"] == "unquoted_identifier" and value in ("true", "false", "null"):
                found.append(
                    f"{value} is the field named {value}, not the value: write `{value}` (backticks)"
                )
    return found


def precedence_warnings(text: str) -> list[str]:
    """Where an expression says something other than what it reads as, though JMESPath accepts it: each a
    sentence for `profile validate` to print. Empty for an expression that cannot be compiled (validation
    reports that).

    - `!a.b` is `(!a).b` (and `!a[?x]` is `(!a)[?x]`): `!` binds tighter than `.`, so it always finds
      null. JMESPath's reference implementations parse it so (jmespath.js, jmespath.py); adobe/json-formula
      changed it for this reason (its pull request 48).
    - `!a == b` is `(!a) == b`, comparing true or false with b (burtcorp/jmespath-java pull request 70
      follows jmespath.js in this).
    - `a == "x"` compares with the field `x`: double quotes name a field, text is `'x'` (jmespath.php
      issue 26, jmespath/jp issue 21, jmespath.py issue 199).
    - `a == true` compares with the field `true`: the value is `` `true` `` (the same for false and null).
    """
    try:
        parsed = _compiled(text).parsed
    except ValueError:
        return []
    found = [
        warning
        for node in _nodes(parsed)
        if (warning := _chained_not(node) or _negated_comparison(node)) is not None
    ]
    found.extend(_operand_traps(text))
    return list(dict.fromkeys(found))
