"""The demo's second chance: a Lumen Home discovery naming a model its profile's map lacks is refused (422)
and kept in the archive bucket; the profile is fixed in SSM (the map entry added); `replay` (run here, in
process, against the local stack) queues it once, a second replay queues nothing, and the discovery reaches
SendConnectorEvent (the IoT stand-in's record)."""

from __future__ import annotations

import argparse
import io
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from iot_standin.testing import StandinAdmin
from iotbridge.operations import replay
from iotbridge.webhook_receiver.domain.archived import received_at_of_key

from .aws import local_client
from .demo_clouds import LUMEN
from .signing import post
from .stack import LocalStack

NEW_MODEL, NEW_DEVICE_TYPE = "LB-30", "DimmableLight"


def discovery_body(discovery_id: str) -> bytes:
    """A Lumen Home discovery of one bulb of a model the shipped profile does not map."""
    event = {
        "type": "discovery.result",
        "discoveryId": discovery_id,
        "devices": [{"deviceId": "lmn-bulb-0130", "name": "Hall light", "model": NEW_MODEL, "features": []}],
    }
    return json.dumps({"accountId": "lumen-acct-2291", "events": [event]}).encode()


def with_map_entry(profile_text: str) -> str:
    """The profile with the new model in its discovery rule's device type map."""
    document = json.loads(profile_text)
    for rule in document["rules"]:
        if rule["name"] == "discovery":
            rule["devices"]["deviceType"]["map"][NEW_MODEL] = NEW_DEVICE_TYPE
    return json.dumps(document, separators=(",", ":"))


class ReplayWalk:
    def __init__(
        self, stack: LocalStack, say: Callable[[str], None], record: Callable[[str, str, str, bool], None]
    ) -> None:
        self.stack = stack
        self.say = say
        self.record = record
        state = stack.describe()
        self.api = state["apiUrl"]
        self.standin = StandinAdmin(state["iotUrl"])
        self.bucket = state.get("buckets", {}).get("WebhookArchiveBucket")
        self.queue_url = state["queues"].get("EventQueue")
        self.table = state["tables"].get("IdempotencyTable")
        self.profiled = LUMEN.connector_id in state.get("profiledConnectors", [])
        self.since = 0.0

    def run(self) -> None:
        self.say(
            "\n10. A second chance: a webhook refused by a profile's missing map entry, replayed once fixed"
        )
        if not (
            self.bucket and self.queue_url and self.table and self.profiled and self.stack.profile_prefix
        ):
            self.record("replay", "archive bucket and lumen-home profile", "not in this stack", False)
            return
        discovery_id = f"disc-replay-{uuid.uuid4().hex[:8]}"
        body = discovery_body(discovery_id)
        # The demo's earlier refusals (an out-of-range value, an unknown sensor) are kept too: this step
        # replays only what it sends.
        self.since = time.time()
        reply = post(f"{self.api}/connectors/{LUMEN.connector_id}/events", body, LUMEN.signed(body))
        self.record("refused by the profile", "422", str(reply.status), reply.status == 422)
        self.say(f"   discovery of a {NEW_MODEL} (not in the map) -> HTTP {reply.status}")
        s3 = local_client("s3", self.stack.moto_url)
        listed = s3.list_objects_v2(Bucket=self.bucket, Prefix=f"connectors/{LUMEN.connector_id}/")
        keys = [
            o["Key"]
            for o in listed.get("Contents", [])
            if (received_at_of_key(o["Key"]) or 0) >= int(self.since * 1000)
        ]
        self.record("archived", "1 kept webhook", f"{len(keys)} kept", len(keys) == 1)
        self.say(f"   kept in the archive bucket: {', '.join(keys) or 'nothing'}")

        ssm = local_client("ssm", self.stack.moto_url)
        name = self.stack.profile_prefix + LUMEN.connector_id
        fixed = with_map_entry(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        ssm.put_parameter(Name=name, Value=fixed, Type="String", Overwrite=True)
        self.say(f"   profile fixed in SSM: {NEW_MODEL} -> {NEW_DEVICE_TYPE}")

        for label, extra, expected in (
            ("replay --dry-run", ["--dry-run"], "would queue 1"),
            ("replay", [], "queued 1"),
            ("replay again", [], "duplicate"),
        ):
            code, lines = self.replay(extra)
            observed = lines[0].split("  ", 1)[-1] if lines else "nothing listed"
            ok = code == 0 and len(lines) == 1 and observed.startswith(expected)
            self.record(label, expected, observed[:30], ok)
            self.say(f"   {label:<18} -> {observed}")

        bodies = self.events(discovery_id)
        devices = bodies[0].get("Devices", []) if bodies else []
        ok = len(bodies) == 1 and [d.get("ConnectorDeviceId") for d in devices] == ["lmn-bulb-0130"]
        self.record("replayed forwarded", "1 DEVICE_DISCOVERY", f"{len(bodies)}", ok)
        self.say(f"   SendConnectorEvent requests for {discovery_id}: {len(bodies)}")

    def replay(self, extra: list[str]) -> tuple[int, list[str]]:
        """`python -m iotbridge replay` against the local stack, in process; its exit code and its lines."""
        parser = argparse.ArgumentParser(prog="python -m iotbridge")
        replay.add_parser(parser.add_subparsers(dest="command"))
        args = parser.parse_args(
            [
                "replay",
                "--connector",
                LUMEN.connector_id,
                "--bucket",
                str(self.bucket),
                "--queue-url",
                str(self.queue_url),
                "--idempotency-table",
                str(self.table),
                "--group-key-secret",
                "iot-bridge-local/message-group-key",
                "--profile-prefix",
                self.stack.profile_prefix,
                "--since",
                f"{self.since:.3f}",
                *extra,
            ]
        )
        clients: dict[str, Any] = {
            service: local_client(service, self.stack.moto_url)
            for service in ("s3", "ssm", "sqs", "secretsmanager")
        }
        clients["dynamodb"] = local_client("dynamodb", self.stack.dynamodb_url)
        out, err = io.StringIO(), io.StringIO()
        code = replay.run(args, out, err, clients=clients)
        for line in err.getvalue().splitlines():
            self.say(f"     {line}")
        return code, out.getvalue().splitlines()

    def events(self, discovery_id: str, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            bodies = [e["body"] for e in self.standin.connector_events(LUMEN.connector_id)]
            found = [b for b in bodies if b.get("DeviceDiscoveryId") == discovery_id]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.2)
