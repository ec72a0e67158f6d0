"""The connector function's composition root: its settings, its clients (SSM, Secrets Manager, DynamoDB, and
SQS when it has queues), connections to device clouds kept between invocations, the adapters and the
operations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.httpsession import get_cert_path

from iotbridge.clients import client
from iotbridge.composition import FunctionWiring
from iotbridge.correlation.tables import ConnectorUserTable, CorrelationTable
from iotbridge.registry.cache import LookupBudget
from iotbridge.registry.profiles import SsmConnectorProfiles
from iotbridge.registry.secrets import SecretsManagerSigningKeys
from iotbridge.send_connector_event.queue import SqsFifoEventQueue
from iotbridge.signatures.standard_webhooks import SignatureError

from .adapters import SecretsManagerAuthorizations, WebhookDeviceClouds
from .domain.invocations import ConnectorOperations, Deadlines
from .outbound import OutboundExchanges
from .ports import ConnectorSetupError, DiscoveryJobs, EventQueue
from .settings import ConnectorSettings

if TYPE_CHECKING:
    from iotbridge.profile.outbound import GeneralAuthorizationScope

    from .discovery import DiscoveryWorker

# Tries of each AWS call, botocore's (iotbridge.clients): the caller waits 2 s, so one retry at most.
CLIENT_ATTEMPTS = 2


@dataclass(frozen=True, slots=True)
class ConnectorWiring(FunctionWiring[ConnectorSettings]):
    settings_type = ConnectorSettings

    settings: ConnectorSettings
    operations: ConnectorOperations
    # The worker of the discovery queue's jobs (None: this deployment has no discovery queue).
    discovery: DiscoveryWorker | None = None

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
            jobs=_discovery_jobs(settings),
            queues_answers=bool(settings.event_queue_url),
        )
        events = (
            SqsFifoEventQueue(
                client("sqs", aws, attempts=SqsFifoEventQueue.CLIENT_ATTEMPTS, validate_parameters=False),
                settings.event_queue_url,
                group_key=settings.message_group_key,
            )
            if settings.event_queue_url
            else None
        )
        requests = CorrelationTable(
            dynamodb,
            settings.correlation_table,
            retention_seconds=settings.correlation_retention_seconds,
        )
        authorizations = SecretsManagerAuthorizations(
            secretsmanager,
            # The connector's profile says which secrets it may name, when it says.
            scopes=lambda connector_id: _authorization_scope(profiles, connector_id),
            prefix=settings.authorization_secret_prefix,
            max_age_seconds=settings.secret_cache_seconds,
            lookups=lookups,
        )
        operations = ConnectorOperations(
            device_clouds=clouds,
            requests=requests,
            users=ConnectorUserTable(dynamodb, settings.user_table),
            authorizations=authorizations,
            deadlines=Deadlines(settings.discovery_deadline_seconds, settings.command_deadline_seconds),
            device_cloud_seconds=settings.device_cloud_timeout_seconds,
            events=events,
        )
        discovery = (
            _discovery_worker(settings, profiles, authorizations, requests, events)
            if settings.discovery_queue_url and events is not None
            else None
        )
        return cls(settings=settings, operations=operations, discovery=discovery)


def _discovery_jobs(settings: ConnectorSettings) -> DiscoveryJobs | None:
    """The discovery queue a REST device cloud's discoveries go to (None: none in this deployment)."""
    if not settings.discovery_queue_url:
        return None
    from .discovery import SqsDiscoveryJobs

    sqs = client("sqs", settings.clients, attempts=CLIENT_ATTEMPTS, validate_parameters=False)
    return SqsDiscoveryJobs(sqs, settings.discovery_queue_url)


def _discovery_worker(
    settings: ConnectorSettings,
    profiles: SsmConnectorProfiles,
    authorizations: SecretsManagerAuthorizations,
    requests: CorrelationTable,
    events: EventQueue,
) -> DiscoveryWorker:
    """The discovery queue's worker: the operations' profiles, authorization secrets and correlation table,
    the relay's event queue, and connections of its own to device clouds (pages are larger than answers)."""
    from .discovery import MAX_PAGE_BYTES, DiscoveryWorker, SqsDiscoveryDeadLetters
    from .rest import RestCalls, template_context

    sqs = client("sqs", settings.clients, attempts=CLIENT_ATTEMPTS, validate_parameters=False)
    exchanges = OutboundExchanges(
        ca_certs=get_cert_path(True),
        allow_loopback=settings.allow_loopback_device_clouds,
        max_answer_bytes=MAX_PAGE_BYTES,
    )
    return DiscoveryWorker(
        profiles=profiles,
        authorizations=authorizations,
        calls_for=lambda outbound: RestCalls(
            outbound, exchanges, allow_loopback=settings.allow_loopback_device_clouds
        ),
        template_context=template_context,
        events=events,
        records=requests,
        dead_letters=SqsDiscoveryDeadLetters(sqs, settings.discovery_dead_letter_queue_url),
        max_receive_count=settings.discovery_max_receive_count,
        fetch_seconds=settings.discovery_fetch_seconds,
        device_cloud_seconds=settings.discovery_page_seconds,
    )


def _authorization_scope(
    profiles: SsmConnectorProfiles, connector_id: str
) -> GeneralAuthorizationScope | None:
    try:
        profile = profiles.profile_for(connector_id)
    except SignatureError:
        # An unusable profile: the operation has already been answered 500 before any secret is named.
        raise ConnectorSetupError("unusable_profile") from None
    return profile.general_authorization if profile is not None else None
