"""A profiled connector's body, read as its profile says: JSON or an HTML form, then the members that carry
an encoded value decoded in place (Pub/Sub's base64 `message.data`, Slack's `payload` of JSON).

Every failure is a BodyError with its answer: 415 for a content type the profile does not take, 400 for a
body that does not parse, 422 naming the member that does not decode. The work is bounded by the body:
what a member decodes to is never longer than the body it came from, and decoded JSON may nest at most
MAX_DECODED_NESTING levels.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Mapping
from typing import Any

from iotbridge.errors import PermanentError, Problem
from iotbridge.profile.bodies import BodyFormat, DecodeStep
from iotbridge.profile.expressions import json_value

# A form's fields, at most (each one a member of the object the rules read).
MAX_FORM_FIELDS = 1_000
# How deep a decoded JSON value may nest: the native bodies we know of nest a few levels.
MAX_DECODED_NESTING = 64

_JSON = BodyFormat()
_FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


class RefusedRequestError(PermanentError):
    """A request refused with an answer of its own: `status`, `outcome` and `message`, and the `problems`
    it lists (each a path and a rule, never a value)."""

    def __init__(self, status: int, outcome: str, message: str, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message
        self.problems = problems


class BodyError(RefusedRequestError):
    """A body that cannot be read as the profile says (its problems: the members that did not decode)."""


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, in lower case, without its parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_media_type(content_type: str | None) -> bool:
    media = media_type(content_type)
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def parse_body(body_format: BodyFormat | None, headers: Mapping[str, str], raw: bytes) -> Any:
    """The body as the rules read it: `body_format`'s content type parsed (JSON when the profile says
    nothing), then its decode steps applied in order. Raises BodyError."""
    body_format = body_format or _JSON
    content_type = headers.get("content-type")
    if body_format.content_type == "form":
        if media_type(content_type) != _FORM_MEDIA_TYPE:
            raise BodyError(
                415, "unsupported_media_type", f"The body must be a form (Content-Type: {_FORM_MEDIA_TYPE})."
            )
        data: Any = _form(raw)
    else:
        if not is_json_media_type(content_type):
            raise BodyError(
                415, "unsupported_media_type", "The body must be JSON (Content-Type: application/json)."
            )
        try:
            data = json_value(raw, len(raw))
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise BodyError(400, "malformed_json", "The body is not valid JSON.") from None
    for step in body_format.decode:
        _decode(data, step, limit=len(raw))
    return data


def _form(raw: bytes) -> dict[str, str | list[str]]:
    """An application/x-www-form-urlencoded body as an object of text values (a name given more than once:
    the list of its values, in order)."""
    try:
        text = raw.decode("ascii")
        fields = urllib.parse.parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError is one, as are a field without `=` and too many fields
        raise BodyError(
            400,
            "malformed_form",
            f"The body is not a form of at most {MAX_FORM_FIELDS} name=value fields, percent-encoded UTF-8.",
        ) from None
    form: dict[str, str | list[str]] = {}
    for name, value in fields:
        earlier = form.get(name)
        if earlier is None:
            form[name] = value
        elif isinstance(earlier, list):
            earlier.append(value)
        else:
            form[name] = [earlier, value]
    return form


def _decode(data: Any, step: DecodeStep, *, limit: int) -> None:
    """Decode the step's member in place; a member that is not there (or a path through something other
    than objects) is skipped."""
    *parents, last = step.members
    holder = data
    for name in parents:
        holder = holder.get(name) if isinstance(holder, dict) else None
    if not isinstance(holder, dict) or last not in holder:
        return
    value: Any = holder[last]
    if not isinstance(value, str):
        raise _undecodable(step, "must be text to decode")
    for decoding in step.as_:
        value = _decoded(value, decoding, step, limit)
    holder[last] = value


def _decoded(value: Any, decoding: str, step: DecodeStep, limit: int) -> Any:
    try:
        if decoding == "base64":
            return base64.b64decode(value.encode("ascii"), validate=True)
        if decoding == "base64url":
            return _base64url(value)
        if decoding == "text":
            return value.decode("utf-8")
        found = json_value(value, limit)
    except (ValueError, binascii.Error):  # UnicodeError is a ValueError
        raise _undecodable(step, f"is not {_NAMES[decoding]}") from None
    if _nesting_exceeds(found, MAX_DECODED_NESTING):
        raise _undecodable(step, f"holds JSON nested deeper than {MAX_DECODED_NESTING} levels")
    return found


_NAMES = {"base64": "base64", "base64url": "base64url", "text": "UTF-8 text", "json": "JSON"}


def _base64url(text: str) -> bytes:
    # The URL-safe alphabet, with or without its padding (JWTs leave it out); never the standard one's + or /.
    if "+" in text or "/" in text:
        raise ValueError("not base64url")
    data = text.encode("ascii")
    return base64.b64decode(data + b"=" * (-len(data) % 4), altchars=b"-_", validate=True)


def _nesting_exceeds(value: Any, levels: int) -> bool:
    pending = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, dict | list):
            if depth > levels:
                return True
            pending.extend(
                (item, depth + 1) for item in (current.values() if isinstance(current, dict) else current)
            )
    return False


def _undecodable(step: DecodeStep, rule: str) -> BodyError:
    return BodyError(
        422,
        "undecodable_body",
        f"The body's member {step.path} cannot be decoded as the connector's profile says.",
        (Problem(step.path, rule),),
    )
