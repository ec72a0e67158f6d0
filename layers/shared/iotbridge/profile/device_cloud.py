"""Where the connector function sends a connector's requests: the device cloud's URL, secret, user-id claim,
and where its answer to a command carries its own request id (the relay itself does not use them)."""

import ipaddress
import socket
import urllib.parse
from typing import Annotated, Any

from pydantic import Field, PlainValidator, WithJsonSchema

from iotbridge.wire import CamelModel

from .expressions import ExpressionText

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_URL_CHARS = 2048
# IPv6 prefixes whose last 32 bits are the IPv4 address a packet ends up at: NAT64's well-known prefix, and
# the deprecated IPv4-compatible form.
_CARRIES_IPV4 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::/96"))

type Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_literal(host: str) -> Address | None:
    """The address a URL's host names literally, in any spelling the resolver reads as an address (short
    dotted forms, a whole integer, hex and octal parts: `127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`);
    None for a name."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if ":" in host or not host:
        return None
    try:
        # inet_aton is what getaddrinfo reads an IPv4 literal with, every legacy spelling included.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def is_internal_address(address: Address) -> bool:
    """Whether an address is outside the public internet: loopback, private, link-local (the metadata
    services' 169.254.169.254, 169.254.170.2, fd00:ec2::254 among them), shared (CGNAT), unique local,
    multicast, reserved or unspecified, or an IPv6 address that carries such an IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or address.sixtofour
        if carried is None and address.teredo is not None:
            carried = address.teredo[1]
        if carried is None and any(address in network for network in _CARRIES_IPV4) and int(address) > 1:
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None and is_internal_address(carried):
            return True
    return not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified


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
        address = address_literal(parts.hostname)
        if address is not None and is_internal_address(address):
            # A name that resolves to one is refused when the connector function connects.
            raise ValueError("must not name an internal address (loopback, private, link-local, metadata)")
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
    access token (a JWT) that holds the user id; without it, the device cloud is asked. `requestId` finds, in
    the JSON of the device cloud's answer to a command (`{"requestId": "68c4..."}`: `requestId`), the cloud's
    own id of the command, for a cloud whose webhooks name that id rather than the traceId: the connector
    function records which command it is, and a profile's `{"lookup": "command"}` member finds it again."""

    url: DeviceCloudUrl
    secret: SecretName | None = None
    user_id_claim: ClaimName | None = None
    request_id: ExpressionText | None = None
