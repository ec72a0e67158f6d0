"""From a raw HTTP request to an answer, with no AWS SDK in sight.

Order of checks: size (bounds the work), signature (before the body is parsed), content type, JSON,
the SendConnectorEvent contract, then deduplication; a delivery's first run leaves out the events of
deactivated users (dropped and counted, never refused), hands the rest durably to the queue and marks the
connector's pending discoveries and commands that they answer answered.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from iotbridge.budget import TimeBudget, UnlimitedBudget
from iotbridge.correlation.model import KIND_OF_OPERATION, METRIC_NOUNS, AnswerMatch
from iotbridge.errors import PermanentError, Problem
from iotbridge.profile.document import ConnectorProfile
from iotbridge.profile.expressions import EvaluationBudgetError, ExpressionError
from iotbridge.profile.verification import delivery_id_is_signed
from iotbridge.send_connector_event.body import EventValidationError, connector_id_problems, wire_events
from iotbridge.send_connector_event.operations import CORRELATED_MEMBER
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.signatures.standard_webhooks import SignatureError, parse_headers, verify_signature
from iotbridge.telemetry import Measurement

from ..ports import (
    DEFAULT_LEASE_SECONDS,
    ConnectorProfiles,
    Correlation,
    Deduplicator,
    DependencyUnavailableError,
    EventQueue,
    SigningKeys,
    UserStatus,
    WebhookConflictError,
    WebhookInProgressError,
)
from .mapping import Mapped, MappingError, map_body, native_path
from .verification import Verified, verify

# SQS's limit on one message (and on one SendMessageBatch request).
MAX_QUEUE_MESSAGE_BYTES = 1024 * 1024
RETRY_AFTER_SECONDS = 5
MAX_DELIVERY_ID_CHARS = 256
UNAUTHORIZED_MESSAGE = "The request could not be authenticated."


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    connector_id: str | None
    headers: Mapping[str, str]  # names lower-cased
    body: bytes

    def log_keys(self) -> dict[str, str]:
        """The request's identifiers for log lines, when they are printable: both are the sender's text."""
        keys: dict[str, str] = {}
        webhook_id = self.headers.get("webhook-id", "")[:256]
        if webhook_id and webhook_id.isascii() and webhook_id.isprintable():
            keys["correlation_id"] = webhook_id
        connector_id = self.connector_id or ""
        if connector_id and connector_id.isascii() and connector_id.isprintable():
            keys["connector_id"] = connector_id[:64]
        return keys


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    outcome: str  # "accepted", "duplicate", "ignored" or the rejection reason, for logs and metrics
    headers: dict[str, str] = field(default_factory=dict)
    queued: int = 0
    ignored: int = 0  # native events no profile rule matched, acknowledged without being queued
    # Events of deactivated users left out of the delivery: dropped, counted, never queued.
    of_deactivated_users: int = 0
    # For each queued event that answers a request (a discovery, a command): its kind, and what marking
    # the request answered found (None: the correlation table could not be reached).
    answers: tuple[tuple[str, AnswerMatch | None], ...] = ()

    def measurements(self) -> list[Measurement]:
        found = [Measurement("EventsIgnored", self.ignored)] if self.ignored else []
        if self.of_deactivated_users:
            found.append(Measurement("EventsOfDeactivatedUsers", self.of_deactivated_users))
        if self.outcome == "accepted":
            # One data point per accepted webhook: its Sum counts events, its SampleCount counts webhooks.
            return [
                Measurement("EventsAccepted", self.queued),
                *found,
                *_correlation_measurements(self.answers),
            ]
        if self.outcome == "ignored":
            return found
        if self.outcome == "duplicate":
            return [Measurement("WebhooksDuplicate", 1)]
        # One metric per reason keeps the handler's single dimension set (service) for every metric.
        reason = self.outcome.split(".", 1)[0]
        return [Measurement("WebhooksRejected", 1), Measurement(f"Rejected_{reason}", 1)]


def _correlation_measurements(answers: tuple[tuple[str, AnswerMatch | None], ...]) -> list[Measurement]:
    counts: dict[str, int] = {}
    for kind, match in answers:
        noun = METRIC_NOUNS[kind]
        name = {
            AnswerMatch.ANSWERED: f"{noun}Answered",
            AnswerMatch.LATE: f"{noun}AnsweredLate",
            AnswerMatch.REPEATED: "AnswersRepeated",
            AnswerMatch.UNMATCHED: "AnswersUnmatched",
            None: "CorrelationUnavailable",
        }[match]
        counts[name] = counts.get(name, 0) + 1
    return [Measurement(name, value) for name, value in counts.items()]


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    max_body_bytes: int
    tolerance_seconds: int


def rejection(status: int, outcome: str, message: str, **extra: Any) -> Answer:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
    return Answer(status=status, body={"message": message, **extra}, outcome=outcome, headers=headers)


# Answers that do not depend on the request.
BODY_NOT_BASE64 = rejection(400, "malformed_body_encoding", "The body is not valid base64.")
TRY_LATER = rejection(503, "internal", "Try again later.")


def _unauthorized(reason: str) -> Answer:
    # One message for every reason, so a caller cannot tell a missing connector from a wrong secret.
    return rejection(401, f"unauthorized.{reason}", UNAUTHORIZED_MESSAGE)


def _is_json_media_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class WebhookIntake:
    """One webhook, from its raw request to an answer: a connector with a profile (its device cloud's own
    scheme and JSON) or without one (Standard Webhooks v1 and SendConnectorEvent bodies)."""

    def __init__(
        self,
        *,
        keys: SigningKeys,
        queue: EventQueue,
        deduplicator: Deduplicator,
        limits: IntakeLimits,
        profiles: ConnectorProfiles | None = None,
        users: UserStatus | None = None,
        correlation: Correlation | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._queue = queue
        self._dedupe = deduplicator
        self._limits = limits
        self._profiles = profiles
        self._users = users
        self._correlation = correlation
        self._clock = clock

    def handle(self, request: WebhookRequest, budget: TimeBudget | None = None) -> Answer:
        if len(request.body) > self._limits.max_body_bytes:
            return rejection(
                413, "too_large", f"The body is larger than {self._limits.max_body_bytes} bytes."
            )
        connector_id = request.connector_id
        if not connector_id or connector_id_problems(connector_id):
            return _unauthorized("unknown_connector")
        try:
            profile = self._profiles.profile_for(connector_id) if self._profiles is not None else None
            if profile is None:
                webhook_id = self._verify_standard(request, connector_id)
            else:
                verified = self._verify_profiled(request, connector_id, profile)
        except SignatureError as exc:
            return _unauthorized(exc.reason)
        except DependencyUnavailableError as exc:
            return rejection(503, f"unavailable.{exc.reason}", "Try again later.")

        if not _is_json_media_type(request.headers.get("content-type")):
            return rejection(
                415, "unsupported_media_type", "The body must be JSON (Content-Type: application/json)."
            )
        try:
            data = json.loads(request.body, parse_constant=_reject_constant)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return rejection(400, "malformed_json", "The body is not valid JSON.")
        ignored = 0
        try:
            if profile is None:
                events = wire_events(data, connector_id)
            else:
                webhook_id = delivery_id(profile, verified, request, data)
                mapped = map_body(profile, data, request.headers)
                events, ignored = _contract_checked(mapped, connector_id), mapped.ignored
        except (EventValidationError, MappingError) as exc:
            return _invalid(exc)
        except MissingDeliveryIdError as exc:
            return rejection(
                400,
                "missing_delivery_id",
                f"The {exc.header} header must carry the delivery id "
                f"(1 to {MAX_DELIVERY_ID_CHARS} printable characters).",
            )
        return self._hand_off(
            request,
            connector_id,
            webhook_id,
            events,
            array=isinstance(data, list),
            budget=budget,
            ignored=ignored,
        )

    def _of_active_users(self, connector_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events whose user (when they name one) has not been deactivated. Raises
        DependencyUnavailableError."""
        if self._users is None:
            return events
        deactivated: dict[str, bool] = {}
        kept = []
        for event in events:
            user = event.get("UserId")
            if isinstance(user, str):
                if user not in deactivated:
                    deactivated[user] = self._users.is_deactivated(connector_id, user)
                if deactivated[user]:
                    continue
            kept.append(event)
        return kept

    def _mark_answered(
        self, connector_id: str, events: list[dict[str, Any]]
    ) -> list[tuple[str, AnswerMatch | None]]:
        """Mark the requests these queued events answer. The events are queued whatever this finds: an
        answer to no known request is counted, never refused (AWS decides what it accepts)."""
        if self._correlation is None:
            return []
        found: list[tuple[str, AnswerMatch | None]] = []
        reachable = True
        for event in events:
            operation = str(event.get("Operation"))
            kind = KIND_OF_OPERATION.get(operation)
            request_id = event.get(CORRELATED_MEMBER.get(operation, ""))
            if kind is None or not isinstance(request_id, str):
                continue
            if not reachable:
                found.append((kind, None))
                continue
            try:
                found.append((kind, self._correlation.answered(kind, connector_id, request_id)))
            except DependencyUnavailableError:
                # One failed call per webhook: each further one would take as long (its retries) to fail the
                # same way, while the queued events wait for their 202.
                reachable = False
                found.append((kind, None))
        return found

    def _verify_standard(self, request: WebhookRequest, connector_id: str) -> str:
        """Standard Webhooks v1 with the connector's signing secret; the webhook id."""
        signed = parse_headers(
            request.headers.get("webhook-id"),
            request.headers.get("webhook-timestamp"),
            request.headers.get("webhook-signature"),
        )
        keys = self._keys.keys_for(connector_id)
        if not keys:
            raise SignatureError("unknown_connector")
        verify_signature(
            signed, request.body, keys, now=self._clock(), tolerance_seconds=self._limits.tolerance_seconds
        )
        return signed.webhook_id

    def _verify_profiled(
        self, request: WebhookRequest, connector_id: str, profile: ConnectorProfile
    ) -> Verified:
        secrets = self._keys.secret_values(connector_id, profile.secret)
        if not secrets:
            raise SignatureError("unknown_connector")
        return verify(profile.verification, request.headers, request.body, secrets, self._clock())

    def _hand_off(
        self,
        request: WebhookRequest,
        connector_id: str,
        webhook_id: str,
        events: list[dict[str, Any]],
        *,
        array: bool,
        budget: TimeBudget | None,
        ignored: int,
    ) -> Answer:
        """Queue the events of users that are still active; the answer says what became of them all."""
        if not events:
            return Answer(
                status=202, body={"webhookId": webhook_id, "queued": 0}, outcome="ignored", ignored=ignored
            )
        received_at = int(self._clock())
        queued = [
            QueuedEvent(
                connector_id=connector_id,
                webhook_id=webhook_id,
                index=index,
                received_at=received_at,
                event=event,
            )
            for index, event in enumerate(events)
        ]
        for item in queued:
            if item.message_size > MAX_QUEUE_MESSAGE_BYTES:
                prefix = f"[{item.index}]" if array else "body"
                return rejection(
                    413, "event_too_large", f"Event {prefix} is larger than one queue message can hold."
                )

        answers: list[tuple[str, AnswerMatch | None]] = []
        kept: list[QueuedEvent] = []

        def enqueue() -> dict[str, Any]:
            # The users' status is read inside the delivery's one run: a repeat of an accepted delivery
            # answers as it first did, whatever became of its users since.
            active = {id(event) for event in self._of_active_users(connector_id, events)}
            kept.extend(item for item in queued if id(item.event) in active)
            if kept:
                self._queue.enqueue(kept)
            # Once per delivery: a repeat of it is answered from its record and marks nothing again.
            answers.extend(self._mark_answered(connector_id, [item.event for item in kept]))
            return {"webhookId": webhook_id, "queued": len(kept)}

        remaining = (budget or UnlimitedBudget()).remaining_seconds()
        lease = remaining if math.isfinite(remaining) else DEFAULT_LEASE_SECONDS
        digest = hashlib.sha256(request.body).hexdigest()
        try:
            result, duplicate = self._dedupe.once(connector_id, webhook_id, enqueue, lease, digest)
        except WebhookInProgressError:
            return rejection(503, "in_progress", "This webhook is being processed; try again later.")
        except WebhookConflictError:
            return rejection(
                409,
                "conflict",
                "This webhook-id was already accepted with another body; new content needs a new webhook-id.",
            )
        except DependencyUnavailableError as exc:
            return rejection(503, f"unavailable.{exc.reason}", "Try again later.")
        if duplicate:
            return Answer(status=202, body=result, outcome="duplicate", queued=0)
        return Answer(
            status=202,
            body=result,
            # Events of deactivated users are dropped and counted, never refused: a 410 would tell the
            # sender to stop delivering to the connector's endpoint, which all its users share.
            outcome="accepted" if kept else "ignored",
            queued=len(kept),
            ignored=ignored,
            of_deactivated_users=len(queued) - len(kept),
            answers=tuple(answers),
        )


def _invalid(exc: EventValidationError | MappingError) -> Answer:
    more = {"moreErrors": exc.more} if exc.more else {}
    return rejection(
        422,
        "invalid_event",
        "The body does not satisfy the SendConnectorEvent contract."
        if isinstance(exc, EventValidationError)
        else "The body cannot be mapped to SendConnectorEvent by the connector's profile.",
        errors=[problem.as_dict() for problem in exc.problems],
        **more,
    )


class MissingDeliveryIdError(PermanentError):
    """The header the profile takes delivery ids from is missing, or holds no usable id."""

    def __init__(self, header: str) -> None:
        super().__init__(header)
        self.header = header


def delivery_id(profile: ConnectorProfile, verified: Verified, request: WebhookRequest, data: Any) -> str:
    """What tells this delivery from others, repeated on the sender's retries: the profile's choice of a
    header (the scheme's own message id by default), a value in the body, or a digest of the signed bytes;
    a digest of the signed bytes too when the header's id is not signed. Raises MissingDeliveryIdError (a
    header) or MappingError (a value in the body)."""
    dedupe = profile.deduplication
    if dedupe is not None and dedupe.digest:
        return "sha256:" + hashlib.sha256(request.body).hexdigest()
    if dedupe is not None and dedupe.body is not None:
        try:
            found = dedupe.body.search({"body": data})
        except (ExpressionError, EvaluationBudgetError):
            found = None
        if isinstance(found, int) and not isinstance(found, bool):
            found = str(found)
        if not _usable_id(found):
            raise MappingError(
                [
                    Problem(
                        native_path("body", str(dedupe.body)),
                        f"the delivery id must be a text of 1 to {MAX_DELIVERY_ID_CHARS} printable "
                        "characters",
                    )
                ]
            )
        return found
    if dedupe is not None and dedupe.header is not None:
        found = request.headers.get(dedupe.header)
        if not _usable_id(found):
            raise MissingDeliveryIdError(dedupe.header)
    else:
        # The scheme's own message id, verified with the signature (the profile model requires one source).
        assert verified.message_id is not None
        found = verified.message_id
    if not delivery_id_is_signed(profile.verification, dedupe):
        # An id outside the signed bytes can be changed on a captured delivery: the signed bytes tell
        # deliveries apart instead, so a copy sent again under a new id is a duplicate.
        return "sha256:" + hashlib.sha256(verified.signed_head + request.body).hexdigest()
    return found


def _usable_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_DELIVERY_ID_CHARS and value.isprintable()


def _contract_checked(mapped: Mapped, connector_id: str) -> list[dict[str, Any]]:
    """The mapped events, validated by the SendConnectorEvent models; problems name the rule and the native
    event they came from."""
    if not mapped.events:
        return []
    try:
        return wire_events([m.event for m in mapped.events], connector_id)
    except EventValidationError as exc:
        problems = []
        for problem in exc.problems:
            index, _, inner = problem.path.partition("]")
            origin = mapped.events[int(index[1:])] if index.startswith("[") and index[1:].isdigit() else None
            if origin is None:
                problems.append(Problem("", f"the mapped events break the contract: {problem.rule}"))
                continue
            at = inner.lstrip(".") or "(event)"
            problems.append(
                Problem(
                    native_path(origin.source, "event"),
                    f"rule {origin.rule}: the mapped event breaks the SendConnectorEvent contract at {at}: "
                    f"{problem.rule}",
                )
            )
        raise MappingError(problems, more=exc.more) from None
