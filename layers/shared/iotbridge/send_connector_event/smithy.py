"""Smithy constraint traits (@pattern, @length, @range) as pydantic field metadata, with AWS's semantics.

AWS service models are Smithy models, and their constraints do not mean what a Python reader might assume:

- @pattern is an ECMAScript regular expression that is NOT implicitly anchored: a value passes when some part
  of it matches (`[A-Za-z0-9]+` accepts "!abc!"); only the `^`/`$` the pattern itself carries anchor it.
- @length counts Unicode code points for strings, items for lists and entries for maps.
- @range bounds are inclusive.

Each trait raises a `PydanticCustomError` whose message names the rule and never the rejected value (values
may be sensitive), and adds the matching keyword to the generated JSON Schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import regex
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# ECMAScript's \s: Unicode white space plus the line terminators and the byte order mark.
_ECMA_SPACE = "\t\n\x0b\x0c\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# ECMAScript's \d and \w are ASCII-only, while Python's are Unicode-aware: spell them out.
_ECMA_SHORTHAND = {"d": "0-9", "w": "A-Za-z0-9_", "s": _ECMA_SPACE}
# ECMAScript's '.' stops at every line terminator, Python's only at '\n'.
_ECMA_DOT = "[^\n\r\u2028\u2029]"


def ecma_to_python(pattern: str) -> str:
    r"""Rewrite an ECMAScript pattern so that the `regex` package reads it with ECMAScript's meaning.

    Covers what differs between the two for patterns without flags: `\d`, `\w`, `\s` (and their negations
    outside a character class), `.` and `$` (end of input only: Python's `$` also matches before a final
    newline). Everything else, `\p{L}` included, means the same to `regex`.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            if escaped in _ECMA_SHORTHAND:
                body = _ECMA_SHORTHAND[escaped]
                out.append(body if in_class else f"[{body}]")
            elif escaped.lower() in _ECMA_SHORTHAND and not in_class:
                out.append(f"[^{_ECMA_SHORTHAND[escaped.lower()]}]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "$":
            out.append(r"\Z")
        elif char == ".":
            out.append(_ECMA_DOT)
        else:
            out.append(char)
        i += 1
    return "".join(out)


def compile_pattern(pattern: str) -> Any:
    """Compile an ECMAScript pattern once; `.search(value)` then tells whether the value passes it.

    The `regex` package reads Unicode property classes (`\\p{L}`) that `re` does not; `re` is used for every
    other pattern because it is about twice as fast per search, and the rewritten pattern means the same to
    both (no locale- or Unicode-dependent shorthand is left in it).
    """
    translated = ecma_to_python(pattern)
    if "\\p{" in translated or "\\P{" in translated:
        return regex.compile(translated)
    return re.compile(translated)


@dataclass(frozen=True, slots=True)
class SmithyPattern:
    """A Smithy @pattern: the value passes when the ECMAScript regex matches some part of it."""

    pattern: str
    _compiled: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", compile_pattern(self.pattern))

    def matches(self, value: str) -> bool:
        return self._compiled.search(value) is not None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        search = self._compiled.search
        context = {"pattern": self.pattern}

        def validate(value: str) -> str:
            if search(value) is None:
                raise PydanticCustomError("smithy_pattern", "must match pattern {pattern}", context)
            # Patterns and lengths are defined over code points, and a lone surrogate (which json.loads lets
            # through from a "\ud800" escape) is not one: no UTF-8 encoder could send it on either.
            if not (value.isascii() or _is_unicode_text(value)):
                raise PydanticCustomError("smithy_text", "must be valid Unicode text")
            return value

        return core_schema.no_info_after_validator_function(validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        # JSON Schema's `pattern` is an unanchored ECMAScript regex as well: it carries over unchanged.
        json_schema["pattern"] = self.pattern
        return json_schema


def _is_unicode_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bounds_checked(schema: core_schema.CoreSchema, check: core_schema.CoreSchema, message: str) -> Any:
    """`schema`, then `check` (the bounds, validated by pydantic-core) failing with our own message only."""
    return core_schema.chain_schema(
        [schema, core_schema.custom_error_schema(check, "smithy_bounds", custom_error_message=message)]
    )


@dataclass(frozen=True, slots=True)
class SmithyLength:
    """A Smithy @length: code points of a string, items of a list, entries of a map, bounds inclusive."""

    min: int
    max: int | None = None

    def _bounds(self) -> str:
        return f"{self.min}..{self.max}" if self.max is not None else f"at least {self.min}"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        bounds = self._bounds()
        if schema["type"] == "str":
            # Strings are the bulk of an event: their bounds are checked natively (pydantic-core counts code
            # points, as Smithy does).
            check = core_schema.str_schema(min_length=self.min, max_length=self.max, strict=True)
            return _bounds_checked(schema, check, f"length must be {bounds}")
        unit = "entries" if schema["type"] == "dict" else "items"
        low, high = self.min, self.max
        container = dict if unit == "entries" else list

        # Checked before the items: an oversized list is one problem, not one per item.
        def validate(value: Any) -> Any:
            if type(value) is container and (len(value) < low or (high is not None and len(value) > high)):
                raise PydanticCustomError(
                    "smithy_length", "must hold {bounds} {unit}", {"bounds": bounds, "unit": unit}
                )
            return value

        return core_schema.no_info_before_validator_function(validate, schema)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        lower, upper = {
            "array": ("minItems", "maxItems"),
            "object": ("minProperties", "maxProperties"),
        }.get(json_schema.get("type", "string"), ("minLength", "maxLength"))
        json_schema[lower] = self.min
        if self.max is not None:
            json_schema[upper] = self.max
        return json_schema


@dataclass(frozen=True, slots=True)
class SmithyRange:
    """A Smithy @range on an integer, bounds inclusive."""

    min: int
    max: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        check = core_schema.int_schema(ge=self.min, le=self.max, strict=True)
        return _bounds_checked(handler(source), check, f"must be {self.min}..{self.max}")

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["minimum"] = self.min
        json_schema["maximum"] = self.max
        return json_schema
