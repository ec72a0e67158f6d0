"""The reset job's composition root, shared by the Lambda handler and the operator command line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iotbridge.budget import LambdaBudget, UnlimitedBudget
from iotbridge.clients import DeferredClient
from iotbridge.composition import FunctionWiring

from .adapters import DetectorTableService, IotCorePublisher, IotEventsDataService, LambdaSelfInvoker
from .domain.job import JobOptions, ResetJob
from .domain.plan import Backend, DynamoDbBackend, IotEventsDataBackend
from .domain.progress import Totals
from .ports import ContinuationSink, DetectorService
from .settings import ResetSettings

DEFAULT_BACKEND = IotEventsDataBackend()


@dataclass(frozen=True, slots=True)
class ResetWiring(FunctionWiring[ResetSettings]):
    settings_type = ResetSettings

    settings: ResetSettings
    # The detector service for a plan's backend.
    services: Callable[[Backend], DetectorService]
    # The continuation sink for a function ARN (a new invocation of that same function).
    continuations: Callable[[str], ContinuationSink]

    @classmethod
    def build(cls, settings: ResetSettings) -> ResetWiring:
        aws = settings.clients
        # Every worker's call at once, with the listing thread's.
        pool = max(10, settings.workers * 2)
        # Each client is made on its first call: which ones a run needs depends on its plan's backend.
        events_data = IotEventsDataService(
            DeferredClient(
                "iotevents-data", aws, attempts=IotEventsDataService.CLIENT_ATTEMPTS, pool_connections=pool
            )
        )
        dynamodb = DeferredClient(
            "dynamodb", aws, attempts=DetectorTableService.CLIENT_ATTEMPTS, pool_connections=pool
        )
        publisher = IotCorePublisher(
            DeferredClient("iot-data", aws, attempts=IotCorePublisher.CLIENT_ATTEMPTS, pool_connections=pool)
        )
        lambda_client = DeferredClient("lambda", aws)

        def service_for(backend: Backend) -> DetectorService:
            if isinstance(backend, DynamoDbBackend):
                return DetectorTableService(dynamodb, backend, publisher)
            return events_data

        return cls(
            settings=settings,
            services=service_for,
            continuations=lambda function_arn: LambdaSelfInvoker(lambda_client, function_arn),
        )

    def options(self) -> JobOptions:
        return JobOptions.from_settings(self.settings)

    def lambda_job(self, context: Any, backend: Backend = DEFAULT_BACKEND) -> ResetJob:
        """A job bounded by the invocation's remaining time, continued by invoking this same function."""
        return ResetJob(
            self.services(backend),
            options=self.options(),
            budget=LambdaBudget(context),
            continuation_sink=self.continuations(context.invoked_function_arn),
        )

    def cli_job(
        self, progress: Callable[[Totals], None] | None = None, backend: Backend = DEFAULT_BACKEND
    ) -> ResetJob:
        """A job with no deadline: it runs until done, and never hands over to a continuation."""
        return ResetJob(
            self.services(backend), options=self.options(), budget=UnlimitedBudget(), progress=progress
        )
