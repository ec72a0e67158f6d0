"""From a raw HTTP request to an answer, with no AWS SDK in sight.

Order of checks: size (bounds the work), signature (before the body is parsed), the connector's rate
limit (domain/limits.py), content type, JSON (or
what a profile's `body` says), a profile's handshakes (answered, nothing queued; one its cloud sends
unsigned is looked for only once the signature failed), the SendConnectorEvent contract, then
deduplication; a delivery's first run leaves out the events of
deactivated users (dropped and counted, never refused), hands the rest durably to the queue and marks the
connector's pending discoveries and commands that they answer answered.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeGuard

from iotbridge.budget import TimeBudget, UnlimitedBudget
from iotbridge.correlation.model import KIND_OF_OPERATION, METRIC_NOUNS, AnswerMatch
from iotbridge.errors import PermanentError, Problem
from iotbridge.profile.document import ConnectorProfile
from iotbridge.profile.expressions import EvaluationBudgetError, ExpressionError
from iotbridge.profile.verification import delivery_id_is_signed, reads_secret
from iotbridge.send_connector_event.body import EventValidationError, connector_id_problems, wire_events
from iotbridge.send_connector_event.operations import CORRELATED_MEMBER
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.signatures.standard_webhooks import SignatureError, parse_headers, verify_signature
from iotbridge.telemetry import Measurement

from ..ports import (
    DEFAULT_LEASE_SECONDS,
    Confirmations,
    ConnectorProfiles,
    Correlation,
    Deduplicator,
    DependencyUnavailableError,
    EventQueue,
    Lookups,
    PublicKeys,
    SigningKeys,
    UserStatus,
    WebhookArchive,
    WebhookConflictError,
    WebhookInProgressError,
)
from .archived import ArchivedWebhook, kept_headers
from .bodies import BodyError, RefusedRequestError, parse_body
from .limits import ConnectorLimiter
from .lookups import WebhookLookups
from .mapping import (
    CONTRACT,
    MAX_NATIVE_EVENTS,
    Mapped,
    MappedEvent,
    MappingError,
    SkipCount,
    Skipped,
    Skips,
    map_body,
    native_path,
)
from .verification import RequestLine, Verified, check_source_address, verify

if TYPE_CHECKING:
    from .explain import MappingTrace

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
    method: str = "POST"
    path: str = ""  # the raw path, as sent (`/connectors/c1/events`)
    query: str = ""  # the raw query string, without `?`
    source_ip: str | None = None  # the address the request came from, as API Gateway saw it
    path_token: str | None = None  # the `{token}` of `/connectors/{connectorId}/events/{token}`

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
    # "accepted", "duplicate", "ignored" (nothing to queue), "skipped" (nothing queued, and events skipped) or
    # the rejection reason, for logs and metrics
    outcome: str
    headers: dict[str, str] = field(default_factory=dict)
    queued: int = 0
    ignored: int = 0  # native events no profile rule matched, acknowledged without being queued
    # Events of deactivated users left out of the delivery: dropped, counted, never queued.
    of_deactivated_users: int = 0
    # For each queued event that answers a request (a discovery, a command): its kind, and what marking
    # the request answered found (None: the correlation table could not be reached).
    answers: tuple[tuple[str, AnswerMatch | None], ...] = ()
    # Native events a profiled webhook left out (and values left out of queued events), by rule and reason.
    skipped: tuple[SkipCount, ...] = ()
    # The lookups of a profile's `lookup` members that found what the connector function recorded, and not.
    lookups_hit: int = 0
    lookups_missed: int = 0
    # The name of the handshake answered (outcome "handshake"): nothing was queued.
    handshake: str | None = None
    # A refused or skipped profiled webhook kept for `replay`: "archived", or "failed" (the answer is alike).
    archive: str | None = None
    # The connector refused for its rate limit (outcome "rate_limited").
    limited_connector: str | None = None
    # Let through without its connector's rate limit checked: the limits' table could not be reached.
    limits_unchecked: bool = False

    def measurements(self) -> list[Measurement]:
        kept = {"archived": "WebhooksArchived", "failed": "ArchiveFailed"}.get(self.archive or "")
        return [
            *self._outcome_measurements(),
            *([Measurement(kept, 1)] if kept else []),
            *_limit_measurements(self.limited_connector, self.limits_unchecked),
        ]

    def _outcome_measurements(self) -> list[Measurement]:
        if self.outcome == "handshake":
            return [Measurement("Handshakes", 1, dimensions={"Handshake": self.handshake or ""})]
        found = [Measurement("EventsIgnored", self.ignored)] if self.ignored else []
        if self.of_deactivated_users:
            found.append(Measurement("EventsOfDeactivatedUsers", self.of_deactivated_users))
        found.extend(_skip_measurements(self.skipped))
        for outcome, count in (("hit", self.lookups_hit), ("miss", self.lookups_missed)):
            if count:
                found.append(Measurement("Lookups", count, dimensions={"Outcome": outcome}))
        if self.outcome == "accepted":
            # One data point per accepted webhook: its Sum counts events, its SampleCount counts webhooks.
            return [
                Measurement("EventsAccepted", self.queued),
                *found,
                *_correlation_measurements(self.answers),
            ]
        if self.outcome in ("ignored", "skipped"):
            return found
        if self.outcome == "duplicate":
            return [Measurement("WebhooksDuplicate", 1)]
        # One metric per reason keeps the handler's single dimension set (service) for every metric.
        reason = self.outcome.split(".", 1)[0]
        return [Measurement("WebhooksRejected", 1), Measurement(f"Rejected_{reason}", 1)]


def _limit_measurements(limited_connector: str | None, unchecked: bool) -> list[Measurement]:
    # By connector: only verified requests reach the limit, so the dimension's values are real connectors.
    found = (
        [Measurement("RateLimited", 1, dimensions={"Connector": limited_connector})]
        if limited_connector
        else []
    )
    return [*found, Measurement("LimitsUnavailable", 1)] if unchecked else found


# The Rule dimension of an event no rule matched.
NO_RULE_DIMENSION = "(none)"


def _skip_measurements(skipped: tuple[SkipCount, ...]) -> list[Measurement]:
    # Dimensioned by rule and reason code: a few dozen series at most (rules are bounded, codes fixed).
    return [
        Measurement(
            "SkippedEvents" if item.event else "SkippedValues",
            item.total,
            dimensions={"Rule": item.rule or NO_RULE_DIMENSION, "Reason": item.code},
        )
        for item in skipped
    ]


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
        lookups: Lookups | None = None,
        confirmations: Confirmations | None = None,
        public_keys: PublicKeys | None = None,
        clock: Callable[[], float] = time.time,
        tracer: MappingTrace | None = None,
        archive: WebhookArchive | None = None,
        limiter: ConnectorLimiter | None = None,
    ) -> None:
        self._public_keys = public_keys
        self._keys = keys
        self._queue = queue
        self._dedupe = deduplicator
        self._limits = limits
        self._profiles = profiles
        self._users = users
        self._correlation = correlation
        self._lookups = lookups
        self._confirmations = confirmations
        self._clock = clock
        # Told how each native event is mapped (`profile test --explain`); the relay's intake has none.
        self._tracer = tracer
        # Where refused and skipped profiled webhooks are kept for a replay (None: they are not).
        self._archive = archive
        # Per-connector rate limits (None: none, as for `profile test`).
        self._limiter = limiter

    def handle(self, request: WebhookRequest, budget: TimeBudget | None = None) -> Answer:
        unchecked: list[bool] = []  # set when the connector's rate limit could not be checked
        answer = self._handle(request, budget, unchecked)
        return replace(answer, limits_unchecked=True) if unchecked else answer

    def _handle(self, request: WebhookRequest, budget: TimeBudget | None, unchecked: list[bool]) -> Answer:
        if len(request.body) > self._limits.max_body_bytes:
            return rejection(
                413, "too_large", f"The body is larger than {self._limits.max_body_bytes} bytes."
            )
        connector_id = request.connector_id
        if not connector_id or connector_id_problems(connector_id):
            return _unauthorized("unknown_connector")
        profile: ConnectorProfile | None = None
        try:
            profile = self._profiles.profile_for(connector_id) if self._profiles is not None else None
            if profile is None:
                webhook_id = self._verify_standard(request, connector_id)
            else:
                verified = self._verify_profiled(request, connector_id, profile)
        except SignatureError as exc:
            return self._unsigned_handshake(request, profile) or _unauthorized(exc.reason)
        except DependencyUnavailableError as exc:
            return rejection(503, f"unavailable.{exc.reason}", "Try again later.")
        # The rate limit: once verified, before anything else is spent on it (a duplicate counts too).
        limited = self._over_limit(connector_id, profile, unchecked)
        data, answered = (None, limited) if limited is not None else self._read_body(request, profile)
        if answered is not None:
            return answered
        ignored = 0
        skips = Skips()
        lookup_counts = (0, 0)
        archived_id = ""  # the profiled delivery's id, once known
        queued_sources: tuple[str, ...] = ()  # where the events to queue came from in the body
        try:
            if profile is None:
                events = wire_events(data, connector_id)
            else:
                webhook_id = archived_id = delivery_id(profile, verified, request, data)
                lookups = WebhookLookups(self._lookups, connector_id)
                mapped = map_body(profile, data, request.headers, tracer=self._tracer, lookups=lookups)
                kept, events = _checked(mapped, connector_id)
                ignored, skips = mapped.ignored, mapped.skips
                queued_sources = tuple(item.source for item in kept)
                lookup_counts = (mapped.lookups_hit, mapped.lookups_missed)
        except (EventValidationError, MappingError) as exc:
            return self._kept(_invalid(exc), request, profile, archived_id, exc.problems)
        except DependencyUnavailableError as exc:  # a lookup's
            return rejection(503, f"unavailable.{exc.reason}", "Try again later.")
        except MissingDeliveryIdError as exc:
            return rejection(
                400,
                "missing_delivery_id",
                f"The {exc.header} header must carry the delivery id "
                f"(1 to {MAX_DELIVERY_ID_CHARS} printable characters).",
            )
        answer = self._hand_off(
            request,
            connector_id,
            webhook_id,
            events,
            array=isinstance(data, list),
            budget=budget,
            ignored=ignored,
            skips=skips,
        )
        skipped = [Problem(item.path, item.reason) for item in skips.listed]
        answer = self._kept(answer, request, profile, webhook_id, skipped, queued_sources=queued_sources)
        hit, missed = lookup_counts
        return replace(answer, lookups_hit=hit, lookups_missed=missed) if hit or missed else answer

    def replay(
        self, request: WebhookRequest, webhook_id: str, queued_sources: frozenset[str] = frozenset()
    ) -> Answer:
        """A kept webhook (verified when it was received) through the connector's current profile: mapped and
        handed off under `webhook_id`, deduplicated like any delivery; never verified or kept again. The
        native events of `queued_sources` were queued at receipt and are left out. A connector without a
        profile now gets a 404 (`no_profile`)."""
        connector_id = request.connector_id or ""
        try:
            profile = self._profiles.profile_for(connector_id) if self._profiles is not None else None
        except DependencyUnavailableError as exc:
            return rejection(503, f"unavailable.{exc.reason}", "Try again later.")
        except SignatureError:  # the stored profile does not validate
            profile = None
        if profile is None:
            return rejection(404, "no_profile", "The connector has no usable profile.")
        try:
            data = parse_body(profile.body, request.headers, request.body)
        except BodyError as exc:
            return _refused(exc)
        try:
            lookups = WebhookLookups(self._lookups, connector_id)
            mapped = map_body(profile, data, request.headers, lookups=lookups)
            if queued_sources:
                fresh = [item for item in mapped.events if item.source not in queued_sources]
                mapped = replace(mapped, events=fresh)
            events = _contract_checked(mapped, connector_id)
        except (EventValidationError, MappingError) as exc:
            return _invalid(exc)
        except DependencyUnavailableError as exc:
            return rejection(503, f"unavailable.{exc.reason}", "Try again later.")
        return self._hand_off(
            request,
            connector_id,
            webhook_id,
            events,
            array=isinstance(data, list),
            budget=None,
            ignored=mapped.ignored,
            skips=mapped.skips,
        )

    def _kept(
        self,
        answer: Answer,
        request: WebhookRequest,
        profile: ConnectorProfile | None,
        webhook_id: str,
        problems: list[Problem] | tuple[Problem, ...],
        *,
        queued_sources: tuple[str, ...] = (),
    ) -> Answer:
        """The answer, once a profiled webhook refused for its mapping (422) or with events skipped is kept
        for a replay: on that failure path only, so a webhook whose every event was queued pays nothing. A
        webhook some of whose events were queued is kept with where those came from, so that a replay queues
        only the others. Keeping it failed changes nothing but a count: the sender is answered alike."""
        if self._archive is None or profile is None:
            return answer
        partly = answer.outcome == "accepted" and any(count.event for count in answer.skipped)
        if answer.outcome not in ("invalid_event", "skipped") and not partly:
            return answer
        webhook = ArchivedWebhook(
            connector_id=request.connector_id or "",
            received_at_ms=int(self._clock() * 1000),
            webhook_id=webhook_id or "sha256:" + hashlib.sha256(request.body).hexdigest(),
            method=request.method,
            # Never the path's token (a path-token connector's secret); the query, which the mapping cannot
            # read, is not kept either.
            path=request.path.removesuffix(f"/{request.path_token}") if request.path_token else request.path,
            query="",
            headers=kept_headers(profile, request.headers),
            body=request.body,
            outcome="refused" if answer.outcome == "invalid_event" else "skipped",
            problems=tuple(Problem(problem.path, problem.rule) for problem in problems),
            queued_sources=queued_sources if partly else (),
        )
        try:
            self._archive.keep(webhook)
        except DependencyUnavailableError:
            return replace(answer, archive="failed")
        return replace(answer, archive="archived")

    def _over_limit(
        self, connector_id: str, profile: ConnectorProfile | None, unchecked: list[bool]
    ) -> Answer | None:
        """The 429 of a connector past its rate limit; None when the webhook goes on."""
        limits = self._limiter.limits_for(profile.limits if profile else None) if self._limiter else None
        if self._limiter is None or limits is None:
            return None
        verdict = self._limiter.admit(connector_id, limits)
        if verdict.unavailable:
            unchecked.append(True)
        if verdict.admitted:
            return None
        return Answer(
            status=429,
            body={
                "message": f"This connector's rate limit ({limits.rate:g} webhooks per second, burst "
                f"{limits.burst}) is used up; retry after {verdict.retry_after} s.",
                "limit": {"rate": limits.rate, "burst": limits.burst},
            },
            outcome="rate_limited",
            headers={"Retry-After": str(verdict.retry_after)},
            limited_connector=connector_id,
        )

    def _read_body(
        self, request: WebhookRequest, profile: ConnectorProfile | None
    ) -> tuple[Any, Answer | None]:
        """The body (JSON as it is, unless the connector's profile says otherwise), and the answer when the
        request ends here: a body that cannot be read, or a handshake of the profile's."""
        try:
            data = parse_body(profile.body if profile is not None else None, request.headers, request.body)
        except BodyError as exc:
            return None, _refused(exc)
        if profile is None or not profile.handshakes:
            return data, None
        return data, self._handshake(request, profile, data, verified=True)

    def _handshake(
        self, request: WebhookRequest, profile: ConnectorProfile, data: Any, *, verified: bool
    ) -> Answer | None:
        """The answer to the handshake this request is (nothing queued), or None for a delivery."""
        # Loaded with the first connector whose profile declares handshakes.
        from .handshakes import HandshakeError, answer_handshake

        try:
            found = answer_handshake(profile, request.headers, data, self._confirmations, verified=verified)
        except HandshakeError as exc:
            return _refused(exc)
        if found is None:
            return None
        return Answer(
            status=found.status,
            body=found.body,
            outcome="handshake",
            handshake=found.name,
        )

    def _unsigned_handshake(self, request: WebhookRequest, profile: ConnectorProfile | None) -> Answer | None:
        """The answer to a request that failed verification when it is a handshake its cloud sends unsigned
        (`verified: false`); None, for the single 401, otherwise, whatever else is wrong with it."""
        if profile is None or all(handshake.verified for handshake in profile.handshakes):
            return None
        try:
            # Unsigned, but from where the profile says requests come from (when it says so).
            check_source_address(profile.source_addresses, request.source_ip)
            data = parse_body(profile.body, request.headers, request.body)
        except (SignatureError, BodyError):
            return None
        answer = self._handshake(request, profile, data, verified=False)
        return answer if answer is not None and answer.outcome == "handshake" else None

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
        # Before anything is looked up: a request from elsewhere costs no secret and no key.
        check_source_address(profile.source_addresses, request.source_ip)
        secrets: tuple[str, ...] = ()
        if reads_secret(profile.verification):
            secrets = self._keys.secret_values(connector_id, profile.secret) or ()
            if not secrets:
                raise SignatureError("unknown_connector")
        line = RequestLine(request.method, request.path, request.query, request.path_token)
        return verify(
            profile.verification,
            request.headers,
            request.body,
            secrets,
            self._clock(),
            line=line,
            keys=self._public_keys,
        )

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
        skips: Skips,
    ) -> Answer:
        """Queue the events of users that are still active; the answer says what became of them all, and
        lists what the profile's mapping skipped."""
        # A webhook none of whose events is queued is still acknowledged: a refusal would only bring it back.
        nothing = "skipped" if skips.events else "ignored"
        if not events:
            return Answer(
                status=202,
                body={"webhookId": webhook_id, "queued": 0, **skips.answer()},
                outcome=nothing,
                ignored=ignored,
                skipped=skips.counted(),
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
            return {"webhookId": webhook_id, "queued": len(kept), **skips.answer()}

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
            outcome="accepted" if kept else nothing,
            queued=len(kept),
            ignored=ignored,
            of_deactivated_users=len(queued) - len(kept),
            answers=tuple(answers),
            skipped=skips.counted(),
        )


def _refused(exc: RefusedRequestError) -> Answer:
    listed = {"errors": [problem.as_dict() for problem in exc.problems]} if exc.problems else {}
    return rejection(exc.status, exc.outcome, exc.message, **listed)


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
    event they came from. An event whose rule skips on error and that breaks the contract is left out, into
    `mapped.skips`."""
    return _checked(mapped, connector_id)[1]


def _checked(mapped: Mapped, connector_id: str) -> tuple[list[MappedEvent], list[dict[str, Any]]]:
    """The mapped events kept, and their validated bodies, one for one (see _contract_checked)."""
    if not mapped.events:
        return [], []
    try:
        return list(mapped.events), wire_events(
            [m.event for m in mapped.events], connector_id, limit=MAX_NATIVE_EVENTS
        )
    except EventValidationError as exc:
        if not any(m.on_error == "skip" for m in mapped.events):
            raise MappingError(_contract_problems(mapped.events, exc), more=exc.more) from None
    # Each event that may be skipped is checked on its own (only when some event broke the contract): the
    # one list's problems are bounded, and may not name every event that breaks it.
    kept = []
    for item in mapped.events:
        if item.on_error == "skip":
            try:
                wire_events(item.event, connector_id)
            except EventValidationError as one:
                mapped.skips.add(_contract_skip(item, one.problems[0] if one.problems else None))
                continue
        kept.append(item)
    # What is left breaks the contract only where an event's rule rejects on error: those refuse the webhook.
    rejecting = [replace(item, on_error="reject") for item in kept]
    return _checked(Mapped(rejecting, mapped.ignored, mapped.skips), connector_id)


def _contract_problems(events: list[MappedEvent], exc: EventValidationError) -> list[Problem]:
    problems = []
    for problem in exc.problems:
        index, _, inner = problem.path.partition("]")
        origin = events[int(index[1:])] if index.startswith("[") and index[1:].isdigit() else None
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
    return problems


def _contract_skip(item: MappedEvent, problem: Problem | None) -> Skipped:
    at = (problem.path if problem is not None else "") or "(event)"
    rule = problem.rule if problem is not None else "is not valid"
    reason = f"the mapped event breaks the SendConnectorEvent contract at {at}: {rule}"
    return Skipped(item.rule, native_path(item.source, "event"), reason, CONTRACT)
