"""The fetcher of senders' public keys, against a real HTTP server on 127.0.0.1: what it refuses before any
request, the bounds on what it reads, and how long it keeps what it fetched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.key_server import KeyServer, key_server
from iotbridge.registry.public_keys import (
    DEFAULT_MAX_AGE_SECONDS,
    MAX_DOCUMENT_BYTES,
    REFRESH_SECONDS,
    TIMEOUT_SECONDS,
    HttpsPublicKeys,
)
from iotbridge.webhook_receiver.ports import KeyUnavailableError

LOOPBACK = frozenset({"127.0.0.1"})
PEM = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"


@pytest.fixture
def server() -> Iterator[KeyServer]:
    with key_server() as running:
        yield running


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fetcher(clock: Clock | None = None, *, timeout_seconds: float = TIMEOUT_SECONDS) -> HttpsPublicKeys:
    return HttpsPublicKeys(allow_loopback=True, clock=clock or Clock(), timeout_seconds=timeout_seconds)


def refused(keys: HttpsPublicKeys, url: str, hosts: frozenset[str] = LOOPBACK) -> str:
    with pytest.raises(KeyUnavailableError) as caught:
        keys.document(url, hosts=hosts)
    return str(caught.value)


def test_a_document_is_fetched_once_and_kept(server: KeyServer) -> None:
    url = server.serve("/k1", PEM)
    keys = fetcher()

    documents = [keys.document(url, hosts=LOOPBACK) for _ in range(3)]

    assert documents == [PEM] * 3
    assert server.fetches("/k1") == 1


def test_plain_http_to_loopback_is_refused_unless_the_deployment_allows_it(server: KeyServer) -> None:
    url = server.serve("/k1", PEM)

    assert refused(HttpsPublicKeys(), url) == "keys are fetched over https only"
    assert server.received == []


@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        ("http://example.com/k1", frozenset({"example.com"})),  # plain HTTP off loopback
        ("ftp://127.0.0.1/k1", LOOPBACK),
        ("file:///etc/passwd", frozenset({""})),
        ("https://169.254.169.254/latest/meta-data", frozenset({"169.254.169.254"})),  # the metadata service
        ("https://10.0.0.1/k1", frozenset({"10.0.0.1"})),
        ("https://user:pass@key.example.com/k1", frozenset({"key.example.com"})),
        ("https://key.example.com.evil.example/k1", frozenset({"key.example.com"})),  # off the allowed hosts
    ],
)
def test_a_url_the_profile_does_not_allow_is_refused_before_any_request(
    url: str, hosts: frozenset[str]
) -> None:
    with pytest.raises(KeyUnavailableError):
        HttpsPublicKeys(allow_loopback=True).document(url, hosts=hosts)


def test_a_host_off_the_list_is_refused_with_no_request(server: KeyServer) -> None:
    url = server.serve("/k1", PEM)

    refused(fetcher(), url, hosts=frozenset({"key.smartthings.com"}))

    assert server.received == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_document_over_64_kib_is_refused(server: KeyServer, chunked: bool) -> None:
    url = server.serve("/big", b"x" * (MAX_DOCUMENT_BYTES + 1), chunked=chunked)

    assert refused(fetcher(), url) == "the document is too large"


def test_a_document_of_64_kib_is_taken(server: KeyServer) -> None:
    url = server.serve("/big", b"x" * MAX_DOCUMENT_BYTES, chunked=True)

    assert len(fetcher().document(url, hosts=LOOPBACK)) == MAX_DOCUMENT_BYTES


def test_a_redirect_is_not_followed(server: KeyServer) -> None:
    target = server.serve("/elsewhere", PEM)
    url = server.serve("/k1", b"", status=302, headers={"Location": target})

    assert refused(fetcher(), url) == "answered 302"
    assert server.received == ["/k1"]


def test_an_answer_slower_than_the_timeout_is_refused(server: KeyServer) -> None:
    url = server.serve("/slow", PEM, delay=1.0)

    assert refused(fetcher(timeout_seconds=0.2), url) == "TimeoutError"


def test_an_error_answer_is_refused_and_remembered_for_a_minute(server: KeyServer) -> None:
    # GIVEN a key URL that answers 404
    url = server.url("/missing")
    clock = Clock()
    keys = fetcher(clock)

    # WHEN it is asked for three times: now, within the minute, and after it
    first = refused(keys, url)
    refused(keys, url)
    clock.now += REFRESH_SECONDS
    refused(keys, url)

    # THEN it was fetched twice
    assert first == "answered 404"
    assert server.fetches("/missing") == 2


@pytest.mark.parametrize(
    ("cache_control", "kept_for"),
    [
        (
            "public, max-age=19870, must-revalidate, no-transform",
            DEFAULT_MAX_AGE_SECONDS,
        ),  # Google's, bounded
        ("max-age=600", 600.0),
        ("max-age=0", REFRESH_SECONDS),  # at least a minute
        (None, DEFAULT_MAX_AGE_SECONDS),
    ],
)
def test_a_document_is_kept_for_its_max_age_within_bounds(
    server: KeyServer, cache_control: str | None, kept_for: float
) -> None:
    # GIVEN a document with its Cache-Control
    url = server.serve("/certs", PEM, headers={"Cache-Control": cache_control} if cache_control else {})
    clock = Clock()
    keys = fetcher(clock)
    keys.document(url, hosts=LOOPBACK)

    # WHEN it is asked for just before and at the end of the time it is kept
    clock.now = kept_for - 1
    keys.document(url, hosts=LOOPBACK)
    before = server.fetches("/certs")
    clock.now = kept_for
    keys.document(url, hosts=LOOPBACK)

    # THEN it was fetched again only at the end
    assert (before, server.fetches("/certs")) == (1, 2)


def test_a_refresh_fetches_again_at_most_once_a_minute(server: KeyServer) -> None:
    url = server.serve("/certs", PEM)
    clock = Clock()
    keys = fetcher(clock)
    keys.document(url, hosts=LOOPBACK)

    keys.document(url, hosts=LOOPBACK, refresh=True)
    clock.now = REFRESH_SECONDS - 1
    keys.document(url, hosts=LOOPBACK, refresh=True)
    within_a_minute = server.fetches("/certs")
    clock.now = REFRESH_SECONDS
    keys.document(url, hosts=LOOPBACK, refresh=True)

    assert (within_a_minute, server.fetches("/certs")) == (1, 2)


def test_fetches_of_many_made_up_urls_are_bounded(server: KeyServer) -> None:
    # GIVEN key ids made up by the hundred (each its own URL)
    keys = fetcher()

    # WHEN each is asked for
    for number in range(100):
        with pytest.raises(KeyUnavailableError):
            keys.document(server.url(f"/made-up-{number}"), hosts=LOOPBACK)

    # THEN only a burst of them reached the key host
    assert 0 < len(server.received) <= 10
