"""The reset job's settings, read from its environment when its wiring is built."""

from __future__ import annotations

from dataclasses import dataclass

from iotbridge.settings import Environment, FunctionSettings


@dataclass(frozen=True, slots=True)
class ResetSettings(FunctionSettings):
    batch_size: int = 10
    workers: int = 4
    time_margin_seconds: float = 60.0
    max_item_attempts: int = 8
    failure_share: float = 0.05

    @classmethod
    def read(cls, env: Environment) -> ResetSettings:
        return cls(
            batch_size=env.whole_number("RESET_BATCH_SIZE", 10, minimum=1),
            workers=env.whole_number("RESET_WORKERS", 4, minimum=1),
            time_margin_seconds=env.number("RESET_TIME_MARGIN_SECONDS", 60.0),
            max_item_attempts=env.whole_number("RESET_MAX_ITEM_ATTEMPTS", 8, minimum=1),
            failure_share=env.number("RESET_FAILURE_SHARE", 0.05),
        )
