"""A SendCommand's Matter commands in a device cloud's terms, by the profile's `sendCommand.commands`.

Each Matter command is mapped by the first rule that names the same cluster and command (`OnOff.Off`)
and whose `when` holds: its `values` are computed from the command's fields with the inbound transforms,
then its `body` is filled with them. A command no rule maps, or whose fields a rule cannot use, is the
invocation's fault (a 400, the cloud not asked): the error names the cluster and command ids, the rule and
the value, never a value. The same rules say what a command answered at once reports (`response.set`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from iotbridge import matter
from iotbridge.profile.expressions import Evaluation, EvaluationBudgetError, ExpressionError, truthy
from iotbridge.profile.templates import JsonTemplate, TemplateError
from iotbridge.webhook_receiver.domain.transforms import TransformError, TransformSkip, apply

from .ports import ConnectorSetupError, RequestedCommand, UnmappableCommandError

if TYPE_CHECKING:
    from iotbridge.profile.outbound import CommandRule, CommandValue, SendCommand

logger = Logger(child=True)

# A response event's Message: what SendConnectorEvent's pattern takes, at most this long.
MAX_MESSAGE_CHARS = 256
_NOT_IN_MESSAGE = re.compile(r"[^ a-zA-Z0-9_.,@-]")


@dataclass(frozen=True, slots=True)
class MappedCommand:
    """A Matter command with the rule that maps it: the values computed from its fields and the rule's
    body filled with them (the `{command}` of the request's templates; None for a rule without a body)."""

    requested: RequestedCommand
    rule: CommandRule
    index: int  # the rule's place in sendCommand.commands, for messages
    values: dict[str, Any] = field(repr=False)
    body: Any = field(repr=False)

    def context(self) -> dict[str, Any]:
        """What a rule's expressions read: the command's fields, the command itself and its values."""
        return {**command_context(self.requested), "values": self.values}


def command_context(requested: RequestedCommand) -> dict[str, Any]:
    return {
        "fields": requested.fields if requested.fields is not None else {},
        "command": {
            "name": requested.name,
            "endpoint": requested.endpoint,
            "clusterId": requested.cluster_id,
            "commandId": requested.command_id,
        },
    }


def map_commands(
    spec: SendCommand,
    commands: Sequence[RequestedCommand],
    base: Mapping[str, Any],
    evaluation: Evaluation,
) -> list[MappedCommand]:
    """Each command mapped by its rule. Raises UnmappableCommandError (`unsupported_command`,
    `invalid_command_fields`) or ConnectorSetupError (`template`: a rule's body cannot be filled)."""
    if not commands:
        raise UnmappableCommandError("unsupported_command", "The SendCommand names no Matter command.")
    return [_mapped(spec, requested, base, evaluation) for requested in commands]


def _ids(requested: RequestedCommand) -> tuple[int, int] | None:
    try:
        return matter.parse_id(requested.cluster_id), matter.parse_id(requested.command_id)
    except ValueError:
        return None


def _mapped(
    spec: SendCommand, requested: RequestedCommand, base: Mapping[str, Any], evaluation: Evaluation
) -> MappedCommand:
    ids = _ids(requested)
    context = {**base, **command_context(requested)}
    for index, rule in enumerate(spec.commands):
        if ids is None or (rule.cluster_id, rule.command_id) != ids:
            continue
        if rule.when is not None and not truthy(_search(rule.when, context, evaluation, rule, "when")):
            continue
        values = _values(rule, context, evaluation)
        body = None
        if rule.body is not None:
            body = _render(rule.body, {**context, "values": values}, evaluation, f"commands[{index}].body")
        return MappedCommand(requested, rule, index, values, body)
    # The ids are the caller's text: shown only when they are what a Matter id looks like.
    shown = f"cluster {requested.cluster_id}, command {requested.command_id}" if ids is not None else ""
    raise UnmappableCommandError(
        "unsupported_command",
        f"The device cloud's profile maps no such command ({shown})."
        if shown
        else "The command's cluster or command id is not a Matter id.",
    )


def _values(rule: CommandRule, context: dict[str, Any], evaluation: Evaluation) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in rule.values.items():
        found = _value(rule, name, value, context, evaluation)
        if found is not None:
            values[name] = found
    return values


def _value(
    rule: CommandRule, name: str, spec: CommandValue, context: dict[str, Any], evaluation: Evaluation
) -> Any:
    if spec.from_ is None:
        return spec.value
    found = _search(spec.from_, context, evaluation, rule, f"values.{name}")
    if found is None:
        if spec.required:
            raise _invalid(rule, name, "is required and missing")
        return None
    try:
        return apply(spec.transform, found, read=lambda expression: expression.search(context, evaluation))
    except TransformSkip:
        return None
    except TransformError as exc:
        raise _invalid(rule, name, str(exc)) from None
    except (ExpressionError, EvaluationBudgetError):
        raise _invalid(rule, name, "cannot be computed from the fields") from None


def _invalid(rule: CommandRule, name: str, what: str) -> UnmappableCommandError:
    return UnmappableCommandError(
        "invalid_command_fields", f"The command's fields do not fit rule {rule.name}: value {name} {what}."
    )


def _search(expression: Any, context: Any, evaluation: Evaluation, rule: CommandRule, where: str) -> Any:
    try:
        return expression.search(context, evaluation)
    except (ExpressionError, EvaluationBudgetError):
        raise _invalid(rule, where, "cannot be evaluated on the fields") from None


def _render(template: JsonTemplate, context: Mapping[str, Any], evaluation: Evaluation, where: str) -> Any:
    try:
        return template.render(context, evaluation)
    except (TemplateError, EvaluationBudgetError) as exc:
        logger.error(
            "a profile template cannot be filled",
            extra={
                "where": getattr(exc, "where", "") or f"sendCommand.{where}",
                "reason": getattr(exc, "reason", "") or type(exc).__name__,
            },
        )
        raise ConnectorSetupError("template") from None


# --- what a command answered at once reports ------------------------------------------------------------


def response_endpoint(
    mapped: Sequence[MappedCommand],
    answer: Mapping[str, Any],
    attribute_form: str,
    evaluation: Evaluation,
    *,
    attributes: bool = True,
) -> dict[str, Any]:
    """The `MatterEndpoint` of a DEVICE_COMMAND_RESPONSE: the endpoint of the first command, with each
    command of that endpoint answered (`commands: {<id>: {}}`) and, unless `attributes` is False, the
    attributes the rules' `response.set` give (a value that cannot be had is left out: the command was
    carried out all the same). Expressions read the command's context and `answer` (status, headers, body
    of the cloud's answer)."""
    endpoint = mapped[0].requested.endpoint
    clusters: dict[str, dict[str, Any]] = {}

    def cluster(cluster_id: str) -> dict[str, Any]:
        return clusters.setdefault(cluster_id, {"id": cluster_id})

    for item in mapped:
        if item.requested.endpoint != endpoint:
            continue
        cluster_spec, command_id = matter.command(item.rule.command)
        cluster(cluster_spec.hex_id).setdefault("commands", {})[matter.command_hex(command_id)] = {}
        if item.rule.response is None or not attributes:
            continue
        context = {**item.context(), "answer": answer}
        for attribute in item.rule.response.set:
            cluster_id, attribute_id, target = attribute.target
            value = _attribute_value(attribute, target, context, evaluation)
            if value is _LEFT_OUT:
                logger.warning(
                    "a command response's attribute is left out",
                    extra={"rule": item.rule.name, "attribute": attribute.attribute},
                )
                continue
            reported = cluster(cluster_id).setdefault("attributes", [] if attribute_form == "list" else {})
            if isinstance(reported, list):
                reported.append({attribute_id: value})
            else:
                reported[attribute_id] = value
    return {"id": endpoint, "clusters": list(clusters.values())[:5]}


_LEFT_OUT = object()


def _attribute_value(
    attribute: Any, target: matter.AttributeSpec, context: Any, evaluation: Evaluation
) -> Any:
    if attribute.is_literal:
        return attribute.value
    try:
        found = attribute.from_.search(context, evaluation)
        if found is None:
            return _LEFT_OUT
        value = apply(
            attribute.transform,
            found,
            clamped=attribute.clamp,
            read=lambda expression: expression.search(context, evaluation),
        )
    except (TransformError, ExpressionError, EvaluationBudgetError):
        return _LEFT_OUT
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if attribute.clamp and numeric and target.bounds is not None:
        value = target.clamped(value)
    return _LEFT_OUT if target.problem(value) is not None else value


def message_text(value: Any) -> str | None:
    """A response event's Message from what the cloud's answer says: text (or a number) with every
    character SendConnectorEvent's pattern does not take turned into a space, cut to MAX_MESSAGE_CHARS;
    None when nothing is left."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = _NOT_IN_MESSAGE.sub(" ", str(value))[:MAX_MESSAGE_CHARS].strip()
    return text or None
