"""The reset job's composition root, shared by the Lambda handler and the operator command line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iotbridge.budget import LambdaBudget, UnlimitedBudget
from iotbridge.clients import DeferredClient, client

from .adapters import IotEventsDataService, LambdaSelfInvoker
from .domain.job import JobOptions, ResetJob
from .domain.progress import Totals
from .ports import ContinuationSink, DetectorService
from .settings import ResetSettings


@dataclass(frozen=True, slots=True)
class ResetWiring:
    settings: ResetSettings
    service: DetectorService
    # The continuation sink for a function ARN (a new invocation of that same function).
    continuations: Callable[[str], ContinuationSink]

    @classmethod
    def from_environment(cls) -> ResetWiring:
        return cls.build(ResetSettings.from_environment())

    @classmethod
    def build(cls, settings: ResetSettings) -> ResetWiring:
        aws = settings.clients
        events_data = client(
            "iotevents-data",
            aws,
            attempts=IotEventsDataService.CLIENT_ATTEMPTS,
            # Every worker's call at once, with the listing thread's.
            pool_connections=max(10, settings.workers * 2),
        )
        # Made on the first continuation: most runs end within one invocation.
        lambda_client = DeferredClient("lambda", aws)
        return cls(
            settings=settings,
            service=IotEventsDataService(events_data),
            continuations=lambda function_arn: LambdaSelfInvoker(lambda_client, function_arn),
        )

    def options(self) -> JobOptions:
        return JobOptions.from_settings(self.settings)

    def lambda_job(self, context: Any) -> ResetJob:
        """A job bounded by the invocation's remaining time, continued by invoking this same function."""
        return ResetJob(
            self.service,
            options=self.options(),
            budget=LambdaBudget(context),
            continuation_sink=self.continuations(context.invoked_function_arn),
        )

    def cli_job(self, progress: Callable[[Totals], None] | None = None) -> ResetJob:
        """A job with no deadline: it runs until done, and never hands over to a continuation."""
        return ResetJob(self.service, options=self.options(), budget=UnlimitedBudget(), progress=progress)
