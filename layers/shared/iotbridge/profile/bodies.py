"""How a device cloud's body reads: its content type (JSON, or an HTML form), and the members that carry
a value encoded inside them (base64, JSON in a string) to decode before the rules read the body.

```json
"body": {"contentType": "json", "decode": [{"path": "message.data", "as": ["base64", "json"]}]}
"body": {"contentType": "form", "decode": [{"path": "payload", "as": ["json"]}]}
```
"""

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from iotbridge.wire import CamelModel

MAX_DECODE_STEPS = 8
MAX_DECODINGS = 4
MAX_PATH_MEMBERS = 16

# What a member holds before and after each decoding: text (a JSON string), bytes, or any JSON value.
type _Kind = Literal["text", "bytes", "value"]
Decoding = Literal["base64", "base64url", "json", "text"]
_TAKES: dict[str, tuple[_Kind, ...]] = {
    "base64": ("text",),
    "base64url": ("text",),
    "text": ("bytes",),
    "json": ("text", "bytes"),
}
_GIVES: dict[str, _Kind] = {"base64": "bytes", "base64url": "bytes", "text": "text", "json": "value"}


class DecodeStep(CamelModel):
    """One member of the body decoded in place: `path` names it by its member names (`message.data`, no
    JMESPath), `as` lists the decodings in order: `base64` and `base64url` (text to bytes), `text` (UTF-8
    bytes to text), `json` (text or bytes to the JSON value they hold)."""

    path: Annotated[str, Field(min_length=1, max_length=256)]
    as_: Annotated[list[Decoding], Field(alias="as", min_length=1, max_length=MAX_DECODINGS)]

    @field_validator("path")
    @classmethod
    def _member_names(cls, path: str) -> str:
        names = path.split(".")
        if len(names) > MAX_PATH_MEMBERS or not all(names) or any(ch.isspace() for ch in path):
            raise ValueError(
                f"must be 1 to {MAX_PATH_MEMBERS} member names separated by dots (not JMESPath: no spaces, "
                "brackets are part of a name)"
            )
        return path

    @model_validator(mode="after")
    def _decodings_chain(self) -> "DecodeStep":
        kind: _Kind = "text"
        for decoding in self.as_:
            if kind not in _TAKES[decoding]:
                raise ValueError(f"{decoding} cannot decode {'a JSON value' if kind == 'value' else kind}")
            kind = _GIVES[decoding]
        if kind == "bytes":
            raise ValueError("the decodings end in bytes, which JSON cannot hold: end with text or json")
        return self

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))


class BodyFormat(CamelModel):
    """The body's content type (`json`: application/json or application/*+json; `form`:
    application/x-www-form-urlencoded, read as an object of text values, a repeated name as a list of
    them) and the members decoded before the rules read it, in order. A step whose member is missing is
    skipped."""

    content_type: Literal["json", "form"] = "json"
    decode: Annotated[list[DecodeStep], Field(max_length=MAX_DECODE_STEPS)] = []
