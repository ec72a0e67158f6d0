"""What crosses the receiver's Lambda edge: an API Gateway HTTP API event (payload 2.0) read into a
WebhookRequest, and an Answer rendered as the response, with its log line."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools import Logger

from iotbridge.errors import PermanentError

from .domain.intake import Answer, WebhookRequest

_JSON_HEADERS = {"content-type": "application/json"}


class UndecodableBodyError(PermanentError):
    """The event says its body is base64, and it is not."""


def read_request(event: dict[str, Any]) -> WebhookRequest:
    """The request as sent. Raises UndecodableBodyError when an encoded body cannot be decoded."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise UndecodableBodyError("the body is not valid base64") from None
    else:
        # API Gateway sends UTF-8 text; a direct invoke may not. Whatever arrives is checked as these bytes.
        body = raw.encode("utf-8", errors="surrogatepass")
    path_parameters = event.get("pathParameters") or {}
    http = (event.get("requestContext") or {}).get("http") or {}
    return WebhookRequest(
        connector_id=path_parameters.get("connectorId"),
        headers=headers,
        body=body,
        method=str(http.get("method") or "POST").upper(),
        path=str(event.get("rawPath") or http.get("path") or ""),
        query=str(event.get("rawQueryString") or ""),
        source_ip=_text(http.get("sourceIp")),
        path_token=_text(path_parameters.get("token")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def http_response(answer: Answer) -> dict[str, Any]:
    return {
        "statusCode": answer.status,
        "headers": {**_JSON_HEADERS, **answer.headers},
        "body": json.dumps(answer.body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def log_outcome(logger: Logger, answer: Answer) -> None:
    # Accepted webhooks are counted by the metrics and by the forwarder's batch lines, so theirs is a DEBUG
    # line (a Powertools log line would add its formatting and write to every warm request); rejections
    # are INFO.
    if answer.status >= 500:
        log = logger.warning
    elif answer.status >= 300:
        log = logger.info
    else:
        log = logger.debug
    log(
        "webhook handled", extra={"status": answer.status, "outcome": answer.outcome, "queued": answer.queued}
    )
