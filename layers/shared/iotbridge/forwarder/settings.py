"""The forwarder's settings, read from its environment when its wiring is built."""

from __future__ import annotations

from dataclasses import dataclass

from iotbridge.settings import Environment, FunctionSettings


@dataclass(frozen=True, slots=True)
class ForwarderSettings(FunctionSettings):
    dead_letter_queue_url: str
    send_max_attempts: int = 3
    # The event queue's maxReceiveCount: on that delivery a record that still fails is dead-lettered here.
    max_receive_count: int | None = None
    # Message groups of one batch forwarded side by side (order is kept within a group).
    forward_workers: int = 10

    @classmethod
    def read(cls, env: Environment) -> ForwarderSettings:
        return cls(
            dead_letter_queue_url=env.text("DEAD_LETTER_QUEUE_URL", required=True),
            send_max_attempts=env.whole_number("SEND_MAX_ATTEMPTS", 3, minimum=1),
            max_receive_count=env.whole_number("MAX_RECEIVE_COUNT", 0, minimum=0) or None,
            forward_workers=env.whole_number("FORWARD_WORKERS", 10, minimum=1),
        )
