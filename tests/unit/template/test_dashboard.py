"""The operations dashboard shows only metrics the code emits, under the names and dimensions it emits them
with, and every alarm of the template.

What the code emits is read statically from the layer: each `Measurement(...)` call's name (a literal, an
f-string, a name bound from a dict or a loop over one) and its dimensions, the dimensions each handler's
`publish` adds, and the namespace and service the template gives each function (Powertools writes
`service` on every metric)."""

from __future__ import annotations

import ast
import importlib
import itertools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import pytest

from bridge_local.sam_template import load

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
LAYER = ROOT / "layers" / "shared"
PACKAGE = LAYER / "iotbridge"
# The functions whose handlers publish measurements: each is functions/<name>/<name>.py, importing the
# layer's package of the same name.
FUNCTIONS = ("webhook_receiver", "forwarder", "connector", "detector_reset")

# What a name that cannot be read statically becomes (a run-time part of an f-string, say).
UNKNOWN = "\0"

# The AWS metrics the dashboard may show, by namespace: the metric names, and the resource types and
# attribute its one dimension names.
AWS_METRICS: dict[str, tuple[frozenset[str], str, frozenset[str], str | None]] = {
    "AWS/Lambda": (
        frozenset({"Errors", "Throttles", "ConcurrentExecutions", "Duration", "Invocations"}),
        "FunctionName",
        frozenset({"AWS::Serverless::Function", "AWS::Lambda::Function"}),
        None,
    ),
    "AWS/SQS": (
        frozenset({"ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible"}),
        "QueueName",
        frozenset({"AWS::SQS::Queue"}),
        "QueueName",
    ),
}
PSEUDO_PARAMETERS = {"AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::Partition", "AWS::URLSuffix"}


# --- what the dashboard shows ---


@dataclass(frozen=True)
class Shown:
    """A metric a widget shows: one series, or the family a SEARCH expression finds."""

    widget: str
    namespace: str
    name: str  # the exact name, or the text a family's names start with
    dimensions: Mapping[str, str | None]  # name -> value (None: any, as a SEARCH schema names it)
    family: bool = False


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
_SEARCH = re.compile(
    r"^SEARCH\('\{(?P<schema>[^}]*)\}\s*(?P<term>[^']*)',\s*'(?P<stat>[^']+)'(?:,\s*\d+)?\)$"
)
_EXACT_NAME = re.compile(r'(?<!NOT )MetricName="(?P<name>[^"]+)"')
_PARTIAL_NAME = re.compile(r"(?<!NOT )MetricName=(?P<name>[A-Za-z0-9_]+)(?![\"A-Za-z0-9_])")
_DIMENSION_VALUE = re.compile(r'(?<![A-Za-z])(?P<name>[A-Za-z_]+)="(?P<value>[^"]*)"')


def placeholder(variable: str) -> str:
    """What a `${X}` or `${X.Attr}` of the body stands for in these tests."""
    return f"<{variable}>"


def dashboard_body(template: Mapping[str, Any]) -> str:
    dashboards = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    assert len(dashboards) == 1, "the template has one dashboard"
    body = dashboards[0]["Properties"]["DashboardBody"]
    assert isinstance(body, dict) and isinstance(body.get("Fn::Sub"), str), (
        "DashboardBody is a !Sub of a string"
    )
    return str(body["Fn::Sub"])


def substituted(body: str, template: Mapping[str, Any]) -> dict[str, Any]:
    """The body with each `!Sub` variable replaced by a placeholder, read as JSON; every variable names a
    resource (and an attribute of it), a parameter or a pseudo parameter."""
    for variable in _SUB_VARIABLE.findall(body):
        logical_id = variable.split(".", 1)[0]
        assert (
            variable in PSEUDO_PARAMETERS
            or logical_id in template["Resources"]
            or logical_id in template.get("Parameters", {})
        ), f"${{{variable}}} names nothing in the template"
    text = _SUB_VARIABLE.sub(lambda found: placeholder(found.group(1)), body).replace("${!", "${")
    document = json.loads(text)
    assert isinstance(document, dict) and isinstance(document.get("widgets"), list)
    return document


def _search(widget: str, expression: str) -> Shown:
    found = _SEARCH.match(expression)
    assert found, f"{widget}: cannot read {expression!r}"
    namespace, *dimension_names = (part.strip().strip('"') for part in found["schema"].split(","))
    term = found["term"]
    exact = _EXACT_NAME.findall(term)
    partial = _PARTIAL_NAME.findall(term)
    assert len(exact) + len(partial) == 1, f"{widget}: a SEARCH names one metric (or family): {expression!r}"
    values = {m["name"]: m["value"] for m in _DIMENSION_VALUE.finditer(term) if m["name"] != "MetricName"}
    assert set(values) <= set(dimension_names), (
        f"{widget}: {expression!r} filters on a dimension not in its schema"
    )
    return Shown(
        widget,
        namespace,
        (exact or partial)[0],
        {name: values.get(name) for name in dimension_names},
        family=bool(partial),
    )


def shown_metrics(document: Mapping[str, Any]) -> list[Shown]:
    shown = []
    for widget in document["widgets"]:
        if widget.get("type") != "metric":
            continue
        title = widget["properties"].get("title", "?")
        for row in widget["properties"].get("metrics", []):
            if row and isinstance(row[0], dict):
                expression = str(row[0].get("expression", ""))
                if expression.startswith("SEARCH("):
                    shown.append(_search(title, expression))
                continue
            parts = [part for part in row if not isinstance(part, dict)]
            assert "..." not in parts and "." not in parts, f"{title}: write each metric out in full"
            namespace, name, *pairs = parts
            assert len(pairs) % 2 == 0, f"{title}: {name} has a dimension without a value"
            shown.append(Shown(title, namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return shown


def alarms_on(document: Mapping[str, Any]) -> set[str]:
    """The alarms (their `<X.Arn>` placeholders) an alarm widget lists or a graph is annotated with."""
    found: set[str] = set()
    for widget in document["widgets"]:
        properties = widget.get("properties", {})
        if widget.get("type") == "alarm":
            found.update(properties.get("alarms", []))
        found.update(properties.get("annotations", {}).get("alarms", []))
    return found


# --- what the code emits ---


@dataclass(frozen=True)
class Emitted:
    namespace: str
    name: str  # the exact name, or the fixed start of names made at run time (f"Rejected_{reason}")
    dimensions: frozenset[str]
    service: str
    family: bool = False


@dataclass
class _Scope:
    """The names a function (or the module's top level) binds, enough to follow a metric name from a
    Measurement call to its strings."""

    assigned: dict[str, list[ast.expr]] = field(default_factory=lambda: defaultdict(list))
    keyed: dict[str, list[ast.expr]] = field(default_factory=lambda: defaultdict(list))
    iterated: dict[str, list[ast.expr]] = field(default_factory=lambda: defaultdict(list))

    def bind(self, node: ast.AST) -> None:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and node.value is not None:
                    self.assigned[target.id].append(node.value)
                elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                    self.keyed[target.value.id].append(target.slice)
        elif isinstance(node, ast.For | ast.comprehension):
            target = node.target
            first = target.elts[0] if isinstance(target, ast.Tuple) and target.elts else target
            if isinstance(first, ast.Name):
                self.iterated[first.id].append(node.iter)

    def binds(self, name: str) -> bool:
        return name in self.assigned or name in self.iterated or name in self.keyed


def _nodes_outside_functions(node: ast.AST) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        yield child
        yield from _nodes_outside_functions(child)


@dataclass
class _Module:
    """One module of the layer: where its Measurement calls are and what their names may be."""

    path: Path
    tree: ast.Module
    top: _Scope = field(default_factory=_Scope)
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> _Module:
        module = cls(path, ast.parse(path.read_text(encoding="utf-8")))
        package = path.relative_to(LAYER).with_suffix("").parts[:-1]
        for node in _nodes_outside_functions(module.tree):
            module.top.bind(node)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom) and node.module is not None:
                base = (
                    ".".join([*package[: len(package) - node.level + 1], node.module])
                    if node.level
                    else node.module
                )
                for alias in node.names:
                    module.imported[alias.asname or alias.name] = (base, alias.name)
        return module

    def _imported(self, name: str) -> Any:
        if name not in self.imported:
            return None
        module, attribute = self.imported[name]
        return getattr(importlib.import_module(module), attribute, None)

    def _scope_of(self, name: str, scope: _Scope) -> _Scope | None:
        return scope if scope.binds(name) else self.top if self.top.binds(name) else None

    def strings(self, node: ast.expr, scope: _Scope, seen: frozenset[str] = frozenset()) -> set[str]:
        """Every string `node` may be (UNKNOWN where a part is known only at run time)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.JoinedStr):
            parts = [
                {str(part.value)} if isinstance(part, ast.Constant) else self.strings(part.value, scope, seen)
                for part in node.values
                if isinstance(part, ast.Constant | ast.FormattedValue)
            ]
            return {"".join(combination) for combination in itertools.product(*parts)}
        if isinstance(node, ast.IfExp):
            return self.strings(node.body, scope, seen) | self.strings(node.orelse, scope, seen)
        if isinstance(node, ast.Subscript):
            return self._values(node.value, scope, seen)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            # a_dict.get(key[, default])
            values = self._values(node.func.value, scope, seen)
            return values | (self.strings(node.args[1], scope, seen) if len(node.args) > 1 else set())
        if isinstance(node, ast.Name):
            if node.id in seen:
                return set()  # a loop through a dict keyed by this very name: its other bindings say
            seen = seen | {node.id}
            found: set[str] = set()
            bound = self._scope_of(node.id, scope)
            if bound is not None:
                for value in bound.assigned.get(node.id, []):
                    found |= self.strings(value, bound, seen)
                for iterable in bound.iterated.get(node.id, []):
                    found |= self._keys_iterated(iterable, bound, seen)
            imported = self._imported(node.id)
            if isinstance(imported, str):
                found.add(imported)
            return found or {UNKNOWN}
        return {UNKNOWN}

    def _values(self, node: ast.expr, scope: _Scope, seen: frozenset[str]) -> set[str]:
        if isinstance(node, ast.Dict):
            return set().union(*(self.strings(value, scope, seen) for value in node.values))
        if isinstance(node, ast.Name):
            imported = self._imported(node.id)
            if isinstance(imported, Mapping):
                return {str(value) for value in imported.values()}
            bound = self._scope_of(node.id, scope)
            found = (
                [self._values(value, bound, seen) for value in bound.assigned.get(node.id, [])]
                if bound
                else []
            )
            return set().union(*found) if found else {UNKNOWN}
        return {UNKNOWN}

    def _keys_iterated(self, iterable: ast.expr, scope: _Scope, seen: frozenset[str]) -> set[str]:
        if (
            isinstance(iterable, ast.Call)
            and isinstance(iterable.func, ast.Attribute)
            and iterable.func.attr in ("items", "keys")
        ):
            return self._keys(iterable.func.value, scope, seen)
        return {UNKNOWN}

    def _keys(self, node: ast.expr, scope: _Scope, seen: frozenset[str]) -> set[str]:
        if isinstance(node, ast.Dict):
            return set().union(*(self.strings(key, scope, seen) for key in node.keys if key is not None))
        if isinstance(node, ast.Name):
            imported = self._imported(node.id)
            if isinstance(imported, Mapping):
                return {str(key) for key in imported}
            bound = self._scope_of(node.id, scope)
            if bound is None:
                return {UNKNOWN}
            found = [self._keys(value, bound, seen) for value in bound.assigned.get(node.id, [])]
            found += [self.strings(key, bound, seen) for key in bound.keyed.get(node.id, [])]
            return set().union(*found) if found else {UNKNOWN}
        return {UNKNOWN}

    def measurements(self) -> Iterator[tuple[set[str], frozenset[str] | None, int]]:
        """Each Measurement call: the names it may have, its own dimensions (None: none, so the handler's
        apply), its line."""
        functions = [
            node for node in ast.walk(self.tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        calls: list[tuple[ast.Call, _Scope]] = [
            (node, self.top) for node in _nodes_outside_functions(self.tree) if _is_measurement(node)
        ]
        for function in functions:
            scope = _Scope()
            inner = [node for node in ast.walk(function) if node is not function]
            for node in inner:
                scope.bind(node)
            nested = {
                id(n)
                for f in inner
                if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                for n in ast.walk(f)
            }
            calls += [(node, scope) for node in inner if _is_measurement(node) and id(node) not in nested]
        for call, scope in calls:
            name = call.args[0] if call.args else next(k.value for k in call.keywords if k.arg == "name")
            dimensions: frozenset[str] | None = None
            for keyword in call.keywords:
                if keyword.arg == "dimensions":
                    assert isinstance(keyword.value, ast.Dict), (
                        f"{self.path}:{call.lineno}: dimensions as a dict literal"
                    )
                    keys = [self.strings(key, scope) for key in keyword.value.keys if key is not None]
                    dimensions = frozenset(itertools.chain.from_iterable(keys))
            yield self.strings(name, scope), dimensions, call.lineno


def _is_measurement(node: ast.AST) -> TypeGuard[ast.Call]:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Measurement"


def _template_variable(template: Mapping[str, Any], function: str, variable: str) -> str:
    """A function's environment variable as the template sets it (its own, or Globals')."""
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if (
            resource["Type"] == "AWS::Serverless::Function"
            and properties.get("CodeUri") == f"functions/{function}/"
        ):
            own = (properties.get("Environment") or {}).get("Variables", {})
            if variable in own:
                return str(own[variable])
            return str(template["Globals"]["Function"]["Environment"]["Variables"][variable])
    raise AssertionError(f"no function of the template has CodeUri functions/{function}/")


def _handler_dimensions(function: str) -> set[frozenset[str]]:
    """The dimension sets each `publish` call of a handler adds to every metric of its invocation."""
    tree = ast.parse((ROOT / "functions" / function / f"{function}.py").read_text(encoding="utf-8"))
    found: set[frozenset[str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "publish":
            keys: frozenset[str] = frozenset()
            for keyword in node.keywords:
                if keyword.arg == "dimensions":
                    assert isinstance(keyword.value, ast.Dict), (
                        f"{function}: publish's dimensions as a dict literal"
                    )
                    keys = frozenset(str(k.value) for k in keyword.value.keys if isinstance(k, ast.Constant))
            found.add(keys)
    assert found, f"functions/{function}/{function}.py never publishes"
    return found


@dataclass(frozen=True)
class Emissions:
    metrics: frozenset[Emitted]
    unreadable: tuple[str, ...]  # Measurement names this reading cannot follow: where they are


def emitted(template: Mapping[str, Any]) -> Emissions:
    """Every metric the functions emit, read from the layer's Measurement calls."""
    found: set[Emitted] = set()
    unreadable: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "Measurement(" not in path.read_text(encoding="utf-8"):
            continue
        top = path.relative_to(PACKAGE).parts[0]
        # A measurement outside the four functions' packages may be published by any of them.
        functions = [top] if top in FUNCTIONS else list(FUNCTIONS)
        for names, own_dimensions, line in _Module.read(path).measurements():
            for function in functions:
                namespace = _template_variable(template, function, "POWERTOOLS_METRICS_NAMESPACE")
                service = _template_variable(template, function, "POWERTOOLS_SERVICE_NAME")
                dimension_sets = (
                    {own_dimensions} if own_dimensions is not None else _handler_dimensions(function)
                )
                for name in names:
                    family = name.endswith(UNKNOWN) and name.count(UNKNOWN) == 1 and len(name) > 1
                    if UNKNOWN in name and not family:
                        unreadable.append(f"{path.relative_to(ROOT)}:{line}")
                        continue
                    for dimensions in dimension_sets:
                        found.add(
                            Emitted(
                                namespace, name.rstrip(UNKNOWN), dimensions | {"service"}, service, family
                            )
                        )
    return Emissions(frozenset(found), tuple(sorted(set(unreadable))))


# --- the checks, each a list of problems ---


def _is_emitted(shown: Shown, emissions: Iterable[Emitted]) -> bool:
    for e in emissions:
        if e.namespace != shown.namespace or e.dimensions != frozenset(shown.dimensions):
            continue
        if shown.dimensions.get("service") not in (None, e.service):
            continue
        if shown.family and e.family and e.name.startswith(shown.name):
            return True
        if not shown.family and (e.name == shown.name or (e.family and shown.name.startswith(e.name))):
            return True
    return False


def _aws_metric_problem(shown: Shown, template: Mapping[str, Any]) -> str | None:
    names, dimension, types, attribute = AWS_METRICS[shown.namespace]
    if shown.name not in names:
        return f"{shown.widget}: {shown.namespace} {shown.name} is not one the dashboard is meant to show"
    value = shown.dimensions.get(dimension)
    if set(shown.dimensions) != {dimension} or value is None:
        return f"{shown.widget}: {shown.namespace} {shown.name} is shown per {dimension} of a resource"
    variable = value.removeprefix("<").removesuffix(">")
    logical_id, _, attr = variable.partition(".")
    resource = template["Resources"].get(logical_id, {})
    if resource.get("Type") not in types or (attr or None) != attribute:
        return (
            f"{shown.widget}: {shown.namespace} {shown.name} names {value}, not a {'/'.join(sorted(types))}"
        )
    return None


def metric_problems(
    document: Mapping[str, Any], template: Mapping[str, Any], emissions: Emissions
) -> list[str]:
    problems = []
    for shown in shown_metrics(document):
        if shown.namespace in AWS_METRICS:
            problem = _aws_metric_problem(shown, template)
            if problem:
                problems.append(problem)
        elif not _is_emitted(shown, emissions.metrics):
            kind = "family" if shown.family else "metric"
            dims = ", ".join(sorted(shown.dimensions))
            what = f"{kind} {shown.namespace} {shown.name}"
            problems.append(f"{shown.widget}: no code emits the {what} with dimensions {dims}")
    return problems


def _alarm_dimension(value: Any) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return placeholder(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return placeholder(".".join(value["Fn::GetAtt"]))
    return str(value)


def alarm_problems(document: Mapping[str, Any], template: Mapping[str, Any]) -> list[str]:
    """Each alarm is on the dashboard, and so is the metric it watches; the dashboard lists no other."""
    alarms = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    on = alarms_on(document)
    problems = [f"{name} is not on the dashboard" for name in alarms if placeholder(f"{name}.Arn") not in on]
    problems += [
        f"the dashboard lists {arn}, not an alarm of the template"
        for arn in sorted(on - {placeholder(f"{name}.Arn") for name in alarms})
    ]
    series = {
        (s.namespace, s.name, tuple(sorted(s.dimensions.items())))
        for s in shown_metrics(document)
        if not s.family and None not in s.dimensions.values()
    }
    for name, alarm in alarms.items():
        if "MetricName" not in alarm:
            continue  # a metric-math alarm: the alarm itself is shown
        dimensions = tuple(
            sorted((d["Name"], _alarm_dimension(d["Value"])) for d in alarm.get("Dimensions", []))
        )
        if (alarm["Namespace"], alarm["MetricName"], dimensions) not in series:
            problems.append(
                f"{name}: no graph shows {alarm['Namespace']} {alarm['MetricName']} {dict(dimensions)}"
            )
    return problems


def _layer_strings() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def log_query_problems(document: Mapping[str, Any], template: Mapping[str, Any]) -> list[str]:
    """A log widget reads a function's log group, and the message and fields it names are ones the code
    logs."""
    logged = _layer_strings()
    problems = []
    for widget in document["widgets"]:
        if widget.get("type") != "log":
            continue
        title = widget["properties"].get("title", "?")
        query = widget["properties"]["query"]
        for group in re.findall(r"SOURCE '/aws/lambda/<([^>]+)>'", query) or [None]:
            if (
                group is None
                or template["Resources"].get(group, {}).get("Type") != "AWS::Serverless::Function"
            ):
                problems.append(f"{title}: the query reads no function's log group")
        for message in re.findall(r'"([^"]+)"', query):
            if message not in logged:
                problems.append(f"{title}: the code never logs {message!r}")
        by = re.search(r"\bby\s+([\w\s,]+?)(?:\||$)", query)
        for name in (part.strip() for part in (by[1] if by else "").split(",")):
            if name and not name.startswith("bin") and name not in logged:
                problems.append(f"{title}: the code logs no field {name!r}")
    return problems


# --- the tests ---


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE)


@pytest.fixture(scope="module")
def document(template: dict[str, Any]) -> dict[str, Any]:
    return substituted(dashboard_body(template), template)


@pytest.fixture(scope="module")
def emissions(template: dict[str, Any]) -> Emissions:
    return emitted(template)


def test_the_body_is_json_once_its_variables_are_filled_in_and_names_only_the_stacks_resources(
    document: dict[str, Any],
) -> None:
    assert document["widgets"]
    assert all({"type", "x", "y", "width", "height", "properties"} <= set(w) for w in document["widgets"])
    regions = {w["properties"]["region"] for w in document["widgets"] if w["type"] in ("metric", "log")}
    assert regions == {placeholder("AWS::Region")}


def test_every_measurement_name_can_be_read_statically(emissions: Emissions) -> None:
    # A name this reading cannot follow would let the dashboard drift from the code unseen.
    assert emissions.unreadable == ()


def test_the_static_reading_follows_names_built_from_dicts_loops_and_f_strings(emissions: Emissions) -> None:
    names = {(e.name, e.family, e.service) for e in emissions.metrics}
    assert ("CommandsNeverAnswered", False, "iot-bridge") in names  # f"{METRIC_NOUNS[kind]}NeverAnswered"
    assert ("DiscoveriesAnsweredLate", False, "iot-bridge") in names  # a dict of f-strings, by match
    assert ("DetectorsReset", False, "detector-reset") in names  # a module-level dict's keys, in a loop
    assert ("Rejected_", True, "iot-bridge") in names  # f"Rejected_{reason}"
    dead_lettered = {e.dimensions for e in emissions.metrics if e.name == "DeadLettered"}
    assert dead_lettered == {frozenset({"ErrorCode", "service"})}
    resets = {e.dimensions for e in emissions.metrics if e.name == "DetectorsReset"}
    assert frozenset({"plan", "service"}) in resets


def test_the_namespace_the_template_sets_is_the_one_the_code_falls_back_to(template: dict[str, Any]) -> None:
    from iotbridge.telemetry import NAMESPACE

    assert (
        template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
        == NAMESPACE
    )


def test_every_metric_the_dashboard_shows_is_one_the_code_emits(
    document: dict[str, Any], template: dict[str, Any], emissions: Emissions
) -> None:
    assert metric_problems(document, template, emissions) == []


def test_every_alarm_and_the_metric_it_watches_is_on_the_dashboard(
    document: dict[str, Any], template: dict[str, Any]
) -> None:
    assert alarm_problems(document, template) == []


def test_the_log_widgets_read_what_the_functions_log(
    document: dict[str, Any], template: dict[str, Any]
) -> None:
    assert log_query_problems(document, template) == []


def test_the_dashboard_shows_each_flow_the_operators_watch(document: dict[str, Any]) -> None:
    names = {s.name for s in shown_metrics(document)}
    assert {
        "EventsAccepted", "WebhooksDuplicate", "WebhooksRejected", "Rejected",
        "Forwarded", "Retried", "DeadLettered", "TransientFailure",
        "ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible",
        "Failed", "Duration",
        "DiscoveriesRequested", "DiscoveriesAnswered", "DiscoveriesAnsweredLate", "DiscoveriesNeverAnswered",
        "CommandsRequested", "CommandsAnswered", "CommandsAnsweredLate", "CommandsNeverAnswered",
        "DetectorsReset", "DetectorsFailed",
        "Errors", "Throttles", "ConcurrentExecutions",
    } <= names  # fmt: skip
    durations = [
        w for w in document["widgets"]
        if any(row[1:2] == ["Duration"] for row in w["properties"].get("metrics", []))
    ]  # fmt: skip
    assert [a["value"] for w in durations for a in w["properties"]["annotations"]["horizontal"]].count(
        2000
    ) == 1


# --- the checks catch a dashboard that drifts ---


def _doctored(document: dict[str, Any], metrics: list[Any]) -> dict[str, Any]:
    widget = {
        "type": "metric", "x": 0, "y": 99, "width": 8, "height": 6,
        "properties": {"title": "doctored", "region": placeholder("AWS::Region"), "metrics": metrics},
    }  # fmt: skip
    return {"widgets": [*document["widgets"], widget]}


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (["IoTBridge", "WebhooksTeleported", "service", "iot-bridge"], "a name no code emits"),
        (["IoTBridge", "DeadLettered", "service", "iot-bridge"], "a name without the ErrorCode it carries"),
        (
            ["IoTBridge", "DetectorsReset", "service", "iot-bridge"],
            "the reset job's metric under the relay's service",
        ),
        (
            ["IoTBridge", "Forwarded", "service", "iot-bridge", "Connector", "x"],
            "a dimension the code never adds",
        ),
        (["IoTBridge", "Fail_timeout", "service", "iot-bridge"], "no family starts so"),
        (
            [{"id": "e", "expression": "SEARCH('{IoTBridge,service} MetricName=Vanished', 'Sum', 300)"}],
            "a family",
        ),
        (["AWS/Lambda", "Errors", "FunctionName", "<EventQueue>"], "a queue as a function"),
    ],
)
def test_a_dashboard_naming_a_metric_no_code_emits_fails_the_check(
    document: dict[str, Any], template: dict[str, Any], emissions: Emissions, row: list[Any], why: str
) -> None:
    problems = metric_problems(_doctored(document, [row]), template, emissions)
    assert len(problems) == 1, why
    assert problems[0].startswith("doctored: ")


def test_a_dashboard_missing_an_alarm_fails_the_check(
    document: dict[str, Any], template: dict[str, Any]
) -> None:
    doctored = json.loads(json.dumps(document))
    for widget in doctored["widgets"]:
        if widget["type"] == "alarm":
            widget["properties"]["alarms"].remove(placeholder("OldestQueuedEventAlarm.Arn"))
    assert alarm_problems(doctored, template) == ["OldestQueuedEventAlarm is not on the dashboard"]


def test_a_body_that_is_not_json_or_names_an_unknown_resource_fails(template: dict[str, Any]) -> None:
    with pytest.raises(json.JSONDecodeError):
        substituted('{"widgets": [}', template)
    with pytest.raises(AssertionError, match="NoSuchQueue"):
        substituted('{"widgets": ["${NoSuchQueue.QueueName}"]}', template)
