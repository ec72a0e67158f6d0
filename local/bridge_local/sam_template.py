"""What the local stack needs from template.yaml: functions, their environment, events, queues and tables.

Reading the template, rather than restating it, keeps the local stack running each handler with the
same environment, timeout and triggers as the deployed one. Intrinsic functions are resolved against
parameter defaults (or local overrides) and the local stand-ins of the template's resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .lambda_runtime import LOCAL_ACCOUNT_ID, LOCAL_REGION

# {{resolve:secretsmanager:<id>:SecretString}} (with no JSON key, version stage or version id).
_DYNAMIC_SECRET = re.compile(r"\{\{resolve:secretsmanager:(.+?):SecretString(?:::)?\}\}")


class TemplateError(ValueError):
    """The template lacks something the local stack needs, or uses what it cannot reproduce."""


class _Tagged:
    """A CloudFormation short-form intrinsic (`!Ref X`) read as its long form."""


def _intrinsic_loader() -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        pass

    def construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if suffix == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    Loader.add_multi_constructor("!", construct)
    return Loader


def load(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as f:
            data = yaml.load(f, Loader=_intrinsic_loader())  # noqa: S506 - SafeLoader plus intrinsic tags
    except FileNotFoundError:
        raise TemplateError(f"{path}: no such template") from None
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template with Resources")
    return data


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    properties: dict[str, Any]

    @property
    def name(self) -> str:
        fifo = bool(self.properties.get("FifoQueue"))
        return self.logical_id + (".fifo" if fifo else "")


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    code_uri: str
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, Any]  # still holding intrinsics; see LocalResolver.environment
    http_routes: list[str] = field(default_factory=list)  # "POST /connectors/{connectorId}/events"
    sqs_sources: list[tuple[str, int]] = field(default_factory=list)  # (queue logical id, batch size)
    # Schedule name -> its Input, unresolved (often a !Sub of the template's parameters).
    schedules: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StackSpec:
    parameters: dict[str, Any]
    functions: dict[str, FunctionSpec]
    queues: dict[str, QueueSpec]
    tables: dict[str, TableSpec]
    resources: dict[str, dict[str, Any]]
    conditions: dict[str, Any] = field(default_factory=dict)


def _queue_logical_id(ref: Any) -> str | None:
    if isinstance(ref, dict):
        if "Fn::GetAtt" in ref:
            return str(ref["Fn::GetAtt"][0])
        if "Ref" in ref:
            return str(ref["Ref"])
    return None


def read(path: Path) -> StackSpec:
    data = load(path)
    resources: dict[str, dict[str, Any]] = data["Resources"]
    function_globals = ((data.get("Globals") or {}).get("Function")) or {}
    global_env = ((function_globals.get("Environment") or {}).get("Variables")) or {}
    parameters = {k: v.get("Default") for k, v in (data.get("Parameters") or {}).items()}
    functions: dict[str, FunctionSpec] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        env = {**global_env, **(((props.get("Environment") or {}).get("Variables")) or {})}
        spec = FunctionSpec(
            logical_id=logical_id,
            handler=str(props.get("Handler") or ""),
            code_uri=str(props.get("CodeUri") or ""),
            timeout_seconds=int(props.get("Timeout") or function_globals.get("Timeout") or 3),
            memory_mb=int(props.get("MemorySize") or function_globals.get("MemorySize") or 128),
            environment=env,
        )
        for event_name, event in (props.get("Events") or {}).items():
            kind, event_props = event.get("Type"), event.get("Properties") or {}
            if kind == "HttpApi":
                spec.http_routes.append(
                    f"{str(event_props.get('Method', 'ANY')).upper()} {event_props['Path']}"
                )
            elif kind == "SQS":
                queue = _queue_logical_id(event_props.get("Queue"))
                if queue:
                    spec.sqs_sources.append((queue, int(event_props.get("BatchSize") or 10)))
            elif kind in {"ScheduleV2", "Schedule"} and "Input" in event_props:
                spec.schedules[event_name] = event_props["Input"]
        functions[logical_id] = spec
    # Schedules declared as their own resources target a function by ARN.
    for schedule_id, resource in resources.items():
        if resource.get("Type") != "AWS::Scheduler::Schedule":
            continue
        target = (resource.get("Properties") or {}).get("Target") or {}
        function = _queue_logical_id(target.get("Arn"))
        if function in functions and "Input" in target:
            functions[function].schedules[schedule_id] = target["Input"]
    queues = {
        k: QueueSpec(k, v.get("Properties") or {})
        for k, v in resources.items()
        if v.get("Type") == "AWS::SQS::Queue"
    }
    tables = {
        k: TableSpec(k, v.get("Properties") or {})
        for k, v in resources.items()
        if v.get("Type") == "AWS::DynamoDB::Table"
    }
    return StackSpec(
        parameters=parameters,
        functions=functions,
        queues=queues,
        tables=tables,
        resources=resources,
        conditions=dict(data.get("Conditions") or {}),
    )


# What `!Ref AWS::NoValue` resolves to: the property holding it is left out, as CloudFormation does.
_NO_VALUE = object()


class LocalResolver:
    """Resolves intrinsics to local values: parameters, pseudo parameters, and the local resources."""

    def __init__(
        self,
        spec: StackSpec,
        *,
        parameter_overrides: Mapping[str, Any] | None = None,
        region: str = LOCAL_REGION,
    ) -> None:
        self._values: dict[str, Any] = {
            **spec.parameters,
            **(parameter_overrides or {}),
            "AWS::Region": region,
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "iot-bridge-local",
        }
        self._attributes: dict[tuple[str, str], str] = {}
        # Secrets by ARN and by name, for `{{resolve:secretsmanager:...}}` dynamic references.
        self._secrets: dict[str, str] = {}
        self._spec = spec

    def bind(self, logical_id: str, ref: str, **attributes: str) -> None:
        """Give a resource its local value (what !Ref returns) and attributes (what !GetAtt returns)."""
        self._values[logical_id] = ref
        for name, value in attributes.items():
            self._attributes[(logical_id, name)] = value

    def bind_secret(self, logical_id: str, arn: str, name: str, secret: str) -> None:
        """A secret resource: !Ref gives its ARN, a dynamic reference to it its value."""
        self.bind(logical_id, arn, Id=arn)
        self._secrets[arn] = self._secrets[name] = secret

    def condition(self, name: str) -> bool:
        """A condition of the template, evaluated with the parameters in force."""
        if name not in self._spec.conditions:
            raise TemplateError(f"no condition {name} in the template")
        return self._truth(self._spec.conditions[name])

    def _truth(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Condition":
                return self.condition(str(arg))
            if key == "Fn::Equals":
                left, right = (self.value(v) for v in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self._truth(arg[0])
            if key == "Fn::And":
                return all(self._truth(v) for v in arg)
            if key == "Fn::Or":
                return any(self._truth(v) for v in arg)
        raise TemplateError(f"cannot evaluate condition {node!r}")

    def present(self, logical_id: str) -> bool:
        """Whether the stack has this resource: it has no Condition, or its condition holds."""
        name = self._spec.resources.get(logical_id, {}).get("Condition")
        return name is None or self.condition(str(name))

    def value(self, node: Any) -> Any:
        found = self._value(node)
        if found is _NO_VALUE:
            return None
        return _DYNAMIC_SECRET.sub(self._secret_value, found) if isinstance(found, str) else found

    def _secret_value(self, found: re.Match[str]) -> str:
        secret = self._secrets.get(found.group(1))
        if secret is None:
            raise TemplateError(f"no local secret for the dynamic reference {found.group(0)}")
        return secret

    def _value(self, node: Any) -> Any:  # noqa: C901 - one branch per intrinsic function the stack reads
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return _NO_VALUE
                if arg not in self._values:
                    raise TemplateError(f"no local value for !Ref {arg}")
                return self._values[arg]
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self._value(when_true if self.condition(str(name)) else when_false)
            if key == "Fn::GetAtt":
                found = self._attributes.get((str(arg[0]), str(arg[1])))
                if found is None:
                    raise TemplateError(f"no local value for !GetAtt {arg[0]}.{arg[1]}")
                return found
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(self.value(v)) for v in arg[1])
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local stack")
        if isinstance(node, dict):
            values = {k: self._value(v) for k, v in node.items()}
            return {k: v for k, v in values.items() if v is not _NO_VALUE}
        if isinstance(node, list):
            return [v for v in (self._value(item) for item in node) if v is not _NO_VALUE]
        return node

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        out, i = [], 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                break
            end = text.index("}", start)
            out.append(text[i:start])
            name = text[start + 2 : end]
            if name in extra:
                out.append(str(self.value(extra[name])))
            elif "." in name:
                out.append(str(self.value({"Fn::GetAtt": name.split(".", 1)})))
            else:
                out.append(str(self.value({"Ref": name})))
            i = end + 1
        return "".join(out)

    def schedule_inputs(self, function: FunctionSpec) -> dict[str, Any]:
        """Each schedule's event for the function, as EventBridge Scheduler would send it."""
        inputs: dict[str, Any] = {}
        for name, node in function.schedules.items():
            value = self.value(node)
            try:
                inputs[name] = json.loads(value) if isinstance(value, str) else value
            except ValueError as exc:
                raise TemplateError(f"schedule {name}'s Input is not JSON: {exc}") from None
        return inputs

    def environment(self, function: FunctionSpec) -> dict[str, str]:
        """The function's variables as Lambda would set them: every value a string."""
        env: dict[str, str] = {}
        for name, node in function.environment.items():
            value = self.value(node)
            env[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return env
