"""Validation of connector profiles: what a profile may say, and every problem named by its path."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from iotbridge import matter
from iotbridge.profile.document import (
    MAX_RULES,
    ConnectorProfile,
    ProfileError,
    parse_profile,
    parse_profile_json,
)
from iotbridge.profile.rules import MEMBER_NAMES
from iotbridge.profile.verification import (
    HmacScheme,
    StandardWebhooksScheme,
    TokenScheme,
    delivery_id_is_signed,
)

ROOT = Path(__file__).resolve().parents[3]
STATE_RULE: dict[str, Any] = {
    "name": "state",
    "operation": "DEVICE_EVENT",
    "members": {"ConnectorDeviceId": "event.id"},
    "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
}
MINIMAL: dict[str, Any] = {
    "version": 1,
    "verification": {"scheme": "hmac", "signatureHeader": "X-Signature"},
    "deduplication": {"digest": True},
    "rules": [STATE_RULE],
}


def profile_with(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(MINIMAL)
    document.update(copy.deepcopy(changes))
    return document


def rule_with(**changes: Any) -> dict[str, Any]:
    rule = copy.deepcopy(STATE_RULE)
    rule.update(copy.deepcopy(changes))
    return rule


def problems(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(ProfileError) as caught:
        parse_profile(document)
    return [(p.path, p.rule) for p in caught.value.problems]


def paths(document: Any) -> set[str]:
    return {path for path, _ in problems(document)}


def rules_at(document: Any, path: str) -> list[str]:
    found = [rule for where, rule in problems(document) if where == path]
    assert found, f"no problem at {path!r}"
    return found


# --- Valid profiles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verification", "kind"),
    [
        ({"scheme": "standard-webhooks"}, StandardWebhooksScheme),
        (
            {"scheme": "standard-webhooks", "versions": ["v1", "v1a"], "toleranceSeconds": 600},
            StandardWebhooksScheme,
        ),
        ({"scheme": "hmac", "signatureHeader": "X-Hub-Signature-256", "prefix": "sha256="}, HmacScheme),
        (
            {
                "scheme": "hmac",
                "signatureHeader": "X-Slack-Signature",
                "prefix": "v0=",
                "signedContent": "v0:{timestamp}:{body}",
                "timestampHeader": "X-Slack-Request-Timestamp",
            },
            HmacScheme,
        ),
        (
            {
                "scheme": "hmac",
                "signatureHeader": "Stripe-Signature",
                "signedContent": "{timestamp}.{body}",
                "entries": {"separator": ",", "signatureKey": "v1", "timestampKey": "t"},
            },
            HmacScheme,
        ),
        (
            {
                "scheme": "hmac",
                "signatureHeader": "webhook-signature",
                "signedContent": "{id}.{timestamp}.{body}",
                "timestampHeader": "webhook-timestamp",
                "messageIdHeader": "webhook-id",
                "encoding": "base64",
                "secretEncoding": "base64",
                "algorithm": "sha512",
            },
            HmacScheme,
        ),
        ({"scheme": "token", "header": "Authorization"}, TokenScheme),
    ],
    ids=["standard-webhooks", "standard-webhooks-v1a", "github", "slack", "stripe", "id-signed", "token"],
)
def test_a_minimal_profile_of_each_scheme_is_valid(verification: dict[str, Any], kind: type) -> None:
    profile = parse_profile(profile_with(verification=verification))
    assert isinstance(profile, ConnectorProfile)
    assert isinstance(profile.verification, kind)


def test_a_minimal_profile_gets_the_documented_defaults() -> None:
    profile = parse_profile(MINIMAL)
    scheme = profile.verification
    assert isinstance(scheme, HmacScheme)
    assert (scheme.algorithm, scheme.encoding, scheme.prefix, scheme.signed_content) == (
        "sha256",
        "hex",
        "",
        "{body}",
    )
    assert scheme.tolerance_seconds == 300
    assert scheme.secret_encoding == "utf8"
    assert (profile.unmatched, profile.attribute_form, str(profile.events)) == ("reject", "object", "body")
    assert profile.rules[0].matter_endpoint is not None
    assert profile.rules[0].matter_endpoint.endpoint == "1"


def test_header_names_are_kept_lower_cased() -> None:
    profile = parse_profile(
        profile_with(
            verification={
                "scheme": "hmac",
                "signatureHeader": "X-Hub-Signature-256",
                "messageIdHeader": "X-Id",
            },
            deduplication=None,
        )
    )
    assert isinstance(profile.verification, HmacScheme)
    assert profile.verification.signature_header == "x-hub-signature-256"
    assert profile.message_id_header == "x-id"


@pytest.mark.parametrize("name", ["lumen-home", "aerie-sensors"])
def test_the_sample_profiles_are_valid(name: str) -> None:
    profile = parse_profile_json((ROOT / "events" / "profiles" / f"{name}.json").read_bytes())
    assert len(profile.rules) >= 3


def test_a_standard_webhooks_profile_needs_no_deduplication() -> None:
    profile = parse_profile(profile_with(verification={"scheme": "standard-webhooks"}, deduplication=None))
    assert profile.message_id_header == "webhook-id"


# --- Every problem, by its path ----------------------------------------------------------------------------


def test_unknown_keys_are_refused_with_their_path() -> None:
    document = profile_with(
        colour="blue",
        verification={"scheme": "hmac", "signatureHeader": "X-Sig", "salt": "x"},
        rules=[
            rule_with(
                priority=1, matterEndpoint={"set": [{"attribute": "OnOff.OnOff", "from": "a", "why": 1}]}
            )
        ],
    )
    found = problems(document)
    assert ("colour", "Extra inputs are not permitted") in found
    assert ("verification.salt", "Extra inputs are not permitted") in found
    assert ("rules[0].priority", "Extra inputs are not permitted") in found
    assert ("rules[0].matterEndpoint.set[0].why", "Extra inputs are not permitted") in found


def test_several_problems_are_all_listed_each_with_its_path() -> None:
    document = profile_with(
        version=2,
        unmatched="drop",
        attributeForm="table",
        secret="has spaces",
        rules=[
            rule_with(operation="DEVICE_STATE"),
            rule_with(
                name="two",
                matterEndpoint={"set": [{"attribute": "OnOff.OnOff", "from": "a", "clamp": "yes"}]},
            ),
        ],
    )
    assert {"version", "unmatched", "attributeForm", "secret", "rules[0].operation"} <= paths(document)
    assert "rules[1].matterEndpoint.set[0].clamp" in paths(document)


def test_the_error_message_counts_and_lists_every_problem() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(profile_with(version=2, unmatched="drop"))
    error = caught.value
    assert "2 problems" in str(error)
    assert sorted(error.descriptions()) == sorted(f"{p.path}: {p.rule}" for p in error.problems)
    assert any(d.startswith("version: ") for d in error.descriptions())


_TAG = re.compile(
    r"(^|\.)(standard-webhooks|hmac|token|str|list\[|literal\[|function-|union\[|json-or-python|is-instance|"
    r"EqualsTransform|MapTransform|ScaleTransform|ClampTransform|FromValue|LiteralValue|TemplateValue|"
    r"DeviceTypeChoice)"
)

TAGGED_CASES = {
    "hmac-field": profile_with(verification={"scheme": "hmac", "signatureHeader": 5}),
    "token-field": profile_with(verification={"scheme": "token", "header": "X Bad"}),
    "standard-webhooks-field": profile_with(verification={"scheme": "standard-webhooks", "versions": ["v2"]}),
    "transform-name": profile_with(
        rules=[
            rule_with(
                matterEndpoint={"set": [{"attribute": "OnOff.OnOff", "from": "a", "transform": "nope"}]}
            )
        ]
    ),
    "transform-in-a-list": profile_with(
        rules=[
            rule_with(
                matterEndpoint={
                    "set": [{"attribute": "OnOff.OnOff", "from": "a", "transform": ["not", {"clamp": {}}]}]
                }
            )
        ]
    ),
    "member-value": profile_with(rules=[rule_with(members={"ConnectorDeviceId": {"template": "{event.[}"}})]),
    "member-expression": profile_with(rules=[rule_with(members={"ConnectorDeviceId": 7})]),
    "device-type": profile_with(
        rules=[
            {
                "name": "d",
                "operation": "DEVICE_DISCOVERY",
                "devices": {
                    "from": "event.d",
                    "connectorDeviceId": "device.id",
                    "deviceType": {"from": 3, "map": {}},
                },
            }
        ]
    ),
}


@pytest.mark.parametrize("case", list(TAGGED_CASES))
def test_paths_do_not_contain_pydantics_union_tags(case: str) -> None:
    found = problems(TAGGED_CASES[case])
    assert found
    for path, _ in found:
        assert not _TAG.search(path), path


def test_a_map_key_that_spells_a_tag_stays_in_the_path() -> None:
    rule = rule_with(
        matterEndpoint={"commands": [{"from": "event.c", "map": {"token": 5, "hmac": "OnOff.On"}}]}
    )
    rule["operation"] = "DEVICE_COMMAND_RESPONSE"
    assert "rules[0].matterEndpoint.commands[0].map.token" in paths(profile_with(rules=[rule]))


def test_paths_of_a_discriminated_scheme_point_into_the_scheme() -> None:
    document = profile_with(verification={"scheme": "hmac", "signatureHeader": "X-Sig", "algorithm": "md5"})
    assert rules_at(document, "verification.algorithm")
    unknown = rules_at(profile_with(verification={"scheme": "digest"}), "verification")
    assert any(
        "'standard-webhooks', 'hmac', 'token', 'http-signature', 'jwt', 'path-token', 'basic'" in rule
        for rule in unknown
    )


@pytest.mark.parametrize(
    ("where", "document", "path"),
    [
        ("when", profile_with(rules=[rule_with(when="event.[")]), "rules[0].when"),
        ("member", profile_with(rules=[rule_with(members={"UserId": "event.("})]), "rules[0].members.UserId"),
        ("events", profile_with(events="body.events[?"), "events"),
        (
            "from",
            profile_with(
                rules=[rule_with(matterEndpoint={"set": [{"attribute": "OnOff.OnOff", "from": "a."}]})]
            ),
            "rules[0].matterEndpoint.set[0].from",
        ),
        (
            "template",
            profile_with(rules=[rule_with(members={"Message": {"template": "x{event.[}"}})]),
            "rules[0].members.Message",
        ),
        ("deduplication", profile_with(deduplication={"body": "body.]"}), "deduplication.body"),
        ("empty", profile_with(rules=[rule_with(when="  ")]), "rules[0].when"),
    ],
)
def test_an_invalid_jmespath_expression_names_its_field(
    where: str, document: dict[str, Any], path: str
) -> None:
    assert any("JMESPath" in rule for rule in rules_at(document, path)), where


# --- Matter names ------------------------------------------------------------------------------------------


def catalogue_message(lookup: Any, name: str) -> str:
    with pytest.raises(matter.CatalogueError) as caught:
        lookup(name)
    return str(caught.value)


@pytest.mark.parametrize(
    ("endpoint", "path", "lookup", "name"),
    [
        (
            {"set": [{"attribute": "LevelControl.Brightness", "from": "a"}]},
            "rules[0].matterEndpoint.set[0].attribute",
            matter.attribute,
            "LevelControl.Brightness",
        ),
        (
            {"set": [{"attribute": "Lighting.OnOff", "from": "a"}]},
            "rules[0].matterEndpoint.set[0].attribute",
            matter.attribute,
            "Lighting.OnOff",
        ),
        (
            {"set": [{"attribute": "OnOff", "from": "a"}]},
            "rules[0].matterEndpoint.set[0].attribute",
            matter.attribute,
            "OnOff",
        ),
        (
            {"commands": [{"command": "OnOff.Flip"}]},
            "rules[0].matterEndpoint.commands[0]",
            matter.command,
            "OnOff.Flip",
        ),
        (
            {"commands": [{"from": "event.c", "map": {"up": "LevelControl.Raise"}}]},
            "rules[0].matterEndpoint.commands[0]",
            matter.command,
            "LevelControl.Raise",
        ),
        (
            {"events": [{"event": "Switch.Pressed"}]},
            "rules[0].matterEndpoint.events[0].event",
            matter.event,
            "Switch.Pressed",
        ),
    ],
    ids=["attribute", "cluster", "attribute-without-cluster", "command", "mapped-command", "event"],
)
def test_unknown_matter_names_are_refused_with_the_catalogues_message(
    endpoint: dict[str, Any], path: str, lookup: Any, name: str
) -> None:
    document = profile_with(rules=[rule_with(matterEndpoint=endpoint)])
    assert rules_at(document, path) == [catalogue_message(lookup, name)]


def discovery_rule(**devices: Any) -> dict[str, Any]:
    return {
        "name": "discovery",
        "operation": "DEVICE_DISCOVERY",
        "members": {"DeviceDiscoveryId": "event.discoveryId"},
        "devices": {
            "from": "event.devices",
            "connectorDeviceId": "device.id",
            "deviceType": "DimmableLight",
            **devices,
        },
    }


@pytest.mark.parametrize(
    ("device_type", "path"),
    [
        ("Lamp", "rules[0].devices.deviceType"),
        ({"from": "device.model", "map": {"x": "Lamp"}}, "rules[0].devices.deviceType.map"),
    ],
    ids=["fixed", "mapped"],
)
def test_unknown_device_types_are_refused_with_the_catalogues_message(device_type: Any, path: str) -> None:
    document = profile_with(rules=[discovery_rule(deviceType=device_type)])
    assert catalogue_message(matter.device_type, "Lamp") in rules_at(document, path)


def test_unknown_added_clusters_are_refused() -> None:
    document = profile_with(
        rules=[discovery_rule(addClusters={"from": "device.features", "map": {"b": "Battery"}})]
    )
    assert rules_at(document, "rules[0].devices.addClusters.map") == ["unknown cluster 'Battery'"]


def test_a_mapped_command_needs_its_map_and_exactly_one_source() -> None:
    for command in (
        {"from": "event.c"},
        {},
        {"command": "OnOff.On", "from": "event.c", "map": {"a": "OnOff.On"}},
    ):
        document = profile_with(rules=[rule_with(matterEndpoint={"commands": [command]})])
        assert rules_at(document, "rules[0].matterEndpoint.commands[0]")


# --- Signed content ----------------------------------------------------------------------------------------


def hmac_problems(**fields: Any) -> list[str]:
    return rules_at(
        profile_with(verification={"scheme": "hmac", "signatureHeader": "X-Sig", **fields}), "verification"
    )


@pytest.mark.parametrize("content", ["{body}.{timestamp}", "{body}{body}", "v0:{timestamp}", "{body} "])
def test_signed_content_must_end_with_the_body_once(content: str) -> None:
    assert any(
        "must end with {body}" in rule
        for rule in hmac_problems(signedContent=content, timestampHeader="X-Ts")
    )


def test_signed_content_knows_only_body_timestamp_and_id() -> None:
    assert any("not nonce" in rule for rule in hmac_problems(signedContent="{nonce}.{body}"))


def test_a_signed_timestamp_needs_a_place_in_the_request() -> None:
    assert any("timestampHeader" in rule for rule in hmac_problems(signedContent="{timestamp}.{body}"))


@pytest.mark.parametrize(
    "fields",
    [{"timestampHeader": "X-Ts"}, {"entries": {"signatureKey": "v1", "timestampKey": "t"}}],
    ids=["header", "entry"],
)
def test_a_timestamp_the_request_carries_must_be_signed(fields: dict[str, Any]) -> None:
    assert any("{timestamp}" in rule for rule in hmac_problems(**fields))


@pytest.mark.parametrize(
    "fields",
    [
        {"signedContent": "{timestamp}.{body}", "timestampHeader": "X-Ts"},
        {"signedContent": "{timestamp}.{body}", "entries": {"signatureKey": "v1", "timestampKey": "t"}},
    ],
    ids=["header", "entry"],
)
def test_a_signed_timestamp_from_a_header_or_an_entry_is_valid(fields: dict[str, Any]) -> None:
    parse_profile(profile_with(verification={"scheme": "hmac", "signatureHeader": "X-Sig", **fields}))


def test_a_signed_id_needs_its_header() -> None:
    found = hmac_problems(signedContent="{id}.{timestamp}.{body}", timestampHeader="X-Ts")
    assert any("messageIdHeader" in rule for rule in found)
    parse_profile(
        profile_with(
            verification={
                "scheme": "hmac",
                "signatureHeader": "X-Sig",
                "signedContent": "{id}.{body}",
                "messageIdHeader": "X-Id",
            }
        )
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("toleranceSeconds", 0), ("toleranceSeconds", 3601), ("toleranceSeconds", "300"), ("prefix", "p" * 33)],
)
def test_tolerance_and_prefix_out_of_bounds_are_named_by_path(field: str, value: Any) -> None:
    document = profile_with(verification={"scheme": "hmac", "signatureHeader": "X-Sig", field: value})
    assert f"verification.{field}" in paths(document)


# --- Deduplication -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "verification",
    [
        {"scheme": "hmac", "signatureHeader": "X-Sig"},
        {"scheme": "token", "header": "X-Token"},
    ],
    ids=["hmac-without-message-id", "token"],
)
def test_a_scheme_without_a_message_id_needs_deduplication(verification: dict[str, Any]) -> None:
    assert any(
        "deduplication" in rule
        for rule in rules_at(profile_with(verification=verification, deduplication=None), "")
    )


@pytest.mark.parametrize(
    "deduplication",
    [
        {},
        {"header": "X-Delivery", "digest": True},
        {"header": "X-Delivery", "body": "body.id"},
        {"digest": False},
    ],
    ids=["none", "header-and-digest", "header-and-body", "digest-false"],
)
def test_deduplication_has_exactly_one_source(deduplication: dict[str, Any]) -> None:
    assert rules_at(profile_with(deduplication=deduplication), "deduplication") == [
        "choose exactly one of header, body or digest"
    ]


@pytest.mark.parametrize(
    ("deduplication", "header"),
    [({"header": "X-Delivery"}, "x-delivery"), ({"body": "body.eventId"}, None), ({"digest": True}, None)],
)
def test_only_a_header_deduplication_source_names_a_message_id_header(
    deduplication: dict[str, Any], header: str | None
) -> None:
    assert parse_profile(profile_with(deduplication=deduplication)).message_id_header == header


# --- Headers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["Host", "content-length", "X-Forwarded-For", "x-forwarded-proto", "Transfer-Encoding"]
)
@pytest.mark.parametrize(
    ("verification", "field"),
    [
        ({"scheme": "hmac"}, "signatureHeader"),
        ({"scheme": "hmac", "signatureHeader": "X-Sig", "messageIdHeader": None}, "messageIdHeader"),
        ({"scheme": "token"}, "header"),
    ],
    ids=["signature", "message-id", "token"],
)
def test_reserved_headers_are_refused(verification: dict[str, Any], field: str, header: str) -> None:
    document = profile_with(verification={**verification, field: header})
    assert rules_at(document, f"verification.{field}") == ["is a header a sender does not control"]


def test_a_reserved_header_is_refused_for_deduplication_too() -> None:
    assert rules_at(profile_with(deduplication={"header": "Host"}), "deduplication.header") == [
        "is a header a sender does not control"
    ]


@pytest.mark.parametrize("header", ["X Sig", "X_Sig", "-X", "", "X-Sig\n", "x" * 129, "Signatur\u00e9"])
def test_header_names_must_be_names(header: str) -> None:
    assert rules_at(profile_with(verification={"scheme": "token", "header": header}), "verification.header")


# --- Rules -------------------------------------------------------------------------------------------------


def test_rule_names_must_be_unique() -> None:
    found = rules_at(profile_with(rules=[STATE_RULE, rule_with(name="other"), STATE_RULE]), "")
    assert found == ["rule names must be unique: state"]


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "ünï"])
def test_rule_names_are_short_plain_words(name: str) -> None:
    assert "rules[0].name" in paths(profile_with(rules=[rule_with(name=name)]))


def test_a_discovery_rule_needs_devices_and_no_matter_endpoint() -> None:
    assert rules_at(profile_with(rules=[rule_with(operation="DEVICE_DISCOVERY")]), "rules[0]") == [
        "a DEVICE_DISCOVERY rule needs devices"
    ]
    both = discovery_rule()
    both["matterEndpoint"] = {"set": []}
    assert rules_at(profile_with(rules=[both]), "rules[0]") == [
        "a DEVICE_DISCOVERY rule reports devices, not a matterEndpoint"
    ]


def test_devices_belong_to_discovery_only() -> None:
    stray = rule_with(devices=discovery_rule()["devices"])
    assert rules_at(profile_with(rules=[stray]), "rules[0]") == ["devices belong to a DEVICE_DISCOVERY rule"]


def test_a_device_event_rule_needs_a_matter_endpoint() -> None:
    rule = rule_with()
    del rule["matterEndpoint"]
    assert rules_at(profile_with(rules=[rule]), "rules[0]") == ["a DEVICE_EVENT rule needs a matterEndpoint"]


def test_command_responses_and_requests_may_go_without_a_matter_endpoint() -> None:
    for operation in ("DEVICE_COMMAND_RESPONSE", "DEVICE_COMMAND_REQUEST"):
        rule = rule_with(operation=operation)
        del rule["matterEndpoint"]
        parse_profile(profile_with(rules=[rule]))


def test_members_are_only_the_allowed_names() -> None:
    members = {name: "event.x" for name in MEMBER_NAMES}
    parse_profile(profile_with(rules=[rule_with(members=members)]))
    for wrong in ("ConnectorId", "Operation", "MatterEndpoint", "Devices", "connectorDeviceId"):
        found = rules_at(profile_with(rules=[rule_with(members={wrong: "event.x"})]), "rules[0].members")
        assert any(wrong in rule for rule in found), wrong


@pytest.mark.parametrize(
    "value",
    [
        "event.id",
        {"from": "event.id", "transform": "round"},
        {"value": 200},
        {"value": None},
        {"template": "a-{event.id}"},
    ],
    ids=["expression", "from", "literal", "literal-null", "template"],
)
def test_member_values_take_four_forms(value: Any) -> None:
    parse_profile(profile_with(rules=[rule_with(members={"StatusCode": value})]))


@pytest.mark.parametrize("count", [0, MAX_RULES + 1])
def test_a_profile_has_one_to_fifty_rules(count: int) -> None:
    rules = [rule_with(name=f"rule-{index}") for index in range(count)]
    assert "rules" in paths(profile_with(rules=rules))


def test_fifty_rules_are_enough() -> None:
    rules = [rule_with(name=f"rule-{index}") for index in range(MAX_RULES)]
    assert len(parse_profile(profile_with(rules=rules)).rules) == MAX_RULES


def test_a_profile_needs_its_version_verification_and_rules() -> None:
    assert {"version", "verification", "rules"} <= paths({"deduplication": {"digest": True}})


def test_endpoint_ids_follow_the_aws_pattern() -> None:
    document = profile_with(rules=[rule_with(matterEndpoint={"endpoint": "ep-1", "set": []})])
    assert "rules[0].matterEndpoint.endpoint" in paths(document)


def test_scale_and_bounds_must_be_finite() -> None:
    for transform in ({"scale": float("nan")}, {"offset": float("inf")}, {"clamp": {"max": float("nan")}}):
        set_ = [{"attribute": "LevelControl.CurrentLevel", "from": "a", "transform": transform}]
        found = problems(profile_with(rules=[rule_with(matterEndpoint={"set": set_})]))
        assert any(path.startswith("rules[0].matterEndpoint.set[0].transform") for path, _ in found), (
            transform
        )


# --- JSON in -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [[MINIMAL], "profile", 1, None, True])
def test_a_document_that_is_not_an_object_is_a_profile_error(data: Any) -> None:
    assert [path for path, _ in problems(data)] == [""]


@pytest.mark.parametrize(
    "text",
    ['{"version": 1,', "", "not json", b"\xff\xfe{}", '{"version": NaN}', "[" * 100_000],
    ids=["truncated", "empty", "words", "not-utf8", "nan", "deep"],
)
def test_text_that_is_not_json_is_a_profile_error(text: str | bytes) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile_json(text)
    assert [p.path for p in caught.value.problems] == [""]
    assert caught.value.problems[0].rule.startswith("not valid JSON")


def test_json_text_that_is_not_an_object_is_a_profile_error() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile_json(json.dumps([MINIMAL]))
    assert caught.value.problems[0].rule == "expected a JSON object, got list"


def test_json_text_of_a_valid_profile_parses() -> None:
    assert parse_profile_json(json.dumps(MINIMAL)).rules[0].name == "state"


@pytest.mark.parametrize(
    ("verification", "deduplication", "signed"),
    [
        ({"scheme": "standard-webhooks"}, None, True),
        ({"scheme": "standard-webhooks"}, {"header": "X-Delivery"}, False),
        ({"scheme": "hmac", "signatureHeader": "X-Sig", "messageIdHeader": "X-Id"}, None, False),
        (
            {
                "scheme": "hmac",
                "signatureHeader": "X-Sig",
                "messageIdHeader": "X-Id",
                "signedContent": "{id}.{body}",
            },
            None,
            True,
        ),
        (
            {
                "scheme": "hmac",
                "signatureHeader": "X-Sig",
                "messageIdHeader": "X-Id",
                "signedContent": "{id}.{body}",
            },
            {"header": "X-Other"},
            False,
        ),
        ({"scheme": "hmac", "signatureHeader": "X-Sig"}, {"body": "body.eventId"}, True),
        ({"scheme": "hmac", "signatureHeader": "X-Sig"}, {"digest": True}, True),
        ({"scheme": "token", "header": "X-Token"}, {"header": "X-Delivery"}, False),
    ],
)
def test_a_delivery_id_is_signed_only_when_the_signature_covers_where_it_comes_from(
    verification: dict[str, Any], deduplication: dict[str, Any] | None, signed: bool
) -> None:
    # GIVEN a scheme and where the delivery id comes from
    document = profile_with(verification=verification, deduplication=deduplication)
    if deduplication is None:
        del document["deduplication"]
    profile = parse_profile(document)
    # WHEN it is asked THEN the id counts as signed only when the signature covers it
    assert delivery_id_is_signed(profile.verification, profile.deduplication) is signed
