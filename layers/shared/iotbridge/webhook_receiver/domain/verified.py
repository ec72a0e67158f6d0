"""What verification takes from a request besides its headers and body, and what it says of a verified one."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Verified:
    """What a verified request says about itself: its delivery id, when the scheme carries one, and the
    signed bytes that come before the raw body (what tells a replay from a new delivery when the id is not
    signed)."""

    message_id: str | None
    signed_head: bytes = field(default=b"", compare=False)


@dataclass(frozen=True, slots=True)
class RequestLine:
    """What a request says besides its headers and body, for the schemes that sign or carry it: the method,
    the raw path and query (what `(request-target)` and `@target-uri` cover), and the token in the path."""

    method: str = "POST"
    path: str = ""
    query: str = ""
    path_token: str | None = None
