"""The project's own IoT Events Data model lets current botocore build the client and send right requests."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

from bridge_local.answered import raw_response
from iotbridge import clients
from iotbridge.settings import ClientSettings, Environment

STAND_IN = "http://127.0.0.1:9"  # discard port: nothing is ever sent, the hook answers first


@dataclass
class Wire:
    """Answers every request at the last moment before sending, and remembers what would have been sent."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    sent: list[AWSPreparedRequest] = field(default_factory=list)

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        self.sent.append(request)
        data = json.dumps(self.body).encode()
        headers = {"Content-Type": "application/json", **self.headers}
        return raw_response(request.url, self.status, data, headers)

    @property
    def last(self) -> AWSPreparedRequest:
        return self.sent[-1]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_IOT_EVENTS_DATA", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_IOTEVENTS_DATA", raising=False)
    clients.reset_clients()
    yield
    clients.reset_clients()


@pytest.fixture
def wire(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Wire:
    monkeypatch.setenv("AWS_ENDPOINT_URL_IOTEVENTS_DATA", STAND_IN)
    answer = Wire()
    events_data_client().meta.events.register("before-send", answer)
    return answer


def events_data_client(**kwargs: Any) -> Any:
    """The factory's client, with the settings the environment gives (as a function's wiring reads them)."""
    return clients.client("iotevents-data", ClientSettings.read(Environment()), **kwargs)


def _query(request: AWSPreparedRequest) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query)


def _json(request: AWSPreparedRequest) -> Any:
    assert request.body is not None
    raw = request.body if isinstance(request.body, bytes) else request.body.encode()
    return json.loads(raw)


def test_client_is_built_from_the_shipped_model_on_current_botocore(aws_env: None) -> None:
    client = events_data_client()

    assert client.meta.service_model.service_name == "iotevents-data"
    assert client.meta.service_model.signing_name == "ioteventsdata"
    assert client.meta.endpoint_url == "https://data.iotevents.eu-west-1.amazonaws.com"
    assert not client.can_paginate("list_detectors")


def test_endpoint_variable_steers_the_client(wire: Wire) -> None:
    events_data_client().list_detectors(detectorModelName="hvac")

    assert wire.last.url.startswith(STAND_IN + "/")


def test_fips_and_dualstack_endpoints_resolve_from_the_rule_set(aws_env: None) -> None:
    session = clients.botocore_session()
    urls = {}
    for name, cfg in {
        "fips": Config(use_fips_endpoint=True),
        "dualstack": Config(use_dualstack_endpoint=True),
    }.items():
        client = session.create_client("iotevents-data", config=cfg)
        answer = Wire()
        client.meta.events.register("before-send", answer)
        client.list_detectors(detectorModelName="hvac")
        urls[name] = answer.last.url

    assert urls["fips"] == "https://data.iotevents-fips.eu-west-1.amazonaws.com/detectors/hvac"
    assert urls["dualstack"] == "https://data.iotevents.eu-west-1.api.aws/detectors/hvac"


def test_list_detectors_is_a_get_with_the_model_in_the_path_and_filters_in_the_query(wire: Wire) -> None:
    wire.body = {
        "detectorSummaries": [
            {
                "detectorModelName": "hvac",
                "keyValue": "room-1",
                "detectorModelVersion": "3",
                "state": {"stateName": "Alarm"},
                "creationTime": 1_700_000_000.5,
                "lastUpdateTime": 1_700_000_100,
            }
        ],
        "nextToken": "page-2",
    }

    answer = events_data_client().list_detectors(
        detectorModelName="hvac", stateName="Alarm", nextToken="abc", maxResults=250
    )

    assert wire.last.method == "GET"
    assert urlsplit(wire.last.url).path == "/detectors/hvac"
    assert _query(wire.last) == {"stateName": ["Alarm"], "nextToken": ["abc"], "maxResults": ["250"]}
    assert not wire.last.body
    summary = answer["detectorSummaries"][0]
    assert summary["state"]["stateName"] == "Alarm"
    assert isinstance(summary["creationTime"], datetime)
    assert answer["nextToken"] == "page-2"


def test_describe_detector_sends_the_key_value_as_a_query_parameter(wire: Wire) -> None:
    wire.body = {
        "detector": {
            "detectorModelName": "hvac",
            "keyValue": "room:1",
            "state": {
                "stateName": "Normal",
                "variables": [{"name": "count", "value": "3"}],
                "timers": [{"name": "t", "timestamp": 1_700_000_000}],
            },
        }
    }

    answer = events_data_client().describe_detector(detectorModelName="hvac", keyValue="room:1")

    assert wire.last.method == "GET"
    assert urlsplit(wire.last.url).path == "/detectors/hvac/keyValues/"
    assert _query(wire.last) == {"keyValue": ["room:1"]}
    assert answer["detector"]["state"]["variables"] == [{"name": "count", "value": "3"}]
    assert isinstance(answer["detector"]["state"]["timers"][0]["timestamp"], datetime)


def test_batch_update_detector_posts_the_detectors_as_json(wire: Wire) -> None:
    wire.body = {
        "batchUpdateDetectorErrorEntries": [
            {"messageId": "m2", "errorCode": "ThrottlingException", "errorMessage": "slow down"}
        ]
    }
    detectors = [
        {
            "messageId": "m1",
            "detectorModelName": "hvac",
            "keyValue": "room-1",
            "state": {
                "stateName": "Normal",
                "variables": [{"name": "count", "value": "0"}],
                "timers": [{"name": "t", "seconds": 60}],
            },
        }
    ]

    answer = events_data_client().batch_update_detector(detectors=detectors)

    assert wire.last.method == "POST"
    assert urlsplit(wire.last.url).path == "/detectors"
    assert urlsplit(wire.last.url).query == ""
    assert _json(wire.last) == {"detectors": detectors}
    assert answer["batchUpdateDetectorErrorEntries"][0]["errorCode"] == "ThrottlingException"


def test_batch_put_message_posts_base64_payloads(wire: Wire) -> None:
    wire.body = {"BatchPutMessageErrorEntries": []}

    events_data_client().batch_put_message(
        messages=[{"messageId": "m1", "inputName": "resetInput", "payload": b'{"reset":true}'}]
    )

    assert wire.last.method == "POST"
    assert urlsplit(wire.last.url).path == "/inputs/messages"
    sent = _json(wire.last)["messages"][0]
    assert sent["messageId"] == "m1"
    assert sent["inputName"] == "resetInput"
    assert base64.b64decode(sent["payload"]) == b'{"reset":true}'


def test_modelled_errors_become_client_errors_with_their_code(wire: Wire) -> None:
    wire.status = 429
    wire.headers = {"x-amzn-ErrorType": "ThrottlingException"}
    wire.body = {"message": "Rate exceeded"}

    client = events_data_client(attempts=1)
    client.meta.events.register("before-send", wire)

    with pytest.raises(ClientError) as raised:
        client.list_detectors(detectorModelName="hvac")

    assert raised.value.response["Error"]["Code"] == "ThrottlingException"


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("list_detectors", {}),
        ("describe_detector", {"keyValue": "room-1"}),
        ("batch_update_detector", {"detectors": []}),
        ("batch_put_message", {"messages": [{"messageId": "m1", "inputName": "i"}]}),
        ("list_detectors", {"detectorModelName": "hvac", "maxResults": 0}),
    ],
)
def test_parameter_validation_rejects_a_request_before_sending(
    wire: Wire, operation: str, params: dict[str, Any]
) -> None:
    with pytest.raises(ParamValidationError):
        getattr(events_data_client(), operation)(**params)

    assert wire.sent == []
