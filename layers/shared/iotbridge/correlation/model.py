"""What the connector function asked of a device cloud, and whether the relay saw it answered.

Managed integrations asks a connector to discover devices (`AWS.DiscoverDevices`, with a `deviceDiscoveryId`)
and to send commands (`AWS.SendCommand`, with a `traceId`); the connector acknowledges at once and the answer
comes later, as a `DEVICE_DISCOVERY` or `DEVICE_COMMAND_RESPONSE` the device cloud sends through the relay
with the same id. Each request is one entry, keyed by its kind, connector and id, with the user it is for and
a deadline: the connector function writes it before the device cloud is asked (which makes a retried
invocation ask once), the receiver marks it answered when it accepts the answer, and a scheduled sweep counts
the entries whose deadline passed unanswered. The same vocabulary serves both functions; the table itself is
`iotbridge.correlation.tables`. No botocore here: the receiver's domain uses these names.

Two more kinds of entry serve device clouds whose webhooks do not echo the request's id (a profile's
`lookup` members): the command a device cloud knows by its own request id (`cloudcmd#`), and the latest
discovery of each user and of each connector (`latestdiscovery#`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

DISCOVERY: Final = "discovery"
COMMAND: Final = "command"
KINDS: Final = (DISCOVERY, COMMAND)
# The kinds of entry that serve lookups (see the module's docstring).
CLOUD_COMMAND: Final = "cloudcmd"
LATEST_DISCOVERY: Final = "latestdiscovery"
# The SendConnectorEvent operation that answers each kind of request.
KIND_OF_OPERATION: Final[dict[str, str]] = {"DEVICE_DISCOVERY": DISCOVERY, "DEVICE_COMMAND_RESPONSE": COMMAND}
# Entries awaiting an answer are spread over this many partitions of the table's deadline index, so the
# sweep's queries do not all land on one.
DUE_SHARDS: Final = 4


class Status(StrEnum):
    DISPATCHING = "DISPATCHING"  # being handed to the device cloud by one invocation
    PENDING = "PENDING"  # handed over, awaiting the answer
    ANSWERED = "ANSWERED"  # the relay accepted the answer (late ones too: answeredAt > deadline)
    EXPIRED = "EXPIRED"  # the sweep found it unanswered past its deadline


class Begun(StrEnum):
    """What recording a request found."""

    NEW = "new"  # recorded now: this invocation hands it to the device cloud
    HANDED_OVER = "handed_over"  # an earlier invocation handed it over already
    IN_PROGRESS = "in_progress"  # another invocation is handing it over right now


class AnswerMatch(StrEnum):
    """What marking an answer found."""

    ANSWERED = "answered"  # a pending request, within its deadline
    LATE = "late"  # a pending (or already expired) request, past its deadline
    REPEATED = "repeated"  # a request answered before
    UNMATCHED = "unmatched"  # no such request of this connector (counted, never refused)


def record_key(kind: str, connector_id: str, request_id: str) -> str:
    """The entry's key: its kind, and a digest of connector and id (both sender-bounded, but a fixed-length
    printable key keeps the table's keys uniform)."""
    return f"{kind}#{_digest(connector_id, request_id)}"


def kind_of_key(key: str) -> str:
    return key.split("#", 1)[0]


def due_shard(key: str) -> str:
    """The partition of the deadline index an entry awaiting its answer is in."""
    return f"due#{int(key[-2:], 16) % DUE_SHARDS}"


def user_key(connector_id: str, user_id: str) -> str:
    return f"user#{_digest(connector_id, user_id)}"


def cloud_request_key(connector_id: str, cloud_request_id: str) -> str:
    """The key of the entry that names the command a device cloud knows by its own request id."""
    return f"{CLOUD_COMMAND}#{_digest(connector_id, cloud_request_id)}"


def latest_discovery_key(connector_id: str, user_id: str | None) -> str:
    """The key of the entry that names the latest discovery of a user, or (None) of the connector: no user id
    is empty, so the connector's cannot be a user's."""
    return f"{LATEST_DISCOVERY}#{_digest(connector_id, user_id or '')}"


def _digest(connector_id: str, name: str) -> str:
    return hashlib.sha256(f"{connector_id}\x00{name}".encode("utf-8", "surrogatepass")).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class PendingRequest:
    kind: str  # DISCOVERY or COMMAND
    connector_id: str
    request_id: str  # the deviceDiscoveryId or the traceId
    user_id: str | None  # sensitive: stored, never logged
    requested_at: float
    deadline: float
    # This invocation's hold on the entry while it hands the request over: a retry that took the entry
    # over after the lease ended holds another, so the first invocation can no longer release or mark it.
    lease: str = field(default_factory=lambda: uuid.uuid4().hex, repr=False, compare=False)

    @property
    def key(self) -> str:
        return record_key(self.kind, self.connector_id, self.request_id)


@dataclass(frozen=True, slots=True)
class SweepReport:
    """Entries the sweep found past their deadline unanswered, by kind; `complete` is False when the
    invocation's time ran out first (the next sweep goes on)."""

    expired: dict[str, int]
    complete: bool = True


# How each kind of request is named in the metrics: DiscoveriesRequested, CommandsNeverAnswered, ...
METRIC_NOUNS: Final[dict[str, str]] = {DISCOVERY: "Discoveries", COMMAND: "Commands"}
