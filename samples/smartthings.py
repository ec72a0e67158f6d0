"""SmartThings' webhook requests, built as SmartThings documents them (not from the relay's verifier).

developer.smartthings.com/docs/service-integrations/webhook-events: every request carries `Digest` (SHA-256 of
the body, base64, as `SHA-256=...`), `Date`, and `Authorization: Signature keyId="...",signature="...",
headers="(request-target) digest date",algorithm="rsa-sha256"`, an HTTP Signature of the IETF draft (cavage,
draft 3): the RSA-SHA256 signature of the lines `(request-target): post <path>`, `digest: ...`, `date: ...`.
The public key is the x.509 certificate at `https://key.smartthings.com<keyId>`.

The key and certificate below are a test key made for the local stack and published on purpose: nothing
signed with it comes from SmartThings. Kept fixed so that the sample events signed with it stay the same.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# A keyId in the form SmartThings' documentation shows (`/pl/useast2/1b-75-d2-...`).
KEY_ID = "/pl/useast2/1b-75-d2-local-test-key"
SIGNED_HEADERS = ("(request-target)", "digest", "date")
# The app a CONFIRMATION confirms: the lifecycle documentation's appId.
APP_ID = "fd9949ee-a3bf-4069-b4b3-3e9c1c922e29"

PRIVATE_KEY_PEM = b"""\
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCjd6z1kBcHYcpv
MDZByRZcOPOakUY8ImiD05JGRms36z7BWv5AWF1+QN5ON8FuMaXvkpQMhfpLLRX2
ARsmkutHHeEoesL42YGweLdlRBt3ZVIjpux1crRS+OPD1c8tWMHR863S1WfVzqmj
+lhK2QZO8s7tvBTKdr7BxGg/0en5xgUARM/ToUdbpDjnrn2Neh5w5pJPKiaEHCfq
rJkVR9n5YKFwsSoD8w1nJkvtt7cYJTVe3xTE45mVlYu5Si9tAKrC0saeJd0NWDFY
DkAeRUPB2TJEBj+bzk7r0LOv3BW1hwvwa0pR4W1bJxWxLLQXkUbgNIwIa3uyipHQ
x6PsDE7JAgMBAAECggEAJCrCVcJ/ld6JD3i3SG7ZR6ZCH5ys0Xk7bo9M+cdyyXh+
9gDP6CSk6t4nUV78qQjLEep4Xxz1d9SN21P7UdmHvMBbpL0kjjJxgz3yNbGP8ia0
ubag8otiYkk2+4k+wWW13GHxv4f/5UpINkOZbVX/E1Cdf/PxFaqYIf72ocgr4FsY
8fwWUDJtBFOKEja0OtxkJKHPNfcqkXF/0UR3L0iN0Drnkyqw2EYsUpPkNaP1/OX7
6vfsUQ0hVuYW3n1DxciC+6hnO+PtW8xTS6UG3tLJsWzLOyv7F7aTMgiC6EoALQsu
P/MP8ZONnn3ikOeTVP7jgomFEBPirV9hI4qmhPZg0QKBgQDXtEWl741+6cKOes71
Q8quB+fumODPTeE9HYw1Wc+Uocp9FOlh9SLgiHmGazryesgAatII6qxecUBvEUQj
XKUuACnaxerJH3WyQz9Mpd9sqQ9GHiNH0IFAb3cl8s6Jrr4CXSmHFFoD3x4+VS9O
IGsGTRBtZ2c/FbaMcnxx518sZwKBgQDCAUMGXRury31FejTwtUzexa9n5np7tkOm
4s1U6Ak8XAXeDeqY5snhJrRHWqeABt80g0XEcAwcNaUF+hUeuX0o7j5fzHOxjzkp
+9+kzS8ZniW3v4AhLurXrGCHTEFx6emtN/3l52FurKFc/ruTXUxg5NS/wdajRdua
icy/enStTwKBgCQ+gkVzjw74MFzIfeXwUioT4gDRZ1Tt/R7LzDdas+qBlQiXbu+q
xQV9aQ4RDoKX5utLB6e/5t6noPAIsq5ObuLf3CiKgPzycFBXxFcYuAYGEi7x+XOj
sVQmZprVxaaU2hCDnuq3nLhx0R8gKSazg8g3Qr9fVJXhDB9lTUvGWNOZAoGBAJQx
/o8H5LFQmfrOpU4SUAwEGj9V8c46pmb+7TakoRl4egrrun7eHOxecmvnNfg4R5yH
gm3R4Y5S9CIirKtxqcfwZbksJlxGObZ2bponGomJIuq/4BJ5Em95f6sadwubUSM+
mDZcjzLJr+GnvIWPSV7irhlk6p6CKIReKwdBdYtFAoGAWra04no+SrAA1XC5H2Jf
cSA1JcVNbI5vUtowehYSuTP8wH+VpD+EgErQj/ykbhA/ZZVraLszvb8tg+LUNAyu
p/orKyFkXfB2yG4KoW10ido4ofXRWVTeSXX+ZyiP4b8ffikKVURPwXPAQy7Wh83W
MfC9thHtjXrHB840ujXjuK0=
-----END PRIVATE KEY-----
"""
CERTIFICATE_PEM = b"""\
-----BEGIN CERTIFICATE-----
MIIC3DCCAcSgAwIBAgICWhcwDQYJKoZIhvcNAQELBQAwMTEvMC0GA1UEAwwmc21h
cnR0aGluZ3Mtd2ViaG9vay1zaWduaW5nLmxvY2FsLnRlc3QwHhcNMjYwMTAxMDAw
MDAwWhcNNDYwMTAxMDAwMDAwWjAxMS8wLQYDVQQDDCZzbWFydHRoaW5ncy13ZWJo
b29rLXNpZ25pbmcubG9jYWwudGVzdDCCASIwDQYJKoZIhvcNAQEBBQADggEPADCC
AQoCggEBAKN3rPWQFwdhym8wNkHJFlw485qRRjwiaIPTkkZGazfrPsFa/kBYXX5A
3k43wW4xpe+SlAyF+kstFfYBGyaS60cd4Sh6wvjZgbB4t2VEG3dlUiOm7HVytFL4
48PVzy1YwdHzrdLVZ9XOqaP6WErZBk7yzu28FMp2vsHEaD/R6fnGBQBEz9OhR1uk
OOeufY16HnDmkk8qJoQcJ+qsmRVH2flgoXCxKgPzDWcmS+23txglNV7fFMTjmZWV
i7lKL20AqsLSxp4l3Q1YMVgOQB5FQ8HZMkQGP5vOTuvQs6/cFbWHC/BrSlHhbVsn
FbEstBeRRuA0jAhre7KKkdDHo+wMTskCAwEAATANBgkqhkiG9w0BAQsFAAOCAQEA
Xzg5PccBPomWPHQofCE48SCfSKQh+d4gB3nPbvU7qF8YBbxNOew1tttOqCyB5mYU
xROO+h9TvqqRX5MKxncd5r+Ex6c34aLTesJsJtaCobRwo9Ghr06uFEs/nIKuRndf
nT2O9/fz7wwQMnhN1qJJ6Z3eCbbS0gFDxb+odwPIVg/m7W1L+yYh3Cw1n62GPZzX
UYAGRyr0+e+XXFfYOpX5LDEpVCggLX2b+s10PbRgGtt1U6PfzNxRWZWRhuAs8AIe
/J9ztTy7iwhJqYRCNb8eAh4cGe8iwf080r83bGLzy/4tYoQ7qPw+0miocgtKFbgo
0Xlk05Q3iRB6QFwpFFWuMA==
-----END CERTIFICATE-----
"""


@functools.cache
def private_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(PRIVATE_KEY_PEM, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the test key is not an RSA key")
    return key


def other_key() -> rsa.RSAPrivateKey:
    """A key SmartThings never published: what a forger signs with."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def digest(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def http_date(when: float) -> str:
    """An IMF-fixdate, as the Date header carries it."""
    return email.utils.formatdate(when, usegmt=True)


def signing_string(method: str, target: str, headers: dict[str, str], names: Sequence[str]) -> str:
    """The draft's signing string: one `name: value` line per signed header, `(request-target)` being the
    lower-case method and the path (with its query)."""
    lines = []
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        else:
            lines.append(f"{name}: {lowered[name]}")
    return "\n".join(lines)


def signed_headers(
    body: bytes,
    *,
    path: str,
    method: str = "POST",
    now: float | None = None,
    key: rsa.RSAPrivateKey | None = None,
    key_id: str = KEY_ID,
) -> dict[str, str]:
    """The headers SmartThings sends with `body` to `path`: Digest, Date and the signed Authorization."""
    headers = {
        "Content-Type": "application/json",
        "Digest": digest(body),
        "Date": http_date(time.time() if now is None else now),
    }
    text = signing_string(method, path, headers, SIGNED_HEADERS)
    signature = (key or private_key()).sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    headers["Authorization"] = (
        f'Signature keyId="{key_id}",signature="{base64.b64encode(signature).decode("ascii")}",'
        f'headers="{" ".join(SIGNED_HEADERS)}",algorithm="rsa-sha256"'
    )
    return headers


def ping(challenge: str) -> bytes:
    """A PING lifecycle request's body (the lifecycle documentation's, with this challenge)."""
    return _compact(
        {
            "lifecycle": "PING",
            "executionId": "b328f242-c602-4204-8d73-33c48ae180af",
            "locale": "en",
            "version": "1.0.0",
            "pingData": {"challenge": challenge},
        }
    )


def confirmation(confirmation_url: str, app_id: str = APP_ID) -> bytes:
    """A CONFIRMATION lifecycle request's body, naming the URL to GET to confirm the app's target URL."""
    return _compact(
        {
            "lifecycle": "CONFIRMATION",
            "executionId": "8F8FA33E-2A5B-4BC5-826C-4B2AB73FE9DD",
            "appId": app_id,
            "locale": "en",
            "version": "0.1.0",
            "confirmationData": {"appId": app_id, "confirmationUrl": confirmation_url},
            "settings": {},
        }
    )


def _compact(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")
