"""The bridge's shared layer.

- The kernel, at the root: `errors` (the one error vocabulary), `settings` (the environment), `clients`
  (the one AWS client factory and retry rule), `budget`, `telemetry`, `composition`, `wire`.
- The shared domain, one package per concept: `send_connector_event`, `profile`, `matter`, `signatures`,
  `registry` (each connector's profile and secrets) and `correlation`.
- One package per function, each with the same six parts (`edge`, `domain`, `ports`, `adapters`, `settings`,
  `wiring`): `webhook_receiver`, `forwarder`, `connector` and `detector_reset`.
"""
