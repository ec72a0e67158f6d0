"""A reset plan: which detectors of one detector model to reset, how, and where they are kept. Validated
before any API call.

Two backends hold detectors: an endpoint speaking the AWS IoT Events Data API (AWS IoT Events itself can no
longer be used since 2026-05-20), or a DynamoDB table in the layout `DetectorTable` documents, as kept by
detector models migrated to Lambda. Constraints are the IoT Events Data service model's (2018-10-23) on
both, so that a plan runs unchanged on either and a plan a service would turn away is rejected up front,
with every problem listed, instead of failing detector by detector at run time.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from iotbridge.errors import InvalidInputError, Problem
from iotbridge.wire import CamelModel, Location, problems_of

# Shapes of the service model.
DetectorModelName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9_-]+$")
]
KeyValue = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9\-_:]+$")]
StateName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
VariableName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[a-zA-Z][a-zA-Z0-9_]*$")
]
VariableValue = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
TimerName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
InputName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
]
# Becomes a metric dimension and part of message ids, so it keeps to the MessageId alphabet.
PlanName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")]
# DynamoDB's naming rules: table and index names 3 to 255 of these characters, attribute names 1 to 255.
TableName = Annotated[str, StringConstraints(min_length=3, max_length=255, pattern=r"^[a-zA-Z0-9_.-]+$")]
AttributeName = Annotated[str, StringConstraints(min_length=1, max_length=255)]

# Documented IoT Events quotas and limits.
MAX_TIMERS = 5  # timers per detector
MAX_VARIABLES = 50  # state variables per detector model definition
MAX_TIMER_SECONDS = 31_622_400  # the SetTimer action's upper bound (366 days)
MAX_PAYLOAD_BYTES = 1024  # message size
# AWS IoT Core: a message payload of at most 128 KB, a topic of at most 256 bytes with at most 7 slashes
# (the Basic Ingest prefix `$aws/rules/<rule>/` not counted).
MAX_MQTT_PAYLOAD_BYTES = 128 * 1024
MAX_TOPIC_BYTES = 256
MAX_TOPIC_SLASHES = 7
_BASIC_INGEST = re.compile(r"^\$aws/rules/[^/]+/")
MAX_MESSAGES_PER_REQUEST = 10  # BatchPutMessage
MAX_KEY_VALUES = 1_000  # keeps a continuation payload well under the 256 KB asynchronous invoke limit
# Deeper templates are refused before anything walks them: walking, filling and serialising them recurse.
MAX_TEMPLATE_DEPTH = 64

# What a payload template may refer to; each is filled per detector.
PLACEHOLDERS = ("keyValue", "planName", "runId", "time")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


TOO_DEEP = Problem("", "nested too deeply to read")


class PlanError(InvalidInputError):
    """A plan that cannot run. The message lists every problem, one per line, as `path: rule`."""

    subject = "reset plan"
    whole = "(plan)"


class VariableSetting(CamelModel):
    name: VariableName
    value: VariableValue


class TimerSetting(CamelModel):
    name: TimerName
    seconds: Annotated[StrictInt, Field(ge=1, le=MAX_TIMER_SECONDS)]


def _duplicates(values: list[str]) -> list[str]:
    return sorted(value for value, count in Counter(values).items() if count > 1)


class DetectorSelection(CamelModel):
    """Exactly one of: every detector, those in the given states, or those with the given key values."""

    all: StrictBool = False
    in_states: Annotated[list[StateName], Field(min_length=1, max_length=100)] | None = None
    key_values: Annotated[list[KeyValue], Field(min_length=1, max_length=MAX_KEY_VALUES)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DetectorSelection:
        chosen = [
            n
            for n, v in (("all", self.all), ("inStates", self.in_states), ("keyValues", self.key_values))
            if v
        ]
        if len(chosen) != 1:
            raise ValueError("choose exactly one of all=true, inStates or keyValues")
        for name, values in (("inStates", self.in_states), ("keyValues", self.key_values)):
            repeated = _duplicates(values or [])
            if repeated:
                raise ValueError(
                    f"{name} lists {len(repeated)} value(s) more than once: {', '.join(repeated[:5])}"
                )
        return self


class UpdateAction(CamelModel):
    """BatchUpdateDetector to a target state.

    The service clears every variable and timer an update leaves out, so variables to keep are listed in
    preserveVariables and carried over from the detector's current values.
    """

    mode: Literal["update"]
    state_name: StateName
    variables: Annotated[list[VariableSetting], Field(max_length=MAX_VARIABLES)] = []
    timers: Annotated[list[TimerSetting], Field(max_length=MAX_TIMERS)] = []
    preserve_variables: Annotated[list[VariableName], Field(max_length=MAX_VARIABLES)] = []

    @model_validator(mode="after")
    def _consistent(self) -> UpdateAction:
        problems = []
        set_names = [v.name for v in self.variables]
        for label, names in (
            ("variables", set_names),
            ("timers", [t.name for t in self.timers]),
            ("preserveVariables", list(self.preserve_variables)),
        ):
            repeated = _duplicates(names)
            if repeated:
                problems.append(f"{label} names {', '.join(repeated)} more than once")
        both = sorted(set(set_names) & set(self.preserve_variables))
        if both:
            problems.append(f"variable(s) {', '.join(both)} both set and preserved")
        if len(set(set_names) | set(self.preserve_variables)) > MAX_VARIABLES:
            problems.append(f"at most {MAX_VARIABLES} variables may be set and preserved together")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _mqtt_topic(topic: str) -> str:
    problems = []
    if len(topic.encode()) > MAX_TOPIC_BYTES:
        problems.append(f"a topic has at most {MAX_TOPIC_BYTES} bytes")
    if set(topic) & {"+", "#", "\0"}:
        problems.append("a topic to publish to has no wildcard (+, #) and no NUL character")
    if _BASIC_INGEST.sub("", topic).count("/") > MAX_TOPIC_SLASHES:
        problems.append(f"a topic has at most {MAX_TOPIC_SLASHES} slashes")
    if problems:
        raise ValueError("; ".join(problems))
    return topic


Topic = Annotated[str, StringConstraints(min_length=1), AfterValidator(_mqtt_topic)]


class MessageAction(CamelModel):
    """A message per detector, so that the detector model's own logic performs the reset: BatchPutMessage to
    an IoT Events input, or a publish to the AWS IoT Core topic a migrated model reads its input from.

    A plan may name both, and then runs unchanged on either backend.
    """

    mode: Literal["message"]
    input_name: InputName | None = None  # the iotevents-data backend's destination
    topic: Topic | None = None  # the dynamodb backend's destination
    payload_template: dict[str, Any]

    @model_validator(mode="after")
    def _template_is_usable(self) -> MessageAction:
        if _depth(self.payload_template) > MAX_TEMPLATE_DEPTH:
            raise ValueError(f"the payload template is nested more than {MAX_TEMPLATE_DEPTH} levels deep")
        names = set(_placeholders(self.payload_template))
        unknown = sorted(names - set(PLACEHOLDERS))
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {', '.join('${' + n + '}' for n in unknown)}; "
                f"known: {', '.join('${' + n + '}' for n in PLACEHOLDERS)}"
            )
        if "keyValue" not in names:
            raise ValueError(
                "the template must contain ${keyValue}, or every message would reach one detector"
            )
        return self

    def widest_payload_bytes(self) -> int:
        """The size of the largest payload the template can be filled to."""
        widest = render_payload(
            self.payload_template, key_value="k" * 128, plan_name="p" * 64, run_id="r" * 32, time=_WIDEST_TIME
        )
        return len(widest)


_WIDEST_TIME = "2000-01-01T00:00:00.000000+00:00"


def _depth(node: Any) -> int:
    """How many objects and lists deep `node` is, found without recursion (the node may be very deep)."""
    deepest, pending = 0, [(node, 1)]
    while pending:
        current, level = pending.pop()
        children = (
            current.values() if isinstance(current, dict) else current if isinstance(current, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_TEMPLATE_DEPTH:
            break  # deep enough to refuse; no need to walk the rest
        pending.extend((child, level + 1) for child in children)
    return deepest


def _placeholders(node: Any) -> list[str]:
    if isinstance(node, str):
        return _PLACEHOLDER.findall(node)
    if isinstance(node, dict):
        return [name for key, value in node.items() for name in _placeholders(key) + _placeholders(value)]
    if isinstance(node, list):
        return [name for item in node for name in _placeholders(item)]
    return []


def _fill(node: Any, values: dict[str, str]) -> Any:
    # Filled inside the parsed JSON, so no value can break the document's syntax.
    if isinstance(node, str):
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], node)
    if isinstance(node, dict):
        return {_fill(k, values): _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    return node


def render_payload(
    template: dict[str, Any], *, key_value: str, plan_name: str, run_id: str, time: str
) -> bytes:
    values = {"keyValue": key_value, "planName": plan_name, "runId": run_id, "time": time}
    return json.dumps(_fill(template, values), separators=(",", ":"), ensure_ascii=False).encode()


class VerifyOptions(CamelModel):
    """Describe reset detectors afterwards: all of them, or the first sampleSize of the run."""

    sample_size: Annotated[StrictInt, Field(ge=1)] | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """One listing a plan needs: the detectors in a state, every detector of the model, or the plan's own
    key values (read from the plan, not listed)."""

    state_name: str | None = None
    key_values: tuple[str, ...] | None = None


class TableAttributes(CamelModel):
    """The attribute names of a detector table; the defaults are the layout of the template's table.

    One item per detector: `detectorModel` (partition key, string) and `keyValue` (sort key, string), the
    state name (string), variables (a map of name to string value), timers (a map of name to expiry time,
    epoch seconds), the detector model version (string), and creation and last update times (epoch seconds).
    """

    detector_model: AttributeName = "detectorModel"
    key_value: AttributeName = "keyValue"
    state_name: AttributeName = "stateName"
    variables: AttributeName = "variables"
    timers: AttributeName = "timers"
    detector_model_version: AttributeName = "detectorModelVersion"
    creation_time: AttributeName = "creationTime"
    last_update_time: AttributeName = "lastUpdateTime"

    @model_validator(mode="after")
    def _distinct(self) -> TableAttributes:
        repeated = _duplicates(list(self.model_dump().values()))
        if repeated:
            raise ValueError(f"each attribute needs a name of its own: {', '.join(repeated)} named twice")
        return self


class IotEventsDataBackend(CamelModel):
    """Detectors behind an endpoint that speaks the AWS IoT Events Data API."""

    kind: Literal["iotevents-data"] = "iotevents-data"


class DynamoDbBackend(CamelModel):
    """Detectors kept in a DynamoDB table, one item each, with a global secondary index whose partition
    key is the model attribute and sort key the state attribute (a model's detectors by state)."""

    kind: Literal["dynamodb"]
    table: TableName
    state_index: TableName = "byState"
    attributes: TableAttributes = TableAttributes()


Backend = Annotated[IotEventsDataBackend | DynamoDbBackend, Field(discriminator="kind")]


class ResetPlan(CamelModel):
    name: PlanName
    detector_model_name: DetectorModelName
    backend: Backend = IotEventsDataBackend()
    detectors: DetectorSelection
    action: Annotated[UpdateAction | MessageAction, Field(discriminator="mode")]
    dry_run: StrictBool = False
    verify: VerifyOptions | None = None

    @field_validator("action")
    @classmethod
    def _messages_fit_the_backend(
        cls, action: UpdateAction | MessageAction, info: ValidationInfo
    ) -> UpdateAction | MessageAction:
        backend = info.data.get("backend")
        if not isinstance(action, MessageAction) or backend is None:
            return action  # nothing to fit, or the backend is invalid and reported
        if isinstance(backend, DynamoDbBackend):
            destination, member, limit = action.topic, "topic", MAX_MQTT_PAYLOAD_BYTES
        else:
            destination, member, limit = action.input_name, "inputName", MAX_PAYLOAD_BYTES
        problems = []
        if destination is None:
            problems.append(f"{member} is required with backend {backend.kind}")
        widest = action.widest_payload_bytes()
        if widest > limit:
            problems.append(
                f"the payload can reach {widest} bytes, more than the {limit}-byte message limit "
                f"of backend {backend.kind}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return action

    @model_validator(mode="after")
    def _verify_needs_a_target_state(self) -> ResetPlan:
        if self.verify is not None and not isinstance(self.action, UpdateAction):
            raise ValueError("verify needs action.mode 'update': a message has no target state to check")
        return self

    def message_destination(self, action: MessageAction) -> str:
        """Where a message-mode reset sends: the IoT Events input, or the AWS IoT Core topic."""
        if isinstance(self.backend, DynamoDbBackend):
            destination, member = action.topic, "topic"
        else:
            destination, member = action.input_name, "inputName"
        if destination is None:  # validation requires it; a plan built around validation may lack it
            raise PlanError([Problem("action", f"{member} is required with backend {self.backend.kind}")])
        return destination

    def listings(self) -> list[Listing]:
        """The listings of a run, in the order it goes through them."""
        selection = self.detectors
        if selection.key_values:
            return [Listing(key_values=tuple(selection.key_values))]
        if selection.in_states:
            states = list(selection.in_states)
            if isinstance(self.action, UpdateAction) and self.action.state_name in states:
                # Detectors reset from another listed state land in the target state: list that one first,
                # while it holds only detectors that were there before the run.
                states.remove(self.action.state_name)
                states.insert(0, self.action.state_name)
            return [Listing(state_name=s) for s in states]
        return [Listing()]


# The tags of the plan's discriminated unions, by the member that holds one.
_TAGS = {"action": ("update", "message"), "backend": ("iotevents-data", "dynamodb")}


def _without_union_tags(loc: Location) -> Location:
    # A discriminated union puts the tag into the location (action.update.stateName): leave it out.
    return tuple(item for i, item in enumerate(loc) if not (i > 0 and item in _TAGS.get(str(loc[i - 1]), ())))


def plan_problems(exc: ValidationError) -> list[Problem]:
    """Each problem of a plan (or of a document holding one) as a path and a rule, without its value."""
    return problems_of(exc, location=_without_union_tags)


def parse_plan(data: Any) -> ResetPlan:
    """The plan in `data` (a JSON object, already parsed), or PlanError listing every problem."""
    if not isinstance(data, dict):
        raise PlanError([Problem("", f"expected a JSON object, got {type(data).__name__}")])
    try:
        return ResetPlan.model_validate(data)
    except ValidationError as exc:
        raise PlanError(plan_problems(exc)) from None
    except RecursionError:
        # The template's depth is bounded before it is walked; this guards whatever else might recurse.
        raise PlanError([TOO_DEEP]) from None


def parse_plan_json(text: str | bytes) -> ResetPlan:
    """The plan in a JSON text (bytes in UTF-8, UTF-16 or UTF-32, as RFC 8259 allows), or PlanError."""
    try:
        data = json.loads(text)
    except UnicodeDecodeError:
        raise PlanError([Problem("", "not valid JSON (not UTF-8, UTF-16 or UTF-32 text)")]) from None
    except RecursionError:
        raise PlanError([TOO_DEEP]) from None
    except ValueError as exc:
        raise PlanError([Problem("", f"not valid JSON ({exc})")]) from None
    return parse_plan(data)
