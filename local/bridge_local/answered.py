"""botocore clients whose HTTP layer is answered in this process: requests are serialised, signed and sent
exactly as to AWS, and a Python function answers them in place of the network. Tests and benchmarks use
them to run the real client-side work (serialisation, signing, parsing) against in-memory services."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

# (request, operation name) -> response
Answer = Callable[[AWSPreparedRequest, str], AWSResponse]


class _Body:
    def __init__(self, content: bytes) -> None:
        self.content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.content


def json_response(
    url: str,
    status: int,
    payload: Any = None,
    *,
    error_code: str | None = None,
    headers: dict[str, str] | None = None,
) -> AWSResponse:
    """A JSON answer; with `error_code`, an AWS error of that code, as JSON services send it."""
    sent = {"content-type": "application/json", "x-amzn-RequestId": "00000000-0000-4000-8000-000000000000"}
    if error_code is not None:
        sent["x-amzn-ErrorType"] = f"{error_code}:http://internal.amazon.com/coral/"
    body = b"" if payload is None else json.dumps(payload).encode()
    return AWSResponse(url, status, {**sent, **(headers or {})}, _Body(body))


def raw_response(url: str, status: int, body: bytes, headers: dict[str, str] | None = None) -> AWSResponse:
    """An answer exactly as given (a proxy's page, a body that is not what the API documents)."""
    return AWSResponse(url, status, headers or {}, _Body(body))


def answered_client(service: str, answer: Answer, *, attempts: int = 1, **config: Any) -> Any:
    """A client of `service` whose every request `answer` answers. Config keywords go to botocore."""
    # Imported here: the answers alone (json_response) must not load the client factory, so that a
    # benchmark can answer clients after a handler's init without doing any of its work for it.
    from .aws import local_client

    client = local_client(service, f"https://{service}.us-east-1.amazonaws.com", attempts=attempts, **config)

    def serve(request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        return answer(request, event_name.rsplit(".", 1)[-1])

    client.meta.events.register(f"before-send.{client.meta.service_model.service_id.hyphenize()}", serve)
    return client
