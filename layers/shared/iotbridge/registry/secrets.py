"""Connectors' secrets in Secrets Manager, and the one reading of Secrets Manager's answers: which mean that
there is no usable secret by that name, and which that the service is unavailable."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from iotbridge.clients import failure_of
from iotbridge.errors import DependencyUnavailableError
from iotbridge.signatures.standard_webhooks import SecretFormatError, parse_secrets, secret_values

from .cache import NEGATIVE_CACHE_SECONDS, CachedByName

logger = Logger(child=True)

# Answers that mean "no usable secret of that name": the connector is unknown, like a missing one.
# InvalidRequestException is what a secret scheduled for deletion answers.
NO_SECRET_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "ValidationException",
        "InvalidParameterException",
        "InvalidRequestException",
    }
)
# Answers that mean "no such secret, or not yours to read": the credential is unusable, not the service.
UNREADABLE_SECRET_CODES = NO_SECRET_CODES | {"AccessDeniedException", "DecryptionFailure"}


def read_secret(
    client: Any, *, purpose: str, dependency: str, unusable: frozenset[str] = NO_SECRET_CODES, **request: str
) -> dict[str, Any] | None:
    """GetSecretValue's answer to `request`; None when Secrets Manager answers with one of the `unusable`
    codes. Any other failure is logged as the `purpose` secret's and raised as DependencyUnavailableError
    naming `dependency`."""
    try:
        response: dict[str, Any] = client.get_secret_value(**request)
    except ClientError as exc:
        failure = failure_of(exc)
        if failure.code in unusable:
            return None
        logger.error(f"{purpose} secret lookup failed", extra={"error_code": failure.code})
        raise DependencyUnavailableError(dependency) from None
    except BotoCoreError as exc:
        logger.error(f"{purpose} secret lookup failed", extra={"error_code": type(exc).__name__})
        raise DependencyUnavailableError(dependency) from None
    return response


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
        response = read_secret(self._client, purpose="signing", dependency="secrets", SecretId=name)
        if response is None:
            return None, min(self._max_age, NEGATIVE_CACHE_SECONDS)
        secret_string = response.get("SecretString")
        if not isinstance(secret_string, str):
            self._unusable(name, "the secret holds binary data, not a SecretString")
            return None, self._max_age
        return secret_string, self._max_age
