"""The committed OpenAPI contract of the webhook endpoint: generated from the models, never edited by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools.contract import openapi, render

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "docs" / "openapi.json"
REGENERATE = "PYTHONPATH=layers/shared python -m tools.contract > docs/openapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi()


@pytest.fixture(scope="module")
def post(document: dict[str, Any]) -> dict[str, Any]:
    return document["paths"]["/connectors/{connectorId}/events"]["post"]


def test_committed_contract_matches_the_models() -> None:
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    assert committed == render(), f"docs/openapi.json is out of date with the models: run `{REGENERATE}`"


def test_rendering_is_stable() -> None:
    assert render() == render()
    assert json.loads(render()) == openapi()


def test_module_prints_the_contract() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.contract"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "layers" / "shared")},
        timeout=60,
    )
    assert result.stdout == render()


def test_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"]


def test_body_is_one_event_or_an_array_of_1_to_50(document: dict[str, Any], post: dict[str, Any]) -> None:
    content = post["requestBody"]["content"]
    assert list(content) == ["application/json"]
    assert post["requestBody"]["required"] is True
    body = document["components"]["schemas"]["WebhookBody"]
    one, many = body["oneOf"]
    assert one == {"$ref": "#/components/schemas/ConnectorEvent"}
    assert many == {"type": "array", "items": one, "minItems": 1, "maxItems": 50}


def test_standard_webhooks_headers_and_connector_id_are_required(post: dict[str, Any]) -> None:
    params = {(p["in"], p["name"]): p for p in post["parameters"]}
    assert set(params) == {
        ("path", "connectorId"),
        ("header", "webhook-id"),
        ("header", "webhook-timestamp"),
        ("header", "webhook-signature"),
    }
    assert all(p["required"] for p in params.values())
    assert params[("path", "connectorId")]["schema"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "pattern": "[A-Za-z0-9-_]+",
    }


def test_every_documented_response_is_there(document: dict[str, Any], post: dict[str, Any]) -> None:
    responses = post["responses"]
    assert set(responses) == {"202", "400", "401", "409", "413", "415", "422", "429", "503"}
    accepted = document["components"]["schemas"]["WebhookAccepted"]["properties"]
    assert {k: v["type"] for k, v in accepted.items()} == {
        "webhookId": "string",
        "queued": "integer",
        "skipped": "array",
        "moreSkipped": "integer",
    }
    assert document["components"]["schemas"]["WebhookAccepted"]["required"] == ["webhookId", "queued"]
    assert set(document["components"]["schemas"]["Skipped"]["required"]) == {"rule", "path", "reason"}
    assert responses["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WebhookError"
    }
    error = document["components"]["schemas"]["WebhookError"]["properties"]
    assert error["errors"]["items"] == {"$ref": "#/components/schemas/Problem"}
    assert set(document["components"]["schemas"]["Problem"]["required"]) == {"path", "rule"}
    assert responses["503"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert responses["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}


def test_operation_rules_are_stated_in_the_schema(document: dict[str, Any]) -> None:
    rules = document["components"]["schemas"]["ConnectorEvent"]["allOf"]
    stated = {r["if"]["properties"]["Operation"]["const"]: r["then"]["required"] for r in rules}
    assert stated == {
        "DEVICE_DISCOVERY": ["DeviceDiscoveryId", "Devices"],
        "DEVICE_EVENT": ["ConnectorDeviceId", "MatterEndpoint"],
        "DEVICE_COMMAND_RESPONSE": ["TraceId"],
    }


def test_every_schema_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert refs
    assert all(ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[-1] in schemas for ref in refs)


def test_no_null_defaults_or_member_titles_leak_into_the_contract() -> None:
    text = render()
    assert '"default": null' not in text
    assert '"title": "Userid"' not in text
