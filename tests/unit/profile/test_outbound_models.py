"""A profile's `outbound` block (iotbridge.profile.outbound): what it may say, every problem named by its path
in the document, the discovery rule it gives the inbound mapping, the General Authorization scope, and what
`profile validate` warns of."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from iotbridge.__main__ import profile_warnings
from iotbridge.profile.document import ConnectorProfile, ProfileError, parse_profile
from iotbridge.profile.outbound import GeneralAuthorizationScope, HmacAuth, Outbound
from iotbridge.profile.templates import TemplateError
from iotbridge.webhook_receiver.domain.mapping import map_body

# A SwitchBot API v1.1 style block: a signed request, a device list, one command.
OUTBOUND: dict[str, Any] = {
    "baseUrl": "https://api.switch-bot.com",
    "headers": {
        "Content-Type": "application/json; charset=utf8",
        "Authorization": "{secret.token}",
        "t": "{timestamp.ms}",
        "nonce": "{nonce}",
    },
    "auth": {
        "type": "hmac",
        "key": "{secret.secret}",
        "message": "{secret.token}{timestamp.ms}{nonce}",
        "header": "sign",
    },
    "userIdClaim": "sub",
    "discoverDevices": {
        "request": {"method": "GET", "path": "/v1.1/devices"},
        "devices": "body.body.deviceList",
        "nextPage": {"token": "body.nextPageToken", "query": "pageToken"},
        "device": {
            "connectorDeviceId": "device.deviceId",
            "name": "device.deviceName",
            "deviceType": "OnOffLight",
        },
        "when": "device.enableCloudService != `false`",
    },
    "sendCommand": {
        "request": {"method": "POST", "path": "/v1.1/devices/{device.id}/commands", "body": "{command}"},
        "commands": [
            {
                "name": "on",
                "command": "OnOff.On",
                "body": {"command": "turnOn", "parameter": "default", "commandType": "command"},
                "response": {"set": [{"attribute": "OnOff.OnOff", "value": True}]},
            },
            {
                "name": "level",
                "command": "LevelControl.MoveToLevel",
                "values": {
                    "level": {"from": "fields.Level", "transform": "levelToPercent", "required": True}
                },
                "body": {"command": "setBrightness", "parameter": "{values.level}"},
            },
        ],
        "answer": {"mode": "sync", "success": "body.statusCode == `100`", "message": "body.message"},
    },
}
PROFILE: dict[str, Any] = {
    "version": 1,
    "verification": {"scheme": "hmac", "signatureHeader": "X-Signature"},
    "deduplication": {"digest": True},
    "rules": [
        {
            "name": "state",
            "operation": "DEVICE_EVENT",
            "members": {"ConnectorDeviceId": "event.id"},
            "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.on"}]},
        }
    ],
    "outbound": OUTBOUND,
    "generalAuthorization": {"secretArns": ["arn:aws:secretsmanager:*:111122223333:secret:switchbot/*"]},
}
ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:switchbot/home-AbCdEf"


def changed(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """The profile with `change` applied to a copy of its document."""
    document = copy.deepcopy(PROFILE)
    change(document)
    return document


def outbound(document: dict[str, Any]) -> dict[str, Any]:
    block: dict[str, Any] = document["outbound"]
    return block


def problems(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(ProfileError) as caught:
        parse_profile(document)
    return [(p.path, p.rule) for p in caught.value.problems]


def parsed(document: dict[str, Any] | None = None) -> ConnectorProfile:
    return parse_profile(document or copy.deepcopy(PROFILE))


def test_a_rest_block_is_read_with_its_templates_compiled() -> None:
    profile = parsed()

    block = profile.outbound
    assert block is not None
    assert isinstance(block.auth, HmacAuth) and block.auth.header == "sign"
    assert block.send_command.request.path.render({"device": {"id": "C0"}}) == "/v1.1/devices/C0/commands"
    assert block.send_command.commands[0].body is not None
    assert block.send_command.commands[0].body.render({}) == {
        "command": "turnOn",
        "parameter": "default",
        "commandType": "command",
    }
    assert block.discover_devices.max_pages == 10 and block.discover_devices.max_devices == 1000


def test_a_command_rule_knows_its_catalogue_ids() -> None:
    on, level = parsed().outbound.send_command.commands  # type: ignore[union-attr]

    assert (on.cluster_id, on.command_id) == (0x0006, 0x01)
    assert (level.cluster_id, level.command_id) == (0x0008, 0x00)


def test_templates_know_their_place_for_the_errors_of_rendering() -> None:
    block = parsed().outbound
    assert block is not None

    with pytest.raises(TemplateError) as caught:
        block.send_command.request.path.render({"device": {"id": None}})
    assert caught.value.where == "sendCommand.request.path"
    assert block.headers["t"].where == "headers.t"


def test_the_document_dumps_back_to_what_reads_the_same() -> None:
    profile = parsed()

    again = parse_profile(profile.model_dump(by_alias=True, exclude_unset=True))

    assert again.outbound == profile.outbound


PATH_CASES: list[tuple[str, Callable[[dict[str, Any]], Any], str, str]] = [
    (
        "unknown command",
        lambda d: outbound(d)["sendCommand"]["commands"][0].update(command="OnOff.Onn"),
        "outbound.sendCommand.commands[0].command",
        'unknown command "OnOff.Onn"',
    ),
    (
        "a key template with a broken placeholder",
        lambda d: outbound(d)["auth"].update(key="{secret[}"),
        "outbound.auth.key",
        "placeholder {secret[}",
    ),
    (
        "an hmac without its header",
        lambda d: outbound(d)["auth"].pop("header"),
        "outbound.auth.header",
        "Field required",
    ),
    (
        "an unknown auth member",
        lambda d: outbound(d).update(auth={"type": "headers", "apiKey": "x"}),
        "outbound.auth.apiKey",
        "Extra inputs",
    ),
    (
        "a bearer token that is no text",
        lambda d: outbound(d).update(auth={"type": "bearer", "token": 5}),
        "outbound.auth.token",
        "must be text",
    ),
    (
        "a GET with a body",
        lambda d: outbound(d)["discoverDevices"]["request"].update(body={"a": 1}),
        "outbound.discoverDevices.request",
        "a GET request has no body or form",
    ),
    (
        "a DELETE with a form",
        lambda d: outbound(d).update(
            deactivateUser={"request": {"method": "DELETE", "path": "/token", "form": {"t": "{token}"}}}
        ),
        "outbound.deactivateUser.request",
        "a DELETE request has no body or form",
    ),
    (
        "a body and a form",
        lambda d: outbound(d)["sendCommand"]["request"].update(form={"a": "b"}),
        "outbound.sendCommand.request",
        "choose body (JSON) or form",
    ),
    (
        "a lone brace in a command's body",
        lambda d: outbound(d)["sendCommand"]["commands"][0].update(body={"command": "turn{On"}),
        "outbound.sendCommand.commands[0].body",
        "command: a lone '{'",
    ),
    (
        "a path not under the base URL",
        lambda d: outbound(d)["discoverDevices"]["request"].update(path="v1.1/devices"),
        "outbound.discoverDevices.request.path",
        "starts with a single '/'",
    ),
    (
        "a path with its query",
        lambda d: outbound(d)["discoverDevices"]["request"].update(path="/v1.1/devices?all=1"),
        "outbound.discoverDevices.request.path",
        "the query is `query`",
    ),
    (
        "a redirect as success",
        lambda d: outbound(d)["sendCommand"]["request"].update(expect=[200, 302]),
        "outbound.sendCommand.request.expect",
        "redirects are not followed",
    ),
    (
        "half a next page",
        lambda d: outbound(d)["discoverDevices"].update(nextPage={"token": "body.next"}),
        "outbound.discoverDevices.nextPage",
        "give token and query",
    ),
    (
        "two kinds of next page",
        lambda d: outbound(d)["discoverDevices"].update(
            nextPage={"token": "body.next", "query": "page", "url": "body.links.next"}
        ),
        "outbound.discoverDevices.nextPage",
        "not both",
    ),
    (
        "too many pages",
        lambda d: outbound(d)["discoverDevices"].update(maxPages=51),
        "outbound.discoverDevices.maxPages",
        "less than or equal to 50",
    ),
    (
        "too many devices",
        lambda d: outbound(d)["discoverDevices"].update(maxDevices=5001),
        "outbound.discoverDevices.maxDevices",
        "less than or equal to 5000",
    ),
    (
        "an unknown device type",
        lambda d: outbound(d)["discoverDevices"]["device"].update(deviceType="Toaster"),
        "outbound.discoverDevices.device.deviceType",
        'unknown device type "Toaster"',
    ),
    (
        "an async answer with no request id",
        lambda d: outbound(d)["sendCommand"].update(answer={"mode": "async"}),
        "outbound.sendCommand.answer",
        "needs requestId",
    ),
    (
        "a failure status that is no failure",
        lambda d: outbound(d)["sendCommand"]["answer"].update(failureStatus=200),
        "outbound.sendCommand.answer.failureStatus",
        "greater than or equal to 400",
    ),
    (
        "a response that reports commands",
        lambda d: outbound(d)["sendCommand"]["commands"][0].update(
            response={"commands": [{"command": "OnOff.On"}]}
        ),
        "outbound.sendCommand.commands[0].response",
        "attributes only",
    ),
    (
        "a response attribute the catalogue lacks",
        lambda d: outbound(d)["sendCommand"]["commands"][0].update(
            response={"set": [{"attribute": "OnOff.Power", "value": True}]}
        ),
        "outbound.sendCommand.commands[0].response.set[0].attribute",
        'unknown attribute "OnOff.Power"',
    ),
    (
        "a value from both a field and a literal",
        lambda d: outbound(d)["sendCommand"]["commands"][1].update(
            values={"level": {"from": "fields.Level", "value": 3}}
        ),
        "outbound.sendCommand.commands[1].values.level",
        "exactly one of from and value",
    ),
    (
        "a value name no placeholder could read",
        lambda d: outbound(d)["sendCommand"]["commands"][1].update(values={"the level": {"value": 3}}),
        "outbound.sendCommand.commands[1].values",
        "identifiers",
    ),
    (
        "two command rules of one name",
        lambda d: outbound(d)["sendCommand"]["commands"][1].update(name="on"),
        "outbound.sendCommand.commands",
        "unique: on",
    ),
    (
        "no command rule",
        lambda d: outbound(d)["sendCommand"].update(commands=[]),
        "outbound.sendCommand.commands",
        "at least 1 item",
    ),
    (
        "a plain http base URL to the internet",
        lambda d: outbound(d).update(baseUrl="http://api.switch-bot.com"),
        "outbound.baseUrl",
        "must be an https:// URL",
    ),
    (
        "a base URL naming the metadata service",
        lambda d: outbound(d).update(baseUrl="https://169.254.169.254"),
        "outbound.baseUrl",
        "internal address",
    ),
    (
        "a base URL with a query",
        lambda d: outbound(d).update(baseUrl="https://api.switch-bot.com/?k=v"),
        "outbound.baseUrl",
        "no query",
    ),
    (
        "a header the hmac auth sets",
        lambda d: outbound(d)["headers"].update(Sign="x"),
        "outbound",
        "hmac auth sets sign",
    ),
    (
        "Authorization beside a bearer auth",
        lambda d: outbound(d).update(auth={"type": "bearer"}),
        "outbound",
        "bearer auth sets Authorization",
    ),
    (
        "a header named twice",
        lambda d: outbound(d)["headers"].update({"content-type": "text/plain"}),
        "outbound.headers",
        "named twice",
    ),
    (
        "a header value with a line break",
        lambda d: outbound(d)["headers"].update({"X-Trace": "a\r\nX-Injected: 1"}),
        "outbound.headers",
        "X-Trace: a header value has no control characters",
    ),
    (
        "a request header that is no header name",
        lambda d: outbound(d)["sendCommand"]["request"].update(headers={"bad header": "x"}),
        "outbound.sendCommand.request.headers",
        "not an HTTP header name",
    ),
    (
        "a query name with a space",
        lambda d: outbound(d)["discoverDevices"]["request"].update(query={"page size": "10"}),
        "outbound.discoverDevices.request.query",
        "query names",
    ),
    (
        "both ways to the cloud",
        lambda d: d.update(deviceCloud={"url": "https://hooks.example"}),
        "",
        "outbound and deviceCloud are two ways to reach the device cloud: use one",
    ),
    (
        "an ARN pattern of another service",
        lambda d: d.update(generalAuthorization={"secretArns": ["arn:aws:s3:::bucket/*"]}),
        "generalAuthorization.secretArns[0]",
        "Secrets Manager secret's ARN pattern",
    ),
    (
        "an ARN pattern with a character class",
        lambda d: d.update(generalAuthorization={"secretArns": ["arn:aws:secretsmanager:*:1:secret:[ab]*"]}),
        "generalAuthorization.secretArns[0]",
        "only wildcards are * and ?",
    ),
    (
        "no ARN pattern",
        lambda d: d.update(generalAuthorization={"secretArns": []}),
        "generalAuthorization.secretArns",
        "at least 1 item",
    ),
    (
        "too many ARN patterns",
        lambda d: d.update(generalAuthorization={"secretArns": [ARN] * 21}),
        "generalAuthorization.secretArns",
        "at most 20 items",
    ),
    (
        "an ARN pattern too long",
        lambda d: d.update(generalAuthorization={"secretArns": [ARN + "x" * 2048]}),
        "generalAuthorization.secretArns[0]",
        "at most 2048 characters",
    ),
]


@pytest.mark.parametrize(
    ("change", "path", "rule"), [case[1:] for case in PATH_CASES], ids=[case[0] for case in PATH_CASES]
)
def test_each_problem_is_named_by_its_path_in_the_document(
    change: Callable[[dict[str, Any]], Any], path: str, rule: str
) -> None:
    found = problems(changed(change))

    assert any(where == path and rule in said for where, said in found), found


@pytest.mark.parametrize("name", ["Host", "content-length", "Transfer-Encoding", "CONNECTION"])
def test_a_header_the_connection_sets_is_refused_in_any_case(name: str) -> None:
    found = problems(changed(lambda d: outbound(d)["headers"].update({name: "x"})))

    assert found == [("outbound.headers", f"{name} is set by the connection, not by the profile")]


@pytest.mark.parametrize("name", ["Host", "Content-Length"])
def test_a_request_may_not_set_them_either(name: str) -> None:
    found = problems(changed(lambda d: outbound(d)["sendCommand"]["request"].update(headers={name: "x"})))

    assert found == [
        ("outbound.sendCommand.request.headers", f"{name} is set by the connection, not by the profile")
    ]


def test_the_auth_type_is_left_out_of_a_problems_path() -> None:
    found = problems(changed(lambda d: outbound(d)["auth"].update(algorithm="md5")))

    assert [path for path, _ in found] == ["outbound.auth.algorithm"]


def test_a_problem_never_quotes_a_header_value() -> None:
    found = problems(changed(lambda d: outbound(d)["headers"].update({"X-Key": "s3cr3t\n"})))

    assert "s3cr3t" not in repr(found)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_a_form_goes_with_any_method_that_has_a_body(method: str) -> None:
    profile = parsed(
        changed(
            lambda d: outbound(d).update(
                deactivateUser={
                    "request": {"method": method, "path": "/oauth/revoke", "form": {"token": "{token}"}}
                }
            )
        )
    )

    assert profile.outbound is not None and profile.outbound.deactivate_user is not None


def test_a_next_page_may_be_a_url() -> None:
    profile = parsed(
        changed(lambda d: outbound(d)["discoverDevices"].update(nextPage={"url": "body._links.next.href"}))
    )

    assert profile.outbound is not None
    next_page = profile.outbound.discover_devices.next_page
    assert next_page is not None and next_page.url == "body._links.next.href" and next_page.token is None


def test_an_activate_user_request_stands_in_for_the_claim() -> None:
    def change(document: dict[str, Any]) -> None:
        outbound(document).pop("userIdClaim")
        outbound(document)["activateUser"] = {"request": {"path": "/v1/users/me"}, "userId": "body.id"}

    profile = parsed(changed(change))

    assert profile.outbound is not None and profile.outbound.activate_user is not None


def test_the_hue_saturation_colour_is_a_command_values_transform() -> None:
    def change(document: dict[str, Any]) -> None:
        outbound(document)["sendCommand"]["commands"][1] = {
            "name": "colour",
            "command": "ColorControl.MoveToHueAndSaturation",
            "values": {
                "colour": {
                    "from": "[fields.Hue, fields.Saturation]",
                    "transform": {"colour": {"from": "hueSaturation", "to": "rgb"}},
                }
            },
            "body": {"command": "setColor", "parameter": "{values.colour}"},
        }

    assert parsed(changed(change)).outbound is not None


# --- The discovery rule ------------------------------------------------------------------------------------


def test_the_discovery_rule_maps_one_native_device_as_one_event() -> None:
    # GIVEN the rule the inbound mapping is given for a discovery's devices
    profile = parsed()
    assert profile.outbound is not None
    rule = profile.outbound.discover_devices.mapping_rule()
    mapping = profile.model_copy(update={"rules": [rule], "unmatched": "ignore"})

    # WHEN one native device is mapped as the whole body
    mapped = map_body(mapping, {"deviceId": "C0FFEE", "deviceName": "Desk", "enableCloudService": True}, {})

    # THEN it is one DEVICE_DISCOVERY event with that one device
    (event,) = mapped.events
    assert event.rule == "discovery"
    assert event.event["Operation"] == "DEVICE_DISCOVERY"
    (device,) = event.event["Devices"]
    assert device["ConnectorDeviceId"] == "C0FFEE" and device["ConnectorDeviceName"] == "Desk"


def test_the_discovery_rules_when_reads_the_device_as_device_and_as_event() -> None:
    # GIVEN a `when` that reads `device` (the discovery's name for the native device)
    profile = parsed()
    assert profile.outbound is not None
    mapping = profile.model_copy(
        update={"rules": [profile.outbound.discover_devices.mapping_rule()], "unmatched": "ignore"}
    )

    # WHEN a device the cloud service does not reach is mapped
    mapped = map_body(mapping, {"deviceId": "C0FFEE", "enableCloudService": False}, {})

    # THEN the rule's when leaves it out
    assert mapped.events == [] and mapped.ignored == 1


def test_the_discovery_rule_is_built_once_with_the_profiles_choices() -> None:
    block = parsed(changed(lambda d: outbound(d)["discoverDevices"].update(onError="reject"))).outbound
    assert block is not None

    rule = block.discover_devices.mapping_rule()

    assert rule is block.discover_devices.mapping_rule()
    assert (rule.name, rule.operation, rule.on_error) == ("discovery", "DEVICE_DISCOVERY", "reject")
    assert rule.devices is not None and rule.devices.from_ == "[event]"
    assert str(rule.when) == "device.enableCloudService != `false`"  # the profile's text, for messages
    assert rule.devices.device_type == "OnOffLight"


def test_a_device_inside_a_filter_is_an_items_member_not_the_device() -> None:
    # GIVEN a `when` whose filter reads each tag's own `device` member
    block = parsed(
        changed(
            lambda d: outbound(d)["discoverDevices"].update(
                when="length(device.tags[?device == 'hub']) > `0`"
            )
        )
    ).outbound
    assert block is not None
    rule = block.discover_devices.mapping_rule()
    assert rule.when is not None

    # WHEN it is evaluated on a native device THEN only the top `device` reads the event
    event = {"tags": [{"device": "hub"}]}
    assert rule.when.search({"event": event}) is True
    assert rule.when.search({"event": {"tags": [{"device": "lamp"}]}}) is False


# --- General Authorization scope ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "allowed"),
    [
        (ARN, True),
        ("arn:aws:secretsmanager:us-east-1:111122223333:secret:switchbot/x/y-123456", True),
        (
            "arn:aws:secretsmanager:eu-west-1:444455556666:secret:switchbot/home-AbCdEf",
            False,
        ),  # other account
        ("arn:aws:secretsmanager:eu-west-1:111122223333:secret:SwitchBot/home-AbCdEf", False),  # case
        ("arn:aws:secretsmanager:eu-west-1:111122223333:secret:nuki/home-AbCdEf", False),
        ("xarn:aws:secretsmanager:eu-west-1:111122223333:secret:switchbot/home", False),  # the whole ARN
        ("", False),
    ],
)
def test_allows_matches_the_whole_arn_case_sensitively(arn: str, allowed: bool) -> None:
    scope = parsed().general_authorization
    assert scope is not None

    assert scope.allows(arn) is allowed


def test_a_question_mark_is_one_character_and_a_pattern_without_a_star_is_exact() -> None:
    scope = GeneralAuthorizationScope.model_validate(
        {"secretArns": ["arn:aws:secretsmanager:eu-west-1:111122223333:secret:home-??????", ARN]}
    )

    assert scope.allows("arn:aws:secretsmanager:eu-west-1:111122223333:secret:home-AbCdEf")
    assert not scope.allows("arn:aws:secretsmanager:eu-west-1:111122223333:secret:home-AbCdE")
    assert scope.allows(ARN)
    assert not scope.allows(ARN + "x")


def test_an_arn_beyond_any_pattern_length_is_not_allowed() -> None:
    scope = GeneralAuthorizationScope.model_validate({"secretArns": ["arn:aws:secretsmanager:*:*:secret:*"]})

    assert scope.allows(ARN)
    assert not scope.allows(ARN + "x" * 4096)


# --- What profile validate warns of ------------------------------------------------------------------------


def warnings_of(document: dict[str, Any]) -> list[str]:
    return [w for w in profile_warnings(parse_profile(document)) if w.startswith("outbound")]


def test_the_sample_block_warns_of_nothing() -> None:
    assert warnings_of(copy.deepcopy(PROFILE)) == []


def test_an_hmac_message_with_no_timestamp_or_nonce_is_replayable() -> None:
    found = warnings_of(changed(lambda d: outbound(d)["auth"].update(message="{secret.token}")))

    assert any("replayable" in w for w in found)


def test_a_bearer_token_to_a_plain_http_base_url_is_warned_of() -> None:
    def change(document: dict[str, Any]) -> None:
        outbound(document).update(baseUrl="http://127.0.0.1:8080", auth={"type": "bearer"})
        outbound(document)["headers"].pop("Authorization")

    found = warnings_of(changed(change))

    assert any(w.startswith("outbound.baseUrl: plain http") for w in found)


def test_a_discovery_without_a_next_page_reads_one_page_only() -> None:
    found = warnings_of(changed(lambda d: outbound(d)["discoverDevices"].pop("nextPage")))

    assert found == ["outbound.discoverDevices: no nextPage: discovery reads one page only"]


def test_templates_that_read_secret_without_a_scope_are_warned_of() -> None:
    found = warnings_of(changed(lambda d: d.pop("generalAuthorization")))

    assert (
        len(found) == 1 and "General Authorization secrets are read from this stack's prefix only" in found[0]
    )


def test_template_placeholders_get_the_precedence_warnings_too() -> None:
    found = profile_warnings(
        parse_profile(changed(lambda d: outbound(d)["headers"].update({"X-On": "{!device.on.x}"})))
    )

    assert any(w.startswith("outbound.headers.X-On: !device.on.x reads as") for w in found)


def test_outbound_alone_is_a_valid_model() -> None:
    block = Outbound.model_validate(copy.deepcopy(OUTBOUND))

    assert block.base_url == "https://api.switch-bot.com"


def test_a_profile_with_no_way_to_the_user_id_but_the_secret_is_valid_and_warned_of() -> None:
    found = warnings_of(changed(lambda d: outbound(d).pop("userIdClaim")))

    assert found == [
        "outbound: no userIdClaim and no activateUser: the user id is the General Authorization secret's "
        "userId member, and an OAuth invocation cannot be activated"
    ]
