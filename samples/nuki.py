"""Nuki's Web API decentral webhooks, signed the way Nuki documents them, with a secret published for the
local stack only.

Nuki answers the registration of a decentral webhook (`PUT /api/decentralWebhook`) with a `secret`; every
POST to that webhook then carries `X-Nuki-Signature-SHA256`, the lower-case hex HMAC-SHA256 of the raw JSON
body keyed with that secret (docs.nuki.io/guide/webhooks/central-decentral/). Nothing else is signed: no
timestamp, no delivery id. Nuki also sends `X-Nuki-Signature`, whose algorithm is not documented, so it is
neither sent here nor checked by the relay.

Lock actions through the Web API are asynchronous: the call is answered with a `requestId`
(`{"requestId": "68c4..."}`), and the outcome arrives later as an API-triggered webhook echoing it
(docs.nuki.io/guide/webhooks/type-api/).
"""

from __future__ import annotations

import hashlib
import hmac

CONNECTOR_ID = "nuki"
# Published on purpose, for the local stack. A real one is the `secret` of Nuki's PUT response.
SECRET = "nuki decentral webhook secret, local use only"  # noqa: S105 - published for the local stack
SIGNATURE_HEADER = "X-Nuki-Signature-SHA256"
# What Nuki's webhook log shows it sends as the body's type.
CONTENT_TYPE = "application/json; charset=UTF-8"


def signature(body: bytes, secret: str = SECRET) -> str:
    """`X-Nuki-Signature-SHA256` for `body`: HMAC-SHA256 (RFC 2104) keyed with the secret's UTF-8 bytes,
    in lower-case hex."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """The headers of one decentral webhook POST carrying `body`."""
    return {SIGNATURE_HEADER: signature(body, secret), "Content-Type": CONTENT_TYPE}


def action_answer(request_id: str) -> dict[str, str]:
    """What the Web API answers an advanced lock action with: the id its later webhook echoes."""
    return {"requestId": request_id}
