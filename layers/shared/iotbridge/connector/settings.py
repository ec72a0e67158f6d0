"""The connector function's settings, read from its environment when its wiring is built."""

from __future__ import annotations

from dataclasses import dataclass

from iotbridge.profile.document import DEFAULT_PROFILE_PREFIX
from iotbridge.settings import Environment, FunctionSettings

DEFAULT_DEVICE_CLOUD_SECRET_PREFIX = "iot-bridge/device-clouds/"  # noqa: S105 - a secret name prefix
DEFAULT_AUTHORIZATION_SECRET_PREFIX = "iot-bridge/authorization/"  # noqa: S105 - a secret name prefix
MIN_GROUP_KEY_CHARS = 32


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
    # Discovery jobs (iotbridge.connector.discovery): where they wait, where those given up on go, the
    # delivery on which a job still failing is given up on (the template's DiscoveryMaxReceiveCount), and the
    # wall-clock time one job's pages may take all told. Empty URLs: no discovery queue in this deployment.
    discovery_queue_url: str = ""
    discovery_dead_letter_queue_url: str = ""
    discovery_max_receive_count: int = 5
    discovery_fetch_seconds: float = 8.0
    # One request of a discovery job (a page of a large account can take longer than an invocation's 1 s).
    discovery_page_seconds: float = 4.0
    # The relay's FIFO queue of SendConnectorEvent requests and its key for message group ids (the
    # receiver's): where the outcome of a command a REST device cloud answers at once is queued. Empty URL:
    # such commands are answered 500 (setup_no_event_queue).
    event_queue_url: str = ""
    message_group_key: bytes = b""

    @classmethod
    def read(cls, env: Environment) -> ConnectorSettings:
        event_queue_url = env.text("EVENT_QUEUE_URL")
        return cls(
            event_queue_url=event_queue_url,
            # Required with the queue: the receiver's own rule for the same key.
            message_group_key=env.key("MESSAGE_GROUP_KEY", minimum_chars=MIN_GROUP_KEY_CHARS)
            if event_queue_url
            else b"",
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
            discovery_queue_url=env.text("DISCOVERY_QUEUE_URL"),
            discovery_dead_letter_queue_url=env.text("DISCOVERY_DEAD_LETTER_QUEUE_URL"),
            discovery_max_receive_count=env.whole_number("DISCOVERY_MAX_RECEIVE_COUNT", 5, minimum=1),
            discovery_fetch_seconds=env.number("DISCOVERY_FETCH_SECONDS", 8.0, minimum=1.0, maximum=60.0),
            discovery_page_seconds=env.number("DISCOVERY_PAGE_SECONDS", 4.0, minimum=0.5, maximum=30.0),
        )
