"""The one AWS client factory, the one retry rule, and the translation of botocore's errors.

Retry rule: every AWS call has exactly one retry layer, chosen by what a failure of the call looks like.

- A call that succeeds or fails as a whole is retried by botocore's standard mode (exponential backoff with
  jitter, on throttling, 5xx and connection errors), `attempts` tries in all. Nothing above it retries the
  same call again within the invocation.
- A batch call that reports failures per entry is made by a client of one attempt, and its caller's loop
  retries both a failed call and the failed entries, under one bound of tries for the whole. The reset
  job's calls on a detector table and to AWS IoT Core are one call per detector, but the job treats a
  batch of them the same way (each call's failure is that detector's entry), so they too are made with one
  attempt.

| Call                                          | Who retries               | Tries                       |
|-----------------------------------------------|---------------------------|-----------------------------|
| Secrets Manager GetSecretValue (receiver)     | botocore                  | 3                           |
| DynamoDB Put/Update/Get/DeleteItem (receiver) | botocore                  | 3                           |
| SQS SendMessageBatch (receiver)               | its hand-off loop         | 3 calls in all              |
| SendConnectorEvent (forwarder)                | the forwarder, in budget  | SEND_MAX_ATTEMPTS (3)       |
| SQS SendMessage to the dead-letter queue      | none (SQS delivers again) | 1                           |
| IoT Events Data, every operation (reset job)  | the job's loop            | RESET_MAX_ITEM_ATTEMPTS (8) |
| DynamoDB Query/Get/UpdateItem, detector table | the job's loop            | RESET_MAX_ITEM_ATTEMPTS (8) |
| IoT Core Publish, message resets (reset job)  | the job's loop            | RESET_MAX_ITEM_ATTEMPTS (8) |
| Lambda Invoke of a continuation (reset job)   | botocore                  | 3                           |
| SSM, Secrets Manager, DynamoDB (connector)    | botocore                  | 2 (the caller waits 2 s)    |
| SQS SendMessageBatch, a command's response    | its hand-off loop         | 3 calls in all              |
| SQS SendMessage, a discovery job, its dead letter | botocore              | 2                           |

What comes after a call has given up is not a retry layer of that call: SQS delivering a message again
after its visibility timeout, a webhook sender retrying a 503, the next scheduled reset.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .errors import Failure, code_is_transient
from .settings import ClientSettings

# Service models the project brings itself: AWS IoT Events Data is no longer shipped by botocore >= 1.43.38.
SERVICE_MODELS_DIR = Path(__file__).parent / "service_models"
# The part of botocore's own data the functions use (written by tools.botocore_models).
BOTOCORE_MODELS_DIR = Path(__file__).parent / "botocore_models"
DEFAULT_ATTEMPTS = 3

_lock = threading.Lock()
_session: Any = None
_clients: dict[tuple[object, ...], Any] = {}


def botocore_session() -> Any:
    """The functions' one botocore session per process: it reads only the data the layer ships."""
    global _session  # noqa: PLW0603 - one session per process
    with _lock:
        if _session is None:
            _session = new_session(shipped_only=True)
        return _session


def new_session(*, shipped_only: bool = False) -> Any:
    """A botocore session that finds the project's own service models before botocore's.

    `shipped_only` (the functions' session) leaves botocore's own data off the search path: the session
    finds only the project's models and the operations the functions call (tools.botocore_models),
    which spares every cold start the listing of botocore's service folders and the parsing of whole
    models and of the endpoints of every AWS service.
    """
    # botocore alone: the functions make only low-level clients, so importing boto3 (with s3transfer)
    # would only lengthen every cold start.
    import botocore.session

    session = botocore.session.Session()
    loader = session.get_component("data_loader")
    if shipped_only:
        loader.search_paths[:] = [str(SERVICE_MODELS_DIR), str(BOTOCORE_MODELS_DIR)]
    elif str(SERVICE_MODELS_DIR) not in loader.search_paths:
        loader.search_paths.insert(0, str(SERVICE_MODELS_DIR))
    return session


def user_agent() -> str:
    """The User-Agent of every request: the project, botocore's and Python's versions.

    Given in the client's Config, it is the whole header. Left to botocore, the header is assembled anew
    for every request from some forty components, each sanitised character by character: about a fifth
    of a small call's client-side CPU (docs/benchmarks.md, "AWS call, client side").
    """
    import platform

    from botocore import __version__ as botocore_version

    return f"iot-cloud-bridge botocore/{botocore_version} python/{platform.python_version()}"


def client(
    service: str,
    settings: ClientSettings,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    pool_connections: int = 10,
    validate_parameters: bool = True,
) -> Any:
    """A botocore client for `service`, shared by every caller asking for the same configuration.

    `attempts` counts every try, the first included (1: botocore never retries; see the rule above).
    `pool_connections` should cover the threads that call the client at once. `validate_parameters=False`
    skips botocore's check of each request against the model, for callers whose requests are built from
    values already checked: the service still refuses a wrong request, with the same kind of error.
    """
    endpoint = settings.endpoint_for(service)
    timeouts = (settings.connect_timeout_seconds, settings.read_timeout_seconds)
    key = (service, attempts, pool_connections, validate_parameters, *timeouts, endpoint)
    found = _clients.get(key)
    if found is not None:
        return found
    from botocore.config import Config

    config = Config(
        # total_max_attempts counts the first try; botocore's "max_attempts" key counts only retries.
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        max_pool_connections=max(1, pool_connections),
        user_agent=user_agent(),
        parameter_validation=validate_parameters,
    )
    session = botocore_session()
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = session.create_client(service, config=config, endpoint_url=endpoint)
            _clients[key] = found
    return found


class DeferredClient:
    """A client made on its first use, for a call most invocations never make (the reset job's
    continuation, or the clients of the backends a plan does not use): made at init it would be paid for by
    every cold start, made on first use only by the invocations that need it, at their CPU share
    (docs/benchmarks.md, "Cold start")."""

    def __init__(
        self,
        service: str,
        settings: ClientSettings,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        pool_connections: int = 10,
    ) -> None:
        self._make = lambda: client(service, settings, attempts=attempts, pool_connections=pool_connections)
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._make()
        return getattr(self._client, name)


def reset_clients() -> None:
    """Forget every client and the session (tests that change endpoints or credentials call this)."""
    global _session  # noqa: PLW0603
    with _lock:
        _clients.clear()
        _session = None


def failure_of(exc: BaseException) -> Failure:
    """What a failed botocore call says, safe to log: the AWS error code, a bounded message, and whether
    a later try may succeed. Adapters call this; nothing else looks at botocore's exceptions."""
    from botocore.exceptions import ClientError, ParamValidationError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(error.get("Code") or "")
        if not code or code.isdigit():
            # No AWS error type in the answer (botocore then gives the status as the code).
            code = f"HTTP{status}" if status else "Unidentified"
        message = str(error.get("Message") or "")[:512]
        return Failure(code, message, code_is_transient(code), http_status=status)
    if isinstance(exc, ParamValidationError):
        # The request itself is wrong: sending it again cannot help.
        return Failure("ParamValidationError", str(exc)[:512], transient=False)
    if isinstance(exc, RecursionError | UnicodeError):
        # Nested too deep, or text no encoder can send: the same request fails the same way every time.
        return Failure(type(exc).__name__, "the request cannot be serialised", transient=False)
    # Connection errors, timeouts and the rest of botocore's own errors, and anything unforeseen.
    return Failure(type(exc).__name__, str(exc)[:512], transient=True)
