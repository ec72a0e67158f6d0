"""A device cloud's own REST API, driven by the connector profile's `outbound` block.

`RestCalls` makes one request of a profile: its URL (`baseUrl`, the path with each placeholder's value
percent-encoded as one path segment, the query), its headers (the profile's, the request's, the auth), its
body (a JSON template, sent compact, or a form), an HMAC signature when the auth says so, all within one
deadline through `OutboundExchanges` (internal addresses refused, no redirect followed, a bounded answer);
the status then says what the answer is:

    `expect` (default: any 2xx)   the answer                    -> CloudAnswer
    408, 425, 429                 "not now"                     -> DeviceCloudRefusedError (answered 503)
    any other 4xx                 refused                       -> DeviceCloudRefusedError
    3xx                           a redirect, not followed      -> DeviceCloudUnavailableError("redirect")
    5xx, anything else            unavailable                   -> DeviceCloudUnavailableError("status_5xx")

`RestDeviceCloud` is ports.DeviceCloudClient over those calls: activateUser and deactivateUser ask what the
profile says, sendCommand maps the Matter commands (iotbridge.connector.commands) and, for a cloud that
answers commands at once, gives the DEVICE_COMMAND_RESPONSE to queue; discoverDevices only queues a job
for the discovery worker, which fetches the devices after the invocation is answered.

Tokens, secrets, user and device ids and URLs' paths are never logged: a log line names the profile's
place (`sendCommand.request.path`), a status or a reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from iotbridge.profile.expressions import (
    Evaluation,
    EvaluationBudgetError,
    Expression,
    ExpressionError,
    json_value,
    truthy,
)
from iotbridge.profile.templates import TemplateError, TextTemplate

from .commands import MappedCommand, map_commands, message_text, response_endpoint
from .outbound import OutboundExchanges
from .ports import (
    CloudRequest,
    CommandHandedOver,
    ConnectorSetupError,
    DeviceCloudRefusedError,
    DeviceCloudUnavailableError,
    DiscoveryJob,
    DiscoveryJobs,
    JobCredential,
    UnmappableCommandError,
)

if TYPE_CHECKING:
    from iotbridge.profile.document import ConnectorProfile
    from iotbridge.profile.outbound import Outbound, RequestSpec

logger = Logger(child=True)

USER_AGENT = "iot-cloud-bridge-connector"
# An answer is at most this large (a user id, a command's outcome need a few bytes); a discovery page, 1 MiB.
MAX_ANSWER_BYTES = 64 * 1024
MAX_PAGE_BYTES = 1024 * 1024
# The longest own id of a command a device cloud may give (as the webhook adapter takes them).
MAX_CLOUD_REQUEST_ID_CHARS = 256
# Statuses that mean "not now": refused with them, which the domain answers 503 for managed integrations'
# retries.
TRY_LATER_STATUSES = frozenset({408, 425, 429})
_USER_ID = re.compile(r"[a-zA-Z0-9_.,@-]{1,64}")
_ENDPOINT_ID = re.compile(r"[0-9a-zA-Z]{1,64}")


@dataclass(frozen=True, slots=True)
class CloudAnswer:
    """A device cloud's answer: its status, headers (lower-case names) and body (parsed JSON, or None when
    it is empty or not JSON; `body_problem` then says why, when it could not be read)."""

    status: int
    headers: Mapping[str, str]
    body: Any = field(repr=False)
    body_problem: str | None = None

    def context(self) -> dict[str, Any]:
        """What an answer's expressions read."""
        return {"status": self.status, "headers": dict(self.headers), "body": self.body}

    def read(
        self, expression: Expression, evaluation: Evaluation | None = None, *, verdict: bool = False
    ) -> Any:
        """What `expression` finds in the answer. Raises DeviceCloudUnavailableError("unreadable_answer")
        when it cannot be evaluated there, or finds nothing in a body that could not be read ("timeout"
        when that body did not come in time); a `verdict` (a command's success) also when it reads a body
        that could not be read, whatever it finds: a comparison with a body that is not there says nothing."""
        try:
            found = expression.search(self.context(), evaluation)
        except (ExpressionError, EvaluationBudgetError):
            raise DeviceCloudUnavailableError("unreadable_answer") from None
        unread = found is None or (verdict and _reads_body(expression.compiled.parsed))
        if self.body_problem is not None and unread:
            raise DeviceCloudUnavailableError(
                "timeout" if self.body_problem == "timeout" else "unreadable_answer"
            )
        return found


def _reads_body(node: Any) -> bool:
    """Whether a parsed expression names a field `body` anywhere (the answer's body, or a member of the
    same name within it: either way, it reads the body)."""
    if not isinstance(node, dict):
        return False
    if node.get("type") == "field" and node.get("value") == "body":
        return True
    return any(_reads_body(child) for child in node.get("children") or ())


def template_context(request: CloudRequest, secret: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a request's templates read (see the profile's documentation): the connector, the operation,
    the credential (`token`, or the General Authorization secret's members as `secret`), the user, the
    device, the request's id and the invocation's payload. `timestamp` and `nonce` are each request's own
    (RestCalls sets them); `command`, `commands` and `page` are set by the operation that needs them."""
    oauth = request.credential.type == "OAuth2.0"
    return {
        "connectorId": request.connector_id,
        "operation": request.operation,
        "token": request.credential.value if oauth else "",
        "secret": dict(secret or {}),
        "user": {"id": request.user_id},
        "device": {"id": request.connector_device_id},
        "request": {"id": request.request_id},
        "invocation": dict(request.payload),
        "page": {"token": None, "number": 1},
    }


def secret_members(text: str) -> dict[str, Any]:
    """A General Authorization secret's text as templates read it: its members when it is a JSON object,
    else {"text": <the whole text>}."""
    try:
        parsed = json_value(text, 64 * 1024)
    except ValueError:
        parsed = None
    return dict(parsed) if isinstance(parsed, dict) else {"text": text}


# --- one request ----------------------------------------------------------------------------------------


def _segment(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _template_error(where: str, exc: Exception) -> ConnectorSetupError:
    # The reason names the placeholder's expression, never its value.
    logger.error(
        "a profile template cannot be filled",
        extra={
            "where": getattr(exc, "where", "") or where,
            "reason": getattr(exc, "reason", "") or type(exc).__name__,
        },
    )
    return ConnectorSetupError("template")


class RestCalls:
    """One connector's outbound calls: render a RequestSpec with a context, sign it, send it within a
    deadline, classify the status."""

    def __init__(
        self,
        outbound: Outbound,
        exchanges: OutboundExchanges,
        *,
        allow_loopback: bool,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._outbound = outbound
        self._exchanges = exchanges
        self._clock = clock
        self._nonce = nonce
        base = urllib.parse.urlsplit(outbound.base_url)
        if base.scheme != "https" and not allow_loopback:
            # Plain HTTP to this machine is for the local stack: a deployed connector speaks HTTPS.
            raise ConnectorSetupError("insecure_url")
        self._origin = _origin(outbound.base_url)
        self._base = outbound.base_url.rstrip("/")

    def call(
        self,
        spec: RequestSpec,
        context: Mapping[str, Any],
        *,
        timeout_seconds: float,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        url: str | None = None,
        where: str = "request",
        evaluation: Evaluation | None = None,
    ) -> CloudAnswer:
        """The cloud's answer to one request of the profile (`where` names the request in logs). `url`, a
        next page's URL, replaces baseUrl + path + query; it must be on baseUrl's scheme, host and port.
        Raises DeviceCloudRefusedError, DeviceCloudUnavailableError or ConnectorSetupError."""
        evaluation = evaluation or Evaluation()
        now = self._clock()
        context = {
            **context,
            "timestamp": {"ms": str(int(now * 1000)), "s": str(int(now))},
            "nonce": self._nonce(),
        }
        target = self._url(spec, context, url, where, evaluation)
        body, content_type = self._body(spec, context, where, evaluation)
        parts = urllib.parse.urlsplit(target)
        signed = {
            **context,
            "method": spec.method,
            "path": (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            "body": (body or b"").decode("utf-8"),
            "bodySha256": hashlib.sha256(body or b"").hexdigest(),
        }
        headers = self._headers(spec, signed, content_type, where, evaluation)
        answer = self._exchanges.request(
            spec.method,
            target,
            body,
            headers,
            timeout_seconds=timeout_seconds,
            read_body=True,
            max_answer_bytes=max_answer_bytes,
        )
        status = answer.status
        taken = 200 <= status < 300 if spec.expect is None else status in spec.expect
        if taken:
            return _parsed(
                answer.status, answer.headers, answer.content, answer.body_problem, max_answer_bytes
            )
        logger.info("device cloud answered", extra={"where": where, "status": status})
        if 400 <= status < 500:
            raise DeviceCloudRefusedError(status)
        if 300 <= status < 400:
            raise DeviceCloudUnavailableError("redirect")
        raise DeviceCloudUnavailableError(f"status_{status // 100}xx")

    # --- the URL ----------------------------------------------------------------------------------------

    def _url(
        self,
        spec: RequestSpec,
        context: Mapping[str, Any],
        url: str | None,
        where: str,
        evaluation: Evaluation,
    ) -> str:
        if url is not None:
            if _origin(url) != self._origin:
                logger.warning("a next page is not on the device cloud's base URL", extra={"where": where})
                raise DeviceCloudUnavailableError("foreign_next_page")
            return url
        path = self._path(spec.path, context, f"{where}.path", evaluation)
        query = []
        for name, value in spec.query.items():
            query.append((name, self._text(value, context, f"{where}.query.{name}", evaluation)))
        return self._base + path + ("?" + urllib.parse.urlencode(query) if query else "")

    def _path(self, template: Any, context: Mapping[str, Any], where: str, evaluation: Evaluation) -> str:
        """The path with each placeholder's value percent-encoded as one path segment (`/` too), so that a
        value can never reach another resource of the cloud."""
        return self._text(template, context, where, evaluation, escape=_segment)

    @staticmethod
    def _text(
        template: TextTemplate,
        context: Mapping[str, Any],
        where: str,
        evaluation: Evaluation,
        *,
        escape: Callable[[str], str] | None = None,
    ) -> str:
        try:
            return template.render(context, evaluation, escape=escape)
        except (TemplateError, ExpressionError, EvaluationBudgetError) as exc:
            raise _template_error(where, exc) from None

    # --- the body ---------------------------------------------------------------------------------------

    def _body(
        self, spec: RequestSpec, context: Mapping[str, Any], where: str, evaluation: Evaluation
    ) -> tuple[bytes | None, str | None]:
        if spec.body is not None:
            try:
                value = spec.body.render(context, evaluation)
            except (TemplateError, ExpressionError, EvaluationBudgetError) as exc:
                raise _template_error(f"{where}.body", exc) from None
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            return text.encode("utf-8"), "application/json"
        if spec.form is not None:
            form = [
                (name, self._text(value, context, f"{where}.form.{name}", evaluation))
                for name, value in spec.form.items()
            ]
            return urllib.parse.urlencode(form).encode("ascii"), "application/x-www-form-urlencoded"
        return None, None

    # --- headers and auth -------------------------------------------------------------------------------

    def _headers(
        self,
        spec: RequestSpec,
        context: dict[str, Any],
        content_type: str | None,
        where: str,
        evaluation: Evaluation,
    ) -> dict[str, str]:
        auth = self._outbound.auth
        headers: dict[str, str] = {"user-agent": USER_AGENT, "accept": "application/json"}
        if auth.type == "hmac":
            signature = _signature(
                self._text(auth.key, context, "auth.key", evaluation),
                self._text(auth.message, context, "auth.message", evaluation),
                auth.algorithm,
                auth.encoding,
                auth.case,
            )
            context = {**context, "signature": signature}
            headers[auth.header.lower()] = signature
        for source, templates in (("headers", self._outbound.headers), (f"{where}.headers", spec.headers)):
            for name, template in templates.items():
                headers[name.lower()] = self._text(template, context, f"{source}.{name}", evaluation)
        if auth.type == "bearer":
            token = (
                self._text(auth.token, context, "auth.token", evaluation)
                if auth.token is not None
                else str(context.get("token") or "")
            )
            if not token:
                raise ConnectorSetupError("no_token")
            headers["authorization"] = f"Bearer {token}"
        if content_type is not None:
            headers.setdefault("content-type", content_type)
        else:
            headers.pop("content-type", None)  # a request without a body says nothing of one
        return headers


def _signature(key: str, message: str, algorithm: str, encoding: str, case: str) -> str:
    digest = hmac.new(key.encode("utf-8"), message.encode("utf-8"), getattr(hashlib, algorithm)).digest()
    if encoding == "hex":
        text = digest.hex()
    elif encoding == "base64url":
        text = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    else:
        text = base64.b64encode(digest).decode("ascii")
    return text.upper() if case == "upper" else text.lower() if case == "lower" else text


def _origin(url: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    try:
        port = parts.port or default
    except ValueError:
        port = -1
    return parts.scheme, (parts.hostname or "").lower(), port


def _parsed(
    status: int, headers: Mapping[str, str], content: bytes | None, problem: str | None, limit: int
) -> CloudAnswer:
    if content is None or not content.strip():
        return CloudAnswer(status, headers, None, problem)
    try:
        return CloudAnswer(status, headers, json_value(content, limit))
    except ValueError:
        return CloudAnswer(status, headers, None, "unreadable_answer")


# --- the four operations --------------------------------------------------------------------------------


class _Deadline:
    """One operation's time, shared by all its requests."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise DeviceCloudUnavailableError("timeout")
        return left


class RestDeviceCloud:
    """ports.DeviceCloudClient for a connector whose profile has `outbound`."""

    def __init__(
        self,
        profile: ConnectorProfile,
        calls: RestCalls,
        *,
        jobs: DiscoveryJobs | None = None,
        queues_answers: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert profile.outbound is not None
        self._profile = profile
        self._outbound: Outbound = profile.outbound
        self._calls = calls
        self._jobs = jobs
        # Whether the function can queue a command's response (a `sync` cloud's outcome) for the relay.
        self._queues_answers = queues_answers
        self._clock = clock

    @property
    def user_id_claim(self) -> str | None:
        return self._outbound.user_id_claim

    def _context(self, request: CloudRequest) -> dict[str, Any]:
        secret = None
        if request.credential.type == "GeneralAuthorization":
            secret = secret_members(request.credential.value)
        return template_context(request, secret)

    def activate_user(self, request: CloudRequest, *, timeout_seconds: float) -> str | None:
        spec = self._outbound.activate_user
        context = self._context(request)
        if spec is None:
            return _secret_user(context)
        evaluation = Evaluation()
        answer = self._calls.call(
            spec.request,
            context,
            timeout_seconds=timeout_seconds,
            where="activateUser.request",
            evaluation=evaluation,
        )
        return _user_id(answer.read(spec.user_id, evaluation))

    def deactivate_user(self, request: CloudRequest, *, timeout_seconds: float) -> str | None:
        spec = self._outbound.deactivate_user
        context = self._context(request)
        if spec is None or spec.request is None:
            # No revoking call: the user is the one the token names (its claim, the secret's `userId`, or,
            # while the token still works, the cloud's answer to the activation's request).
            found = request.user_id or _secret_user(context)
            if found is None and self._outbound.activate_user is not None:
                found = self.activate_user(request, timeout_seconds=timeout_seconds)
            return found
        evaluation = Evaluation()
        answer = self._calls.call(
            spec.request,
            context,
            timeout_seconds=timeout_seconds,
            where="deactivateUser.request",
            evaluation=evaluation,
        )
        if spec.user_id is None:
            return request.user_id or _secret_user(context)
        try:
            found = _user_id(answer.read(spec.user_id, evaluation))
        except DeviceCloudUnavailableError:
            # The cloud has revoked: the user the request names serves, when it names one.
            if request.user_id is None:
                raise
            found = None
        return found or request.user_id

    def discover_devices(self, request: CloudRequest, *, timeout_seconds: float) -> None:
        """Queue the discovery for the worker; the device cloud is asked after the invocation is answered."""
        if self._jobs is None:
            raise ConnectorSetupError("no_discovery_queue")
        credential = request.credential
        if credential.type == "OAuth2.0":
            job_credential = JobCredential.oauth(credential.value)
        else:
            assert credential.arn is not None
            job_credential = JobCredential.general_authorization(credential.arn, credential.version_id)
        assert request.request_id is not None
        self._jobs.submit(
            DiscoveryJob(
                connector_id=request.connector_id,
                device_discovery_id=request.request_id,
                user_id=request.user_id,
                credential=job_credential,
                payload=dict(request.payload),
                requested_at=self._clock(),
            )
        )

    def send_command(self, request: CloudRequest, *, timeout_seconds: float) -> CommandHandedOver:
        spec = self._outbound.send_command
        if spec.answer.mode == "sync":
            if not self._queues_answers:
                raise ConnectorSetupError("no_event_queue")
            # Checked before the cloud is asked: once it has acted, a response that cannot name the
            # endpoint could only be refused, and the retry would ask the cloud again.
            if any(not _ENDPOINT_ID.fullmatch(command.endpoint) for command in request.commands):
                raise UnmappableCommandError(
                    "invalid_command_fields",
                    "An endpoint id is not one a command response can name (1 to 64 of a-z A-Z 0-9).",
                )
        deadline = _Deadline(timeout_seconds)
        evaluation = Evaluation()
        base = self._context(request)
        mapped = map_commands(spec, request.commands, base, evaluation)
        bodies = [item.body for item in mapped]
        answers: list[CloudAnswer] = []
        groups: list[list[MappedCommand]] = [mapped] if spec.together else [[item] for item in mapped]
        for group in groups:
            context = {**base, "command": group[0].body, "commands": [item.body for item in group]}
            if spec.together:
                context["commands"] = bodies
            answers.append(
                self._calls.call(
                    spec.request,
                    context,
                    timeout_seconds=deadline.left(),
                    where="sendCommand.request",
                    evaluation=evaluation,
                )
            )
        if spec.answer.mode == "async":
            return CommandHandedOver(self._cloud_request_id(answers, evaluation))
        return CommandHandedOver(None, self._response(request, mapped, answers, evaluation))

    def _cloud_request_id(self, answers: Sequence[CloudAnswer], evaluation: Evaluation) -> str | None:
        """The cloud's own id of the command, from the first answer that gives one (as the webhook
        adapter's `requestId`: text or a whole number, 1 to 256 printable characters)."""
        expression = self._outbound.send_command.answer.request_id
        if expression is None:
            return None
        for answer in answers:
            try:
                found = answer.read(expression, evaluation)
            except DeviceCloudUnavailableError:
                found = None
            if isinstance(found, int) and not isinstance(found, bool):
                found = str(found)
            if (
                isinstance(found, str)
                and 0 < len(found) <= MAX_CLOUD_REQUEST_ID_CHARS
                and found.isprintable()
            ):
                return found
        logger.warning(
            "the device cloud's answer to a command carries no request id where the profile says",
            extra={"reason": "not_found"},
        )
        return None

    def _response(
        self,
        request: CloudRequest,
        mapped: Sequence[MappedCommand],
        answers: Sequence[CloudAnswer],
        evaluation: Evaluation,
    ) -> dict[str, Any]:
        """The DEVICE_COMMAND_RESPONSE of a command the cloud answered at once, checked against the
        SendConnectorEvent contract. Raises DeviceCloudUnavailableError("unusable_answer")."""
        from iotbridge.send_connector_event.body import EventValidationError, parse_webhook_body

        spec = self._outbound.send_command.answer
        failed = None
        if spec.success is not None:
            success = spec.success
            failed = next((a for a in answers if not truthy(a.read(success, evaluation, verdict=True))), None)
        said = failed or answers[-1]
        event: dict[str, Any] = {
            "Operation": "DEVICE_COMMAND_RESPONSE",
            "OperationVersion": "1.0",
            "TraceId": request.request_id,
            "ConnectorDeviceId": request.connector_device_id,
        }
        if request.user_id is not None and _USER_ID.fullmatch(request.user_id):
            event["UserId"] = request.user_id
        event["StatusCode"] = 200 if failed is None else spec.failure_status
        if spec.message is not None:
            try:
                message = message_text(said.read(spec.message, evaluation))
            except DeviceCloudUnavailableError:
                message = None
            if message is not None:
                event["Message"] = message
        # A command that failed reports no attribute: the device's state is not known to have changed.
        event["MatterEndpoint"] = response_endpoint(
            mapped, said.context(), self._profile.attribute_form, evaluation, attributes=failed is None
        )
        try:
            parse_webhook_body(event, request.connector_id)
        except EventValidationError as exc:
            logger.error(
                "the response to a command breaks the SendConnectorEvent contract",
                extra={"problems": [problem.as_dict() for problem in exc.problems][:5]},
            )
            raise DeviceCloudUnavailableError("unusable_answer") from None
        return event


def _user_id(found: Any) -> str | None:
    if isinstance(found, int) and not isinstance(found, bool):
        return str(found)
    return found if isinstance(found, str) and found else None


def _secret_user(context: Mapping[str, Any]) -> str | None:
    """The user id a General Authorization secret carries (`userId`), for a cloud that has no call for it."""
    return _user_id(context.get("secret", {}).get("userId"))
