"""The IoT Events Data model the project ships says on the wire what AWS's last published model said.

botocore stopped shipping `iotevents-data` after 1.43.37; that release's wheel is the reference. Set-up
downloads it once into pytest's cache folder (gitignored) and reuses it afterwards.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from iotbridge.clients import SERVICE_MODELS_DIR

pytestmark = pytest.mark.integration

REFERENCE_BOTOCORE = "1.43.37"
MODEL_DIR = "iotevents-data/2018-10-23"
OPERATIONS = ("BatchPutMessage", "BatchUpdateDetector", "DescribeDetector", "ListDetectors")
# What a shape says about the wire; documentation and shape names do not travel.
SHAPE_FACTS = (
    "type",
    "min",
    "max",
    "pattern",
    "enum",
    "required",
    "error",
    "exception",
    "fault",
    "sensitive",
)
MEMBER_FACTS = ("location", "locationName", "idempotencyToken", "jsonvalue", "timestampFormat")


@pytest.fixture(scope="module")
def reference_model(request: pytest.FixtureRequest) -> dict[str, Any]:
    cache = Path(request.config.cache.mkdir("botocore-reference"))
    wheels = sorted(cache.glob(f"botocore-{REFERENCE_BOTOCORE}-*.whl"))
    if not wheels:
        download = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                f"botocore=={REFERENCE_BOTOCORE}",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "--quiet",
                "-d",
                str(cache),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        wheels = sorted(cache.glob(f"botocore-{REFERENCE_BOTOCORE}-*.whl"))
        if download.returncode != 0 or not wheels:
            reason = (download.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"package registry unreachable, cannot fetch botocore {REFERENCE_BOTOCORE}: {reason}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        names = set(wheel.namelist())
        base = f"botocore/data/{MODEL_DIR}/service-2.json"
        if base + ".gz" in names:
            return json.loads(gzip.decompress(wheel.read(base + ".gz")))
        return json.loads(wheel.read(base))


@pytest.fixture(scope="module")
def shipped_model() -> dict[str, Any]:
    return json.loads((SERVICE_MODELS_DIR / MODEL_DIR / "service-2.json").read_text())


def wire_view(model: dict[str, Any], shape_name: str, seen: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Everything about a shape that reaches the wire, with every reachable shape expanded."""
    shape = model["shapes"][shape_name]
    view: dict[str, Any] = {fact: shape[fact] for fact in SHAPE_FACTS if fact in shape}
    if shape_name in seen:
        return {"recursive": shape_name}
    inner = seen | {shape_name}
    if "members" in shape:
        view["members"] = {
            name: {
                **{fact: member[fact] for fact in MEMBER_FACTS if fact in member},
                "shape": wire_view(model, member["shape"], inner),
            }
            for name, member in shape["members"].items()
        }
    for ref in ("member", "key", "value"):
        if ref in shape:
            view[ref] = wire_view(model, shape[ref]["shape"], inner)
    return view


def operation_view(model: dict[str, Any], name: str) -> dict[str, Any]:
    operation = model["operations"][name]
    http = operation["http"]
    return {
        "method": http["method"],
        "requestUri": http["requestUri"],
        "responseCode": http.get("responseCode", 200),
        "idempotent": operation.get("idempotent", False),
        "input": wire_view(model, operation["input"]["shape"]) if "input" in operation else None,
        "output": wire_view(model, operation["output"]["shape"]) if "output" in operation else None,
        "errors": {error["shape"]: wire_view(model, error["shape"]) for error in operation.get("errors", [])},
    }


def test_metadata_matches(reference_model: dict[str, Any], shipped_model: dict[str, Any]) -> None:
    for key in (
        "apiVersion",
        "endpointPrefix",
        "protocol",
        "signatureVersion",
        "signingName",
        "serviceId",
        "uid",
    ):
        assert shipped_model["metadata"].get(key) == reference_model["metadata"].get(key), key


@pytest.mark.parametrize("operation", OPERATIONS)
def test_operation_matches_the_last_published_model(
    reference_model: dict[str, Any], shipped_model: dict[str, Any], operation: str
) -> None:
    assert operation_view(shipped_model, operation) == operation_view(reference_model, operation)


def test_the_differ_notices_a_changed_constraint(reference_model: dict[str, Any]) -> None:
    altered = json.loads(json.dumps(reference_model))
    altered["shapes"]["MaxResults"]["max"] = 100

    assert operation_view(altered, "ListDetectors") != operation_view(reference_model, "ListDetectors")
