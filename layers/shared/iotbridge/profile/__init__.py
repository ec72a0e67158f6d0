"""A connector profile: how one device cloud signs its webhooks and how its own JSON becomes
SendConnectorEvent bodies. A JSON document, validated here with every problem listed by its path.

```json
{
  "version": 1,
  "verification": {"scheme": "hmac", "signatureHeader": "X-Lumen-Signature-256", "prefix": "sha256="},
  "deduplication": {"header": "X-Lumen-Delivery"},
  "events": "body.devices",
  "rules": [{"name": "state", "when": "event.type == 'state'", "operation": "DEVICE_EVENT",
             "members": {"ConnectorDeviceId": "event.deviceId"},
             "matterEndpoint": {"set": [{"attribute": "OnOff.OnOff", "from": "event.state",
                                         "transform": {"equals": "on"}}]}}]
}
```

Expressions are JMESPath, evaluated against `{"event": <one native event>, "body": <the whole body>,
"headers": <the request's headers, names lower-cased>}`. Nothing in a profile is ever executed as code.

The package, one module a part of the document, each importing only those before it:

- `expressions`: JMESPath expressions (`Expression`, `ExpressionError`), the functions a profile may call
  besides JMESPath's (`ProfileFunctions`), `precedence_warnings`, header names, template placeholders.
- `verification`: the signature schemes (`StandardWebhooksScheme`, `HmacScheme`, `TokenScheme`) and
  `Deduplication`.
- `transforms`: what a native value goes through (`NAMED_TRANSFORMS`, `EqualsTransform`, `MapTransform`, ...).
- `values`: where a member's value comes from (`FromValue`, `LiteralValue`, `TemplateValue`,
  `LookupValue`).
- `matter_targets`: the Matter attributes, commands, events and devices a rule builds.
- `rules`: `Rule` and the members it may fill (`MEMBER_NAMES`).
- `device_cloud`: where the connector function sends requests (`DeviceCloud`, `is_loopback_url`).
- `templates`: text and JSON with `{expression}` placeholders, for requests (`TextTemplate`, `JsonTemplate`).
- `outbound`: a device cloud's REST API as the connector function calls it (`Outbound`, `RequestSpec`,
  `GeneralAuthorizationScope`).
- `bodies`: how the body reads (`BodyFormat`: JSON or a form, members decoded before the rules read them).
- `handshakes`: requests answered without queuing anything (`Handshake`, its answer and confirmation).
- `document`: `ConnectorProfile`, `parse_profile`, `parse_profile_json`, `ProfileError`, the limits.

The model modules do without `from __future__ import annotations`: the receiver builds every profile model
at init, and pydantic builds a model faster from annotations that are objects than from text it must
evaluate (a self-reference is quoted; `UnitFromTransform` is rebuilt once `Transforms` exists).
"""
