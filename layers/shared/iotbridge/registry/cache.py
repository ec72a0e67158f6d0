"""What the registry's adapters share: a bounded cache whose entries expire, and one budget of lookups of
what is not cached, so that a flood of made-up connector ids costs a bounded number of calls."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from iotbridge.errors import DependencyUnavailableError

# Unknown connectors are remembered for less time than known ones, so a new connector's secret is
# picked up quickly while repeated requests for a made-up id cost one lookup a minute.
NEGATIVE_CACHE_SECONDS = 60.0
_MAX_CACHED_CONNECTORS = 4096
# Lookups of connectors not in the cache, per execution environment: a burst, then a steady rate. A flood
# of made-up ids beyond it is answered "try again later" without a Secrets Manager call each.
_LOOKUP_BURST = 50
_LOOKUPS_PER_SECOND = 10.0


class LookupBudget:
    """How many lookups of things not in a cache one execution environment may make: a burst, then a steady
    rate (a token bucket). Shared by the secrets and the profiles, so a flood of made-up connector ids costs
    a bounded number of calls to either."""

    def __init__(
        self,
        burst: int = _LOOKUP_BURST,
        rate: float = _LOOKUPS_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._burst, self._rate, self._clock = burst, rate, clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> None:
        """Spend one lookup, or raise DependencyUnavailableError when none is left now."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            if self._tokens < 1:
                raise DependencyUnavailableError("lookup_rate")
            self._tokens -= 1


class ExpiringCache[K, V]:
    """A bounded cache whose entries each expire at their own time (least recently used dropped first)."""

    def __init__(self, size: int, clock: Callable[[], float]) -> None:
        self._size, self._clock = size, clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> tuple[bool, V | None]:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or hit[0] <= self._clock():
                return False, None
            self._entries.move_to_end(key)
            return True, hit[1]

    def put(self, key: K, value: V, ttl: float) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


class CachedByName[V]:
    """What an adapter reads by name under a prefix: its client, the answers it remembers for a bounded age
    (at most so many names), and the lookup budget it shares with the others."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        lookups: LookupBudget | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._max_age = max_age_seconds
        self._cache: ExpiringCache[str, V] = ExpiringCache(_MAX_CACHED_CONNECTORS, clock)
        self._lookups = lookups or LookupBudget(clock=clock)
