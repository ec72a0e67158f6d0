"""A profile's `body` (content type, members to decode) and `handshakes` (answered without queuing): what
they may say, and every mistake refused at its path when the profile is read."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from iotbridge.profile.document import ConnectorProfile, ProfileError, parse_profile
from iotbridge.profile.handshakes import MAX_HANDSHAKES, host_allowed

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
}
# SmartThings' two lifecycles before any event (developer.smartthings.com/docs/connected-services/lifecycles):
# PING is answered with its challenge, CONFIRMATION by a GET of its confirmationUrl and the target URL.
PING: dict[str, Any] = {
    "name": "ping",
    "when": "body.lifecycle == 'PING'",
    "verified": False,
    "respond": {"status": 200, "body": {"pingData": {"challenge": "{body.pingData.challenge}"}}},
}
CONFIRMATION: dict[str, Any] = {
    "name": "confirmation",
    "when": "body.lifecycle == 'CONFIRMATION'",
    "confirm": {"url": "body.confirmationData.confirmationUrl", "hosts": ["api.smartthings.com"]},
    "respond": {"status": 200, "body": {"targetUrl": "{body.confirmationData.confirmationUrl}"}},
}


def profile_with(**members: Any) -> dict[str, Any]:
    return copy.deepcopy(PROFILE) | copy.deepcopy(members)


def problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ProfileError) as caught:
        parse_profile(document)
    return [(p.path, p.rule) for p in caught.value.problems]


def test_a_profile_says_nothing_of_its_body_or_handshakes_by_default() -> None:
    profile = parse_profile(profile_with())
    assert profile.body is None and profile.handshakes == []


def test_smartthings_handshakes_and_a_pubsub_body_are_read() -> None:
    profile = parse_profile(
        profile_with(
            handshakes=[PING, CONFIRMATION],
            body={"contentType": "json", "decode": [{"path": "message.data", "as": ["base64", "json"]}]},
        )
    )
    assert isinstance(profile, ConnectorProfile)
    ping, confirmation = profile.handshakes
    assert (ping.name, ping.verified, ping.confirm) == ("ping", False, None)
    assert confirmation.verified and confirmation.confirm is not None
    assert confirmation.confirm.hosts == ["api.smartthings.com"]
    assert profile.body is not None and profile.body.decode[0].members == ("message", "data")


# --- Body ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decodings", "rule"),
    [
        (["base64"], "the decodings end in bytes, which JSON cannot hold: end with text or json"),
        (["text"], "text cannot decode text"),
        (["json", "text"], "text cannot decode a JSON value"),
        (["json", "json"], "json cannot decode a JSON value"),
        (["base64", "base64"], "base64 cannot decode bytes"),
    ],
)
def test_decodings_that_do_not_chain_are_refused_at_the_step(decodings: list[str], rule: str) -> None:
    document = profile_with(body={"decode": [{"path": "data", "as": decodings}]})
    assert problems(document) == [("body.decode[0]", rule)]


@pytest.mark.parametrize(
    "decodings", [["json"], ["base64", "json"], ["base64url", "text"], ["base64", "text", "json"]]
)
def test_decodings_that_chain_are_taken(decodings: list[str]) -> None:
    parse_profile(profile_with(body={"decode": [{"path": "data", "as": decodings}]}))


@pytest.mark.parametrize("path", ["message..data", ".data", "data.", "message data", "a." * 16 + "a", ""])
def test_a_decode_path_must_be_member_names_separated_by_dots(path: str) -> None:
    [(where, _)] = problems(profile_with(body={"decode": [{"path": path, "as": ["json"]}]}))
    assert where == "body.decode[0].path"


def test_a_decode_path_is_member_names_not_jmespath() -> None:
    parse_profile(profile_with(body={"decode": [{"path": "events[0].data", "as": ["json"]}]}))


def test_an_unknown_content_type_or_decoding_is_refused() -> None:
    found = dict(
        problems(profile_with(body={"contentType": "xml", "decode": [{"path": "a", "as": ["gzip"]}]}))
    )
    assert set(found) == {"body.contentType", "body.decode[0].as[0]"}


def test_at_most_eight_decode_steps() -> None:
    steps = [{"path": f"m{i}", "as": ["json"]} for i in range(9)]
    [(where, _)] = problems(profile_with(body={"decode": steps}))
    assert where == "body.decode"


# --- Handshakes ---------------------------------------------------------------------------------------------


def test_the_standard_webhooks_challenge_is_refused_for_the_specification_documents_none() -> None:
    [(where, rule)] = problems(
        profile_with(handshakes=[{"name": "standard-webhooks-challenge", "standardWebhooksChallenge": True}])
    )
    assert where == "handshakes[0]"
    assert rule.startswith("the Standard Webhooks specification documents no endpoint challenge")


def test_a_handshake_answered_unsigned_must_not_confirm() -> None:
    unsigned = copy.deepcopy(CONFIRMATION) | {"verified": False}
    assert problems(profile_with(handshakes=[unsigned])) == [
        ("handshakes[0]", "a handshake answered unsigned (verified: false) must not confirm")
    ]


@pytest.mark.parametrize("status", [199, 300, 302, 401, 503])
def test_a_handshake_answers_with_a_2xx_status_only(status: int) -> None:
    handshake = copy.deepcopy(PING) | {"respond": {"status": status}}
    [(where, _)] = problems(profile_with(handshakes=[handshake]))
    assert where == "handshakes[0].respond.status"


def test_a_handshake_answer_has_no_headers() -> None:
    handshake = copy.deepcopy(PING) | {"respond": {"headers": {"X-A": "b"}}}
    [(where, _)] = problems(profile_with(handshakes=[handshake]))
    assert where == "handshakes[0].respond.headers"


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ({"a": "{from_jsn(body)}"}, "unknown function from_jsn()"),
        ({"a": "x {body.[} y"}, "not a JMESPath expression"),
        ({"a": "x" * 5000}, "body is longer than 4096 characters of JSON"),
        ({"a": [[[[[[[[[["deep"]]]]]]]]]]}, "nests deeper than 8 levels"),
    ],
)
def test_a_template_that_cannot_be_filled_is_refused_at_the_answer(body: dict[str, Any], rule: str) -> None:
    handshake = copy.deepcopy(PING) | {"respond": {"body": body}}
    [(where, found)] = problems(profile_with(handshakes=[handshake]))
    assert where == "handshakes[0].respond" and rule in found


@pytest.mark.parametrize(
    "host", ["API.smartthings.com", "*smartthings.com", "*.", "https://a.com", "a b", "", "a_b.com"]
)
def test_a_confirmation_host_must_be_a_lower_case_name(host: str) -> None:
    handshake = copy.deepcopy(CONFIRMATION)
    handshake["confirm"]["hosts"] = ["api.smartthings.com", host]
    assert [where for where, _ in problems(profile_with(handshakes=[handshake]))] == [
        "handshakes[0].confirm.hosts[1]"
    ]


def test_a_confirmation_names_at_least_one_host() -> None:
    handshake = copy.deepcopy(CONFIRMATION)
    handshake["confirm"]["hosts"] = []
    [(where, _)] = problems(profile_with(handshakes=[handshake]))
    assert where == "handshakes[0].confirm.hosts"


def test_handshake_names_are_unique_and_few() -> None:
    assert problems(profile_with(handshakes=[PING, PING])) == [
        ("handshakes", "handshake names must be unique: ping")
    ]
    many = [copy.deepcopy(PING) | {"name": f"h{i}"} for i in range(MAX_HANDSHAKES + 1)]
    [(where, _)] = problems(profile_with(handshakes=many))
    assert where == "handshakes"


def test_a_handshake_needs_when() -> None:
    [(where, _)] = problems(profile_with(handshakes=[{"name": "ping"}]))
    assert where == "handshakes[0].when"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("api.smartthings.com", True),
        ("API.SmartThings.com.", True),
        ("eu.api.smartthings.com", False),
        ("smartthings.com", False),
        ("evil-api.smartthings.com", False),
        ("api.smartthings.com.evil.example", False),
    ],
)
def test_an_exact_host_matches_only_itself(host: str, allowed: bool) -> None:
    assert host_allowed(host, ["api.smartthings.com"]) is allowed


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("api.smartthings.com", True),
        ("a.b.smartthings.com", True),
        ("smartthings.com", False),
        ("xsmartthings.com", False),
    ],
)
def test_a_wildcard_host_matches_subdomains_only(host: str, allowed: bool) -> None:
    assert host_allowed(host, ["*.smartthings.com"]) is allowed
