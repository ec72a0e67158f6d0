"""A draft-cavage HTTP Signatures sender, as SmartThings signs its webhooks, made with the `httpsig` library
(a sender's implementation, not the relay's)."""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.util
import sys
from email.utils import formatdate
from types import ModuleType
from typing import Any

from cryptography.hazmat.primitives import serialization

SMARTTHINGS_HEADERS = ["(request-target)", "digest", "date"]


def httpsig() -> ModuleType:
    """httpsig 1.3.0's package reads its own version with pkg_resources (setuptools), which the project does
    not install; its signer and verifier modules need nothing of it, so the package is loaded without it."""
    if "httpsig.sign" not in sys.modules:
        spec = importlib.util.find_spec("httpsig")
        assert spec is not None
        sys.modules.setdefault("httpsig", importlib.util.module_from_spec(spec))
    importlib.import_module("httpsig.verify")
    return importlib.import_module("httpsig.sign")


def digest_of(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def private_pem(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def public_pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def signed_by_httpsig(
    key: Any,
    body: bytes,
    *,
    path: str,
    now: float,
    key_id: str = "k1",
    covered: list[str] | None = None,
    sign_header: str = "authorization",
) -> dict[str, str]:
    """The headers (names lower-cased) a sender using httpsig puts on a POST of `body` to `path`."""
    headers = {
        "host": "relay.example.com",
        "date": formatdate(now, usegmt=True),
        "digest": digest_of(body),
        "content-type": "application/json",
    }
    signer = httpsig().HeaderSigner(
        key_id,
        private_pem(key),
        algorithm="rsa-sha256",
        headers=covered or SMARTTHINGS_HEADERS,
        sign_header=sign_header,
    )
    signed = signer.sign(headers, method="POST", path=path)
    return {k.lower(): v for k, v in signed.items()}
