"""Where the connector function sends a connector's requests: the device cloud's URL, secret and user-id claim
(the relay itself does not use them)."""

from __future__ import annotations

import urllib.parse
from typing import Annotated, Any

from pydantic import Field, PlainValidator, WithJsonSchema

from iotbridge.wire import CamelModel

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_URL_CHARS = 2048


def _device_cloud_url(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_URL_CHARS or not value.isascii():
        raise ValueError(f"must be a URL of at most {MAX_URL_CHARS} characters")
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port  # raises for a port that is not a number
    except ValueError:
        raise ValueError("is not a URL") from None
    whole = value.isprintable() and not any(ch.isspace() for ch in value)
    if not parts.hostname or parts.fragment or parts.username is not None or not whole:
        raise ValueError("must name a host, with no credentials and no fragment")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS and port is not None:
        return value  # a device cloud on this machine: the connector function takes it only when told to
    raise ValueError("must be an https:// URL (http:// only to a loopback address with a port)")


def is_loopback_url(url: str) -> bool:
    """Whether a (valid) device-cloud URL is plain HTTP to this machine."""
    return urllib.parse.urlsplit(url).scheme == "http"


DeviceCloudUrl = Annotated[
    str,
    PlainValidator(_device_cloud_url),
    WithJsonSchema({"type": "string", "format": "uri", "description": "An https:// URL."}),
]
SecretName = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9/_+=.@-]+$")]
ClaimName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_:.-]+$")]


class DeviceCloud(CamelModel):
    """Where the connector function hands managed integrations' requests to the device cloud: an outbound
    webhook to `url`, signed with Standard Webhooks v1 (the `whsec_` secret in `secret`, by default the
    connector's `<DeviceCloudSecretPrefix><connector id>`). `userIdClaim` names the claim of the user's OAuth
    access token (a JWT) that holds the user id; without it, the device cloud is asked."""

    url: DeviceCloudUrl
    secret: SecretName | None = None
    user_id_claim: ClaimName | None = None
