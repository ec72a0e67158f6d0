"""The forwarder's composition root: its settings, two clients, two adapters and the Forwarder."""

from __future__ import annotations

from dataclasses import dataclass

from iotbridge.clients import client
from iotbridge.composition import FunctionWiring

from .adapters import ManagedIntegrationsConnectorEvents, SqsDeadLetterQueue
from .domain.forwarding import Forwarder
from .settings import ForwarderSettings


@dataclass(frozen=True, slots=True)
class ForwarderWiring(FunctionWiring[ForwarderSettings]):
    settings_type = ForwarderSettings

    forwarder: Forwarder

    @classmethod
    def build(cls, settings: ForwarderSettings) -> ForwarderWiring:
        aws = settings.clients
        # The groups of a batch call SendConnectorEvent from as many threads at once.
        events = client(
            "iot-managed-integrations",
            aws,
            attempts=ManagedIntegrationsConnectorEvents.CLIENT_ATTEMPTS,
            pool_connections=max(10, settings.forward_workers),
        )
        dead_letters = client("sqs", aws, attempts=SqsDeadLetterQueue.CLIENT_ATTEMPTS)
        forwarder = Forwarder(
            ManagedIntegrationsConnectorEvents(events),
            SqsDeadLetterQueue(dead_letters, settings.dead_letter_queue_url),
            workers=settings.forward_workers,
            max_attempts=settings.send_max_attempts,
            call_seconds=aws.one_try_seconds,
            max_receives=settings.max_receive_count,
        )
        return cls(forwarder=forwarder)
