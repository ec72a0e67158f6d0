"""A profiled connector's body read as its profile says: JSON or a form, then members decoded in place
(Pub/Sub's base64 `message.data`, Slack's `payload` of JSON). A body of the wrong type is a 415, one that
does not parse a 400, a member that does not decode a 422 naming it; everything bounded by the body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from typing import Any

import pytest
from slack_sdk.signature import SignatureVerifier

from fakes.receiver import (
    InMemoryConnectorProfiles,
    InMemoryDeduplicator,
    InMemoryEventQueue,
    InMemorySigningKeys,
)
from iotbridge.profile.bodies import BodyFormat
from iotbridge.profile.document import ConnectorProfile, parse_profile
from iotbridge.webhook_receiver.domain.bodies import (
    MAX_DECODED_NESTING,
    MAX_FORM_FIELDS,
    BodyError,
    parse_body,
)
from iotbridge.webhook_receiver.domain.intake import Answer, IntakeLimits, WebhookIntake, WebhookRequest

JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}

# cloud.google.com/pubsub/docs/push, "Receive messages": the body of a POST to a push endpoint (the default,
# wrapped form), verbatim.
PUBSUB_DOCUMENTED_PUSH = b"""{
    "message": {
        "attributes": {
            "key": "value"
        },
        "data": "SGVsbG8gQ2xvdWQgUHViL1N1YiEgSGVyZSBpcyBteSBtZXNzYWdlIQ==",
        "messageId": "2070443601311540",
        "message_id": "2070443601311540",
        "publishTime": "2021-02-26T19:13:55.749Z",
        "publish_time": "2021-02-26T19:13:55.749Z"
    },
   "subscription": "projects/myproject/subscriptions/mysubscription"
}"""
PUBSUB = BodyFormat.model_validate({"decode": [{"path": "message.data", "as": ["base64", "json"]}]})

# developers.google.com/nest/device-access/api/events: a resource event, the message's data Pub/Sub carries.
NEST_EVENT = {
    "eventId": "0120ecc7-3b57-4eb4-9941-91609f189fb4",
    "timestamp": "2019-01-01T00:00:01Z",
    "resourceUpdate": {
        "name": "enterprises/project-id/devices/device-id",
        "traits": {"sdm.devices.traits.Temperature": {"ambientTemperatureCelsius": 23.0}},
    },
    "userId": "AVPHwEuBfnPOnTqzVFT4IONX2Qqhu9EJ4ubO-bNnQ-yi",
    "resourceGroup": ["enterprises/project-id/devices/device-id"],
}


def pubsub_push(event: Any) -> bytes:
    """The documented envelope around `event` as the message's data."""
    envelope = json.loads(PUBSUB_DOCUMENTED_PUSH)
    envelope["message"]["data"] = base64.b64encode(json.dumps(event).encode()).decode()
    return json.dumps(envelope).encode()


def status_of(body_format: BodyFormat | None, headers: dict[str, str], raw: bytes) -> tuple[int, str]:
    with pytest.raises(BodyError) as caught:
        parse_body(body_format, headers, raw)
    return caught.value.status, caught.value.outcome


def problem_of(body_format: BodyFormat, raw: bytes, headers: dict[str, str] = JSON) -> tuple[str, str]:
    with pytest.raises(BodyError) as caught:
        parse_body(body_format, headers, raw)
    assert (caught.value.status, caught.value.outcome) == (422, "undecodable_body")
    [problem] = caught.value.problems
    return problem.path, problem.rule


def decoding(path: str, *steps: str) -> BodyFormat:
    return BodyFormat.model_validate({"decode": [{"path": path, "as": list(steps)}]})


# --- JSON, and the decode steps -----------------------------------------------------------------------------


def test_a_profile_that_says_nothing_reads_json_as_it_is() -> None:
    assert parse_body(None, JSON, b'{"a": [1, 2]}') == {"a": [1, 2]}


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/cloudevents+json"])
def test_json_takes_application_json_and_its_suffix_types(content_type: str) -> None:
    assert parse_body(None, {"content-type": content_type}, b"[]") == []


@pytest.mark.parametrize("headers", [{}, FORM, {"content-type": "text/plain"}])
def test_a_json_profile_refuses_another_content_type_with_415(headers: dict[str, str]) -> None:
    assert status_of(None, headers, b"{}") == (415, "unsupported_media_type")


@pytest.mark.parametrize("raw", [b"{", b"NaN", b'{"t": Infinity}', b"\xff", b"[" * 100_000])
def test_json_that_does_not_parse_is_400(raw: bytes) -> None:
    assert status_of(None, JSON, raw) == (400, "malformed_json")


def test_pubsubs_documented_push_body_is_decoded_in_place() -> None:
    # GIVEN Pub/Sub's documented push body, whose data is text (not JSON)
    body_format = decoding("message.data", "base64", "text")
    # WHEN it is read
    body = parse_body(body_format, JSON, PUBSUB_DOCUMENTED_PUSH)
    # THEN the data is the message, the rest of the envelope as it was
    assert body["message"]["data"] == "Hello Cloud Pub/Sub! Here is my message!"
    assert body["message"]["messageId"] == "2070443601311540"
    assert body["subscription"] == "projects/myproject/subscriptions/mysubscription"


def test_a_pubsub_push_of_a_nest_event_decodes_to_the_event() -> None:
    body = parse_body(PUBSUB, JSON, pubsub_push(NEST_EVENT))
    assert body["message"]["data"] == NEST_EVENT
    assert body["message"]["publishTime"] == "2021-02-26T19:13:55.749Z"


def test_steps_run_in_order_and_one_may_decode_inside_what_another_decoded() -> None:
    # GIVEN a member holding JSON text whose own member holds base64url JSON (no padding, as JWTs write it)
    inner = base64.urlsafe_b64encode(json.dumps({"on": True, "n": "ü?"}).encode()).rstrip(b"=").decode()
    raw = json.dumps({"payload": json.dumps({"state": inner})}).encode()
    body_format = BodyFormat.model_validate(
        {
            "decode": [
                {"path": "payload", "as": ["json"]},
                {"path": "payload.state", "as": ["base64url", "json"]},
            ]
        }
    )
    # WHEN it is read, THEN both are decoded
    assert parse_body(body_format, JSON, raw) == {"payload": {"state": {"on": True, "n": "ü?"}}}


@pytest.mark.parametrize(
    "raw", [b"{}", b'{"message": {}}', b'{"message": "text"}', b'{"message": [1]}', b"[]"]
)
def test_a_step_whose_member_is_not_there_is_skipped(raw: bytes) -> None:
    assert parse_body(PUBSUB, JSON, raw) == json.loads(raw)


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (12, "must be text to decode"),
        (None, "must be text to decode"),
        ({"a": 1}, "must be text to decode"),
        ("not base64!", "is not base64"),
        ("SGVsbG8", "is not base64"),  # padding left out: standard base64 has it
        ("SGVs bG8=", "is not base64"),
        ("ü", "is not base64"),
        (base64.b64encode(b"{").decode(), "is not JSON"),
        (base64.b64encode(b"NaN").decode(), "is not JSON"),
        (base64.b64encode(b"\xff\xfe").decode(), "is not JSON"),
    ],
)
def test_a_member_that_does_not_decode_is_422_naming_its_path(data: Any, rule: str) -> None:
    raw = json.dumps({"message": {"data": data}}).encode()
    assert problem_of(PUBSUB, raw) == ("message.data", rule)


def test_base64url_refuses_the_standard_alphabets_characters() -> None:
    assert problem_of(decoding("d", "base64url", "text"), b'{"d": "a+b/"}') == ("d", "is not base64url")


def test_text_must_be_utf_8() -> None:
    raw = json.dumps({"d": base64.b64encode(b"caf\xe9").decode()}).encode()
    assert problem_of(decoding("d", "base64", "text"), raw) == ("d", "is not UTF-8 text")


def test_decoded_json_nested_deeper_than_its_bound_is_refused() -> None:
    deep = "[" * (MAX_DECODED_NESTING + 1) + "]" * (MAX_DECODED_NESTING + 1)
    assert problem_of(decoding("d", "json"), json.dumps({"d": deep}).encode()) == (
        "d",
        f"holds JSON nested deeper than {MAX_DECODED_NESTING} levels",
    )
    shallow = "[" * MAX_DECODED_NESTING + "]" * MAX_DECODED_NESTING
    parse_body(decoding("d", "json"), JSON, json.dumps({"d": shallow}).encode())


def test_decoded_json_nested_beyond_the_parser_is_refused_not_a_fault() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert problem_of(decoding("d", "json"), json.dumps({"d": deep}).encode())[0] == "d"


# --- Forms --------------------------------------------------------------------------------------------------

FORM_ONLY = BodyFormat.model_validate({"contentType": "form"})


def test_a_form_is_an_object_of_text_values() -> None:
    raw = b"token=xyzz0&team_id=T1DC2JH3J&text=&command=%2Fwebhook-collect&user_name=road+runner"
    assert parse_body(FORM_ONLY, FORM, raw) == {
        "token": "xyzz0",
        "team_id": "T1DC2JH3J",
        "text": "",
        "command": "/webhook-collect",
        "user_name": "road runner",
    }


def test_a_name_given_more_than_once_is_the_list_of_its_values_in_order() -> None:
    assert parse_body(FORM_ONLY, FORM, b"a=1&b=x&a=2&a=3") == {"a": ["1", "2", "3"], "b": "x"}


def test_a_form_with_a_charset_is_a_form() -> None:
    assert parse_body(
        FORM_ONLY, {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}, b"a=%C3%BC"
    ) == {"a": "ü"}


def test_an_empty_form_is_an_empty_object() -> None:
    assert parse_body(FORM_ONLY, FORM, b"") == {}


@pytest.mark.parametrize("headers", [JSON, {}, {"content-type": "multipart/form-data; boundary=x"}])
def test_a_form_profile_refuses_another_content_type_with_415(headers: dict[str, str]) -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(FORM_ONLY, headers, b"a=1")
    assert (caught.value.status, caught.value.outcome) == (415, "unsupported_media_type")
    assert "application/x-www-form-urlencoded" in caught.value.message


@pytest.mark.parametrize(
    "raw",
    [
        b"a",  # a field without =
        b"a=1&&b=2",  # an empty field
        b"a=%FF",  # not UTF-8 once decoded
        "a=ü".encode(),  # not percent-encoded
        b"&".join(b"f%d=1" % i for i in range(MAX_FORM_FIELDS + 1)),
    ],
)
def test_a_body_that_is_not_a_well_formed_form_is_400(raw: bytes) -> None:
    assert status_of(FORM_ONLY, FORM, raw) == (400, "malformed_form")


def test_a_form_of_as_many_fields_as_allowed_is_read() -> None:
    raw = b"&".join(b"f%d=1" % i for i in range(MAX_FORM_FIELDS))
    assert len(parse_body(FORM_ONLY, FORM, raw)) == MAX_FORM_FIELDS


# --- Through the intake -------------------------------------------------------------------------------------

NOW = 1_790_000_000
CONNECTOR = "c-forms"
SECRET = "slack-style-signing-secret"
SLACK_STYLE: dict[str, Any] = {
    "version": 1,
    "verification": {
        "scheme": "hmac",
        "signatureHeader": "X-Slack-Signature",
        "prefix": "v0=",
        "signedContent": "v0:{timestamp}:{body}",
        "timestampHeader": "X-Slack-Request-Timestamp",
    },
    "deduplication": {"digest": True},
    "body": {"contentType": "form", "decode": [{"path": "payload", "as": ["json"]}]},
    "events": "body.payload.actions",
    "rules": [
        {
            "name": "switch",
            "operation": "DEVICE_EVENT",
            "members": {"UserId": "body.payload.user.id", "ConnectorDeviceId": "event.block_id"},
            "matterEndpoint": {
                "set": [{"attribute": "OnOff.OnOff", "from": "event.value", "transform": {"equals": "on"}}]
            },
        }
    ],
}
# Slack's block_actions payload (api.slack.com/reference/interaction-payloads/block-actions-payload), trimmed.
BLOCK_ACTIONS = {
    "type": "block_actions",
    "user": {"id": "U0CA5", "username": "amy.mcgee", "team_id": "T3MDE"},
    "api_app_id": "A0CA5",
    "actions": [
        {
            "action_id": "power",
            "block_id": "lamp-1",
            "value": "on",
            "type": "button",
            "action_ts": "1548426417.840180",
        }
    ],
}


def intake_with(profile: ConnectorProfile) -> tuple[WebhookIntake, InMemoryEventQueue]:
    queue = InMemoryEventQueue()
    intake = WebhookIntake(
        keys=InMemorySigningKeys({CONNECTOR: SECRET}),
        queue=queue,
        deduplicator=InMemoryDeduplicator(),
        limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
        profiles=InMemoryConnectorProfiles({CONNECTOR: profile}),
        clock=lambda: NOW,
    )
    return intake, queue


def slack_signed(body: bytes, content_type: str = FORM["content-type"]) -> WebhookRequest:
    # Signed by Slack's own SDK, as Slack signs.
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=str(NOW), body=body)
    assert signature is not None
    headers = {
        "content-type": content_type,
        "x-slack-signature": signature,
        "x-slack-request-timestamp": str(NOW),
    }
    return WebhookRequest(connector_id=CONNECTOR, headers=headers, body=body)


def test_a_slack_style_form_with_a_json_payload_is_decoded_mapped_and_queued() -> None:
    # GIVEN a profile that reads a form and its payload member as JSON, and a block_actions payload
    intake, queue = intake_with(parse_profile(SLACK_STYLE))
    body = urllib.parse.urlencode({"payload": json.dumps(BLOCK_ACTIONS)}).encode()
    # WHEN Slack-style signed, it is sent
    answer = intake.handle(slack_signed(body))
    # THEN its action is one event
    assert (answer.status, answer.outcome, answer.queued) == (202, "accepted", 1)
    [message] = queue.messages
    assert message.event["UserId"] == "U0CA5" and message.event["ConnectorDeviceId"] == "lamp-1"
    assert message.event["MatterEndpoint"]["clusters"] == [{"id": "0x0006", "attributes": {"0x0000": True}}]


def test_a_json_body_to_a_form_profile_is_415_after_its_signature_is_checked() -> None:
    intake, queue = intake_with(parse_profile(SLACK_STYLE))
    answer = intake.handle(slack_signed(json.dumps(BLOCK_ACTIONS).encode(), "application/json"))
    assert (answer.status, answer.outcome) == (415, "unsupported_media_type")
    assert queue.messages == []


def test_a_payload_that_is_not_json_is_422_naming_it() -> None:
    intake, queue = intake_with(parse_profile(SLACK_STYLE))
    answer = intake.handle(slack_signed(b"payload=%7Bnot+json"))
    assert (answer.status, answer.outcome) == (422, "undecodable_body")
    assert answer.body["errors"] == [{"path": "payload", "rule": "is not JSON"}]
    assert queue.messages == []


def test_a_malformed_form_is_400_and_an_unsigned_one_the_single_401() -> None:
    intake, _ = intake_with(parse_profile(SLACK_STYLE))
    assert intake.handle(slack_signed(b"payload")).status == 400
    unsigned = WebhookRequest(connector_id=CONNECTOR, headers=FORM, body=b"payload")
    assert intake.handle(unsigned).status == 401


def test_a_pubsub_push_is_decoded_before_the_rules_read_it() -> None:
    # GIVEN a profile (HMAC-signed here: the decoding is what is tested) reading Pub/Sub's decoded data
    profile = parse_profile(
        {
            "version": 1,
            "verification": {"scheme": "hmac", "signatureHeader": "X-Signature"},
            "deduplication": {"body": "body.message.messageId"},
            "body": {"decode": [{"path": "message.data", "as": ["base64", "json"]}]},
            "events": "body.message.data",
            "rules": [
                {
                    "name": "temperature",
                    "when": 'event.resourceUpdate.traits."sdm.devices.traits.Temperature"',
                    "operation": "DEVICE_EVENT",
                    "members": {"UserId": "event.userId", "ConnectorDeviceId": "event.resourceUpdate.name"},
                    "matterEndpoint": {
                        "set": [
                            {
                                "attribute": "TemperatureMeasurement.MeasuredValue",
                                "from": 'event.resourceUpdate.traits."sdm.devices.traits.Temperature"'
                                ".ambientTemperatureCelsius",
                                "transform": "celsiusToMatter",
                            }
                        ]
                    },
                }
            ],
        }
    )
    intake, queue = intake_with(profile)
    body = pubsub_push(NEST_EVENT)
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    # WHEN the push is sent
    answer: Answer = intake.handle(
        WebhookRequest(connector_id=CONNECTOR, headers=JSON | {"x-signature": signature}, body=body)
    )
    # THEN the event inside it is mapped, under the push's message id
    assert (answer.status, answer.body["webhookId"], answer.queued) == (202, "2070443601311540", 1)
    [message] = queue.messages
    assert message.event["ConnectorDeviceId"] == "enterprises/project-id/devices/device-id"
    assert message.event["MatterEndpoint"]["clusters"] == [{"id": "0x0402", "attributes": {"0x0000": 2300}}]
