"""Per-connector rate limits end to end against moto's server: two profiled connectors with low `limits`,
their buckets in the idempotency table, the receiver's handler answering each webhook."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from bridge_local.aws import local_client
from samples.device_clouds import AERIE, LUMEN, DemoCloud
from samples.webhooks import http_api_event

from .conftest import RelayResources

# One token per 100 s refilled: what the test sends in the meantime meets the burst alone, however fast the
# machine (no count depends on timing).
STORM_BURST = 5
CALM_BURST = 20
STORM_LIMITS: dict[str, float] = {"rate": 0.01, "burst": STORM_BURST}
CALM_LIMITS: dict[str, float] = {"rate": 0.01, "burst": CALM_BURST}


@pytest.fixture
def limited(relay: RelayResources) -> Iterator[Any]:
    """Both demo clouds' connectors, each with a profile that sets its own limits; the handler, rebuilt."""
    ssm = local_client("ssm", relay.endpoint)
    secrets = local_client("secretsmanager", relay.endpoint)
    for cloud, limits in ((LUMEN, STORM_LIMITS), (AERIE, CALM_LIMITS)):
        document = {**json.loads(cloud.profile_file.read_text()), "limits": limits}
        ssm.put_parameter(
            Name=relay.profile_prefix + cloud.connector_id, Value=json.dumps(document), Type="String"
        )
        secrets.create_secret(Name=relay.secret_prefix + cloud.connector_id, SecretString=cloud.secret)
    import webhook_receiver

    webhook_receiver.wiring.rebuild()
    yield webhook_receiver
    webhook_receiver.wiring.rebuild()


def deliver(handler: Any, context: Any, cloud: DemoCloud, payload: str, index: int) -> dict[str, Any]:
    body = cloud.payload(payload)
    # A delivery of its own each time (its id, its signing time): every 202 is a webhook accepted anew.
    headers = cloud.signed(body, delivery_id=f"delivery-{index}", now=time.time() - index)
    response: dict[str, Any] = handler.lambda_handler(
        http_api_event(body, headers, connector_id=cloud.connector_id), context
    )
    response["json"] = json.loads(response["body"])
    return response


def test_a_connector_at_ten_times_its_limit_gets_429s_while_another_is_all_accepted(
    limited: Any, relay: RelayResources, lambda_context: Any
) -> None:
    # WHEN the lights cloud sends 10x its burst and the sensors cloud its 20 webhooks, interleaved
    storm: list[dict[str, Any]] = []
    calm: list[dict[str, Any]] = []
    for index in range(10 * STORM_BURST):
        storm.append(deliver(limited, lambda_context, LUMEN, "state", index))
        if index % 2 == 0 and len(calm) < CALM_BURST:
            calm.append(deliver(limited, lambda_context, AERIE, "readings", index))
    # THEN the storm's connector is refused past its limit, each 429 with Retry-After and the limit named
    statuses = Counter(r["statusCode"] for r in storm)
    assert statuses == {202: STORM_BURST, 429: 9 * STORM_BURST}
    for refused in (r for r in storm if r["statusCode"] == 429):
        assert int(refused["headers"]["Retry-After"]) >= 1
        assert refused["json"]["limit"] == STORM_LIMITS
    # AND every webhook of the other connector was accepted
    assert [r["statusCode"] for r in calm] == [202] * CALM_BURST
    assert all(r["json"]["queued"] >= 1 for r in calm)
    # AND both buckets are items of the idempotency table
    dynamodb = local_client("dynamodb", relay.endpoint)
    for cloud in (LUMEN, AERIE):
        item = dynamodb.get_item(TableName=relay.table, Key={"id": {"S": f"ratelimit#{cloud.connector_id}"}})
        assert "tat" in item["Item"]
