"""A real device cloud's connector on the local stack, as its tests drive it: its webhooks posted over HTTP to
the local endpoint, what reached the IoT stand-in's SendConnectorEvent (and botocore's verdict on it), a
connector of the test's own (a variant of the cloud's profile, with its secrets), the receiver's metrics, and
a device cloud on loopback that takes the connector function's requests and answers each with what the real
cloud's API answers (a Nuki lock action's `requestId`, a SwitchBot Keypad command's `commandId`)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.validate import ParamValidator
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bridge_local import resources
from bridge_local.connector_walk import emitted_metrics
from bridge_local.sam_template import LocalResolver
from bridge_local.signing import Reply, post
from bridge_local.stack import LocalStack
from iot_standin.testing import Standin
from loopback import LoopbackHandler, LoopbackServer

# Every wait polls for its condition up to this long: generous, for a busy machine.
CEILING_SECONDS = 30.0
# How long a test waits for what must not come (an event queued from a refused delivery).
QUIET_SECONDS = 2.0
REQUESTS_PATH = "/aws-iot/requests"


def eventually[T](probe: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """Poll `probe` until `done` holds of its value (or fail after the ceiling, saying what was awaited)."""
    deadline = time.monotonic() + CEILING_SECONDS
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {CEILING_SECONDS:.0f} s for {what}; last: {value!r}")
        time.sleep(0.1)


def botocore_problems(params: Mapping[str, Any]) -> str:
    """What botocore's own validator finds wrong with SendConnectorEvent's parameters ("" when nothing)."""
    model = botocore.session.get_session().get_service_model("iot-managed-integrations")
    shape = model.operation_model("SendConnectorEvent").input_shape
    report = ParamValidator().validate(dict(params), shape)
    return report.generate_report() if report.has_errors() else ""


@dataclass
class RelayOnStack:
    """The running local stack, seen from a device cloud: where it posts, and what came out at the end."""

    stack: LocalStack
    standin: Standin = field(init=False)

    def __post_init__(self) -> None:
        self.standin = Standin(self.stack.processes["iot"])

    # --- the webhook endpoint -------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        assert self.stack.api is not None, "the stack serves its HTTP API"
        return self.stack.api.url

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        """POST `body` to the stack's HTTP API at `path` (e.g. /connectors/nuki/events)."""
        return post(self.api_url + path, body, dict(headers))

    # --- SendConnectorEvent, at the stand-in --------------------------------------------------------------

    def events(self, connector_id: str) -> list[dict[str, Any]]:
        """The bodies SendConnectorEvent accepted for the connector, oldest first."""
        return [record["body"] for record in self.standin.connector_events(connector_id)]

    def await_events(self, connector_id: str, count: int) -> list[dict[str, Any]]:
        """The connector's first `count` events (or more), once that many have arrived."""
        return eventually(
            lambda: self.events(connector_id), lambda found: len(found) >= count, f"{count} events"
        )

    def await_event(self, connector_id: str, **members: Any) -> dict[str, Any]:
        """The connector's first event whose members have these values, once it has arrived."""

        def matching() -> list[dict[str, Any]]:
            return [e for e in self.events(connector_id) if all(e.get(k) == v for k, v in members.items())]

        return eventually(matching, bool, f"an event with {members}")[0]

    def quiet_events(self, connector_id: str) -> list[dict[str, Any]]:
        """The connector's events after a wait long enough for anything queued to have arrived."""
        time.sleep(QUIET_SECONDS)
        return self.events(connector_id)

    # --- a connector of the test's own ---------------------------------------------------------------

    def add_connector(
        self,
        connector_id: str,
        profile: Mapping[str, Any],
        *,
        secret: str | None,
        outbound_secret: str | None = None,
    ) -> None:
        """A connector with this profile in SSM and its secrets in Secrets Manager, as a deployment stores
        them: the inbound one the relay verifies with, and the whsec_ one the connector function signs its
        requests to the device cloud with."""
        resolver = LocalResolver(self.stack.spec, parameter_overrides=self.stack.config.parameter_overrides)
        resources.create_profile(
            self.stack.client("ssm"),
            prefix=self.stack.receiver_setting("PROFILE_PARAMETER_PREFIX", resolver),
            connector_id=connector_id,
            profile=json.dumps(profile, separators=(",", ":")),
        )
        secrets = self.stack.client("secretsmanager")
        if secret is not None:
            resources.create_signing_secret(
                secrets,
                prefix=self.stack.signing_secret_prefix(resolver),
                connector_id=connector_id,
                secret=secret,
            )
        if outbound_secret is not None:
            resources.create_signing_secret(
                secrets,
                prefix=self.stack.receiver_setting("DEVICE_CLOUD_SECRET_PREFIX", resolver),
                connector_id=connector_id,
                secret=outbound_secret,
            )

    # --- the receiver's metrics ----------------------------------------------------------------------

    def receiver_metrics(self) -> Counter[str]:
        """Every metric the webhook receiver has written to its log so far."""
        name = next(
            n for n, spec in self.stack.spec.functions.items() if spec.handler.startswith("webhook_receiver.")
        )
        return emitted_metrics([self.stack.logs_dir / f"{name}.log"])


@dataclass
class TakenRequest:
    """One request of the connector function, as the device cloud took it."""

    type: str
    connector_id: str
    request_id: str | None
    verified: bool


class AnsweringDeviceCloud(LoopbackServer):
    """A device cloud on loopback for the connector function's requests (Standard Webhooks, checked with the
    reference library): `activateUser` is answered with `user`, `discoverDevices` with 202, and
    `sendCommand` with `command_answer`, the JSON the real cloud's API answers a command with."""

    thread_name = "answering-device-cloud"

    def __init__(self, outbound_secret: str, *, user: str, command_answer: Mapping[str, Any]) -> None:
        self.user = user
        self.command_answer = dict(command_answer)
        self.taken: list[TakenRequest] = []
        self._webhook = Webhook(outbound_secret)
        self._lock = threading.Lock()
        super().__init__(_answering_handler(self))

    @property
    def requests_url(self) -> str:
        """What a profile names as its deviceCloud.url."""
        return self.url + REQUESTS_PATH

    def answer(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            self._webhook.verify(body, dict(headers))
            request = json.loads(body)
        except (WebhookVerificationError, ValueError):
            self._take("?", {}, verified=False)
            return 401, {"message": "signature does not verify"}
        kind = str(request.get("type") or "?")
        self._take(kind, request, verified=True)
        if kind in ("activateUser", "deactivateUser"):
            return 200, {"userId": self.user}
        if kind == "sendCommand":
            return 200, self.command_answer
        return 202, {"accepted": True}

    def _take(self, kind: str, request: Mapping[str, Any], *, verified: bool) -> None:
        request_id = request.get("requestId")
        with self._lock:
            self.taken.append(
                TakenRequest(
                    type=kind,
                    connector_id=str(request.get("connectorId") or ""),
                    request_id=request_id if isinstance(request_id, str) else None,
                    verified=verified,
                )
            )


def _answering_handler(cloud: AnsweringDeviceCloud) -> type[LoopbackHandler]:
    class Handler(LoopbackHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.read_body()
            if self.path != REQUESTS_PATH:
                self.answer(404, b'{"message":"not found"}', [("Content-Type", "application/json")])
                return
            status, answer = cloud.answer(body, {k: v for k, v in self.headers.items()})
            self.answer(status, json.dumps(answer).encode(), [("Content-Type", "application/json")])

    return Handler
