"""The connector function's own adapters: the device cloud as an outbound signed webhook (a profile's
`deviceCloud`), or as its own REST API (a profile's `outbound`, iotbridge.connector.rest; a team may also
plug in code of its own, see ports.DeviceCloudClient), and Secrets Manager for General Authorization
secrets. Its profiles and outbound secrets are read by the adapters the receiver shares
(iotbridge.registry), its records by those of iotbridge.correlation.tables.

The outbound protocol, which a device cloud implements to take the connector's requests:

    POST <deviceCloud.url>                      Content-Type: application/json
    webhook-id, webhook-timestamp, webhook-signature   (Standard Webhooks v1, the connector's whsec_ secret)

    {"type": "discoverDevices", "connectorId": "...", "requestId": "<deviceDiscoveryId>",
     "auth": {"type": "OAuth2.0", "token": "..."}, "payload": {<as managed integrations sent it>}}
    {"type": "sendCommand", ..., "requestId": "<traceId>", "connectorDeviceId": "...",
     "commands": [{"endpoint": "1", "clusterId": "0x0006", "commandId": "0x00", "name": "OnOff.Off",
                   "fields": {}}]}
    {"type": "activateUser" | "deactivateUser", ...}

A 2xx takes the request, whatever its body; `activateUser` and `deactivateUser` answer `{"userId": "..."}`;
a `sendCommand` answer may carry the cloud's own id of the command, where the profile's
`deviceCloud.requestId` says (`{"requestId": "68c4..."}`), which the connector function records (those are
the only bodies read). The whole exchange, connect to last byte, keeps to one deadline, and the
URL's name may not resolve to an internal address (iotbridge.connector.outbound). The cloud reports
discoveries and command outcomes later to the relay, echoing `requestId`. A retried invocation sends the
same `webhook-id`, so a cloud that deduplicates on it (as Standard Webhooks receivers do) acts once.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from iotbridge.profile.device_cloud import DeviceCloud, is_loopback_url
from iotbridge.profile.expressions import EvaluationBudgetError, Expression, ExpressionError
from iotbridge.registry.cache import CachedByName
from iotbridge.registry.profiles import SsmConnectorProfiles
from iotbridge.registry.secrets import UNREADABLE_SECRET_CODES, SecretsManagerSigningKeys, read_secret
from iotbridge.signatures.standard_webhooks import SECRET_PREFIX, SecretFormatError, SignatureError, sign

from .outbound import Answer, OutboundExchanges
from .ports import (
    CloudRequest,
    CommandHandedOver,
    ConnectorSetupError,
    DeviceCloudRefusedError,
    DeviceCloudUnavailableError,
    DiscoveryJobs,
    UnusableCredentialError,
)
from .rest import RestCalls, RestDeviceCloud

if TYPE_CHECKING:
    from iotbridge.profile.outbound import GeneralAuthorizationScope

logger = Logger(child=True)

USER_AGENT = "iot-cloud-bridge-connector"
# A device cloud's answer is at most this large (a user id needs a few bytes); a larger one is not read on.
MAX_ANSWER_BYTES = 64 * 1024
# The longest own id of a command a device cloud may give (Nuki's are 24 hex digits).
MAX_CLOUD_REQUEST_ID_CHARS = 256


def delivery_id(request: CloudRequest) -> str:
    """The webhook id of a request: for a discovery or command, the same on every retried invocation."""
    if request.request_id is None:
        return "msg_" + uuid.uuid4().hex
    key = f"{request.connector_id}\x00{request.operation}\x00{request.request_id}"
    return "msg_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def request_body(request: CloudRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": request.operation,
        "connectorId": request.connector_id,
        "auth": request.credential.as_wire(),
    }
    if request.request_id is not None:
        body["requestId"] = request.request_id
    if request.user_id is not None:
        body["userId"] = request.user_id
    if request.connector_device_id is not None:
        body["connectorDeviceId"] = request.connector_device_id
    if request.commands:
        body["commands"] = [command.as_wire() for command in request.commands]
    body["payload"] = dict(request.payload)
    return body


class WebhookDeviceCloud:
    """One connector's device cloud at its profile's URL."""

    def __init__(self, owner: WebhookDeviceClouds, profile: DeviceCloud) -> None:
        self._owner = owner
        self._profile = profile

    @property
    def user_id_claim(self) -> str | None:
        return self._profile.user_id_claim

    def activate_user(self, request: CloudRequest, *, timeout_seconds: float) -> str | None:
        return _user_id(self._owner.post(self._profile, request, timeout_seconds, read_body=True), request)

    def discover_devices(self, request: CloudRequest, *, timeout_seconds: float) -> None:
        # Any 2xx takes the request, whatever its body: the cloud has it, and asking again would repeat it.
        self._owner.post(self._profile, request, timeout_seconds, read_body=False)

    def send_command(self, request: CloudRequest, *, timeout_seconds: float) -> CommandHandedOver:
        wanted = self._profile.request_id
        answer = self._owner.post(self._profile, request, timeout_seconds, read_body=wanted is not None)
        return CommandHandedOver(_cloud_request_id(answer, wanted) if wanted is not None else None)

    def deactivate_user(self, request: CloudRequest, *, timeout_seconds: float) -> str | None:
        return _user_id(self._owner.post(self._profile, request, timeout_seconds, read_body=True), request)


def _user_id(answer: Answer, request: CloudRequest) -> str | None:
    """The user id of a 2xx to activateUser or deactivateUser. A body that cannot be read (not JSON, too
    large, not in time) is a failure the caller retries, as the id is needed; except for a deactivation
    whose request already names the user (the token's claim): the cloud has revoked, and that id serves."""
    if answer.body_problem is not None or answer.content is None:
        if request.operation == "deactivateUser" and request.user_id is not None:
            return None
        raise DeviceCloudUnavailableError(answer.body_problem or "unreadable_answer")
    if not answer.content.strip():
        return None
    try:
        parsed = json.loads(answer.content)
    except (ValueError, RecursionError):
        if request.operation == "deactivateUser" and request.user_id is not None:
            return None
        raise DeviceCloudUnavailableError("unreadable_answer") from None
    value = parsed.get("userId") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) and value else None


def _cloud_request_id(answer: Answer, expression: Expression) -> str | None:
    """The device cloud's own id of a command it took, found by the profile's `deviceCloud.requestId` in the
    JSON of its answer: text (or a whole number) of 1 to MAX_CLOUD_REQUEST_ID_CHARS printable characters.
    None when the answer has none (logged, without the answer): the cloud took the command all the same."""
    found: Any = None
    if answer.content is not None:
        try:
            found = expression.search(json.loads(answer.content))
        except (ValueError, RecursionError, ExpressionError, EvaluationBudgetError):
            found = None  # not JSON, or nothing the expression can read
    if isinstance(found, int) and not isinstance(found, bool):
        found = str(found)
    if isinstance(found, str) and 0 < len(found) <= MAX_CLOUD_REQUEST_ID_CHARS and found.isprintable():
        return found
    logger.warning(
        "the device cloud's answer to a command carries no request id where the profile says",
        extra={"reason": answer.body_problem or "not_found"},
    )
    return None


class WebhookDeviceClouds:
    """Every connector's device cloud: its profile's `deviceCloud` (SSM) with its outbound secret (Secrets
    Manager), or its profile's `outbound` (a RestDeviceCloud); and one pool of connections kept from one
    invocation to the next.

    One try per request, no retry here: managed integrations retries the invocation (iotbridge.clients).
    """

    def __init__(
        self,
        profiles: SsmConnectorProfiles,
        secrets: SecretsManagerSigningKeys,
        *,
        exchanges: OutboundExchanges | None = None,
        allow_loopback: bool = False,
        clock: Callable[[], float] = time.time,
        jobs: DiscoveryJobs | None = None,
        queues_answers: bool = False,
    ) -> None:
        self._profiles = profiles
        # A REST cloud's discoveries go to the worker's queue; its commands' outcomes, when it answers them
        # at once, to the relay's event queue (the domain queues them: this says whether it can).
        self._jobs = jobs
        self._queues_answers = queues_answers
        self._secrets = secrets
        self._exchanges = exchanges or OutboundExchanges(
            allow_loopback=allow_loopback, max_answer_bytes=MAX_ANSWER_BYTES
        )
        self._allow_loopback = allow_loopback
        self._clock = clock

    def for_connector(self, connector_id: str) -> WebhookDeviceCloud | RestDeviceCloud | None:
        try:
            profile = self._profiles.profile_for(connector_id)
        except SignatureError:
            raise ConnectorSetupError("unusable_profile") from None
        if profile is not None and profile.outbound is not None:
            calls = RestCalls(profile.outbound, self._exchanges, allow_loopback=self._allow_loopback)
            return RestDeviceCloud(
                profile, calls, jobs=self._jobs, queues_answers=self._queues_answers, clock=self._clock
            )
        if profile is None or profile.device_cloud is None:
            return None
        if is_loopback_url(profile.device_cloud.url) and not self._allow_loopback:
            # Plain HTTP to this machine is for the local stack: a deployed connector speaks HTTPS.
            raise ConnectorSetupError("insecure_url")
        return WebhookDeviceCloud(self, profile.device_cloud)

    def post(
        self, profile: DeviceCloud, request: CloudRequest, timeout_seconds: float, *, read_body: bool
    ) -> Answer:
        """POST one request, signed, within `timeout_seconds` all told; the cloud's 2xx answer (its body
        read when `read_body` says so). Raises DeviceCloudRefusedError or DeviceCloudUnavailableError for
        any other status."""
        body = json.dumps(request_body(request), separators=(",", ":")).encode("utf-8")
        message_id = delivery_id(request)
        timestamp = int(self._clock())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self._signature(request.connector_id, profile, message_id, timestamp, body),
        }
        answer = self._exchanges.post(
            profile.url, body, headers, timeout_seconds=timeout_seconds, read_body=read_body
        )
        if 400 <= answer.status < 500:
            raise DeviceCloudRefusedError(answer.status)
        if not 200 <= answer.status < 300:
            raise DeviceCloudUnavailableError(f"status_{answer.status // 100}xx")
        return answer

    def _signature(
        self, connector_id: str, profile: DeviceCloud, message_id: str, timestamp: int, body: bytes
    ) -> str:
        """Signed with every value of the secret (several during a rotation, any of which the cloud may
        check)."""
        values = self._secrets.secret_values(connector_id, profile.secret)
        keys = [part for value in values or () for part in value.split() if part.startswith(SECRET_PREFIX)]
        if not keys:
            raise ConnectorSetupError("unusable_outbound_secret")
        try:
            return " ".join(sign(key, message_id, timestamp, body) for key in keys)
        except SecretFormatError:
            raise ConnectorSetupError("unusable_outbound_secret") from None


class SecretsManagerAuthorizations(CachedByName[str]):
    """General Authorization secrets, by the ARN (and version) managed integrations names. A connector whose
    profile has `generalAuthorization` reads only the secrets its ARN patterns allow (the function's IAM
    policy, AuthorizationSecretArnPattern, bounds them too); any other only under the prefix the function may
    read and, within it, under the connector's own `<prefix><connector id>/`: one connector's invocation
    never reads another's secret. A name not allowed is refused before anything is read. Cached with a
    bounded age."""

    def __init__(
        self,
        client: Any,
        *,
        scopes: Callable[[str], GeneralAuthorizationScope | None] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(client, **options)
        # The connector's `generalAuthorization` (its profile's), None for the prefix rule.
        self._scopes = scopes

    def secret_for(self, connector_id: str, arn: str, version_id: str | None) -> str:
        scope = self._scopes(connector_id) if self._scopes is not None else None
        if scope is not None:
            if not scope.allows(arn):
                raise UnusableCredentialError("not_allowed")
        else:
            name = arn.split(":secret:", 1)[-1]
            if not name.startswith(self._prefix):
                raise UnusableCredentialError("outside_prefix")
            # The "/" ends the connector id: connector "lumen" may not read "lumen-home"'s secrets.
            if not name.startswith(f"{self._prefix}{connector_id}/"):
                raise UnusableCredentialError("other_connector")
        key = f"{arn}\x00{version_id or ''}"
        cached, value = self._cache.get(key)
        if cached and value is not None:
            return value
        self._lookups.take()
        value = self._fetch(arn, version_id)
        self._cache.put(key, value, self._max_age)
        return value

    def _fetch(self, arn: str, version_id: str | None) -> str:
        request = {"SecretId": arn, **({"VersionId": version_id} if version_id else {})}
        response = read_secret(
            self._client,
            purpose="authorization",
            dependency="authorizations",
            unusable=UNREADABLE_SECRET_CODES,
            **request,
        )
        if response is None:
            raise UnusableCredentialError("unreadable")
        secret = response.get("SecretString")
        if not isinstance(secret, str) or not secret:
            raise UnusableCredentialError("not_text")
        return secret
