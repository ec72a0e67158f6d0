"""The project's one error vocabulary: a base, a transient and a permanent kind, and one problem type.

- `TransientError`: a later try of the same thing may succeed (throttling, an outage, a record in use).
- `PermanentError`: the same input fails the same way however often it is tried (a forged signature, an
  invalid body or plan, a setting that cannot be used, a request AWS refuses).
- `InvalidInputError` (permanent) carries every `Problem` found, each a path and a rule, never a value.
- `ServiceCallError`: an AWS call failed; adapters raise its transient or permanent form, with the
  service's error code. Adapters are the only code that sees botocore's own exceptions.
- The retry rule by error code, `code_is_transient`, is decided here and only here, from the one table
  below; `iotbridge.clients.failure_of` applies it to every failed AWS call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

# --- The retry rule by error code ----------------------------------------------------------------------

# Codes that will fail the same way however often the same request is sent: the only table the rule reads.
# Every other code is transient (`code_is_transient`), so there is no list of transient codes to keep.
PERMANENT_CODES = frozenset(
    {
        # Across the APIs the project calls
        "ValidationException",
        "AccessDeniedException",
        "AccessDenied",
        "ResourceNotFoundException",
        "InvalidRequestException",
        "InvalidParameterException",
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "ParamValidationError",
        # SQS
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "InvalidAddress",
        "InvalidMessageContents",
        "InvalidAttributeValue",
        "MissingParameter",
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "BatchEntryIdsNotDistinct",
        "BatchRequestTooLong",
        "EmptyBatchRequest",
        "TooManyEntriesInBatchRequest",
        "InvalidBatchEntryId",
        # DynamoDB
        "ConditionalCheckFailedException",
        "ItemCollectionSizeLimitExceededException",
        # Secrets Manager
        "DecryptionFailure",
        # Lambda
        "RequestTooLargeException",
        "InvalidRequestContentException",
        # AWS IoT Core's Publish (message-mode resets): a missing permission, a payload it cannot take
        "UnauthorizedException",
        "ForbiddenException",
        "MethodNotAllowedException",
        "RequestEntityTooLargeException",
        "UnsupportedDocumentEncodingException",
    }
)


def code_is_transient(code: str) -> bool:
    """Whether a service error is worth a retry, by its AWS error code: unless `PERMANENT_CODES` lists it.

    Throttling, 5xx, expired credentials and codes we do not know all count as transient. A code we do not
    know (a new one, or none at all: a proxy's page, a bare status) counts as transient whatever its HTTP
    status: retrying a permanent error costs a few tries, bounded by the caller, and ends in a dead-letter
    queue with its code anyway, while giving up at once on a transient one loses something a retry would
    have delivered.
    """
    return code not in PERMANENT_CODES


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong with one call or one item, in a form that is safe to log and to report."""

    code: str
    message: str
    transient: bool
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule: where (a path such as `Devices[0].CapabilityReport`; "" for the whole document) and
    which rule. It never quotes the offending value, which may be sensitive."""

    path: str
    rule: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "rule": self.rule}

    def describe(self, whole: str = "(body)") -> str:
        return f"{self.path or whole}: {self.rule}"


def render_path(location: Iterable[int | str]) -> str:
    """A location as a path: names joined by dots, list positions in brackets (`[3].Devices[0].id`)."""
    out = ""
    for part in location:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# Every answer, message and log line that lists problems lists at most this many, and counts the rest: a
# body or profile with a million problems must not make an answer over Lambda's 6 MB response limit.
MAX_LISTED_PROBLEMS = 100


def listed_problems(problems: Iterable[Problem], more: int = 0) -> tuple[list[Problem], int]:
    """The first MAX_LISTED_PROBLEMS of `problems`, and how many are left out (`more` already were)."""
    listed: list[Problem] = []
    for problem in problems:
        if len(listed) < MAX_LISTED_PROBLEMS:
            listed.append(problem)
        else:
            more += 1
    return listed, more


class BridgeError(Exception):
    """Base of every error the project raises on purpose."""

    transient: ClassVar[bool] = False


class TransientError(BridgeError):
    """A later try of the same thing may succeed."""

    transient = True


class PermanentError(BridgeError):
    """Trying the same thing again cannot help."""

    transient = False


class DependencyUnavailableError(TransientError):
    """A service a function depends on failed in a way a later try of the same request may not. `reason`
    names the dependency, for logs, metrics and the answer's outcome."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidInputError(PermanentError):
    """Input that breaks its contract. `problems` lists every problem found (or the first ones, when a
    bound on the work stopped the search; `more` then counts what was not listed)."""

    # What the input is, for the message: "body", "reset plan", "setting".
    subject: ClassVar[str] = "input"
    whole: ClassVar[str] = "(input)"

    def __init__(self, problems: Iterable[Problem], *, more: int = 0) -> None:
        self.problems, more = listed_problems(problems, more)
        self.more = more
        count = len(self.problems) + more
        noun = "problem" if count == 1 else "problems"
        lines = "\n".join(f"  - {p.describe(self.whole)}" for p in self.problems)
        tail = f"\n  - ... and {more} more" if more else ""
        super().__init__(f"invalid {self.subject} ({count} {noun}):\n{lines}{tail}")

    def descriptions(self) -> list[str]:
        """Each problem as `path: rule`, for log lines and the command line."""
        return [p.describe(self.whole) for p in self.problems]


class ServiceCallError(BridgeError):
    """An AWS call failed after the retries of its one retry layer. `failure` is safe to log."""

    def __init__(self, failure: Failure, *, retries: int = 0) -> None:
        super().__init__(f"{failure.code}: {failure.message}" if failure.message else failure.code)
        self.failure = failure
        self.retries = retries

    @property
    def code(self) -> str:
        return self.failure.code


class TransientServiceError(ServiceCallError, TransientError):
    """An AWS call failed in a way a later call may not."""


class PermanentServiceError(ServiceCallError, PermanentError):
    """An AWS call the service refuses as it is."""


def service_call_error(failure: Failure, *, retries: int = 0) -> ServiceCallError:
    """The transient or permanent form of a failed call, as its failure says."""
    kind = TransientServiceError if failure.transient else PermanentServiceError
    return kind(failure, retries=retries)
