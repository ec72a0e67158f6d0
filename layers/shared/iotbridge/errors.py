"""One error taxonomy for every function: is a failed AWS call transient (retry) or permanent (do not)?"""

from __future__ import annotations

from dataclasses import dataclass

# Codes the services document as "try again later", across both APIs.
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "InternalServerException",  # iot-managed-integrations 500
        "InternalFailureException",  # iotevents-data 500
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
    }
)

# Codes that will fail the same way however often the same request is sent.
PERMANENT_CODES = frozenset(
    {
        "ValidationException",
        "AccessDeniedException",
        "ResourceNotFoundException",
        "InvalidRequestException",
    }
)


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong with one call or one item, in a form that is safe to log and to report."""

    code: str
    message: str
    transient: bool


def classify_code(code: str, http_status: int | None = None) -> bool:
    """True when an error code (or, for a code we do not know, its HTTP status) is transient.

    Unknown codes count as transient: retrying a permanent error costs a few calls and ends in the
    dead-letter queue anyway, while dead-lettering a transient one at once would give up on an event
    that a retry would have delivered.
    """
    if code in TRANSIENT_CODES:
        return True
    if code in PERMANENT_CODES:
        return False
    return not (http_status is not None and 400 <= http_status < 500 and http_status != 429)


def classify(exc: BaseException) -> Failure:
    """Classify an exception raised by a botocore client call."""
    # Imported here so that modules using only classify_code do not pay for botocore.
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ParamValidationError,
    )
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = str(error.get("Message") or "")[:512]
        return Failure(code=code, message=message, transient=classify_code(code, status))
    if isinstance(exc, ParamValidationError):
        # The request itself is wrong: sending it again cannot help.
        return Failure(code="ParamValidationError", message=str(exc)[:512], transient=False)
    if isinstance(exc, BotoConnectionError):
        return Failure(code=type(exc).__name__, message=str(exc)[:512], transient=True)
    if isinstance(exc, BotoCoreError):
        return Failure(code=type(exc).__name__, message=str(exc)[:512], transient=True)
    return Failure(code=type(exc).__name__, message=str(exc)[:512], transient=True)
