"""The connector function's composition root: its settings, three clients (SSM, Secrets Manager, DynamoDB),
connections to device clouds kept between invocations, the adapters and the operations."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.httpsession import get_cert_path

from iotbridge.clients import client
from iotbridge.composition import FunctionWiring
from iotbridge.correlation.tables import ConnectorUserTable, CorrelationTable
from iotbridge.registry.cache import LookupBudget
from iotbridge.registry.profiles import SsmConnectorProfiles
from iotbridge.registry.secrets import SecretsManagerSigningKeys

from .adapters import SecretsManagerAuthorizations, WebhookDeviceClouds
from .domain.invocations import ConnectorOperations, Deadlines
from .outbound import OutboundExchanges
from .settings import ConnectorSettings

# Tries of each AWS call, botocore's (iotbridge.clients): the caller waits 2 s, so one retry at most.
CLIENT_ATTEMPTS = 2


@dataclass(frozen=True, slots=True)
class ConnectorWiring(FunctionWiring[ConnectorSettings]):
    settings_type = ConnectorSettings

    settings: ConnectorSettings
    operations: ConnectorOperations

    @classmethod
    def build(cls, settings: ConnectorSettings) -> ConnectorWiring:
        aws = settings.clients
        # Requests are built from checked values (an invocation's validated members, settings): botocore's
        # check of them again would cost CPU on every invocation.
        secretsmanager = client("secretsmanager", aws, attempts=CLIENT_ATTEMPTS, validate_parameters=False)
        dynamodb = client("dynamodb", aws, attempts=CLIENT_ATTEMPTS, validate_parameters=False)
        lookups = LookupBudget()
        profiles = SsmConnectorProfiles(
            client("ssm", aws, attempts=CLIENT_ATTEMPTS, validate_parameters=False),
            prefix=settings.profile_parameter_prefix,
            max_age_seconds=settings.profile_cache_seconds,
            lookups=lookups,
        )
        clouds = WebhookDeviceClouds(
            profiles,
            SecretsManagerSigningKeys(
                secretsmanager,
                prefix=settings.device_cloud_secret_prefix,
                max_age_seconds=settings.secret_cache_seconds,
                lookups=lookups,
            ),
            # Kept from one invocation to the next: a warm request to a device cloud reuses its connection.
            exchanges=OutboundExchanges(
                ca_certs=get_cert_path(True), allow_loopback=settings.allow_loopback_device_clouds
            ),
            allow_loopback=settings.allow_loopback_device_clouds,
        )
        operations = ConnectorOperations(
            device_clouds=clouds,
            requests=CorrelationTable(
                dynamodb,
                settings.correlation_table,
                retention_seconds=settings.correlation_retention_seconds,
            ),
            users=ConnectorUserTable(dynamodb, settings.user_table),
            authorizations=SecretsManagerAuthorizations(
                secretsmanager,
                prefix=settings.authorization_secret_prefix,
                max_age_seconds=settings.secret_cache_seconds,
                lookups=lookups,
            ),
            deadlines=Deadlines(settings.discovery_deadline_seconds, settings.command_deadline_seconds),
            device_cloud_seconds=settings.device_cloud_timeout_seconds,
        )
        return cls(settings=settings, operations=operations)
