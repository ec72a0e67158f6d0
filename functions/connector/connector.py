"""Connector: managed integrations' AWS.* operations (or the sweep's schedule) -> device cloud -> answer."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from iotbridge.budget import LambdaBudget
from iotbridge.composition import BuiltAtInit
from iotbridge.connector.edge import INTERNAL_FAILURE, answer, log_outcome
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
        outcome = answer(
            event, connector.operations, LambdaBudget(context), connector.settings.answer_within_seconds
        )
    except SettingsError as exc:
        # Which variable to fix (a problem names a variable, never a secret's value).
        logger.error("cannot run with these settings", extra={"problems": exc.descriptions()})
        outcome = INTERNAL_FAILURE
    except Exception as exc:
        # Never an unhandled error: managed integrations reads a failure from the answer and retries.
        logger.error("unexpected failure", extra=failure_fields(exc))
        outcome = INTERNAL_FAILURE
    publish(metrics, outcome.all_measurements())
    log_outcome(logger, outcome)
    return outcome.response()
