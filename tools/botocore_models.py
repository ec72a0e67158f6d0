"""The part of botocore's own data the functions load, shipped in the layer's `botocore_models/` folder.

Making a client, botocore lists every service folder on its loader's search path (several hundred in its
own data) and parses the service's whole model, its endpoint rule set and the endpoints file of every
service AWS has. The functions call the few operations below, so the functions' session (see
`iotbridge.clients`) searches only the project's own models and this folder, which holds, from the
installed botocore: each service's model cut down to those operations and the shapes they reach, its
endpoint rule set and extras unchanged, the endpoints file with only these services' entries, and the
few files every client reads. Nothing in it is written by hand.

A function that starts calling another operation must list it here and rewrite the folder:
`make botocore-models` (`python -m tools.botocore_models`). tests/unit/tools/test_botocore_models.py
checks the folder against the installed botocore, so a boto3 upgrade that changes these models fails the
tests until the folder is rewritten.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).resolve().parents[1] / "layers" / "shared" / "iotbridge" / "botocore_models"

# Service (client name) -> the operations the functions call, and who calls them.
OPERATIONS: Mapping[str, tuple[str, ...]] = {
    "secretsmanager": ("GetSecretValue",),  # receiver: signing keys
    # receiver: dedupe records; reset job: the detector table (Query, GetItem, UpdateItem)
    "dynamodb": ("PutItem", "UpdateItem", "GetItem", "DeleteItem", "Query"),
    "ssm": ("GetParameter",),  # receiver: connector profiles
    "iot-data": ("Publish",),  # reset job: message resets on AWS IoT Core
    "sqs": ("SendMessageBatch", "SendMessage"),  # receiver: queueing; forwarder: dead letters
    "iot-managed-integrations": ("SendConnectorEvent",),  # forwarder
    "lambda": ("Invoke",),  # reset job: continuations
    "s3": ("PutObject",),  # receiver: refused and skipped webhooks kept for a replay
}
# Read by every client whatever its service, copied unchanged.
SHARED_FILES = ("_retry.json", "partitions.json", "sdk-default-configuration.json")
ENDPOINTS_FILE = "endpoints.json"
MODEL_FILE = "service-2.json"
COPIED_FILES = ("endpoint-rule-set-1.json", "service-2.sdk-extras.json")


def reachable_shapes(model: Mapping[str, Any], operations: Iterable[str]) -> set[str]:
    """Every shape the operations' inputs, outputs and errors refer to, directly or through others."""
    shapes = model["shapes"]
    pending: list[str] = []
    for name in operations:
        operation = model["operations"][name]
        pending += [operation[part]["shape"] for part in ("input", "output") if part in operation]
        pending += [error["shape"] for error in operation.get("errors", [])]
    found: set[str] = set()
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        shape = shapes[name]
        pending += [shape[part]["shape"] for part in ("member", "key", "value") if part in shape]
        pending += [member["shape"] for member in shape.get("members", {}).values()]
    return found


def model_slice(model: Mapping[str, Any], operations: Iterable[str]) -> dict[str, Any]:
    """The model with only `operations` and the shapes they reach; everything else as it is."""
    wanted = list(operations)
    keep = reachable_shapes(model, wanted)
    return {
        **model,
        "operations": {name: model["operations"][name] for name in wanted},
        "shapes": {name: shape for name, shape in model["shapes"].items() if name in keep},
    }


def endpoints_slice(endpoints: Mapping[str, Any], prefixes: Iterable[str]) -> dict[str, Any]:
    """The endpoints file with, in every partition, only the services of these endpoint prefixes."""
    wanted = set(prefixes)
    partitions = [
        {**partition, "services": {k: v for k, v in partition["services"].items() if k in wanted}}
        for partition in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def botocore_data(service: str) -> Path:
    """The folder of the installed botocore's newest model of `service`."""
    import botocore

    versions = sorted((Path(botocore.__file__).parent / "data" / service).iterdir())
    return versions[-1]


def read_json(path: Path) -> Any:
    """A botocore data file, whether it is stored plain or gzipped."""
    import gzip

    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return json.loads(gzip.decompress(path.with_name(path.name + ".gz").read_bytes()))


def expected_files() -> dict[str, Any]:
    """Path in the folder -> content, from the installed botocore."""
    import botocore

    data = Path(botocore.__file__).parent / "data"
    files: dict[str, Any] = {name: read_json(data / name) for name in SHARED_FILES}
    prefixes = []
    for service, operations in OPERATIONS.items():
        source = botocore_data(service)
        folder = f"{service}/{source.name}"
        model = read_json(source / MODEL_FILE)
        prefixes.append(model["metadata"]["endpointPrefix"])
        files[f"{folder}/{MODEL_FILE}"] = model_slice(model, operations)
        for name in COPIED_FILES:
            if (source / name).exists() or (source / (name + ".gz")).exists():
                files[f"{folder}/{name}"] = read_json(source / name)
    files[ENDPOINTS_FILE] = endpoints_slice(read_json(data / ENDPOINTS_FILE), prefixes)
    return files


def write(folder: Path = FOLDER) -> list[Path]:
    """Write the folder afresh from the installed botocore."""
    if folder.exists():
        shutil.rmtree(folder)
    written = []
    for name, content in expected_files().items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER):
        print(path)
