"""How a device cloud signs its webhooks: one model per signature scheme, and what tells deliveries apart."""

from __future__ import annotations

from typing import Annotated, Literal, assert_never, get_args

from pydantic import Field, StrictBool, StrictInt, model_validator

from iotbridge.wire import CamelModel

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
    def _content_is_signed_consistently(self) -> HmacScheme:
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


# The signature schemes, defined once: every dispatch over one is a `match` ending in `assert_never`, so a
# scheme added here and missed by a dispatch fails type checking instead of being checked the wrong way.
SignatureScheme = StandardWebhooksScheme | HmacScheme | TokenScheme
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
    def _exactly_one(self) -> Deduplication:
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
        case TokenScheme():
            return False
        case _:
            assert_never(verification)
