"""The receiver's intake for connectors with a profile: the device cloud's own scheme and JSON, mapped to
SendConnectorEvent bodies and validated before anything is acknowledged."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from fakes.receiver import (
    InMemoryConnectorProfiles,
    InMemoryDeduplicator,
    InMemoryEventQueue,
    InMemorySigningKeys,
)
from iotbridge.profile.document import ConnectorProfile, parse_profile
from iotbridge.signatures.standard_webhooks import SignatureError
from iotbridge.webhook_receiver.domain.intake import Answer, IntakeLimits, WebhookIntake, WebhookRequest
from iotbridge.webhook_receiver.domain.verification import sign
from iotbridge.webhook_receiver.ports import DependencyUnavailableError
from samples.device_clouds import AERIE, LUMEN, DemoCloud

NOW = 1_790_000_000


class Relay:
    """One intake with every demo cloud's profile and secret, and what it queued."""

    def __init__(self, profiles: dict[str, ConnectorProfile] | None = None) -> None:
        self.keys = InMemorySigningKeys({c.connector_id: c.secret for c in (LUMEN, AERIE)})
        self.profiles = InMemoryConnectorProfiles(
            profiles if profiles is not None else {c.connector_id: c.profile() for c in (LUMEN, AERIE)}
        )
        self.queue = InMemoryEventQueue()
        self.dedupe = InMemoryDeduplicator()
        self.intake = WebhookIntake(
            keys=self.keys,
            queue=self.queue,
            deduplicator=self.dedupe,
            limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
            profiles=self.profiles,
            clock=lambda: NOW,
        )

    def send(
        self,
        cloud: DemoCloud,
        body: bytes,
        *,
        headers: dict[str, str] | None = None,
        delivery_id: str = "dlv-1",
        connector_id: str | None = None,
    ) -> Answer:
        sent = headers if headers is not None else cloud.signed(body, delivery_id=delivery_id, now=NOW)
        request = WebhookRequest(
            connector_id=connector_id or cloud.connector_id,
            headers={"content-type": "application/json"} | {k.lower(): v for k, v in sent.items()},
            body=body,
        )
        return self.intake.handle(request)

    def queued(self) -> list[dict[str, Any]]:
        return [m.event for m in self.queue.messages]


def lumen_body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"accountId": "acct-1", "events": list(events)}).encode()


def light(device: str = "bulb-1", **state: Any) -> dict[str, Any]:
    return {"type": "device.state", "kind": "light", "deviceId": device, "state": {"power": "on", **state}}


def test_native_webhook_is_mapped_queued_and_answered_with_its_delivery_id() -> None:
    relay = Relay()
    body = lumen_body(light(brightness=40), light("bulb-2", power="off"))
    answer = relay.send(LUMEN, body)

    # Lumen signs only the body, not its delivery id: the signed bytes' digest tells deliveries apart.
    assert (answer.status, answer.outcome, answer.body) == (
        202,
        "accepted",
        {"webhookId": "sha256:" + hashlib.sha256(body).hexdigest(), "queued": 2},
    )
    first, second = relay.queued()
    assert first["ConnectorDeviceId"] == "bulb-1" and first["UserId"] == "acct-1"
    assert first["MatterEndpoint"]["clusters"] == [
        {"id": "0x0006", "attributes": {"0x0000": True}},
        {"id": "0x0008", "attributes": {"0x0000": 102}},
    ]
    assert second["MatterEndpoint"]["clusters"] == [{"id": "0x0006", "attributes": {"0x0000": False}}]


def test_the_same_delivery_again_is_a_duplicate_and_queues_nothing() -> None:
    relay = Relay()
    body = lumen_body(light())
    relay.send(LUMEN, body)
    again = relay.send(LUMEN, body)
    assert (again.status, again.outcome) == (202, "duplicate")
    assert len(relay.queued()) == 1


def lumen_signing_its_id() -> ConnectorProfile:
    """Lumen's profile, with the delivery id signed before the body."""
    document = json.loads(LUMEN.profile_file.read_bytes())
    document["verification"] |= {"signedContent": "{id}.{body}", "messageIdHeader": "X-Lumen-Delivery"}
    del document["deduplication"]
    return parse_profile(document)


def test_another_body_under_a_used_signed_delivery_id_is_a_conflict() -> None:
    # GIVEN a profile whose scheme signs the delivery id, and a delivery accepted under "dlv-1"
    profile = lumen_signing_its_id()
    relay = Relay({LUMEN.connector_id: profile})

    def send(body: bytes) -> Answer:
        headers = sign(profile.verification, LUMEN.secret, body, message_id="dlv-1", now=NOW)
        return relay.send(LUMEN, body, headers=headers)

    assert send(lumen_body(light())).status == 202
    # WHEN another body comes under the same id THEN it is a 409, and nothing more is queued
    assert send(lumen_body(light(brightness=10))).status == 409
    assert len(relay.queued()) == 1


def test_a_captured_delivery_sent_again_under_new_unsigned_ids_is_queued_once() -> None:
    # GIVEN a GitHub-style profile (the delivery id header is outside the signed bytes) and one delivery
    relay = Relay()
    body = lumen_body(light(brightness=40))
    first = relay.send(LUMEN, body, delivery_id="dlv-1")
    # WHEN the same signed body is sent at once under five new ids (the signature still matches)
    again = [relay.send(LUMEN, body, delivery_id=f"dlv-replay-{n}") for n in range(5)]
    # THEN each copy gets the first answer as a duplicate, and the event is queued once
    assert first.outcome == "accepted"
    assert {(a.status, a.outcome) for a in again} == {(202, "duplicate")}
    assert all(a.body == first.body for a in again)
    assert len(relay.queued()) == 1


def test_another_body_under_a_used_unsigned_delivery_id_is_its_own_delivery() -> None:
    # GIVEN a GitHub-style profile and a delivery accepted under "dlv-1"
    relay = Relay()
    relay.send(LUMEN, lumen_body(light()), delivery_id="dlv-1")
    # WHEN another signed body comes under the same (unsigned) id
    other = relay.send(LUMEN, lumen_body(light(brightness=10)), delivery_id="dlv-1")
    # THEN it is queued as a delivery of its own: the id played no part, so nothing is lost
    assert (other.status, other.outcome) == (202, "accepted")
    assert len(relay.queued()) == 2


def test_native_events_no_rule_matches_are_acknowledged_and_counted_when_the_profile_ignores_them() -> None:
    relay = Relay()
    heartbeat = {"type": "device.heartbeat", "deviceId": "bulb-1"}
    answer = relay.send(LUMEN, lumen_body(heartbeat, light()))
    assert (answer.status, answer.queued, answer.ignored) == (202, 1, 1)
    assert ("EventsIgnored", 1) in [(m.name, m.value) for m in answer.measurements()]

    only_ignored = relay.send(LUMEN, lumen_body(heartbeat), delivery_id="dlv-2")
    assert (only_ignored.status, only_ignored.outcome, only_ignored.body["queued"]) == (202, "ignored", 0)
    assert len(relay.queued()) == 1


def test_native_events_no_rule_matches_are_a_422_when_the_profile_rejects_them() -> None:
    relay = Relay()
    body = json.dumps(
        {"eventId": "e-1", "account": "a-1", "readings": [{"sensorId": "leak-1", "sensorType": "leak"}]}
    ).encode()
    answer = relay.send(AERIE, body)
    assert answer.status == 422
    assert answer.body["errors"] == [{"path": "readings[0]", "rule": "no rule of the profile matches it"}]
    assert relay.queued() == []


def test_an_out_of_range_value_is_a_422_naming_rule_and_native_path_but_not_the_value() -> None:
    relay = Relay()
    answer = relay.send(LUMEN, lumen_body(light(), light("bulb-2", brightness=987)))
    assert answer.status == 422
    [problem] = answer.body["errors"]
    assert problem["path"] == "events[1].state.brightness"
    assert "rule light-state" in problem["rule"] and "LevelControl.CurrentLevel" in problem["rule"]
    assert "987" not in json.dumps(answer.body) and "2507" not in json.dumps(answer.body)
    assert relay.queued() == []  # nothing of a refused webhook is queued, not even its valid events


def test_a_mapped_event_that_breaks_the_contract_is_a_422_naming_the_rule_and_the_native_event() -> None:
    profile = parse_profile(
        {
            "version": 1,
            "verification": {"scheme": "token", "header": "X-Token"},
            "deduplication": {"digest": True},
            "events": "body.items",
            "rules": [
                {
                    "name": "state",
                    "operation": "DEVICE_EVENT",
                    # A device id the contract refuses: longer than 256 characters.
                    "members": {"ConnectorDeviceId": "event.id"},
                    "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
                }
            ],
        }
    )
    relay = Relay({"tok": profile})
    relay.keys.secrets["tok"] = "s3cret-token"
    body = json.dumps({"items": [{"id": "d-1", "on": True}, {"id": "d" * 300, "on": False}]}).encode()
    answer = relay.send(LUMEN, body, headers={"X-Token": "s3cret-token"}, connector_id="tok")
    assert answer.status == 422
    [problem] = answer.body["errors"]
    assert problem["path"] == "items[1]"
    assert problem["rule"].startswith(
        "rule state: the mapped event breaks the SendConnectorEvent contract at "
    )
    assert "ConnectorDeviceId" in problem["rule"] and "d" * 300 not in problem["rule"]


def test_missing_delivery_id_header_is_a_400_that_names_it() -> None:
    relay = Relay()
    body = lumen_body(light())
    headers = LUMEN.signed(body, now=NOW)
    del headers["x-lumen-delivery"]
    answer = relay.send(LUMEN, body, headers=headers)
    assert (answer.status, answer.outcome) == (400, "missing_delivery_id")
    assert "x-lumen-delivery" in answer.body["message"]


def test_delivery_id_from_the_body_and_missing_there_is_a_422_naming_its_path() -> None:
    relay = Relay()
    reading = {"sensorId": "th-1", "sensorType": "climate", "temperatureF": 68}
    body = json.dumps({"eventId": "evt-9", "account": "a-1", "readings": [reading]}).encode()
    answer = relay.send(AERIE, body)
    assert answer.body == {"webhookId": "evt-9", "queued": 1}
    assert relay.queued()[0]["MatterEndpoint"]["clusters"] == [
        {"id": "0x0402", "attributes": {"0x0000": 2000}}
    ]

    no_id = json.dumps({"account": "a-1", "readings": [reading]}).encode()
    refused = relay.send(AERIE, no_id)
    assert refused.status == 422 and refused.body["errors"][0]["path"] == "eventId"


def test_digest_delivery_ids_tell_bodies_apart_and_repeat_for_the_same_bytes() -> None:
    profile = parse_profile(
        {
            "version": 1,
            "verification": {"scheme": "token", "header": "X-Token"},
            "deduplication": {"digest": True},
            "rules": [
                {
                    "name": "state",
                    "operation": "DEVICE_EVENT",
                    "members": {"ConnectorDeviceId": "event.id"},
                    "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
                }
            ],
        }
    )
    relay = Relay({"tok": profile})
    relay.keys.secrets["tok"] = "s3cret-token"
    body = b'{"id": "d-1", "on": true}'
    first = relay.send(LUMEN, body, headers={"X-Token": "s3cret-token"}, connector_id="tok")
    assert first.body["webhookId"] == "sha256:" + hashlib.sha256(body).hexdigest()
    again = relay.send(LUMEN, body, headers={"X-Token": "s3cret-token"}, connector_id="tok")
    assert again.outcome == "duplicate"
    other = relay.send(
        LUMEN, b'{"id": "d-1", "on": false}', headers={"X-Token": "s3cret-token"}, connector_id="tok"
    )
    assert other.outcome == "accepted"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda body, h: (body + b" ", h), id="body-changed-after-signing"),
        pytest.param(
            lambda body, h: (body, {**h, "x-lumen-signature-256": "sha256=" + "0" * 64}), id="wrong-hex"
        ),
        pytest.param(
            lambda body, h: (body, {k: v for k, v in h.items() if k != "x-lumen-signature-256"}),
            id="no-signature",
        ),
        pytest.param(
            lambda body, h: (body, {**h, "x-lumen-signature-256": h["x-lumen-signature-256"][7:]}),
            id="no-prefix",
        ),
    ],
)
def test_every_signature_failure_is_the_one_401(tamper: Any) -> None:
    relay = Relay()
    body = lumen_body(light())
    sent_body, headers = tamper(body, LUMEN.signed(body, delivery_id="dlv-1", now=NOW))
    answer = relay.send(LUMEN, sent_body, headers=headers)
    assert (answer.status, answer.body) == (401, {"message": "The request could not be authenticated."})
    assert relay.queued() == []


def test_a_signature_by_another_secret_is_refused_and_a_rotated_secret_accepts_both() -> None:
    relay = Relay()
    body = lumen_body(light())
    forged = LUMEN.signed(body, delivery_id="dlv-1", now=NOW, secret="not the lumen secret")
    assert relay.send(LUMEN, body, headers=forged).status == 401

    relay.keys.secrets[LUMEN.connector_id] = LUMEN.secret + "\nthe next lumen secret\n"
    rotated = LUMEN.signed(body, delivery_id="dlv-2", now=NOW, secret="the next lumen secret")
    assert relay.send(LUMEN, body, headers=rotated).status == 202
    assert relay.send(LUMEN, body, delivery_id="dlv-3").status == 202


def test_a_stale_timestamp_is_refused_before_any_hash_and_one_inside_the_tolerance_accepted() -> None:
    relay = Relay()
    body = json.dumps(
        {
            "eventId": "e-1",
            "account": "a",
            "readings": [{"sensorId": "p-1", "sensorType": "motion", "motion": True}],
        }
    ).encode()
    assert relay.send(AERIE, body, headers=AERIE.signed(body, now=NOW - 301)).status == 401
    assert relay.send(AERIE, body, headers=AERIE.signed(body, now=NOW + 301)).status == 401
    assert relay.send(AERIE, body, headers=AERIE.signed(body, now=NOW - 299)).status == 202


def test_the_github_style_signature_is_the_published_algorithm() -> None:
    # What a sender computes: HMAC-SHA256 of the raw body under the secret, hex, after "sha256=".
    relay = Relay()
    body = lumen_body(light())
    digest = hmac.new(LUMEN.secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"x-lumen-signature-256": f"sha256={digest}", "X-Lumen-Delivery": "dlv-gh"}
    assert relay.send(LUMEN, body, headers=headers).status == 202


def test_a_connector_without_profile_keeps_standard_webhooks_and_sendconnectorevent_bodies() -> None:
    from samples.webhooks import BODIES, DEMO_CONNECTOR_ID, DEMO_SECRET, encode, signed_headers

    relay = Relay()
    relay.keys.secrets[DEMO_CONNECTOR_ID] = DEMO_SECRET
    body = encode(BODIES["device-event"])
    request = WebhookRequest(
        DEMO_CONNECTOR_ID,
        {"content-type": "application/json", **signed_headers(body, webhook_id="msg_1", timestamp=NOW)},
        body,
    )
    answer = relay.intake.handle(request)
    assert (answer.status, relay.queued()) == (202, [BODIES["device-event"]])
    assert relay.profiles.lookups == [DEMO_CONNECTOR_ID]


def test_an_unusable_profile_is_the_one_401_and_a_profile_store_outage_a_503() -> None:
    relay = Relay()
    body = lumen_body(light())
    relay.profiles.failure = SignatureError("unusable_profile")
    assert relay.send(LUMEN, body).status == 401
    relay.profiles.failure = DependencyUnavailableError("profiles")
    outage = relay.send(LUMEN, body)
    assert (outage.status, outage.headers.get("Retry-After")) == (503, "5")


def test_a_profiled_connector_without_a_secret_is_the_one_401() -> None:
    relay = Relay()
    del relay.keys.secrets[LUMEN.connector_id]
    answer = relay.send(LUMEN, lumen_body(light()))
    assert (answer.status, answer.outcome) == (401, "unauthorized.unknown_connector")


def test_a_profile_naming_its_secret_reads_that_one() -> None:
    profile = LUMEN.profile().model_copy(update={"secret": "shared/lumen"})
    relay = Relay({LUMEN.connector_id: profile})
    relay.keys.secrets["shared/lumen"] = "a shared lumen secret"
    body = lumen_body(light())
    headers = LUMEN.signed(body, delivery_id="dlv-1", now=NOW, secret="a shared lumen secret")
    assert relay.send(LUMEN, body, headers=headers).status == 202
    assert "shared/lumen" in relay.keys.lookups


@pytest.mark.parametrize(
    ("name", "when", "items"),
    [
        # a function given what it cannot take: length() of a missing member
        (
            "counted",
            "length(event.parts) > `0`",
            [{"id": "d-1", "on": True, "parts": [1]}, {"id": "d-2", "on": True}],
        ),
        # jmespath orders text too, and raises Python's error for text against a number
        (
            "bright",
            "event.level > `50`",
            [{"id": "d-1", "on": True, "level": 80}, {"id": "d-2", "on": True, "level": "high"}],
        ),
    ],
)
def test_an_expression_that_cannot_be_evaluated_on_an_event_is_a_422_not_a_500(
    name: str, when: str, items: list[dict[str, object]]
) -> None:
    # GIVEN a rule whose condition the second event's values cannot satisfy or refute
    profile = parse_profile(
        {
            "version": 1,
            "verification": {"scheme": "token", "header": "X-Token"},
            "deduplication": {"digest": True},
            "events": "body.items",
            "rules": [
                {
                    "name": name,
                    "when": when,
                    "operation": "DEVICE_EVENT",
                    "members": {"ConnectorDeviceId": "event.id"},
                    "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
                }
            ],
        }
    )
    relay = Relay({"tok": profile})
    relay.keys.secrets["tok"] = "s3cret-token"
    body = json.dumps({"items": items}).encode()

    # WHEN it is sent
    answer = relay.send(LUMEN, body, headers={"X-Token": "s3cret-token"}, connector_id="tok")

    # THEN the webhook is a 422 naming the rule and the event, not a 500
    assert answer.status == 422
    assert answer.body["errors"] == [
        {"path": "items[1]", "rule": f"rule {name}: {when} cannot be evaluated on this event"}
    ]
