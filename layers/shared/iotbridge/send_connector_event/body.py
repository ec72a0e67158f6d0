"""A webhook body, parsed into SendConnectorEvent requests: one event object, or a JSON array of 1 to 50
of them (of the events a connector profile maps from one native body, up to the profile's own bound), checked
against the wire models (`iotbridge.send_connector_event.models`). A body that breaks them is one
`EventValidationError` naming every failing member by its path and the rule it breaks, never quoting a value
(values may be sensitive); a body with very many problems is checked on a trimmed copy, so that neither the
work nor the answer grows with their number.
"""

from functools import lru_cache
from typing import Any, Final, cast

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from iotbridge.errors import MAX_LISTED_PROBLEMS, InvalidInputError, Problem, render_path
from iotbridge.send_connector_event.models import ConnectorEvent, ConnectorIdText
from iotbridge.send_connector_event.operations import OPERATION_MEMBERS, OPERATIONS

MAX_EVENTS_PER_BODY: Final = 50
# A 422 lists at most MAX_LISTED_PROBLEMS problems (the error bounds its own list), and counts the rest.


class EventValidationError(InvalidInputError):
    """The webhook body breaks the SendConnectorEvent contract; `problems` lists every failing member."""

    subject = "body"
    whole = "(body)"


# Built once at import: validation is the hot path of every webhook.
_ONE_EVENT: Final = TypeAdapter(ConnectorEvent)
_MANY_EVENTS: Final = TypeAdapter(list[ConnectorEvent])
_CONNECTOR_ID: Final = TypeAdapter(ConnectorIdText)

_RULES: Final = {
    "missing": "required",
    "extra_forbidden": "unknown member",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "list_type": "must be an array",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}
# Error types raised by our own validators: their messages name rules and bounds, never values.
_OWN_TYPE_PREFIXES: Final = ("smithy_", "event_")
# Where the model has maps (MatterCluster.commands / .events): what follows in a location is a sender's key.
_MAP_PARENT: Final = ("MatterEndpoint", "clusters")
_MAP_MEMBERS: Final = frozenset({"commands", "events"})


_NAME_CHARACTERS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _plain_name(name: str) -> bool:
    """Whether an unknown member's name is an identifier worth echoing back, not arbitrary text."""
    return 0 < len(name) <= 64 and all(ch in _NAME_CHARACTERS for ch in name)


def _problem(error: ErrorDetails, prefix: tuple[int | str, ...]) -> Problem | None:
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "event_operation_members":
        return None  # reported member by member from the raw body, see _operation_problems
    rule = _RULES.get(kind)
    if rule is None:
        if kind == "literal_error":
            allowed = str(error.get("ctx", {}).get("expected", "")).replace("'", "").replace(" or ", ", ")
            rule = f"must be one of {allowed}"
        elif kind.startswith(_OWN_TYPE_PREFIXES):
            rule = error["msg"]
        else:
            rule = "is not valid"
    # A map's keys are the sender's text: name the map, and say whether a key or a value breaks the rule.
    if len(loc) > 4 and loc[:2] == _MAP_PARENT and loc[3] in _MAP_MEMBERS:
        rule = ("each key: " if loc[-1] == "[key]" else "each value: ") + rule
        loc = loc[:4]
    elif kind == "extra_forbidden" and loc and isinstance(loc[-1], str) and not _plain_name(loc[-1]):
        loc = loc[:-1]
        rule = "unknown member (name not shown)"
    return Problem(render_path(prefix + loc), rule)


def _operation_problems(data: object, prefix: tuple[int | str, ...]) -> list[Problem]:
    """The operation's own required members that the raw body leaves out (mirrors the model validator)."""
    if not isinstance(data, dict):
        return []
    operation = data.get("Operation")
    if not isinstance(operation, str) or operation not in OPERATIONS:
        return []
    return [
        Problem(render_path((*prefix, name)), f"required for Operation {operation}")
        for name in OPERATION_MEMBERS[operation]
        if name not in data
    ]


def _problems(exc: ValidationError, items: list[object], array: bool) -> list[Problem]:
    problems: list[Problem] = []
    failed: dict[int, list[Problem]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])
        index = loc[0] if array and loc and isinstance(loc[0], int) else 0
        prefix: tuple[int | str, ...] = (index,) if array else ()
        problem = _problem({**error, "loc": loc[1:] if array else loc}, prefix)
        bucket = failed.setdefault(index, [])
        if problem is not None:
            bucket.append(problem)
    for index in sorted(failed):
        problems.extend(failed[index])
        problems.extend(_operation_problems(items[index], (index,) if array else ()))
    # Several keys of one map can break the same rule: say it once.
    return list(dict.fromkeys(problems))


def wire_events(
    data: object, connector_id: str, *, limit: int = MAX_EVENTS_PER_BODY
) -> list[dict[str, object]]:
    """The events of a valid webhook body exactly as the sender wrote them, without `ConnectorId`.

    The models are strict and forbid unknown members, so a body they accept is already the wire form and
    is queued as it came. Raises EventValidationError as parse_webhook_body does.
    """
    parse_webhook_body(data, connector_id, limit=limit)
    # Valid, so one object or a list of objects.
    items = cast(list[dict[str, object]], data if isinstance(data, list) else [data])
    return [{k: v for k, v in item.items() if k != "ConnectorId"} for item in items]


@lru_cache(maxsize=1024)
def connector_id_problems(connector_id: str) -> tuple[Problem, ...]:
    """What is wrong with a connector id (the path's `connectorId`), nothing for a valid one: the model's
    ConnectorId rule, the one source of it. Ids repeat on every request of a connector: each is checked
    once."""
    try:
        _CONNECTOR_ID.validate_python(connector_id)
    except ValidationError as exc:
        return tuple(Problem("connectorId", p.rule) for p in _problems(exc, [connector_id], array=False))
    return ()


def parse_webhook_body(
    data: object, connector_id: str, *, limit: int = MAX_EVENTS_PER_BODY
) -> list[ConnectorEvent]:
    """The events in a webhook body (already parsed JSON): one event object, or an array of 1 to `limit`
    (50, the contract of a body sent as SendConnectorEvent requests; the events a profile maps from one
    native body are bounded by the profile's own limit on native events instead).

    Raises EventValidationError listing the failing members (the first MAX_LISTED_PROBLEMS, and a count of
    the rest), each as a path such as `[3].Devices[0].CapabilityReport.endpoints[2].id` and a rule; neither
    ever quotes the sender's values.
    """
    problems = connector_id_problems(connector_id)
    if problems:
        raise EventValidationError(problems)
    context = {"connector_id": connector_id}
    if isinstance(data, list):
        if not 1 <= len(data) <= limit:
            raise EventValidationError([Problem("", f"array must hold 1..{limit} events")])
        try:
            return _MANY_EVENTS.validate_python(data, context=context)
        except ValidationError as exc:
            raise _refusal(exc, data, context) from None
    if isinstance(data, dict):
        try:
            return [_ONE_EVENT.validate_python(data, context=context)]
        except ValidationError as exc:
            raise _refusal(exc, data, context) from None
    raise EventValidationError(
        [Problem("", f"must be an event object or an array of 1..{limit} event objects")]
    )


# Up to this many errors are rendered one by one; beyond it, the first ones are found on a trimmed copy of
# the body, so that neither the work nor the answer grows with the number of problems.
_RENDERED_ERRORS_LIMIT: Final = 1000


def _refusal(exc: ValidationError, data: object, context: dict[str, str]) -> EventValidationError:
    array = isinstance(data, list)
    items = cast(list[object], data if array else [data])
    total = exc.error_count()
    if total <= _RENDERED_ERRORS_LIMIT:
        return EventValidationError(_problems(exc, items, array))
    listed = _first_problems(data, context)[:MAX_LISTED_PROBLEMS]
    return EventValidationError(listed, more=max(0, total - len(listed)))


def _first_problems(data: object, context: dict[str, str]) -> list[Problem]:
    """The first problems of a body with very many, from copies of it cut ever less short.

    The copy keeps the first `keep` items of each array of objects (an array longer than its bound is kept
    whole: its length is its one problem), and every known member of each object but only its first `keep`
    unknown ones. It breaks no rule the body keeps, so its problems are the body's own.
    """
    array = isinstance(data, list)
    adapter = _MANY_EVENTS if array else _ONE_EVENT
    schema, definitions = _body_schema(array)
    keep = 8
    while True:
        copy, cut = _trimmed(data, schema, definitions, keep)
        try:
            adapter.validate_python(copy, context=context)
            problems: list[Problem] = []
        except ValidationError as exc:
            problems = _problems(exc, cast(list[object], copy if array else [copy]), array)
        if len(problems) >= MAX_LISTED_PROBLEMS or not cut:
            return problems
        keep *= 4


@lru_cache(maxsize=2)
def _body_schema(array: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON Schema of a body (the models' own), and its definitions."""
    schema = (_MANY_EVENTS if array else _ONE_EVENT).json_schema(ref_template="#/$defs/{model}")
    definitions = schema.pop("$defs", {})
    return schema, definitions


def _trimmed(value: Any, schema: dict[str, Any], definitions: dict[str, Any], keep: int) -> tuple[Any, bool]:
    """`value` cut as `_first_problems` says, and whether anything was left out."""
    while "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[-1]]
    if type(value) is dict and "properties" in schema:
        members = schema["properties"]
        copy: dict[str, Any] = {}
        cut = False
        unknown = 0
        for name, member in value.items():
            if name in members:
                copy[name], inner_cut = _trimmed(member, members[name], definitions, keep)
                cut |= inner_cut
            elif unknown < keep:
                copy[name] = member
                unknown += 1
            else:
                cut = True
        return copy, cut
    items = schema.get("items")
    if type(value) is list and isinstance(items, dict) and len(value) <= schema.get("maxItems", len(value)):
        kept = [
            _trimmed(item, items, definitions, keep) for item in value[: max(keep, schema.get("minItems", 0))]
        ]
        return [item for item, _ in kept], len(kept) < len(value) or any(cut for _, cut in kept)
    return value, False
