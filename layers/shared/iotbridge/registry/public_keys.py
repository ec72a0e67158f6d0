"""Senders' public keys fetched from the URLs their profiles name (a PEM per key id, a JWK set, an OpenID
configuration): over https only, from an allowed host, bounded in size and time, and cached.

- https:// only; http:// only to a loopback name (`localhost`, `127.0.0.1`, `::1`) when the deployment
  allows it (ALLOW_LOOPBACK_DEVICE_CLOUDS, the local stack); an address literal outside the public internet
  is refused, as for device-cloud URLs. No redirects are followed: a redirect could leave the allowed hosts.
- At most MAX_DOCUMENT_BYTES, each read bounded by TIMEOUT_SECONDS and the whole answer by the same deadline.
- Cached for the answer's `Cache-Control: max-age` (at least REFRESH_SECONDS, at most `max_age_seconds`,
  one hour by default). A caller that did not find its key in the cached copy asks for a refresh: fetched
  again at most once per REFRESH_SECONDS per URL, so made-up key ids cost one fetch a minute per URL.
- A failed fetch is remembered for REFRESH_SECONDS too, and fetches of URLs not cached share one budget (a
  burst, then a steady rate): key ids made up by the thousand cost a bounded number of requests.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from iotbridge.errors import DependencyUnavailableError
from iotbridge.profile.device_cloud import LOOPBACK_HOSTS, address_literal, is_internal_address
from iotbridge.webhook_receiver.ports import KeyUnavailableError

from .cache import LookupBudget

logger = Logger(child=True)

MAX_DOCUMENT_BYTES = 64 * 1024
TIMEOUT_SECONDS = 2.0
DEFAULT_MAX_AGE_SECONDS = 3600.0
REFRESH_SECONDS = 60.0
MAX_CACHED_URLS = 256
# Fetches of URLs not in the cache, per execution environment: a burst, then one every few seconds.
_FETCH_BURST = 10
_FETCHES_PER_SECOND = 0.2
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d{1,10})(?:$|[,\s])", re.IGNORECASE)
_READ_CHUNK = 16 * 1024


@dataclass(frozen=True, slots=True)
class _Entry:
    document: bytes | None  # None: the last fetch failed
    fetched_at: float
    expires_at: float


class HttpsPublicKeys:
    """The PublicKeys port over urllib (no new dependency), with a per-URL cache of bounded age."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        ca_certs: str | None = None,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        timeout_seconds: float = TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        fetches: LookupBudget | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._ca_certs = ca_certs
        self._max_age = max_age_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._fetches = fetches or LookupBudget(_FETCH_BURST, _FETCHES_PER_SECOND, clock=clock)
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._opener: Any = None

    def document(self, url: str, *, hosts: frozenset[str], refresh: bool = False) -> bytes:
        self._check(url, hosts)
        now = self._clock()
        with self._lock:
            entry = self._cache.get(url)
        if entry is not None:
            recent = now - entry.fetched_at < REFRESH_SECONDS
            fresh = now < entry.expires_at
            if (fresh and not refresh) or recent:
                if entry.document is None:
                    raise KeyUnavailableError("the last fetch failed")
                return entry.document
        try:
            self._fetches.take()
        except DependencyUnavailableError:
            raise KeyUnavailableError("too many key fetches") from None
        try:
            document, max_age = self._fetch(url)
        except KeyUnavailableError as exc:
            logger.warning("public key fetch failed", extra={"key_host": _host(url), "reason": str(exc)})
            self._keep(url, _Entry(None, now, now + REFRESH_SECONDS))
            raise
        ttl = min(self._max_age, max(REFRESH_SECONDS, max_age if max_age is not None else self._max_age))
        self._keep(url, _Entry(document, now, now + ttl))
        return document

    def _keep(self, url: str, entry: _Entry) -> None:
        with self._lock:
            self._cache[url] = entry
            self._cache.move_to_end(url)
            while len(self._cache) > MAX_CACHED_URLS:
                self._cache.popitem(last=False)

    def _check(self, url: str, hosts: frozenset[str]) -> None:
        """Refuse, before any request, a URL the profile does not allow."""
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError:
            raise KeyUnavailableError("not a URL") from None
        host = (parts.hostname or "").lower()
        if (
            not host
            or parts.username is not None
            or parts.fragment
            or not url.isascii()
            or not url.isprintable()
        ):
            raise KeyUnavailableError("not a URL the keys may come from")
        if host not in {h.lower() for h in hosts}:
            raise KeyUnavailableError("the host is not one the profile allows")
        loopback = self._allow_loopback and host in LOOPBACK_HOSTS
        if parts.scheme == "http" and loopback:
            return
        if parts.scheme != "https":
            raise KeyUnavailableError("keys are fetched over https only")
        address = address_literal(host)
        if address is not None and is_internal_address(address) and not loopback:
            raise KeyUnavailableError("an internal address")

    def _fetch(self, url: str) -> tuple[bytes, int | None]:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + self._timeout
        # S310: the scheme is https (or http to a loopback name when allowed), checked before this.
        request = urllib.request.Request(  # noqa: S310
            url, headers={"Accept": "application/json, application/x-pem-file, */*"}
        )
        try:
            with self._open(request) as answer:
                if answer.status != 200:
                    raise KeyUnavailableError(f"answered {answer.status}")
                length = answer.headers.get("Content-Length")
                if length is not None and length.isdigit() and int(length) > MAX_DOCUMENT_BYTES:
                    raise KeyUnavailableError("the document is too large")
                chunks: list[bytes] = []
                size = 0
                while True:
                    if time.monotonic() > deadline:
                        raise KeyUnavailableError("timeout")
                    chunk = answer.read(_READ_CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > MAX_DOCUMENT_BYTES:
                        raise KeyUnavailableError("the document is too large")
                    chunks.append(chunk)
                max_age = _max_age(answer.headers.get("Cache-Control"))
        except urllib.error.HTTPError as exc:
            raise KeyUnavailableError(f"answered {exc.code}") from None
        except (OSError, ValueError) as exc:  # URLError, timeouts, TLS failures, a malformed answer
            raise KeyUnavailableError(type(exc).__name__) from None
        return b"".join(chunks), max_age

    def _open(self, request: Any) -> Any:
        if self._opener is None:
            import ssl
            import urllib.request

            class NoRedirects(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                    return None  # urllib then raises HTTPError with the 3xx status

            context = ssl.create_default_context(cafile=self._ca_certs)
            # No proxy from the environment: the checks above are about the host connected to.
            self._opener = urllib.request.build_opener(
                urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context), NoRedirects()
            )
        return self._opener.open(request, timeout=self._timeout)


def _max_age(cache_control: str | None) -> int | None:
    if not cache_control or len(cache_control) > 512:
        return None
    found = _MAX_AGE.search(cache_control)
    return int(found.group(1)) if found else None


def _host(url: str) -> str:
    return (urllib.parse.urlsplit(url).hostname or "")[:253]
