"""Connector: managed integrations' AWS.* operations (or the sweep's schedule) -> device cloud -> answer;
and the discovery queue's jobs -> device cloud's pages -> DEVICE_DISCOVERY events."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from iotbridge.budget import LambdaBudget
from iotbridge.composition import BuiltAtInit
from iotbridge.connector.edge import dispatch, internal_failure, log_outcome
from iotbridge.connector.wiring import ConnectorWiring
from iotbridge.settings import SettingsError
from iotbridge.telemetry import failure_fields, publish

logger = Logger()
metrics = Metrics()
wiring = BuiltAtInit(ConnectorWiring.from_environment)


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        connector = wiring.get()
        outcome = dispatch(
            event,
            connector.operations,
            LambdaBudget(context),
            connector.settings.answer_within_seconds,
            discovery=connector.discovery,
        )
    except SettingsError as exc:
        # Which variable to fix (a problem names a variable, never a secret's value).
        logger.error("cannot run with these settings", extra={"problems": exc.descriptions()})
        outcome = internal_failure(event)
    except Exception as exc:
        # Never an unhandled error: managed integrations reads a failure from the answer and retries.
        logger.error("unexpected failure", extra=failure_fields(exc))
        outcome = internal_failure(event)
    publish(metrics, outcome.all_measurements())
    log_outcome(logger, outcome)
    return outcome.response()
