"""Where the code is, and the environment each function gets in Lambda (read from template.yaml)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "shared"
LOCAL = ROOT / "local"
TEMPLATE = ROOT / "template.yaml"
# Nothing listens here: clients are created against it, never called.
DUMMY_ENDPOINT = "http://127.0.0.1:9"
REGION = "us-east-1"

# The services each function's clients talk to, so every one of them is pointed at a local endpoint.
ENDPOINT_SERVICES = (
    "sqs",
    "secretsmanager",
    "dynamodb",
    "iot-managed-integrations",
    "iotevents-data",
    "iot-data",
    "ssm",
    "lambda",
)


@dataclass(frozen=True, slots=True)
class Function:
    """One Lambda function of the template: its code folder and handler module."""

    logical_id: str
    folder: str  # under functions/
    module: str  # the handler module (Handler: <module>.lambda_handler)

    @property
    def code_root(self) -> Path:
        return ROOT / "functions" / self.folder


RECEIVER = Function("WebhookReceiverFunction", "webhook_receiver", "webhook_receiver")
FORWARDER = Function("ForwarderFunction", "forwarder", "forwarder")
DETECTOR_RESET = Function("DetectorResetFunction", "detector_reset", "detector_reset")
CONNECTOR = Function("ConnectorFunction", "connector", "connector")
FUNCTIONS = (RECEIVER, FORWARDER, DETECTOR_RESET, CONNECTOR)


def python_path(code_root: Path | None, *, layer: Path = LAYER) -> str:
    """The import path Lambda gives a function (its code root, then the layer), plus the local stand-ins
    and this package."""
    parts = [str(code_root)] if code_root is not None else []
    return os.pathsep.join([*parts, str(layer), str(LOCAL), str(ROOT)])


def endpoint_variables(url: str) -> dict[str, str]:
    """AWS_ENDPOINT_URL_<CLIENT NAME> for every service the bridge uses."""
    return {f"AWS_ENDPOINT_URL_{s.upper().replace('-', '_')}": url for s in ENDPOINT_SERVICES}


def base_environment() -> dict[str, str]:
    """A minimal environment: no profile, no real credentials, no proxy, fixed region."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


def template_environment(function: Function) -> tuple[dict[str, str], int]:
    """The variables template.yaml gives the function (resource references resolved to dummies), and its
    MemorySize."""
    # Here, not at the top: every measuring child imports this module, and its peak memory is a figure.
    from bridge_local.sam_template import LocalResolver, read

    spec = read(TEMPLATE)
    found = spec.functions.get(function.logical_id)
    if found is None:
        raise LookupError(f"template.yaml has no function {function.logical_id}")
    resolver = LocalResolver(spec, region=REGION)
    for logical_id, resource in spec.resources.items():
        kind = str(resource.get("Type", ""))
        name = logical_id + (".fifo" if (resource.get("Properties") or {}).get("FifoQueue") else "")
        ref = f"{DUMMY_ENDPOINT}/000000000000/{name}" if kind == "AWS::SQS::Queue" else f"bench-{logical_id}"
        if kind == "AWS::SecretsManager::Secret":
            resolver.bind_secret(logical_id, ref, ref, f"bench-{logical_id}-generated-key-0123456789abcdef")
            continue
        resolver.bind(logical_id, ref, Arn=f"arn:aws:bench:{REGION}:000000000000:{name}", QueueName=name)
    return resolver.environment(found), found.memory_mb


def lambda_environment(function: Function, *, endpoint: str = DUMMY_ENDPOINT) -> dict[str, str]:
    """What a Lambda execution environment of the function sees: runtime variables, the template's
    variables, credentials, and every client pointed at `endpoint`."""
    variables, memory_mb = template_environment(function)
    return {
        **base_environment(),
        "AWS_LAMBDA_FUNCTION_NAME": f"bench-{function.folder}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(function.code_root),
        "_HANDLER": f"{function.module}.lambda_handler",
        # Tracing: Active in the template; the X-Ray SDK only sends over UDP, so no daemon is needed.
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        **variables,
        **endpoint_variables(endpoint),
    }


def python() -> str:
    return sys.executable
