"""The webhook endpoint's public contract, as an OpenAPI 3.1 document generated from the event models.

Run `python -m tools.contract > docs/openapi.json` (with the layer on PYTHONPATH) after changing a model;
a unit test fails while the committed document and the models disagree.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from iotbridge.send_connector_event.body import MAX_EVENTS_PER_BODY, MAX_LISTED_PROBLEMS
from iotbridge.send_connector_event.models import ConnectorEvent
from iotbridge.send_connector_event.operations import OPERATION_MEMBERS
from iotbridge.signatures.standard_webhooks import (
    MAX_SIGNATURE_HEADER_CHARS,
    MAX_TIMESTAMP_DIGITS,
    MAX_WEBHOOK_ID_CHARS,
)
from iotbridge.webhook_receiver.domain.mapping import MAX_NATIVE_EVENTS

CONTRACT_VERSION = "1.0.0"
_REF = "#/components/schemas/{model}"


def _tidy(node: Any) -> Any:
    """Drop what pydantic adds that says nothing to a sender (member titles, `default: null`), and state map
    keys' patterns as `propertyNames`: under `patternProperties`, keys that do not match would pass."""
    if isinstance(node, dict):
        tidied = {key: _tidy(value) for key, value in node.items()}
        by_pattern = tidied.get("patternProperties")
        if isinstance(by_pattern, dict) and len(by_pattern) == 1 and "propertyNames" in tidied:
            ((pattern, values),) = by_pattern.items()
            del tidied["patternProperties"]
            tidied["propertyNames"] = {**tidied["propertyNames"], "pattern": pattern}
            tidied["additionalProperties"] = values
        properties = tidied.get("properties")
        if isinstance(properties, dict):
            for member in properties.values():
                if isinstance(member, dict):
                    member.pop("title", None)
                    if "default" in member and member["default"] is None:
                        del member["default"]
        return tidied
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    return node


def _event_schemas() -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema([(ConnectorEvent, "validation")], ref_template=_REF)
    schemas: dict[str, Any] = _tidy(top["$defs"])
    # The per-operation rules of the model's validator, in JSON Schema terms.
    schemas["ConnectorEvent"]["allOf"] = [
        {
            "if": {"properties": {"Operation": {"const": operation}}, "required": ["Operation"]},
            "then": {"required": list(members)},
        }
        for operation, members in OPERATION_MEMBERS.items()
        if members
    ]
    return schemas


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="WebhookError")}}},
    }


def _header(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": True, "description": description, "schema": schema}


def _profile_schemes() -> str:
    """The signature schemes a connector profile may name, as the profile model admits them."""
    from iotbridge.profile.verification import SCHEME_NAMES

    return ", ".join(SCHEME_NAMES)


def openapi() -> dict[str, Any]:
    """The OpenAPI document of `POST /connectors/{connectorId}/events`."""
    schemas = _event_schemas()
    connector_id = {
        key: schemas["ConnectorEvent"]["properties"]["ConnectorId"][key]
        for key in ("type", "minLength", "maxLength", "pattern")
    }
    schemas["WebhookBody"] = {
        "description": (
            "One SendConnectorEvent request body without ConnectorId (the path gives it), "
            f"or an array of 1 to {MAX_EVENTS_PER_BODY} of them (one queued event each). Beyond what JSON "
            "Schema can state: an integer member takes a JSON integer (200, not 200.0), and a ConnectorId in "
            "the body must equal the path's."
        ),
        "oneOf": [
            {"$ref": _REF.format(model="ConnectorEvent")},
            {
                "type": "array",
                "items": {"$ref": _REF.format(model="ConnectorEvent")},
                "minItems": 1,
                "maxItems": MAX_EVENTS_PER_BODY,
            },
        ],
    }
    schemas["WebhookAccepted"] = {
        "type": "object",
        "description": (
            "A webhook-id already accepted for this connector within the dedupe window gets the same answer "
            "as the first time, and nothing is queued again."
        ),
        "required": ["webhookId", "queued"],
        "properties": {
            "webhookId": {"type": "string", "description": "The webhook-id header of the request."},
            "queued": {
                "type": "integer",
                "minimum": 0,
                "description": (
                    "Events put on the queue: 0 only for a profiled connector whose native events all "
                    "matched no rule of a profile that ignores those, or were all skipped."
                ),
            },
            "skipped": {
                "type": "array",
                "items": {"$ref": _REF.format(model="Skipped")},
                "maxItems": MAX_LISTED_PROBLEMS,
                "description": (
                    "Profiled connectors: the native events left out under `onError: skip` (or values left "
                    f"out of queued events), the first {MAX_LISTED_PROBLEMS} of them; present only then."
                ),
            },
            "moreSkipped": {
                "type": "integer",
                "minimum": 1,
                "description": "How many more were skipped beyond those listed (present only then).",
            },
        },
        "additionalProperties": False,
    }
    schemas["Skipped"] = {
        "type": "object",
        "required": ["rule", "path", "reason"],
        "properties": {
            "rule": {
                "type": ["string", "null"],
                "description": "The profile rule that mapped the event; null when no rule matched it.",
            },
            "path": {"type": "string", "description": 'Where in the native body: "events[1].state.level".'},
            "reason": {"type": "string", "description": "Why. Never quotes the value sent."},
        },
        "additionalProperties": False,
    }
    schemas["Problem"] = {
        "type": "object",
        "required": ["path", "rule"],
        "properties": {
            "path": {
                "type": "string",
                "description": 'Where: "" is the body, "[3].Devices[0].CapabilityReport" a member.',
            },
            "rule": {"type": "string", "description": "The rule broken. Never quotes the value sent."},
        },
        "additionalProperties": False,
    }
    schemas["WebhookError"] = {
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {"$ref": _REF.format(model="Problem")},
                "maxItems": MAX_LISTED_PROBLEMS,
                "description": f"The body's problems, the first {MAX_LISTED_PROBLEMS} of them.",
            },
            "moreErrors": {
                "type": "integer",
                "minimum": 1,
                "description": "How many more problems the body has beyond those listed (present only then).",
            },
        },
    }
    operation = {
        "operationId": "receiveConnectorEvents",
        "summary": "Relay signed device-cloud events to AWS IoT managed integrations SendConnectorEvent.",
        "description": (
            "Signed as Standard Webhooks: webhook-signature holds space-separated `v1,<base64 HMAC-SHA256>` "
            "of `{webhook-id}.{webhook-timestamp}.{body}` under the connector's secret. Accepted events are "
            "queued durably and sent on in order per device; a webhook-id seen before is acknowledged again "
            "without queueing twice.\n\n"
            "A connector with a profile (an SSM parameter naming its device cloud's scheme and mapping) "
            "takes that cloud's own JSON instead, any object or array, signed by the profile's scheme: "
            f"{_profile_schemes()}. The webhook-* headers above then give way to the profile's own headers "
            "(signature, timestamp, delivery id), its rules map each native event to a SendConnectorEvent "
            "body, and the result is validated like any other body before it is acknowledged: a 422 names "
            "the profile rule and the native field's path, never its value. Under the profile's `onError: "
            "skip` a native event with a problem is left out instead, and listed in the 202's `skipped`. "
            f"A profiled webhook may carry up to {MAX_NATIVE_EVENTS:,} native events, each queued as an "
            "event of its own."
        ),
        "x-connector-profile-schemes": _profile_schemes().split(", "),
        "parameters": [
            {
                "name": "connectorId",
                "in": "path",
                "required": True,
                "description": "The managed integrations connector the events are for.",
                "schema": connector_id,
            },
            _header(
                "webhook-id",
                "Unique id of the message; retries repeat it. Printable ASCII, without surrounding spaces.",
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_WEBHOOK_ID_CHARS,
                    "pattern": "^[!-~]([ -~]*[!-~])?$",
                },
            ),
            _header(
                "webhook-timestamp",
                "Unix seconds at which the message was signed; refused when further from the receiver's "
                "clock than the tolerance (5 minutes by default).",
                {"type": "string", "maxLength": MAX_TIMESTAMP_DIGITS, "pattern": "^[0-9]+$"},
            ),
            _header(
                "webhook-signature",
                "Space-separated `v1,<base64 signature>` entries (several during a secret rotation).",
                {"type": "string", "maxLength": MAX_SIGNATURE_HEADER_CHARS},
            ),
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="WebhookBody")}}},
        },
        "responses": {
            "202": {
                "description": "Accepted: the events are queued (already, for a repeated webhook-id).",
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="WebhookAccepted")}}},
            },
            "400": _error_response(
                "The body is not JSON, or its base64 encoding does not decode, or (profiled connectors) the "
                "profile's delivery id header is missing."
            ),
            "401": _error_response(
                "Unknown connector (or one whose secret is unusable), a missing or malformed signing header, "
                "a wrong signature or a timestamp out of tolerance: one answer for all."
            ),
            "409": _error_response(
                "The webhook-id was already accepted for this connector with another body: new content "
                "needs a new webhook-id (the same body again is a 202 duplicate)."
            ),
            "413": _error_response("The body is too large."),
            "415": _error_response("The content type is not application/json."),
            "422": _error_response(
                "The body breaks the SendConnectorEvent contract, or (profiled connectors) cannot be mapped "
                "to it; `errors` lists why."
            ),
            "429": {
                **_error_response(
                    "The connector's rate limit (its profile's `limits`, or the deployment's default) is "
                    "used up: retry after Retry-After. Other connectors keep their own budgets."
                ),
                "headers": {
                    "Retry-After": {
                        "description": "Seconds until the connector's next webhook is taken (at least 1).",
                        "schema": {"type": "integer", "minimum": 1},
                    }
                },
            },
            "503": {
                **_error_response("Temporarily unable to accept events: retry later."),
                "headers": {
                    "Retry-After": {
                        "description": "Seconds to wait before retrying.",
                        "schema": {"type": "integer", "minimum": 0},
                    }
                },
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "IoT cloud bridge: device-cloud webhook",
            "version": CONTRACT_VERSION,
            "description": (
                "Receives signed webhooks from third-party device clouds and relays each event to "
                "AWS IoT managed integrations SendConnectorEvent."
            ),
        },
        "paths": {"/connectors/{connectorId}/events": {"post": operation}},
        "components": {"schemas": schemas},
    }


def render() -> str:
    """The document as committed: JSON with sorted keys, two-space indents, a final newline."""
    return json.dumps(openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
