"""One run of `make sam-local`: every sample through `sam local invoke`, checked against the local stack.

Two local stacks run side by side: the one the containers talk to (through relays on the bridge's gateway
address, at the ports events/env.json names) and a twin that is given the same events through its own
endpoints (the HTTP API, the Lambda Invoke API). Each sample's answer from the container must be the
twin's, per-run values aside, and its effect must show in the first stack.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge_local.aws import local_client
from bridge_local.signing import post
from bridge_local.stack import LocalStack, StackConfig
from iot_standin.testing import StandinAdmin
from samples.real_clouds import REAL_CLOUDS, LocalEndpoints

from . import checks
from .base_image import KEY_LABEL, BaseImageError, StandInBuild, cache_key, image_name
from .cases import Case, lanes, plan_cases
from .compare import AnswerError, HttpAnswer, compare, http_answer, parse_sam_output
from .doc import read_blocks
from .engine import Engine
from .relay import Relay
from .template import Derivation, derive_layer_makefile, derive_template

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
ENV_VARS = EVENTS / "env.json"
REGISTRY_PROBE = "https://public.ecr.aws/v2/"
# Generous for one sam local invoke (image build on first use, container start, cold import).
INVOKE_TIMEOUT = {"x86_64": 180.0, "arm64": 420.0}
# Functions run under emulation need more than the template's 10 s for a cold import.
ARM64_MIN_TIMEOUT = 120


class RunError(RuntimeError):
    """The run could not go on; the message says why."""


@dataclass
class Outcome:
    case: Case
    seconds: float
    problems: list[str] = field(default_factory=list)
    summary: str = ""


@dataclass
class Settings:
    architecture: str
    cache: Path
    pull_timeout: float = 8.0
    say: Callable[[str], None] = print


def env_ports() -> dict[str, int]:
    """The ports events/env.json sends the functions to on host.docker.internal, by service."""
    document = json.loads(ENV_VARS.read_text(encoding="utf-8"))
    ports: dict[str, int] = {}
    for section in document.values():
        for name, value in section.items():
            parts = urllib.parse.urlsplit(str(value))
            if parts.hostname == "host.docker.internal" and parts.port:
                ports[name] = parts.port
    return ports


def tree_digest(folder: Path, *extra: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    for text in extra:
        digest.update(text.encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class SamLocalRun:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.say = settings.say
        self.arch = settings.architecture
        self.cache = settings.cache.resolve()
        self.blocks = read_blocks()
        self.engine = Engine(self.cache / "engine")
        self.stacks: list[LocalStack] = []
        self.relays: list[Relay] = []
        self.outcomes: list[Outcome] = []
        self.base = ""
        self.template = Path()
        self._lock = threading.Lock()

    # ----- preparation

    def base_image(self) -> None:
        name = image_name(self.arch)
        if self._registry_reachable() and self.engine.try_pull(name, timeout=300):
            self.base = f"AWS's {name} (pulled)"
            return
        label = self.engine.image_label(name, KEY_LABEL)
        key = cache_key(self.arch)
        if label == key:
            self.base = f"stand-in {name} (cached, key {key})"
        elif label is None and self.engine.image_size(name) > 0:
            self.base = f"AWS's {name} (pulled earlier)"
            return
        else:
            self.say(f"building the stand-in base image {name} (key {key}; Debian {self.arch}, once)...")
            started = time.monotonic()
            try:
                StandInBuild(
                    self.arch, self.cache / "build" / self.arch, [self.engine.docker], self.engine.env
                ).run()
            except BaseImageError as exc:
                raise RunError(str(exc)) from None
            self.base = f"stand-in {name} (built in {time.monotonic() - started:.0f} s, key {key})"
        self.say(f"base image: {self.base}, {self.engine.image_size(name) / 1e6:.0f} MB")

    def _registry_reachable(self) -> bool:
        import urllib.error
        import urllib.request

        try:
            urllib.request.urlopen(REGISTRY_PROBE, timeout=self.settings.pull_timeout)
        except urllib.error.HTTPError:
            return True  # the registry answers (401 without a token): pulling may work
        except OSError:
            return False
        return True

    def derived_template(self) -> None:
        folder = self.cache / self.arch
        folder.mkdir(parents=True, exist_ok=True)
        if self.arch == "arm64":
            built = ROOT / ".aws-sam" / "build" / "template.yaml"
            if not built.exists():
                raise RunError("no .aws-sam/build/template.yaml: run `make build` first")
            derivation = Derivation("arm64", min_timeout=ARM64_MIN_TIMEOUT, base_dir=built.parent)
            text = derive_template(built.read_text(encoding="utf-8"), derivation)
            source = ".aws-sam/build/template.yaml (the output of make build)"
        else:
            layer = self._x86_64_layer(folder)
            derivation = Derivation("x86_64", layer_dir=layer, base_dir=ROOT)
            text = derive_template((ROOT / "template.yaml").read_text(encoding="utf-8"), derivation)
            source = "template.yaml"
        self.template = folder / "template.yaml"
        self.template.write_text(text, encoding="utf-8")
        note = f" with Timeout at least {ARM64_MIN_TIMEOUT} s" if self.arch == "arm64" else ""
        self.say(
            f"template: {self.template.relative_to(ROOT)}, a copy of {source} "
            f"with Architectures: [{self.arch}]{note}"
        )

    def _x86_64_layer(self, folder: Path) -> Path:
        """The shared layer built as layers/shared/Makefile builds it, with x86_64 wheels (kept by digest)."""
        shared = ROOT / "layers" / "shared"
        makefile = derive_layer_makefile((shared / "Makefile").read_text(encoding="utf-8"), "x86_64")
        key = tree_digest(shared, makefile)
        layer = folder / "layer"
        if (folder / "layer.key").exists() and (folder / "layer.key").read_text() == key and layer.exists():
            return layer
        self.say("building the shared layer with x86_64 wheels (layers/shared/Makefile, x86_64 platform)...")
        shutil.rmtree(layer, ignore_errors=True)
        (folder / "Makefile.layer").write_text(makefile, encoding="utf-8")
        done = subprocess.run(  # noqa: S603
            [  # noqa: S607 - make, as the Makefile runs it
                "make",
                "--no-print-directory",
                "-C",
                str(shared),
                "-f",
                str(folder / "Makefile.layer"),
                "build-SharedLayer",
                f"ARTIFACTS_DIR={layer}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RunError(f"the x86_64 layer build failed:\n{done.stderr[-2000:]}")
        (folder / "layer.key").write_text(key)
        return layer

    # ----- the local stacks and the way in from the containers

    def start_stacks(self) -> None:
        overrides = {"SignatureToleranceSeconds": 3153600000}  # the samples' fixed timestamps, as env.json
        for role in ("containers", "twin"):
            config = StackConfig(
                api_port=0,
                state_dir=self.cache / "state" / role,
                parameter_overrides=overrides,
                fleet_size=200,
            )
            stack = LocalStack(config)
            self.stacks.append(stack)
            stack.start()
        target = self.stacks[0]
        gateway = self.engine.gateway()
        by_port = {}
        for name, port in env_ports().items():
            service = "iot" if "IOT" in name else "moto"
            by_port[port] = int(urllib.parse.urlsplit(target.processes[service].url).port or 0)
        assert target.device_cloud is not None
        cloud_port = int(urllib.parse.urlsplit(target.device_cloud.url).port or 0)
        by_port[cloud_port] = cloud_port
        endpoints_port = self._real_clouds_port(target)
        if endpoints_port:
            by_port[endpoints_port] = endpoints_port
        for listen, to in by_port.items():
            self.relays.append(Relay(gateway, listen, to).start())
        self._cloud_on_localhost(target, cloud_port)
        if endpoints_port:
            self._real_clouds_on_localhost(target, endpoints_port)
        self.say(
            f"local stacks up; containers reach {gateway}:{{{','.join(str(p) for p in by_port)}}} "
            "(relays to the first stack on 127.0.0.1)"
        )

    @staticmethod
    def _cloud_on_localhost(stack: LocalStack, port: int) -> None:
        """The lights cloud's profile names its device cloud as `localhost`, which containers resolve to the
        gateway too (`--add-host localhost:host-gateway`); on the host it is loopback, as before."""
        ssm = stack.client("ssm")
        for parameter in ssm.get_parameters_by_path(Path="/", Recursive=True)["Parameters"]:
            document = json.loads(parameter["Value"])
            cloud = document.get("deviceCloud")
            if isinstance(cloud, dict) and "url" in cloud:
                parts = urllib.parse.urlsplit(cloud["url"])
                cloud["url"] = parts._replace(netloc=f"localhost:{port}").geturl()
                ssm.put_parameter(
                    Name=parameter["Name"],
                    Value=json.dumps(document, separators=(",", ":")),
                    Type="String",
                    Overwrite=True,
                )

    @staticmethod
    def _real_clouds_port(stack: LocalStack) -> int:
        """The port of the stand-ins for real clouds' keys and APIs (0: the stack has none)."""
        endpoints = stack.real_cloud_endpoints
        return int(urllib.parse.urlsplit(endpoints.url).port or 0) if endpoints is not None else 0

    @staticmethod
    def _real_clouds_on_localhost(stack: LocalStack, port: int) -> None:
        """The real clouds' profiles with their keys and hosts at `localhost`, where containers reach the
        stand-ins (through the relay on the gateway); on the host it is loopback, as before."""
        ssm = stack.client("ssm")
        names = [p["Name"] for p in ssm.get_parameters_by_path(Path="/", Recursive=True)["Parameters"]]
        endpoints = LocalEndpoints(f"http://localhost:{port}")
        for cloud in REAL_CLOUDS:
            for name in (n for n in names if n.endswith("/" + cloud.connector_id)):
                profile = cloud.local_profile(endpoints)
                ssm.put_parameter(Name=name, Value=profile, Type="String", Overwrite=True)

    # ----- the invocations

    def doc_command(
        self, name: str, variables: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.engine.env, "SAM_CLI_TELEMETRY": "0", **variables}
        return subprocess.run(  # noqa: S603
            ["bash", "-eu", "-o", "pipefail", "-c", self.blocks[name]],  # noqa: S607
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def fresh_samples(self) -> Path:
        folder = self.cache / "events"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        done = self.doc_command("fresh-samples", {"FRESH_DIR": str(folder.relative_to(ROOT))}, 60)
        if done.returncode != 0:
            raise RunError(f"signing the samples again failed:\n{done.stderr[-2000:]}")
        return folder

    def cases(self) -> list[Case]:
        handlers = {name: spec.handler for name, spec in self.stacks[0].spec.functions.items()}
        names = [p.name for p in EVENTS.glob("*.json")]
        return plan_cases(names, handlers, events_dir=EVENTS, fresh_dir=self.fresh_samples())

    def invoke_all(self) -> None:
        cases = self.cases()
        self.say(
            f"\n{len(cases)} sample events, each through sam local invoke and through the local stack "
            f"({len(lanes(cases))} lanes side by side):"
        )
        by_lane = lanes(cases)
        # The first invocation alone: SAM CLI builds its image (base image, emulator, layer) for the others.
        first_lane = next(iter(by_lane))
        self._report(self.invoke(by_lane[first_lane].pop(0)))
        with ThreadPoolExecutor(max_workers=len(by_lane)) as pool:
            for future in [pool.submit(self._run_lane, group) for group in by_lane.values()]:
                future.result()

    def _run_lane(self, group: list[Case]) -> None:
        for case in group:
            self._report(self.invoke(case))

    def _report(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)
            mark = "ok " if not outcome.problems else "BAD"
            case = outcome.case
            self.say(
                f"  {mark} {case.function:<24} {case.sample:<51} {outcome.seconds:5.1f} s  {outcome.summary}"
            )
            for problem in outcome.problems:
                self.say(f"        {problem}")

    def invoke(self, case: Case) -> Outcome:
        event = json.loads(case.event.read_text(encoding="utf-8"))
        variables = {
            "FUNCTION": case.function,
            "EVENT": str(case.event.relative_to(ROOT)),
            "TEMPLATE": str(self.template.relative_to(ROOT)),
        }
        target, twin = self.stacks
        before = self._effects(target, case, event)
        started = time.monotonic()
        try:
            done = self.doc_command("invoke", variables, INVOKE_TIMEOUT[self.arch])
        except subprocess.TimeoutExpired:
            return Outcome(
                case, time.monotonic() - started, [f"no answer within {INVOKE_TIMEOUT[self.arch]:.0f} s"]
            )
        seconds = time.monotonic() - started
        outcome = Outcome(case, seconds)
        command = " ".join(f"{k}={v}" for k, v in variables.items()) + " (docs/sam-local.md, invoke)"
        try:
            answer = parse_sam_output(done.stdout)
        except AnswerError as exc:
            outcome.problems += [f"{exc} (exit {done.returncode}) for {command}", *_tail(done.stderr)]
            return outcome
        outcome.summary = summary(answer)
        local = self._local_answer(twin, case, event)
        outcome.problems += [f"differs from the local stack: {d}" for d in compare(local, answer)]
        outcome.problems += self._check(target, case, event, answer, before)
        if outcome.problems:
            outcome.problems.insert(0, f"invocation: {command}")
            outcome.problems.insert(1, f"answer: {json.dumps(answer)[:600]}")
        return outcome

    def _local_answer(self, twin: LocalStack, case: Case, event: dict[str, Any]) -> Any:
        if case.kind == "webhook":
            assert twin.api is not None
            body = event.get("body") or ""
            raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
            skip = {"content-length", "host"}
            headers = {k: v for k, v in (event.get("headers") or {}).items() if k not in skip}
            reply = post(f"{twin.api.url}{event['rawPath']}", raw, headers)
            parsed = reply.json() if reply.body else None
            return {"statusCode": reply.status, "body": parsed}
        assert twin.lambda_service is not None
        return lambda_invoke(twin.lambda_service.url, case.function, event)

    # ----- effects in the stack the containers used

    def _effects(self, stack: LocalStack, case: Case, event: dict[str, Any]) -> dict[str, Any]:
        standin = StandinAdmin(stack.iot_url)
        connector = (event.get("pathParameters") or {}).get("connectorId") if case.kind == "webhook" else None
        seen: dict[str, Any] = {"events": len(standin.connector_events(connector)), "connector": connector}
        if case.kind == "connector" and stack.device_cloud is not None:
            seen["cloud"] = len(stack.device_cloud.requests())
        if case.kind == "reset":
            seen["publishes"] = len(standin.publishes())
        return seen

    def _check(
        self, stack: LocalStack, case: Case, event: dict[str, Any], answer: Any, before: dict[str, Any]
    ) -> list[str]:
        if case.kind == "webhook":
            return self._check_webhook(stack, case, answer, before)
        if case.kind == "forwarder":
            failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
            if failures != []:
                return [f"batchItemFailures {failures!r}, expected []"]
            records = len(event.get("Records") or [])
            return self._wait_events(stack, before["events"] + records, "SendConnectorEvent calls")
        if case.kind == "reset":
            return self._check_reset(stack, case, answer, before)
        return self._check_connector(stack, case, event, answer, before)

    def _check_webhook(self, stack: LocalStack, case: Case, answer: Any, before: dict[str, Any]) -> list[str]:
        try:
            http: HttpAnswer = http_answer(answer)
        except AnswerError as exc:
            return [str(exc)]
        expected = checks.WEBHOOK_STATUS.get(case.sample)
        problems = [] if http.status == expected else [f"HTTP {http.status}, expected {expected}"]
        if http.status == 202 and isinstance(http.body, dict):
            queued = int(http.body.get("queued") or 0)
            problems += self._wait_events(
                stack, before["events"] + queued, "SendConnectorEvent calls", connector=before["connector"]
            )
        return problems

    def _check_reset(self, stack: LocalStack, case: Case, answer: Any, before: dict[str, Any]) -> list[str]:
        if not isinstance(answer, dict):
            return [f"not a report: {answer!r}"]
        refused = answer.get("errorType") is not None
        if case.sample in checks.RESET_REFUSED:
            return [] if refused else ["the invalid plan was not refused"]
        if refused:
            return [f"the reset failed: {answer.get('errorType')}: {str(answer.get('errorMessage'))[:300]}"]
        return []

    def _check_connector(
        self, stack: LocalStack, case: Case, event: dict[str, Any], answer: Any, before: dict[str, Any]
    ) -> list[str]:
        if case.sample in checks.CONNECTOR_JOBS:
            failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
            return [] if failures == [] else [f"batchItemFailures {failures!r}, expected []"]
        code = ((answer or {}).get("header") or {}).get("responseCode") if isinstance(answer, dict) else None
        expected = checks.CONNECTOR_RESPONSE_CODE.get(case.sample)
        problems = [] if code == expected else [f"responseCode {code}, expected {expected}"]
        wanted = checks.CLOUD_REQUEST.get(case.sample)
        if wanted and stack.device_cloud is not None:
            asked = [r.type for r in stack.device_cloud.requests()[before["cloud"] :]]
            if wanted not in asked:
                problems.append(f"the device cloud was not asked {wanted} (asked: {asked or 'nothing'})")
        return problems

    @staticmethod
    def _wait_events(
        stack: LocalStack, count: int, what: str, *, connector: str | None = None, timeout: float = 30.0
    ) -> list[str]:
        standin = StandinAdmin(stack.iot_url)
        deadline = time.monotonic() + timeout
        while (found := len(standin.connector_events(connector))) < count:
            if time.monotonic() > deadline:
                return [f"{found} {what} in the stand-in, expected {count}"]
            time.sleep(0.2)
        return []

    # ----- sam local start-lambda, once

    def start_lambda(self) -> None:
        from bridge_local.processes import free_port

        port = free_port()
        env = {**self.engine.env, "SAM_CLI_TELEMETRY": "0", "TEMPLATE": str(self.template.relative_to(ROOT))}
        env["PORT"] = str(port)
        log = self.cache / "start-lambda.log"
        case = "connector-activate-user-oauth.json"
        event = json.loads((EVENTS / case).read_text(encoding="utf-8"))
        started = time.monotonic()
        with log.open("w") as out:
            server = subprocess.Popen(  # noqa: S603
                ["bash", "-eu", "-o", "pipefail", "-c", "exec " + self.blocks["start-lambda"].strip()],  # noqa: S607
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        problems: list[str] = []
        answer: Any = None
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    answer = lambda_invoke(
                        url, "ConnectorFunction", event, read_timeout=INVOKE_TIMEOUT[self.arch]
                    )
                    break
                except Exception as exc:  # the endpoint is not up yet, or answered with an error
                    if server.poll() is not None or time.monotonic() > deadline:
                        problems.append(f"no answer from sam local start-lambda: {exc}; see {log}")
                        break
                    time.sleep(0.5)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if answer is not None:
            twin = self.stacks[1]
            assert twin.lambda_service is not None
            local = lambda_invoke(twin.lambda_service.url, "ConnectorFunction", event)
            problems += [f"differs from the local stack: {d}" for d in compare(local, answer)]
            code = (answer.get("header") or {}).get("responseCode") if isinstance(answer, dict) else None
            if code != 200:
                problems.append(f"responseCode {code}, expected 200")
        outcome = Outcome(
            Case("ConnectorFunction", EVENTS / case, case),
            time.monotonic() - started,
            problems,
            "start-lambda",
        )
        self.outcomes.append(outcome)
        mark = "ok " if not problems else "BAD"
        self.say(
            f"\nsam local start-lambda, Lambda Invoke API through boto3:\n  {mark} ConnectorFunction "
            f"{case:<46} {outcome.seconds:5.1f} s"
        )
        for problem in problems:
            self.say(f"        {problem}")

    # ----- lifecycle

    def stop(self) -> None:
        for relay in self.relays:
            relay.stop()
        for stack in self.stacks:
            stack.stop()
        self.engine.stop()


def lambda_invoke(url: str, function: str, event: Any, *, read_timeout: float = 60.0) -> Any:
    """Invoke through a Lambda API endpoint with boto3 (dummy credentials); the returned document."""
    client = local_client("lambda", url, attempts=1, read_timeout=read_timeout, connect_timeout=5)
    response = client.invoke(FunctionName=function, Payload=json.dumps(event).encode("utf-8"))
    body = response["Payload"].read()
    answer = json.loads(body) if body else None
    if response.get("FunctionError"):
        return {"functionError": response["FunctionError"], "payload": answer}
    return answer


def summary(answer: Any) -> str:
    """One line of what the answer says, for the run's table."""
    if not isinstance(answer, dict):
        return json.dumps(answer)[:80]
    if "statusCode" in answer:
        http = http_answer(answer)
        body = http.body if isinstance(http.body, dict) else {}
        extra = f" queued {body['queued']}" if "queued" in body else ""
        return f"HTTP {http.status}{extra}"
    if "errorType" in answer:
        return f"error {answer['errorType']}"
    if "header" in answer:
        return f"responseCode {(answer.get('header') or {}).get('responseCode')}"
    if "batchItemFailures" in answer:
        return f"{len(answer['batchItemFailures'])} batchItemFailures"
    counts = {k: v for k, v in answer.items() if isinstance(v, int) and not isinstance(v, bool)}
    return ", ".join(f"{k} {v}" for k, v in list(counts.items())[:5]) or ", ".join(list(answer)[:5])


def _tail(text: str, lines: int = 15) -> list[str]:
    return ["  " + line for line in text.strip().splitlines()[-lines:]]


def disk_usage(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(folder) / name).lstat().st_size
            except OSError:
                continue
    return total
