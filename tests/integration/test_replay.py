"""A second chance on the local stack: a profiled webhook refused for its mapping is kept in the archive
bucket (an accepted one is not); once the profile is fixed in SSM, `python -m iotbridge replay` queues it,
a second replay queues nothing (the idempotency table), and the event reaches SendConnectorEvent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bridge_local.aws import local_client, local_credentials_env
from bridge_local.replay_walk import discovery_body, with_map_entry
from bridge_local.signing import post
from bridge_local.stack import ROOT, LocalStack, StackConfig
from iot_standin.testing import StandinAdmin
from samples.device_clouds import LUMEN

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CEILING_SECONDS = 30.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(StackConfig(api_port=0, state_dir=tmp_path_factory.mktemp("replay"))) as running:
        yield running


def send(stack: LocalStack, body: bytes) -> int:
    url = f"{stack.describe()['apiUrl']}/connectors/{LUMEN.connector_id}/events"
    return post(url, body, LUMEN.signed(body)).status


def kept_keys(stack: LocalStack) -> list[str]:
    bucket = stack.buckets["WebhookArchiveBucket"]
    listed = local_client("s3", stack.moto_url).list_objects_v2(
        Bucket=bucket, Prefix="connectors/lumen-home/"
    )
    return [item["Key"] for item in listed.get("Contents", [])]


def replay(stack: LocalStack, *extra: str) -> subprocess.CompletedProcess[str]:
    """The operator's command, as run from a workstation pointed at the local stack."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **local_credentials_env(),
        "AWS_ENDPOINT_URL": stack.moto_url,
        "AWS_ENDPOINT_URL_DYNAMODB": stack.dynamodb_url,
        "PYTHONPATH": str(ROOT / "layers" / "shared"),
    }
    command = [
        sys.executable,
        "-m",
        "iotbridge",
        "replay",
        "--connector",
        LUMEN.connector_id,
        "--bucket",
        stack.buckets["WebhookArchiveBucket"],
        "--queue-url",
        stack.queues["EventQueue"].url,
        "--idempotency-table",
        stack.tables["IdempotencyTable"],
        "--group-key-secret",
        "iot-bridge-local/message-group-key",
        "--profile-prefix",
        stack.profile_prefix,
        *extra,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def forwarded(stack: LocalStack, discovery_id: str) -> list[dict[str, Any]]:
    admin = StandinAdmin(stack.describe()["iotUrl"])
    deadline = time.monotonic() + CEILING_SECONDS
    while True:
        bodies = [e["body"] for e in admin.connector_events(LUMEN.connector_id)]
        found = [b for b in bodies if b.get("DeviceDiscoveryId") == discovery_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_refused_webhook_is_replayed_once_through_the_fixed_profile(stack: LocalStack) -> None:
    # GIVEN an accepted webhook and a discovery of a model the profile's map lacks
    assert send(stack, LUMEN.payload("state")) == 202
    discovery_id = f"disc-{uuid.uuid4().hex[:8]}"
    assert send(stack, discovery_body(discovery_id)) == 422

    # THEN only the refused one is kept
    assert len(kept_keys(stack)) == 1

    # WHEN replayed before the profile is fixed: still refused, the problem named, nothing queued
    before = replay(stack)
    assert before.returncode == 1, before.stderr
    assert "still refused" in before.stdout and "the device type has no entry in the map" in before.stdout

    # WHEN the profile is fixed in SSM, and the replay run (dry, then for real, then again)
    ssm = local_client("ssm", stack.moto_url)
    name = stack.profile_prefix + LUMEN.connector_id
    ssm.put_parameter(
        Name=name,
        Value=with_map_entry(ssm.get_parameter(Name=name)["Parameter"]["Value"]),
        Type="String",
        Overwrite=True,
    )
    dry = replay(stack, "--dry-run")
    first = replay(stack, "--since", "2020-01-01T00:00:00Z")
    second = replay(stack)

    # THEN the first queues it, the second finds it queued, and it reaches SendConnectorEvent once
    assert dry.returncode == 0 and "would queue 1" in dry.stdout, dry.stderr
    assert first.returncode == 0 and "queued 1" in first.stdout, first.stderr
    assert second.returncode == 0 and "duplicate" in second.stdout, second.stderr
    bodies = forwarded(stack, discovery_id)
    assert len(bodies) == 1
    assert [d["ConnectorDeviceId"] for d in bodies[0]["Devices"]] == ["lmn-bulb-0130"]


def test_a_window_with_nothing_kept_says_so(stack: LocalStack) -> None:
    result = replay(stack, "--until", "2000-01-01")

    assert result.returncode == 0
    assert "no kept webhooks of lumen-home in that window" in result.stderr


def test_a_bad_time_is_a_usage_error(stack: LocalStack) -> None:
    result = replay(stack, "--since", "yesterday")

    assert result.returncode == 2
    assert result.stderr.startswith("replay: --since: not a time") and "Traceback" not in result.stderr
