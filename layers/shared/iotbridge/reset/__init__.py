"""Scheduled detector resets over the AWS IoT Events Data API.

Parts, the same for every function: `events`, `domain` (plan, job, progress), `ports`, `adapters`,
`settings`, `wiring`. The operator command line (`python -m iotbridge reset`) runs the same wiring.
"""
