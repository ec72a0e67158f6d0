"""Create the template's queues, tables and buckets, the demo connector's signing secret, and the demo
clouds' profiles and secrets, in moto's server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .lambda_runtime import LOCAL_ACCOUNT_ID, LOCAL_REGION, function_arn
from .sam_template import LocalResolver, StackSpec, TemplateError

# CloudFormation properties of AWS::SQS::Queue that are queue attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoThroughputLimit",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


@dataclass(frozen=True)
class LocalQueue:
    logical_id: str
    url: str
    arn: str


def _attribute(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def create_queues(
    sqs: Any, spec: StackSpec, resolver: LocalResolver, *, visibility_timeout: int | None
) -> dict[str, LocalQueue]:
    """Every AWS::SQS::Queue, dead-letter queues first, with a local visibility timeout if given."""
    created: dict[str, LocalQueue] = {}
    remaining = {k: q for k, q in spec.queues.items() if resolver.present(k)}
    while remaining:
        ready = [q for q in remaining.values() if _redrive_target(q.properties) in (None, *created.keys())]
        if not ready:
            raise TemplateError(f"queues {sorted(remaining)} name dead-letter queues the template lacks")
        for queue in ready:
            props = resolver.value(queue.properties)
            attributes = {name: _attribute(props[name]) for name in _QUEUE_ATTRIBUTES if name in props}
            if props.get("FifoQueue"):
                attributes["FifoQueue"] = "true"
            if visibility_timeout is not None:
                attributes["VisibilityTimeout"] = str(visibility_timeout)
            if "RedrivePolicy" in props:
                policy = props["RedrivePolicy"]
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": policy["deadLetterTargetArn"],
                        "maxReceiveCount": int(policy["maxReceiveCount"]),
                    }
                )
            url = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
            arn = f"arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{queue.name}"
            resolver.bind(queue.logical_id, url, Arn=arn, QueueName=queue.name, QueueUrl=url)
            created[queue.logical_id] = LocalQueue(queue.logical_id, url, arn)
            del remaining[queue.logical_id]
    return created


def _redrive_target(properties: dict[str, Any]) -> str | None:
    target = (properties.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
    if isinstance(target, dict) and "Fn::GetAtt" in target:
        return str(target["Fn::GetAtt"][0])
    return None


def bind_tables(spec: StackSpec, resolver: LocalResolver) -> dict[str, str]:
    """Give every table the stack has its local name (its logical id unless it names itself) and ARN, so
    that what refers to a table resolves before the table is made."""
    names: dict[str, str] = {}
    for table in spec.tables.values():
        if not resolver.present(table.logical_id):
            continue
        name = str(resolver.value(table.properties.get("TableName")) or table.logical_id)
        arn = f"arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:table/{name}"
        resolver.bind(table.logical_id, name, Arn=arn)
        names[table.logical_id] = name
    return names


def create_tables(dynamodb: Any, spec: StackSpec, resolver: LocalResolver) -> dict[str, str]:
    """Every AWS::DynamoDB::Table the stack has (keys, indexes, billing and time to live), by logical id.
    Encryption and point-in-time recovery have no local meaning."""
    names = bind_tables(spec, resolver)
    for logical_id, name in names.items():
        props = resolver.value(spec.tables[logical_id].properties)
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if props.get("GlobalSecondaryIndexes"):
            request["GlobalSecondaryIndexes"] = [
                {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
                for index in props["GlobalSecondaryIndexes"]
            ]
        if request["BillingMode"] == "PROVISIONED":
            request["ProvisionedThroughput"] = props.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        dynamodb.create_table(**request)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    return names


def bind_functions(spec: StackSpec, resolver: LocalResolver) -> None:
    """Functions are named after their logical ids locally, as `sam local` names them."""
    for logical_id in spec.functions:
        resolver.bind(logical_id, logical_id, Arn=function_arn(logical_id))


def create_secrets(
    secretsmanager: Any, spec: StackSpec, resolver: LocalResolver, *, generated: str
) -> dict[str, str]:
    """Every AWS::SecretsManager::Secret, named as the template names it. A secret the template has
    Secrets Manager generate holds `generated` here (a fixed value, so local runs are repeatable)."""
    arns: dict[str, str] = {}
    for logical_id, resource in spec.resources.items():
        if resource.get("Type") != "AWS::SecretsManager::Secret":
            continue
        props = resolver.value(resource.get("Properties") or {})
        name = str(props.get("Name") or logical_id)
        value = props.get("SecretString") if "SecretString" in props else generated
        arn = secretsmanager.create_secret(Name=name, SecretString=str(value))["ARN"]
        resolver.bind_secret(logical_id, arn, name, str(value))
        arns[logical_id] = arn
    return arns


def create_buckets(s3: Any, spec: StackSpec, resolver: LocalResolver) -> dict[str, str]:
    """Every AWS::S3::Bucket the stack has, named after its logical id (lower-cased) unless it names itself,
    by logical id. Encryption, lifecycle and policies have no local meaning."""
    names: dict[str, str] = {}
    for logical_id, resource in spec.resources.items():
        if resource.get("Type") != "AWS::S3::Bucket" or not resolver.present(logical_id):
            continue
        props = resolver.value(resource.get("Properties") or {})
        name = str(props.get("BucketName") or logical_id.lower())
        s3.create_bucket(Bucket=name)
        resolver.bind(logical_id, name, Arn=f"arn:aws:s3:::{name}")
        names[logical_id] = name
    return names


def create_signing_secret(secretsmanager: Any, *, prefix: str, connector_id: str, secret: str) -> str:
    name = prefix + connector_id
    secretsmanager.create_secret(Name=name, SecretString=secret)
    return name


def create_profile(ssm: Any, *, prefix: str, connector_id: str, profile: str) -> str:
    """A connector's profile, stored as a deployment stores it: an SSM String parameter."""
    name = prefix + connector_id
    ssm.put_parameter(Name=name, Value=profile, Type="String", Overwrite=True)
    return name
