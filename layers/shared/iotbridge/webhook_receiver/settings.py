"""The receiver's settings, read from its environment when its wiring is built."""

from __future__ import annotations

import math
from dataclasses import dataclass

from iotbridge.profile.document import DEFAULT_PROFILE_PREFIX
from iotbridge.profile.limits import MAX_BURST, MAX_RATE, ConnectorLimits
from iotbridge.profile.verification import MAX_TOLERANCE_SECONDS
from iotbridge.settings import Environment, FunctionSettings

MIN_GROUP_KEY_CHARS = 32


@dataclass(frozen=True, slots=True)
class ReceiverSettings(FunctionSettings):
    idempotency_table: str
    event_queue_url: str
    # The deployment's key for message group ids and body fingerprints (from its generated secret).
    message_group_key: bytes
    signing_secret_prefix: str = "iot-bridge/connectors/"  # noqa: S105 - a secret name prefix
    # Where connector profiles are (SSM parameter `<prefix><connector id>`); empty: no connector has one.
    profile_parameter_prefix: str = DEFAULT_PROFILE_PREFIX
    profile_cache_seconds: int = 300
    signature_tolerance_seconds: int = 300
    secret_cache_seconds: int = 300
    max_body_bytes: int = 1024 * 1024
    dedupe_window_seconds: int = 24 * 3600
    # The connector function's tables (empty: no connector function, nothing to check or mark).
    correlation_table: str = ""
    user_table: str = ""
    user_cache_seconds: int = 60
    # Plain HTTP to a loopback name for a handshake's confirmation GET: the local stack's; deployed, HTTPS.
    allow_loopback_device_clouds: bool = False
    # A connector's rate limit when its profile sets none (webhooks per second, burst); rate 0: no limit.
    default_rate_limit: float = 0.0
    default_burst_limit: int = 0
    # Where refused and skipped profiled webhooks are kept for a replay; empty: they are not kept.
    archive_bucket: str = ""

    @classmethod
    def read(cls, env: Environment) -> ReceiverSettings:
        return cls(
            idempotency_table=env.text("IDEMPOTENCY_TABLE", required=True),
            event_queue_url=env.text("EVENT_QUEUE_URL", required=True),
            message_group_key=env.key("MESSAGE_GROUP_KEY", minimum_chars=MIN_GROUP_KEY_CHARS),
            signing_secret_prefix=env.text("SIGNING_SECRET_PREFIX", "iot-bridge/connectors/"),
            signature_tolerance_seconds=env.whole_number("SIGNATURE_TOLERANCE_SECONDS", 300, minimum=1),
            secret_cache_seconds=env.whole_number("SECRET_CACHE_SECONDS", 300),
            profile_parameter_prefix=env.path_prefix("PROFILE_PARAMETER_PREFIX", DEFAULT_PROFILE_PREFIX),
            profile_cache_seconds=env.whole_number("PROFILE_CACHE_SECONDS", 300),
            max_body_bytes=env.whole_number("MAX_BODY_BYTES", 1024 * 1024, minimum=1),
            dedupe_window_seconds=env.whole_number("DEDUPE_WINDOW_SECONDS", 24 * 3600, minimum=1),
            correlation_table=env.text("CORRELATION_TABLE"),
            user_table=env.text("CONNECTOR_USER_TABLE"),
            user_cache_seconds=env.whole_number("USER_STATUS_CACHE_SECONDS", 60),
            allow_loopback_device_clouds=env.flag("ALLOW_LOOPBACK_DEVICE_CLOUDS", default=False),
            default_rate_limit=env.number("DEFAULT_RATE_LIMIT", 0.0, maximum=MAX_RATE),
            default_burst_limit=env.whole_number("DEFAULT_BURST_LIMIT", 0, maximum=MAX_BURST),
            archive_bucket=env.text("ARCHIVE_BUCKET"),
        )

    @property
    def default_limits(self) -> ConnectorLimits | None:
        """The limit of connectors whose profile sets none; None (rate 0): they have no limit."""
        if self.default_rate_limit <= 0:
            return None
        # A burst of 0 (unset): one second's worth, at least one webhook.
        burst = self.default_burst_limit or max(1, math.ceil(self.default_rate_limit))
        return ConnectorLimits(rate=self.default_rate_limit, burst=burst)

    @property
    def effective_dedupe_window_seconds(self) -> int:
        # Never shorter than a signature tolerance (the relay's, or the longest a profile may set): a replay
        # the signature check still lets in must still find its record.
        tolerances = [self.signature_tolerance_seconds]
        if self.profile_parameter_prefix:
            tolerances.append(MAX_TOLERANCE_SECONDS)
        return max(self.dedupe_window_seconds, *tolerances)
