"""The connector function's settings, read from its environment when its wiring is built."""

from __future__ import annotations

from dataclasses import dataclass

from iotbridge.profile.document import DEFAULT_PROFILE_PREFIX
from iotbridge.settings import Environment, FunctionSettings

DEFAULT_DEVICE_CLOUD_SECRET_PREFIX = "iot-bridge/device-clouds/"  # noqa: S105 - a secret name prefix
DEFAULT_AUTHORIZATION_SECRET_PREFIX = "iot-bridge/authorization/"  # noqa: S105 - a secret name prefix


@dataclass(frozen=True, slots=True)
class ConnectorSettings(FunctionSettings):
    correlation_table: str
    user_table: str
    # Where connector profiles are (their `deviceCloud`); empty: no connector has one.
    profile_parameter_prefix: str = DEFAULT_PROFILE_PREFIX
    device_cloud_secret_prefix: str = DEFAULT_DEVICE_CLOUD_SECRET_PREFIX
    authorization_secret_prefix: str = DEFAULT_AUTHORIZATION_SECRET_PREFIX
    # Managed integrations waits 2 s, a cold start's init included: the answer comes within this of the
    # handler's start.
    answer_within_seconds: float = 1.5
    device_cloud_timeout_seconds: float = 1.0
    # Plain HTTP to a device cloud on this machine (the local stack); deployed, device clouds speak HTTPS.
    allow_loopback_device_clouds: bool = False
    discovery_deadline_seconds: int = 600
    command_deadline_seconds: int = 60
    # How long an entry stays after its deadline, so that an answer that comes late is still matched.
    correlation_retention_seconds: int = 7 * 24 * 3600
    profile_cache_seconds: int = 300
    secret_cache_seconds: int = 300

    @classmethod
    def read(cls, env: Environment) -> ConnectorSettings:
        return cls(
            correlation_table=env.text("CORRELATION_TABLE", required=True),
            user_table=env.text("CONNECTOR_USER_TABLE", required=True),
            profile_parameter_prefix=env.path_prefix("PROFILE_PARAMETER_PREFIX", DEFAULT_PROFILE_PREFIX),
            device_cloud_secret_prefix=env.text(
                "DEVICE_CLOUD_SECRET_PREFIX", DEFAULT_DEVICE_CLOUD_SECRET_PREFIX
            ),
            authorization_secret_prefix=env.text(
                "AUTHORIZATION_SECRET_PREFIX", DEFAULT_AUTHORIZATION_SECRET_PREFIX
            ),
            answer_within_seconds=env.number("ANSWER_WITHIN_SECONDS", 1.5, minimum=0.5, maximum=2.0),
            device_cloud_timeout_seconds=env.number(
                "DEVICE_CLOUD_TIMEOUT_SECONDS", 1.0, minimum=0.1, maximum=2.0
            ),
            allow_loopback_device_clouds=env.flag("ALLOW_LOOPBACK_DEVICE_CLOUDS", default=False),
            discovery_deadline_seconds=env.whole_number("DISCOVERY_DEADLINE_SECONDS", 600, minimum=1),
            command_deadline_seconds=env.whole_number("COMMAND_DEADLINE_SECONDS", 60, minimum=1),
            correlation_retention_seconds=env.whole_number(
                "CORRELATION_RETENTION_SECONDS", 7 * 24 * 3600, minimum=60
            ),
            profile_cache_seconds=env.whole_number("PROFILE_CACHE_SECONDS", 300),
            secret_cache_seconds=env.whole_number("SECRET_CACHE_SECONDS", 300),
        )
