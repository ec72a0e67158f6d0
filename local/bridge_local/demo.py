"""The story in one non-interactive run: signed webhooks reach SendConnectorEvent, forgeries and bad
bodies are turned away, one reset plan runs on each backend over the same fleet (the IoT stand-in's
IoT Events Data API, then the detector table in moto's DynamoDB) with the same report, and the connector
takes managed integrations' four operations with its device cloud answering through the relay. Exit 0
only when every step behaved."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iot_standin.testing import StandinAdmin
from iotbridge.send_connector_event.operations import OPERATIONS
from iotbridge.webhook_receiver.offline import try_webhook
from samples import google_nest, smartthings
from samples.real_clouds import GOOGLE_NEST, REAL_CLOUDS, SMARTTHINGS, RealCloud, events_path

from . import samples
from .aws import local_client
from .connector_walk import DEMO_COMMAND_DEADLINE_SECONDS, ConnectorWalk
from .demo_clouds import DEMO_CLOUDS
from .demo_fleet import DEMO_MODEL
from .detector_table import table_detectors
from .replay_walk import ReplayWalk
from .rest_walk import RestCloudWalk
from .signing import Reply, new_webhook_id, post, read_webhook_file, sign_headers
from .stack import ROOT, LocalStack, StackConfig

EVENTS_DIR = ROOT / "events"
# Not the demo connector's secret: what a forger without it would sign with.
FORGER_SECRET = "whsec_" + "Zm9yZ2VkLXNpZ25hdHVyZS1mb3ItdGhlLWRlbW8tb25seQ=="
# The plan the demo runs when events/plans/ holds none for the demo fleet's model.
DEMO_PLAN: dict[str, Any] = {
    "name": "demo-alarm-reset",
    "detectorModelName": DEMO_MODEL,
    "detectors": {"inStates": ["Alarm", "Fault"]},
    "action": {
        "mode": "update",
        "stateName": "Normal",
        "variables": [{"name": "alarmCount", "value": "0"}],
        "preserveVariables": ["lifetimeAlarms", "installedAt"],
    },
}


@dataclass
class Step:
    name: str
    expected: str
    observed: str = ""
    ok: bool = False


def demo_bodies() -> dict[str, bytes]:
    """One body per operation: the sample webhooks under events/, else the built-in samples."""
    bodies: dict[str, bytes] = {}
    for path in sorted(EVENTS_DIR.glob("webhook-*.json")):
        if "invalid" in path.name or "wrong" in path.name:
            continue
        body, _ = read_webhook_file(path)
        document = json.loads(body)
        # A real cloud's sample may be a batch (a JSON list) of its own events: not a demo body.
        operation = document.get("Operation") if isinstance(document, dict) else None
        if operation in OPERATIONS and operation not in bodies:
            bodies[operation] = body
    for sample in samples.BODIES.values():
        bodies.setdefault(sample["Operation"], samples.encode(sample))
    return {op: bodies[op] for op in OPERATIONS if op in bodies}


def demo_plan(plan: Path | None) -> tuple[str, Any]:
    if plan is not None:
        return str(plan), json.loads(plan.read_text(encoding="utf-8"))
    for path in sorted((EVENTS_DIR / "plans").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        action = document.get("action") if isinstance(document, dict) else None
        # The first plan that really updates the demo model's detectors (not a dry run, not a message).
        if (
            document.get("detectorModelName") == DEMO_MODEL
            and not document.get("dryRun")
            and isinstance(action, dict)
            and action.get("mode") == "update"
        ):
            return str(path.relative_to(ROOT)), document
    return "built-in demo plan", DEMO_PLAN


def recorded_events(iot_url: str, connector_id: str) -> list[dict[str, Any]]:
    return StandinAdmin(iot_url).connector_events(connector_id)


def detector_states(iot_url: str, model: str) -> Counter[str]:
    return Counter(d["state"]["stateName"] for d in StandinAdmin(iot_url).detectors(model))


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)


def table_states(moto_url: str, table: str, model: str) -> Counter[str]:
    detectors = table_detectors(local_client("dynamodb", moto_url), table, model=model)
    return Counter(d["state"]["stateName"] for d in detectors)


# What a run's report says about the fleet, without what differs from run to run (ids, times, key order).
_COMPARED = ("status", "matched", "reset", "failed", "matchedByState", "preservedVariables", "verified")


def _states(counts: Counter[str]) -> str:
    return ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "none"


class Demo:
    """Each step sends or invokes something real, and records what it expected and what it observed."""

    def __init__(self, stack: LocalStack, out: Any) -> None:
        self.stack = stack
        self.state = stack.describe()
        self.api, self.iot = self.state["apiUrl"], self.state["iotUrl"]
        self.connector = self.state["connectorId"]
        self.out = out
        self.steps: list[Step] = []
        self.bodies = demo_bodies()
        self.webhook_ids = {operation: new_webhook_id() for operation in self.bodies}
        # Per profiled connector: the SendConnectorEvent bodies its accepted native webhooks stand for.
        self.native_expected: dict[str, list[dict[str, Any]]] = {}

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def record(self, name: str, expected: str, observed: str, ok: bool) -> None:
        self.steps.append(Step(name, expected, observed, ok))

    def send(self, body: bytes, secret: str, webhook_id: str | None = None) -> Reply:
        url = f"{self.api}/connectors/{self.connector}/events"
        return post(url, body, sign_headers(secret, body, webhook_id=webhook_id))

    def signed_webhooks(self) -> None:
        self.say("\n1. Signed webhooks for the four SendConnectorEvent operations")
        for operation, body in self.bodies.items():
            reply = self.send(body, samples.DEMO_SECRET, self.webhook_ids[operation])
            self.record(f"signed {operation}", "202 accepted", str(reply.status), 200 <= reply.status < 300)
            self.say(f"   {operation:<24} -> HTTP {reply.status}")

    def retried_delivery(self) -> None:
        self.say("\n2. The same delivery again (a sender's retry): acknowledged, not forwarded twice")
        body = self.bodies["DEVICE_EVENT"]
        reply = self.send(body, samples.DEMO_SECRET, self.webhook_ids["DEVICE_EVENT"])
        self.record("retried delivery", "2xx, not queued again", str(reply.status), 200 <= reply.status < 300)
        self.say(f"   same webhook-id           -> HTTP {reply.status}")

    def forgery(self) -> None:
        self.say("\n3. A forgery: the same body signed with a secret that is not the connector's")
        reply = self.send(self.bodies["DEVICE_EVENT"], FORGER_SECRET)
        self.record("forged signature", "401", str(reply.status), reply.status == 401)
        self.say(f"   forged                    -> HTTP {reply.status} {reply.body.decode(errors='replace')}")

    def invalid_body(self) -> None:
        self.say("\n4. A properly signed body that breaks the SendConnectorEvent contract")
        reply = self.send(samples.encode(samples.INVALID_BODY), samples.DEMO_SECRET)
        text = reply.body.decode(errors="replace")
        ok = reply.status == 422 and "StatusCode" in text
        self.record("invalid body", "422 naming StatusCode", str(reply.status), ok)
        self.say(f"   invalid                   -> HTTP {reply.status} {text}")

    def forwarded(self) -> None:
        self.say(
            "\n5. The forwarder delivers each queued event to SendConnectorEvent (the stand-in records them)"
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if all(self._recorded()[op] >= 1 for op in self.bodies):
                break
            time.sleep(0.25)
        # Long enough for a redelivered duplicate to have surfaced too.
        time.sleep(self.stack.config.visibility_timeout + 0.5)
        seen = self._recorded()
        for operation in self.bodies:
            self.record(
                f"{operation} reached the API", "recorded once", f"{seen[operation]}x", seen[operation] == 1
            )
            self.say(f"   {operation:<24} recorded {seen[operation]}x")

    def _recorded(self) -> Counter[str]:
        return Counter(str(e["body"].get("Operation")) for e in recorded_events(self.iot, self.connector))

    def native_webhooks(self) -> None:
        self.say(
            "\n5a. Device clouds' own webhooks, each signed its own way and mapped by its connector's profile"
        )
        for cloud in (c for c in DEMO_CLOUDS if c.connector_id in self.state.get("profiledConnectors", [])):
            self.say(f"   {cloud.connector_id}: {cloud.what}")
            profile = cloud.profile()
            expected: list[dict[str, Any]] = []
            for name in cloud.payload_names():
                body = cloud.payload(name)
                headers = cloud.signed(body)
                # The verdict the connector team's tool gives, offline, for the same request.
                verdict = try_webhook(
                    profile, body=body, headers=headers, secret=cloud.secret, connector_id=cloud.connector_id
                )
                reply = post(self._url(cloud.connector_id), body, headers)
                same = reply.status == verdict.answer.status
                self.record(
                    f"{cloud.connector_id} {name}",
                    f"{verdict.answer.status} (as the tool says)",
                    str(reply.status),
                    same,
                )
                detail = "" if reply.status == 202 else " " + reply.body.decode(errors="replace")[:160]
                self.say(f"     {name:<18} -> HTTP {reply.status}{detail}")
                if reply.status == 202:
                    # As the API receives them: the connector id is in the request's path.
                    expected.extend(
                        {k: v for k, v in e.items() if k != "ConnectorId"} for e in verdict.events
                    )
            self.native_expected[cloud.connector_id] = expected
            body = cloud.payload(cloud.payload_names()[0])
            tampered = body.replace(b"}", b" }", 1)
            reply = post(self._url(cloud.connector_id), tampered, cloud.signed(body))
            self.record(f"{cloud.connector_id} tampered", "401", str(reply.status), reply.status == 401)
            self.say(f"     {'tampered body':<18} -> HTTP {reply.status}")
            reply = post(self._url(cloud.connector_id), body, cloud.signed(body, secret=FORGER_SECRET))
            self.record(f"{cloud.connector_id} forged", "401", str(reply.status), reply.status == 401)
            self.say(f"     {'wrong secret':<18} -> HTTP {reply.status}")
            if "{timestamp}" in getattr(profile.verification, "signed_content", ""):
                reply = post(self._url(cloud.connector_id), body, cloud.signed(body, now=time.time() - 600))
                self.record(f"{cloud.connector_id} stale", "401", str(reply.status), reply.status == 401)
                self.say(f"     {'signed 10 min ago':<18} -> HTTP {reply.status}")

    def native_forwarded(self) -> None:
        self.say("\n5b. What reached SendConnectorEvent for the device clouds (the stand-in's record)")
        for connector_id, expected in self.native_expected.items():
            deadline = time.monotonic() + 20
            bodies: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                bodies = [e["body"] for e in recorded_events(self.iot, connector_id)]
                if len(bodies) >= len(expected):
                    break
                time.sleep(0.25)
            ok = sorted(map(_canonical, bodies)) == sorted(map(_canonical, expected))
            self.record(f"{connector_id} forwarded", f"{len(expected)} mapped events", f"{len(bodies)}", ok)
            self.say(f"   {connector_id}: {len(bodies)} SendConnectorEvent requests, e.g.")
            for body in bodies[:2]:
                self.say(f"     {json.dumps(body, separators=(',', ':'))[:300]}")

    def _url(self, connector_id: str) -> str:
        return f"{self.api}/connectors/{connector_id}/events"

    def _real_url(self, cloud: RealCloud, token: str | None = None) -> str:
        path = events_path(cloud.connector_id)
        token = token or cloud.path_token
        return self.api + (f"{path}/{token}" if token else path)

    def real_clouds(self) -> None:
        """Each real device cloud's documented sample, signed its own way (HTTP Signatures, a Google-signed
        JWT, an HMAC, a token in the URL), reaches SendConnectorEvent; a forgery of each gets the 401."""
        self.say(
            "\n5c. Real device clouds, as they send (events/profiles/<cloud>/README.md cites each sample)"
        )
        queued: dict[str, int] = {}
        for cloud in REAL_CLOUDS:
            self.say(f"   {cloud.connector_id}: {cloud.what}")
            for name, (body, headers) in cloud.samples(int(time.time())).items():
                reply = post(self._real_url(cloud), body, headers)
                answer = json.loads(reply.body or b"{}") if reply.status == 202 else {}
                queued[cloud.connector_id] = queued.get(cloud.connector_id, 0) + int(answer.get("queued", 0))
                ok = reply.status == 202 and int(answer.get("queued", 0)) > 0
                self.record(
                    f"{cloud.connector_id} {name}",
                    "202, queued",
                    f"{reply.status}, {answer.get('queued')}",
                    ok,
                )
                self.say(f"     {name:<18} -> HTTP {reply.status}, {answer.get('queued', 0)} queued")
                if cloud.path_token:
                    # Unsigned: what tells a forgery apart is the URL's token alone.
                    forged = post(self._real_url(cloud, "not-the-token-" + "x" * 40), body, headers)
                    what = "wrong path token"
                elif cloud is GOOGLE_NEST:
                    # Pub/Sub's token covers who sent the push, not its body: a forgery is a token Google
                    # did not sign.
                    token = google_nest.push_token(signed_by=google_nest.other_signer())
                    forged = post(self._real_url(cloud), body, {**headers, **google_nest.push_headers(token)})
                    what = "token not Google's"
                else:
                    forged = post(self._real_url(cloud), body.replace(b"}", b" }", 1), headers)
                    what = "tampered body"
                self.record(f"{cloud.connector_id} {what}", "401", str(forged.status), forged.status == 401)
                self.say(f"     {what:<18} -> HTTP {forged.status}")
        smart = SMARTTHINGS
        challenge = "demo-challenge-" + new_webhook_id()
        reply = post(self._real_url(smart), smartthings.ping(challenge), {"Content-Type": "application/json"})
        echoed = reply.status == 200 and challenge.encode() in reply.body
        self.record("smartthings PING", "200, challenge echoed", str(reply.status), echoed)
        self.say(f"     {'PING handshake':<18} -> HTTP {reply.status}, challenge echoed: {echoed}")
        for connector_id, count in queued.items():
            deadline = time.monotonic() + 30
            seen = 0
            while time.monotonic() < deadline:
                seen = len(recorded_events(self.iot, connector_id))
                if seen >= count:
                    break
                time.sleep(0.25)
            self.record(f"{connector_id} forwarded", f">= {count} events", str(seen), seen >= count)
            self.say(f"   {connector_id}: {seen} SendConnectorEvent requests")

    def detector_resets(self, plan: Path | None) -> None:
        """The same plan on both backends, each holding the same seeded fleet: the same outcome."""
        source, plan_doc = demo_plan(plan)
        model = str(plan_doc.get("detectorModelName", DEMO_MODEL))
        tables = self.state.get("detectorTables") or []
        self.say(f"\n6. Detector reset on the IoT Events Data API (the IoT stand-in); plan: {source}")
        on_events = self.detector_reset(
            "iotevents-data",
            {**plan_doc, "backend": {"kind": "iotevents-data"}},
            lambda: detector_states(self.iot, model),
        )
        if not tables:
            self.record("detector reset (dynamodb)", "a detector table", "the template has none", False)
            return
        self.say(f"\n7. The same plan on the detector table {tables[0]} (moto's DynamoDB)")
        on_table = self.detector_reset(
            "dynamodb",
            {**plan_doc, "backend": {"kind": "dynamodb", "table": tables[0]}},
            lambda: table_states(self.state["motoUrl"], tables[0], model),
        )
        if on_events is not None and on_table is not None:
            differs = sorted(k for k in _COMPARED if on_events.get(k) != on_table.get(k))
            observed = "same counts" if not differs else "differ in " + ", ".join(differs)
            self.record("same report on both", "same counts", observed, not differs)
            self.say(f"   reports on both backends: {observed}")

    def detector_reset(
        self, backend: str, plan_doc: dict[str, Any], states: Callable[[], Counter[str]]
    ) -> dict[str, Any] | None:
        from .reset_trigger import invoke_reset

        name = f"detector reset ({backend})"
        self.say(f"   before: {_states(states())}")
        try:
            outcome = invoke_reset(self.state, plan_doc)
        except Exception as exc:
            self.record(name, "runs", f"{type(exc).__name__}: {exc}", False)
            self.say(f"   could not run: {exc}")
            return None
        assert self.stack.lambda_service is not None
        self.stack.lambda_service.wait_idle(timeout=60)  # continuations, if the run handed over
        after = states()
        self.say(f"   after:  {_states(after)}")
        self.say(f"   report: {json.dumps(outcome.payload)}")
        target = str((plan_doc.get("action") or {}).get("stateName") or "Normal")
        ok = outcome.ok and sum(after.values()) > 0 and after[target] == sum(after.values())
        self.record(name, f"every detector {target}", _states(after), ok)
        return outcome.payload if ok and isinstance(outcome.payload, dict) else None


def run_demo(
    *, state_dir: Path, plan: Path | None = None, template: Path | None = None, out: Any = None
) -> int:
    started = time.monotonic()
    print("Starting the local stack (moto, IoT stand-in, one process per function)...", file=out, flush=True)
    config = StackConfig(
        api_port=0,
        state_dir=state_dir,
        # Short enough for the demo to show a command never answered, and a deactivation at once.
        parameter_overrides={
            "CommandDeadlineSeconds": DEMO_COMMAND_DEADLINE_SECONDS,
            "UserStatusCacheSeconds": 0,
        },
    )
    if template is not None:
        config.template = template
    with LocalStack(config) as stack:
        demo = Demo(stack, out)
        demo.say(
            f"  up in {time.monotonic() - started:.1f}s: webhook endpoint {demo.api}, IoT stand-in {demo.iot}"
        )
        demo.signed_webhooks()
        demo.retried_delivery()
        demo.forgery()
        demo.invalid_body()
        demo.native_webhooks()
        demo.forwarded()
        demo.native_forwarded()
        demo.real_clouds()
        demo.detector_resets(plan)
        ConnectorWalk(stack, demo.say, demo.record).run()
        RestCloudWalk(stack, demo.say, demo.record).run()
        ReplayWalk(stack, demo.say, demo.record).run()
        demo.say("\nStopping every process the stack started...")
    steps = demo.steps
    failed = [s for s in steps if not s.ok]
    width = max(len(s.name) for s in steps)
    demo.say(f"\n{'step':<{width}}  {'expected':<24} {'observed':<30} result")
    for s in steps:
        demo.say(f"{s.name:<{width}}  {s.expected:<24} {s.observed:<30} {'ok' if s.ok else 'FAILED'}")
    demo.say(
        f"\n{len(steps) - len(failed)} of {len(steps)} steps behaved in {time.monotonic() - started:.1f}s."
    )
    if failed:
        demo.say(
            "FAILED: " + "; ".join(f"{s.name} (expected {s.expected}, got {s.observed})" for s in failed)
        )
        demo.say(f"Logs of each process: {stack.logs_dir}")
        return 1
    return 0
