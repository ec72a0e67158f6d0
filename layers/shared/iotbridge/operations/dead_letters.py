"""Dead-letter triage: `python -m iotbridge dead-letters list|show|redrive|purge`.

The forwarder parks an event it can never deliver in the FIFO dead-letter queue with its queued body as it
was, in its device's message group, and with why as message attributes: ErrorCode, ErrorMessage,
SourceMessageId, ConnectorId and WebhookId (iotbridge.forwarder.domain.forwarding). A message SQS moved
there itself (maxReceiveCount) has none of them; it is listed under the error code `(moved by SQS)`.

Reading a FIFO queue hides each message group whose earlier messages are in flight. So every command holds
what it received in flight for one pass (a short visibility timeout) and makes the messages it did not
remove visible again at once (ChangeMessageVisibility 0): nothing is removed but what redrive moved or
purge was confirmed to delete. A pass sees at most the first messages of each group; a group's later
messages show once its earlier ones are gone, so redrive works in passes until a pass moves nothing.

Redrive sends each message to the event queue in its original message group, in the group's order, with a
deduplication id derived from the dead-letter message's id (sending it twice, after a run stopped between
the send and the delete, is deduplicated by SQS; a later dead-lettering of the same event is a new message
and redrives again). A message is deleted from the dead-letter queue only after its send succeeded; a
failed send leaves it, and every later message of its group, where they are.

Exit codes: 0 done, 1 a call failed (a queue or stack not reachable, a send or delete failed, a purge not
confirmed), 2 bad usage.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MOVED_BY_SQS = "(moved by SQS)"
UNKNOWN = "(unknown)"
# Members of a SendConnectorEvent body that name a user or device, or carry the device cloud's own text.
MASKED_MEMBERS = frozenset({"UserId", "ConnectorDeviceId", "Message"})
STACK_OUTPUTS = {"dead_letter_queue_url": "DeadLetterQueueUrl", "queue_url": "EventQueueUrl"}
_RECEIVE_BATCH = 10
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_RATE = re.compile(r"^(\d+(?:\.\d+)?)(?:/s)?$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class DeadLetterError(Exception):
    """A call to AWS failed; the text names the call and the AWS error code, never a message's content."""


# --- The messages --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message of the dead-letter queue as received, with what the forwarder wrote about it."""

    message_id: str
    receipt_handle: str
    body: str
    group_id: str
    sent_at: datetime  # when it entered the dead-letter queue (SQS's SentTimestamp)
    receive_count: int
    attributes: Mapping[str, str]  # the forwarder's message attributes (ErrorCode, ...)
    envelope: Mapping[str, Any] | None  # the queued event's JSON body; None when it is not one

    @classmethod
    def from_sqs(cls, message: Mapping[str, Any]) -> DeadLetter:
        system = message.get("Attributes", {})
        attributes = {
            name: str(value.get("StringValue", ""))
            for name, value in message.get("MessageAttributes", {}).items()
            if value.get("DataType", "String").startswith("String")
        }
        body = str(message.get("Body", ""))
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            parsed = None
        return cls(
            message_id=str(message["MessageId"]),
            receipt_handle=str(message["ReceiptHandle"]),
            body=body,
            group_id=str(system.get("MessageGroupId", "")),
            sent_at=datetime.fromtimestamp(int(system.get("SentTimestamp", 0) or 0) / 1000, UTC),
            receive_count=int(system.get("ApproximateReceiveCount", 1) or 1),
            attributes=attributes,
            envelope=parsed if isinstance(parsed, dict) else None,
        )

    @property
    def event(self) -> Mapping[str, Any] | None:
        event = self.envelope.get("event") if self.envelope is not None else None
        return event if isinstance(event, dict) else None

    @property
    def connector(self) -> str:
        found = self.attributes.get("ConnectorId") or (self.envelope or {}).get("connectorId")
        return str(found) if found else UNKNOWN

    @property
    def operation(self) -> str:
        found = (self.event or {}).get("Operation")
        return str(found) if isinstance(found, str) and found else UNKNOWN

    @property
    def error_code(self) -> str:
        return self.attributes.get("ErrorCode") or MOVED_BY_SQS

    @property
    def redrive_deduplication_id(self) -> str:
        """Derived from the dead-letter message's id: a second send of this message is dropped by SQS."""
        return hashlib.sha256(f"redrive\x00{self.message_id}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Filters:
    connectors: frozenset[str] = frozenset()
    error_codes: frozenset[str] = frozenset()
    operations: frozenset[str] = frozenset()
    older_than: datetime | None = None  # dead-lettered before this time
    newer_than: datetime | None = None  # dead-lettered after this time

    def match(self, message: DeadLetter) -> bool:
        return (
            (not self.connectors or message.connector in self.connectors)
            and (not self.error_codes or message.error_code in self.error_codes)
            and (not self.operations or message.operation in self.operations)
            and (self.older_than is None or message.sent_at < self.older_than)
            and (self.newer_than is None or message.sent_at > self.newer_than)
        )


def mask(value: Any) -> Any:
    """The event with each user id, device id and Message replaced by its length, at any depth."""
    if isinstance(value, dict):
        return {
            key: f"<masked: {len(str(item))} chars>" if key in MASKED_MEMBERS else mask(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask(item) for item in value]
    return value


# --- The queue -----------------------------------------------------------------------------------------


class Queues(Protocol):
    """The SQS calls the commands make (QueueUrl first)."""

    def receive(self, queue_url: str, count: int, hold_seconds: int) -> list[DeadLetter]: ...
    def release(self, queue_url: str, messages: Sequence[DeadLetter], hold_seconds: int = 0) -> None: ...
    def delete(self, queue_url: str, message: DeadLetter) -> None: ...
    def send(self, queue_url: str, message: DeadLetter) -> None: ...
    def depth(self, queue_url: str) -> int: ...


class SqsQueues:
    """The commands' SQS calls through a botocore client; its errors become DeadLetterError."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self._client, operation)(**params)
        except Exception as exc:
            from iotbridge.clients import failure_of

            raise DeadLetterError(f"{_call_name(operation)} failed with {failure_of(exc).code}") from exc

    def receive(self, queue_url: str, count: int, hold_seconds: int) -> list[DeadLetter]:
        answer = self._call(
            "receive_message",
            QueueUrl=queue_url,
            MaxNumberOfMessages=max(1, min(_RECEIVE_BATCH, count)),
            VisibilityTimeout=hold_seconds,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return [DeadLetter.from_sqs(message) for message in answer.get("Messages", [])]

    def release(self, queue_url: str, messages: Sequence[DeadLetter], hold_seconds: int = 0) -> None:
        # An entry that fails stays hidden until its short visibility timeout ends: nothing is lost.
        for start in range(0, len(messages), _RECEIVE_BATCH):
            chunk = messages[start : start + _RECEIVE_BATCH]
            self._call(
                "change_message_visibility_batch",
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": hold_seconds}
                    for n, m in enumerate(chunk)
                ],
            )

    def delete(self, queue_url: str, message: DeadLetter) -> None:
        self._call("delete_message", QueueUrl=queue_url, ReceiptHandle=message.receipt_handle)

    def send(self, queue_url: str, message: DeadLetter) -> None:
        self._call(
            "send_message",
            QueueUrl=queue_url,
            MessageBody=message.body,
            MessageGroupId=message.group_id,
            MessageDeduplicationId=message.redrive_deduplication_id,
        )

    def depth(self, queue_url: str) -> int:
        answer = self._call(
            "get_queue_attributes", QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(answer.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))


def _call_name(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))


def receive_pass(queues: Queues, queue_url: str, *, limit: int, hold_seconds: int) -> list[DeadLetter]:
    """Up to `limit` messages, held in flight, each group's in order. The caller releases them."""
    held: dict[str, DeadLetter] = {}
    while len(held) < limit:
        received = queues.receive(queue_url, limit - len(held), hold_seconds)
        fresh = [message for message in received if message.message_id not in held]
        if not fresh:
            break
        held.update((message.message_id, message) for message in fresh)
    # A FIFO queue hands a group's messages over in the group's order: the sort keeps it (it is stable).
    return sorted(held.values(), key=lambda message: message.group_id)


# --- list ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Group:
    connector: str
    operation: str
    error_code: str
    count: int
    first_seen: datetime
    last_seen: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "connector": self.connector,
            "operation": self.operation,
            "errorCode": self.error_code,
            "count": self.count,
            "firstSeen": _iso(self.first_seen),
            "lastSeen": _iso(self.last_seen),
        }


def summarize(messages: Iterable[DeadLetter]) -> list[Group]:
    """Counts and first/last seen by connector, operation and error code, most messages first."""
    found: dict[tuple[str, str, str], list[datetime]] = {}
    for message in messages:
        found.setdefault((message.connector, message.operation, message.error_code), []).append(
            message.sent_at
        )
    groups = [Group(*key, len(times), min(times), max(times)) for key, times in found.items()]
    return sorted(groups, key=lambda g: (-g.count, g.connector, g.operation, g.error_code))


def list_dead_letters(
    queues: Queues, queue_url: str, *, limit: int, hold_seconds: int, filters: Filters | None = None
) -> tuple[list[Group], int, int]:
    """The groups of what one pass saw, how many messages it saw, and the queue's approximate depth."""
    held = receive_pass(queues, queue_url, limit=limit, hold_seconds=hold_seconds)
    try:
        depth = queues.depth(queue_url)
    finally:
        queues.release(queue_url, held)
    chosen = [message for message in held if filters is None or filters.match(message)]
    return summarize(chosen), len(held), max(depth, len(held))


def find(
    queues: Queues, queue_url: str, message_id: str, *, limit: int, hold_seconds: int
) -> DeadLetter | None:
    held = receive_pass(queues, queue_url, limit=limit, hold_seconds=hold_seconds)
    queues.release(queue_url, held)
    return next((message for message in held if message.message_id == message_id), None)


def describe(message: DeadLetter, *, unmask: bool) -> dict[str, object]:
    """What `show` prints: the error, where the message came from, and the event (masked unless asked)."""
    if message.envelope is None:
        event: object = message.body if unmask else f"<not a queued event: {len(message.body)} chars>"
    else:
        event = message.envelope if unmask else mask(message.envelope)
    return {
        "messageId": message.message_id,
        "errorCode": message.error_code,
        "errorMessage": message.attributes.get("ErrorMessage", ""),
        "connector": message.connector,
        "operation": message.operation,
        "webhookId": message.attributes.get("WebhookId") or (message.envelope or {}).get("webhookId"),
        "sourceMessageId": message.attributes.get("SourceMessageId"),
        "messageGroupId": message.group_id,
        "deadLetteredAt": _iso(message.sent_at),
        "receiveCount": message.receive_count,
        "event": event,
    }


# --- redrive and purge ---------------------------------------------------------------------------------


@dataclass
class RedriveReport:
    dry_run: bool
    matched: int = 0  # messages the filters chose (in a dry run: would move)
    moved: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (message id, why)
    held_back: list[str] = field(default_factory=list)  # later messages of a group whose send failed
    not_deleted: list[tuple[str, str]] = field(default_factory=list)  # sent, but still in the queue

    @property
    def ok(self) -> bool:
        return not (self.failed or self.held_back or self.not_deleted)

    def to_dict(self) -> dict[str, object]:
        return {
            "dryRun": self.dry_run,
            "matched": self.matched,
            "moved": len(self.moved),
            "failed": [{"messageId": m, "error": why} for m, why in self.failed],
            "heldBack": self.held_back,
            "sentNotDeleted": [{"messageId": m, "error": why} for m, why in self.not_deleted],
        }


class Pacer:
    """At most `rate` calls a second, by sleeping before a call that would come too early."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._interval = 1.0 / rate
        self._clock, self._sleep = clock, sleep
        self._next = 0.0

    def wait(self) -> None:
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self._interval


def redrive(
    queues: Queues,
    dead_letter_queue_url: str,
    queue_url: str,
    *,
    filters: Filters,
    apply: bool,
    pacer: Pacer,
    limit: int,
    hold_seconds: int,
) -> RedriveReport:
    """Move the matching messages to the event queue, each group in order, stopping a group at a failure."""
    report = RedriveReport(dry_run=not apply)
    stopped: set[str] = set()
    done: set[str] = set()
    while report.matched < limit:
        held = receive_pass(queues, dead_letter_queue_url, limit=limit, hold_seconds=hold_seconds)
        chosen = [m for m in held if m.message_id not in done and filters.match(m)][: limit - report.matched]
        chosen_ids = {m.message_id for m in chosen}
        left = [m for m in held if m.message_id not in chosen_ids]
        if not chosen:
            queues.release(dead_letter_queue_url, held)
            break
        report.matched += len(chosen)
        if not apply:
            queues.release(dead_letter_queue_url, held)
            break
        # Held for as long as the paced sends take, and the usual hold beyond.
        queues.release(dead_letter_queue_url, chosen, hold_seconds + int(len(chosen) / pacer.rate) + 1)
        try:
            for message in chosen:
                done.add(message.message_id)
                if message.group_id in stopped:
                    report.held_back.append(message.message_id)
                    left.append(message)
                    continue
                pacer.wait()
                try:
                    queues.send(queue_url, message)
                except DeadLetterError as exc:
                    report.failed.append((message.message_id, str(exc)))
                    stopped.add(message.group_id)
                    left.append(message)
                    continue
                report.moved.append(message.message_id)
                try:
                    queues.delete(dead_letter_queue_url, message)
                except DeadLetterError as exc:
                    # Sent: it must not be sent after its group's later messages, so the group stops here.
                    report.not_deleted.append((message.message_id, str(exc)))
                    stopped.add(message.group_id)
                    left.append(message)
        finally:
            queues.release(dead_letter_queue_url, left)
    return report


def purge(
    queues: Queues,
    queue_url: str,
    *,
    filters: Filters,
    confirm: Callable[[int], bool],
    limit: int,
    hold_seconds: int,
) -> tuple[int, int, list[tuple[str, str]]]:
    """Delete the matching messages one pass sees, once `confirm(count)` agrees.

    Returns how many matched, how many were deleted, and the deletes that failed."""
    held = receive_pass(queues, queue_url, limit=limit, hold_seconds=hold_seconds)
    chosen = {m.message_id for m in held if filters.match(m)}
    queues.release(queue_url, held)
    if not chosen or not confirm(len(chosen)):
        return len(chosen), 0, []
    # Received again: the operator may have taken longer than the hold to answer.
    held = receive_pass(queues, queue_url, limit=limit, hold_seconds=hold_seconds)
    deleted, failed = 0, []
    left = []
    try:
        for message in held:
            if message.message_id not in chosen:
                left.append(message)
                continue
            try:
                queues.delete(queue_url, message)
                deleted += 1
            except DeadLetterError as exc:
                failed.append((message.message_id, str(exc)))
                left.append(message)
    finally:
        queues.release(queue_url, left)
    return len(chosen), deleted, failed


# --- The command line ----------------------------------------------------------------------------------


def add_parser(commands: Any) -> None:
    """Register `dead-letters` on the subcommands of `python -m iotbridge`."""
    parser = commands.add_parser(
        "dead-letters", help="list, show, redrive or purge the event dead-letter queue"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", metavar="NAME", help="read the queue URLs from this stack's outputs")
    common.add_argument("--dead-letter-queue-url", metavar="URL", help="the dead-letter queue (else --stack)")
    common.add_argument("--endpoint-url", metavar="URL", help="an SQS/CloudFormation endpoint (local stack)")
    common.add_argument("--max", type=int, default=1000, metavar="N", help="messages to read at most (1000)")
    common.add_argument(
        "--visibility-timeout",
        type=int,
        default=30,
        metavar="SECONDS",
        help="how long read messages stay hidden if this command is interrupted (30)",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    chosen = argparse.ArgumentParser(add_help=False)
    chosen.add_argument("--connector", action="append", default=[], metavar="ID", help="repeatable")
    chosen.add_argument("--error-code", action="append", default=[], metavar="CODE", help="repeatable")
    chosen.add_argument("--operation", action="append", default=[], metavar="OPERATION", help="repeatable")
    chosen.add_argument(
        "--older-than", metavar="AGE", help="dead-lettered before: 90s, 30m, 2h, 7d or ISO time"
    )
    chosen.add_argument(
        "--newer-than", metavar="AGE", help="dead-lettered after: 90s, 30m, 2h, 7d or ISO time"
    )
    actions.add_parser(
        "list",
        parents=[common, chosen],
        help="counts and first/last seen by connector, operation, error code",
    )
    show = actions.add_parser("show", parents=[common], help="one message: its error and its event")
    show.add_argument("message_id", metavar="MESSAGE_ID")
    show.add_argument(
        "--unmask", action="store_true", help="show user and device ids and Message as they are"
    )
    move = actions.add_parser(
        "redrive", parents=[common, chosen], help="send matching messages back to the queue"
    )
    move.add_argument("--queue-url", metavar="URL", help="the event queue (else --stack)")
    move.add_argument("--dry-run", action="store_true", help="say what would move (the default)")
    move.add_argument("--apply", action="store_true", help="move them")
    move.add_argument("--rate", default="10/s", metavar="N/s", help="sends a second at most (10/s)")
    remove = actions.add_parser("purge", parents=[common, chosen], help="delete matching messages")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def run(args: argparse.Namespace, out: TextIO, err: TextIO, *, queues: Queues | None = None) -> int:
    """Run one `dead-letters` action; `queues` replaces the SQS client (tests inject failures with it)."""
    try:
        filters = _filters(args) if args.action != "show" else Filters()
        if args.max < 1 or not 1 <= args.visibility_timeout <= 43200:
            raise ValueError("--max must be at least 1 and --visibility-timeout 1 to 43200 seconds")
        rate = _rate(args.rate) if args.action == "redrive" else 0.0
        if args.action == "redrive" and args.apply and args.dry_run:
            raise ValueError("--apply and --dry-run exclude each other")
    except ValueError as exc:
        print(f"dead-letters {args.action}: {exc}", file=err)
        return EXIT_USAGE
    try:
        urls = _queue_urls(args)
        queues = queues or SqsQueues(_client("sqs", args.endpoint_url))
        return _ACTIONS[args.action](args, queues, urls=urls, filters=filters, rate=rate, out=out, err=err)
    except _UsageError as exc:
        print(f"dead-letters {args.action}: {exc}", file=err)
        return EXIT_USAGE
    except DeadLetterError as exc:
        print(f"dead-letters {args.action}: {exc}", file=err)
        return EXIT_FAILED


class _UsageError(Exception):
    pass


def _list(
    args: Any,
    queues: Queues,
    *,
    urls: dict[str, str],
    filters: Filters,
    rate: float,
    out: TextIO,
    err: TextIO,
) -> int:
    groups, seen, depth = list_dead_letters(
        queues,
        urls["dead_letter_queue_url"],
        limit=args.max,
        hold_seconds=args.visibility_timeout,
        filters=filters,
    )
    if args.json:
        print(
            json.dumps(
                {"seen": seen, "approximateDepth": depth, "groups": [g.to_dict() for g in groups]}, indent=2
            ),
            file=out,
        )
    else:
        rows = [("CONNECTOR", "OPERATION", "ERROR CODE", "COUNT", "FIRST SEEN", "LAST SEEN")]
        rows += [
            (g.connector, g.operation, g.error_code, str(g.count), _iso(g.first_seen), _iso(g.last_seen))
            for g in groups
        ]
        print(_table(rows), file=out)
    if depth > seen:
        print(
            f"read {seen} of about {depth} messages: a group's later messages show once its earlier ones are "
            "gone (or raise --max)",
            file=err,
        )
    return EXIT_OK


def _show(
    args: Any,
    queues: Queues,
    *,
    urls: dict[str, str],
    filters: Filters,
    rate: float,
    out: TextIO,
    err: TextIO,
) -> int:
    found = find(
        queues,
        urls["dead_letter_queue_url"],
        args.message_id,
        limit=args.max,
        hold_seconds=args.visibility_timeout,
    )
    if found is None:
        print(
            f"dead-letters show: no message {args.message_id} among the first {args.max} of the queue",
            file=err,
        )
        return EXIT_FAILED
    print(json.dumps(describe(found, unmask=args.unmask), indent=2, ensure_ascii=False), file=out)
    return EXIT_OK


def _redrive(
    args: Any,
    queues: Queues,
    *,
    urls: dict[str, str],
    filters: Filters,
    rate: float,
    out: TextIO,
    err: TextIO,
) -> int:
    if "queue_url" not in urls:
        raise _UsageError("give --queue-url or --stack (the event queue to send to)")
    report = redrive(
        queues,
        urls["dead_letter_queue_url"],
        urls["queue_url"],
        filters=filters,
        apply=args.apply,
        pacer=Pacer(rate),
        limit=args.max,
        hold_seconds=args.visibility_timeout,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2), file=out)
    elif report.dry_run:
        print(f"dry run: {report.matched} messages would be redriven (--apply to move them)", file=out)
    else:
        print(f"redriven: {len(report.moved)} of {report.matched} matching messages", file=out)
    for message_id, why in report.failed:
        print(f"not redriven, still in the dead-letter queue: {message_id}: {why}", file=err)
    if report.held_back:
        print(
            f"held back behind a failure in their group, still in the dead-letter queue: "
            f"{len(report.held_back)}",
            file=err,
        )
    for message_id, why in report.not_deleted:
        print(f"redriven but not deleted from the dead-letter queue: {message_id}: {why}", file=err)
    return EXIT_OK if report.ok else EXIT_FAILED


def _purge(
    args: Any,
    queues: Queues,
    *,
    urls: dict[str, str],
    filters: Filters,
    rate: float,
    out: TextIO,
    err: TextIO,
) -> int:
    def confirm(count: int) -> bool:
        if args.yes:
            return True
        print(
            f"{count} messages match and would be deleted for good; type {count} to confirm: ",
            end="",
            file=err,
            flush=True,
        )
        return sys.stdin.readline().strip() == str(count)

    matched, deleted, failed = purge(
        queues,
        urls["dead_letter_queue_url"],
        filters=filters,
        confirm=confirm,
        limit=args.max,
        hold_seconds=args.visibility_timeout,
    )
    summary = {
        "matched": matched,
        "deleted": deleted,
        "failed": [{"messageId": m, "error": w} for m, w in failed],
    }
    print(
        json.dumps(summary, indent=2) if args.json else f"purged: {deleted} of {matched} matching messages",
        file=out,
    )
    for message_id, why in failed:
        print(f"not deleted: {message_id}: {why}", file=err)
    if matched and not deleted and not failed:
        print("not confirmed: nothing deleted", file=err)
        return EXIT_FAILED
    return EXIT_FAILED if failed else EXIT_OK


_ACTIONS: dict[str, Callable[..., int]] = {"list": _list, "show": _show, "redrive": _redrive, "purge": _purge}


def _queue_urls(args: Any) -> dict[str, str]:
    given = {name: getattr(args, name, None) for name in STACK_OUTPUTS}
    urls = {name: value for name, value in given.items() if value}
    needed = ["dead_letter_queue_url"] + (["queue_url"] if args.action == "redrive" else [])
    if all(name in urls for name in needed):
        return urls
    if not args.stack:
        raise _UsageError(
            "give --stack NAME, or --dead-letter-queue-url" + (" and --queue-url" if len(needed) > 1 else "")
        )
    outputs = stack_outputs(_client("cloudformation", args.endpoint_url), args.stack)
    for name in needed:
        if name not in urls:
            if STACK_OUTPUTS[name] not in outputs:
                raise _UsageError(f"stack {args.stack} has no output {STACK_OUTPUTS[name]}")
            urls[name] = outputs[STACK_OUTPUTS[name]]
    return urls


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    try:
        answer = cloudformation.describe_stacks(StackName=stack)
    except Exception as exc:
        from iotbridge.clients import failure_of

        raise DeadLetterError(f"DescribeStacks of {stack} failed with {failure_of(exc).code}") from exc
    stacks = answer.get("Stacks", [])
    return {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs", []) if stacks else [])}


def _client(service: str, endpoint_url: str | None) -> Any:
    """A workstation client: region, credentials and endpoint from the usual AWS environment."""
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    from iotbridge.clients import new_session, user_agent

    config = Config(retries={"mode": "standard", "total_max_attempts": 3}, user_agent=user_agent())
    try:
        return new_session().create_client(service, endpoint_url=endpoint_url, config=config)
    except (BotoCoreError, ValueError) as exc:  # no region, a bad endpoint URL
        raise _UsageError(
            f"cannot make an AWS client: {exc} (set AWS_REGION; --endpoint-url for a local stack)"
        ) from None


def _filters(args: Any) -> Filters:
    now = datetime.now(UTC)
    return Filters(
        connectors=frozenset(args.connector),
        error_codes=frozenset(args.error_code),
        operations=frozenset(args.operation),
        older_than=_moment(args.older_than, now, "--older-than"),
        newer_than=_moment(args.newer_than, now, "--newer-than"),
    )


def _moment(text: str | None, now: datetime, flag: str) -> datetime | None:
    if text is None:
        return None
    duration = _DURATION.match(text.strip())
    if duration:
        return now - timedelta(seconds=float(duration.group(1)) * _SECONDS[duration.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{flag} must be an age such as 90s, 30m, 2h, 7d or an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rate(text: str) -> float:
    found = _RATE.match(text.strip())
    rate = float(found.group(1)) if found else 0.0
    if not 0 < rate <= 1000:
        raise ValueError("--rate must be N/s with N more than 0 and at most 1000")
    return rate


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
