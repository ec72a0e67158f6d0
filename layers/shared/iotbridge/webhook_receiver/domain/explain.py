"""How a profile mapped each native event, for `python -m iotbridge profile test --explain`: the rule that
matched or why each rule's `when` did not hold, where each member and attribute came from and through which
transform, and what was skipped or refused.

A trace names expressions and the JSON type of what they found, never a value: the events a connector team
explains are real deliveries, with real users' data. The relay never traces (its mapping is given no tracer).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from iotbridge.profile.expressions import Evaluation, EvaluationBudgetError, Expression

if TYPE_CHECKING:
    from iotbridge.profile.matter_targets import MatterEndpointMapping
    from iotbridge.profile.rules import Rule

_OPERATORS = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
# Nodes whose text reads as one operand wherever it stands; any other is put in parentheses inside another.
_ATOMS = frozenset(
    {"field", "subexpression", "index_expression", "function_expression", "literal", "current", "identity"}
)
# Nodes that bind more loosely than `.` when written out: put in parentheses as a link of a chain.
_LOOSE = frozenset({"not_expression", "and_expression", "or_expression", "comparator", "pipe"})


def type_of(value: Any) -> str:
    """What JMESPath would call the value's type, in words (`a string`, `null (absent)`); never the value,
    though an empty text, array or object says so: the emptiness is what makes it false."""
    if value is None:
        return "null (absent)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    if isinstance(value, list):
        return "an array" if value else "an empty array"
    if isinstance(value, dict):
        return "an object" if value else "an empty object"
    return "a value"


def expression_text(node: Mapping[str, Any]) -> str:
    """A parsed JMESPath expression written out again (`event.type == 'state'`), for naming the part of a
    condition that failed: the parser keeps no positions in the text."""
    write = _WRITERS.get(str(node.get("type")))
    return write(node.get("value"), node.get("children", [])) if write is not None else "(...)"


def _joined(separator: str) -> Callable[[Any, list[Any]], str]:
    return lambda _, children: separator.join(expression_text(child) for child in children)


def _field(name: Any, _: list[Any]) -> str:
    return name if str(name).isidentifier() else json.dumps(name)


def _literal(value: Any, _: list[Any]) -> str:
    return f"'{value}'" if isinstance(value, str) else f"`{json.dumps(value)}`"


def _comparison(operator: Any, children: list[Any]) -> str:
    left, right = (_operand(child) for child in children)
    return f"{left} {_OPERATORS.get(str(operator), operator)} {right}"


def _logical(kind: str, operator: str) -> Callable[[Any, list[Any]], str]:
    return lambda _, children: operator.join(_operand(child, keep=kind) for child in children)


def _slice(_: Any, children: list[Any]) -> str:
    start, stop, step = ("" if part is None else str(part) for part in children)
    return f"[{start}:{stop}" + (f":{step}]" if step else "]")


def _chain(_: Any, children: list[Any]) -> str:
    # `!a.b` is `(!a).b`: written so, the way JMESPath reads it.
    return ".".join(
        _operand(child) if child.get("type") in _LOOSE else expression_text(child) for child in children
    )


_WRITERS: dict[str, Callable[[Any, list[Any]], str]] = {
    "field": _field,
    "literal": _literal,
    "current": lambda _, __: "@",
    "identity": lambda _, __: "@",
    "subexpression": _chain,
    "index_expression": _joined(""),
    "index": lambda value, _: f"[{value}]",
    "slice": _slice,
    "comparator": _comparison,
    "and_expression": _logical("and_expression", " && "),
    "or_expression": _logical("or_expression", " || "),
    "not_expression": lambda _, children: "!" + _operand(children[0]),
    "function_expression": lambda name, children: f"{name}({_joined(', ')(None, children)})",
    "expref": lambda _, children: "&" + expression_text(children[0]),
    "pipe": _joined(" | "),
    "flatten": lambda _, children: expression_text(children[0]) + "[]",
    "projection": lambda _, children: _projection_text("projection", children),
    "value_projection": lambda _, children: _projection_text("value_projection", children),
    "filter_projection": lambda _, children: _projection_text("filter_projection", children),
    "multi_select_list": lambda _, children: f"[{_joined(', ')(None, children)}]",
    "multi_select_dict": lambda _, children: "{" + _joined(", ")(None, children) + "}",
    "key_val_pair": lambda key, children: f"{key}: {expression_text(children[0])}",
}


def _operand(node: Mapping[str, Any], keep: str | None = None) -> str:
    text = expression_text(node)
    return text if node.get("type") in _ATOMS or node.get("type") == keep else f"({text})"


def _projection_text(kind: str, children: list[Any]) -> str:
    left = "" if children[0].get("type") == "identity" else expression_text(children[0])
    if kind == "filter_projection":
        head = f"{left}[?{expression_text(children[2])}]"
    elif kind == "value_projection":
        head = f"{left}.*"
    elif _projects_itself(children[0]):
        head = left  # `a[]` and `a[1:3]` are projections of their own
    else:
        head = f"{left}[*]"
    right = children[1]
    if right.get("type") == "identity":
        return head
    tail = expression_text(right)
    return head + (tail if tail.startswith("[") else "." + tail)


def _projects_itself(node: Mapping[str, Any]) -> bool:
    children = node.get("children", [])
    return node.get("type") == "flatten" or (
        node.get("type") == "index_expression" and bool(children) and children[-1].get("type") == "slice"
    )


def _is_false(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, str | list | dict) and not value)


class _Unevaluable(Exception):
    pass


def _evaluate(node: Mapping[str, Any], values: Any) -> Any:
    from jmespath.exceptions import JMESPathError

    # Offline, and for one condition: a budget of its own, as large as a webhook's.
    try:
        return Evaluation().visit(dict(node), values)
    except (EvaluationBudgetError, JMESPathError, TypeError, ValueError, ArithmeticError, RecursionError):
        # What Expression.search takes for an expression that cannot be evaluated on these values.
        raise _Unevaluable from None


def why_false(expression: Expression, values: Mapping[str, Any]) -> list[str]:
    """Why a condition did not hold on these values: the failing parts, each with the types found."""
    try:
        return _why(expression.compiled.parsed, values)
    except _Unevaluable:
        return [f"{expression} cannot be evaluated on this event"]


def _why(node: Mapping[str, Any], values: Any) -> list[str]:
    kind = node.get("type")
    children = node.get("children", [])
    text = expression_text(node)
    if kind == "and_expression":
        first, second = children
        return _why(first if _is_false(_evaluate(first, values)) else second, values)
    if kind == "or_expression":
        return [reason for child in children for reason in _why(child, values)]
    if kind == "not_expression":
        inner = children[0]
        found = _evaluate(inner, values)
        return [f"{text} was false: {expression_text(inner)} is {type_of(found)}, which counts as true"]
    if kind == "comparator":
        operands = [
            f"{expression_text(child)} is {type_of(_evaluate(child, values))}"
            for child in children
            if child.get("type") != "literal"
        ]
        return [f"{text} was false: {', '.join(operands) or 'it compares two literals'}"]
    if kind == "function_expression":
        arguments = [
            f"{expression_text(child)} is {type_of(_evaluate(child, values))}"
            for child in children
            if child.get("type") not in ("literal", "expref")
        ]
        found = type_of(_evaluate(node, values))
        return [f"{text} was false: it gave {found}" + (f"; {', '.join(arguments)}" if arguments else "")]
    if kind == "subexpression":
        return [f"{text} was false: {_where_missing(node, values)}"]
    return [f"{text} was false: it is {type_of(_evaluate(node, values))}"]


def _where_missing(node: Mapping[str, Any], values: Any) -> str:
    """For a chain `a.b.c` that found nothing usable: the first link that did not lead on, and its type."""
    current = values
    walked: list[str] = []
    for link in _links(node):
        found = _evaluate(link, current)
        walked.append(_operand(link) if link.get("type") in _LOOSE else expression_text(link))
        if found is None and len(walked) > 1:
            return f"{'.'.join(walked[:-1])} is {type_of(current)} without {walked[-1]}"
        if found is None:
            return f"{walked[0]} is {type_of(found)}"
        current = found
    return f"{'.'.join(walked)} is {type_of(current)}"


def _links(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The links of a chain, in order (the parser nests some chains and lists others flat)."""
    if node.get("type") != "subexpression":
        return [node]
    return [link for child in node.get("children", []) for link in _links(child)]


def _transform_text(transform: Any) -> str:
    """A transform by its name or kind (`percentToLevel`, `map`, `equals`), never its table."""
    if transform is None:
        return ""
    steps = transform if isinstance(transform, list) else [transform]
    names = []
    for step in steps:
        if isinstance(step, str):
            names.append(step)
            continue
        dumped = step.model_dump(by_alias=True, exclude_none=True) if hasattr(step, "model_dump") else {}
        names.append(next(iter(dumped), type(step).__name__))
    return " then ".join(names)


def _source_text(spec: Any) -> str:
    """Where a member's value comes from, as the profile writes it."""
    if isinstance(spec, Expression):
        return str(spec)
    if hasattr(spec, "lookup"):
        by = getattr(spec, "by", None)
        return f"lookup {spec.lookup}" + (f" by {by}" if by is not None else "")
    if hasattr(spec, "template"):
        return f"template {spec.template!r}"
    if hasattr(spec, "from_"):
        transform = _transform_text(getattr(spec, "transform", None))
        return str(spec.from_) + (f", transform {transform}" if transform else "")
    return "a literal value"


class _Finding(Protocol):
    """What the mapping found wrong, or skipped (its `Skipped`)."""

    @property
    def path(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def code(self) -> str: ...
    @property
    def event(self) -> bool: ...


@dataclass
class EventTrace:
    """One native event: each line of its explanation, in the order the mapping went."""

    source: str
    lines: list[str] = field(default_factory=list)
    outcome: str = ""
    # The type of what each expression found in this event (the last time it was evaluated).
    _found: dict[str, str] = field(default_factory=dict)

    def searched(self, expression: str, value: Any) -> None:
        self._found[str(expression)] = type_of(value)

    def tried(self, rule: Rule, holds: bool, values: Mapping[str, Any]) -> None:
        if holds or rule.when is None:  # a rule without a condition always holds
            self.lines.append(f"rule {rule.name}: matched" + (f" ({rule.when} held)" if rule.when else ""))
            return
        reasons = why_false(rule.when, values)
        self.lines.append(f"rule {rule.name}: when did not hold: {reasons[0]}")
        self.lines.extend(f"  and {reason}" for reason in reasons[1:])

    def member(self, name: str, spec: Any, value: Any) -> None:
        source = _source_text(spec)
        if value is not None:
            verdict = f"set ({type_of(value)})"
        else:
            expression = getattr(spec, "from_", None) or getattr(spec, "by", None) or spec
            found = self._found.get(str(expression)) if isinstance(expression, str) else None
            verdict = f"left out (found {found})" if found else "left out"
        self.lines.append(f"member {name} <- {source}: {verdict}")

    def endpoint(self, spec: MatterEndpointMapping, endpoint: Mapping[str, Any]) -> None:
        clusters = {cluster["id"]: cluster for cluster in endpoint.get("clusters", [])}
        for item in spec.set:
            cluster_id, attribute_id, _ = item.target
            attributes = clusters.get(cluster_id, {}).get("attributes", {})
            present = (
                any(attribute_id in entry for entry in attributes)
                if isinstance(attributes, list)
                else attribute_id in attributes
            )
            source = getattr(item, "from_", None)
            where = f"{source}" if source is not None else "a literal value"
            transform = _transform_text(getattr(item, "transform", None))
            if transform:
                where += f", transform {transform}"
            found = self._found.get(str(source)) if source is not None else None
            verdict = "set" if present else "left out"
            if found is not None:
                verdict += f" (found {found})"
            self.lines.append(f"attribute {item.attribute} <- {where}: {verdict}")

    def problem(self, finding: _Finding) -> None:
        self.lines.append(f"problem at {finding.path or '(body)'}: {finding.reason} [{finding.code}]")

    def skipped(self, finding: _Finding) -> None:
        what = "skip" if finding.event else "value left out"
        self.lines.append(f"{what} at {finding.path or '(body)'}: {finding.reason} [{finding.code}]")

    def ended(self, outcome: str) -> None:
        self.outcome = outcome

    def render(self) -> str:
        body = "\n".join(f"  {line}" for line in self.lines)
        return f"native event {self.source}: {self.outcome or 'not mapped'}" + (f"\n{body}" if body else "")


@dataclass
class MappingTrace:
    """Every native event of one webhook, as the mapping went through them."""

    events: list[EventTrace] = field(default_factory=list)

    def event(self, source: str) -> EventTrace:
        trace = EventTrace(source)
        self.events.append(trace)
        return trace

    def render(self) -> str:
        if not self.events:
            return "no native event was mapped (the webhook was answered before its events were read)"
        return "\n".join(event.render() for event in self.events)
