"""What each sample's answer must be, beyond being the local stack's answer: the caller-visible outcome.

Kept apart from the run so that it reads as a table: the HTTP status of each webhook sample, the response
code of each connector sample, and whether a reset plan is refused.
"""

from __future__ import annotations

# The receiver's HTTP status for each webhook sample.
WEBHOOK_STATUS = {
    "webhook-device-discovery.json": 202,
    "webhook-device-event.json": 202,
    "webhook-command-response.json": 202,
    "webhook-command-request.json": 202,
    "webhook-invalid-body.json": 422,
    "webhook-wrong-signature.json": 401,
    "webhook-lumen-home-state.json": 202,
    "webhook-lumen-home-discovery.json": 202,
    "webhook-lumen-home-command-result.json": 202,
    "webhook-lumen-home-out-of-range.json": 422,
    "webhook-aerie-sensors-readings.json": 202,
    "webhook-aerie-sensors-discovery.json": 202,
    "webhook-aerie-sensors-unknown-sensor.json": 422,
    # Real clouds, signed again just before (their Date and their token's exp are checked).
    "webhook-smartthings-device-event.json": 202,
    "webhook-google-nest-trait-event.json": 202,
    # Real clouds that sign no timestamp (or nothing at all): good whenever they are sent.
    "webhook-nuki-device-status.json": 202,
    "webhook-switchbot-meter.json": 202,
    "webhook-enode-batch.json": 202,
}
# The connector's header.responseCode for each connector sample.
CONNECTOR_RESPONSE_CODE = {
    "connector-activate-user-oauth.json": 200,
    # The sample names a secret version of the account it was written for, which no local secret has.
    "connector-activate-user-general-authorization.json": 401,
    "connector-discover-devices.json": 200,
    "connector-send-command.json": 200,
    "connector-unknown-operation.json": 400,
    "connector-deactivate-user.json": 200,
}
# The connector's discovery-job samples (SQS events of its discovery queue), each answered with no batch item
# failure: the lights cloud answers through webhooks, so its job is dead-lettered with its reason, once.
CONNECTOR_JOBS = frozenset({"connector-discovery-job.json"})
# What the fake device cloud must have been asked for each connector sample (its request type).
CLOUD_REQUEST = {
    "connector-activate-user-oauth.json": "activateUser",
    "connector-discover-devices.json": "discoverDevices",
    "connector-send-command.json": "sendCommand",
    "connector-deactivate-user.json": "deactivateUser",
}
# Reset plans the job refuses (an error in its report, nothing touched).
RESET_REFUSED = frozenset({"reset-invalid-plan.json"})
