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
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from iotbridge import matter
from iotbridge.errors import MAX_LISTED_PROBLEMS, InvalidInputError, Problem
from iotbridge.profile.document import ConnectorProfile
from iotbridge.profile.expressions import (
    MAX_EVALUATION_STEPS,
    Evaluation,
    EvaluationBudgetError,
    Expression,
    ExpressionError,
    scalar_text,
)
from iotbridge.profile.matter_targets import DevicesMapping, MatterEndpointMapping, MatterEvent, MatterValue
from iotbridge.profile.rules import Rule
from iotbridge.profile.values import FromValue, LiteralValue, LookupValue, TemplateValue
from iotbridge.send_connector_event.operations import CORRELATED_MEMBER

from .lookups import WebhookLookups, looked_up
from .transforms import TransformError, TransformSkip, apply

if TYPE_CHECKING:
    from .explain import EventTrace, MappingTrace

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


# Why an event, or a value of one, was skipped: short fixed codes, the `Reason` of the SkippedEvents and
# SkippedValues metrics (the answer says it in words).
MISSING_VALUE = "missing_value"
OUT_OF_RANGE = "out_of_range"
INVALID_VALUE = "invalid_value"
NO_MAP_ENTRY = "no_map_entry"
EXPRESSION_FAILED = "expression_failed"
LOOKUP_MISS = "lookup_miss"
CONTRACT = "contract"
NO_RULE = "no_rule"
REASON_CODES = (
    MISSING_VALUE,
    OUT_OF_RANGE,
    INVALID_VALUE,
    NO_MAP_ENTRY,
    EXPRESSION_FAILED,
    LOOKUP_MISS,
    CONTRACT,
    NO_RULE,
)

OnError = Literal["reject", "skip"]


@dataclass(frozen=True, slots=True)
class MappedEvent:
    rule: str
    source: str  # where the native event is, e.g. "body.devices[2]"
    event: dict[str, Any]  # a SendConnectorEvent body without ConnectorId
    # What a problem the contract check finds in it does: refuse the webhook, or skip this event.
    on_error: OnError = "reject"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A native event left out of a webhook (or, `event` false, one value left out of its event), and why:
    the rule (None: no rule matched it), where in the native body, the reason in words and as a code. Never
    the value."""

    rule: str | None
    path: str
    reason: str
    code: str
    event: bool = True

    def as_dict(self) -> dict[str, Any]:
        reason = self.reason if self.event else f"{self.reason} (the value is left out of the event)"
        return {"rule": self.rule, "path": self.path, "reason": reason}

    def problem(self) -> Problem:
        """The same finding as a reason to refuse the webhook."""
        return Problem(self.path, f"rule {self.rule}: {self.reason}" if self.rule else self.reason)


class SkipCount(NamedTuple):
    rule: str | None
    code: str
    event: bool  # events skipped, or values left out of queued events
    total: int


@dataclass(slots=True)
class Skips:
    """What one webhook's mapping left out, bounded whatever the body: the first MAX_LISTED_PROBLEMS listed
    for the answer, and every one counted by rule and reason code for the metrics."""

    listed: list[Skipped] = field(default_factory=list)
    more: int = 0
    counts: dict[tuple[str | None, str, bool], int] = field(default_factory=dict)

    def add(self, skipped: Skipped) -> None:
        key = (skipped.rule, skipped.code, skipped.event)
        self.counts[key] = self.counts.get(key, 0) + 1
        if len(self.listed) < MAX_LISTED_PROBLEMS:
            self.listed.append(skipped)
        else:
            self.more += 1

    @property
    def events(self) -> int:
        """How many events were skipped (values left out of queued events not counted)."""
        return sum(count for (_, _, event), count in self.counts.items() if event)

    def counted(self) -> tuple[SkipCount, ...]:
        return tuple(SkipCount(rule, code, event, n) for (rule, code, event), n in self.counts.items())

    def answer(self) -> dict[str, Any]:
        """The members of a 202's body that report them: none when nothing was skipped."""
        if not self.listed:
            return {}
        more = {"moreSkipped": self.more} if self.more else {}
        return {"skipped": [item.as_dict() for item in self.listed], **more}


@dataclass(frozen=True, slots=True)
class Mapped:
    events: list[MappedEvent]
    ignored: int = 0  # native events no rule matched, under `unmatched: ignore`
    skips: Skips = field(default_factory=Skips)
    # The events' lookups (a profile's `lookup` members) that found what was recorded, and those that did not
    lookups_hit: int = 0
    lookups_missed: int = 0


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
    """What one webhook's mapping may still spend: JMESPath steps, and devices; and its lookups."""

    evaluation: Evaluation = field(default_factory=Evaluation)
    devices_left: int = MAX_NATIVE_DEVICES
    lookups: WebhookLookups | None = None


_RANGE = re.compile(r"must be -?[0-9]+\.\.-?[0-9]+")


def reason_code(what: str) -> str:
    """The short code of a reason given in words, for a finding whose code its caller does not name."""
    if "no entry in the map" in what:
        return NO_MAP_ENTRY
    if "missing" in what:
        return MISSING_VALUE
    if "out of range" in what or _RANGE.search(what):
        return OUT_OF_RANGE
    if "cannot be evaluated" in what:
        return EXPRESSION_FAILED
    if "lookup" in what:
        return LOOKUP_MISS
    return INVALID_VALUE


@dataclass(slots=True)
class _Findings:
    """What mapping one native event found: problems (each refuses the webhook, or under `onError: skip` skips
    the event) and skips (whatever `onError` says: a map's `unknown: skip`, a lookup's `otherwise: skip`)."""

    problems: list[Skipped] = field(default_factory=list)
    skips: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Scope:
    """One native event being mapped by one rule: what its expressions read, where it is, what was found
    wrong with it so far, and the work left (shared by every event of the body)."""

    values: Mapping[str, Any]
    source: str
    rule: str
    found: _Findings = field(default_factory=_Findings)
    work: _Work = field(default_factory=_Work)
    # Inside the Matter endpoint a skip leaves out that one value; elsewhere (a member, a lookup) the event.
    value_only: bool = False
    # Only `profile test --explain` traces: the relay passes none, and pays nothing for it.
    trace: EventTrace | None = None

    def for_rule(self, rule: str, *, value_only: bool = False) -> _Scope:
        """The same native event, mapped by `rule` (inside the Matter endpoint, with `value_only`). Built
        field by field, without `dataclasses.replace`'s introspection: this runs for every rule an event
        tries."""
        return _Scope(self.values, self.source, rule, self.found, self.work, value_only, self.trace)

    def search(self, expression: Expression) -> Any:
        """What the expression finds; when it cannot be evaluated here, a problem, and nothing found."""
        try:
            found = expression.search(self.values, self.work.evaluation)
        except ExpressionError:
            self.add("event", f"{expression} cannot be evaluated on this event", code=EXPRESSION_FAILED)
            found = None
        if self.trace is not None:
            self.trace.searched(expression, found)
        return found

    def add(self, expression: str, what: str, *, code: str | None = None) -> None:
        """A problem of the event, where `expression` reads: it refuses the webhook, unless the rule's
        `onError` is `skip` (then the event is skipped)."""
        finding = Skipped(self.rule, native_path(self.source, expression), what, code or reason_code(what))
        self.found.problems.append(finding)
        if self.trace is not None:
            self.trace.problem(finding)

    def skip(self, expression: str, what: str, *, code: str | None = None) -> None:
        """A value this event goes without, whatever `onError` says: inside the Matter endpoint only that
        value is left out; anywhere else (a member, a lookup) the event is skipped. Either is reported."""
        where = native_path(self.source, expression)
        finding = Skipped(self.rule, where, what, code or reason_code(what), event=not self.value_only)
        self.found.skips.append(finding)
        if self.trace is not None:
            self.trace.skipped(finding)


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


def map_body(
    profile: ConnectorProfile,
    body: Any,
    headers: Mapping[str, str],
    *,
    tracer: MappingTrace | None = None,
    lookups: WebhookLookups | None = None,
) -> Mapped:
    """The SendConnectorEvent bodies a native body stands for, and what was skipped. Raises MappingError
    listing its problems (the first ones: the error bounds its list), or the one bound of the work the body
    would need beyond. `tracer` (`profile test --explain`) is told how each native event was mapped.
    `lookups` are the webhook's (without them every lookup misses); DependencyUnavailableError from them
    goes up."""
    try:
        mapped = _mapped(profile, body, headers, _Work(lookups=lookups), tracer)
        if lookups is None:
            return mapped
        return replace(mapped, lookups_hit=lookups.hits, lookups_missed=lookups.misses)
    except EvaluationBudgetError:
        bound = f"the profile's expressions need more than {MAX_EVALUATION_STEPS} evaluation steps for it"
        raise MappingError([Problem("", f"a webhook's bound: {bound}")]) from None
    except _OverBoundError as exc:
        raise MappingError([exc.problem]) from None


def _mapped(
    profile: ConnectorProfile,
    body: Any,
    headers: Mapping[str, str],
    work: _Work,
    tracer: MappingTrace | None = None,
) -> Mapped:
    context = {"body": body, "headers": dict(headers)}
    problems: list[Problem] = []
    mapped: list[MappedEvent] = []
    skips = Skips()
    ignored = 0
    for source, native in _events_of(profile, context, work.evaluation):
        trace = tracer.event(source) if tracer is not None else None
        scope = _Scope({**context, "event": native}, source, "", work=work, trace=trace)
        rule = next((r for r in profile.rules if _applies(r, scope)), None)
        # A condition that could not be evaluated is the problem, not the lack of a match.
        if rule is None and not scope.found.problems and profile.unmatched == "ignore":
            ignored += 1
            if trace is not None:
                trace.ended("ignored")
            continue
        if rule is None:
            _unmatched(scope)
            event: dict[str, Any] = {}
        else:
            event = _event(rule, scope.for_rule(rule.name), profile)
        settled = _settled(profile, rule, scope, event, problems=problems, skips=skips)
        if settled is not None:
            mapped.append(settled)
    if problems:
        raise MappingError(problems)
    return Mapped(mapped, ignored, skips)


def _unmatched(scope: _Scope) -> None:
    """No rule matched this native event: a problem, unless a condition that could not be evaluated is one
    already."""
    if not scope.found.problems:
        unmatched = "no rule of the profile matches it"
        scope.found.problems.append(Skipped(None, native_path(scope.source, "event"), unmatched, NO_RULE))
        if scope.trace is not None:
            scope.trace.problem(scope.found.problems[-1])


def _settled(
    profile: ConnectorProfile,
    rule: Rule | None,
    scope: _Scope,
    event: dict[str, Any],
    *,
    problems: list[Problem],
    skips: Skips,
) -> MappedEvent | None:
    """What becomes of one native event: the event to queue; or None, and its problems join the webhook's
    (a 422, under `onError: reject`) or the event joins the skipped (its first problem or skip, reported)."""
    found = scope.found
    on_error = _on_error(profile, rule, found)
    first = found.problems[0] if found.problems else next((f for f in found.skips if f.event), None)
    settled = None
    if found.problems and on_error == "reject":
        problems.extend(finding.problem() for finding in found.problems)
        outcome = "refused"
    elif first is not None:
        skips.add(first)
        outcome = "skipped"
    else:
        for finding in found.skips:  # values left out of an event that is queued
            skips.add(finding)
        assert rule is not None  # an event no rule matched has a problem
        settled = MappedEvent(rule.name, scope.source, event, on_error)
        outcome = "queued"
    if scope.trace is not None:
        scope.trace.ended(outcome)
    return settled


def _event(rule: Rule, scope: _Scope, profile: ConnectorProfile) -> dict[str, Any]:
    """The SendConnectorEvent body `rule` makes of the scope's native event; what is wrong with it, in the
    scope."""
    event: dict[str, Any] = {"Operation": rule.operation}
    for member, spec in rule.members.items():
        value = _value(spec, scope, member)
        if value is not None:
            event[member] = value
        if scope.trace is not None:
            scope.trace.member(member, spec, value)
    if rule.request is not None:
        _answered_request(rule.request, rule.operation, scope, event)
    if rule.matter_endpoint is not None:
        values_only = scope.for_rule(scope.rule, value_only=True)
        endpoint = _matter_endpoint(rule.matter_endpoint, values_only, profile.attribute_form)
        event["MatterEndpoint"] = endpoint
        if scope.trace is not None:
            scope.trace.endpoint(rule.matter_endpoint, endpoint)
    if rule.devices is not None:
        event["Devices"] = _devices(rule.devices, scope)
    return event


def _on_error(profile: ConnectorProfile, rule: Rule | None, found: _Findings) -> OnError:
    """What a problem of this event does: as the rule that mapped it says (or, when none did, the rule whose
    condition could not be evaluated), else as the profile says."""
    if rule is None and found.problems:
        rule = next((r for r in profile.rules if r.name == found.problems[0].rule), None)
    chosen = rule.on_error if rule is not None else None
    return chosen or profile.on_error


def _applies(rule: Rule, scope: _Scope) -> bool:
    holds = rule.when is None or _truthy(scope.for_rule(rule.name).search(rule.when))
    if scope.trace is not None:
        scope.trace.tried(rule, holds, scope.values)
    return holds


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
    if isinstance(spec, LookupValue):
        return looked_up(spec, scope, target)
    if isinstance(spec, FromValue):
        found = scope.search(spec.from_)
        if found is None:
            return None
        try:
            return apply(spec.transform, found, read=scope.search)
        except TransformSkip as exc:
            scope.skip(spec.from_, str(exc))
        except TransformError as exc:
            scope.add(exc.expression or spec.from_, f"{target} {exc}")
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
            text.append(found if isinstance(found, str) else scalar_text(found))
        else:
            text.append(part)
    return "".join(text)


def _matter_value(value: Any) -> Any:
    # JSON numbers such as 20.0 are whole numbers to Matter's integer types.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)


# What `_attribute_value` gives for an attribute it does not set (its problem, if any, is in the scope).
_NOT_SET = object()


def _attribute_value(
    item: MatterValue, target: matter.AttributeSpec | matter.FieldSpec, name: str, scope: _Scope
) -> Any:
    """The checked value `item` gives the attribute or event field `name` (its catalogue entry: `target`),
    or _NOT_SET. A literal was checked against the target when the profile was read."""
    if item.is_literal:
        return item.value
    assert item.from_ is not None  # one of from and value is set (the profile model checks it)
    found = scope.search(item.from_)
    if found is None:
        if item.required:
            scope.add(item.from_, f"{name} is required and missing")
        return _NOT_SET
    clamps = item.clamp and target.bounds is not None
    try:
        value = _matter_value(apply(item.transform, found, clamped=clamps, read=scope.search))
    except TransformSkip as exc:
        scope.skip(item.from_, str(exc))
        return _NOT_SET
    except TransformError as exc:
        scope.add(exc.expression or item.from_, f"{name} {exc}")
        return _NOT_SET
    # Only a number clamps into a numeric target (clamped() refuses NaN, and a bool or string has no range):
    # anything else is left to the target's own check.
    numeric = isinstance(value, int | float) and not isinstance(value, bool) and not _is_nan(value)
    if clamps and numeric:
        value = target.clamped(value)
    broken = target.problem(value)
    if broken is not None:
        scope.add(item.from_, f"{name} {broken}")
        return _NOT_SET
    return value


def _matter_endpoint(spec: MatterEndpointMapping, scope: _Scope, attribute_form: str) -> dict[str, Any]:
    clusters: dict[str, dict[str, Any]] = {}

    def cluster(cluster_id: str) -> dict[str, Any]:
        return clusters.setdefault(cluster_id, {"id": cluster_id})

    for item in spec.set:
        cluster_id, attribute_id, attribute = item.target
        value = _attribute_value(item, attribute, item.attribute, scope)
        if value is _NOT_SET:
            continue
        attributes = cluster(cluster_id).setdefault("attributes", [] if attribute_form == "list" else {})
        if isinstance(attributes, list):
            attributes.append({attribute_id: value})
        else:
            attributes[attribute_id] = value
    for command in spec.commands:
        name = command.command
        if command.from_ is not None:
            found = scope.search(command.from_)
            name = command.map.get(found if isinstance(found, str) else scalar_text(found))
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
        cluster(cluster_spec.hex_id).setdefault("events", {})[matter.event_hex(event_id)] = _event_fields(
            event, scope
        )
    endpoint: dict[str, Any] = {"id": spec.endpoint}
    if clusters:
        endpoint["clusters"] = list(clusters.values())
    return endpoint


def _event_fields(event: MatterEvent, scope: _Scope) -> dict[str, Any]:
    """An event's checked fields by id, as managed integrations' Matter data model writes an event: its
    field ids and their values. A field without a value is left out."""
    fields: dict[str, Any] = {}
    for name, value_spec in event.fields.items():
        target = event.target(name)
        value = _attribute_value(value_spec, target, f"{event.event}.{name}", scope)
        if value is not _NOT_SET:
            fields[target.hex_id] = value
    return fields


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
    name = spec.device_type.map.get(native if isinstance(native, str) else scalar_text(native))
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
            added = spec.add_clusters.map.get(native if isinstance(native, str) else scalar_text(native))
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
