"""A connector function written by hand the usual way: a benchmark baseline, never deployed.

The same job as the project's connector for the OAuth 2.0 variant and the same AWS calls (the profile's
device-cloud URL from SSM and the outbound secret from Secrets Manager, each read once and kept; a
conditional PutItem of the correlation entry before the device cloud is asked and an UpdateItem after;
the user's status put on activation and deactivation), built from the usual parts: boto3 clients at module
level, a urllib3 pool, `standardwebhooks.Webhook.sign`, and plain dictionary access instead of models. It
reads the connector's own environment variables, so the benchmark runs both against the same answers.
"""

import json
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import urllib3
from standardwebhooks import Webhook

ssm = boto3.client("ssm")
secrets = boto3.client("secretsmanager")
dynamodb = boto3.client("dynamodb")
http = urllib3.PoolManager()

PROFILE_PREFIX = os.environ["PROFILE_PARAMETER_PREFIX"]
SECRET_PREFIX = os.environ["DEVICE_CLOUD_SECRET_PREFIX"]
CORRELATION_TABLE = os.environ["CORRELATION_TABLE"]
USER_TABLE = os.environ["CONNECTOR_USER_TABLE"]
DEADLINES = {
    "AWS.DiscoverDevices": int(os.environ.get("DISCOVERY_DEADLINE_SECONDS", "600")),
    "AWS.SendCommand": int(os.environ.get("COMMAND_DEADLINE_SECONDS", "60")),
}
REQUEST_IDS = {"AWS.DiscoverDevices": "deviceDiscoveryId", "AWS.SendCommand": "traceId"}
CLOUD_TYPES = {
    "AWS.ActivateUser": "activateUser",
    "AWS.DiscoverDevices": "discoverDevices",
    "AWS.SendCommand": "sendCommand",
    "AWS.DeactivateUser": "deactivateUser",
}
_clouds: dict[str, tuple[str, Webhook]] = {}


def _cloud(connector_id: str) -> tuple[str, Webhook]:
    if connector_id not in _clouds:
        profile = json.loads(ssm.get_parameter(Name=PROFILE_PREFIX + connector_id)["Parameter"]["Value"])
        secret = secrets.get_secret_value(SecretId=SECRET_PREFIX + connector_id)["SecretString"]
        _clouds[connector_id] = (profile["deviceCloud"]["url"], Webhook(secret.split()[0]))
    return _clouds[connector_id]


def _ask(connector_id: str, body: dict[str, Any]) -> Any:
    url, webhook = _cloud(connector_id)
    data = json.dumps(body)
    message_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": webhook.sign(message_id, now, data),
    }
    answer = http.request("POST", url, body=data.encode(), headers=headers, timeout=1.0, retries=False)
    if answer.status >= 300:
        raise RuntimeError(f"the device cloud answered {answer.status}")
    return json.loads(answer.data) if answer.data else None


def _answer(code: int, message: str, **payload: Any) -> dict[str, Any]:
    return {"header": {"responseCode": code}, "payload": {"responseMessage": message, **payload}}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    payload = event.get("payload", {})
    operation = payload.get("operationName")
    connector_id = payload.get("connectorId")
    if operation not in CLOUD_TYPES or not connector_id:
        return _answer(400, "Unknown operation")
    body = {
        "type": CLOUD_TYPES[operation],
        "connectorId": connector_id,
        "auth": event["header"]["auth"],
        "payload": payload,
    }
    if operation in REQUEST_IDS:
        request_id = payload[REQUEST_IDS[operation]]
        body["requestId"] = request_id
        now = time.time()
        key = {"id": {"S": f"{connector_id}#{request_id}"}}
        try:
            dynamodb.put_item(
                TableName=CORRELATION_TABLE,
                Item={
                    **key,
                    "status": {"S": "DISPATCHING"},
                    "requestedAt": {"N": str(now)},
                    "deadline": {"N": str(int(now) + DEADLINES[operation])},
                },
                ConditionExpression="attribute_not_exists(id)",
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return _answer(200, "Already handed over")
        _ask(connector_id, body)
        dynamodb.update_item(
            TableName=CORRELATION_TABLE,
            Key=key,
            UpdateExpression="SET #status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":pending": {"S": "PENDING"}},
        )
        return _answer(200, "Handed over")
    user_id = _ask(connector_id, body)["userId"]
    active = operation == "AWS.ActivateUser"
    dynamodb.put_item(
        TableName=USER_TABLE,
        Item={
            "id": {"S": f"{connector_id}#{user_id}"},
            "status": {"S": "ACTIVE" if active else "DEACTIVATED"},
        },
    )
    return _answer(200, "Done", **({"userId": user_id} if active else {}))
