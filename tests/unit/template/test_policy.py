"""Least privilege and encryption, read from template.yaml as written (before the SAM transform).

Every IAM statement names its actions exactly and scopes its resources; the one statement allowed
`Resource: "*"` is SendConnectorEvent, which has no resource type to scope it to. Policies SAM adds on its
own (basic execution role, X-Ray writes for `Tracing: Active`) are AWS managed and not in the template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge_local.sam_template import load
from fakes.aws import client_error
from iotbridge.detector_reset.domain.plan import DynamoDbBackend, TableAttributes

TEMPLATE = load(Path(__file__).resolve().parents[3] / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE.get("Parameters", {})
# The only action without a resource type (service authorization reference), hence the only "*" resource.
UNSCOPED_ACTIONS = frozenset({"iotmanagedintegrations:SendConnectorEvent"})
_PLACEHOLDER = re.compile(r"\$\{([^}!]+)\}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _of_type(*types: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in RESOURCES.items():
        if resource.get("Type") in types:
            yield name, resource.get("Properties") or {}


def _non_empty_under(condition: str) -> str | None:
    """The parameter a condition proves non-empty (`!Not [!Equals [!Ref P, ""]]`), if it is one like that."""
    body = TEMPLATE.get("Conditions", {}).get(condition)
    match body:
        case {"Fn::Not": [{"Fn::Equals": [{"Ref": str(name)}, ""]}]}:
            return name
    return None


def _conditional(statements: list[Any]) -> Iterator[Any]:
    """Statements as granted under any condition: both branches of an `Fn::If`, but not AWS::NoValue. A
    statement granted only when a parameter is non-empty carries that parameter's name."""
    for statement in statements:
        if isinstance(statement, dict) and set(statement) == {"Fn::If"}:
            condition, granted, otherwise = statement["Fn::If"]
            name = _non_empty_under(condition)
            for branch in _conditional([granted]):
                yield {**branch, "NonEmpty": name} if name and isinstance(branch, dict) else branch
            yield from _conditional([otherwise] if otherwise != {"Ref": "AWS::NoValue"} else [])
        else:
            yield statement


def _statements() -> Iterator[tuple[str, Any]]:
    """(where, statement) for every inline IAM statement of the template."""
    for name, props in _of_type("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
        for index, policy in enumerate(_as_list(props.get("Policies") or [])):
            where = f"{name}.Policies[{index}]"
            if isinstance(policy, dict) and "Statement" in policy:
                for statement in _conditional(_as_list(policy["Statement"])):
                    yield f"{where}.{statement.get('Sid', '?')}", statement
            else:
                # A managed policy or SAM policy template: its actions cannot be checked from here.
                yield where, {"Unreviewable": policy}
    for name, props in _of_type("AWS::IAM::Role"):
        for policy in props.get("Policies") or []:
            for statement in _as_list(policy["PolicyDocument"]["Statement"]):
                yield f"{name}.{policy.get('PolicyName')}.{statement.get('Sid', '?')}", statement
        for arn in props.get("ManagedPolicyArns") or []:
            yield f"{name}.ManagedPolicyArns", {"Unreviewable": arn}
    for name, props in _of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for statement in _as_list(props["PolicyDocument"]["Statement"]):
            yield f"{name}.{statement.get('Sid', '?')}", statement


STATEMENTS = list(_statements())


def _ids(items: list[tuple[str, Any]]) -> list[str]:
    return [where for where, _ in items]


def test_the_template_grants_permissions_at_all() -> None:
    # A loader that found no statements would make every check below pass vacuously.
    assert len(STATEMENTS) >= 3


@pytest.mark.parametrize(("where", "statement"), STATEMENTS, ids=_ids(STATEMENTS))
def test_statement_is_an_inline_allow_of_named_actions(where: str, statement: Any) -> None:
    assert "Unreviewable" not in statement, (
        f"{where}: use an inline statement, not {statement['Unreviewable']}"
    )
    assert statement.get("Effect") == "Allow"
    assert "NotAction" not in statement and "NotResource" not in statement
    for action in _as_list(statement["Action"]):
        assert isinstance(action, str), f"{where}: action {action!r} must be a literal"
        assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), (
            f"{where}: {action!r} is not one named action"
        )


def _alternatives(resource: Any) -> list[Any]:
    """The resources a statement may name: both branches of a condition, each reviewed."""
    if isinstance(resource, dict) and set(resource) == {"Fn::If"}:
        _, when_true, when_false = resource["Fn::If"]
        return _alternatives(when_true) + _alternatives(when_false)
    return [resource]


@pytest.mark.parametrize(("where", "statement"), STATEMENTS, ids=_ids(STATEMENTS))
def test_statement_resources_are_scoped(where: str, statement: Any) -> None:
    actions = set(_as_list(statement.get("Action", [])))
    for resource in (r for listed in _as_list(statement.get("Resource")) for r in _alternatives(listed)):
        if resource == "*":
            assert actions <= UNSCOPED_ACTIONS, f"{where}: only {sorted(UNSCOPED_ACTIONS)} may use '*'"
            continue
        if isinstance(resource, dict) and set(resource) <= {"Ref", "Fn::GetAtt"}:
            continue  # one resource of this stack
        text = resource.get("Fn::Sub") if isinstance(resource, dict) else resource
        assert isinstance(text, str), f"{where}: cannot review resource {resource!r}"
        within = re.match(r"\$\{([A-Za-z0-9]+)\.Arn\}/", text)
        if within and within.group(1) in RESOURCES:
            if RESOURCES[within.group(1)]["Type"] == "AWS::S3::Bucket":
                # Objects of one bucket of this stack, under a named prefix: object keys are made per request.
                assert re.fullmatch(r"\$\{[A-Za-z0-9]+\.Arn\}/[a-z0-9-]+/\*", text), f"{where}: {text!r}"
                assert actions <= {"s3:PutObject"}, f"{where}: only s3:PutObject on archived objects"
                continue
            # A part of one resource of this stack (a table's index): scoped if it names one part.
            assert "*" not in text, f"{where}: {text!r} has a wildcard"
            continue
        _assert_scoped_arn(where, text, non_empty=statement.get("NonEmpty"))


def _assert_scoped_arn(where: str, arn: str, *, non_empty: str | None = None) -> None:
    # Placeholders first: `${AWS::Partition}` holds colons of its own.
    names: list[str] = []

    def token(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"<{len(names) - 1}>"

    parts = _PLACEHOLDER.sub(token, arn).split(":", 5)
    assert len(parts) == 6 and parts[0] == "arn", f"{where}: {arn!r} is not an ARN"
    _, _, service, region, account, resource = parts
    assert service and "*" not in service + region + account, f"{where}: {arn!r} spans services or accounts"
    if "*" not in resource:
        return
    # A trailing wildcard after a fixed prefix is scoped (Secrets Manager appends a random suffix to ARNs);
    # the prefix must not be able to vanish, or the statement grants every resource of the type.
    assert resource.endswith("*") and resource.count("*") == 1, f"{where}: {arn!r} has an inner wildcard"
    prefix = resource.removesuffix("*")
    separator = min((i for i in (prefix.find(":"), prefix.find("/")) if i >= 0), default=-1)
    assert separator > 0, f"{where}: {arn!r} does not name a resource type"
    kind, named = prefix[:separator], prefix[separator + 1 :]
    fixed = re.sub(
        r"<(\d+)>", lambda m: "x" * _minimum_length(names[int(m.group(1))], non_empty=non_empty), named
    )
    assert fixed, f"{where}: {arn!r} may grant every {kind} (its name prefix can be empty)"


def _minimum_length(placeholder: str, *, non_empty: str | None = None) -> int:
    parameter = PARAMETERS.get(placeholder)
    if parameter is None or placeholder == non_empty:
        return 1  # a pseudo parameter, a resource attribute, or a parameter the grant's condition requires
    pattern = str(parameter.get("AllowedPattern", ""))
    # MinLength, or a pattern that cannot match the empty string.
    matches_empty = not pattern or re.fullmatch(pattern.removeprefix("^").removesuffix("$"), "") is not None
    return int(parameter.get("MinLength", 0 if matches_empty else 1))


def test_the_only_unscoped_statement_is_send_connector_event() -> None:
    unscoped = [
        (where, sorted(_as_list(s["Action"])))
        for where, s in STATEMENTS
        if "Unreviewable" not in s and "*" in _as_list(s.get("Resource"))
    ]
    assert (
        unscoped == [(where, ["iotmanagedintegrations:SendConnectorEvent"]) for where, _ in unscoped]
        and len(unscoped) <= 1
    )


@pytest.mark.parametrize(("name", "props"), list(_of_type("AWS::SQS::Queue")), ids=lambda v: str(v)[:40])
def test_queues_are_encrypted_at_rest(name: str, props: dict[str, Any]) -> None:
    assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), name


@pytest.mark.parametrize(
    ("name", "props"), list(_of_type("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")), ids=str
)
def test_tables_are_encrypted_at_rest(name: str, props: dict[str, Any]) -> None:
    assert (props.get("SSESpecification") or {}).get("SSEEnabled") is True, name


def test_queues_and_tables_exist_to_be_checked() -> None:
    assert list(_of_type("AWS::SQS::Queue")) and list(_of_type("AWS::DynamoDB::Table"))


def test_functions_run_python_3_13_on_arm64_with_active_tracing() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    for name, props in _of_type("AWS::Serverless::Function"):
        # A function may repeat the globals but not override them.
        assert props.get("Runtime", "python3.13") == "python3.13", name
        assert props.get("Architectures", ["arm64"]) == ["arm64"], name
        assert props.get("Tracing", "Active") == "Active", name


@pytest.mark.parametrize(
    ("prefix", "allowed"),
    [
        ("iot-bridge/connectors/", True),
        ("connectors/", True),
        ("a/b/c/", True),
        ("iot-bridge/connectors", False),
        ("connectors", False),
        ("/", False),
        ("", False),
    ],
)
def test_the_signing_secret_prefix_must_end_with_its_separator(prefix: str, allowed: bool) -> None:
    # Before, "connectors" was allowed: the grant connectors* then covered "connectors-admin", a secret any
    # caller could have the receiver read by posting to connector id "-admin".
    parameter = PARAMETERS["SigningSecretPrefix"]
    fits = (
        re.fullmatch(parameter["AllowedPattern"], prefix) is not None
        and len(prefix) >= parameter["MinLength"]
    )
    assert fits is allowed


def test_the_signing_secret_grant_covers_only_names_under_the_prefix() -> None:
    [(where, statement)] = [(w, s) for w, s in STATEMENTS if w.endswith("ReadConnectorSigningSecrets")]
    resource = statement["Resource"]["Fn::Sub"]
    assert resource.endswith(":secret:${SigningSecretPrefix}*"), where
    assert re.fullmatch(
        PARAMETERS["SigningSecretPrefix"]["AllowedPattern"], PARAMETERS["SigningSecretPrefix"]["Default"]
    )


def test_the_largest_body_allowed_fits_in_a_lambda_request_even_base64_encoded() -> None:
    # Before, MaxBodyBytes could be set to 10 MiB, over Lambda's 6 MB synchronous request limit: such a
    # request never reached the receiver, and API Gateway answered 413 or 500 instead of the documented 413.
    lambda_request_limit = 6 * 1024 * 1024
    headers_and_context = 64 * 1024  # an HTTP API event's headers and request context, with room to spare
    largest = PARAMETERS["MaxBodyBytes"]["MaxValue"]
    assert largest * 4 / 3 + headers_and_context <= lambda_request_limit
    assert PARAMETERS["MaxBodyBytes"]["Default"] <= largest


# --- The detector reset job's reach on the detector table and AWS IoT Core --------------------------------


def _reset_statements() -> dict[str, Any]:
    return {
        where.rsplit(".", 1)[-1]: statement
        for where, statement in STATEMENTS
        if where.startswith("DetectorResetFunction.")
    }


def test_the_reset_job_reaches_the_detector_table_and_its_index_only_for_its_model() -> None:
    # GIVEN the reset job's DynamoDB statements, as the template writes them
    statements = _reset_statements()
    dynamodb = {
        sid: s
        for sid, s in statements.items()
        if any(a.startswith("dynamodb:") for a in _as_list(s["Action"]))
    }
    table_arn = {"Fn::GetAtt": ["DetectorTable", "Arn"]}

    # THEN one reaches the table and one its state index, each for the job's own detector model only
    assert set(dynamodb) == {"ReadAndResetDetectorTable", "ListDetectorsByState"}
    table = dynamodb["ReadAndResetDetectorTable"]
    assert sorted(table["Action"]) == ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"]
    assert _alternatives(table["Resource"])[0] == table_arn
    assert _alternatives(table["Resource"])[1]["Fn::Sub"].endswith(":table/${DetectorTableName}")
    index = dynamodb["ListDetectorsByState"]
    assert index["Action"] == "dynamodb:Query"
    assert [r["Fn::Sub"].rsplit("/index/", 1)[1] for r in _alternatives(index["Resource"])] == [
        "${DetectorStateIndexName}"
    ] * 2
    for statement in dynamodb.values():
        # Items of other detector models (their partition key) stay out of reach.
        assert statement["Condition"] == {
            "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [{"Ref": "ResetDetectorModelName"}]}
        }


def test_the_reset_job_publishes_only_to_its_reset_topic() -> None:
    publish = [s for s in _reset_statements().values() if "iot:Publish" in _as_list(s["Action"])]

    assert len(publish) == 1
    assert publish[0]["Resource"]["Fn::Sub"].endswith(":topic/${ResetTopic}")
    # IAM reads * and ? as wildcards and ${...} as a policy variable: the topic may hold none of them.
    pattern = PARAMETERS["ResetTopic"]["AllowedPattern"]
    for topic in ("resets/*", "resets/?", "resets/${aws:username}", "resets/#", "resets/+/x"):
        assert not re.fullmatch(pattern, topic), topic
    assert re.fullmatch(pattern, "$aws/rules/detector_resets/hvac")


def test_the_detector_table_is_on_demand_encrypted_recoverable_and_indexed_by_state() -> None:
    table = RESOURCES["DetectorTable"]
    props = table["Properties"]

    assert table["Condition"] == "CreateDetectorTable"
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    # The layout a plan's dynamodb backend assumes by default.
    names = TableAttributes()
    assert props["KeySchema"] == [
        {"AttributeName": names.detector_model, "KeyType": "HASH"},
        {"AttributeName": names.key_value, "KeyType": "RANGE"},
    ]
    [index] = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == {"Ref": "DetectorStateIndexName"}
    assert (
        PARAMETERS["DetectorStateIndexName"]["Default"] == DynamoDbBackend.model_fields["state_index"].default
    )
    assert index["KeySchema"] == [
        {"AttributeName": names.detector_model, "KeyType": "HASH"},
        {"AttributeName": names.state_name, "KeyType": "RANGE"},
    ]


def test_functions_switch_pydantic_plugins_off_in_a_way_pydantic_honours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic.plugin import _loader

    value = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["PYDANTIC_DISABLE_PLUGINS"]
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", value)
    monkeypatch.setattr(_loader, "_plugins", None)

    def scan(**_: Any) -> list[Any]:
        pytest.fail("pydantic looked for plugins although the template turns them off")

    monkeypatch.setattr(_loader, "entry_points", scan)
    assert list(_loader.get_plugins()) == []


# --- The connector function: who may invoke it, and what it and the receiver may reach -------------------


def _function_statements(function: str) -> dict[str, Any]:
    return {where.rsplit(".", 1)[-1]: s for where, s in STATEMENTS if where.startswith(f"{function}.")}


def test_only_managed_integrations_may_invoke_the_connector_optionally_for_one_source() -> None:
    permissions = {
        name: props
        for name, props in _of_type("AWS::Lambda::Permission")
        if props.get("FunctionName") == {"Fn::GetAtt": ["ConnectorFunction", "Arn"]}
    }

    assert list(permissions) == ["ConnectorInvokePermission"]
    permission = permissions["ConnectorInvokePermission"]
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "iotmanagedintegrations.amazonaws.com"
    # AWS's sample restricts the caller with aws:SourceArn; given only when the parameter is set.
    condition, source, otherwise = permission["SourceArn"]["Fn::If"]
    assert (source, otherwise) == ({"Ref": "ConnectorSourceArn"}, {"Ref": "AWS::NoValue"})
    assert _non_empty_under(condition) == "ConnectorSourceArn"
    assert "SourceAccount" not in permission or permission["SourceAccount"] == {"Ref": "AWS::AccountId"}


@pytest.mark.parametrize(
    ("source_arn", "allowed"),
    [
        ("", True),
        ("arn:aws:iotmanagedintegrations:eu-west-1:123456789012:account-association/aa1b2c3d4e", True),
        ("arn:aws:iotmanagedintegrations:eu-west-1:123456789012:*", False),
        ("arn:aws:iotmanagedintegrations:eu-west-1:*:account-association/x", False),
        ("arn:aws:lambda:eu-west-1:123456789012:function:other", False),
    ],
)
def test_the_connector_s_source_arn_is_one_managed_integrations_resource(
    source_arn: str, allowed: bool
) -> None:
    assert (
        re.fullmatch(PARAMETERS["ConnectorSourceArn"]["AllowedPattern"], source_arn) is not None
    ) is allowed


class RecordingDynamoDB:
    """A DynamoDB client that records each call as (IAM action, the table or index it is on); with
    `conditions_fail`, every conditional write fails its condition (without the old item), so the paths
    that read the entry again are taken too."""

    def __init__(self, names: dict[str, str], *, conditions_fail: bool) -> None:
        self.names = names
        self.conditions_fail = conditions_fail
        self.used: set[tuple[str, str]] = set()

    def _record(self, action: str, request: dict[str, Any]) -> None:
        resource = self.names[request["TableName"]]
        if "IndexName" in request:
            resource += f"/index/{request['IndexName']}"
        self.used.add((f"dynamodb:{action}", resource))

    def _write(self, action: str, request: dict[str, Any]) -> dict[str, Any]:
        self._record(action, request)
        if self.conditions_fail and "ConditionExpression" in request:
            raise client_error("ConditionalCheckFailedException", 400, operation=action)
        return {"Attributes": {}}

    def put_item(self, **request: Any) -> dict[str, Any]:
        return self._write("PutItem", request)

    def update_item(self, **request: Any) -> dict[str, Any]:
        return self._write("UpdateItem", request)

    def delete_item(self, **request: Any) -> dict[str, Any]:
        return self._write("DeleteItem", request)

    def get_item(self, **request: Any) -> dict[str, Any]:
        self._record("GetItem", request)
        return {}

    def query(self, **request: Any) -> dict[str, Any]:
        self._record("Query", request)
        return {"Items": [{"id": {"S": "command#" + "0" * 40}}]}


def _dynamodb_used(side: str) -> set[tuple[str, str]]:
    """What the connector function's or the receiver's code calls on the connector's two tables."""
    from iotbridge.budget import UnlimitedBudget
    from iotbridge.correlation.model import COMMAND, DISCOVERY, PendingRequest
    from iotbridge.correlation.tables import ConnectorUserTable, CorrelationTable

    request = PendingRequest(COMMAND, "c", "t", "u", requested_at=0.0, deadline=1.0)
    discovery = PendingRequest(DISCOVERY, "c", "d", "u", requested_at=0.0, deadline=1.0)
    used: set[tuple[str, str]] = set()
    for fail in (False, True):
        client = RecordingDynamoDB(
            {"correlation": "CorrelationTable", "users": "ConnectorUserTable"}, conditions_fail=fail
        )
        correlation = CorrelationTable(client, "correlation", retention_seconds=60, clock=lambda: 10.0)
        users = ConnectorUserTable(client, "users")
        if side == "ConnectorFunction":
            for pending in (request, discovery):
                correlation.begin(pending, 1.0)
                correlation.handed_over(pending)
                correlation.release(pending)
            correlation.record_cloud_request_id(request, "cloud-1")
            correlation.expire_overdue(UnlimitedBudget())
            users.set_status("c", "u", active=False)
        else:
            correlation.answered(COMMAND, "c", "t")
            correlation.lookup(COMMAND, "c", "cloud-1")
            correlation.lookup(DISCOVERY, "c", "u")
            users.is_deactivated("c", "u")
        used |= client.used
    return used


def _dynamodb_granted(function: str, tables: set[str]) -> set[tuple[str, str]]:
    granted: set[tuple[str, str]] = set()
    for statement in _function_statements(function).values():
        for resource in _as_list(statement["Resource"]):
            if isinstance(resource, dict) and "Fn::GetAtt" in resource:
                name = resource["Fn::GetAtt"][0]
            elif isinstance(resource, dict) and "Fn::Sub" in resource:
                name = re.sub(r"^\$\{([A-Za-z0-9]+)\.Arn\}", r"\1", resource["Fn::Sub"])
            else:
                continue
            if name.split("/", 1)[0] in tables:
                granted |= {(action, name) for action in _as_list(statement["Action"])}
    return granted


@pytest.mark.parametrize("function", ["ConnectorFunction", "WebhookReceiverFunction"])
def test_each_function_may_do_exactly_what_its_code_does_on_the_connector_tables(function: str) -> None:
    tables = {"CorrelationTable", "ConnectorUserTable"}

    assert _dynamodb_granted(function, tables) == _dynamodb_used(function)


def test_the_connector_tables_are_on_demand_recoverable_and_the_correlation_table_expires_entries() -> None:
    from iotbridge.correlation.tables import DEADLINE_INDEX

    correlation = RESOURCES["CorrelationTable"]["Properties"]
    users = RESOURCES["ConnectorUserTable"]["Properties"]
    for props in (correlation, users):
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    [index] = correlation["GlobalSecondaryIndexes"]
    assert index["IndexName"] == DEADLINE_INDEX
    # The sweep reads keys only (each entry's id); the rest it updates by key.
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert correlation["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_the_connector_reads_secrets_only_under_its_two_prefixes() -> None:
    # GIVEN the connector's statements that read secrets
    secrets = {
        sid: s
        for sid, s in _function_statements("ConnectorFunction").items()
        if "secretsmanager:GetSecretValue" in _as_list(s["Action"])
    }

    # THEN there are two, each under the prefix its environment variable names
    assert {sid: s["Action"] for sid, s in secrets.items()} == {
        "ReadDeviceCloudSecrets": "secretsmanager:GetSecretValue",
        "ReadAuthorizationSecrets": "secretsmanager:GetSecretValue",
    }
    assert secrets["ReadDeviceCloudSecrets"]["Resource"]["Fn::Sub"].endswith(
        ":secret:${DeviceCloudSecretPrefix}*"
    )
    # The authorization secrets: the prefix's, unless AuthorizationSecretArnPattern names others
    condition, pattern, prefix = secrets["ReadAuthorizationSecrets"]["Resource"]["Fn::If"]
    assert (condition, pattern) == (
        "HasAuthorizationSecretArnPattern",
        {"Ref": "AuthorizationSecretArnPattern"},
    )
    assert prefix["Fn::Sub"].endswith(":secret:${AuthorizationSecretPrefix}*")
    environment = RESOURCES["ConnectorFunction"]["Properties"]["Environment"]["Variables"]
    assert environment["DEVICE_CLOUD_SECRET_PREFIX"] == {"Ref": "DeviceCloudSecretPrefix"}
    assert environment["AUTHORIZATION_SECRET_PREFIX"] == {"Ref": "AuthorizationSecretPrefix"}


@pytest.mark.parametrize("parameter", ["DeviceCloudSecretPrefix", "AuthorizationSecretPrefix"])
@pytest.mark.parametrize(
    ("prefix", "allowed"),
    [
        ("iot-bridge/device-clouds/", True),
        ("a/b/", True),
        ("iot-bridge/device-clouds", False),
        ("/", False),
        ("", False),
    ],
)
def test_the_connector_s_secret_prefixes_must_end_with_their_separator(
    parameter: str, prefix: str, allowed: bool
) -> None:
    # As for the signing secrets: without the separator the grant <prefix>* covers names that merely start
    # the same way.
    spec = PARAMETERS[parameter]
    fits = re.fullmatch(spec["AllowedPattern"], prefix) is not None and len(prefix) >= spec["MinLength"]
    assert fits is allowed
    assert re.fullmatch(spec["AllowedPattern"], spec["Default"])


@pytest.mark.parametrize(
    ("pattern", "allowed"),
    [
        ("", True),
        ("arn:aws:secretsmanager:*:*:secret:switchbot-*", True),
        ("arn:aws:secretsmanager:eu-west-1:111122223333:secret:iot/switchbot/*", True),
        ("*", False),
        ("arn:aws:secretsmanager:*:*:secret:", False),
        ("arn:aws:s3:::bucket/*", False),
        ("arn:aws:secretsmanager:*:*:secret:a b", False),
    ],
)
def test_the_authorization_secret_pattern_names_secrets_only(pattern: str, allowed: bool) -> None:
    spec = PARAMETERS["AuthorizationSecretArnPattern"]
    assert (re.fullmatch(spec["AllowedPattern"], pattern) is not None) is allowed
    assert spec["Default"] == ""


def test_the_connector_decrypts_only_through_secrets_manager_and_only_with_the_key_it_is_given() -> None:
    [(where, statement)] = [(w, s) for w, s in STATEMENTS if "kms:Decrypt" in _as_list(s.get("Action", []))]

    assert where.startswith("ConnectorFunction.")
    assert statement["NonEmpty"] == "AuthorizationSecretKmsKeyArn"
    assert statement["Resource"] == {"Ref": "AuthorizationSecretKmsKeyArn"}
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}
    }
    assert not re.fullmatch(PARAMETERS["AuthorizationSecretKmsKeyArn"]["AllowedPattern"], "*")


def test_the_connector_reads_the_profiles_the_receiver_reads_and_only_when_profiles_are_on() -> None:
    connector = _function_statements("ConnectorFunction")["ReadConnectorProfiles"]
    receiver = _function_statements("WebhookReceiverFunction")["ReadConnectorProfiles"]

    assert connector == receiver
    assert connector["Action"] == "ssm:GetParameter"
    assert connector["Resource"]["Fn::Sub"].endswith(":parameter/${ProfileParameterPath}*")
    variables = {
        name: RESOURCES[name]["Properties"]["Environment"]["Variables"]["PROFILE_PARAMETER_PREFIX"]
        for name in ("ConnectorFunction", "WebhookReceiverFunction")
    }
    assert variables["ConnectorFunction"] == variables["WebhookReceiverFunction"]
    assert variables["ConnectorFunction"]["Fn::If"][0] == "ProfilesEnabled"


def test_the_receiver_gets_no_permission_of_the_connector_function_beyond_its_tables() -> None:
    receiver = _function_statements("WebhookReceiverFunction")
    granted = [
        (action, json.dumps(s["Resource"], sort_keys=True))
        for s in receiver.values()
        for action in _as_list(s["Action"])
    ]

    assert not [
        g for g in granted if "DeviceCloudSecretPrefix" in g[1] or "AuthorizationSecretPrefix" in g[1]
    ]
    assert not [g for g in granted if g[0].startswith(("kms:", "lambda:"))]


def test_the_deployed_connector_takes_no_plain_http_device_cloud() -> None:
    environment = RESOURCES["ConnectorFunction"]["Properties"]["Environment"]["Variables"]

    assert environment["ALLOW_LOOPBACK_DEVICE_CLOUDS"] == "false"
    assert environment["CORRELATION_TABLE"] == {"Ref": "CorrelationTable"}
    assert environment["CONNECTOR_USER_TABLE"] == {"Ref": "ConnectorUserTable"}
    receiver = RESOURCES["WebhookReceiverFunction"]["Properties"]["Environment"]["Variables"]
    assert receiver["CORRELATION_TABLE"] == {"Ref": "CorrelationTable"}
    assert receiver["CONNECTOR_USER_TABLE"] == {"Ref": "ConnectorUserTable"}
