"""The whole bridge on one machine: moto, the IoT stand-in, one process per function, and the AWS glue.

Glue that AWS provides and `sam local` would need containers for runs here, in the supervisor:
the HTTP API in front of the receiver, the SQS event source mapping in front of the forwarder, and
the Lambda Invoke endpoint that functions (and `python -m bridge_local reset`) call.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iot_standin.testing import StandinAdmin
from samples.real_clouds import REAL_CLOUDS, LocalEndpoints, local_documents

from . import resources
from .aws import local_client, local_credentials_env
from .demo_clouds import DEMO_CLOUDS, DemoCloud
from .demo_fleet import DEMO_MODEL, DEMO_RESET_INPUT, demo_fleet
from .detector_table import DEFAULT_NAMES, put_detectors
from .device_cloud import FakeDeviceCloud
from .fault_proxy import FaultProxy, serve_in_thread
from .http_api import HttpApi, Route
from .lambda_api import LambdaService, RemoteFunction
from .lambda_runtime import LOCAL_REGION, Invoker
from .processes import LOOPBACK, ServerProcess, free_port, start_moto_server, start_server
from .real_cloud_endpoints import RealCloudEndpoints
from .rest_clouds import NukiWebApi, RestCloud, SwitchBotApi, switchbot_authorization
from .sam_template import LocalResolver, StackSpec, TemplateError, read
from .samples import DEMO_CONNECTOR_ID, DEMO_MESSAGE_GROUP_KEY, DEMO_SECRET
from .sqs_poller import SqsEventSource

log = logging.getLogger("bridge_local.stack")


ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = ROOT / "local" / ".state"
STATE_FILE = "stack.json"
LAST_RUN_FILE = "last-run.json"
LAYER_DIR = ROOT / "layers" / "shared"
LOCAL_DIR = ROOT / "local"

# Credentials and settings that must never reach a local process: everything goes to loopback.
_SCRUBBED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN")


class StackError(RuntimeError):
    """The local stack could not start or is not running; the message says what to do."""


@dataclass
class StackConfig:
    template: Path = ROOT / "template.yaml"
    api_port: int = 3000
    # 0 = any free port; `up` pins them so events/env.json can point `sam local invoke` at them.
    moto_port: int = 0
    iot_port: int = 0
    state_dir: Path = DEFAULT_STATE_DIR
    # Short, so a failed event comes back within seconds instead of the deployed three minutes.
    visibility_timeout: int = 2
    max_receive_count: int | None = None  # the template's ForwarderMaxReceiveCount default when None
    fleet_size: int = 200
    connector_id: str = DEMO_CONNECTOR_ID
    signing_secret: str = DEMO_SECRET
    poll_wait_seconds: int = 1
    parameter_overrides: dict[str, Any] = field(default_factory=dict)
    # Execution environments per function (1 when not listed), as Lambda's concurrency: each is its own
    # process taking one event at a time, and an SQS-triggered function gets one poller per environment.
    concurrency: dict[str, int] = field(default_factory=dict)
    # Seconds before a record the function failed is delivered again (None: after the visibility timeout,
    # as Lambda). With it, the visibility timeout can stay above the function's timeout, as deployed.
    retry_delay: int | None = None
    # The demo lights cloud's device cloud, which the connector function's requests go to.
    device_cloud: bool = True


def _clean_environ() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith("AWS_ENDPOINT_URL")
    }


class FunctionPool:
    """Several execution environments of one function: each call goes to one that is idle."""

    def __init__(self, instances: list[RemoteFunction]) -> None:
        self._idle = list(instances)
        self._available = threading.Condition()

    def invoke(self, event: Any) -> Any:
        with self._available:
            self._available.wait_for(lambda: bool(self._idle))
            instance = self._idle.pop()
        try:
            return instance.invoke(event)
        finally:
            with self._available:
                self._idle.append(instance)
                self._available.notify()


class TakingTurns:
    """An SQS client for the pollers of one queue to share, on which they receive and delete in turn.

    moto's queues are not safe for these calls at once, though SQS is: two deletes at once can bring one of
    the deleted messages back, and a FIFO receive decides which message groups are in flight as it starts,
    so a delete or another receive meanwhile can let it hand out a group's messages out of order.
    """

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self._turn = threading.Lock()

    def receive_message(self, **request: Any) -> Any:
        with self._turn:
            return self._sqs.receive_message(**request)

    def delete_message_batch(self, **request: Any) -> Any:
        with self._turn:
            return self._sqs.delete_message_batch(**request)

    def change_message_visibility_batch(self, **request: Any) -> Any:
        with self._turn:
            return self._sqs.change_message_visibility_batch(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


class LocalStack:
    """`start()` (or `with LocalStack(config) as stack:`) runs it; `stop()` ends every process it started."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.spec: StackSpec = read(config.template)
        self.processes: dict[str, ServerProcess] = {}
        self.functions: dict[str, RemoteFunction] = {}
        # What events go to: the function itself, or a pool of its environments (config.concurrency).
        self.invokers: dict[str, Invoker] = {}
        self.queues: dict[str, resources.LocalQueue] = {}
        self.tables: dict[str, str] = {}
        self.buckets: dict[str, str] = {}
        self.profile_prefix = ""  # where connectors' profiles are in SSM ("": profiles off)
        self.pollers: list[SqsEventSource] = []
        self.lambda_service: LambdaService | None = None
        # The functions' DynamoDB calls, handed to moto one at a time (see bridge_local.fault_proxy).
        self.dynamodb_proxy: FaultProxy | None = None
        self.api: HttpApi | None = None
        self.logs_dir = config.state_dir / "logs"
        self._stopped = False
        self._state: dict[str, Any] | None = None
        self.schedules: dict[str, dict[str, Any]] = {}
        self.fleet_models_seeded: list[str] = []
        self.profiled_connectors: list[str] = []
        self.device_cloud: FakeDeviceCloud | None = None
        # The stand-ins for what real clouds' profiles fetch and call (their keys, SmartThings' API).
        self.real_cloud_endpoints: RealCloudEndpoints | None = None
        # Real clouds' REST APIs as their documentation describes them, by connector id: the connector
        # function calls them through the profiles' `outbound` blocks.
        self.rest_clouds: dict[str, RestCloud] = {}
        # The General Authorization secrets the connector function may be named, by connector id (ARNs).
        self.authorization_secrets: dict[str, str] = {}

    # ----- lifecycle

    def __enter__(self) -> LocalStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        existing = read_state(self.config.state_dir)
        if existing is not None:
            raise StackError(
                f"a local stack is already running (pid {existing['supervisorPid']}, {existing['apiUrl']}); "
                "stop it first with `python -m bridge_local down`"
            )
        stop_running_stack(self.config.state_dir)  # what a killed supervisor may have left behind
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        overrides = dict(self.config.parameter_overrides)
        if self.config.max_receive_count is not None:
            overrides["ForwarderMaxReceiveCount"] = self.config.max_receive_count
        resolver = LocalResolver(self.spec, parameter_overrides=overrides)
        resources.bind_tables(self.spec, resolver)  # schedules may name a table before it is made
        seed = self.config.state_dir / "fleet-seed.json"
        models = self.fleet_models(resolver)
        self.fleet_models_seeded = list(models)
        fleet = demo_fleet(self.config.fleet_size, models)
        seed.write_text(json.dumps(fleet), encoding="utf-8")
        self._start_all(
            {
                "moto": lambda: start_moto_server(
                    port=self.config.moto_port or None, log_file=self.logs_dir / "moto.log"
                ),
                "iot": lambda: self._start_iot_standin(seed),
            }
        )
        self.dynamodb_proxy = serve_in_thread(self.moto_url)
        if self.config.device_cloud and self.connector_function() is not None:
            self.device_cloud = FakeDeviceCloud().start()
            self.rest_clouds = {"switchbot": SwitchBotApi().start(), "nuki": NukiWebApi().start()}
        self._create_resources(resolver)
        self._seed_detector_tables(fleet["detectors"])
        self._start_functions(resolver)
        self.schedules = {
            name: resolver.schedule_inputs(spec)
            for name, spec in self.spec.functions.items()
            if spec.schedules
        }
        self._start_event_sources()
        self.api = HttpApi(self._routes(), port=self.config.api_port).start()
        self._connect_the_connector()
        self._state = self.describe()
        write_state(self.config.state_dir, self._state)
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for poller in self.pollers:
            poller.stop()
        if self.api is not None:
            self.api.stop()
        if self.lambda_service is not None:
            self.lambda_service.stop()
        if self.dynamodb_proxy is not None:
            self.dynamodb_proxy.shutdown()
            self.dynamodb_proxy.server_close()
        if self.device_cloud is not None:
            self.device_cloud.stop()
        if self.real_cloud_endpoints is not None:
            self.real_cloud_endpoints.stop()
        for rest_cloud in self.rest_clouds.values():
            rest_cloud.stop()
        # Functions first, the services they call last.
        for name in sorted(self.processes, key=lambda n: n in {"moto", "iot"}):
            self.processes[name].stop()
        with contextlib.suppress(FileNotFoundError):
            (self.config.state_dir / STATE_FILE).unlink()
        # What ran, kept after the stop: which pids and logs belonged to the last run.
        last = self._state or {"pids": {name: p.pid for name, p in self.processes.items()}}
        with contextlib.suppress(OSError):
            (self.config.state_dir / LAST_RUN_FILE).write_text(json.dumps(last, indent=2), encoding="utf-8")

    def dead_processes(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.process.poll() is not None]

    # ----- pieces

    def _start_iot_standin(self, seed: Path) -> ServerProcess:
        port = self.config.iot_port or free_port()
        argv = [sys.executable, "-m", "iot_standin", "--port", str(port), "--seed", str(seed)]
        env = {"PYTHONPATH": os.pathsep.join([str(LOCAL_DIR), str(LAYER_DIR)]), "PYTHONUNBUFFERED": "1"}
        return start_server("iot", argv, port=port, env=env, log_file=self.logs_dir / "iot-standin.log")

    @property
    def moto_url(self) -> str:
        return self.processes["moto"].url

    @property
    def dynamodb_url(self) -> str:
        return self.dynamodb_proxy.url if self.dynamodb_proxy is not None else self.moto_url

    @property
    def iot_url(self) -> str:
        return self.processes["iot"].url

    def client(self, service: str) -> Any:
        return local_client(service, self.moto_url)

    def fleet_models(self, resolver: LocalResolver) -> dict[str, str]:
        """The demo model, plus every model (and reset input) the template's schedules reset."""
        models = {DEMO_MODEL: DEMO_RESET_INPUT}
        for spec in self.spec.functions.values():
            try:
                plans = resolver.schedule_inputs(spec).values()
            except TemplateError:
                continue  # an input naming resources not created yet; nothing to seed for it
            for plan in plans:
                model = plan.get("detectorModelName") if isinstance(plan, dict) else None
                if isinstance(model, str) and model not in models:
                    action = plan.get("action") or {}
                    models[model] = str(action.get("inputName") or f"{model}ResetInput")
        return models

    def _create_resources(self, resolver: LocalResolver) -> None:
        self.queues = resources.create_queues(
            self.client("sqs"), self.spec, resolver, visibility_timeout=self.config.visibility_timeout
        )
        self.tables = resources.create_tables(self.client("dynamodb"), self.spec, resolver)
        self.buckets = resources.create_buckets(self.client("s3"), self.spec, resolver)
        resources.create_secrets(
            self.client("secretsmanager"), self.spec, resolver, generated=DEMO_MESSAGE_GROUP_KEY
        )
        resources.bind_functions(self.spec, resolver)
        resources.create_signing_secret(
            self.client("secretsmanager"),
            prefix=self.signing_secret_prefix(resolver),
            connector_id=self.config.connector_id,
            secret=self.config.signing_secret,
        )
        profile_prefix = self.profile_prefix = self.receiver_setting("PROFILE_PARAMETER_PREFIX", resolver)
        for cloud in DEMO_CLOUDS if profile_prefix else ():
            self._seed_profiled_connector(
                resolver,
                profile_prefix,
                cloud.connector_id,
                profile=self._local_profile(cloud),
                secret=cloud.secret,
                outbound_secret=cloud.outbound_secret,
            )
        if profile_prefix:
            self._seed_real_clouds(resolver, profile_prefix)

    def _seed_real_clouds(self, resolver: LocalResolver, profile_prefix: str) -> None:
        """The real clouds' connectors: each profile as `local_profile` rewrites it (keys and hosts at the
        loopback stand-ins), and its secrets where the scheme reads one."""
        self.real_cloud_endpoints = RealCloudEndpoints(local_documents()).start()
        endpoints = LocalEndpoints(self.real_cloud_endpoints.url)
        for cloud in REAL_CLOUDS:
            self._seed_profiled_connector(
                resolver,
                profile_prefix,
                cloud.connector_id,
                profile=self._rest_profile(cloud.connector_id, cloud.local_profile(endpoints)),
                secret=cloud.secret,
                outbound_secret=cloud.outbound_secret,
            )
        switchbot = self.rest_clouds.get("switchbot")
        prefix = self.receiver_setting("AUTHORIZATION_SECRET_PREFIX", resolver)
        if isinstance(switchbot, SwitchBotApi) and prefix:
            # The customer's secret, as General Authorization names it to the connector function.
            created = self.client("secretsmanager").create_secret(
                Name=f"{prefix}switchbot/api-credentials",
                SecretString=json.dumps(switchbot_authorization(switchbot)),
            )
            self.authorization_secrets["switchbot"] = created["ARN"]

    def _rest_profile(self, connector_id: str, profile: str) -> str:
        """A real cloud's profile with its REST API at the local stand-in, when one runs."""
        rest_cloud = self.rest_clouds.get(connector_id)
        document = json.loads(profile)
        if rest_cloud is None or not isinstance(document.get("outbound"), dict):
            return profile
        document["outbound"]["baseUrl"] = rest_cloud.url
        return json.dumps(document, separators=(",", ":"))

    def _seed_profiled_connector(
        self,
        resolver: LocalResolver,
        profile_prefix: str,
        connector_id: str,
        *,
        profile: str,
        secret: str | None,
        outbound_secret: str | None,
    ) -> None:
        """One profiled connector: its profile in SSM, its signing secret (where its scheme reads one) and
        the secret the connector function signs its requests to the device cloud with (where it has one)."""
        self.profiled_connectors.append(connector_id)
        resources.create_profile(
            self.client("ssm"), prefix=profile_prefix, connector_id=connector_id, profile=profile
        )
        secrets = self.client("secretsmanager")
        outbound_prefix = self.receiver_setting("DEVICE_CLOUD_SECRET_PREFIX", resolver)
        if outbound_secret is not None and outbound_prefix:
            resources.create_signing_secret(
                secrets, prefix=outbound_prefix, connector_id=connector_id, secret=outbound_secret
            )
        if secret is not None:
            resources.create_signing_secret(
                secrets, prefix=self.signing_secret_prefix(resolver), connector_id=connector_id, secret=secret
            )

    def _local_profile(self, cloud: DemoCloud) -> str:
        """A demo cloud's profile as stored locally: its device cloud is the local one."""
        text = cloud.profile_file.read_text(encoding="utf-8")
        document = json.loads(text)
        if self.device_cloud is None or not isinstance(document.get("deviceCloud"), dict):
            return text
        document["deviceCloud"]["url"] = self.device_cloud.url
        return json.dumps(document, separators=(",", ":"))

    def _connect_the_connector(self) -> None:
        """The IoT stand-in calls the connector function as managed integrations does, through the local
        Lambda endpoint; the device cloud answers through the local webhook endpoint."""
        name = self.connector_function()
        if name is None or self.lambda_service is None or self.api is None:
            return
        StandinAdmin(self.iot_url).call_connector_function(self.lambda_service.url, name)
        if self.device_cloud is not None:
            self.device_cloud.relay_url = self.api.url
        nuki = self.rest_clouds.get("nuki")
        if isinstance(nuki, NukiWebApi):
            # Where Nuki sends its API-triggered webhooks: the relay's endpoint for the nuki connector.
            nuki.webhook_url = f"{self.api.url}/connectors/nuki/events"

    def detector_tables(self) -> list[str]:
        """The tables of the stack in the detector table's layout (keyed by detector model and key value)."""
        found = []
        for logical_id, name in self.tables.items():
            keys = [
                k.get("AttributeName") for k in self.spec.tables[logical_id].properties.get("KeySchema", [])
            ]
            if keys == [DEFAULT_NAMES.detector_model, DEFAULT_NAMES.key_value]:
                found.append(name)
        return found

    def _seed_detector_tables(self, detectors: list[dict[str, Any]]) -> None:
        """The fleet the IoT stand-in starts with, in every detector table too: one fleet, two backends."""
        dynamodb = self.client("dynamodb")
        for table in self.detector_tables():
            put_detectors(dynamodb, table, detectors)

    def signing_secret_prefix(self, resolver: LocalResolver) -> str:
        return self.receiver_setting("SIGNING_SECRET_PREFIX", resolver) or "iot-bridge/connectors/"

    def receiver_setting(self, variable: str, resolver: LocalResolver) -> str:
        """A variable of the function that has it (the webhook receiver), as the template sets it."""
        for function in self.spec.functions.values():
            if variable in function.environment:
                return str(resolver.value(function.environment[variable]) or "")
        return ""

    def function_env(self, name: str, resolver: LocalResolver) -> dict[str, str]:
        spec = self.spec.functions[name]
        endpoints = {
            "AWS_ENDPOINT_URL": self.moto_url,  # anything not listed below still stays on this machine
            "AWS_ENDPOINT_URL_SQS": self.moto_url,
            "AWS_ENDPOINT_URL_SECRETSMANAGER": self.moto_url,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.moto_url,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_url,
            "AWS_ENDPOINT_URL_SSM": self.moto_url,
            "AWS_ENDPOINT_URL_S3": self.moto_url,
            "AWS_ENDPOINT_URL_IOT_MANAGED_INTEGRATIONS": self.iot_url,
            "AWS_ENDPOINT_URL_IOTEVENTS_DATA": self.iot_url,
            "AWS_ENDPOINT_URL_IOT_EVENTS_DATA": self.iot_url,
            # moto serves IoT Core's Publish but cannot show what it received: the stand-in records it.
            "AWS_ENDPOINT_URL_IOT_DATA": self.iot_url,
            "AWS_ENDPOINT_URL_IOT_DATA_PLANE": self.iot_url,
        }
        if self.lambda_service is not None:
            endpoints["AWS_ENDPOINT_URL_LAMBDA"] = self.lambda_service.url
        code = (ROOT / spec.code_uri).resolve()
        try:
            template_env = resolver.environment(spec)
        except TemplateError as exc:
            raise StackError(f"{name}: {exc}") from None
        if "ALLOW_LOOPBACK_DEVICE_CLOUDS" in template_env:
            # The local device cloud speaks plain HTTP on loopback; deployed, device clouds speak HTTPS.
            template_env["ALLOW_LOOPBACK_DEVICE_CLOUDS"] = "true"
        return {
            **template_env,
            **local_credentials_env(),
            **endpoints,
            # What the Lambda runtime sets; AWS_SAM_LOCAL tells Powertools it runs on a local emulator.
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout_seconds),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_SAM_LOCAL": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
            # The function's code first, then the layer, as /var/task precedes /opt/python.
            "PYTHONPATH": os.pathsep.join([str(code), str(LAYER_DIR), str(LOCAL_DIR)]),
        }

    def _start_functions(self, resolver: LocalResolver) -> None:
        # Process name -> (function name, port); a function's extra environments are `<name>-2`, `<name>-3`.
        hosts = {
            name if n == 1 else f"{name}-{n}": (name, free_port())
            for name in self.spec.functions
            for n in range(1, max(1, self.config.concurrency.get(name, 1)) + 1)
        }
        remote = {
            host: RemoteFunction(
                f"http://{LOOPBACK}:{port}", name, float(self.spec.functions[name].timeout_seconds)
            )
            for host, (name, port) in hosts.items()
        }
        self.functions = {name: remote[name] for name in self.spec.functions}
        self.invokers = {
            name: FunctionPool([f for host, f in remote.items() if hosts[host][0] == name])
            if self.config.concurrency.get(name, 1) > 1
            else remote[name]
            for name in self.spec.functions
        }
        self.lambda_service = LambdaService(self.invokers).start()

        def start(host: str) -> ServerProcess:
            name, port = hosts[host]
            spec = self.spec.functions[name]
            argv = [
                sys.executable, "-m", "bridge_local.function_host",
                "--name", name, "--handler", spec.handler,
                "--timeout", str(spec.timeout_seconds), "--memory", str(spec.memory_mb),
                "--port", str(port), "--parent-pid", str(os.getpid()),
            ]  # fmt: skip
            env = {**_clean_environ(), **self.function_env(name, resolver)}
            return start_server(
                host,
                argv,
                port=port,
                env=env,
                log_file=self.logs_dir / f"{host}.log",
                inherit_env=False,
            )

        self._start_all({host: functools.partial(start, host) for host in hosts})

    def _start_all(self, starters: dict[str, Callable[[], ServerProcess]]) -> None:
        """Start servers side by side, each recorded the moment it runs, so that `stop()` always finds it."""

        def run(name: str) -> None:
            self.processes[name] = starters[name]()

        with ThreadPoolExecutor(max_workers=max(1, len(starters))) as pool:
            futures = {name: pool.submit(run, name) for name in starters}
        failures = []
        for name, future in futures.items():
            problem = future.exception()
            if problem is not None:
                failures.append(f"{name} did not start ({problem}); see {self.logs_dir}")
        if failures:
            raise StackError("; ".join(failures))

    def _start_event_sources(self) -> None:
        sqs = self.client("sqs")
        for name, spec in self.spec.functions.items():
            pollers = max(1, self.config.concurrency.get(name, 1))
            for queue_id, batch_size in spec.sqs_sources:
                queue = self.queues[queue_id]
                client = TakingTurns(sqs) if pollers > 1 else sqs
                for _ in range(pollers):
                    poller = SqsEventSource(
                        client,
                        queue_url=queue.url,
                        function=self.invokers[name],
                        batch_size=batch_size,
                        wait_seconds=self.config.poll_wait_seconds,
                        region=LOCAL_REGION,
                        retry_delay=self.config.retry_delay,
                    )
                    self.pollers.append(poller.start())

    def _routes(self) -> list[Route]:
        return [
            Route(route_key, self.invokers[name])
            for name, spec in self.spec.functions.items()
            for route_key in spec.http_routes
        ]

    # ----- what other commands need to find

    def reset_function(self) -> str | None:
        """The function a schedule invokes with a reset plan (the detector reset job's handler)."""
        return self._function_of("detector_reset.")

    def connector_function(self) -> str | None:
        """The function managed integrations invokes (the connector's handler)."""
        return self._function_of("connector.")

    def _function_of(self, handler_module: str) -> str | None:
        return next(
            (name for name, spec in self.spec.functions.items() if spec.handler.startswith(handler_module)),
            None,
        )

    def describe(self) -> dict[str, Any]:
        assert self.api is not None and self.lambda_service is not None
        dlq = self.queues.get("EventDeadLetterQueue") or next(
            (q for q in self.queues.values() if "DeadLetter" in q.logical_id), None
        )
        return {
            "supervisorPid": os.getpid(),
            "startedAt": int(time.time()),
            "apiUrl": self.api.url,
            "lambdaUrl": self.lambda_service.url,
            "motoUrl": self.moto_url,
            "dynamodbUrl": self.dynamodb_url,
            "iotUrl": self.iot_url,
            "region": LOCAL_REGION,
            "connectorId": self.config.connector_id,
            "demoSigningSecret": self.config.signing_secret,
            # Connectors of the demo device clouds, with their profiles in SSM (none when profiles are off).
            "profiledConnectors": list(self.profiled_connectors),
            "routes": [r.route_key for r in self.api.routes],
            "functions": {
                name: {"url": f.endpoint, "pid": self.processes[name].pid}
                for name, f in self.functions.items()
            },
            "pids": {name: p.pid for name, p in self.processes.items()},
            "queues": {q.logical_id: q.url for q in self.queues.values()},
            "deadLetterQueueUrl": dlq.url if dlq else None,
            "resetFunction": self.reset_function(),
            "connectorFunction": self.connector_function(),
            "deviceCloudUrl": self.device_cloud.url if self.device_cloud is not None else None,
            "restClouds": {name: cloud.url for name, cloud in self.rest_clouds.items()},
            "authorizationSecrets": dict(self.authorization_secrets),
            "realCloudEndpointsUrl": (
                self.real_cloud_endpoints.url if self.real_cloud_endpoints is not None else None
            ),
            "tables": self.tables,
            "buckets": self.buckets,
            "detectorTables": self.detector_tables(),
            "fleet": {"models": sorted(self.fleet_models_seeded), "size": self.config.fleet_size},
            "schedules": self.schedules,
            "logs": str(self.logs_dir),
        }


def write_state(state_dir: Path, state: dict[str, Any]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
    tmp.replace(path)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def read_state(state_dir: Path) -> dict[str, Any] | None:
    """The running stack's state, or None when no stack runs."""
    state = load_state(state_dir)
    if state is None or not pid_alive(int(state.get("supervisorPid") or 0)):
        return None
    return state


# What the command line of a process the stack started contains, by its name in the state file.
_MARKERS = {"moto": "moto.server", "iot": "iot_standin"}


def _is_ours(name: str, pid: int) -> bool:
    """The pid still belongs to the process the stack started: its own group leader, same program."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        leader = os.getpgid(pid) == pid
    except (OSError, ProcessLookupError):
        return False
    return leader and _MARKERS.get(name, "bridge_local.function_host") in cmdline


def stop_running_stack(state_dir: Path, timeout: float = 20.0) -> str:
    """Stop the stack recorded in `state_dir`: ask its supervisor, or end what a killed one left behind."""
    state = load_state(state_dir)
    if state is None:
        return "no local stack is running"
    supervisor = int(state.get("supervisorPid") or 0)
    if supervisor and pid_alive(supervisor):
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(supervisor):
            raise StackError(f"the local stack (pid {supervisor}) did not stop within {timeout:.0f}s")
        return f"stopped the local stack (pid {supervisor})"
    left = [(name, int(pid)) for name, pid in (state.get("pids") or {}).items() if pid_alive(int(pid))]
    stopped = []
    for name, pid in left:
        if _is_ours(name, pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            stopped.append(f"{name} (pid {pid})")
    with contextlib.suppress(FileNotFoundError):
        (state_dir / STATE_FILE).unlink()
    if stopped:
        return "the stack's supervisor had died; stopped what it left running: " + ", ".join(stopped)
    return "no local stack is running (removed a stale state file)"
