"""Refused and skipped profiled webhooks are kept for a replay, on that failure path only; what is kept, under
which key, and what a replay through the fixed profile does with it."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from fakes.receiver import (
    InMemoryConnectorProfiles,
    InMemoryDeduplicator,
    InMemoryEventQueue,
    InMemorySigningKeys,
    InMemoryWebhookArchive,
)
from iotbridge.profile.document import ConnectorProfile, parse_profile
from iotbridge.webhook_receiver.adapters import S3WebhookArchive
from iotbridge.webhook_receiver.domain.archived import (
    ArchivedWebhook,
    archive_key,
    kept_headers,
    received_at_of_key,
)
from iotbridge.webhook_receiver.domain.intake import Answer, IntakeLimits, WebhookIntake, WebhookRequest
from samples.device_clouds import LUMEN

NOW = 1_790_000_000.25


def lumen_document() -> dict[str, Any]:
    return json.loads(LUMEN.profile_file.read_text())


def with_model(document: dict[str, Any], model: str, device_type: str) -> dict[str, Any]:
    """The profile with one more entry in its discovery rule's model map."""
    for rule in document["rules"]:
        if rule["name"] == "discovery":
            rule["devices"]["deviceType"]["map"][model] = device_type
    return document


def skipping(document: dict[str, Any]) -> dict[str, Any]:
    for rule in document["rules"]:
        if rule["name"] == "discovery":
            rule["onError"] = "skip"
    return document


class Relay:
    def __init__(self, profile: ConnectorProfile | None = None) -> None:
        self.profiles = InMemoryConnectorProfiles({LUMEN.connector_id: profile or LUMEN.profile()})
        self.queue = InMemoryEventQueue()
        self.dedupe = InMemoryDeduplicator()
        self.archive = InMemoryWebhookArchive()
        self.intake = WebhookIntake(
            keys=InMemorySigningKeys({LUMEN.connector_id: LUMEN.secret}),
            queue=self.queue,
            deduplicator=self.dedupe,
            limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
            profiles=self.profiles,
            clock=lambda: NOW,
            archive=self.archive,
        )

    def send(self, body: bytes, delivery_id: str, **extra_headers: str) -> Answer:
        headers = {"content-type": "application/json", **extra_headers}
        headers |= {k.lower(): v for k, v in LUMEN.signed(body, delivery_id=delivery_id, now=NOW).items()}
        request = WebhookRequest(
            connector_id=LUMEN.connector_id, headers=headers, body=body, path="/connectors/lumen-home/events"
        )
        return self.intake.handle(request)

    def kept(self) -> list[ArchivedWebhook]:
        return [ArchivedWebhook.from_json(text) for text in self.archive.objects.values()]


def discovery(model: str) -> bytes:
    event = {
        "type": "discovery.result",
        "discoveryId": "disc-1",
        "devices": [{"deviceId": "lmn-bulb-9", "name": "Hall", "model": model, "features": []}],
    }
    return json.dumps({"accountId": "acct-1", "events": [event]}).encode()


def test_only_refused_and_skipped_webhooks_are_archived() -> None:
    # GIVEN a relay whose archive counts puts, and one whose profile skips what it cannot map
    relay = Relay()
    skipper = Relay(parse_profile(skipping(lumen_document())))

    # WHEN it takes an accepted webhook, its duplicate, a refused one and (the other) a skipped one
    accepted = relay.send(LUMEN.payload("state"), "dlv-ok")
    duplicate = relay.send(LUMEN.payload("state"), "dlv-ok")
    refused = relay.send(discovery("LB-30"), "dlv-refused")
    skipped = skipper.send(discovery("LB-30"), "dlv-skipped")

    # THEN only the refused and the skipped webhook cost an archive call
    assert (accepted.outcome, duplicate.outcome, refused.status, skipped.outcome) == (
        "accepted",
        "duplicate",
        422,
        "skipped",
    )
    assert relay.archive.puts == 1
    assert skipper.archive.puts == 1
    assert [kept.outcome for kept in relay.kept() + skipper.kept()] == ["refused", "skipped"]
    assert refused.archive == "archived"
    assert accepted.archive is None and duplicate.archive is None


def test_archived_record_keeps_the_body_and_no_header_the_mapping_does_not_read() -> None:
    relay = Relay()
    body = discovery("LB-30")

    relay.send(body, "dlv-7", authorization="Bearer secret-token")

    (key,) = relay.archive.objects
    record = json.loads(relay.archive.objects[key])
    assert record["connectorId"] == "lumen-home"
    # Lumen's delivery header is not signed: the receiver deduplicates by a digest of the signed bytes.
    assert record["webhookId"].startswith("sha256:")
    assert record["receivedAt"] == 1_790_000_000_250
    assert base64.b64decode(record["body"]) == body
    # Neither the signature, the delivery id header nor a credential: the mapping reads none of them.
    assert record["headers"] == {"content-type": "application/json"}
    assert record["path"] == "/connectors/lumen-home/events"
    assert record["outcome"] == "refused"
    assert record["problems"] and all(set(p) == {"path", "rule"} for p in record["problems"])
    assert "LB-30" not in json.dumps(record["problems"])
    digest = hashlib.sha256(body).hexdigest()[:16]
    assert key == f"connectors/lumen-home/2026/09/21/1790000000250-{digest}.json"


def test_a_failed_archive_changes_nothing_but_a_count() -> None:
    relay = Relay()
    relay.archive.failing = True

    answer = relay.send(discovery("LB-30"), "dlv-8")

    assert answer.status == 422 and answer.outcome == "invalid_event"
    assert answer.archive == "failed"
    names = [m.name for m in answer.measurements()]
    assert "ArchiveFailed" in names and "WebhooksRejected" in names


def test_an_archived_webhook_is_counted() -> None:
    answer = Relay().send(discovery("LB-30"), "dlv-9")

    assert "WebhooksArchived" in [m.name for m in answer.measurements()]


def test_keys_list_a_connectors_webhooks_in_time_order() -> None:
    keys = [archive_key("c1", ms, b"{}") for ms in (999_999_999_999, 1_790_000_000_000, 1_790_000_000_001)]

    assert keys == sorted(keys) or keys[0].split("/")[2] < keys[1].split("/")[2]
    assert re.fullmatch(r"connectors/c1/\d{4}/\d{2}/\d{2}/\d{13}-[0-9a-f]{16}\.json", keys[1])
    assert [received_at_of_key(key) for key in keys[1:]] == [1_790_000_000_000, 1_790_000_000_001]
    assert received_at_of_key("connectors/c1/notes.txt") is None


def test_kept_headers_are_those_the_rules_read_never_a_credential() -> None:
    document = lumen_document()
    document["rules"][0]["members"]["Message"] = {"template": '{headers."x-lumen-region"}'}
    document["rules"][1]["members"]["Message"] = "headers.authorization"
    profile = parse_profile(document)

    kept = kept_headers(
        profile,
        {
            "x-lumen-region": "eu",
            "authorization": "Bearer t",
            "x-lumen-signature-256": "sha256=00",
            "content-type": "application/json",
        },
    )

    assert kept == {"x-lumen-region": "eu", "content-type": "application/json"}


def test_replay_through_the_fixed_profile_queues_once() -> None:
    # GIVEN a webhook refused for a model the profile's map lacks
    relay = Relay()
    relay.send(discovery("LB-30"), "dlv-10")
    (kept,) = relay.kept()
    request = WebhookRequest(connector_id=kept.connector_id, headers=kept.headers, body=kept.body)

    # WHEN the profile is fixed and the kept webhook replayed, twice
    relay.profiles.profiles[LUMEN.connector_id] = parse_profile(
        with_model(lumen_document(), "LB-30", "DimmableLight")
    )
    first = relay.intake.replay(request, kept.webhook_id)
    second = relay.intake.replay(request, kept.webhook_id)

    # THEN it is queued once, under the id it was received with, and nothing more is archived
    assert (first.outcome, first.queued) == ("accepted", 1)
    assert second.outcome == "duplicate"
    assert [m.webhook_id for m in relay.queue.messages] == [kept.webhook_id]
    assert relay.archive.puts == 1


def test_replay_through_the_unfixed_profile_is_still_refused() -> None:
    relay = Relay()
    relay.send(discovery("LB-30"), "dlv-11")
    (kept,) = relay.kept()

    answer = relay.intake.replay(
        WebhookRequest(connector_id=kept.connector_id, headers=kept.headers, body=kept.body), kept.webhook_id
    )

    assert answer.status == 422 and not relay.queue.messages
    assert relay.archive.puts == 1


def test_the_s3_archive_makes_its_client_only_when_it_first_keeps_a_webhook() -> None:
    # GIVEN the S3 archive as the receiver's wiring builds it (S3's models are large to load at init)
    made: list[_Puts] = []

    def make() -> _Puts:
        made.append(_Puts())
        return made[-1]

    archive = S3WebhookArchive(make, "archive-bucket")
    assert made == []

    # WHEN it keeps two webhooks
    webhook = ArchivedWebhook("lumen-home", 1796596696162, "msg_1", "POST", "/", "", {}, b"{}", "refused", ())
    archive.keep(webhook)
    archive.keep(webhook)

    # THEN one client was made, on the first, and each webhook was put under its key
    assert len(made) == 1
    assert made[0].keys == [webhook.key, webhook.key]


class _Puts:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> dict[str, Any]:
        self.keys.append(Key)
        return {}


def two_discoveries(first_model: str, second_model: str) -> bytes:
    events = [
        {
            "type": "discovery.result",
            "discoveryId": f"disc-{n}",
            "devices": [{"deviceId": f"lmn-bulb-{n}", "name": "Hall", "model": model, "features": []}],
        }
        for n, model in ((1, first_model), (2, second_model))
    ]
    return json.dumps({"accountId": "acct-1", "events": events}).encode()


def test_a_webhook_with_some_events_skipped_is_kept_and_its_replay_queues_only_those() -> None:
    # GIVEN a profile that skips what it cannot map, and a webhook of two discoveries, one of a model it lacks
    relay = Relay(parse_profile(skipping(lumen_document())))
    accepted = relay.send(two_discoveries("LB-10", "LB-30"), "dlv-20")
    assert (accepted.outcome, accepted.queued) == ("accepted", 1)
    (kept,) = relay.kept()
    assert kept.outcome == "skipped" and kept.queued_sources == ("body.events[0]",)

    # WHEN the profile is fixed and the kept webhook replayed, twice
    relay.profiles.profiles[LUMEN.connector_id] = parse_profile(
        with_model(skipping(lumen_document()), "LB-30", "DimmableLight")
    )
    request = WebhookRequest(connector_id=kept.connector_id, headers=kept.headers, body=kept.body)
    first = relay.intake.replay(request, kept.replay_id, frozenset(kept.queued_sources))
    second = relay.intake.replay(request, kept.replay_id, frozenset(kept.queued_sources))

    # THEN only the event skipped at receipt is queued, once, under an id of the replay's own
    assert (first.outcome, first.queued) == ("accepted", 1)
    assert second.outcome == "duplicate"
    assert kept.replay_id == kept.webhook_id + "#replay"
    assert [m.webhook_id for m in relay.queue.messages] == [kept.webhook_id, kept.replay_id]
    assert [m.event["DeviceDiscoveryId"] for m in relay.queue.messages] == ["disc-1", "disc-2"]


def test_a_webhook_whose_every_event_is_queued_is_not_kept() -> None:
    relay = Relay(parse_profile(skipping(lumen_document())))

    answer = relay.send(two_discoveries("LB-10", "LB-10"), "dlv-21")

    assert (answer.outcome, answer.queued, answer.archive) == ("accepted", 2, None)
    assert relay.archive.puts == 0
