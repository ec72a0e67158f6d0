"""Discovery jobs: the step after AWS.DiscoverDevices is answered, for a connector whose profile reaches its
device cloud's REST API (`outbound`).

The invocation answers at once and puts a job on the discovery queue (a standard SQS queue); the connector
function, invoked by that queue, fetches the device list page by page, maps each native device with the
inbound mapping engine, and queues DEVICE_DISCOVERY events on the relay's event queue, as a device cloud's
webhook would have. The job's message:

    {"kind": "discovery", "connectorId": "...", "deviceDiscoveryId": "...", "userId": "..." | null,
     "credential": {"type": "OAuth2.0", "token": "..."}
                 | {"type": "GeneralAuthorization", "arn": "...", "versionId": "..." | null},
     "payload": {<AWS.DiscoverDevices as sent>}, "requestedAt": <unix seconds>}

A General Authorization secret's text never goes on the queue: the worker reads it again, through the same
adapter (and under the same rules) as the invocation did.

A job that fails in a way a later try may not (the device cloud's 429, 5xx or timeout, an AWS service
unavailable) is left on the queue, which delivers it again after its visibility timeout; on its last delivery
(DISCOVERY_MAX_RECEIVE_COUNT), or at once for a failure no retry can mend (a refusal, a profile that cannot
be used), the worker moves it to the discovery dead-letter queue itself, without its credential and with the
reason, and records the reason on the discovery's correlation entry. A discovery already answered is not
fetched again.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from iotbridge.budget import TimeBudget
from iotbridge.clients import failure_of
from iotbridge.correlation.model import DISCOVERY, METRIC_NOUNS, AnswerMatch
from iotbridge.errors import DependencyUnavailableError, PermanentError
from iotbridge.profile.expressions import (
    Evaluation,
    EvaluationBudgetError,
    ExpressionError,
    _expression,
    scalar_text,
)
from iotbridge.send_connector_event.models import (
    ConnectorIdText,
    DeviceDiscoveryIdText,
)
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.signatures.standard_webhooks import SignatureError
from iotbridge.telemetry import Measurement, failure_fields

from .domain.invocations import TRY_LATER_STATUSES, claim_of
from .domain.requests import user_id_problems
from .ports import (
    Authorizations,
    CloudRequest,
    ConnectorSetupError,
    Credential,
    DeviceCloudRefusedError,
    DeviceCloudUnavailableError,
    DiscoveryJob,
    DiscoveryRecords,
    EventQueue,
    JobCredential,
    UnusableCredentialError,
)
from .rest import secret_members

if TYPE_CHECKING:
    from iotbridge.profile.document import ConnectorProfile
    from iotbridge.profile.outbound import DiscoverDevices, Outbound, RequestSpec

    from .rest import CloudAnswer

logger = Logger(child=True)

JOB_KIND = "discovery"
# SendConnectorEvent's own limit is the request size; 50 devices an event keeps each well inside it, and
# inside the 1 MiB of a queued message (MAX_EVENT_DEVICE_BYTES bounds a batch of large reports).
MAX_DEVICES_PER_EVENT = 50
MAX_EVENT_DEVICE_BYTES = 768 * 1024
# One page of a device list may be large (SmartThings pages 200 devices with their components).
MAX_PAGE_BYTES = 1024 * 1024
# Native devices mapped at once: one mapping call's evaluation budget and native-event bound cover them.
MAPPING_CHUNK = 100
# Time kept after the last page for queueing the events and writing the table, before the function's end.
AFTER_FETCH_SECONDS = 1.5
# Less than this left, and no further request is started.
MIN_CALL_SECONDS = 0.1
# A job message larger than this is not a job this function wrote.
MAX_JOB_BYTES = 256 * 1024
# Where a General Authorization secret may carry the user id, for a cloud with no call that gives it.
SECRET_USER = _expression("userId")

Disposition = Literal["reported", "repeated", "retry", "dead_lettered", "dead_letter_failed"]


# --- the job's message --------------------------------------------------------------------------------


class MalformedJobError(PermanentError):
    """A discovery queue message that is not a job (`field` names the member, never its value)."""

    def __init__(self, field_name: str) -> None:
        super().__init__(f"malformed discovery job: {field_name}")
        self.field = field_name


class _Wire(BaseModel):
    # Members a later version adds are ignored: a job written by a newer function is still worked off.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class _OAuthCredential(_Wire):
    type: Literal["OAuth2.0"]
    token: str = Field(min_length=1, max_length=16 * 1024, repr=False)


class _SecretCredential(_Wire):
    type: Literal["GeneralAuthorization"]
    arn: str = Field(min_length=1, max_length=2048)
    version_id: str | None = Field(default=None, alias="versionId", max_length=64)


class _JobMessage(_Wire):
    kind: Literal["discovery"]
    connector_id: ConnectorIdText = Field(alias="connectorId")
    device_discovery_id: DeviceDiscoveryIdText = Field(alias="deviceDiscoveryId")
    user_id: str | None = Field(default=None, alias="userId", max_length=256, repr=False)
    credential: _OAuthCredential | _SecretCredential = Field(discriminator="type")
    payload: dict[str, Any] = Field(default_factory=dict, repr=False)
    requested_at: float = Field(alias="requestedAt", ge=0)


def job_message(job: DiscoveryJob) -> dict[str, Any]:
    """The queue message of a job, as JSON values."""
    return {
        "kind": JOB_KIND,
        "connectorId": job.connector_id,
        "deviceDiscoveryId": job.device_discovery_id,
        "userId": job.user_id,
        "credential": job.credential.as_wire(),
        "payload": dict(job.payload),
        "requestedAt": job.requested_at,
    }


def parse_job(body: str) -> DiscoveryJob:
    """The job in a queue message. Raises MalformedJobError naming the first member that is wrong."""
    if len(body) > MAX_JOB_BYTES:
        raise MalformedJobError("(message)")
    try:
        message = _JobMessage.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        where = (
            ".".join(str(part) for part in errors[0]["loc"] if not isinstance(part, int)) if errors else ""
        )
        raise MalformedJobError(where or "(message)") from None
    credential = (
        JobCredential.oauth(message.credential.token)
        if isinstance(message.credential, _OAuthCredential)
        else JobCredential.general_authorization(message.credential.arn, message.credential.version_id)
    )
    return DiscoveryJob(
        connector_id=message.connector_id,
        device_discovery_id=message.device_discovery_id,
        user_id=message.user_id or None,
        credential=credential,
        payload=message.payload,
        requested_at=message.requested_at,
    )


def dead_letter_message(
    job: DiscoveryJob | None, body: str, *, reason: str, failed_at: float, receive_count: int
) -> str:
    """What the dead-letter queue keeps of a job given up on: the job without its credential, why, when, and
    on which delivery. Of a message that was no job, its JSON object's members but `credential`; of one that
    is not even that, its size alone (it could hold a credential where no member says so)."""
    kept: dict[str, Any]
    if job is not None:
        kept = {k: v for k, v in job_message(job).items() if k != "credential"}
    else:
        try:
            parsed = json.loads(body) if len(body) <= MAX_JOB_BYTES else None
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict):
            kept = {k: v for k, v in parsed.items() if k != "credential"}
        else:
            kept = {"messageChars": len(body)}
    return json.dumps(
        {**kept, "reason": reason, "failedAt": round(failed_at, 3), "receiveCount": receive_count},
        separators=(",", ":"),
    )


# --- the SQS adapters ---------------------------------------------------------------------------------


class SqsDiscoveryJobs:
    """SendMessage to the discovery queue (a standard queue: a job delivered twice is fetched once, as the
    worker skips a discovery already answered). Retried by botocore alone (iotbridge.clients); after that,
    the invocation fails with a 503 and managed integrations retries it."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def submit(self, job: DiscoveryJob) -> None:
        body = json.dumps(job_message(job), separators=(",", ":"), ensure_ascii=False)
        _send(self._client, self._queue_url, body, "discovery_queue")


class SqsDiscoveryDeadLetters:
    """SendMessage to the discovery dead-letter queue. A failure leaves the job on the discovery queue, whose
    next delivery is the retry (iotbridge.clients)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def put(self, body: str) -> None:
        _send(self._client, self._queue_url, body, "discovery_dead_letter_queue")


def _send(client: Any, queue_url: str, body: str, dependency: str) -> None:
    if not queue_url:
        logger.error(f"{dependency} is not configured")
        raise DependencyUnavailableError(dependency)
    try:
        client.send_message(QueueUrl=queue_url, MessageBody=body)
    except (ClientError, BotoCoreError) as exc:
        logger.error(f"{dependency} unavailable", extra={"error_code": failure_of(exc).code})
        raise DependencyUnavailableError(dependency) from None


# --- what the worker needs ----------------------------------------------------------------------------


class DeadLetters(Protocol):
    def put(self, body: str) -> None:
        """Keep a job given up on. Raises DependencyUnavailableError."""
        ...


class ConnectorProfiles(Protocol):
    def profile_for(self, connector_id: str) -> ConnectorProfile | None:
        """The connector's profile (None: it has none). Raises SignatureError for one that cannot be used,
        DependencyUnavailableError."""
        ...


class CloudCalls(Protocol):
    """One connector's calls to its device cloud's REST API (iotbridge.connector.rest.RestCalls)."""

    def call(
        self,
        spec: RequestSpec,
        context: Mapping[str, Any],
        *,
        timeout_seconds: float,
        max_answer_bytes: int = ...,
        url: str | None = None,
        where: str = ...,
    ) -> CloudAnswer: ...


TemplateContext = Callable[[CloudRequest, Mapping[str, Any] | None], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class JobDelivery:
    """One SQS record of the discovery queue: its message id (what a batch item failure names), its body,
    and how many times SQS has delivered it."""

    message_id: str
    body: str
    receive_count: int = 1


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What became of one delivered job, for the batch response, the log and the metrics."""

    message_id: str
    disposition: Disposition
    reason: str = "ok"
    connector_id: str | None = None
    discovery_id: str | None = None  # not sensitive in AWS's model
    receive_count: int = 1
    devices: int | None = None
    skipped: int = 0  # devices that could not be mapped
    filtered: int = 0  # devices the profile's `when` left out
    truncated: str | None = None  # which bound ended the listing early: max_pages, max_devices, time
    measurements: tuple[Measurement, ...] = ()

    @property
    def unacknowledged(self) -> bool:
        """Whether SQS must deliver the job again."""
        return self.disposition in ("retry", "dead_letter_failed")


@dataclass(frozen=True, slots=True)
class DiscoveryBatchOutcome:
    """The outcome of one invocation by the discovery queue."""

    jobs: tuple[JobOutcome, ...] = ()

    def response(self) -> dict[str, Any]:
        """The partial batch response Lambda expects with ReportBatchItemFailures."""
        return {
            "batchItemFailures": [
                {"itemIdentifier": job.message_id} for job in self.jobs if job.unacknowledged
            ]
        }

    def all_measurements(self) -> list[Measurement]:
        return [measurement for job in self.jobs for measurement in job.measurements]


class JobFailure(Exception):
    """How a job failed: its reason code (for the log, the metrics, the dead-letter message and the table)
    and whether a later delivery may succeed."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def failure_of_job(exc: BaseException) -> JobFailure:
    """The reason code of a failure, and whether to try the job again."""
    if isinstance(exc, JobFailure):
        return exc
    if isinstance(exc, DeviceCloudRefusedError):
        return JobFailure(f"device_cloud_status_{exc.status}", retryable=exc.status in TRY_LATER_STATUSES)
    if isinstance(exc, DeviceCloudUnavailableError):
        return JobFailure(f"device_cloud_{exc.reason}", retryable=True)
    if isinstance(exc, DependencyUnavailableError):
        return JobFailure(f"unavailable_{exc.reason}", retryable=True)
    if isinstance(exc, ConnectorSetupError):
        return JobFailure(f"setup_{exc.reason}", retryable=False)
    if isinstance(exc, UnusableCredentialError):
        return JobFailure(f"credential_{exc.reason}", retryable=False)
    if isinstance(exc, MalformedJobError):
        return JobFailure("malformed_job", retryable=False)
    # Not foreseen: tried again, and given up on with the other failures on the last delivery.
    return JobFailure("internal", retryable=True)


# --- fetching -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Fetch:
    """One job's work with its device cloud: the job, the profile's `outbound`, its calls, the credential
    (and a General Authorization secret's members, for templates) and when fetching must end (a timer's
    reading)."""

    job: DiscoveryJob
    outbound: Outbound
    calls: CloudCalls
    credential: Credential
    secret: Mapping[str, Any] | None
    deadline: float


@dataclass(slots=True)
class _Listing:
    """The native devices of a discovery's pages, and what ended the listing early, if anything."""

    devices: list[Any] = field(default_factory=list)
    pages: int = 0
    truncated: str | None = None
    first_page: Any = None  # the answer context of the first page (for `discoverDevices.userId`)


@dataclass(frozen=True, slots=True)
class _MappingProfile:
    """The members of a profile the inbound mapping engine reads, set for a discovery's native devices:
    each device is one native event, mapped by the discovery's one rule; a device its `when` leaves out is
    ignored, not refused."""

    events: Any
    rules: list[Any]
    unmatched: Literal["ignore", "reject"]
    on_error: Literal["skip", "reject"]
    attribute_form: Literal["object", "list"]


@dataclass(slots=True)
class _Mapped:
    devices: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    filtered: int = 0


class DiscoveryWorker:
    """Works off the jobs of the discovery queue (see the module's description)."""

    def __init__(
        self,
        *,
        profiles: ConnectorProfiles,
        authorizations: Authorizations,
        calls_for: Callable[[Outbound], CloudCalls],
        template_context: TemplateContext,
        events: EventQueue,
        records: DiscoveryRecords,
        dead_letters: DeadLetters,
        max_receive_count: int = 5,
        fetch_seconds: float = 8.0,
        device_cloud_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._profiles = profiles
        self._authorizations = authorizations
        self._calls_for = calls_for
        self._template_context = template_context
        self._events = events
        self._records = records
        self._dead_letters = dead_letters
        self._max_receive_count = max_receive_count
        self._fetch_seconds = fetch_seconds
        self._cloud_seconds = device_cloud_seconds
        self._clock = clock
        self._timer = timer

    def run(self, deliveries: Sequence[JobDelivery], budget: TimeBudget) -> DiscoveryBatchOutcome:
        """Work off each delivered job; never raises (a job that fails is retried or dead-lettered)."""
        return DiscoveryBatchOutcome(tuple(self._one(delivery, budget) for delivery in deliveries))

    def _one(self, delivery: JobDelivery, budget: TimeBudget) -> JobOutcome:
        job: DiscoveryJob | None = None
        try:
            job = parse_job(delivery.body)
            return self._work(job, delivery, budget)
        except Exception as exc:
            failed = failure_of_job(exc)
            if failed.reason == "internal":
                logger.error("discovery job failed unexpectedly", extra=failure_fields(exc))
            return self._failed(job, delivery, failed)

    def _work(self, job: DiscoveryJob, delivery: JobDelivery, budget: TimeBudget) -> JobOutcome:
        done = JobOutcome(
            delivery.message_id,
            "reported",
            connector_id=job.connector_id,
            discovery_id=job.device_discovery_id,
            receive_count=delivery.receive_count,
        )
        if self._records.is_answered(DISCOVERY, job.connector_id, job.device_discovery_id):
            return replace(
                done,
                disposition="repeated",
                reason="answered_before",
                measurements=(Measurement("DiscoveryJobsRepeated", 1),),
            )
        fetch_seconds = min(self._fetch_seconds, budget.remaining_seconds() - AFTER_FETCH_SECONDS)
        deadline = self._timer() + max(0.0, fetch_seconds)
        profile = self._profile(job.connector_id)
        outbound = profile.outbound
        if outbound is None:
            raise JobFailure("no_outbound", retryable=False)
        credential, secret = self._credential(job)
        fetch = _Fetch(job, outbound, self._calls_for(outbound), credential, secret, deadline)
        discover = outbound.discover_devices
        # The user id: the invocation's, the token's claim or the secret's `userId`; else the one the device
        # list names (`discoverDevices.userId`); else the cloud's answer to `activateUser`, asked for first
        # when the device list cannot name it, as its request may need the id.
        user_id = job.user_id or _claimed(outbound, credential) or _text_found(SECRET_USER, secret)
        asked_user = False
        if user_id is None and discover.user_id is None and outbound.activate_user is not None:
            user_id, asked_user = self._activated_user(fetch), True
        request = _cloud_request(job, "discoverDevices", credential, user_id)
        listing = self._list(fetch, self._template_context(request, secret))
        if discover.user_id is not None and listing.first_page is not None:
            user_id = _text_found(discover.user_id, listing.first_page) or user_id
        if user_id is None and not asked_user and outbound.activate_user is not None:
            user_id = self._activated_user(fetch)
        if user_id is not None and user_id_problems(user_id):
            raise JobFailure("unusable_user_id", retryable=False)
        mapped = _map_devices(listing.devices, discover, profile.attribute_form)
        events = discovery_events(job, user_id, mapped.devices, received_at=int(self._clock()))
        self._events.enqueue(events)
        measurements = [
            Measurement("DiscoveriesFetched", 1),
            Measurement("DiscoveredDevices", len(mapped.devices)),
            Measurement("DiscoveryDevicesSkipped", mapped.skipped),
            *self._answered(job),
        ]
        if listing.truncated is not None:
            measurements.append(Measurement("DiscoveriesTruncated", 1))
        with contextlib.suppress(DependencyUnavailableError):
            self._records.record_discovery(
                job.connector_id, job.device_discovery_id, devices=len(mapped.devices), failure=None
            )
        return replace(
            done,
            devices=len(mapped.devices),
            skipped=mapped.skipped,
            filtered=mapped.filtered,
            truncated=listing.truncated,
            measurements=tuple(measurements),
        )

    def _answered(self, job: DiscoveryJob) -> list[Measurement]:
        """Mark the discovery answered, counted as the relay counts the answers it queues. The events are
        queued whatever this finds: a table that cannot be written is counted, and the job acknowledged all
        the same (its devices are reported)."""
        try:
            match = self._records.answered(DISCOVERY, job.connector_id, job.device_discovery_id)
        except DependencyUnavailableError:
            return [Measurement("AnswersUnrecorded", 1)]
        noun = METRIC_NOUNS[DISCOVERY]
        names = {
            AnswerMatch.ANSWERED: f"{noun}Answered",
            AnswerMatch.LATE: f"{noun}AnsweredLate",
            AnswerMatch.REPEATED: "AnswersRepeated",
            AnswerMatch.UNMATCHED: "AnswersUnmatched",
        }
        return [Measurement(names[match], 1)]

    # --- the profile and the credential ---

    def _profile(self, connector_id: str) -> ConnectorProfile:
        try:
            profile = self._profiles.profile_for(connector_id)
        except SignatureError:
            raise ConnectorSetupError("unusable_profile") from None
        if profile is None:
            raise JobFailure("no_outbound", retryable=False)
        return profile

    def _credential(self, job: DiscoveryJob) -> tuple[Credential, dict[str, Any] | None]:
        """The credential as the invocation had it, and a General Authorization secret's members for the
        templates."""
        held = job.credential
        if held.type == "OAuth2.0":
            if not held.token:
                raise MalformedJobError("credential.token")
            return Credential("OAuth2.0", held.token), None
        if not held.arn:
            raise MalformedJobError("credential.arn")
        text = self._authorizations.secret_for(job.connector_id, held.arn, held.version_id)
        credential = Credential("GeneralAuthorization", text, arn=held.arn, version_id=held.version_id)
        return credential, secret_members(text)

    def _activated_user(self, fetch: _Fetch) -> str | None:
        """The user id the profile's `activateUser` request finds (None: it finds none)."""
        activate = fetch.outbound.activate_user
        assert activate is not None
        request = _cloud_request(fetch.job, "activateUser", fetch.credential, None)
        answer = fetch.calls.call(
            activate.request,
            self._template_context(request, fetch.secret),
            timeout_seconds=self._call_seconds(fetch.deadline, first=True),
            where="activateUser.request",
        )
        return _text_found(activate.user_id, answer.context())

    # --- pages ---

    def _call_seconds(self, deadline: float, *, first: bool) -> float:
        """The time the next request may take (less than MIN_CALL_SECONDS: start none). Before the first
        page, too little time is a failure a later delivery retries."""
        seconds = min(self._cloud_seconds, deadline - self._timer())
        if seconds < MIN_CALL_SECONDS and first:
            raise DeviceCloudUnavailableError("no_time_left")
        return seconds

    def _list(self, fetch: _Fetch, context: dict[str, Any]) -> _Listing:
        """Every native device of the discovery's pages, within its bounds: maxPages, maxDevices and the
        deadline. A bound reached ends the listing with what was found (recorded in `truncated`)."""
        discover = fetch.outbound.discover_devices
        listing = _Listing()
        token: str | None = None
        url: str | None = None
        seen: set[str] = set()
        spec = discover.request
        while True:
            seconds = self._call_seconds(fetch.deadline, first=listing.pages == 0)
            if seconds < MIN_CALL_SECONDS:
                listing.truncated = "time"
                return listing
            context["page"] = {"token": token, "number": listing.pages + 1}
            answer = fetch.calls.call(
                spec,
                context,
                timeout_seconds=seconds,
                max_answer_bytes=MAX_PAGE_BYTES,
                url=url,
                where="discoverDevices.request",
            )
            page = answer.context()
            listing.pages += 1
            if listing.first_page is None:
                listing.first_page = page
            found = _devices_of(discover, answer)
            room = discover.max_devices - len(listing.devices)
            listing.devices.extend(found[:room])
            if len(found) >= room and (len(found) > room or _next(discover, page) is not None):
                listing.truncated = "max_devices"
                return listing
            following = _next(discover, page)
            if following is None or following in seen:
                return listing
            if listing.pages >= discover.max_pages:
                listing.truncated = "max_pages"
                return listing
            seen.add(following)
            if discover.next_page is not None and discover.next_page.url is not None:
                url = following
            else:
                token = following
                spec = _with_page_token(discover)

    # --- failures ---

    def _failed(self, job: DiscoveryJob | None, delivery: JobDelivery, failed: JobFailure) -> JobOutcome:
        outcome = JobOutcome(
            delivery.message_id,
            "retry",
            reason=failed.reason,
            connector_id=job.connector_id if job is not None else None,
            discovery_id=job.device_discovery_id if job is not None else None,
            receive_count=delivery.receive_count,
        )
        if failed.retryable and delivery.receive_count < self._max_receive_count:
            return replace(outcome, measurements=(Measurement("DiscoveryJobsRetried", 1),))
        body = dead_letter_message(
            job,
            delivery.body,
            reason=failed.reason,
            failed_at=self._clock(),
            receive_count=delivery.receive_count,
        )
        try:
            self._dead_letters.put(body)
        except DependencyUnavailableError:
            # Never lost: SQS delivers the job again, and this worker tries to dead-letter it again then.
            return replace(
                outcome,
                disposition="dead_letter_failed",
                measurements=(Measurement("DiscoveryDeadLetteringFailed", 1),),
            )
        if job is not None:
            with contextlib.suppress(DependencyUnavailableError):
                self._records.record_discovery(
                    job.connector_id, job.device_discovery_id, devices=None, failure=failed.reason
                )
        return replace(
            outcome, disposition="dead_lettered", measurements=(Measurement("DiscoveryJobsDeadLettered", 1),)
        )


def _claimed(outbound: Outbound, credential: Credential) -> str | None:
    if outbound.user_id_claim is None or credential.type != "OAuth2.0":
        return None
    return claim_of(credential.value, outbound.user_id_claim)


def _cloud_request(
    job: DiscoveryJob, operation: Any, credential: Credential, user_id: str | None
) -> CloudRequest:
    return CloudRequest(
        operation=operation,
        connector_id=job.connector_id,
        credential=credential,
        request_id=job.device_discovery_id,
        user_id=user_id,
        payload=job.payload,
    )


def _search(expression: Any, context: Any) -> Any:
    try:
        return expression.search(context, Evaluation())
    except (ExpressionError, EvaluationBudgetError):
        return None


def _text_found(expression: Any, context: Any) -> str | None:
    """Text (or a whole number, as text) an expression finds; None for anything else."""
    found = _search(expression, context)
    if isinstance(found, int) and not isinstance(found, bool):
        return str(found)
    return found if isinstance(found, str) and found else None


def _devices_of(discover: DiscoverDevices, answer: CloudAnswer) -> list[Any]:
    found = answer.read(discover.devices)
    if isinstance(found, dict):
        return [found]
    if not isinstance(found, list):
        # A 2xx whose devices cannot be read is the cloud's problem of the moment, as a 5xx would be.
        raise DeviceCloudUnavailableError("unreadable_answer")
    return found


def _next(discover: DiscoverDevices, page: Any) -> str | None:
    """The next page's token or URL, when the page names one."""
    following = discover.next_page
    if following is None:
        return None
    expression = following.url if following.url is not None else following.token
    found = _search(expression, page)
    if isinstance(found, int | float) and not isinstance(found, bool) and math.isfinite(found):
        found = scalar_text(found)
    return found if isinstance(found, str) and found else None


def _with_page_token(discover: DiscoverDevices) -> RequestSpec:
    """The page request with the next page's token as its `nextPage.query` member."""
    from iotbridge.profile.templates import TextTemplate

    assert discover.next_page is not None and discover.next_page.query is not None
    token = TextTemplate("{page.token}")
    token.where = "discoverDevices.nextPage.query"
    request = discover.request
    return request.model_copy(update={"query": {**request.query, discover.next_page.query: token}})


def _map_devices(
    natives: list[Any], discover: DiscoverDevices, attribute_form: Literal["object", "list"]
) -> _Mapped:
    """Each native device as a device of a DEVICE_DISCOVERY event, by the discovery's rule and the inbound
    mapping engine; a device that cannot be mapped is skipped and counted (or, `onError: reject`, fails the
    job), one its `when` leaves out is left out. Devices with one ConnectorDeviceId are reported once."""
    from iotbridge.webhook_receiver.domain.mapping import MappingError, map_body

    profile = _MappingProfile(
        events=_expression("body"),
        rules=[discover.mapping_rule()],
        unmatched="ignore",
        on_error=discover.on_error,
        attribute_form=attribute_form,
    )
    result = _Mapped()
    seen: set[str] = set()
    for start in range(0, len(natives), MAPPING_CHUNK):
        chunk = natives[start : start + MAPPING_CHUNK]
        try:
            mapped = map_body(cast("ConnectorProfile", profile), chunk, {})
        except MappingError:
            raise JobFailure("unmappable_devices", retryable=False) from None
        result.skipped += mapped.skips.events
        result.filtered += mapped.ignored
        for item in mapped.events:
            for device in item.event.get("Devices") or ():
                device_id = device.get("ConnectorDeviceId")
                if isinstance(device_id, str) and device_id not in seen:
                    seen.add(device_id)
                    result.devices.append(device)
    checked = _contract_checked(result.devices)
    result.skipped += len(result.devices) - len(checked)
    result.devices = checked
    return result


def _contract_checked(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The devices SendConnectorEvent takes: all of them when they pass together (the common case, one
    check); otherwise each on its own, a device whose name alone breaks the contract kept without it."""
    from iotbridge.send_connector_event.body import EventValidationError, wire_events

    def valid(batch: list[dict[str, Any]]) -> bool:
        event = {"Operation": "DEVICE_DISCOVERY", "DeviceDiscoveryId": "check", "Devices": batch}
        try:
            wire_events(event, "check")
        except EventValidationError:
            return False
        return True

    if not devices or all(valid(batch) for batch in _batches(devices)):
        return devices
    kept = []
    for device in devices:
        if valid([device]):
            kept.append(device)
            continue
        unnamed = {k: v for k, v in device.items() if k != "ConnectorDeviceName"}
        if len(unnamed) < len(device) and valid([unnamed]):
            kept.append(unnamed)
    return kept


def _batches(devices: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Devices in the groups each DEVICE_DISCOVERY event carries: at most MAX_DEVICES_PER_EVENT, and at most
    MAX_EVENT_DEVICE_BYTES of them."""
    batch: list[dict[str, Any]] = []
    size = 0
    for device in devices:
        length = len(json.dumps(device, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if batch and (len(batch) == MAX_DEVICES_PER_EVENT or size + length > MAX_EVENT_DEVICE_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(device)
        size += length
    if batch:
        yield batch


def discovery_events(
    job: DiscoveryJob, user_id: str | None, devices: list[dict[str, Any]], *, received_at: int
) -> list[QueuedEvent]:
    """The DEVICE_DISCOVERY events that report the devices: one for every MAX_DEVICES_PER_EVENT (one with no
    device when none was found, so that managed integrations learns the discovery ended). Each is queued
    under the webhook id "discovery:<id>" and its batch number: a job tried again queues the same events,
    which the FIFO queue drops as duplicates."""
    batches = list(_batches(devices)) or [[]]
    events = []
    for index, batch in enumerate(batches):
        event: dict[str, Any] = {
            "Operation": "DEVICE_DISCOVERY",
            "OperationVersion": "1.0",
            "StatusCode": 200,
            "DeviceDiscoveryId": job.device_discovery_id,
        }
        if user_id is not None:
            event["UserId"] = user_id
        event["Devices"] = batch
        events.append(
            QueuedEvent(
                connector_id=job.connector_id,
                webhook_id=f"discovery:{job.device_discovery_id}",
                index=index,
                received_at=received_at,
                event=event,
            )
        )
    return events
