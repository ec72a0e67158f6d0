"""How a device cloud signs its webhooks: one model per signature scheme, and what tells deliveries apart."""

import ipaddress
import re
import urllib.parse
from collections.abc import Sequence
from typing import Annotated, Any, Literal, assert_never, get_args

from pydantic import (
    AfterValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

from iotbridge.wire import CamelModel

from .device_cloud import MAX_URL_CHARS, _device_cloud_url
from .expressions import _PLACEHOLDER, ExpressionText, HeaderName

MAX_TOLERANCE_SECONDS = 3600


class StandardWebhooksScheme(CamelModel):
    """Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature` with `v1` (HMAC-SHA256, a
    `whsec_` secret) and, when listed, `v1a` (ed25519, a `whpk_` public key) entries."""

    scheme: Literal["standard-webhooks"]
    versions: Annotated[list[Literal["v1", "v1a"]], Field(min_length=1, max_length=2)] = ["v1"]
    tolerance_seconds: Annotated[StrictInt, Field(ge=1, le=MAX_TOLERANCE_SECONDS)] = 300

    @property
    def message_id_header(self) -> str:
        return "webhook-id"


class EntryList(CamelModel):
    """A signature header that lists entries, e.g. `t=1700000000,v1=<hex>,v1=<hex>` (keys) or several
    signatures separated by spaces (no keys)."""

    separator: Annotated[str, Field(min_length=1, max_length=1)] = ","
    # The key of a signature entry (`v1`); None: every entry is a signature.
    signature_key: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    # The key of the entry holding the signed timestamp (`t`), when the header carries it.
    timestamp_key: Annotated[str, Field(min_length=1, max_length=16)] | None = None


class HmacScheme(CamelModel):
    """A keyed hash over the raw body (and what the content template adds), in a header of the sender's
    choosing: GitHub, Slack, Stripe, Shopify, EventBridge's HMAC settings."""

    scheme: Literal["hmac"]
    signature_header: HeaderName
    algorithm: Literal["sha256", "sha1", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: Annotated[str, Field(max_length=32)] = ""
    entries: EntryList | None = None
    # What is signed: the raw body last, after any of {timestamp} and {id}: "{body}", "{timestamp}.{body}",
    # "v0:{timestamp}:{body}", "{id}.{timestamp}.{body}".
    signed_content: Annotated[str, Field(min_length=6, max_length=64)] = "{body}"
    timestamp_header: HeaderName | None = None
    tolerance_seconds: Annotated[StrictInt, Field(ge=1, le=MAX_TOLERANCE_SECONDS)] = 300
    message_id_header: HeaderName | None = None
    # How the stored secret becomes the HMAC key: its UTF-8 bytes (GitHub, Slack, Stripe, Shopify), or base64
    # (after an optional whsec_ prefix).
    secret_encoding: Literal["utf8", "base64"] = "utf8"  # noqa: S105 - an encoding's name

    @model_validator(mode="after")
    def _content_is_signed_consistently(self) -> "HmacScheme":
        content = self.signed_content
        names = _PLACEHOLDER.findall(content)
        if not content.endswith("{body}") or names.count("body") != 1:
            raise ValueError("signedContent must end with {body}, once")
        unknown = sorted(set(names) - {"body", "timestamp", "id"})
        if unknown:
            raise ValueError(
                f"signedContent knows {{body}}, {{timestamp}} and {{id}}, not {', '.join(unknown)}"
            )
        timestamp_source = self.timestamp_header or (self.entries and self.entries.timestamp_key)
        if ("timestamp" in names) != bool(timestamp_source):
            raise ValueError(
                "a timestamp is signed exactly when the request carries one: {timestamp} in signedContent "
                "needs timestampHeader (or entries.timestampKey), and either of those needs {timestamp}"
            )
        if "id" in names and not self.message_id_header:
            raise ValueError("{id} in signedContent needs messageIdHeader")
        return self


class TokenScheme(CamelModel):
    """A static token in a header, compared with the whole value (EventBridge's static token)."""

    scheme: Literal["token"]
    header: HeaderName

    @property
    def message_id_header(self) -> None:
        return None


# --- Schemes verified with a sender's public key: no shared secret ------------------------------------------

# A key id as a request names it: SmartThings' look like `/pl/useast2/1a-2b-...`. A key URL template is filled
# with it, so it can add path segments but not leave the host, the path (`..`), or start a query.
KEY_ID_PATTERN = r"^[A-Za-z0-9._/:-]{1,256}$"
_KEY_ID = re.compile(KEY_ID_PATTERN)
KEY_ID_PLACEHOLDER = "{keyId}"
MAX_GIVEN_KEYS = 16
MAX_KEY_HOSTS = 8
MAX_PEM_CHARS = 16 * 1024


def _key_id(value: str) -> str:
    if ".." in value:
        raise ValueError("must not contain '..'")
    return value


KeyId = Annotated[str, Field(pattern=KEY_ID_PATTERN), AfterValidator(_key_id)]
HostName = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")]


def is_usable_key_id(value: str) -> bool:
    """Whether a key id from a request may name a key (and fill a key URL template)."""
    return bool(_KEY_ID.fullmatch(value)) and ".." not in value


def _key_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a URL")
    if value.count(KEY_ID_PLACEHOLDER) > 1 or "{" in value.replace(KEY_ID_PLACEHOLDER, ""):
        raise ValueError("may hold {keyId} once, and no other placeholder")
    # The template is checked as the URL a short key id makes of it.
    _device_cloud_url(value.replace(KEY_ID_PLACEHOLDER, "/k"))
    return value


def url_host(url: str) -> str:
    return (urllib.parse.urlsplit(url).hostname or "").lower()


class GivenKey(CamelModel):
    """A sender's public key written into the profile: a PEM public key or x.509 certificate, or a JWK."""

    key_id: KeyId
    pem: Annotated[str, Field(min_length=1, max_length=MAX_PEM_CHARS)] | None = None
    jwk: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_usable_key(self) -> "GivenKey":
        from iotbridge.signatures.public_keys import UnusableKeyError, load_jwk, load_pem

        if (self.pem is None) == (self.jwk is None):
            raise ValueError("give exactly one of pem or jwk")
        try:
            if self.pem is not None:
                load_pem(self.pem.encode("ascii", errors="replace"))
            elif self.jwk is not None:
                load_jwk(self.jwk)
        except UnusableKeyError as exc:
            raise ValueError(f"key {self.key_id}: {exc}") from None
        return self


CavageAlgorithm = Literal["rsa-sha256", "hs2019", "ecdsa-sha256"]
Rfc9421Algorithm = Literal[
    "rsa-pss-sha512", "rsa-v1_5-sha256", "ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519"
]
CAVAGE_ALGORITHMS: tuple[str, ...] = get_args(CavageAlgorithm)
RFC9421_ALGORITHMS: tuple[str, ...] = get_args(Rfc9421Algorithm)
# What a draft-cavage signature may cover: the pseudo-headers it defines, or a (lower-case) header name.
SignedHeader = Annotated[
    str, Field(pattern=r"^(\((request-target|created|expires)\)|[a-z0-9][a-z0-9-]{0,127})$")
]
# What an RFC 9421 signature may be required to cover: a derived component, or a (lower-case) field name.
CoveredComponent = Annotated[
    str,
    Field(
        pattern=r"^(@(method|target-uri|authority|scheme|request-target|path|query)|[a-z0-9][a-z0-9-]{0,127})$"
    ),
]
StructuredKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z*][a-z0-9_.*-]*$")]


class HttpSignatureScheme(CamelModel):
    """HTTP Signatures over the request: the draft-cavage form (`Authorization: Signature ...` or
    `Signature:`, SmartThings) or RFC 9421 (`Signature-Input` and `Signature`). The key is one the profile
    gives, or the one `keyUrl` names (`{keyId}` filled with the request's key id) on one of `keyHosts`. The
    body is covered through a digest header the signature covers, the time through `date` or `created`."""

    scheme: Literal["http-signature"]
    format: Literal["cavage", "rfc9421"]
    keys: Annotated[list[GivenKey], Field(max_length=MAX_GIVEN_KEYS)] = []
    key_url: Annotated[str, Field(max_length=MAX_URL_CHARS), AfterValidator(_key_url)] | None = None
    key_hosts: Annotated[list[HostName], Field(max_length=MAX_KEY_HOSTS)] = []
    algorithms: Annotated[list[str], Field(min_length=1, max_length=5)] | None = None
    # cavage: the (pseudo-)headers every signature must cover.
    required_headers: Annotated[list[SignedHeader], Field(min_length=1, max_length=16)] | None = None
    # rfc9421: the components every signature must cover; which signature (its label or its signed tag).
    required_components: Annotated[list[CoveredComponent], Field(min_length=1, max_length=16)] | None = None
    label: StructuredKey | None = None
    tag: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x20-\x7e]+$")] | None = None
    tolerance_seconds: Annotated[StrictInt, Field(ge=1, le=MAX_TOLERANCE_SECONDS)] = 300

    @property
    def message_id_header(self) -> None:
        return None

    @property
    def allowed_algorithms(self) -> tuple[str, ...]:
        if self.algorithms is not None:
            return tuple(self.algorithms)
        return (
            ("rsa-sha256", "hs2019") if self.format == "cavage" else ("rsa-pss-sha512", "ecdsa-p256-sha256")
        )

    @property
    def covered(self) -> tuple[str, ...]:
        """What every signature must cover: the cavage headers, or the RFC 9421 components."""
        if self.format == "cavage":
            return tuple(self.required_headers or ("(request-target)", "digest", "date"))
        return tuple(self.required_components or ("@method", "@target-uri", "content-digest"))

    @model_validator(mode="after")
    def _consistent(self) -> "HttpSignatureScheme":
        cavage = self.format == "cavage"
        known = CAVAGE_ALGORITHMS if cavage else RFC9421_ALGORITHMS
        unknown = [a for a in self.allowed_algorithms if a not in known]
        if unknown:
            raise ValueError(f"the {self.format} algorithms are {', '.join(known)}, not {', '.join(unknown)}")
        if cavage and (self.required_components is not None or self.label or self.tag):
            raise ValueError("requiredComponents, label and tag belong to the rfc9421 format")
        if not cavage and self.required_headers is not None:
            raise ValueError("requiredHeaders belongs to the cavage format (rfc9421: requiredComponents)")
        covered = self.covered
        if cavage and ("digest" not in covered or not {"date", "(created)"} & set(covered)):
            raise ValueError("requiredHeaders must hold digest (the body) and date or (created) (the time)")
        if not cavage and "content-digest" not in covered:
            raise ValueError("requiredComponents must hold content-digest (the body)")
        if not self.keys and self.key_url is None:
            raise ValueError("give the sender's keys, or keyUrl")
        ids = [key.key_id for key in self.keys]
        if len(set(ids)) != len(ids):
            raise ValueError("key ids must be unique")
        if self.key_url is not None:
            # A key id fills the template after its host, and may lengthen the host (`.example`): the URL
            # it makes is checked against keyHosts again before anything is fetched.
            own_host = url_host(self.key_url.replace(KEY_ID_PLACEHOLDER, "/k"))
            if own_host not in {host.lower() for host in self.key_hosts}:
                raise ValueError(
                    "keyUrl needs keyHosts, the hosts its keys may come from (its own among them)"
                )
        elif self.key_hosts:
            raise ValueError("keyHosts belongs with keyUrl")
        return self


Issuer = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class JwtScheme(CamelModel):
    """A bearer JWT (an OpenID Connect ID token, as Google Cloud Pub/Sub push sends): its signature checked
    with the issuer's published keys (`jwksUrl`, or found through the issuer's OpenID configuration:
    `discovery`), then its issuer, audience, times and, when given, its verified email. It does not cover
    the body."""

    scheme: Literal["jwt"]
    header: HeaderName = "authorization"
    issuers: Annotated[list[Issuer], Field(min_length=1, max_length=8)]
    audience: Annotated[str, Field(min_length=1, max_length=512)]
    jwks_url: Annotated[str, AfterValidator(_device_cloud_url)] | None = None
    discovery: StrictBool = False
    algorithms: Annotated[list[Literal["RS256", "ES256"]], Field(min_length=1, max_length=2)] = ["RS256"]
    leeway_seconds: Annotated[StrictInt, Field(ge=0, le=300)] = 60
    email: Email | None = None

    @property
    def message_id_header(self) -> None:
        return None

    @property
    def discovery_issuer(self) -> str | None:
        """The issuer whose OpenID configuration names the keys (the first one that is a URL)."""
        return next((i for i in self.issuers if i.startswith(("https://", "http://"))), None)

    @model_validator(mode="after")
    def _one_key_source(self) -> "JwtScheme":
        if (self.jwks_url is None) == (not self.discovery):
            raise ValueError("give exactly one of jwksUrl or discovery: true")
        if self.discovery:
            issuer = self.discovery_issuer
            try:
                _device_cloud_url(issuer)
            except ValueError:
                raise ValueError(
                    "discovery needs an issuer that is an https:// URL (its OpenID configuration names the "
                    "keys)"
                ) from None
        return self


class PathTokenScheme(CamelModel):
    """The connector's secret in the URL (`/connectors/{id}/events/{token}`): for clouds that sign nothing
    and let the receiver choose its URL (SwitchBot). Compared in constant time with each secret value."""

    scheme: Literal["path-token"]

    @property
    def message_id_header(self) -> None:
        return None


class BasicScheme(CamelModel):
    """HTTP Basic authentication: `Authorization: Basic base64(user:password)`, the secret's value being
    `user:password`."""

    scheme: Literal["basic"]

    @property
    def message_id_header(self) -> None:
        return None


# --- Where requests may come from (any scheme) --------------------------------------------------------------

MAX_SOURCE_ADDRESSES = 64
type Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(value: Any) -> Network:
    rule = (
        "must be a CIDR block: an address and a prefix length with no host bits set (192.0.2.0/24, "
        "2001:db8::/32), or one address"
    )
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise ValueError(rule)
    try:
        return ipaddress.ip_network(value)
    except ValueError:
        raise ValueError(rule) from None


SourceNetwork = Annotated[
    Network,
    PlainValidator(_network),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "description": "A CIDR block (IPv4 or IPv6)."}),
]
SourceAddresses = Annotated[list[SourceNetwork], Field(min_length=1, max_length=MAX_SOURCE_ADDRESSES)]


# The signature schemes, defined once: every dispatch over one is a `match` ending in `assert_never`, so a
# scheme added here and missed by a dispatch fails type checking instead of being checked the wrong way.
SignatureScheme = (
    StandardWebhooksScheme
    | HmacScheme
    | TokenScheme
    | HttpSignatureScheme
    | JwtScheme
    | PathTokenScheme
    | BasicScheme
)
SCHEME_MODELS: tuple[type[SignatureScheme], ...] = get_args(SignatureScheme)
# Their names as a profile spells them in `verification.scheme`.
SCHEME_NAMES: tuple[str, ...] = tuple(get_args(m.model_fields["scheme"].annotation)[0] for m in SCHEME_MODELS)

Verification = Annotated[SignatureScheme, Field(discriminator="scheme")]


class Deduplication(CamelModel):
    """What identifies one delivery, repeated on the sender's retries: exactly one of a header, a JMESPath
    expression over the body, or (when the cloud gives neither) a digest of the signed bytes."""

    header: HeaderName | None = None
    body: ExpressionText | None = None
    digest: StrictBool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> "Deduplication":
        if sum((self.header is not None, self.body is not None, self.digest)) != 1:
            raise ValueError("choose exactly one of header, body or digest")
        return self


def delivery_id_is_signed(verification: SignatureScheme, deduplication: Deduplication | None) -> bool:
    """Whether the delivery id is covered by the signature: a value in the signed body, a digest of it, or a
    message id the scheme signs. Otherwise a captured delivery sent again under a new id would pass as new,
    so the relay tells such deliveries apart by the digest of the signed bytes instead."""
    if deduplication is not None and (deduplication.digest or deduplication.body is not None):
        # Taken from the body: a copy sent again carries the same id (a static token signs nothing, but
        # whoever holds it can send any body anyway).
        return True
    header = deduplication.header if deduplication is not None else verification.message_id_header
    match verification:
        case StandardWebhooksScheme():
            return header == verification.message_id_header
        case HmacScheme():
            return header == verification.message_id_header and "{id}" in verification.signed_content
        case HttpSignatureScheme():
            # A header every signature must cover is signed (the cavage headers, the RFC 9421 fields).
            return header is not None and header in verification.covered
        case TokenScheme() | JwtScheme() | PathTokenScheme() | BasicScheme():
            return False
        case _:
            assert_never(verification)


def reads_secret(verification: SignatureScheme) -> bool:
    """Whether the scheme checks requests with the connector's secret; the public-key schemes do not read
    one (their keys are in the profile, or at the sender's own URL)."""
    match verification:
        case HttpSignatureScheme() | JwtScheme():
            return False
        case StandardWebhooksScheme() | HmacScheme() | TokenScheme() | PathTokenScheme() | BasicScheme():
            return True
        case _:
            assert_never(verification)


# --- What a profile leaves open, for `profile validate` to warn about ---------------------------------------

RECOMMENDED_RSA_BITS = 2048
_TARGET_COMPONENTS = frozenset({"@target-uri", "@path", "@request-target"})


def weaknesses(
    verification: SignatureScheme,
    deduplication: Deduplication | None,
    source_addresses: Sequence[Network] | None = None,
) -> list[str]:
    """What the profile's verification does not protect against, one sentence each, for `profile validate`
    to print as warnings (none of them makes the profile invalid: some clouds offer nothing better)."""
    found: list[str] = []
    if not delivery_id_is_signed(verification, deduplication):
        found.append(
            "the delivery id is not covered by the signature: a captured delivery sent again under a new id "
            "would pass as new, so the relay tells deliveries apart by the digest of the signed bytes instead"
        )
    found.extend(_scheme_weaknesses(verification))
    if isinstance(verification, PathTokenScheme | BasicScheme | TokenScheme) and not source_addresses:
        found.append(
            "no sourceAddresses: requests from any address are checked against the secret alone; list the "
            "sender's published addresses where it has them"
        )
    return found


def _scheme_weaknesses(verification: SignatureScheme) -> list[str]:
    match verification:
        case StandardWebhooksScheme():
            return []
        case HmacScheme():
            return [] if "{timestamp}" in verification.signed_content else [_NO_TIMESTAMP]
        case TokenScheme():
            return [
                "a static token signs nothing: whoever sees one request (a proxy's log, a debugging tool) "
                "can send any body, at any time",
                _NO_TIMESTAMP,
            ]
        case BasicScheme():
            return [
                "basic authentication is a static password: it signs nothing, and whoever sees one request "
                "can send any body, at any time",
                _NO_TIMESTAMP,
            ]
        case PathTokenScheme():
            return [
                "a path token is a static secret in the URL: it signs nothing, and whatever records URLs "
                "(access logs, proxies, the sender's own dashboards) can leak it; whoever has it can send "
                "any body, at any time",
                _NO_TIMESTAMP,
            ]
        case JwtScheme():
            found = [
                "the JWT does not cover the body: a captured token can carry another body until it expires"
            ]
            if verification.email is None:
                found.append(
                    "no email: any account of the issuer can obtain a token for this audience (for Google, "
                    "any service account of any project); name the sender's account in email"
                )
            return found
        case HttpSignatureScheme():
            covered = set(verification.covered)
            targets = {"(request-target)"} if verification.format == "cavage" else _TARGET_COMPONENTS
            return ([] if covered & targets else [_NO_TARGET]) + _small_keys(verification)
        case _:
            assert_never(verification)


_NO_TIMESTAMP = (
    "no timestamp is signed: a captured delivery can be sent again at any time (only the dedupe window "
    "catches a copy, and only within it)"
)
_NO_TARGET = (
    "the signature does not cover the request target: a delivery signed for another URL of the same sender "
    "(another connector) would pass here"
)


def _small_keys(scheme: HttpSignatureScheme) -> list[str]:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    from iotbridge.signatures.public_keys import load_jwk, load_pem

    found = []
    for given in scheme.keys:
        key = (
            load_pem(given.pem.encode("ascii", errors="replace")) if given.pem else load_jwk(given.jwk or {})
        )
        if isinstance(key, RSAPublicKey) and key.key_size < RECOMMENDED_RSA_BITS:
            found.append(
                f"key {given.key_id} is RSA of {key.key_size} bits: use {RECOMMENDED_RSA_BITS} or more"
            )
    return found
