"""A connector's configuration, read by name and cached: its profile (an SSM parameter) and its secrets
(Secrets Manager), under one budget of lookups of what is not cached.

Used by the webhook receiver (the signing secret and profile of the connector a webhook is for) and by the
connector function (the profile's device cloud, and the secret its outbound webhooks are signed with). Each
adapter takes a botocore client and is the only code that sees that client's errors: they become
DependencyUnavailableError.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from iotbridge.clients import failure_of
from iotbridge.errors import DependencyUnavailableError
from iotbridge.profile import ConnectorProfile, ProfileError, parse_profile_json
from iotbridge.signatures.standard_webhooks import (
    SecretFormatError,
    SignatureError,
    parse_secrets,
    secret_values,
)

logger = Logger(child=True)

# Answers that mean "no usable secret of that name": the connector is unknown, like a missing one.
# InvalidRequestException is what a secret scheduled for deletion answers.
_NO_SECRET_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "ValidationException",
        "InvalidParameterException",
        "InvalidRequestException",
    }
)
# Unknown connectors are remembered for less time than known ones, so a new connector's secret is
# picked up quickly while repeated requests for a made-up id cost one lookup a minute.
_NEGATIVE_CACHE_SECONDS = 60.0
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


class Unusable:
    """A cached answer: the parameter exists and does not validate."""


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


class SecretsManagerSigningKeys(CachedByName[str | None]):
    """Each connector's secret is `<prefix><connector id>` (or the one its profile names, under the same
    prefix); cached with a bounded age.

    A connector whose secret is missing, scheduled for deletion or holds no usable value is unknown (the same
    single 401 for all: a caller cannot tell which secrets exist). An unusable secret is the operator's to
    fix: it is logged when it is read, once per cache period, and remembered for that period.
    """

    def keys_for(self, connector_id: str) -> tuple[bytes, ...] | None:
        name = self._prefix + connector_id
        secret_string = self._secret_string(name)
        if secret_string is None:
            return None
        try:
            return parse_secrets(secret_string)
        except SecretFormatError as exc:
            self._unusable(name, str(exc))
            return None

    def secret_values(self, connector_id: str, secret_name: str | None) -> tuple[str, ...] | None:
        name = secret_name or self._prefix + connector_id
        if not name.startswith(self._prefix):
            # The function may read only secrets under the prefix (its IAM policy says so).
            self._unusable(name, "a profile's secret must be named under the signing secret prefix")
            return None
        secret_string = self._secret_string(name)
        values = secret_values(secret_string) if secret_string is not None else ()
        return values or None

    def _secret_string(self, name: str) -> str | None:
        cached, value = self._cache.get(name)
        if cached:
            return value
        self._lookups.take()
        value, ttl = self._fetch(name)
        self._cache.put(name, value, ttl)
        return value

    def _unusable(self, name: str, problem: str) -> None:
        logger.warning(
            "signing secret is unusable: requests for this connector are refused until it is fixed",
            extra={"secret": name, "problem": problem},
        )
        # Remembered unusable for the cache period: one log line a period, not one per request.
        self._cache.put(name, None, self._max_age)

    def _fetch(self, name: str) -> tuple[str | None, float]:
        """The secret's text (None: no usable secret) and how long to remember the answer."""
        try:
            response = self._client.get_secret_value(SecretId=name)
        except ClientError as exc:
            failure = failure_of(exc)
            if failure.code in _NO_SECRET_CODES:
                return None, min(self._max_age, _NEGATIVE_CACHE_SECONDS)
            logger.error("signing secret lookup failed", extra={"error_code": failure.code})
            raise DependencyUnavailableError("secrets") from None
        except BotoCoreError as exc:
            logger.error("signing secret lookup failed", extra={"error_code": type(exc).__name__})
            raise DependencyUnavailableError("secrets") from None
        secret_string = response.get("SecretString")
        if not isinstance(secret_string, str):
            self._unusable(name, "the secret holds binary data, not a SecretString")
            return None, self._max_age
        return secret_string, self._max_age


class SsmConnectorProfiles(CachedByName[ConnectorProfile | Unusable | None]):
    """Each connector's profile is the SSM parameter `<prefix><connector id>` (a JSON document), cached with a
    bounded age; no parameter means no profile.

    Read with a botocore client, not Powertools Parameters: that utility imports boto3, which the functions
    otherwise never load (40-60 ms more at import with botocore already loaded, `python -X importtime`), and
    its cache would not share the lookup budget that bounds calls for made-up connector ids. SSM rather than
    AppConfig: a profile is one small document per connector, read by name with one call and one IAM
    statement; AppConfig's deployment strategies and session tokens buy nothing for that. A profile that
    does not validate is logged (its problems, never its values) once per cache period, and its connector
    is refused like an unknown one until it is fixed.
    """

    def profile_for(self, connector_id: str) -> ConnectorProfile | None:
        cached, found = self._cache.get(connector_id)
        if not cached:
            self._lookups.take()
            found, ttl = self._fetch(connector_id)
            self._cache.put(connector_id, found, ttl)
        if isinstance(found, Unusable):
            raise SignatureError("unusable_profile")
        return found

    def _fetch(self, connector_id: str) -> tuple[ConnectorProfile | Unusable | None, float]:
        name = self._prefix + connector_id
        try:
            response = self._client.get_parameter(Name=name)
        except ClientError as exc:
            failure = failure_of(exc)
            if failure.code == "ParameterNotFound":
                return None, min(self._max_age, _NEGATIVE_CACHE_SECONDS)
            logger.error("connector profile lookup failed", extra={"error_code": failure.code})
            raise DependencyUnavailableError("profiles") from None
        except BotoCoreError as exc:
            logger.error("connector profile lookup failed", extra={"error_code": type(exc).__name__})
            raise DependencyUnavailableError("profiles") from None
        try:
            profile = parse_profile_json(response.get("Parameter", {}).get("Value") or "")
        except ProfileError as exc:
            logger.error(
                "connector profile is invalid: requests for this connector are refused until it is fixed",
                extra={"parameter": name, "problems": exc.descriptions()[:20]},
            )
            return Unusable(), self._max_age
        return profile, self._max_age
