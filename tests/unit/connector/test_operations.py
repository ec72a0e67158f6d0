"""Managed integrations' four operations, answered by the connector's domain over in-memory ports.

The fakes behave like the adapters: the device cloud records each request and fails as the webhook
adapter does (refused, unavailable, timing out, not set up), the correlation table keeps entries with
their statuses and leases, the user table keeps each user's status, and General Authorization secrets are
read by ARN and version.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from fakes.connector import (
    CONNECTOR,
    SECRET_ARN,
    ConnectorFakes,
    FakeDeviceCloud,
    InMemoryAuthorizations,
    jwt,
)
from iot_standin.caller import envelope, general_authorization, matter_command, oauth
from iotbridge.connector.domain.invocations import (
    ANSWER_MARGIN_SECONDS,
    MIN_CLOUD_SECONDS,
    ConnectorOperations,
    Deadlines,
    InvocationOutcome,
    claim_of,
)
from iotbridge.connector.domain.requests import (
    ACTIVATE_USER,
    DEACTIVATE_USER,
    DISCOVER_DEVICES,
    SEND_COMMAND,
    parse_invocation,
)
from iotbridge.connector.ports import (
    ConnectorSetupError,
    Credential,
    DeviceCloudRefusedError,
    DeviceCloudUnavailableError,
)
from iotbridge.correlation.model import COMMAND, DISCOVERY, PendingRequest, Status
from iotbridge.errors import DependencyUnavailableError

USER = "lumen-acct-2291"
TOKEN = jwt({"sub": USER, "iss": "https://auth.lumen-home.example"})
OPAQUE_TOKEN = "lumen-opaque-token-77"
SERVICE_KEY = "lumen-service-key-2291"
DISCOVERY_ID = "8f3a9c2e71d54b0c"
TRACE_ID = "9b75f3839b6140f=_1"
DEVICE = "lmn-bulb-0042"


class Seconds:
    """A budget with a fixed time left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def remaining_seconds(self) -> float:
        return self.seconds


PLENTY = Seconds(1.5)


@pytest.fixture
def fakes() -> ConnectorFakes:
    cloud = FakeDeviceCloud(users={OPAQUE_TOKEN: USER, SERVICE_KEY: USER, TOKEN: USER})
    return ConnectorFakes(
        cloud=cloud,
        authorizations=InMemoryAuthorizations(
            {(SECRET_ARN, "v-1"): SERVICE_KEY, (SECRET_ARN, None): SERVICE_KEY}
        ),
    )


@pytest.fixture
def operations(fakes: ConnectorFakes) -> ConnectorOperations:
    return fakes.operations()


def invoke(
    operations: ConnectorOperations,
    operation: str,
    auth: dict[str, Any] | None = None,
    budget: Any = PLENTY,
    **members: Any,
) -> InvocationOutcome:
    event = envelope(operation, members.pop("connector", CONNECTOR), auth or oauth(TOKEN), **members)
    return operations.handle(parse_invocation(event), budget)


def discover(operations: ConnectorOperations, **options: Any) -> InvocationOutcome:
    return invoke(operations, DISCOVER_DEVICES, **{"deviceDiscoveryId": DISCOVERY_ID, **options})


def send_off(operations: ConnectorOperations, **options: Any) -> InvocationOutcome:
    members = {
        "traceId": TRACE_ID,
        "connectorDeviceId": DEVICE,
        "endpoints": matter_command("1", "0x0006", "0x00"),
        **options,
    }
    return invoke(operations, SEND_COMMAND, **members)


def measured(outcome: InvocationOutcome) -> dict[str, float]:
    return {m.name: m.value for m in outcome.all_measurements()}


# --- AWS.ActivateUser -----------------------------------------------------------------------------------


def test_activate_user_takes_the_user_id_from_the_profiles_claim_without_asking_the_cloud(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    # GIVEN a device cloud whose tokens are JWTs with the user id in `sub`
    fakes.cloud.user_id_claim = "sub"

    # WHEN the user is activated with such a token
    outcome = invoke(operations, ACTIVATE_USER)

    # THEN the answer is the claim, the cloud was not asked, and the user is recorded active
    assert outcome.response() == {
        "header": {"responseCode": 200},
        "payload": {"responseMessage": "The user is activated.", "userId": USER},
    }
    assert fakes.cloud.requests == []
    assert fakes.users.status == {(CONNECTOR, USER): True}
    assert measured(outcome) == {"UsersActivated": 1}


def test_activate_user_asks_the_cloud_when_the_profile_names_no_claim(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    outcome = invoke(operations, ACTIVATE_USER, oauth(OPAQUE_TOKEN))

    assert outcome.response()["payload"]["userId"] == USER
    [asked] = fakes.cloud.requests
    assert asked.operation == "activateUser"
    assert asked.connector_id == CONNECTOR
    assert asked.credential == Credential("OAuth2.0", OPAQUE_TOKEN)
    assert asked.payload == {
        "operationName": ACTIVATE_USER,
        "operationVersion": "1.0.0",
        "connectorId": CONNECTOR,
    }
    assert fakes.users.status == {(CONNECTOR, USER): True}


@pytest.mark.parametrize(
    "token",
    [OPAQUE_TOKEN, jwt({"iss": "no-sub"}), jwt({"sub": ""}), jwt({"sub": True}), "a.!!!.c", "a.b.c.d"],
    ids=["opaque", "no-claim", "empty-claim", "boolean-claim", "undecodable", "four-parts"],
)
def test_activate_user_asks_the_cloud_when_the_token_has_no_usable_claim(
    fakes: ConnectorFakes, operations: ConnectorOperations, token: str
) -> None:
    fakes.cloud.user_id_claim = "sub"
    fakes.cloud.users[token] = "from-the-cloud"

    outcome = invoke(operations, ACTIVATE_USER, oauth(token))

    assert outcome.code == 200
    assert outcome.response()["payload"]["userId"] == "from-the-cloud"
    assert len(fakes.cloud.asked("activateUser")) == 1


def test_a_numeric_claim_is_the_user_id_as_text() -> None:
    assert claim_of(jwt({"uid": 123456}), "uid") == "123456"
    assert claim_of(jwt({"uid": 1.5}), "uid") is None
    assert claim_of(jwt({"uid": ["x"]}), "uid") is None


def test_activate_user_with_general_authorization_reads_the_named_secret_and_hands_it_to_the_cloud(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    # GIVEN a claim configured, and a General Authorization secret that is itself a JWT (a service account's)
    fakes.cloud.user_id_claim = "sub"
    secret = jwt({"sub": "service-account-1"})
    fakes.authorizations.secrets[(SECRET_ARN, "v-1")] = secret
    fakes.cloud.users[secret] = USER

    # WHEN the user is activated with it
    outcome = invoke(operations, ACTIVATE_USER, general_authorization(SECRET_ARN, "v-1"))

    # THEN the secret is no user token: the cloud is asked, with the secret, and its answer is the user
    assert outcome.response()["payload"]["userId"] == USER
    assert fakes.authorizations.reads == [(SECRET_ARN, "v-1")]
    [asked] = fakes.cloud.requests
    assert asked.credential == Credential("GeneralAuthorization", secret)
    assert asked.credential.as_wire() == {"type": "GeneralAuthorization", "secret": secret}


def test_general_authorization_without_a_version_reads_the_current_one(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    outcome = invoke(operations, ACTIVATE_USER, general_authorization(SECRET_ARN))

    assert outcome.code == 200
    assert fakes.authorizations.reads == [(SECRET_ARN, None)]


@pytest.mark.parametrize(
    ("arn", "version", "reason"),
    [
        (SECRET_ARN, "v-missing", "credential_unreadable"),
        (SECRET_ARN.replace("iot-bridge/authorization/", "someone-else/"), None, "credential_outside_prefix"),
    ],
)
def test_an_unusable_general_authorization_secret_is_a_401_and_the_cloud_is_not_asked(
    fakes: ConnectorFakes, operations: ConnectorOperations, arn: str, version: str | None, reason: str
) -> None:
    outcome = invoke(operations, ACTIVATE_USER, general_authorization(arn, version))

    assert (outcome.code, outcome.reason) == (401, reason)
    assert outcome.response() == {
        "header": {"responseCode": 401},
        "payload": {"responseMessage": "The authorization's secret cannot be used."},
    }
    assert fakes.cloud.requests == []
    assert fakes.users.status == {}
    assert measured(outcome) == {"InvocationsFailed": 1, f"Failed_{reason}": 1}


def test_another_connector_s_general_authorization_secret_is_a_401_and_never_reaches_this_cloud(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    # GIVEN a secret of another connector, under the authorization prefix
    other = SECRET_ARN.replace(f"/{CONNECTOR}/", "/aerie-sensors/")
    fakes.authorizations.secrets[(other, None)] = "aerie-sensors-service-key"

    # WHEN this connector's invocation names it
    outcome = invoke(operations, DISCOVER_DEVICES, general_authorization(other), deviceDiscoveryId="d1")

    # THEN it is refused as a credential this connector may not use, and its device cloud is not asked
    assert (outcome.code, outcome.reason) == (401, "credential_other_connector")
    assert fakes.cloud.requests == []
    assert fakes.pending.entries == {}


def test_an_empty_general_authorization_secret_is_unusable(fakes: ConnectorFakes) -> None:
    fakes.authorizations.secrets[(SECRET_ARN, "v-2")] = ""

    outcome = discover(fakes.operations(), auth=general_authorization(SECRET_ARN, "v-2"))

    assert (outcome.code, outcome.reason) == (401, "credential_not_text")
    assert fakes.pending.entries == {}


def test_secrets_manager_unavailable_is_a_503_to_retry(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    fakes.authorizations.failure = DependencyUnavailableError("authorizations")

    outcome = invoke(operations, ACTIVATE_USER, general_authorization(SECRET_ARN, "v-1"))

    assert (outcome.code, outcome.reason) == (503, "unavailable_authorizations")
    assert outcome.message == "A service the connector needs is unavailable; retry."


@pytest.mark.parametrize(
    ("answered", "reason"),
    [(None, "no_user_id"), ("u" * 65, "unusable_user_id"), ("!!!", "unusable_user_id")],
)
def test_a_user_id_the_cloud_cannot_give_is_a_502_and_nobody_is_recorded(
    fakes: ConnectorFakes, operations: ConnectorOperations, answered: str | None, reason: str
) -> None:
    fakes.cloud.users = {OPAQUE_TOKEN: answered} if answered is not None else {}

    outcome = invoke(operations, ACTIVATE_USER, oauth(OPAQUE_TOKEN))

    assert (outcome.code, outcome.reason) == (502, reason)
    assert "userId" not in outcome.response()["payload"]
    assert fakes.users.status == {}


def test_a_user_table_that_is_unavailable_is_a_503(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    fakes.users.failure = DependencyUnavailableError("users")

    outcome = invoke(operations, ACTIVATE_USER, oauth(OPAQUE_TOKEN))

    assert (outcome.code, outcome.reason) == (503, "unavailable_users")
    assert "userId" not in outcome.response()["payload"]


# --- AWS.DiscoverDevices and AWS.SendCommand: record, hand over, acknowledge ---------------------------


def test_discover_devices_records_the_request_hands_it_over_and_acknowledges(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    fakes.cloud.user_id_claim = "sub"

    outcome = discover(operations)

    # Acknowledged at once; the devices come later, through the relay
    assert outcome.response() == {
        "header": {"responseCode": 200},
        "payload": {"responseMessage": "Handed to the device cloud; its answer follows asynchronously."},
    }
    assert (outcome.operation, outcome.connector_id, outcome.request_id) == (
        DISCOVER_DEVICES,
        CONNECTOR,
        DISCOVERY_ID,
    )
    # Recorded first, handed over, then marked so
    assert fakes.pending.calls == ["begin", "handed_over"]
    entry = fakes.pending.entry_of(DISCOVERY_ID)
    assert entry == PendingRequest(
        DISCOVERY,
        CONNECTOR,
        DISCOVERY_ID,
        USER,
        fakes.clock.now,
        fakes.clock.now + Deadlines().discovery_seconds,
    )
    assert fakes.pending.status_of(DISCOVERY_ID) is Status.PENDING
    [asked] = fakes.cloud.requests
    assert (asked.operation, asked.request_id, asked.user_id) == ("discoverDevices", DISCOVERY_ID, USER)
    assert asked.payload["deviceDiscoveryId"] == DISCOVERY_ID
    assert measured(outcome) == {"DiscoveriesRequested": 1}


def test_send_command_hands_the_matter_command_over_named_from_the_catalogue(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    outcome = send_off(operations)

    assert outcome.code == 200
    [asked] = fakes.cloud.requests
    assert (asked.operation, asked.request_id, asked.connector_device_id) == ("sendCommand", TRACE_ID, DEVICE)
    assert [c.as_wire() for c in asked.commands] == [
        {"endpoint": "1", "clusterId": "0x0006", "commandId": "0x00", "name": "OnOff.Off", "fields": {}}
    ]
    entry = fakes.pending.entry_of(TRACE_ID)
    assert entry is not None
    assert (entry.kind, entry.deadline - entry.requested_at) == (COMMAND, Deadlines().command_seconds)
    # No claim configured: the record names no user (the cloud's answer does)
    assert entry.user_id is None
    assert measured(outcome) == {"CommandsRequested": 1}


def test_a_command_outside_the_catalogue_is_handed_over_by_its_ids(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    endpoints = [
        {
            "id": "1",
            "clusters": [{"id": "0xFFF1", "commands": {"7": {"0": 3}}}, {"id": "zz", "commands": {"1": {}}}],
        }
    ]

    outcome = send_off(operations, endpoints=endpoints)

    assert outcome.code == 200
    [asked] = fakes.cloud.requests
    assert [(c.cluster_id, c.command_id, c.name, c.fields) for c in asked.commands] == [
        ("0xFFF1", "7", None, {"0": 3}),
        ("zz", "1", None, {}),
    ]


@pytest.mark.parametrize("retry", [discover, send_off], ids=["discovery", "command"])
def test_a_retried_invocation_reaches_the_device_cloud_once(
    fakes: ConnectorFakes, operations: ConnectorOperations, retry: Any
) -> None:
    first = retry(operations)

    again = [retry(operations) for _ in range(5)]

    assert first.code == 200 and all(o.response() == first.response() for o in again)
    assert len(fakes.cloud.requests) == 1
    assert {o.reason for o in again} == {"handed_over_before"}
    # Counted once: the retries asked for nothing new
    assert all(measured(o) == {} for o in again)


def test_a_request_answered_before_its_retry_is_still_acknowledged_without_asking(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    discover(operations)
    entry = fakes.pending.entry_of(DISCOVERY_ID)
    assert entry is not None
    fakes.pending.answer(entry)

    outcome = discover(operations)

    assert (outcome.code, outcome.reason) == (200, "handed_over_before")
    assert len(fakes.cloud.requests) == 1
    assert fakes.pending.status_of(DISCOVERY_ID) is Status.ANSWERED


def test_the_same_id_of_another_connector_or_kind_is_another_request(fakes: ConnectorFakes) -> None:
    other = FakeDeviceCloud()
    fakes.clouds.clouds["aerie-sensors"] = other
    operations = fakes.operations()
    shared_id = "abc123"

    discover(operations, deviceDiscoveryId=shared_id)
    discover(operations, deviceDiscoveryId=shared_id, connector="aerie-sensors")
    send_off(operations, traceId=shared_id)

    assert [r.operation for r in fakes.cloud.requests] == ["discoverDevices", "sendCommand"]
    assert [r.operation for r in other.requests] == ["discoverDevices"]
    assert len(fakes.pending.entries) == 3


def test_a_request_another_invocation_is_handing_over_answers_503_until_its_lease_ends(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    # GIVEN another invocation recorded the command a second ago and is still handing it over
    now = fakes.clock.now
    fakes.pending.begin(PendingRequest(COMMAND, CONNECTOR, TRACE_ID, None, now, now + 60), lease_seconds=1.5)

    # WHEN the retry comes meanwhile
    busy = send_off(operations)

    # THEN it is told to retry, and the cloud is not asked
    assert busy.response() == {
        "header": {"responseCode": 503},
        "payload": {"responseMessage": "This request is being handed to the device cloud; retry."},
    }
    assert busy.reason == "in_progress"
    assert fakes.cloud.requests == []
    # AND once that invocation's lease is over, a retry takes the request over
    fakes.clock.advance(2.0)
    taken = send_off(operations)
    assert taken.code == 200
    assert len(fakes.cloud.requests) == 1
    assert fakes.pending.status_of(TRACE_ID) is Status.PENDING


def test_a_first_invocation_that_fails_after_a_retry_took_its_lease_over_leaves_the_retry_s_entry(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    # GIVEN a first invocation whose device cloud call outlasts its lease, and a retry that takes the
    # request over meanwhile and is still handing it over when the first call fails
    arrived, go_on = threading.Event(), threading.Event()
    retry: list[InvocationOutcome] = []
    worker = threading.Thread(target=lambda: retry.append(send_off(operations)))

    def interleave(_: Any) -> None:
        if len(fakes.cloud.requests) == 1:  # the first invocation's call
            fakes.clock.advance(5.0)  # its lease (1.5 s) is over
            worker.start()
            assert arrived.wait(10)
        else:  # the retry's call, held until the first has failed
            arrived.set()
            assert go_on.wait(10)

    fakes.cloud.on_request = interleave
    fakes.cloud.failures.append(DeviceCloudUnavailableError("timeout"))

    # WHEN the first call fails (and releases what it holds), then the retry's call succeeds
    try:
        first = send_off(operations)
    finally:
        go_on.set()
        worker.join(10)

    # THEN the retry's entry survived the first's release: a third try is acknowledged without asking
    assert (first.code, [o.code for o in retry]) == (504, [200])
    assert fakes.pending.status_of(TRACE_ID) is Status.PENDING
    third = send_off(operations)
    assert third.reason == "handed_over_before"
    assert len(fakes.cloud.requests) == 2


def test_a_retry_that_overlaps_the_first_invocation_does_not_ask_the_cloud_again(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    # GIVEN a first invocation held inside its call to the device cloud
    arrived, go_on = threading.Event(), threading.Event()

    def hold(_: Any) -> None:
        arrived.set()
        assert go_on.wait(10)

    fakes.cloud.on_request = hold
    first: list[InvocationOutcome] = []
    worker = threading.Thread(target=lambda: first.append(send_off(operations)))
    worker.start()
    assert arrived.wait(10)

    # WHEN the retry comes meanwhile, then the first call returns
    try:
        retry = send_off(operations)
    finally:
        go_on.set()
        worker.join(10)

    # THEN the retry was told to retry later, the first acknowledged, and the cloud asked once
    assert (retry.code, retry.reason) == (503, "in_progress")
    assert [o.code for o in first] == [200]
    assert len(fakes.cloud.requests) == 1
    assert send_off(operations).reason == "handed_over_before"


def test_a_request_past_its_retention_is_recorded_anew(fakes: ConnectorFakes) -> None:
    operations = fakes.operations()
    discover(operations)

    fakes.clock.advance(Deadlines().discovery_seconds + 8 * 86400)
    outcome = discover(operations)

    assert (outcome.code, outcome.reason) == (200, "ok")
    assert len(fakes.cloud.requests) == 2


# --- The device cloud failing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code", "reason", "message"),
    [
        (
            DeviceCloudRefusedError(403),
            403,
            "device_cloud_refused",
            "The device cloud refused the request (403).",
        ),
        (
            DeviceCloudRefusedError(404),
            404,
            "device_cloud_refused",
            "The device cloud refused the request (404).",
        ),
        (
            DeviceCloudRefusedError(302),
            400,
            "device_cloud_refused",
            "The device cloud refused the request (302).",
        ),
        # "Not now" from the cloud: a 5xx, which managed integrations retries
        (DeviceCloudRefusedError(429), 503, "device_cloud_status_429", "could not take the request; retry."),
        (DeviceCloudRefusedError(408), 503, "device_cloud_status_408", "could not take the request; retry."),
        (
            DeviceCloudUnavailableError("timeout"),
            504,
            "device_cloud_timeout",
            "could not take the request; retry.",
        ),
        (DeviceCloudUnavailableError("unreachable"), 504, "device_cloud_unreachable", "retry."),
        (DeviceCloudUnavailableError("status_5xx"), 502, "device_cloud_status_5xx", "retry."),
        (DeviceCloudUnavailableError("unreadable_answer"), 502, "device_cloud_unreadable_answer", "retry."),
        (
            ConnectorSetupError("unusable_outbound_secret"),
            500,
            "setup_unusable_outbound_secret",
            "not set up",
        ),
    ],
)
@pytest.mark.parametrize("operation", [discover, send_off], ids=["discovery", "command"])
def test_a_failed_hand_over_is_answered_and_released_so_that_a_retry_asks_again(
    fakes: ConnectorFakes,
    operations: ConnectorOperations,
    operation: Any,
    error: Exception,
    code: int,
    reason: str,
    message: str,
) -> None:
    # GIVEN a device cloud that fails the first request
    fakes.cloud.failures.append(error)

    # WHEN managed integrations invokes, then retries
    failed = operation(operations)
    assert fakes.pending.entries == {}
    retried = operation(operations)

    # THEN the failure is an answer saying what happened, and the retry asked the cloud again
    assert (failed.code, failed.reason) == (code, reason)
    assert message in failed.message
    assert "userId" not in failed.response()["payload"]
    assert measured(failed) == {"InvocationsFailed": 1, f"Failed_{reason}": 1}
    assert retried.code == 200
    assert len(fakes.cloud.requests) == 2
    assert fakes.pending.calls == ["begin", "release", "begin", "handed_over"]


def test_a_device_cloud_slower_than_its_timeout_is_a_504_and_the_request_is_released(
    fakes: ConnectorFakes,
) -> None:
    fakes.cloud.latency = 5.0
    operations = fakes.operations(device_cloud_seconds=1.0)

    outcome = send_off(operations)

    assert (outcome.code, outcome.reason) == (504, "device_cloud_timeout")
    assert fakes.cloud.timeouts == [1.0]
    assert fakes.pending.entries == {}


def test_the_device_cloud_gets_what_is_left_of_the_callers_wait_less_the_margin(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    discover(operations, budget=Seconds(0.8))
    send_off(operations, budget=Seconds(5.0))

    assert fakes.cloud.timeouts == [pytest.approx(0.8 - ANSWER_MARGIN_SECONDS), 1.0]


@pytest.mark.parametrize(
    "operation",
    [
        discover,
        send_off,
        lambda ops, **o: invoke(ops, ACTIVATE_USER, oauth(OPAQUE_TOKEN), **o),
        lambda ops, **o: invoke(ops, DEACTIVATE_USER, oauth(OPAQUE_TOKEN), **o),
    ],
    ids=["discovery", "command", "activate", "deactivate"],
)
def test_with_too_little_time_left_the_device_cloud_is_not_asked(
    fakes: ConnectorFakes, operations: ConnectorOperations, operation: Any
) -> None:
    outcome = operation(operations, budget=Seconds(ANSWER_MARGIN_SECONDS + MIN_CLOUD_SECONDS / 2))

    assert (outcome.code, outcome.reason) == (504, "device_cloud_no_time_left")
    assert fakes.cloud.requests == []
    assert fakes.pending.entries == {}
    assert fakes.users.status == {}


def test_a_connector_without_a_device_cloud_is_a_404_and_nothing_is_recorded(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    outcome = discover(operations, connector="no-such-connector")

    assert outcome.response() == {
        "header": {"responseCode": 404},
        "payload": {"responseMessage": "The connector has no device cloud set up."},
    }
    assert fakes.pending.entries == {}


@pytest.mark.parametrize("reason", ["insecure_url", "unusable_profile"])
def test_a_connector_whose_device_cloud_is_not_set_up_is_a_500_naming_the_setup(
    fakes: ConnectorFakes, operations: ConnectorOperations, reason: str
) -> None:
    fakes.clouds.failure = ConnectorSetupError(reason)

    outcome = send_off(operations)

    assert (outcome.code, outcome.reason) == (500, f"setup_{reason}")
    assert outcome.message == "The connector's device cloud is not set up to be asked."
    assert fakes.pending.entries == {}


def test_profiles_unavailable_is_a_503(fakes: ConnectorFakes, operations: ConnectorOperations) -> None:
    fakes.clouds.failure = DependencyUnavailableError("profiles")

    assert (invoke(operations, ACTIVATE_USER).code, discover(operations).reason) == (
        503,
        "unavailable_profiles",
    )


def test_a_correlation_table_that_cannot_record_is_a_503_and_the_cloud_is_not_asked(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    fakes.pending.failures["begin"] = DependencyUnavailableError("correlation")

    outcome = discover(operations)

    assert (outcome.code, outcome.reason) == (503, "unavailable_correlation")
    assert fakes.cloud.requests == []


def test_a_hand_over_that_cannot_be_marked_is_still_acknowledged(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    # The cloud has the request: failing now would only make it ask again
    fakes.pending.failures["handed_over"] = DependencyUnavailableError("correlation")

    outcome = discover(operations)

    assert (outcome.code, outcome.reason) == (200, "ok")
    assert measured(outcome) == {"DiscoveriesRequested": 1}
    # The record stays "being handed over" until its lease ends
    assert fakes.pending.status_of(DISCOVERY_ID) is Status.DISPATCHING


def test_a_release_that_fails_leaves_the_cloud_failure_as_the_answer(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    fakes.cloud.failures.append(DeviceCloudUnavailableError("timeout"))
    fakes.pending.failures["release"] = DependencyUnavailableError("correlation")

    outcome = send_off(operations)

    assert (outcome.code, outcome.reason) == (504, "device_cloud_timeout")
    # The record's lease ends, then a retry takes it over
    fakes.clock.advance(2.0)
    assert send_off(operations).code == 200
    assert len(fakes.cloud.requests) == 2


def test_an_unexpected_error_of_the_cloud_still_releases_the_request(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    fakes.cloud.failures.append(RuntimeError("a bug in a team's adapter"))

    with pytest.raises(RuntimeError):
        send_off(operations)

    assert fakes.pending.entries == {}


# --- AWS.DeactivateUser ---------------------------------------------------------------------------------


def test_deactivate_user_revokes_through_the_cloud_and_records_the_user_inactive(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    invoke(operations, ACTIVATE_USER, oauth(OPAQUE_TOKEN))

    outcome = invoke(operations, DEACTIVATE_USER, oauth(OPAQUE_TOKEN))

    assert outcome.response() == {
        "header": {"responseCode": 200},
        "payload": {"responseMessage": "The user is deactivated."},
    }
    [revoked] = fakes.cloud.asked("deactivateUser")
    assert revoked.credential == Credential("OAuth2.0", OPAQUE_TOKEN)
    assert fakes.users.status == {(CONNECTOR, USER): False}
    assert fakes.users.is_deactivated(CONNECTOR, USER)
    assert measured(outcome) == {"UsersDeactivated": 1}


def test_deactivate_user_tells_the_cloud_the_claimed_user(fakes: ConnectorFakes) -> None:
    fakes.cloud.user_id_claim = "sub"
    fakes.cloud.users = {}  # the cloud names nobody: the claim is the user

    outcome = invoke(fakes.operations(), DEACTIVATE_USER)

    assert outcome.code == 200
    [revoked] = fakes.cloud.requests
    assert revoked.user_id == USER
    assert fakes.users.status == {(CONNECTOR, USER): False}


def test_a_refused_deactivation_leaves_the_user_active(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    invoke(operations, ACTIVATE_USER, oauth(OPAQUE_TOKEN))
    fakes.cloud.failures.append(DeviceCloudRefusedError(401))

    outcome = invoke(operations, DEACTIVATE_USER, oauth(OPAQUE_TOKEN))

    assert (outcome.code, outcome.reason) == (401, "device_cloud_refused")
    assert fakes.users.status == {(CONNECTOR, USER): True}


def test_a_deactivation_naming_no_user_is_a_502(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    fakes.cloud.users = {}

    outcome = invoke(operations, DEACTIVATE_USER, oauth(OPAQUE_TOKEN))

    assert (outcome.code, outcome.reason) == (502, "no_user_id")
    assert fakes.users.status == {}


def test_deactivate_user_with_general_authorization_hands_the_secret_over(
    fakes: ConnectorFakes, operations: ConnectorOperations
) -> None:
    outcome = invoke(operations, DEACTIVATE_USER, general_authorization(SECRET_ARN, "v-1"))

    assert outcome.code == 200
    [revoked] = fakes.cloud.requests
    assert revoked.credential == Credential("GeneralAuthorization", SERVICE_KEY)


# --- The scheduled sweep ----------------------------------------------------------------------------------


def test_the_sweep_counts_each_request_never_answered_once(fakes: ConnectorFakes) -> None:
    # GIVEN a discovery and two commands past their deadline, one of the commands answered
    operations = fakes.operations()
    discover(operations)
    send_off(operations)
    send_off(operations, traceId="answered=_1")
    answered = fakes.pending.entry_of("answered=_1")
    assert answered is not None
    fakes.pending.answer(answered)
    fakes.clock.advance(Deadlines().command_seconds + 1)

    # WHEN the sweep runs twice
    first = operations.sweep(PLENTY)
    second = operations.sweep(PLENTY)

    # THEN the unanswered command is counted by the first sweep only
    assert first.code == 200
    assert first.message == "Expired unanswered: 0 discovery, 1 command."
    assert measured(first) == {"DiscoveriesNeverAnswered": 0, "CommandsNeverAnswered": 1}
    assert measured(second) == {"DiscoveriesNeverAnswered": 0, "CommandsNeverAnswered": 0}


def test_a_sweep_whose_table_is_unavailable_is_a_503(fakes: ConnectorFakes) -> None:
    fakes.pending.failures["expire_overdue"] = DependencyUnavailableError("correlation")

    outcome = fakes.operations().sweep(PLENTY)

    assert (outcome.code, outcome.reason) == (503, "unavailable_correlation")
