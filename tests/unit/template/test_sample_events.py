"""The files in events/ work as they are with `sam local invoke -e ... --env-vars events/env.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import connector
from bridge_local.device_cloud import DEMO_CREDENTIALS, DEMO_SERVICE_KEY, DEMO_TOKEN, DEMO_USER
from bridge_local.sam_template import load
from bridge_local.samples import sample_events
from fakes.connector import ConnectorFakes, FakeDeviceCloud, InMemoryAuthorizations
from fakes.lambda_context import FakeLambdaContext
from fakes.receiver import (
    InMemoryConnectorProfiles,
    InMemoryDeduplicator,
    InMemoryEventQueue,
    InMemorySigningKeys,
)
from iot_standin.caller import envelope
from iotbridge.connector.discovery import parse_job
from iotbridge.connector.domain.requests import OPERATION_NAMES
from iotbridge.connector.edge import job_deliveries
from iotbridge.connector.settings import ConnectorSettings
from iotbridge.forwarder.settings import ForwarderSettings
from iotbridge.profile.document import parse_profile_json
from iotbridge.send_connector_event.body import wire_events
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.settings import ENDPOINT_PREFIX, Environment
from iotbridge.webhook_receiver.domain.intake import IntakeLimits, WebhookIntake
from iotbridge.webhook_receiver.edge import read_request
from iotbridge.webhook_receiver.offline import GivenPublicKeys
from iotbridge.webhook_receiver.settings import ReceiverSettings
from samples.device_clouds import DEMO_CLOUDS
from samples.real_clouds import REAL_CLOUDS, LocalEndpoints, local_documents
from samples.webhooks import (
    DEMO_CONNECTOR_ID,
    DEMO_MESSAGE_GROUP_KEY,
    DEMO_SECRET,
    SAMPLE_TIMESTAMP,
)

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"
ENV_VARS = json.loads((EVENTS / "env.json").read_text())
TEMPLATE = load(ROOT / "template.yaml")
# Real clouds whose deliveries are verified with the connector's secret alone (no key to fetch), and the
# sample events of every real cloud (each signed as its cloud signs, not with Standard Webhooks).
SECRET_REAL_CLOUDS = [cloud for cloud in REAL_CLOUDS if cloud.secret is not None]
REAL_CLOUD_PREFIXES = tuple(f"webhook-{cloud.connector_id}-" for cloud in REAL_CLOUDS)
# Real clouds verified with their published keys: their profiles as the local stack stores them (the keys'
# URLs at its key server), each key document given rather than fetched.
KEY_SERVER = LocalEndpoints("http://127.0.0.1:9")
KEYED_REAL_PROFILES = {
    cloud.connector_id: parse_profile_json(cloud.local_profile(KEY_SERVER))
    for cloud in REAL_CLOUDS
    if cloud.secret is None
}
PUBLISHED_KEYS = GivenPublicKeys(
    {KEY_SERVER.url(path): body for path, (_, body) in local_documents().items()}
)


def answer_for(event: dict[str, Any], tolerance: int, now: float) -> int:
    request = read_request(event)
    secrets = {DEMO_CONNECTOR_ID: DEMO_SECRET} | {cloud.connector_id: cloud.secret for cloud in DEMO_CLOUDS}
    secrets |= {cloud.connector_id: cloud.secret for cloud in SECRET_REAL_CLOUDS if cloud.secret is not None}
    profiles = {cloud.connector_id: cloud.profile() for cloud in (*DEMO_CLOUDS, *SECRET_REAL_CLOUDS)}
    intake = WebhookIntake(
        keys=InMemorySigningKeys(secrets),
        queue=InMemoryEventQueue(),
        deduplicator=InMemoryDeduplicator(),
        limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=tolerance),
        profiles=InMemoryConnectorProfiles(profiles | KEYED_REAL_PROFILES),
        public_keys=PUBLISHED_KEYS,
        clock=lambda: now,
    )
    return intake.handle(request).status


def webhook_files() -> list[Path]:
    return sorted(EVENTS.glob("webhook-*.json"))


# Whenever the user runs them: years after the fixed sample timestamp.
YEARS_LATER = SAMPLE_TIMESTAMP + 5 * 365 * 86400
EXPECTED = {
    "webhook-wrong-signature.json": 401,
    "webhook-invalid-body.json": 422,
    "webhook-lumen-home-out-of-range.json": 422,
    "webhook-aerie-sensors-unknown-sensor.json": 422,
}
# The sensors cloud signs a timestamp with its profile's five minutes of tolerance: its events must be
# re-signed (`python -m bridge_local.samples --fresh`) right before they are invoked.
TIMESTAMPED = [
    path
    for path in webhook_files()
    if path.name.startswith(("webhook-aerie-sensors-", "webhook-smartthings-", "webhook-google-nest-"))
]
# Standard Webhooks events, whose timestamp the relay's own tolerance (widened in env.json) applies to.
STANDARD = [
    path
    for path in webhook_files()
    if not path.name.startswith(("webhook-aerie-", "webhook-lumen-", *REAL_CLOUD_PREFIXES))
]


def test_sample_webhooks_are_what_the_generator_writes() -> None:
    expected = sample_events()
    on_disk = {path.name: json.loads(path.read_text()) for path in webhook_files()}
    assert on_disk == expected, (
        "events/ is stale: run `PYTHONPATH=.:layers/shared:local python -m bridge_local.samples`"
    )


def test_every_demo_cloud_payload_has_a_sample_event() -> None:
    names = {path.name for path in webhook_files()}
    for cloud in DEMO_CLOUDS:
        assert cloud.payload_names()
        for payload in cloud.payload_names():
            assert f"webhook-{cloud.connector_id}-{payload}.json" in names


@pytest.mark.parametrize("path", [p for p in webhook_files() if p not in TIMESTAMPED], ids=lambda p: p.name)
def test_sample_webhook_gets_its_status_under_the_local_env_tolerance(path: Path) -> None:
    tolerance = int(ENV_VARS["WebhookReceiverFunction"]["SIGNATURE_TOLERANCE_SECONDS"])
    event = json.loads(path.read_text())
    assert answer_for(event, tolerance, now=YEARS_LATER) == EXPECTED.get(path.name, 202)


@pytest.mark.parametrize("path", TIMESTAMPED, ids=lambda p: p.name)
def test_timestamped_profile_samples_get_their_status_once_signed_fresh(path: Path) -> None:
    tolerance = int(ENV_VARS["WebhookReceiverFunction"]["SIGNATURE_TOLERANCE_SECONDS"])
    assert answer_for(json.loads(path.read_text()), tolerance, now=YEARS_LATER) == 401
    fresh = sample_events(timestamp=YEARS_LATER)[path.name]
    assert answer_for(fresh, tolerance, now=YEARS_LATER + 10) == EXPECTED.get(path.name, 202)


@pytest.mark.parametrize("path", STANDARD, ids=lambda p: p.name)
def test_sample_webhooks_are_stale_under_the_deployed_tolerance(path: Path) -> None:
    # The widened tolerance is a setting, not a bypass: with the deployed default they are refused.
    default = int(TEMPLATE["Parameters"]["SignatureToleranceSeconds"]["Default"])
    assert answer_for(json.loads(path.read_text()), default, now=SAMPLE_TIMESTAMP + 3600) == 401


def declared_variables(function: str) -> set[str]:
    globals_env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    own = TEMPLATE["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    return set(globals_env) | set(own)


def test_env_vars_file_sets_only_variables_the_template_declares() -> None:
    # sam local invoke silently ignores any variable the template does not declare for the function.
    functions = [
        name for name, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    ]
    for name in functions:
        assert set(ENV_VARS["Parameters"]) <= declared_variables(name), name
    for name, variables in ENV_VARS.items():
        if name != "Parameters":
            assert name in functions, f"{name} is not a function of the template"
            assert set(variables) <= declared_variables(name), name


def test_forwarder_sample_records_are_queued_events() -> None:
    event = json.loads((EVENTS / "forwarder-sqs-fifo.json").read_text())
    assert len(event["Records"]) >= 2
    for record in event["Records"]:
        queued = QueuedEvent.from_message_body(record["body"])
        assert record["attributes"]["MessageGroupId"] == queued.message_group_id(
            DEMO_MESSAGE_GROUP_KEY.encode()
        )
        assert wire_events(queued.event, queued.connector_id) == [queued.event]


class RecordedEnvironment(dict[str, str]):
    """Variables, and the names a settings class asked for."""

    def __init__(self, variables: dict[str, str]) -> None:
        super().__init__(variables)
        self.read: set[str] = set()

    def get(self, name: str, default: Any = None) -> Any:
        self.read.add(name)
        return super().get(name, default)


SETTINGS: dict[str, type[ReceiverSettings | ForwarderSettings | ConnectorSettings]] = {
    "WebhookReceiverFunction": ReceiverSettings,
    "ForwarderFunction": ForwarderSettings,
    "ConnectorFunction": ConnectorSettings,
}


def test_env_vars_file_sets_variables_only_for_functions_whose_settings_are_checked_here() -> None:
    assert set(ENV_VARS) - {"Parameters"} <= set(SETTINGS)
    assert all(TEMPLATE["Resources"][name]["Type"] == "AWS::Serverless::Function" for name in SETTINGS)


@pytest.mark.parametrize("function", sorted(SETTINGS))
def test_env_vars_file_sets_only_variables_the_function_reads(function: str) -> None:
    # GIVEN the variables sam local invoke gives the function from the env-vars file
    given = {**ENV_VARS["Parameters"], **ENV_VARS.get(function, {})}
    environment = RecordedEnvironment(given)

    # WHEN its settings are read from them (and only them)
    SETTINGS[function].from_environment(Environment(environment))

    # THEN it can run with them, and reads each (the endpoints by their prefix; Powertools reads its own)
    read_elsewhere = (ENDPOINT_PREFIX, "POWERTOOLS_")
    unread = {name for name in given if name not in environment.read and not name.startswith(read_elsewhere)}
    assert unread == set()


def test_env_vars_file_points_the_connector_function_at_the_local_tables() -> None:
    variables = {**ENV_VARS["Parameters"], **ENV_VARS["ConnectorFunction"]}

    settings = ConnectorSettings.from_environment(Environment(variables))

    # The local stack names tables by their logical ids, as sam local does
    for table in (settings.correlation_table, settings.user_table):
        assert TEMPLATE["Resources"][table]["Type"] == "AWS::DynamoDB::Table"
    # The local device cloud speaks plain HTTP on loopback: allowed here, as the local stack allows it
    assert settings.allow_loopback_device_clouds is True
    assert settings.clients.endpoint_for("dynamodb") == ENV_VARS["Parameters"]["AWS_ENDPOINT_URL_DYNAMODB"]
    receiver = ENV_VARS["WebhookReceiverFunction"]
    assert (receiver["CORRELATION_TABLE"], receiver["CONNECTOR_USER_TABLE"]) == (
        settings.correlation_table,
        settings.user_table,
    )


# --- The connector function's invocations ---------------------------------------------------------------

CONNECTOR_EXPECTED = {
    "connector-activate-user-oauth.json": 200,
    "connector-activate-user-general-authorization.json": 200,
    "connector-discover-devices.json": 200,
    "connector-send-command.json": 200,
    "connector-deactivate-user.json": 200,
    "connector-unknown-operation.json": 400,
}


def connector_files() -> list[Path]:
    """The connector's invocation samples (managed integrations' envelopes)."""
    return sorted(p for p in EVENTS.glob("connector-*.json") if "header" in json.loads(p.read_text()))


def job_files() -> list[Path]:
    """The connector's discovery-job samples (SQS events of its discovery queue)."""
    return sorted(p for p in EVENTS.glob("connector-*.json") if "Records" in json.loads(p.read_text()))


def test_every_connector_sample_is_expected_and_every_operation_has_one() -> None:
    assert {path.name for path in connector_files()} == set(CONNECTOR_EXPECTED)
    named = {json.loads(path.read_text())["payload"]["operationName"] for path in connector_files()}
    assert set(OPERATION_NAMES) < named
    auth_types = {
        json.loads(path.read_text())["header"]["auth"]["type"]
        for path in connector_files()
        if "activate-user" in path.name
    }
    assert auth_types == {"OAuth2.0", "GeneralAuthorization"}


@pytest.mark.parametrize("path", connector_files(), ids=lambda p: p.name)
def test_connector_sample_is_the_envelope_managed_integrations_sends(path: Path) -> None:
    event = json.loads(path.read_text())
    payload = dict(event["payload"])
    operation, connector_id = payload.pop("operationName"), payload.pop("connectorId")
    version = payload.pop("operationVersion")

    assert event == envelope(operation, connector_id, event["header"]["auth"], **payload)
    assert version == ("1.0.0" if operation == "AWS.ActivateUser" else "1.0")
    # The connector is the demo cloud whose profile has a device cloud (the local stack's, with make local)
    [cloud] = [c for c in DEMO_CLOUDS if c.connector_id == connector_id]
    assert cloud.profile().device_cloud is not None
    auth = event["header"]["auth"]
    if auth["type"] == "OAuth2.0":
        assert auth["token"] == DEMO_TOKEN
    else:
        # A secret the function may read: under the template's authorization secret prefix
        prefix = TEMPLATE["Parameters"]["AuthorizationSecretPrefix"]["Default"]
        assert auth["secretsManager"]["arn"].split(":secret:")[1].startswith(prefix)


@pytest.mark.parametrize("path", connector_files(), ids=lambda p: p.name)
def test_connector_sample_gets_its_answer_from_the_handler(
    monkeypatch: pytest.MonkeyPatch, path: Path
) -> None:
    # GIVEN the handler wired to in-memory ports: the demo device cloud's users, the sample's secret
    event = json.loads(path.read_text())
    references = [
        (e["header"]["auth"]["secretsManager"]["arn"], e["header"]["auth"]["secretsManager"].get("versionId"))
        for e in map(json.loads, map(Path.read_text, connector_files()))
        if e["header"]["auth"]["type"] == "GeneralAuthorization"
    ]
    fakes = ConnectorFakes(
        cloud=FakeDeviceCloud(users=dict(DEMO_CREDENTIALS)),
        authorizations=InMemoryAuthorizations(dict.fromkeys(references, DEMO_SERVICE_KEY)),
    )
    fakes.clouds.clouds[event["payload"]["connectorId"]] = fakes.cloud
    monkeypatch.setattr(connector, "wiring", fakes.wiring())

    # WHEN Lambda invokes it with the sample
    answer = connector.lambda_handler(event, FakeLambdaContext())

    # THEN each documented operation is acknowledged, and the unknown one is told so
    code = answer["header"]["responseCode"]
    assert code == CONNECTOR_EXPECTED[path.name], answer
    operation = event["payload"]["operationName"]
    if operation == "AWS.ActivateUser":
        assert answer["payload"]["userId"] == DEMO_USER
    if code != 200:
        assert answer["payload"]["responseMessage"].startswith("Unknown operation: payload.operationName")
        assert fakes.cloud.requests == []
    if operation == "AWS.SendCommand":
        [asked] = fakes.cloud.requests
        assert [command.name for command in asked.commands] == ["OnOff.Off"]


# --- The connector function's discovery jobs ------------------------------------------------------------


def test_every_connector_sample_is_an_invocation_or_a_discovery_job() -> None:
    assert sorted(connector_files() + job_files()) == sorted(EVENTS.glob("connector-*.json"))
    assert [path.name for path in job_files()] == ["connector-discovery-job.json"]


@pytest.mark.parametrize("path", job_files(), ids=lambda p: p.name)
def test_a_job_sample_is_a_discovery_queue_delivery_the_worker_reads(path: Path) -> None:
    # GIVEN the sample as Lambda's SQS event source delivers it
    event = json.loads(path.read_text())

    # WHEN the function's edge reads it
    [delivery] = job_deliveries(event) or []
    job = parse_job(delivery.body)

    # THEN it is one delivery of a job of a demo cloud, carrying the user's token and never a secret's text
    assert delivery.message_id == event["Records"][0]["messageId"] and delivery.receive_count == 1
    [cloud] = [c for c in DEMO_CLOUDS if c.connector_id == job.connector_id]
    # The demo cloud answers through webhooks: the job has no REST API to list, and is dead-lettered
    assert cloud.profile().outbound is None
    assert job.credential.as_wire() == {"type": "OAuth2.0", "token": DEMO_TOKEN}
    assert job.payload["deviceDiscoveryId"] == job.device_discovery_id
