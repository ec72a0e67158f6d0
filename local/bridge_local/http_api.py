"""An API Gateway HTTP API on loopback: requests become payload format 2.0 events, results become responses.

What it reproduces is what a handler can observe: the event's shape (lower-cased headers with repeated
ones comma-joined, cookies, raw and parsed query string, path parameters, request context, text or
base64 body) and how API Gateway turns the handler's result back into HTTP, including its 404 for an
unknown route and its 500 when the function fails.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from loopback import LOOPBACK, LoopbackHandler, LoopbackServer

from .lambda_runtime import LOCAL_ACCOUNT_ID, FunctionError, Invoker

log = logging.getLogger("bridge_local.http_api")

API_ID = "localapi"
# API Gateway's quota on an HTTP API request payload.
MAX_REQUEST_BYTES = 10 * 1024 * 1024
_TEXT_TYPES = re.compile(
    r"^(text/[^;]+|application/([\w.+-]*\+)?(json|xml)|application/(javascript|x-www-form-urlencoded))\s*(;|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Route:
    """`POST /connectors/{connectorId}/events` served by `function`."""

    route_key: str
    function: Invoker
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        method, _, template = self.route_key.partition(" ")
        if not method or not template.startswith("/"):
            raise ValueError(f"route key {self.route_key!r} is not 'METHOD /path'")
        parts = []
        for segment in template.split("/")[1:]:
            greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
            single = re.fullmatch(r"\{(\w+)\}", segment)
            if greedy:
                parts.append(f"(?P<{greedy.group(1)}>.+)")
            elif single:
                parts.append(f"(?P<{single.group(1)}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        object.__setattr__(self, "_pattern", re.compile("/" + "/".join(parts)))

    @property
    def method(self) -> str:
        return self.route_key.split(" ", 1)[0].upper()

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        if method.upper() != self.method and self.method != "ANY":
            return None
        found = self._pattern.fullmatch(raw_path)
        if found is None:
            return None
        return {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}


def is_text(content_type: str | None) -> bool:
    return bool(content_type) and bool(_TEXT_TYPES.match(content_type or ""))


def build_event(
    *,
    route: Route,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    source_ip: str,
    path_parameters: Mapping[str, str],
    now: float | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends for one request."""
    now = time.time() if now is None else now
    raw_path, _, raw_query = target.partition("?")
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    query: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    request_id = request_id or base64.b32encode(uuid.uuid4().bytes[:10]).decode().rstrip("=")
    domain = joined.get("host", f"{API_ID}.execute-api.localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": joined,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": method.upper(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        text = _as_text(body) if is_text(joined.get("content-type")) else None
        if text is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


def _as_text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def to_http_response(result: Any) -> HttpResponse:
    """How API Gateway maps a payload 2.0 function result to HTTP.

    A dict with `statusCode` is taken as the response; anything else is inferred to be a JSON body for a 200.
    """
    if isinstance(result, dict) and "statusCode" in result:
        headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.extend((str(name), str(v)) for v in values)
        headers.extend(("Set-Cookie", str(c)) for c in result.get("cookies") or ())
        raw = result.get("body")
        text = raw if isinstance(raw, str) else ("" if raw is None else json.dumps(raw))
        body = base64.b64decode(text) if result.get("isBase64Encoded") else text.encode("utf-8")
        return HttpResponse(status=int(result["statusCode"]), headers=headers, body=body)
    text = result if isinstance(result, str) else json.dumps(result)
    return HttpResponse(status=200, headers=[("Content-Type", "application/json")], body=text.encode("utf-8"))


def _message(status: int, text: str) -> HttpResponse:
    return HttpResponse(
        status=status,
        headers=[("Content-Type", "application/json")],
        body=json.dumps({"message": text}).encode("utf-8"),
    )


NOT_FOUND = _message(404, "Not Found")
INTERNAL_ERROR = _message(500, "Internal Server Error")
TOO_LARGE = _message(413, "Request Entity Too Large")


class HttpApi(LoopbackServer):
    """Serves routes on a loopback port the way an HTTP API's `$default` stage does."""

    thread_name = "http-api"

    def __init__(self, routes: Sequence[Route], *, port: int = 0, host: str = LOOPBACK) -> None:
        self.routes = list(routes)
        super().__init__(_handler_for(self), host=host, port=port)

    def respond(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes, source_ip: str
    ) -> HttpResponse:
        raw_path = target.partition("?")[0]
        for route in self.routes:
            params = route.match(method, raw_path)
            if params is None:
                continue
            event = build_event(
                route=route,
                method=method,
                target=target,
                headers=headers,
                body=body,
                source_ip=source_ip,
                path_parameters=params,
            )
            try:
                result = route.function.invoke(event)
            except FunctionError as exc:
                log.error("%s failed: %s: %s", route.route_key, exc.error_type, exc.error_message)
                return INTERNAL_ERROR
            except Exception as exc:
                log.error("%s could not be invoked: %s", route.route_key, exc)
                return INTERNAL_ERROR
            try:
                response = to_http_response(result)
            except (ValueError, TypeError, KeyError) as exc:
                log.error("%s returned a malformed response: %s", route.route_key, exc)
                return INTERNAL_ERROR
            return HttpResponse(
                response.status,
                [*response.headers, ("apigw-requestid", event["requestContext"]["requestId"])],
                response.body,
            )
        return NOT_FOUND


def _handler_for(api: HttpApi) -> type[LoopbackHandler]:
    class ApiRequest(LoopbackHandler):
        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self.close_connection = True
                self._write(TOO_LARGE)
                return
            body = self.read_body(length)
            headers: Message = self.headers
            response = api.respond(
                self.command, self.path, list(headers.items()), body, self.client_address[0]
            )
            self._write(response)

        def _write(self, response: HttpResponse) -> None:
            names = {name.lower() for name, _ in response.headers}
            headers = [
                (name, value)
                for name, value in response.headers
                if name.lower() not in {"content-length", "connection", "transfer-encoding"}
            ]
            if "content-type" not in names and response.body:
                headers.append(("Content-Type", "application/json"))
            self.answer(response.status, response.body, headers)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    return ApiRequest
