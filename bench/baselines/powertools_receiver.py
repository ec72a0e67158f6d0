"""The webhook receiver written the way Powertools' documentation shows: a benchmark baseline, never deployed.

The same job as the project's receiver (verify a Standard Webhooks signature with the connector's secret,
validate the body against the SendConnectorEvent contract, deduplicate on the webhook id, queue the
events on the FIFO queue, answer 202), built from the usual parts: boto3 clients at module level,
`APIGatewayHttpResolver`, Powertools parameters for the secret, Powertools idempotency with
`DynamoDBPersistenceLayer`, `standardwebhooks.Webhook.verify`, a plain pydantic model of the body, and
`send_message_batch`. It reads the receiver's own environment variables, so the benchmark runs both
against the same answered services.
"""

import hashlib
import json
import os
from typing import Annotated, Any, Literal

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import UnauthorizedError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter, ValidationError
from standardwebhooks import Webhook, WebhookVerificationError

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver()

QUEUE_URL = os.environ["EVENT_QUEUE_URL"]
SECRET_PREFIX = os.environ.get("SIGNING_SECRET_PREFIX", "iot-bridge/connectors/")
sqs = boto3.client("sqs")
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
idempotency = IdempotencyConfig(
    event_key_jmespath="[connector_id, webhook_id]",
    expires_after_seconds=int(os.environ.get("DEDUPE_WINDOW_SECONDS", "86400")),
)


# --- The body: SendConnectorEvent without ConnectorId, its constraints as pydantic fields --------------


def text(low: int, high: int, pattern: str) -> Any:
    return Annotated[StrictStr, Field(min_length=low, max_length=high, pattern=pattern)]


def whole(low: int, high: int) -> Any:
    return Annotated[StrictInt, Field(ge=low, le=high)]


MatterId = text(1, 24, r"0[xX][0-9a-fA-F]+$|^[0-9]+")
EndpointId = text(1, 64, r"[0-9a-zA-Z]+")
Name = text(1, 128, r"[/a-zA-Z0-9\._ -]+")
SchemaId = text(7, 128, r"[a-zA-Z0-9.]+@(\d+\.\d+(\.\d+)?|\$latest)")
DeviceId = text(1, 256, r"[a-zA-Z0-9_.,@-]+")
Revision = whole(1, 10)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CapabilityReportAttribute(Strict):
    id: MatterId | None = None
    name: Name | None = None
    value: Any = None


class CapabilityReportCluster(Strict):
    id: MatterId
    revision: Revision
    publicId: SchemaId | None = None
    name: Name | None = None
    specVersion: text(1, 64, r"\d+\.\d+") | None = None
    attributes: Annotated[list[CapabilityReportAttribute], Field(max_length=100)] | None = None
    commands: Annotated[list[MatterId], Field(max_length=100)] | None = None
    events: Annotated[list[MatterId], Field(max_length=100)] | None = None
    featureMap: whole(0, 4294967295) | None = None
    generatedCommands: Annotated[list[MatterId], Field(max_length=50)] | None = None
    fabricIndex: whole(0, 4096) | None = None


class CapabilityReportEndpoint(Strict):
    id: EndpointId
    deviceTypes: Annotated[list[text(0, 256, r"[a-zA-Z0-9=_. ,@\+\-/]+")], Field(max_length=50)]
    clusters: Annotated[list[CapabilityReportCluster], Field(max_length=50)]
    parts: Annotated[list[EndpointId], Field(max_length=32)] | None = None
    semanticTags: Annotated[list[text(1, 128, r"[0-9a-zA-Z._-]+")], Field(max_length=32)] | None = None
    clientClusters: Annotated[list[MatterId], Field(max_length=32)] | None = None


class Capabilities(Strict):
    version: text(1, 10, r"1\.0\.0")
    nodeId: text(1, 64, r"[a-zA-Z0-9=_.,@\+\-/]+") | None = None
    endpoints: Annotated[list[CapabilityReportEndpoint], Field(max_length=50)]


class CapabilitySchema(Strict):
    Format: Literal["AWS", "ZCL", "CONNECTOR"]
    CapabilityId: SchemaId
    ExtrinsicId: text(1, 10, r"0[xX][0-9a-fA-F]+$|^[0-9]+")
    ExtrinsicVersion: Revision
    Schema: Any


class Device(Strict):
    ConnectorDeviceId: DeviceId
    ConnectorDeviceName: text(1, 256, r"[\p{L}\p{N} ._-]+") | None = None
    CapabilityReport: Capabilities
    CapabilitySchemas: Annotated[list[CapabilitySchema], Field(max_length=40)] | None = None
    DeviceMetadata: Any = None


class MatterCluster(Strict):
    id: MatterId | None = None
    attributes: Any = None
    commands: Annotated[dict[MatterId, Any], Field(min_length=1, max_length=5)] | None = None
    events: Annotated[dict[MatterId, Any], Field(min_length=1, max_length=5)] | None = None


class EndpointState(Strict):
    id: EndpointId | None = None
    clusters: Annotated[list[MatterCluster], Field(min_length=1, max_length=5)] | None = None


class ConnectorEvent(Strict):
    ConnectorId: text(1, 64, r"[A-Za-z0-9-_]+") | None = None
    UserId: text(1, 64, r"[a-zA-Z0-9_.,@-]+") | None = None
    Operation: Literal[
        "DEVICE_COMMAND_RESPONSE", "DEVICE_DISCOVERY", "DEVICE_EVENT", "DEVICE_COMMAND_REQUEST"
    ]
    OperationVersion: text(1, 6, r"[0-9.]+") | None = None
    StatusCode: whole(100, 550) | None = None
    Message: text(1, 256, r"[\sa-zA-Z0-9_.,@-]+") | None = None
    DeviceDiscoveryId: text(1, 200, r"[A-Za-z0-9]+") | None = None
    ConnectorDeviceId: DeviceId | None = None
    TraceId: text(1, 128, r"[a-zA-Z0-9:=_-]+") | None = None
    Devices: list[Device] | None = None
    MatterEndpoint: EndpointState | None = None


Body = TypeAdapter(ConnectorEvent | Annotated[list[ConnectorEvent], Field(min_length=1, max_length=50)])


# --- Deduplicated queueing ---------------------------------------------------------------------------


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


@idempotent_function(data_keyword_argument="delivery", persistence_store=persistence, config=idempotency)
def enqueue(delivery: dict[str, Any]) -> dict[str, Any]:
    connector_id, webhook_id, events = delivery["connector_id"], delivery["webhook_id"], delivery["events"]
    entries = [
        {
            "Id": str(index),
            "MessageBody": json.dumps({"connectorId": connector_id, "webhookId": webhook_id, "event": event}),
            "MessageGroupId": f"{connector_id}.{_digest(str(event.get('ConnectorDeviceId')))[:40]}",
            "MessageDeduplicationId": _digest(connector_id, webhook_id, str(index)),
        }
        for index, event in enumerate(events)
    ]
    for start in range(0, len(entries), 10):
        response = sqs.send_message_batch(QueueUrl=QUEUE_URL, Entries=entries[start : start + 10])
        if response.get("Failed"):
            raise RuntimeError("some events could not be queued")
    return {"webhookId": webhook_id, "queued": len(entries)}


# --- The route ---------------------------------------------------------------------------------------


@app.post("/connectors/<connector_id>/events")
def receive(connector_id: str) -> Response:
    event = app.current_event
    try:
        secret = parameters.get_secret(SECRET_PREFIX + connector_id, max_age=300)
        payload = Webhook(str(secret)).verify(event.decoded_body, dict(event.headers))
    except (parameters.exceptions.GetParameterError, WebhookVerificationError, ValueError):
        raise UnauthorizedError("The request could not be authenticated.") from None
    try:
        body = Body.validate_python(payload)
    except ValidationError as exc:
        errors = [{"path": ".".join(map(str, e["loc"])), "rule": e["msg"]} for e in exc.errors()]
        return Response(422, content_types.APPLICATION_JSON, {"message": "invalid body", "errors": errors})
    events = body if isinstance(body, list) else [body]
    delivery = {
        "connector_id": connector_id,
        "webhook_id": event.headers["webhook-id"],
        "events": [e.model_dump(exclude_none=True, exclude={"ConnectorId"}) for e in events],
    }
    result = enqueue(delivery=delivery)
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=result["queued"])
    return Response(202, content_types.APPLICATION_JSON, result)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    return app.resolve(event, context)
