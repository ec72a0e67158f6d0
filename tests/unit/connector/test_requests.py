"""What managed integrations sends the connector function, read into its models, and what it reads back.

Both `header.auth` variants, each operation's documented members, members AWS does not document kept,
only what the flow needs required; an unknown operation and a malformed invocation are answers (a 400
whose message names the field, never the value), never exceptions.
"""

from __future__ import annotations

from typing import Any

import pytest

from fakes.connector import CONNECTOR, SECRET_ARN, ConnectorFakes
from iot_standin.caller import envelope, general_authorization, matter_command, oauth
from iotbridge.budget import UnlimitedBudget
from iotbridge.connector.domain.invocations import matter_commands
from iotbridge.connector.domain.requests import (
    ACTIVATE_USER,
    DEACTIVATE_USER,
    DISCOVER_DEVICES,
    MAX_INVOCATION_DEPTH,
    MAX_TOKEN_CHARS,
    SEND_COMMAND,
    DiscoverDevicesInvocation,
    GeneralAuthorization,
    InvalidInvocationError,
    OAuthAuthorization,
    SendCommandInvocation,
    UnknownOperationError,
    parse_invocation,
    response,
    user_id_problems,
)
from iotbridge.connector.edge import MAX_LISTED_PROBLEMS, answer

TOKEN = "SentinelAccessToken.9x7w"
OAUTH = oauth(TOKEN)
GENERAL = general_authorization(SECRET_ARN, "v-1")
DISCOVERY_ID = "8f3a9c2e71d54b0c"
TRACE_ID = "9b75f3839b6140f=_1"
OFF = matter_command("1", "0x0006", "0x00")


def invocation(operation: Any, auth: Any = None, **members: Any) -> dict[str, Any]:
    """An invocation as managed integrations sends it (the stand-in caller's envelope)."""
    event = envelope(operation, CONNECTOR, OAUTH, **members)
    if auth is not None:
        event["header"]["auth"] = auth
    return event


def discovery(**members: Any) -> dict[str, Any]:
    return invocation(DISCOVER_DEVICES, **{"deviceDiscoveryId": DISCOVERY_ID, **members})


def command(**members: Any) -> dict[str, Any]:
    return invocation(
        SEND_COMMAND,
        **{"traceId": TRACE_ID, "connectorDeviceId": "lmn-bulb-0042", "endpoints": OFF, **members},
    )


def problems(event: Any) -> list[str]:
    with pytest.raises(InvalidInvocationError) as raised:
        parse_invocation(event)
    return raised.value.descriptions()


def refusal(event: Any) -> dict[str, Any]:
    """The function's answer to an invocation it cannot act on (its device cloud is never reached)."""
    fakes = ConnectorFakes()
    outcome = answer(event, fakes.operations(), UnlimitedBudget(), 1.5)
    assert fakes.cloud.requests == []
    return outcome.response()


# --- The two authorization variants ---------------------------------------------------------------------


def test_an_oauth_invocation_carries_the_users_token() -> None:
    parsed = parse_invocation(invocation(ACTIVATE_USER))

    assert isinstance(parsed.header.auth, OAuthAuthorization)
    assert parsed.header.auth.token == TOKEN
    assert parsed.payload.operation_name == ACTIVATE_USER
    assert parsed.payload.operation_version == "1.0.0"
    assert parsed.payload.connector_id == CONNECTOR


def test_a_general_authorization_invocation_names_a_secret_and_its_version() -> None:
    parsed = parse_invocation(invocation(ACTIVATE_USER, GENERAL))

    assert isinstance(parsed.header.auth, GeneralAuthorization)
    assert parsed.header.auth.secrets_manager.arn == SECRET_ARN
    assert parsed.header.auth.secrets_manager.version_id == "v-1"


def test_a_general_authorization_without_a_version_means_the_current_one() -> None:
    parsed = parse_invocation(invocation(ACTIVATE_USER, {**GENERAL, "secretsManager": {"arn": SECRET_ARN}}))

    assert isinstance(parsed.header.auth, GeneralAuthorization)
    assert parsed.header.auth.secrets_manager.version_id is None


@pytest.mark.parametrize(
    ("auth", "path"),
    [
        ({"type": "Basic", "token": TOKEN}, "header.auth: type must be OAuth2.0 or GeneralAuthorization"),
        ({"token": TOKEN}, "header.auth: needs a type"),
        ({"type": "OAuth2.0"}, "header.auth.token: Field required"),
        ({"type": "OAuth2.0", "token": ""}, "header.auth.token: "),
        ({"type": "OAuth2.0", "token": 42}, "header.auth.token: Input should be a valid string"),
        ({"type": "GeneralAuthorization"}, "header.auth.secretsManager: Field required"),
        (
            {"type": "GeneralAuthorization", "secretsManager": {"arn": "my-secret"}},
            "header.auth.secretsManager.arn",
        ),
        (
            {"type": "GeneralAuthorization", "secretsManager": {"arn": SECRET_ARN, "versionId": ""}},
            "header.auth.secretsManager.versionId",
        ),
        ("OAuth2.0", "header.auth: "),
    ],
)
def test_an_unusable_authorization_is_named_by_its_path(auth: Any, path: str) -> None:
    listed = problems(invocation(ACTIVATE_USER, auth))

    assert any(p.startswith(path) for p in listed), listed


def test_a_token_longer_than_any_authorization_server_issues_is_refused_without_quoting_it() -> None:
    listed = problems(invocation(ACTIVATE_USER, {"type": "OAuth2.0", "token": "T" * (MAX_TOKEN_CHARS + 1)}))

    assert listed == [f"header.auth.token: String should have at most {MAX_TOKEN_CHARS} characters"]
    assert parse_invocation(invocation(ACTIVATE_USER, {"type": "OAuth2.0", "token": "T" * MAX_TOKEN_CHARS}))


# --- Each operation's members ---------------------------------------------------------------------------


def test_discover_devices_carries_its_discovery_id() -> None:
    parsed = parse_invocation(discovery())

    assert isinstance(parsed, DiscoverDevicesInvocation)
    assert parsed.payload.device_discovery_id == DISCOVERY_ID


def test_send_command_carries_its_trace_id_device_and_matter_command() -> None:
    parsed = parse_invocation(command())

    assert isinstance(parsed, SendCommandInvocation)
    assert parsed.payload.trace_id == TRACE_ID
    assert parsed.payload.connector_device_id == "lmn-bulb-0042"
    [endpoint] = parsed.payload.endpoints
    assert (endpoint.id, endpoint.clusters[0].id, endpoint.clusters[0].commands) == (
        "1",
        "0x0006",
        {"0x00": {}},
    )


def test_a_command_given_without_matter_endpoints_is_still_taken() -> None:
    # The Matter command's shape is only partly documented: the trace id and the device are what is needed.
    parsed = parse_invocation(invocation(SEND_COMMAND, traceId=TRACE_ID, connectorDeviceId="lmn-bulb-0042"))

    assert isinstance(parsed, SendCommandInvocation)
    assert parsed.payload.endpoints == []


@pytest.mark.parametrize("operation", [ACTIVATE_USER, DEACTIVATE_USER])
def test_activate_and_deactivate_need_only_the_common_members(operation: str) -> None:
    event = invocation(operation)
    del event["payload"]["operationVersion"]

    parsed = parse_invocation(event)

    assert parsed.payload.operation_name == operation
    assert parsed.payload.operation_version is None


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (invocation(DISCOVER_DEVICES), "payload.deviceDiscoveryId: Field required"),
        (discovery(deviceDiscoveryId=""), "payload.deviceDiscoveryId: length must be 1..200"),
        (discovery(deviceDiscoveryId="d" * 201), "payload.deviceDiscoveryId: length must be 1..200"),
        (discovery(deviceDiscoveryId="!!"), "payload.deviceDiscoveryId: must match pattern [A-Za-z0-9]+"),
        (discovery(deviceDiscoveryId=7), "payload.deviceDiscoveryId: Input should be a valid string"),
        (invocation(SEND_COMMAND, connectorDeviceId="lamp"), "payload.traceId: Field required"),
        (invocation(SEND_COMMAND, traceId=TRACE_ID), "payload.connectorDeviceId: Field required"),
        (command(traceId="t" * 129), "payload.traceId: length must be 1..128"),
        (command(traceId="a b"), None),  # unanchored, as the service model's patterns are
        (command(traceId="   "), "payload.traceId: must match pattern [a-zA-Z0-9:=_-]+"),
        (command(endpoints={"id": "1"}), "payload.endpoints: Input should be a valid list"),
        (command(endpoints=[{"clusters": []}]), "payload.endpoints[0].id: Field required"),
        (
            command(endpoints=[{"id": "1", "clusters": [{"id": "0x0006", "commands": []}]}]),
            "payload.endpoints[0].clusters[0].commands",
        ),
        (command(endpoints=[{"id": "1"}] * 51), "payload.endpoints: List should have at most 50 items"),
    ],
)
def test_an_operations_own_members_are_checked_and_named(event: dict[str, Any], expected: str | None) -> None:
    if expected is None:
        assert parse_invocation(event)
        return
    listed = problems(event)

    assert any(p.startswith(expected) for p in listed), listed


# --- Members AWS does not document ----------------------------------------------------------------------


def test_members_aws_does_not_document_are_kept_everywhere() -> None:
    event = command(connectorDestinationId="dest-1", requestedAt=1_795_430_400, extras={"a": [1, 2]})
    event["header"]["auth"]["scope"] = "devices:write"
    event["header"]["requestId"] = "req-7"
    event["region"] = "us-east-1"
    event["payload"]["endpoints"][0]["clusters"][0]["revision"] = 6

    parsed = parse_invocation(event)

    assert parsed.model_extra == {"region": "us-east-1"}
    assert parsed.header.model_extra == {"requestId": "req-7"}
    assert parsed.header.auth.model_extra == {"scope": "devices:write"}
    assert parsed.payload.model_extra == {
        "connectorDestinationId": "dest-1",
        "requestedAt": 1_795_430_400,
        "extras": {"a": [1, 2]},
    }
    # What the device cloud is handed: the payload as sent, the unknown members included.
    assert parsed.payload.model_dump(mode="json", by_alias=True, exclude_unset=True) == event["payload"]


def test_discover_devices_with_a_list_of_device_ids_is_taken() -> None:
    # StartDeviceDiscovery may name devices; how (or whether) they reach the connector is not documented.
    parsed = parse_invocation(discovery(connectorDeviceIdList=["lmn-bulb-0042"]))

    assert parsed.payload.model_extra == {"connectorDeviceIdList": ["lmn-bulb-0042"]}


# --- Unknown operations and malformed invocations: answers, never exceptions ----------------------------


def test_an_unknown_operation_gets_a_clear_error_response() -> None:
    with pytest.raises(UnknownOperationError):
        parse_invocation(invocation("AWS.RebootDevice"))

    answered = refusal(invocation("AWS.RebootDevice"))

    assert answered["header"]["responseCode"] == 400
    message = answered["payload"]["responseMessage"]
    assert message.startswith("Unknown operation: payload.operationName")
    assert all(name in message for name in (ACTIVATE_USER, DISCOVER_DEVICES, SEND_COMMAND, DEACTIVATE_USER))
    assert "RebootDevice" not in message
    assert "userId" not in answered["payload"]


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (None, "(invocation): expected a JSON object, got NoneType"),
        ("AWS.ActivateUser", "(invocation): expected a JSON object, got str"),
        ([invocation(ACTIVATE_USER)], "(invocation): expected a JSON object, got list"),
        (17, "(invocation): expected a JSON object, got int"),
        ({}, "header: Field required"),
        ({"payload": invocation(ACTIVATE_USER)["payload"]}, "header: Field required"),
        ({"header": invocation(ACTIVATE_USER)["header"]}, "payload: Field required"),
        ({"header": "OAuth2.0", "payload": {}}, "header: "),
        ({**invocation(ACTIVATE_USER), "payload": []}, "payload: "),
        ({"header": {}, "payload": invocation(ACTIVATE_USER)["payload"]}, "header.auth: Field required"),
        (invocation(7), "payload.operationName: must be one of"),
        (
            {**invocation(ACTIVATE_USER), "payload": {"connectorId": CONNECTOR}},
            "payload.operationName: Field required",
        ),
        (
            {**invocation(ACTIVATE_USER), "payload": {"operationName": ACTIVATE_USER}},
            "payload.connectorId: Field required",
        ),
        (invocation(ACTIVATE_USER, connectorId="c" * 65), "payload.connectorId: length must be 1..64"),
        (invocation(ACTIVATE_USER, connectorId=""), "payload.connectorId: length must be 1..64"),
        (
            invocation(ACTIVATE_USER, operationVersion=1.0),
            "payload.operationVersion: Input should be a valid string",
        ),
        (
            invocation(ACTIVATE_USER, operationVersion="1" * 33),
            "payload.operationVersion: String should have at most 32",
        ),
    ],
)
def test_a_malformed_invocation_is_a_400_naming_the_field(event: Any, named: str) -> None:
    answered = refusal(event)

    assert answered["header"]["responseCode"] == 400
    message = answered["payload"]["responseMessage"]
    assert message.startswith("Invalid invocation: ")
    assert named in message, message


def test_a_refusal_quotes_no_value_of_the_invocation() -> None:
    event = invocation(
        ACTIVATE_USER,
        {"type": "OAuth2.0", "token": TOKEN * 1000},
        connectorId="Sentinel Connector !",
        operationVersion="SentinelVersion" * 3,
    )

    message = refusal(event)["payload"]["responseMessage"]

    assert "header.auth.token" in message and "payload.operationVersion" in message
    assert "Sentinel" not in message


def test_a_command_id_that_breaks_its_rule_is_named_by_its_map_not_quoted() -> None:
    key = "SentinelCommandId-" + "9" * 20
    endpoints = [{"id": "1", "clusters": [{"id": "0x0006", "commands": {key: {}, "0x00": {}}}]}]

    message = refusal(command(endpoints=endpoints))["payload"]["responseMessage"]

    assert message == (
        "Invalid invocation: payload.endpoints[0].clusters[0].commands.[key]: "
        "String should have at most 24 characters"
    )


@pytest.mark.parametrize(
    ("cluster_id", "command_id", "named"),
    [
        ("\u0666", "0", "payload.endpoints[0].clusters[0].id"),  # ARABIC-INDIC DIGIT SIX
        ("0x0006", "\u0660", "payload.endpoints[0].clusters[0].commands.[key]"),  # ARABIC-INDIC DIGIT ZERO
        ("\uff16", "0x00", "payload.endpoints[0].clusters[0].id"),  # FULLWIDTH DIGIT SIX
    ],
)
def test_a_matter_id_that_is_not_ascii_is_a_400_naming_the_field(
    cluster_id: str, command_id: str, named: str
) -> None:
    # GIVEN a command whose cluster or command id is written in Unicode digits (int() reads them)
    event = command(endpoints=matter_command("1", cluster_id, command_id))
    # WHEN the connector answers it (its device cloud is never reached: `refusal` checks)
    answered = refusal(event)
    # THEN it is a 400 naming the field
    assert answered["header"]["responseCode"] == 400
    message = answered["payload"]["responseMessage"]
    assert f"{named}: a Matter id is ASCII" in message, message


@pytest.mark.parametrize(
    ("cluster_id", "command_id", "name"),
    [
        ("0x0006", "0x00", "OnOff.Off"),
        ("6", "1", "OnOff.On"),
        ("0X0006", "0x02", "OnOff.Toggle"),
        (" 6 ", "0", None),
        ("6", "0_0", None),
        ("0x06 ", "0", None),
        ("+6", "0", None),
    ],
)
def test_only_a_whole_decimal_or_hex_id_resolves_to_a_catalogue_command(
    cluster_id: str, command_id: str, name: str | None
) -> None:
    # GIVEN a command whose ids are ASCII, padded or signed or not
    parsed = parse_invocation(command(endpoints=matter_command("1", cluster_id, command_id)))
    assert isinstance(parsed, SendCommandInvocation)
    # WHEN its Matter commands are read
    [found] = matter_commands(parsed)
    # THEN only an id written whole in decimal or 0x hex names a catalogue command
    assert found.name == name


def test_an_invocation_with_very_many_problems_lists_the_first_ones_and_counts_the_rest() -> None:
    endpoints = [{"id": 1, "clusters": "none"} for _ in range(40)]

    message = refusal(command(endpoints=endpoints))["payload"]["responseMessage"]

    assert message.count("payload.endpoints[") == MAX_LISTED_PROBLEMS
    assert message.endswith("and 70 more")


def nested(levels: int) -> Any:
    """A member of `levels` objects, one in the other."""
    deep: Any = "leaf"
    for _ in range(levels):
        deep = {"next": deep}
    return deep


def test_an_invocation_nested_too_deeply_is_refused_naming_the_member() -> None:
    # The invocation and its payload are two levels: the member makes up the rest, one level too many.
    answered = refusal(invocation(ACTIVATE_USER, extras=nested(MAX_INVOCATION_DEPTH - 1)))

    assert answered["header"]["responseCode"] == 400
    assert answered["payload"]["responseMessage"] == (
        f"Invalid invocation: payload.extras: must not nest arrays and objects more than "
        f"{MAX_INVOCATION_DEPTH} levels deep"
    )


def test_an_invocation_nested_as_deep_as_allowed_reaches_the_device_cloud() -> None:
    # GIVEN a member as deep as the bound allows (and the payload handed over as sent, that member included)
    fakes = ConnectorFakes()
    event = discovery(extras=nested(MAX_INVOCATION_DEPTH - 2))

    # WHEN it is answered
    outcome = answer(event, fakes.operations(), UnlimitedBudget(), 1.5)

    # THEN the device cloud has it
    assert outcome.code == 200
    [asked] = fakes.cloud.requests
    assert asked.payload["extras"] == event["payload"]["extras"]


@pytest.mark.parametrize("levels", [1_000, 100_000])
def test_an_invocation_nested_deeper_than_python_recurses_is_refused_not_raised(levels: int) -> None:
    answered = refusal(invocation(ACTIVATE_USER, extras=[nested(levels)]))

    assert answered["header"]["responseCode"] == 400
    assert "payload.extras: must not nest" in answered["payload"]["responseMessage"]


# --- Responses --------------------------------------------------------------------------------------------


def test_responses_have_the_shape_managed_integrations_reads() -> None:
    assert response(200, "Done.", user_id="user-1") == {
        "header": {"responseCode": 200},
        "payload": {"responseMessage": "Done.", "userId": "user-1"},
    }
    assert response(200, "Handed over.") == {
        "header": {"responseCode": 200},
        "payload": {"responseMessage": "Handed over."},
    }


@pytest.mark.parametrize(
    ("user_id", "usable"),
    [("lumen-acct-2291", True), ("a@b.example", True), ("u" * 64, True), ("u" * 65, False), ("", False)],
)
def test_a_user_id_must_be_one_sendconnectorevent_takes(user_id: str, usable: bool) -> None:
    assert (user_id_problems(user_id) == []) is usable
