"""The detector table backend: the DynamoDB adapter and the AWS IoT Core publisher against moto's DynamoDB
and IoT Data in this process (no network), through the clients the reset wiring makes.

The table is created from template.yaml's definition, so the template's keys and index are what is tested.
Faults DynamoDB and IoT Core would answer with (throttling) are answered before moto sees the request.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import moto
import pytest

from bridge_local.aws import local_client
from bridge_local.detector_table import put_detectors, table_detectors
from bridge_local.lambda_runtime import LOCAL_ACCOUNT_ID, LOCAL_REGION
from bridge_local.resources import create_tables
from bridge_local.sam_template import LocalResolver, read
from fakes.reset import CountdownBudget, Refusals
from iot_standin.fleet import fleet_seed
from iotbridge import clients
from iotbridge.budget import UnlimitedBudget
from iotbridge.detector_reset.adapters import DetectorTableService, IotCorePublisher
from iotbridge.detector_reset.domain.job import JobOptions, ResetJob
from iotbridge.detector_reset.domain.plan import DynamoDbBackend, ResetPlan, parse_plan
from iotbridge.detector_reset.domain.progress import Continuation
from iotbridge.detector_reset.ports import DetectorUpdate, InputMessage
from iotbridge.detector_reset.settings import ResetSettings
from iotbridge.detector_reset.wiring import ResetWiring
from iotbridge.errors import ServiceCallError

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
MODEL = "hvac"
NOW = 1_800_000_000.0
# A page holds a state's detectors: moto's in-process DynamoDB is not safe for a query that resumes after a
# key while other threads change items (see bridge_local.fault_proxy); the test of continuations pages.
FAST = JobOptions(batch_size=5, workers=2, max_item_attempts=6, page_size=50)
PAGED = JobOptions(batch_size=5, workers=2, max_item_attempts=6, page_size=7)


@dataclass
class Aws:
    table: str
    dynamodb: Any  # a client for the test's own reads and writes
    wiring: ResetWiring

    def service(self, **backend: Any) -> DetectorTableService:
        found = self.wiring.services(DynamoDbBackend(kind="dynamodb", table=self.table, **backend))
        assert isinstance(found, DetectorTableService)
        return found

    def detectors(self, model: str = MODEL) -> dict[str, dict[str, Any]]:
        return {d["keyValue"]: d for d in table_detectors(self.dynamodb, self.table, model=model)}

    def published(self) -> list[tuple[str, bytes]]:
        from moto.iotdata.models import iotdata_backends

        return list(iotdata_backends[LOCAL_ACCOUNT_ID][LOCAL_REGION].published_payloads)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto in this process, the template's detector table in it, seeded with 20 detectors of MODEL in
    Alarm, Fault and Normal in turn (and 3 of another model)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", LOCAL_REGION)
    monkeypatch.setenv("AWS_REGION", LOCAL_REGION)
    with moto.mock_aws():
        clients.reset_clients()
        dynamodb = local_client("dynamodb", None)
        spec = read(TEMPLATE)
        table = create_tables(dynamodb, spec, LocalResolver(spec))["DetectorTable"]
        seed = fleet_seed(MODEL, 20, ["Alarm", "Fault", "Normal"], variables={"kept": "7", "scratch": "x"})
        other = fleet_seed("other", 3, ["Alarm"])
        put_detectors(dynamodb, table, seed["detectors"] + other["detectors"])
        yield Aws(table, dynamodb, ResetWiring.build(ResetSettings()))
    clients.reset_clients()


def refusing(client: Any, operation: str, refuse: Callable[[str], tuple[str, int] | None]) -> None:
    Refusals().on(client, operation, refuse)


THROTTLED = ("ProvisionedThroughputExceededException", 400)


def keys(count: int) -> list[str]:
    return [f"device-{n:05d}" for n in range(count)]


# ---------------------------------------------------------------- listing


def test_listing_pages_through_a_models_detectors_once_with_a_token_a_new_invocation_can_use(
    aws: Aws,
) -> None:
    seen: list[str] = []
    token = None
    while True:
        # A fresh adapter each page, as after a continuation: only the token carries the position.
        page = aws.service().list_detectors(MODEL, state_name=None, next_token=token, max_results=6)
        seen += [d.key_value for d in page.detectors]
        token = page.next_token
        if token is None:
            break
        assert isinstance(token, str) and json.dumps(token)

    assert seen == keys(20)


def test_a_state_is_listed_from_the_index_and_going_on_after_detectors_that_left_it(aws: Aws) -> None:
    service = aws.service()
    first = service.list_detectors(MODEL, state_name="Alarm", next_token=None, max_results=3)
    # The first page is reset to another state before the next page is asked for, as the job does.
    service.update_detectors(
        MODEL, [(f"m{n}", DetectorUpdate(d.key_value, "Normal")) for n, d in enumerate(first.detectors)]
    )

    rest = service.list_detectors(MODEL, state_name="Alarm", next_token=first.next_token, max_results=50)

    alarm = [k for n, k in enumerate(keys(20)) if n % 3 == 0]
    assert [d.key_value for d in first.detectors] == alarm[:3]
    assert [d.key_value for d in rest.detectors] == alarm[3:]
    assert {d.state_name for d in first.detectors + rest.detectors} == {"Alarm"}
    assert rest.next_token is None


@pytest.mark.parametrize(
    "token", ["not base64 !", "eyJ4IjogMX0=", "bnVsbA=="], ids=["junk", "no-key", "null"]
)
def test_a_forged_listing_token_is_refused_for_good(aws: Aws, token: str) -> None:
    with pytest.raises(ServiceCallError) as raised:
        aws.service().list_detectors(MODEL, state_name=None, next_token=token, max_results=5)

    assert raised.value.code == "ValidationException" and not raised.value.failure.transient


# ---------------------------------------------------------------- describe and update


def test_a_detector_is_described_with_its_state_variables_and_timer_expiry_times(aws: Aws) -> None:
    snapshot = aws.service().describe_detector(MODEL, "device-00001")

    assert snapshot.state_name == "Fault"
    assert snapshot.variables == {"kept": "7", "scratch": "x"}

    with pytest.raises(ServiceCallError) as raised:
        aws.service().describe_detector(MODEL, "device-99999")
    assert raised.value.code == "ResourceNotFoundException"


def test_an_update_replaces_state_variables_and_timers_and_keeps_what_identifies_the_detector(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = DetectorTableService(
        aws.service()._client,
        DynamoDbBackend(kind="dynamodb", table=aws.table),
        IotCorePublisher(None),
        clock=lambda: NOW,
    )
    before = aws.detectors()["device-00000"]

    errors = service.update_detectors(
        MODEL,
        [("m1", DetectorUpdate("device-00000", "Normal", (("alarmCount", "0"),), (("cooldown", 300),)))],
    )

    after = aws.detectors()["device-00000"]
    assert errors == []
    assert after["state"] == {
        "stateName": "Normal",
        "variables": [{"name": "alarmCount", "value": "0"}],  # kept and scratch cleared, as IoT Events does
        "timers": [{"name": "cooldown", "timestamp": NOW + 300}],  # an expiry time
    }
    assert after["lastUpdateTime"] == NOW
    assert (after["creationTime"], after["detectorModelVersion"]) == (before["creationTime"], "1")
    snapshot = service.describe_detector(MODEL, "device-00000")
    assert snapshot.timers == {"cooldown": datetime.fromtimestamp(NOW + 300, UTC)}


def test_an_update_never_creates_a_detector_and_reports_a_missing_one_not_found(aws: Aws) -> None:
    service = aws.service()
    listed = service.list_detectors(MODEL, state_name="Alarm", next_token=None, max_results=3).detectors
    aws.dynamodb.delete_item(
        TableName=aws.table, Key={"detectorModel": {"S": MODEL}, "keyValue": {"S": listed[1].key_value}}
    )

    errors = service.update_detectors(
        MODEL,
        [(f"m{n}", DetectorUpdate(d.key_value, "Normal")) for n, d in enumerate(listed)]
        + [("m9", DetectorUpdate("never-was", "Normal"))],
    )

    assert [(e.message_id, e.code, e.retryable) for e in errors] == [
        ("m1", "ResourceNotFoundException", False),
        ("m9", "ResourceNotFoundException", False),
    ]
    detectors = aws.detectors()
    assert listed[1].key_value not in detectors and "never-was" not in detectors
    assert detectors[listed[0].key_value]["state"]["stateName"] == "Normal"


def test_a_throttled_update_fails_only_its_detector_and_may_be_retried(aws: Aws) -> None:
    service = aws.service()
    refusing(service._client, "UpdateItem", lambda body: THROTTLED if "device-00003" in body else None)

    errors = service.update_detectors(
        MODEL, [(f"m{n}", DetectorUpdate(key, "Idle")) for n, key in enumerate(keys(5))]
    )

    assert [(e.message_id, e.code, e.retryable) for e in errors] == [
        ("m3", "ProvisionedThroughputExceededException", True)
    ]
    states = {k: d["state"]["stateName"] for k, d in aws.detectors().items()}
    assert [states[k] for k in keys(5)] == ["Idle", "Idle", "Idle", "Alarm", "Idle"]


def test_a_team_table_with_its_own_names_is_read_and_written_by_those_names(aws: Aws) -> None:
    aws.dynamodb.create_table(
        TableName="team-detectors",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"} for a in ("model", "device", "state")
        ],
        KeySchema=[
            {"AttributeName": "model", "KeyType": "HASH"},
            {"AttributeName": "device", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "modelState",
                "KeySchema": [
                    {"AttributeName": "model", "KeyType": "HASH"},
                    {"AttributeName": "state", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    aws.dynamodb.put_item(
        TableName="team-detectors",
        Item={
            "model": {"S": MODEL},
            "device": {"S": "d1"},
            "state": {"S": "Alarm"},
            "vars": {"M": {"k": {"S": "1"}}},
        },
    )
    names = {"detectorModel": "model", "keyValue": "device", "stateName": "state", "variables": "vars"}
    plan = parse_plan(
        {
            "name": "team",
            "detectorModelName": MODEL,
            "backend": {
                "kind": "dynamodb",
                "table": "team-detectors",
                "stateIndex": "modelState",
                "attributes": names,
            },
            "detectors": {"inStates": ["Alarm"]},
            "action": {"mode": "update", "stateName": "Normal", "preserveVariables": ["k"]},
            "verify": {},
        }
    )

    report = job(aws, plan).run(plan)

    assert (report.totals.matched, report.totals.reset, report.totals.verified) == (1, 1, 1)
    item = aws.dynamodb.get_item(
        TableName="team-detectors", Key={"model": {"S": MODEL}, "device": {"S": "d1"}}
    )["Item"]
    assert item["state"] == {"S": "Normal"} and item["vars"] == {"M": {"k": {"S": "1"}}}


# ---------------------------------------------------------------- the job over the table


def job(aws: Aws, plan: ResetPlan, options: JobOptions = FAST, **kwargs: Any) -> ResetJob:
    kwargs.setdefault("budget", UnlimitedBudget())
    return ResetJob(
        aws.wiring.services(plan.backend),
        options=options,
        sleep=lambda _: None,
        rng=random.Random(5),
        **kwargs,
    )


def table_plan(**changes: Any) -> ResetPlan:
    doc: dict[str, Any] = {
        "name": "nightly",
        "detectorModelName": MODEL,
        "backend": {"kind": "dynamodb", "table": "DetectorTable"},
        "detectors": {"inStates": ["Alarm", "Fault"]},
        "action": {
            "mode": "update",
            "stateName": "Normal",
            "variables": [{"name": "alarmCount", "value": "0"}],
            "preserveVariables": ["kept"],
        },
        "verify": {},
    }
    doc.update(changes)
    return parse_plan(doc)


def test_the_job_resets_the_selected_states_keeping_the_named_variables(aws: Aws) -> None:
    report = job(aws, table_plan()).run(table_plan())

    detectors = aws.detectors()
    assert report.status == "complete"
    assert report.totals.matched == report.totals.reset == 14
    assert report.totals.matched_by_state == {"Alarm": 7, "Fault": 7}
    assert report.totals.preserved_variables == 14
    assert (report.totals.verified, report.totals.verify_mismatches) == (14, 0)
    reset = [d for n, d in enumerate(detectors.values()) if n % 3 != 2]
    assert {json.dumps(d["state"]["variables"]) for d in reset} == {
        json.dumps([{"name": "alarmCount", "value": "0"}, {"name": "kept", "value": "7"}])
    }
    assert {d["state"]["stateName"] for d in aws.detectors(model="other").values()} == {"Alarm"}


def test_the_job_carries_its_listing_token_through_continuations(aws: Aws) -> None:
    plan = table_plan(detectors={"all": True}, verify=None)
    sink = CapturedSink()
    reports = []
    resume = None
    while True:
        reports.append(
            # A page of 7 an invocation: each next page is listed once the workers are done.
            job(aws, plan, PAGED, budget=CountdownBudget(70, 30), continuation_sink=sink).run(
                plan, resume=resume
            )
        )
        if reports[-1].status != "continued":
            break
        resume = Continuation.model_validate(json.loads(json.dumps(sink.payloads[-1]))["continuation"])

    assert len(reports) == 3  # a page of 7 detectors per invocation
    assert all(p["continuation"]["cursor"]["nextToken"] for p in sink.payloads)
    assert reports[-1].status == "complete"
    assert reports[-1].totals.matched == reports[-1].totals.reset == 20
    assert {d["state"]["stateName"] for d in aws.detectors().values()} == {"Normal"}


def test_throttled_updates_are_retried_by_the_job_until_they_go_through(aws: Aws) -> None:
    plan = table_plan()
    service = aws.wiring.services(plan.backend)
    left = {"device-00003": 2, "device-00004": 3}

    def refuse(body: str) -> tuple[str, int] | None:
        for key, count in left.items():
            if key in body and count:
                left[key] -= 1
                return THROTTLED
        return None

    refusing(service._client, "UpdateItem", refuse)  # type: ignore[attr-defined]

    report = job(aws, plan).run(plan)

    assert report.totals.failed == {}
    assert report.totals.reset == 14
    assert left == {"device-00003": 0, "device-00004": 0}


class CapturedSink:
    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def continue_later(self, payload: dict[str, Any]) -> None:
        self.payloads.append(payload)


# ---------------------------------------------------------------- message mode: AWS IoT Core


def test_message_resets_are_published_to_the_plans_topic_one_per_detector(aws: Aws) -> None:
    plan = table_plan(
        detectors={"inStates": ["Fault"]},
        verify=None,
        action={
            "mode": "message",
            "topic": "hvac/resets",
            "payloadTemplate": {"device": "${keyValue}", "run": "${runId}"},
        },
    )

    report = job(aws, plan).run(plan)

    published = aws.published()
    assert report.totals.reset == 7
    assert {topic for topic, _ in published} == {"hvac/resets"}
    assert sorted(json.loads(payload)["device"] for _, payload in published) == [
        k for n, k in enumerate(keys(20)) if n % 3 == 1
    ]
    assert {json.loads(payload)["run"] for _, payload in published} == {report.run_id}


def test_a_throttled_publish_fails_only_its_message_and_may_be_retried(aws: Aws) -> None:
    publisher = IotCorePublisher(local_client("iot-data", None, attempts=1))
    refusing(
        publisher._client, "Publish", lambda body: ("ThrottlingException", 429) if '"b"' in body else None
    )

    errors = publisher.put_messages(
        [("m1", InputMessage("t/1", b'{"k":"a"}')), ("m2", InputMessage("t/1", b'{"k":"b"}'))]
    )

    assert [(e.message_id, e.code, e.retryable) for e in errors] == [("m2", "ThrottlingException", True)]
    assert aws.published() == [("t/1", b'{"k":"a"}')]


@pytest.mark.parametrize(
    ("code", "status"),
    [("UnauthorizedException", 401), ("ForbiddenException", 403), ("RequestEntityTooLargeException", 413)],
)
def test_a_publish_iot_core_refuses_fails_its_message_for_good(aws: Aws, code: str, status: int) -> None:
    # A missing permission or a payload over the limit: sending the same message again cannot help.
    publisher = IotCorePublisher(local_client("iot-data", None, attempts=1))
    refusing(publisher._client, "Publish", lambda body: (code, status))

    errors = publisher.put_messages([("m1", InputMessage("t/1", b'{"k":"a"}'))])

    assert [(e.message_id, e.code, e.retryable) for e in errors] == [("m1", code, False)]
    assert aws.published() == []
