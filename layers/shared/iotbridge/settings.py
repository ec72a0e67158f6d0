"""The one settings object: every tunable the functions read, from environment variables, with defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import cache


class SettingsError(ValueError):
    """An environment variable holds a value the bridge cannot use."""


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True, slots=True)
class Settings:
    # Webhook receiver
    signing_secret_prefix: str
    signature_tolerance_seconds: int
    secret_cache_seconds: int
    max_body_bytes: int
    dedupe_window_seconds: int
    idempotency_table: str
    event_queue_url: str
    # Forwarder
    dead_letter_queue_url: str
    send_max_attempts: int
    # AWS client behaviour
    connect_timeout_seconds: float
    read_timeout_seconds: float
    # Detector reset
    reset_batch_size: int
    reset_workers: int
    reset_time_margin_seconds: float
    reset_max_item_attempts: int
    reset_failure_share: float
    # Forwarder (added last, with a default, so code building Settings by keyword keeps working)
    forward_workers: int = 10

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            signing_secret_prefix=_str("SIGNING_SECRET_PREFIX", "iot-bridge/connectors/"),
            signature_tolerance_seconds=_int("SIGNATURE_TOLERANCE_SECONDS", 300, minimum=1),
            secret_cache_seconds=_int("SECRET_CACHE_SECONDS", 300),
            max_body_bytes=_int("MAX_BODY_BYTES", 1024 * 1024, minimum=1),
            dedupe_window_seconds=_int("DEDUPE_WINDOW_SECONDS", 24 * 3600, minimum=1),
            idempotency_table=_str("IDEMPOTENCY_TABLE"),
            event_queue_url=_str("EVENT_QUEUE_URL"),
            dead_letter_queue_url=_str("DEAD_LETTER_QUEUE_URL"),
            send_max_attempts=_int("SEND_MAX_ATTEMPTS", 3, minimum=1),
            connect_timeout_seconds=_float("AWS_CONNECT_TIMEOUT_SECONDS", 2.0, minimum=0.1),
            read_timeout_seconds=_float("AWS_READ_TIMEOUT_SECONDS", 5.0, minimum=0.1),
            reset_batch_size=_int("RESET_BATCH_SIZE", 10, minimum=1),
            reset_workers=_int("RESET_WORKERS", 4, minimum=1),
            reset_time_margin_seconds=_float("RESET_TIME_MARGIN_SECONDS", 60.0),
            reset_max_item_attempts=_int("RESET_MAX_ITEM_ATTEMPTS", 8, minimum=1),
            reset_failure_share=_float("RESET_FAILURE_SHARE", 0.05),
            forward_workers=_int("FORWARD_WORKERS", 10, minimum=1),
        )

    def require(self, *names: str) -> None:
        """Fail with one clear message when settings a function cannot run without are empty."""
        known = {f.name for f in fields(self)}
        missing = [n.upper() for n in names if n in known and not getattr(self, n)]
        if missing:
            raise SettingsError(f"missing required environment variable(s): {', '.join(missing)}")


@cache
def settings() -> Settings:
    """Settings read once per process (a Lambda execution environment)."""
    return Settings.from_env()
