"""The receiver's composition root: its settings, its clients (three, and SSM's when connectors may have
profiles), its adapters (the connector function's tables among them, when it has them) and the intake."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.httpsession import get_cert_path

from iotbridge.clients import client
from iotbridge.composition import FunctionWiring
from iotbridge.correlation.tables import ConnectorUserTable, CorrelationTable
from iotbridge.registry.cache import LookupBudget
from iotbridge.registry.profiles import SsmConnectorProfiles
from iotbridge.registry.public_keys import HttpsPublicKeys
from iotbridge.registry.secrets import SecretsManagerSigningKeys

from .adapters import IdempotencyTableDeduplicator, S3WebhookArchive, SqsFifoEventQueue
from .confirmations import UrllibConfirmations
from .domain.intake import IntakeLimits, WebhookIntake
from .domain.limits import ConnectorLimiter
from .rate_buckets import DynamoDbRateBuckets
from .settings import ReceiverSettings


@dataclass(frozen=True, slots=True)
class ReceiverWiring(FunctionWiring[ReceiverSettings]):
    settings_type = ReceiverSettings

    intake: WebhookIntake

    @classmethod
    def build(cls, settings: ReceiverSettings) -> ReceiverWiring:
        aws = settings.clients
        group_key = settings.message_group_key
        # One budget for lookups of what is not cached, so made-up connector ids cost bounded calls in all.
        lookups = LookupBudget()
        # Every request these clients send is built by the adapters from checked values (settings, a
        # verified and validated webhook, a connector id): botocore's check of it again would cost CPU on
        # every webhook.
        profiles = (
            SsmConnectorProfiles(
                client("ssm", aws, validate_parameters=False),
                prefix=settings.profile_parameter_prefix,
                max_age_seconds=settings.profile_cache_seconds,
                lookups=lookups,
            )
            if settings.profile_parameter_prefix
            else None
        )
        dynamodb = client("dynamodb", aws, validate_parameters=False)
        # The connector function's records: requests answered are marked there, and lookups read there.
        correlation = (
            CorrelationTable(dynamodb, settings.correlation_table, retention_seconds=0)
            if settings.correlation_table
            else None
        )
        intake = WebhookIntake(
            keys=SecretsManagerSigningKeys(
                client("secretsmanager", aws, validate_parameters=False),
                prefix=settings.signing_secret_prefix,
                max_age_seconds=settings.secret_cache_seconds,
                lookups=lookups,
            ),
            profiles=profiles,
            queue=SqsFifoEventQueue(
                client("sqs", aws, attempts=SqsFifoEventQueue.CLIENT_ATTEMPTS, validate_parameters=False),
                settings.event_queue_url,
                group_key=group_key,
            ),
            deduplicator=IdempotencyTableDeduplicator(
                dynamodb,
                settings.idempotency_table,
                window_seconds=settings.effective_dedupe_window_seconds,
                fingerprint_key=group_key,
            ),
            limits=IntakeLimits(
                max_body_bytes=settings.max_body_bytes, tolerance_seconds=settings.signature_tolerance_seconds
            ),
            users=ConnectorUserTable(
                dynamodb, settings.user_table, max_age_seconds=settings.user_cache_seconds
            )
            if settings.user_table
            else None,
            correlation=correlation,
            lookups=correlation,
            # A handshake's confirmation GET (only profiles that say `confirm` make one).
            confirmations=UrllibConfirmations(allow_loopback=settings.allow_loopback_device_clouds)
            if settings.profile_parameter_prefix
            else None,
            # The senders' public keys, fetched from the URLs profiles name (http-signature's keyUrl, jwt).
            public_keys=HttpsPublicKeys(
                allow_loopback=settings.allow_loopback_device_clouds, ca_certs=get_cert_path(True)
            )
            if settings.profile_parameter_prefix
            else None,
            # Refused and skipped profiled webhooks, kept for a replay (only profiled connectors have them).
            archive=S3WebhookArchive(
                lambda: client("s3", aws, validate_parameters=False), settings.archive_bucket
            )
            if settings.archive_bucket and settings.profile_parameter_prefix
            else None,
            # Per-connector rate limits: buckets in the idempotency table, leased a few tokens at a time.
            limiter=ConnectorLimiter(
                DynamoDbRateBuckets(dynamodb, settings.idempotency_table), default=settings.default_limits
            ),
        )
        return cls(intake=intake)
