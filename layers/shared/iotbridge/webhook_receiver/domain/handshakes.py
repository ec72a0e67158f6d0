"""A device cloud's handshake, answered from the profile: after the request is verified and its body read,
before deduplication and mapping; nothing is queued.

The first handshake whose `when` holds answers. One that confirms GETs the URL its expression finds
(through the Confirmations port) before answering: a URL the profile does not allow is a 422 naming where
it was, made before any request; a GET that fails is a 503 with Retry-After, so that the device cloud tries
the lifecycle again. Not a 502: both say the relay could not do its part, but a 503 is the one a sender
reads as "later", and the relay's 503s all carry Retry-After.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iotbridge.errors import Problem
from iotbridge.profile.device_cloud import MAX_URL_CHARS
from iotbridge.profile.document import ConnectorProfile
from iotbridge.profile.expressions import Evaluation, EvaluationBudgetError, ExpressionError, truthy
from iotbridge.profile.handshakes import (
    MAX_ANSWER_CHARS,
    Confirmation,
    Handshake,
    TemplateError,
    host_allowed,
)

from ..ports import ConfirmationRefusedError, Confirmations, DependencyUnavailableError
from .bodies import RefusedRequestError
from .mapping import native_path


@dataclass(frozen=True, slots=True)
class Handshaken:
    """The answer to a handshake: its name (the metric's dimension), status and body."""

    name: str
    status: int
    body: dict[str, Any]


class HandshakeError(RefusedRequestError):
    """A handshake that matched and cannot be answered as the profile says."""


def answer_handshake(
    profile: ConnectorProfile,
    headers: Mapping[str, str],
    body: Any,
    confirmer: Confirmations | None,
    *,
    verified: bool = True,
) -> Handshaken | None:
    """The answer to the handshake this request is, or None when it is none (then it is a delivery). An
    unverified request (`verified=False`) is matched only against handshakes answered unsigned. Raises
    HandshakeError."""
    candidates = [h for h in profile.handshakes if verified or not h.verified]
    if not candidates:
        return None
    values = {"body": body, "headers": dict(headers)}
    evaluation = Evaluation()
    for handshake in candidates:
        try:
            matched = truthy(handshake.when.search(values, evaluation))
        except ExpressionError:
            matched = False  # a `when` that cannot be evaluated on this body does not hold for it
        except EvaluationBudgetError:
            raise _invalid(handshake, "", "the handshake's expressions need more work than allowed") from None
        if not matched:
            continue
        if handshake.confirm is not None:
            _confirm(handshake, handshake.confirm, values, evaluation, confirmer)
        return Handshaken(
            handshake.name, handshake.respond.status, _answer_body(handshake, values, evaluation)
        )
    return None


def _confirm(
    handshake: Handshake,
    confirm: Confirmation,
    values: dict[str, Any],
    evaluation: Evaluation,
    confirmer: Confirmations | None,
) -> None:
    where = native_path("body", str(confirm.url))
    try:
        url = confirm.url.search(values, evaluation)
    except (ExpressionError, EvaluationBudgetError):
        url = None
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL_CHARS:
        raise _invalid(
            handshake, where, f"the confirmation URL must be a text of 1 to {MAX_URL_CHARS} characters"
        )
    if not _on_allow_list(url, tuple(confirm.hosts)):
        raise _invalid(handshake, where, "the confirmation URL's host is not one the profile lists")
    if confirmer is None:
        raise HandshakeError(503, "unavailable.confirmation", "Try again later.")
    try:
        confirmer.confirm(url, tuple(confirm.hosts))
    except ConfirmationRefusedError as exc:
        raise _invalid(handshake, where, f"the relay does not GET this confirmation URL ({exc})") from None
    except DependencyUnavailableError as exc:
        raise HandshakeError(503, f"unavailable.{exc.reason}", "Try again later.") from None


def _on_allow_list(url: str, hosts: tuple[str, ...]) -> bool:
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError:
        return False
    return bool(host) and host_allowed(str(host), hosts)


def _answer_body(handshake: Handshake, values: dict[str, Any], evaluation: Evaluation) -> dict[str, Any]:
    try:
        body = handshake.respond.rendered(values, evaluation)
    except TemplateError as exc:
        raise _invalid(handshake, native_path("body", exc.expression), exc.rule) from None
    except ExpressionError as exc:
        raise _invalid(
            handshake, native_path("body", exc.expression), "cannot be evaluated on this body"
        ) from None
    except EvaluationBudgetError:
        raise _invalid(handshake, "", "the handshake's expressions need more work than allowed") from None
    try:
        size = len(json.dumps(body, allow_nan=False))
    except (ValueError, RecursionError):
        size = MAX_ANSWER_CHARS + 1
    if size > MAX_ANSWER_CHARS:
        raise _invalid(handshake, "", f"the answer is larger than {MAX_ANSWER_CHARS} characters of JSON")
    return body


def _invalid(handshake: Handshake, path: str, rule: str) -> HandshakeError:
    return HandshakeError(
        422,
        "invalid_handshake",
        f"The handshake {handshake.name} cannot be answered as the connector's profile says.",
        (Problem(path, rule),),
    )
