"""A verified webhook kept for a second chance: one a connector's profile refused (422) or whose every event
it skipped, stored as received so that `python -m iotbridge replay` can run it through the profile once it is
fixed.

What is kept: the raw body, the request line, and only the headers the profile's mapping reads (with the
content type, which says how the body is read), never one that carries a credential. Problems are kept as the
answer names them: paths and rules, never values.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from iotbridge.errors import Problem
from iotbridge.profile.document import ConnectorProfile
from iotbridge.profile.expressions import Expression

# Headers that carry credentials whatever a profile reads: never kept.
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
KEY_PREFIX = "connectors/"
OUTCOMES = ("refused", "skipped")


class ArchiveRecordError(ValueError):
    """An archived object that is not a kept webhook (what is wrong, never its values)."""


@dataclass(frozen=True, slots=True)
class ArchivedWebhook:
    connector_id: str
    received_at_ms: int
    webhook_id: str  # the delivery id the receiver deduplicated it by (a digest of the body when none)
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    outcome: str  # "refused" or "skipped"
    problems: tuple[Problem, ...]
    # Where in the body the events queued at receipt came from (`body.events[0]`): a webhook of which some
    # events were queued and some skipped is replayed without those (and under an id of its own).
    queued_sources: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return archive_key(self.connector_id, self.received_at_ms, self.body)

    def to_json(self) -> bytes:
        record = {
            "connectorId": self.connector_id,
            "receivedAt": self.received_at_ms,
            "webhookId": self.webhook_id,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": dict(self.headers),
            "body": base64.b64encode(self.body).decode("ascii"),
            "outcome": self.outcome,
            "problems": [problem.as_dict() for problem in self.problems],
            "queuedSources": list(self.queued_sources),
        }
        return json.dumps(record, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, text: bytes) -> ArchivedWebhook:
        """Raises ArchiveRecordError naming the first field that is missing or of the wrong type."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise ArchiveRecordError("not JSON") from None
        if not isinstance(data, dict):
            raise ArchiveRecordError("not a JSON object")
        texts = {name: data.get(name) for name in ("connectorId", "webhookId", "method", "path", "body")}
        for name, value in texts.items():
            if not isinstance(value, str) or (name != "path" and not value):
                raise ArchiveRecordError(f"{name} must be a non-empty text")
        received = data.get("receivedAt")
        if not isinstance(received, int) or isinstance(received, bool) or received < 0:
            raise ArchiveRecordError("receivedAt must be a whole number of milliseconds")
        headers = data.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ArchiveRecordError("headers must be an object of texts")
        query = data.get("query", "")
        if not isinstance(query, str):
            raise ArchiveRecordError("query must be a text")
        try:
            body = base64.b64decode(str(texts["body"]), validate=True)
        except (binascii.Error, ValueError):
            raise ArchiveRecordError("body must be base64") from None
        problems = data.get("problems", [])
        queued = data.get("queuedSources", [])
        if not isinstance(queued, list) or not all(isinstance(source, str) for source in queued):
            raise ArchiveRecordError("queuedSources must be a list of texts")
        return cls(
            connector_id=str(texts["connectorId"]),
            received_at_ms=received,
            webhook_id=str(texts["webhookId"]),
            method=str(texts["method"]),
            path=str(texts["path"]),
            query=query,
            headers={str(k).lower(): v for k, v in headers.items()},
            body=body,
            outcome=str(data.get("outcome", "")),
            problems=tuple(
                Problem(str(p.get("path", "")), str(p.get("rule", "")))
                for p in (problems if isinstance(problems, list) else [])
                if isinstance(p, dict)
            ),
            queued_sources=tuple(queued),
        )

    @property
    def replay_id(self) -> str:
        """The id a replay hands it off under: its own, unless some of its events were queued at receipt
        (that id is then taken, and the replay is a delivery of its own, deduplicated as such)."""
        return f"{self.webhook_id}#replay" if self.queued_sources else self.webhook_id


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


def day_prefix(connector_id: str, day: datetime.date) -> str:
    return f"{KEY_PREFIX}{connector_id}/{day:%Y/%m/%d}/"


def archive_key(connector_id: str, received_at_ms: int, body: bytes) -> str:
    """`connectors/<connector id>/<yyyy>/<mm>/<dd>/<received at, ms>-<sha256 of the body, 16 hex>.json`: keys
    of one connector list in time order (milliseconds have 13 digits until the year 2286)."""
    day = datetime.datetime.fromtimestamp(received_at_ms / 1000, tz=datetime.UTC).date()
    return f"{day_prefix(connector_id, day)}{received_at_ms}-{body_digest(body)}.json"


def received_at_of_key(key: str) -> int | None:
    """The milliseconds a key names, or None for a key that is not an archived webhook's."""
    name = key.rsplit("/", 1)[-1]
    stamp, _, rest = name.partition("-")
    return int(stamp) if stamp.isdigit() and rest.endswith(".json") else None


def headers_read(profile: ConnectorProfile) -> frozenset[str]:
    """The header names the profile's mapping rules read (`headers.<name>`, `headers."<name>"`)."""
    names: set[str] = set()
    for expression in _expressions(profile.rules):
        names.update(_header_fields(expression.compiled.parsed))
    return frozenset(names)


def kept_headers(profile: ConnectorProfile, headers: Mapping[str, str]) -> dict[str, str]:
    """What of the request's headers is kept: those the mapping reads and the content type; never one that
    carries the verification's token or another credential."""
    credential = getattr(profile.verification, "header", None)
    wanted = {*headers_read(profile), "content-type"} - _CREDENTIAL_HEADERS - {credential}
    return {name: value for name, value in headers.items() if name in wanted}


def _expressions(node: Any) -> Iterator[Expression]:
    from iotbridge.profile.templates import JsonTemplate, TextTemplate

    if isinstance(node, Expression):
        yield node
    elif isinstance(node, TextTemplate | JsonTemplate):  # a template's placeholders
        yield from node.reads()
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _expressions(getattr(node, name))
        parts = getattr(node, "parts", ())  # a template value's text and `{expression}` placeholders
        yield from _expressions(parts if isinstance(parts, tuple) else ())
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _expressions(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from _expressions(item)


def _header_fields(node: Any) -> Iterator[str]:
    pending = [node]
    while pending:
        current = pending.pop()
        if not isinstance(current, dict):
            continue
        children = current.get("children", [])
        if (
            current.get("type") == "subexpression"
            and len(children) == 2
            and children[0] == {"type": "field", "children": [], "value": "headers"}
            and isinstance(children[1], dict)
            and children[1].get("type") == "field"
        ):
            yield str(children[1]["value"]).lower()
            continue
        pending.extend(children)
