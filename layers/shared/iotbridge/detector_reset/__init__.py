"""Scheduled detector resets: detectors kept in a DynamoDB detector table by detector models migrated off
AWS IoT Events (which can no longer be used since 2026-05-20), or behind an IoT Events Data API endpoint.

Parts, the same for every function: `events`, `domain` (plan, job, progress), `ports`, `adapters`,
`settings`, `wiring`. The operator command line (`python -m iotbridge reset`) runs the same wiring.
"""
