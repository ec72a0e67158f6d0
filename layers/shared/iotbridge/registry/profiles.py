"""Connectors' profiles in SSM Parameter Store, parsed and cached; a profile that does not validate is
remembered as unusable for the cache period."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from iotbridge.clients import failure_of
from iotbridge.errors import DependencyUnavailableError
from iotbridge.profile.document import ConnectorProfile, ProfileError, parse_profile_json
from iotbridge.signatures.standard_webhooks import SignatureError

from .cache import NEGATIVE_CACHE_SECONDS, CachedByName

logger = Logger(child=True)
_LOGGED_CHARS = 300  # of each problem in the log line of an unusable profile


class Unusable:
    """A cached answer: the parameter exists and does not validate."""


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
                return None, min(self._max_age, NEGATIVE_CACHE_SECONDS)
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
                # Bounded: a profile's problems can quote long paths of its own (a map's keys).
                extra={"parameter": name, "problems": [d[:_LOGGED_CHARS] for d in exc.descriptions()[:20]]},
            )
            return Unusable(), self._max_age
        return profile, self._max_age
