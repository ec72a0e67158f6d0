"""What each signature scheme costs the receiver per request: warm (the sender's keys cached) and on a cold
start (the scheme's library imported and the keys fetched by the first request).

Both run in child processes that serve the senders' keys from a loopback server, as the local stack does,
and call the receiver's own `verify` with its own key fetcher (`HttpsPublicKeys`): the figures are the
verification alone, without the rest of the request (the receiver sections measure that). Standard
Webhooks v1 is the baseline of every ratio: what a connector without a profile pays.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from bench.child import run_child
from bench.measure import alternating
from bench.report import Section, markdown_table
from bench.sizing import Findings
from bench.stats import Figure, median, percentile
from loopback import LoopbackHandler, LoopbackServer

SCHEMES = ("standard-webhooks", "hmac", "http-signature cavage", "http-signature rfc9421", "jwt")
BASELINE = "standard-webhooks"
BODY = json.dumps(
    {"deviceEvents": [{"deviceId": "lamp-1", "capability": "switch", "attribute": "switch", "value": "on"}]},
    separators=(",", ":"),
).encode()
PATH = "/connectors/bench/events"
HMAC_SECRET = "bench hmac secret, not a real one"  # noqa: S105 - a benchmark's own value
SW_SECRET = "whsec_" + base64.b64encode(b"bench standard webhooks secret").decode()
RFC9421_KEY_ID = "bench-ecdsa-p256"
CAVAGE_KEY_ID = "/pl/useast2/bench-key"
# The libraries a scheme loads on its first use (what a cold start of such a connector adds).
LIBRARIES = {
    "http-signature cavage": ("cryptography.x509",),
    "http-signature rfc9421": ("http_message_signatures", "http_sf"),
    "jwt": ("jwt",),
}


class _KeyHandler(LoopbackHandler):
    """Answers a GET with the document at its path (the senders' keys), 404 otherwise."""

    server: _KeyHost

    def do_GET(self) -> None:
        body = self.server.documents.get(self.path)
        self.answer(200 if body is not None else 404, body or b"")

    def log_message(self, format: str, *args: Any) -> None:
        return


class _KeyHost(LoopbackServer):
    def __init__(self, documents: dict[str, bytes]) -> None:
        super().__init__(_KeyHandler)
        self.documents = documents

    def at(self, path: str) -> str:
        return self.url + path


@dataclass
class _Case:
    """One scheme: its profile's verification, the secrets it reads, and how a sender signs a request."""

    scheme: Any
    secrets: tuple[str, ...]
    sign: Callable[[int, float], dict[str, str]]  # (request number, now) -> headers
    documents: dict[str, bytes] = field(default_factory=dict)


def _cases(key_url: Callable[[str], str]) -> dict[str, _Case]:
    """Every scheme's case, its keys served at `key_url(path)`. Imports the senders' libraries (the
    measured code does not count them: they are the sender's)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms

    from iotbridge.profile.verification import (
        HmacScheme,
        HttpSignatureScheme,
        JwtScheme,
        StandardWebhooksScheme,
    )
    from iotbridge.signatures.standard_webhooks import sign as sign_v1
    from samples import google_nest, smartthings

    ecc = ec.generate_private_key(ec.SECP256R1())
    numbers = ecc.public_key().public_numbers()

    def b64url(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
        "kid": RFC9421_KEY_ID,
    }

    class _Keys(HTTPSignatureKeyResolver):
        def resolve_private_key(self, key_id: str) -> Any:
            return ecc

        def resolve_public_key(self, key_id: str) -> Any:
            return ecc.public_key()

    @dataclass
    class _Request:
        method: str
        url: str
        headers: dict[str, str]

    def rfc9421(number: int, now: float) -> dict[str, str]:
        request = _Request(
            "POST",
            "https://relay.example.com" + PATH,
            {"Host": "relay.example.com", "Content-Type": "application/json"},
        )
        HTTPMessageSigner(signature_algorithm=algorithms.ECDSA_P256_SHA256, key_resolver=_Keys()).sign(
            request,
            key_id=RFC9421_KEY_ID,
            label="sig1",
            created=datetime.fromtimestamp(now, tz=UTC),
            covered_component_ids=("@method", "@target-uri", "content-digest"),
            body=BODY,
        )
        return {name.lower(): value for name, value in request.headers.items()}

    def hmac_headers(number: int, now: float) -> dict[str, str]:
        import hmac

        digest = hmac.new(HMAC_SECRET.encode(), BODY, hashlib.sha256).hexdigest()
        return {"x-signature-256": "sha256=" + digest, "x-delivery": f"d-{number}"}

    def cavage(number: int, now: float) -> dict[str, str]:
        headers = smartthings.signed_headers(BODY, path=PATH, now=now, key_id=CAVAGE_KEY_ID)
        return {name.lower(): value for name, value in headers.items()}

    def standard(number: int, now: float) -> dict[str, str]:
        return {
            "webhook-id": f"msg_{number}",
            "webhook-timestamp": str(int(now)),
            "webhook-signature": sign_v1(SW_SECRET, f"msg_{number}", int(now), BODY),
        }

    def jwt_headers(number: int, now: float) -> dict[str, str]:
        return {"authorization": "Bearer " + google_nest.push_token(now=now)}

    return {
        "standard-webhooks": _Case(
            StandardWebhooksScheme.model_validate({"scheme": "standard-webhooks"}), (SW_SECRET,), standard
        ),
        "hmac": _Case(
            HmacScheme.model_validate(
                {
                    "scheme": "hmac",
                    "signatureHeader": "X-Signature-256",
                    "prefix": "sha256=",
                    "messageIdHeader": "X-Delivery",
                }
            ),
            (HMAC_SECRET,),
            hmac_headers,
        ),
        "http-signature cavage": _Case(
            HttpSignatureScheme.model_validate(
                {
                    "scheme": "http-signature",
                    "format": "cavage",
                    "keyUrl": key_url("/keys") + "{keyId}",
                    "keyHosts": ["127.0.0.1"],
                    "algorithms": ["rsa-sha256"],
                    "requiredHeaders": ["(request-target)", "digest", "date"],
                }
            ),
            (),
            cavage,
            {"/keys" + CAVAGE_KEY_ID: smartthings.CERTIFICATE_PEM},
        ),
        "http-signature rfc9421": _Case(
            HttpSignatureScheme.model_validate(
                {
                    "scheme": "http-signature",
                    "format": "rfc9421",
                    "keyUrl": key_url("/jwks"),
                    "keyHosts": ["127.0.0.1"],
                    "label": "sig1",
                    "algorithms": ["ecdsa-p256-sha256"],
                    "requiredComponents": ["@method", "@target-uri", "content-digest"],
                }
            ),
            (),
            rfc9421,
            {"/jwks": json.dumps({"keys": [jwk]}).encode()},
        ),
        "jwt": _Case(
            JwtScheme.model_validate(
                {
                    "scheme": "jwt",
                    "issuers": [google_nest.ISSUER],
                    "audience": google_nest.AUDIENCE,
                    "jwksUrl": key_url("/certs"),
                    "algorithms": ["RS256"],
                    "email": google_nest.PUSH_SERVICE_ACCOUNT,
                }
            ),
            (),
            jwt_headers,
            {"/certs": json.dumps(google_nest.jwks()).encode()},
        ),
    }


def _documents(cases: dict[str, _Case]) -> dict[str, bytes]:
    return {path: body for case in cases.values() for path, body in case.documents.items()}


def measure_warm(args: dict[str, Any]) -> dict[str, Any]:
    """Child: each scheme's verification CPU per request (µs) over `requests` requests, keys cached."""
    from iotbridge.registry.public_keys import HttpsPublicKeys
    from iotbridge.webhook_receiver.domain.verification import RequestLine, verify

    documents: dict[str, bytes] = {}
    with _KeyHost(documents) as host:
        cases = _cases(host.at)
        documents.update(_documents(cases))
        keys = HttpsPublicKeys(allow_loopback=True)
        line = RequestLine("POST", PATH, "")
        now = time.time()
        signed = {
            name: [case.sign(n, now) for n in range(args["requests"] + args["warmup"])]
            for name, case in cases.items()
            if name in args["schemes"]
        }
        samples: dict[str, list[float]] = {}
        for name, requests in signed.items():
            case = cases[name]
            cpu: list[float] = []
            for index, headers in enumerate(requests):
                started = time.process_time_ns()
                verify(case.scheme, headers, BODY, case.secrets, now, line=line, keys=keys)
                if index >= args["warmup"]:
                    cpu.append((time.process_time_ns() - started) / 1000)
            samples[name] = cpu
    return {"cpu_us": samples}


def measure_first(args: dict[str, Any]) -> dict[str, Any]:
    """Child, a fresh process: one scheme's first verification, with its library's import and the keys'
    fetch from the loopback host; CPU and wall time in ms, and which of its libraries were loaded before."""
    import sys

    name = args["scheme"]
    documents: dict[str, bytes] = {}
    with _KeyHost(documents) as host:
        # The senders' signing code loads what the verifier would (cryptography, PyJWT for the token's
        # encoding by google-auth): sign first, then forget the verifier's own libraries so that their
        # import counts, as it would in a receiver that never signs.
        cases = _cases(host.at)
        documents.update(_documents(cases))
        headers = cases[name].sign(0, time.time())
        for module in [
            m for m in sys.modules if m.split(".")[0] in {"jwt", "http_message_signatures", "http_sf"}
        ]:
            del sys.modules[module]
        from iotbridge.registry.public_keys import HttpsPublicKeys
        from iotbridge.webhook_receiver.domain.verification import RequestLine, verify

        keys = HttpsPublicKeys(allow_loopback=True)
        case = cases[name]

        def verified(headers: dict[str, str]) -> tuple[float, float]:
            line = RequestLine("POST", PATH, "")
            cpu, wall = time.process_time_ns(), time.perf_counter_ns()
            verify(case.scheme, headers, BODY, case.secrets, time.time(), line=line, keys=keys)
            return (time.process_time_ns() - cpu) / 1e6, (time.perf_counter_ns() - wall) / 1e6

        first = verified(headers)
        second, _ = verified(case.sign(1, time.time()))
    return {"first_cpu_ms": first[0], "first_wall_ms": first[1], "second_cpu_ms": second}


@dataclass
class _FirstRuns:
    cpu_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    second_cpu_ms: list[float] = field(default_factory=list)


def _first(scheme: str) -> dict[str, Any]:
    return run_child("bench.verification:measure_first", {"scheme": scheme}, code_root=None)


def _merge_first(results: list[dict[str, Any]]) -> _FirstRuns:
    runs = _FirstRuns()
    for result in results:
        runs.cpu_ms.append(result["first_cpu_ms"])
        runs.wall_ms.append(result["first_wall_ms"])
        runs.second_cpu_ms.append(result["second_cpu_ms"])
    return runs


def _warm(scheme: str, *, requests: int, warmup: int) -> list[float]:
    result = run_child(
        "bench.verification:measure_warm",
        {"schemes": [scheme], "requests": requests, "warmup": warmup},
        code_root=None,
    )
    return list(result["cpu_us"][scheme])


def run(*, smoke: bool, findings: Findings) -> Section:
    section = Section("Signature schemes: verification per request, warm and first")
    requests, warmup, turns = (30, 5, 1) if smoke else (600, 50, 3)
    warm = alternating(
        list(SCHEMES),
        partial(_warm, requests=requests, warmup=warmup),
        lambda found: [sample for run in found for sample in run],
        turns=turns,
    )
    first = alternating(list(SCHEMES), _first, _merge_first, turns=1 if smoke else 5)
    baseline = warm[BASELINE]
    rows = []
    for scheme in SCHEMES:
        samples = warm[scheme]
        if scheme != BASELINE:
            section.figures.append(
                Figure(
                    f"verification CPU p50, {scheme}, warm",
                    percentile(samples, 50),
                    percentile(baseline, 50),
                    "µs",
                    baseline_name="Standard Webhooks v1",
                    note=f"{len(samples)} requests each",
                )
            )
        runs = first[scheme]
        rows.append(
            [
                scheme,
                f"{percentile(samples, 50):.0f}",
                f"{percentile(samples, 99):.0f}",
                f"{median(runs.cpu_ms):.1f}",
                f"{median(runs.wall_ms):.1f}",
                f"{median(runs.second_cpu_ms):.2f}",
                ", ".join(LIBRARIES.get(scheme, ())) or "none",
            ]
        )
    section.details.append(
        "Each scheme's `verify` on the same 180-byte body, signed as its sender signs it: Standard Webhooks "
        "v1 and an HMAC of the body with the connector's secret; SmartThings' draft-cavage RSA-SHA256 over "
        "`(request-target) digest date` with the x.509 certificate its `keyId` names; RFC 9421 ECDSA P-256 "
        "over `@method @target-uri content-digest` with a JWK set; a Google-signed (RS256) Pub/Sub push "
        "JWT with Google's JWK set. Keys come from a loopback host through the receiver's own fetcher. "
        "*Warm*: the keys cached, CPU per request. *First*: a fresh process's first verification, which "
        "imports the scheme's library and fetches its keys (a cold start's share of a connector that uses "
        "the scheme; the fetch's wall time is a loopback round trip, an internet one adds its latency), "
        "then the second request's CPU:\n\n"
        + markdown_table(
            [
                "scheme",
                "warm CPU p50 µs",
                "warm CPU p99 µs",
                "first CPU ms",
                "first wall ms",
                "second CPU ms",
                "libraries loaded on first use",
            ],
            rows,
        )
    )
    return section
