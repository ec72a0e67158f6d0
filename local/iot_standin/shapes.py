"""Check a request against the shapes of an AWS service model, the way the service does before acting on it.

A second, independent reading of the service model: the bridge's own request models are checked against
what this walker accepts, so the two share no constraint code. They do share one thing: the reading of the
model's ECMAScript patterns (`iotbridge.send_connector_event.smithy.compile_pattern`), so that no value
can pass one and fail the other for a difference in regular-expression dialects.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iotbridge.send_connector_event.smithy import compile_pattern

Shapes = Mapping[str, Mapping[str, Any]]

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken constraint: where (a member path) and which rule. Never the offending value."""

    path: str
    rule: str

    def describe(self) -> str:
        return f"Value at '{self.path}' failed to satisfy constraint: {self.rule}"


@dataclass(slots=True)
class CheckResult:
    violations: list[Violation] = field(default_factory=list)
    # Members the model does not know: the REST-JSON services ignore them, so we only note them.
    unknown_members: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self, limit: int = 10) -> str:
        """AWS's wording: 'N validation error(s) detected: ...; ...'."""
        count = len(self.violations)
        shown = "; ".join(v.describe() for v in self.violations[:limit])
        more = f"; and {count - limit} more" if count > limit else ""
        return f"{count} validation error{'s' if count != 1 else ''} detected: {shown}{more}"


@functools.cache
def compiled_pattern(pattern: str) -> Any:
    return compile_pattern(pattern)


def pattern_allows(pattern: str, value: str) -> bool:
    """Smithy semantics: a pattern is not implicitly anchored; it holds if it matches anywhere."""
    return compiled_pattern(pattern).search(value) is not None


class ShapeChecker:
    """Walks a JSON value along a model shape and collects every constraint it breaks."""

    def __init__(self, shapes: Shapes) -> None:
        self._shapes = shapes

    def check(self, shape_name: str, value: Any, path: str = "") -> CheckResult:
        result = CheckResult()
        self._walk(shape_name, value, path, result)
        return result

    def _walk(self, shape_name: str, value: Any, path: str, out: CheckResult) -> None:
        shape = self._shapes[shape_name]
        kind = shape["type"]
        if shape.get("document"):
            return  # any JSON value
        walker = getattr(self, f"_walk_{kind}", None)
        if walker is None:
            return  # a type no operation served here uses
        walker(shape, value, path, out)

    def _walk_structure(self, shape: Mapping[str, Any], value: Any, path: str, out: CheckResult) -> None:
        if not isinstance(value, dict):
            out.violations.append(Violation(path or "<body>", "Member must be a structure (JSON object)"))
            return
        members: Mapping[str, Mapping[str, Any]] = shape.get("members", {})
        wire_names = {member.get("locationName", name): name for name, member in members.items()}
        for name in shape.get("required", []):
            wire = members[name].get("locationName", name)
            if value.get(wire) is None:
                out.violations.append(Violation(_join(path, wire), "Member must not be null"))
        for wire, item in value.items():
            name = wire_names.get(wire)
            if name is None:
                out.unknown_members.append(_join(path, str(wire)))
            elif item is not None:
                self._walk(members[name]["shape"], item, _join(path, wire), out)

    def _walk_list(self, shape: Mapping[str, Any], value: Any, path: str, out: CheckResult) -> None:
        if not isinstance(value, list):
            out.violations.append(Violation(path, "Member must be a list"))
            return
        _size(shape, len(value), path, out)
        member_shape = shape["member"]["shape"]
        for index, item in enumerate(value):
            if item is None:
                out.violations.append(Violation(f"{path}[{index}]", "Member must not be null"))
            else:
                self._walk(member_shape, item, f"{path}[{index}]", out)

    def _walk_map(self, shape: Mapping[str, Any], value: Any, path: str, out: CheckResult) -> None:
        if not isinstance(value, dict):
            out.violations.append(Violation(path, "Member must be a map (JSON object)"))
            return
        _size(shape, len(value), path, out)
        # Entries are named by position: keys can be user data, and messages never carry values.
        for index, (key, item) in enumerate(value.items()):
            self._walk(shape["key"]["shape"], key, f"{path}.key[{index}]", out)
            if item is None:
                out.violations.append(Violation(f"{path}.value[{index}]", "Member must not be null"))
            else:
                self._walk(shape["value"]["shape"], item, f"{path}.value[{index}]", out)

    def _walk_string(self, shape: Mapping[str, Any], value: Any, path: str, out: CheckResult) -> None:
        if not isinstance(value, str):
            out.violations.append(Violation(path, "Member must be a string"))
            return
        _size(shape, len(value), path, out)
        enum = shape.get("enum")
        if enum is not None and value not in enum:
            out.violations.append(Violation(path, f"Member must satisfy enum value set: [{', '.join(enum)}]"))
        pattern = shape.get("pattern")
        if pattern is not None and not pattern_allows(pattern, value):
            out.violations.append(
                Violation(path, f"Member must satisfy regular expression pattern: {pattern}")
            )

    def _walk_integer(self, shape: Mapping[str, Any], value: Any, path: str, out: CheckResult) -> None:
        self._whole_number(shape, value, path, out, bounds=INT32, name="an integer")

    def _walk_long(self, shape: Mapping[str, Any], value: Any, path: str, out: CheckResult) -> None:
        self._whole_number(shape, value, path, out, bounds=INT64, name="a long")

    @staticmethod
    def _whole_number(
        shape: Mapping[str, Any],
        value: Any,
        path: str,
        out: CheckResult,
        *,
        bounds: tuple[int, int],
        name: str,
    ) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            out.violations.append(Violation(path, f"Member must be {name}"))
            return
        if not bounds[0] <= value <= bounds[1]:
            out.violations.append(
                Violation(path, f"Member must be {name} between {bounds[0]} and {bounds[1]}")
            )
            return
        _range(shape, value, path, out)

    def _walk_float(self, shape: Mapping[str, Any], value: Any, path: str, out: CheckResult) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            out.violations.append(Violation(path, "Member must be a number"))
            return
        _range(shape, value, path, out)

    _walk_double = _walk_float

    def _walk_boolean(self, shape: Mapping[str, Any], value: Any, path: str, out: CheckResult) -> None:
        if not isinstance(value, bool):
            out.violations.append(Violation(path, "Member must be a boolean"))

    def _walk_blob(self, shape: Mapping[str, Any], value: Any, path: str, out: CheckResult) -> None:
        # REST-JSON carries blobs in the body as base64 text.
        if not isinstance(value, str):
            out.violations.append(Violation(path, "Member must be base64-encoded binary data"))
            return
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            out.violations.append(Violation(path, "Member must be base64-encoded binary data"))
            return
        _size(shape, len(raw), path, out)

    def _walk_timestamp(self, shape: Mapping[str, Any], value: Any, path: str, out: CheckResult) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            out.violations.append(Violation(path, "Member must be a timestamp"))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _size(shape: Mapping[str, Any], size: int, path: str, out: CheckResult) -> None:
    if "min" in shape and size < shape["min"]:
        out.violations.append(
            Violation(path, f"Member must have length greater than or equal to {shape['min']}")
        )
    if "max" in shape and size > shape["max"]:
        out.violations.append(
            Violation(path, f"Member must have length less than or equal to {shape['max']}")
        )


def _range(shape: Mapping[str, Any], value: float, path: str, out: CheckResult) -> None:
    if "min" in shape and value < shape["min"]:
        out.violations.append(
            Violation(path, f"Member must have value greater than or equal to {shape['min']}")
        )
    if "max" in shape and value > shape["max"]:
        out.violations.append(Violation(path, f"Member must have value less than or equal to {shape['max']}"))
