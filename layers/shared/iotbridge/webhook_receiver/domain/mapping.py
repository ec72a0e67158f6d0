"""A device cloud's own JSON to SendConnectorEvent bodies, as its profile declares.

The profile's `events` expression finds the native events; each goes to the first rule whose `when` holds.
The rule's members come from expressions over `{"event", "body", "headers"}`; its Matter attributes are named
from the catalogue (`LevelControl.CurrentLevel`), turned into ids, and their values checked against the
attribute's type and range after the rule's transform: a value out of range is a mapping error, unless the
rule asks to clamp it. What comes out is then validated by the same SendConnectorEvent models as any other
webhook, before anything is acknowledged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from iotbridge import matter
from iotbridge.errors import InvalidInputError, Problem
from iotbridge.profile.document import ConnectorProfile
from iotbridge.profile.expressions import (
    MAX_EVALUATION_STEPS,
    Evaluation,
    EvaluationBudgetError,
    Expression,
    ExpressionError,
)
from iotbridge.profile.matter_targets import DevicesMapping, MatterEndpointMapping, SetAttribute
from iotbridge.profile.rules import Rule
from iotbridge.profile.values import FromValue, LiteralValue, TemplateValue
from iotbridge.send_connector_event.operations import CORRELATED_MEMBER

from .transforms import TransformError, apply

CAPABILITY_REPORT_VERSION = "1.0.0"
# The work of one webhook is bounded before it is mapped: at most this many native events (ten times the
# largest batch a device cloud we know of sends: Enode's 100), most of which a profile may ignore...
MAX_NATIVE_EVENTS = 1_000
# ...and at most this many discovered devices in all: a mapped device takes at least 128 bytes of its event,
# so no more than this could ever fit the 1 MiB queue message an event must fit.
MAX_NATIVE_DEVICES = 8_000


class MappingError(InvalidInputError):
    """A native body the profile cannot turn into valid events; each problem names the rule and the native
    field (never its value)."""

    subject = "native body"
    whole = "(body)"


@dataclass(frozen=True, slots=True)
class MappedEvent:
    rule: str
    source: str  # where the native event is, e.g. "body.devices[2]"
    event: dict[str, Any]  # a SendConnectorEvent body without ConnectorId


@dataclass(frozen=True, slots=True)
class Mapped:
    events: list[MappedEvent]
    ignored: int = 0  # native events no rule matched, under `unmatched: ignore`


def native_path(source: str, expression: str) -> str:
    """Where an expression reads, as a path in the native body: `event.x` of the event at `body.devices[2]`
    is `devices[2].x`."""
    base = source.removeprefix("body").lstrip(".")
    # A device's expressions read it as `device` as well as `event` (see _devices).
    for name in ("event", "device"):
        if expression.startswith(f"{name}."):
            rest = expression[len(name) + 1 :]
            return f"{base}.{rest}" if base else rest
        if expression == name:
            return base
    if expression.startswith("body."):
        return expression[len("body.") :]
    return expression


class _OverBoundError(Exception):
    """The webhook needs more work than its bounds allow: refused whole, with this one problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.rule)
        self.problem = problem


@dataclass(slots=True)
class _Work:
    """What one webhook's mapping may still spend: JMESPath steps, and devices."""

    evaluation: Evaluation = field(default_factory=Evaluation)
    devices_left: int = MAX_NATIVE_DEVICES


@dataclass(frozen=True, slots=True)
class _Scope:
    """One native event being mapped by one rule: what its expressions read, where it is, and the problems
    found so far and the work left (both shared by every event of the body)."""

    values: Mapping[str, Any]
    source: str
    rule: str
    problems: list[Problem] = field(default_factory=list)
    work: _Work = field(default_factory=_Work)

    def search(self, expression: Expression) -> Any:
        """What the expression finds; when it cannot be evaluated here, a problem, and nothing found."""
        try:
            return expression.search(self.values, self.work.evaluation)
        except ExpressionError:
            self.add("event", f"{expression} cannot be evaluated on this event")
            return None

    def add(self, expression: str, what: str) -> None:
        self.problems.append(Problem(native_path(self.source, expression), f"rule {self.rule}: {what}"))


_SIMPLE_PATH = re.compile(r"body(\.[A-Za-z_][A-Za-z0-9_]*)*")  # fullmatch: "$" allows a trailing newline


def _events_of(
    profile: ConnectorProfile, context: Mapping[str, Any], evaluation: Evaluation
) -> list[tuple[str, Any]]:
    """The native events and where each is (`body.devices[2]`), for the problems that name them."""
    try:
        found = profile.events.search(context, evaluation)
    except ExpressionError:
        found = None
    where = str(profile.events)
    if isinstance(found, dict):
        found, single = [found], True
    elif isinstance(found, list):
        single = False
    else:
        raise MappingError([Problem("", "the profile's events expression finds no object or list")])
    if len(found) > MAX_NATIVE_EVENTS:
        path = native_path("body", where) if _SIMPLE_PATH.fullmatch(where) else ""
        raise MappingError([Problem(path, f"a webhook may carry at most {MAX_NATIVE_EVENTS} native events")])
    if _SIMPLE_PATH.fullmatch(where):
        return [(where if single else f"{where}[{index}]", item) for index, item in enumerate(found)]
    # Any other expression: where each event is in the body, found by identity (JMESPath hands back the
    # body's own objects), or its place in what the expression built.
    located = _locate(context["body"], {id(item) for item in found})
    return [(located.get(id(item), f"({where})[{index}]"), item) for index, item in enumerate(found)]


def _locate(body: Any, wanted: set[int]) -> dict[int, str]:
    paths: dict[int, str] = {}
    pending: list[tuple[Any, str]] = [(body, "body")]
    while pending and len(paths) < len(wanted):
        value, path = pending.pop()
        if id(value) in wanted:
            paths.setdefault(id(value), path)
        if isinstance(value, dict):
            pending.extend((v, f"{path}.{k}") for k, v in value.items() if isinstance(v, dict | list))
        elif isinstance(value, list):
            pending.extend((v, f"{path}[{i}]") for i, v in enumerate(value) if isinstance(v, dict | list))
    return paths


def map_body(profile: ConnectorProfile, body: Any, headers: Mapping[str, str]) -> Mapped:
    """The SendConnectorEvent bodies a native body stands for. Raises MappingError listing its problems (the
    first ones: the error bounds its list), or the one bound of the work the body would need beyond."""
    try:
        return _mapped(profile, body, headers, _Work())
    except EvaluationBudgetError:
        bound = f"the profile's expressions need more than {MAX_EVALUATION_STEPS} evaluation steps for it"
        raise MappingError([Problem("", f"a webhook's bound: {bound}")]) from None
    except _OverBoundError as exc:
        raise MappingError([exc.problem]) from None


def _mapped(profile: ConnectorProfile, body: Any, headers: Mapping[str, str], work: _Work) -> Mapped:
    context = {"body": body, "headers": dict(headers)}
    problems: list[Problem] = []
    mapped: list[MappedEvent] = []
    ignored = 0
    for source, native in _events_of(profile, context, work.evaluation):
        values = {**context, "event": native}
        unevaluated = len(problems)
        rule = next((r for r in profile.rules if _applies(r, values, source, problems, work)), None)
        if rule is None and len(problems) > unevaluated:
            continue  # a condition could not be evaluated: that is the problem, not the lack of a match
        if rule is None:
            if profile.unmatched == "ignore":
                ignored += 1
            else:
                problems.append(Problem(native_path(source, "event"), "no rule of the profile matches it"))
            continue
        scope = _Scope(values, source, rule.name, problems, work)
        before = len(problems)
        event: dict[str, Any] = {"Operation": rule.operation}
        for member, spec in rule.members.items():
            value = _value(spec, scope, member)
            if value is not None:
                event[member] = value
        if rule.request is not None:
            _answered_request(rule.request, rule.operation, scope, event)
        if rule.matter_endpoint is not None:
            event["MatterEndpoint"] = _matter_endpoint(rule.matter_endpoint, scope, profile.attribute_form)
        if rule.devices is not None:
            event["Devices"] = _devices(rule.devices, scope)
        if len(problems) == before:
            mapped.append(MappedEvent(rule.name, source, event))
    if problems:
        raise MappingError(problems)
    return Mapped(mapped, ignored)


def _applies(
    rule: Rule, values: Mapping[str, Any], source: str, problems: list[Problem], work: _Work
) -> bool:
    if rule.when is None:
        return True
    return _truthy(_Scope(values, source, rule.name, problems, work).search(rule.when))


def _truthy(value: Any) -> bool:
    # JMESPath's own truth: false, null, "", [], {} are false; 0 is true (so no `in` test: 0 == False).
    if value is None or value is False:
        return False
    return not (isinstance(value, str | list | dict) and not value)


def _value(spec: Any, scope: _Scope, target: str) -> Any:
    if isinstance(spec, Expression):
        return scope.search(spec)
    if isinstance(spec, LiteralValue):
        return spec.value
    if isinstance(spec, TemplateValue):
        return _filled(spec, scope, target)
    if isinstance(spec, FromValue):
        found = scope.search(spec.from_)
        if found is None:
            return None
        try:
            return apply(spec.transform, found)
        except TransformError as exc:
            scope.add(spec.from_, f"{target} {exc}")
    return None


def _answered_request(expression: Expression, operation: str, scope: _Scope, event: dict[str, Any]) -> None:
    """The id of the request the event answers, echoed by the device cloud, as the member that carries it
    (unless the rule's members set that member)."""
    member = CORRELATED_MEMBER[operation]
    if member in event:
        return
    found = scope.search(expression)
    if isinstance(found, int) and not isinstance(found, bool):
        found = str(found)
    if not isinstance(found, str):
        scope.add(expression, f"{member} comes from the request id the device cloud echoes: it must be text")
        return
    event[member] = found


def _filled(spec: TemplateValue, scope: _Scope, target: str) -> str | None:
    text = []
    for part in spec.parts:
        if isinstance(part, Expression):
            found = scope.search(part)
            if found is None or isinstance(found, dict | list):
                scope.add(part, f"{target} needs a text or number here")
                return None
            text.append(found if isinstance(found, str) else _scalar_text(found))
        else:
            text.append(part)
    return "".join(text)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _matter_value(value: Any) -> Any:
    # JSON numbers such as 20.0 are whole numbers to Matter's integer types.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)


# What `_attribute_value` gives for an attribute it does not set (its problem, if any, is in the scope).
_NOT_SET = object()


def _attribute_value(item: SetAttribute, scope: _Scope) -> Any:
    """The checked value `item` sets its attribute to, or _NOT_SET."""
    found = scope.search(item.from_)
    if found is None:
        if item.required:
            scope.add(item.from_, f"{item.attribute} is required and missing")
        return _NOT_SET
    attribute = item.target[2]
    clamps = item.clamp and attribute.bounds is not None
    try:
        value = _matter_value(apply(item.transform, found, clamped=clamps))
    except TransformError as exc:
        scope.add(item.from_, f"{item.attribute} {exc}")
        return _NOT_SET
    # Only a number clamps into a numeric attribute (clamped() refuses NaN, and a bool or string attribute
    # has no range): anything else is left to the attribute's own check.
    numeric = isinstance(value, int | float) and not isinstance(value, bool) and not _is_nan(value)
    if clamps and numeric:
        value = attribute.clamped(value)
    broken = attribute.problem(value)
    if broken is not None:
        scope.add(item.from_, f"{item.attribute} {broken}")
        return _NOT_SET
    return value


def _matter_endpoint(spec: MatterEndpointMapping, scope: _Scope, attribute_form: str) -> dict[str, Any]:
    clusters: dict[str, dict[str, Any]] = {}

    def cluster(cluster_id: str) -> dict[str, Any]:
        return clusters.setdefault(cluster_id, {"id": cluster_id})

    for item in spec.set:
        value = _attribute_value(item, scope)
        if value is _NOT_SET:
            continue
        cluster_id, attribute_id, _ = item.target
        attributes = cluster(cluster_id).setdefault("attributes", [] if attribute_form == "list" else {})
        if isinstance(attributes, list):
            attributes.append({attribute_id: value})
        else:
            attributes[attribute_id] = value
    for command in spec.commands:
        name = command.command
        if command.from_ is not None:
            found = scope.search(command.from_)
            name = command.map.get(found if isinstance(found, str) else _scalar_text(found))
            if name is None:
                scope.add(command.from_, "the command has no entry in the map")
                continue
        assert name is not None  # one of command and from is set (the profile model checks it)
        cluster_spec, command_id = matter.command(name)
        cluster(cluster_spec.hex_id).setdefault("commands", {})[matter.command_hex(command_id)] = {}
    for event in spec.events:
        if event.when is not None and not _truthy(scope.search(event.when)):
            continue
        cluster_spec, event_id = matter.event(event.event)
        cluster(cluster_spec.hex_id).setdefault("events", {})[matter.event_hex(event_id)] = {}
    endpoint: dict[str, Any] = {"id": spec.endpoint}
    if clusters:
        endpoint["clusters"] = list(clusters.values())
    return endpoint


def _devices(spec: DevicesMapping, scope: _Scope) -> list[dict[str, Any]]:
    found = scope.search(spec.from_)
    if not isinstance(found, list):
        scope.add(spec.from_, "devices must be a list")
        return []
    scope.work.devices_left -= len(found)
    if scope.work.devices_left < 0:
        where = native_path(scope.source, spec.from_)
        raise _OverBoundError(
            Problem(where, f"a webhook may carry at most {MAX_NATIVE_DEVICES} devices in all")
        )
    devices = []
    for index, native in enumerate(found):
        # Expressions of a device read it as `device` (and as `event`, for profiles that say so).
        device = replace(
            scope,
            values={**scope.values, "device": native, "event": native},
            source=f"{native_path(scope.source, spec.from_)}[{index}]",
        )
        device_id = device.search(spec.connector_device_id)
        if not isinstance(device_id, str):
            device.add(spec.connector_device_id, "ConnectorDeviceId must be text")
            continue
        type_name = _device_type_name(spec, device)
        if type_name is None:
            continue
        reported: dict[str, Any] = {
            "ConnectorDeviceId": device_id,
            "CapabilityReport": _capability_report(spec, type_name, device),
        }
        if spec.name is not None:
            name = device.search(spec.name)
            if name is not None:
                reported["ConnectorDeviceName"] = name
        devices.append(reported)
    return devices


def _device_type_name(spec: DevicesMapping, device: _Scope) -> str | None:
    if isinstance(spec.device_type, str):
        return spec.device_type
    native = device.search(spec.device_type.from_)
    name = spec.device_type.map.get(native if isinstance(native, str) else _scalar_text(native))
    if name is None:
        device.add(spec.device_type.from_, "the device type has no entry in the map")
    return name


def _capability_report(spec: DevicesMapping, type_name: str, device: _Scope) -> dict[str, Any]:
    device_type = matter.device_type(type_name)
    names = list(device_type.required_clusters)
    if spec.add_clusters is not None:
        extra = device.search(spec.add_clusters.from_) or []
        if not isinstance(extra, list):
            device.add(spec.add_clusters.from_, "added clusters must come from a list")
            extra = []
        for native in extra:
            added = spec.add_clusters.map.get(native if isinstance(native, str) else _scalar_text(native))
            if added is not None and added not in names:
                names.append(added)
    return {
        "version": CAPABILITY_REPORT_VERSION,
        "endpoints": [
            {
                "id": spec.endpoint,
                "deviceTypes": [device_type.hex_id],
                "clusters": [_reported_cluster(matter.CLUSTERS[name]) for name in names],
            }
        ],
    }


def _reported_cluster(cluster: matter.ClusterSpec) -> dict[str, Any]:
    """A cluster as a capability report lists it: id, revision, its mandatory attributes and its commands."""
    reported: dict[str, Any] = {"id": cluster.hex_id, "revision": min(cluster.revision, 10)}
    attributes = [{"id": a.hex_id, "name": a.name} for a in cluster.attributes.values() if a.mandatory]
    if attributes:
        reported["attributes"] = attributes[:100]
    if cluster.commands:
        reported["commands"] = [matter.command_hex(i) for i in cluster.commands.values()][:100]
    if cluster.events:
        reported["events"] = [matter.event_hex(i) for i in cluster.events.values()][:100]
    return reported
