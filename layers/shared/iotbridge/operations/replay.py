"""`python -m iotbridge replay`: run a connector's refused and skipped webhooks, as the receiver kept them,
through the connector's current profile, and queue what now maps.

Each kept webhook goes through the receiver's own intake (`WebhookIntake.replay`): the profile read from SSM
as the receiver reads it, the same mapping and contract check, the same hand-off (deduplicated in the
idempotency table under the id the webhook was received with, queued to the FIFO queue under the same
message groups). So a webhook replayed twice is queued once, and one the sender delivered again meanwhile
is a duplicate. Nothing is verified again: what was kept had passed verification when it was received.
Kept objects are never deleted here (the bucket's lifecycle expires them).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iotbridge.errors import PermanentError
from iotbridge.send_connector_event.queued import QueuedEvent
from iotbridge.webhook_receiver.domain.archived import (
    KEY_PREFIX,
    ArchivedWebhook,
    ArchiveRecordError,
    day_prefix,
    received_at_of_key,
)
from iotbridge.webhook_receiver.domain.intake import Answer, IntakeLimits, WebhookIntake, WebhookRequest
from iotbridge.webhook_receiver.ports import DEFAULT_LEASE_SECONDS, DependencyUnavailableError

# What the stack's outputs name, by the setting they give.
STACK_OUTPUTS = {
    "bucket": "WebhookArchiveBucketName",
    "queue_url": "EventQueueUrl",
    "idempotency_table": "IdempotencyTableName",
    "group_key_secret": "MessageGroupKeySecretArn",
    "correlation_table": "CorrelationTableName",
    "user_table": "ConnectorUserTableName",
}
REQUIRED = ("bucket", "queue_url", "idempotency_table", "group_key_secret")
DEFAULT_DEDUPE_WINDOW_SECONDS = 24 * 3600


class ReplayUsageError(PermanentError):
    """What the command was given cannot be used (a time, a missing name, an unreachable stack)."""


def parse_time(text: str, flag: str) -> int:
    """Milliseconds since the epoch from ISO 8601 (UTC when no offset is given) or unix seconds."""
    value = text.strip()
    try:
        if value.replace(".", "", 1).isdigit():
            return int(float(value) * 1000)
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise ReplayUsageError(
            f"{flag}: not a time (ISO 8601 such as 2026-12-06T10:00:00Z, or unix seconds)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return int(parsed.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Replayed:
    """What became of one kept webhook: queued (n events), duplicate, still refused, still skipped,
    would queue (a dry run), unavailable (try again) or unreadable (the object is not a kept webhook)."""

    key: str
    outcome: str
    queued: int = 0
    problems: tuple[str, ...] = ()

    def line(self) -> str:
        said = {
            "queued": f"queued {self.queued}",
            "would_queue": f"would queue {self.queued}",
            "duplicate": "duplicate (already queued)",
            "refused": "still refused",
            "skipped": "still skipped",
            "unavailable": "not replayed (a dependency is unavailable; run again)",
            "unreadable": "not a kept webhook",
            "nothing": "nothing to queue (no rule matches its events)",
        }[self.outcome]
        why = f": {'; '.join(self.problems)}" if self.problems else ""
        return f"{self.key}  {said}{why}"

    @property
    def settled(self) -> bool:
        """Whether nothing is left to do for it (queued, or queued before)."""
        return self.outcome in ("queued", "would_queue", "duplicate", "nothing")


class ArchiveReader:
    """The kept webhooks of one bucket, read with the operator's S3 client."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def keys(self, connector_id: str, since_ms: int | None, until_ms: int | None) -> Iterator[str]:
        """The connector's keys received in [since, until], oldest first (keys sort by time)."""
        prefix = f"{KEY_PREFIX}{connector_id}/"
        request: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        if since_ms is not None:
            day = datetime.datetime.fromtimestamp(since_ms / 1000, tz=datetime.UTC).date()
            request["StartAfter"] = day_prefix(connector_id, day)
        while True:
            page = self._client.list_objects_v2(**request)
            for item in page.get("Contents", []):
                key = str(item["Key"])
                received = received_at_of_key(key)
                if received is None or (since_ms is not None and received < since_ms):
                    continue
                if until_ms is not None and received > until_ms:
                    return
                yield key
            if not page.get("IsTruncated"):
                return
            request["ContinuationToken"] = page["NextContinuationToken"]

    def read(self, key: str) -> bytes:
        return bytes(self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read())


class _NotVerifying:
    """A replay verifies nothing: what was kept was verified when it was received."""

    def keys_for(self, connector_id: str) -> None:
        return None

    def secret_values(self, connector_id: str, secret_name: str | None) -> None:
        return None


class _Counting:
    """A dry run's queue and dedupe: nothing written, the events that would be queued counted."""

    def __init__(self) -> None:
        self.queued = 0

    def enqueue(self, events: Sequence[QueuedEvent]) -> None:
        self.queued += len(events)

    def once(
        self,
        connector_id: str,
        webhook_id: str,
        action: Any,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        body_digest: str = "",
    ) -> tuple[dict[str, Any], bool]:
        return action(), False


def replay_one(intake: WebhookIntake, key: str, text: bytes, connector_id: str, *, dry_run: bool) -> Replayed:
    """One kept object through the intake."""
    try:
        kept = ArchivedWebhook.from_json(text)
    except ArchiveRecordError as exc:
        return Replayed(key, "unreadable", problems=(str(exc),))
    if kept.connector_id != connector_id:
        return Replayed(key, "unreadable", problems=("kept for another connector",))
    request = WebhookRequest(
        connector_id=kept.connector_id,
        headers=kept.headers,
        body=kept.body,
        method=kept.method,
        path=kept.path,
        query=kept.query,
    )
    answer = intake.replay(request, kept.replay_id, frozenset(kept.queued_sources))
    return _replayed(key, answer, dry_run=dry_run)


def _replayed(key: str, answer: Answer, *, dry_run: bool) -> Replayed:
    if answer.outcome == "accepted":
        return Replayed(key, "would_queue" if dry_run else "queued", queued=answer.queued)
    if answer.outcome == "duplicate":
        return Replayed(key, "duplicate")
    if answer.outcome == "skipped":
        listed = answer.body.get("skipped", [])
        return Replayed(
            key, "skipped", problems=tuple(f"{i['path'] or '(body)'}: {i['reason']}" for i in listed)
        )
    if answer.outcome == "ignored":
        return Replayed(key, "nothing")
    if answer.status == 503:
        return Replayed(key, "unavailable", problems=(answer.outcome,))
    errors = answer.body.get("errors") or [{"path": "", "rule": answer.body.get("message", answer.outcome)}]
    return Replayed(key, "refused", problems=tuple(f"{e['path'] or '(body)'}: {e['rule']}" for e in errors))


def replay(
    reader: ArchiveReader,
    intake: WebhookIntake,
    connector_id: str,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    dry_run: bool = False,
) -> Iterator[Replayed]:
    """Each of the connector's kept webhooks in the window, oldest first, through the intake."""
    for key in reader.keys(connector_id, since_ms, until_ms):
        yield replay_one(intake, key, reader.read(key), connector_id, dry_run=dry_run)


@dataclass(frozen=True, slots=True)
class ReplayTarget:
    """Where a replay reads and writes: the stack's bucket, queue, tables and group key."""

    bucket: str
    queue_url: str
    idempotency_table: str
    group_key: bytes
    profile_prefix: str
    correlation_table: str = ""
    user_table: str = ""
    dedupe_window_seconds: int = DEFAULT_DEDUPE_WINDOW_SECONDS


def intake_for(target: ReplayTarget, clients: Mapping[str, Any], *, dry_run: bool) -> WebhookIntake:
    """The receiver's intake, wired to the target with the given clients (`ssm`, `sqs`, `dynamodb`)."""
    from iotbridge.correlation.tables import ConnectorUserTable, CorrelationTable
    from iotbridge.registry.cache import LookupBudget
    from iotbridge.registry.profiles import SsmConnectorProfiles
    from iotbridge.webhook_receiver.adapters import IdempotencyTableDeduplicator, SqsFifoEventQueue

    dynamodb = clients["dynamodb"]
    counting = _Counting()
    correlation = (
        CorrelationTable(dynamodb, target.correlation_table, retention_seconds=0)
        if target.correlation_table
        else None
    )
    return WebhookIntake(
        keys=_NotVerifying(),
        # The current profile, read again for every run (no cache beyond the run).
        profiles=SsmConnectorProfiles(
            clients["ssm"], prefix=target.profile_prefix, max_age_seconds=300, lookups=LookupBudget()
        ),
        queue=counting
        if dry_run
        else SqsFifoEventQueue(clients["sqs"], target.queue_url, group_key=target.group_key),
        deduplicator=counting
        if dry_run
        else IdempotencyTableDeduplicator(
            dynamodb,
            target.idempotency_table,
            window_seconds=target.dedupe_window_seconds,
            fingerprint_key=target.group_key,
        ),
        limits=IntakeLimits(max_body_bytes=1024 * 1024, tolerance_seconds=300),
        users=ConnectorUserTable(dynamodb, target.user_table) if target.user_table and not dry_run else None,
        # A dry run marks nothing answered.
        correlation=None if dry_run else correlation,
        lookups=correlation,
        clock=time.time,
    )


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """The stack's outputs by key. Raises ReplayUsageError when the stack cannot be described."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        raise ReplayUsageError(
            f"--stack {stack}: {exc.response.get('Error', {}).get('Message', 'not found')}"
        ) from None
    except BotoCoreError as exc:
        raise ReplayUsageError(
            f"--stack {stack}: cannot reach CloudFormation ({type(exc).__name__})"
        ) from None
    return {str(o["OutputKey"]): str(o["OutputValue"]) for o in stacks[0].get("Outputs", [])}


def group_key(secretsmanager: Any, secret_id: str) -> bytes:
    """The message group key, as the receiver is given it. Raises ReplayUsageError."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        value = secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"]
    except (ClientError, BotoCoreError, KeyError):
        raise ReplayUsageError("--group-key-secret: the message group key cannot be read") from None
    return str(value).encode("utf-8")


def is_unavailable(exc: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, ClientError | BotoCoreError | DependencyUnavailableError)


EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(commands: Any) -> None:
    """Register `replay` on the subcommands of `python -m iotbridge`."""
    parser = commands.add_parser(
        "replay", help="run a connector's refused and skipped webhooks through its current profile"
    )
    parser.add_argument(
        "--connector", required=True, metavar="ID", help="the connector whose webhooks to replay"
    )
    parser.add_argument("--since", metavar="TIME", help="received at or after (ISO 8601, or unix seconds)")
    parser.add_argument("--until", metavar="TIME", help="received at or before (ISO 8601, or unix seconds)")
    parser.add_argument("--dry-run", action="store_true", help="map and report; queue and record nothing")
    parser.add_argument("--stack", metavar="NAME", help="read the names below from this stack's outputs")
    parser.add_argument("--bucket", metavar="NAME", help="the archive bucket (WebhookArchiveBucketName)")
    parser.add_argument("--queue-url", metavar="URL", help="the event queue (EventQueueUrl)")
    parser.add_argument("--idempotency-table", metavar="NAME", help="the dedupe table (IdempotencyTableName)")
    parser.add_argument(
        "--group-key-secret", metavar="ID", help="the message group key's secret (MessageGroupKeySecretArn)"
    )
    parser.add_argument("--correlation-table", metavar="NAME", help="marks answers (CorrelationTableName)")
    parser.add_argument("--user-table", metavar="NAME", help="deactivated users (ConnectorUserTableName)")
    parser.add_argument(
        "--profile-prefix", metavar="PREFIX", help="SSM name prefix of profiles (the receiver's default)"
    )
    parser.add_argument(
        "--dedupe-window-seconds",
        type=int,
        default=DEFAULT_DEDUPE_WINDOW_SECONDS,
        metavar="SECONDS",
        help="the stack's DedupeWindowSeconds (86400)",
    )
    parser.add_argument("--endpoint-url", metavar="URL", help="one endpoint for every service (local stack)")


def run(args: Any, out: Any, err: Any, *, clients: Mapping[str, Any] | None = None) -> int:
    """Run `replay`; `clients` (by service name) replaces the workstation clients (tests, the demo)."""
    from iotbridge.profile.document import DEFAULT_PROFILE_PREFIX
    from iotbridge.send_connector_event.body import connector_id_problems

    try:
        if connector_id_problems(args.connector):
            raise ReplayUsageError("--connector: not a connector id")
        since = parse_time(args.since, "--since") if args.since else None
        until = parse_time(args.until, "--until") if args.until else None
        if since is not None and until is not None and since > until:
            raise ReplayUsageError("--since is after --until")
        if args.dedupe_window_seconds < 60:
            raise ReplayUsageError("--dedupe-window-seconds must be at least 60")
        clients = clients or _Clients(args.endpoint_url)
        names = _names(args, clients)
        target = ReplayTarget(
            bucket=names["bucket"],
            queue_url=names["queue_url"],
            idempotency_table=names["idempotency_table"],
            group_key=group_key(clients["secretsmanager"], names["group_key_secret"]),
            profile_prefix=args.profile_prefix or DEFAULT_PROFILE_PREFIX,
            correlation_table=names.get("correlation_table", ""),
            user_table=names.get("user_table", ""),
            dedupe_window_seconds=args.dedupe_window_seconds,
        )
    except ReplayUsageError as exc:
        print(f"replay: {exc}", file=err)
        return EXIT_USAGE
    intake = intake_for(target, clients, dry_run=args.dry_run)
    reader = ArchiveReader(clients["s3"], target.bucket)
    results: list[Replayed] = []
    try:
        for result in replay(
            reader, intake, args.connector, since_ms=since, until_ms=until, dry_run=args.dry_run
        ):
            results.append(result)
            print(result.line(), file=out, flush=True)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        print(
            f"replay: the archive bucket cannot be read ({type(exc).__name__}); nothing more replayed",
            file=err,
        )
        return EXIT_FAILED
    print(summary(results, args.connector, dry_run=args.dry_run), file=err)
    return EXIT_OK if all(result.settled for result in results) else EXIT_FAILED


def summary(results: Sequence[Replayed], connector_id: str, *, dry_run: bool) -> str:
    if not results:
        return f"replay: no kept webhooks of {connector_id} in that window"
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    events = sum(result.queued for result in results)
    verb = "would queue" if dry_run else "queued"
    told = ", ".join(f"{n} {outcome.replace('_', ' ')}" for outcome, n in sorted(counts.items()))
    return f"replay: {len(results)} kept webhooks of {connector_id}: {told}; {verb} {events} events"


def _names(args: Any, clients: Mapping[str, Any]) -> dict[str, str]:
    given = {name: getattr(args, name) for name in STACK_OUTPUTS if getattr(args, name, None)}
    if args.stack:
        outputs = stack_outputs(clients["cloudformation"], args.stack)
        found = {name: outputs[output] for name, output in STACK_OUTPUTS.items() if output in outputs}
        given = {**found, **given}
    missing = [name for name in REQUIRED if not given.get(name)]
    if missing:
        flags = ", ".join("--" + name.replace("_", "-") for name in missing)
        where = f"stack {args.stack} has no output for" if args.stack else "give --stack, or"
        raise ReplayUsageError(f"{where} {flags}")
    return given


class _Clients(dict[str, Any]):
    """Workstation clients, made on first use: region, credentials and endpoints from the usual AWS
    environment (AWS_ENDPOINT_URL_<SERVICE> included), or one --endpoint-url for all."""

    def __init__(self, endpoint_url: str | None) -> None:
        super().__init__()
        self._endpoint_url = endpoint_url

    def __missing__(self, service: str) -> Any:
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        from iotbridge.clients import new_session, user_agent

        config = Config(retries={"mode": "standard", "total_max_attempts": 3}, user_agent=user_agent())
        try:
            made = new_session().create_client(service, endpoint_url=self._endpoint_url, config=config)
        except BotoCoreError as exc:  # no region, a bad endpoint URL
            raise ReplayUsageError(str(exc)) from None
        self[service] = made
        return made
