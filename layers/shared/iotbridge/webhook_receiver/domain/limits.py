"""Per-connector rate limits, held across execution environments by leases on a shared bucket.

Each connector has one token bucket (rate per second, burst), shared by every execution environment
through the RateBuckets port. An environment does not ask it for every webhook: it leases `lease_size`
tokens at once and spends them locally, until they are gone or the lease is LEASE_SECONDS old (what is
left then is dropped, never returned). So a webhook costs a fraction of a call (1 / lease size), and the
bucket is exceeded by at most what the environments hold in leases: environments x lease size tokens.

An empty bucket is remembered until its next token refills: a storm's 429s cost no call at all. A bucket
that cannot be reached lets webhooks through (counted) and is not asked again for UNAVAILABLE_BACKOFF
seconds: a limit protects the relay; it must not become the reason it refuses every delivery.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from iotbridge.profile.limits import ConnectorLimits

from ..ports import DependencyUnavailableError, RateBuckets

LEASE_SECONDS = 1.0
MAX_LEASE = 100
UNAVAILABLE_BACKOFF = 1.0
# Connectors an environment keeps leases for; past it they are all forgotten (leases are cheap to retake).
MAX_CONNECTORS = 4096


def lease_size(limits: ConnectorLimits) -> int:
    """Tokens an environment takes at once: a tenth of the burst, at least 1, at most MAX_LEASE."""
    return max(1, min(limits.burst // 10, MAX_LEASE))


@dataclass(frozen=True, slots=True)
class Verdict:
    admitted: bool
    # Seconds until the bucket has a token again (a 429's Retry-After), when not admitted.
    retry_after: int = 0
    # Admitted unchecked: the bucket could not be reached.
    unavailable: bool = False


ADMITTED = Verdict(admitted=True)
UNCHECKED = Verdict(admitted=True, unavailable=True)


@dataclass(slots=True)
class _Lease:
    tokens: int = 0
    taken_at: float = 0.0
    empty_until: float = 0.0  # the shared bucket had no token for us before this time
    unavailable_until: float = 0.0


class ConnectorLimiter:
    """Admits a verified webhook of a connector, or says when to come back."""

    def __init__(
        self,
        buckets: RateBuckets,
        *,
        default: ConnectorLimits | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._buckets = buckets
        self._default = default
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        # The local stack's relay serves requests on threads; Lambda's one at a time.
        self._lock = threading.Lock()

    def limits_for(self, own: ConnectorLimits | None) -> ConnectorLimits | None:
        """The connector's profile's limits, or the deployment's default (None: no limit)."""
        return own if own is not None else self._default

    def admit(self, connector_id: str, limits: ConnectorLimits) -> Verdict:
        now = self._clock()
        with self._lock:
            lease = self._leases.get(connector_id)
            if lease is None:
                if len(self._leases) >= MAX_CONNECTORS:
                    self._leases.clear()
                lease = self._leases[connector_id] = _Lease()
            if now < lease.empty_until:
                return Verdict(admitted=False, retry_after=_whole_seconds(lease.empty_until - now))
            if lease.tokens > 0 and now - lease.taken_at < LEASE_SECONDS:
                lease.tokens -= 1
                return ADMITTED
            if now < lease.unavailable_until:
                return UNCHECKED
            try:
                grant = self._buckets.take(connector_id, limits, lease_size(limits), now)
            except DependencyUnavailableError:
                lease.tokens = 0
                lease.unavailable_until = now + UNAVAILABLE_BACKOFF
                return UNCHECKED
            if grant.tokens < 1:
                lease.tokens = 0
                lease.empty_until = now + grant.retry_after_seconds
                return Verdict(admitted=False, retry_after=_whole_seconds(grant.retry_after_seconds))
            lease.tokens = grant.tokens - 1
            lease.taken_at = now
            return ADMITTED


def _whole_seconds(seconds: float) -> int:
    # Retry-After is whole seconds; rounding down would send the sender back before the token is there.
    return max(1, math.ceil(seconds))
