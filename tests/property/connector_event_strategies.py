"""Hypothesis strategies for SendConnectorEvent bodies that AWS's model accepts, written from its constraints.

Every pattern of the model is unanchored (Smithy semantics), so a value passes when some part of it matches:
the text strategies put one matching core somewhere inside arbitrary Unicode text, within the member's
length. Cores are spelled from explicit ASCII alphabets rather than generated from the patterns with
Python's `re`, whose `\\s` and `\\d` are wider than ECMAScript's.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from samples.webhooks import encode

OPERATIONS = ("DEVICE_COMMAND_RESPONSE", "DEVICE_DISCOVERY", "DEVICE_EVENT", "DEVICE_COMMAND_REQUEST")
ALNUM = string.ascii_letters + string.digits
HEX = string.hexdigits
ECMA_SPACE = "\t\n\x0b\x0c\r \u00a0\u2028\u3000\ufeff"

# Any Unicode scalar value: JSON can carry all of them, lone surrogates are not text.
ANY_TEXT_CHAR = st.characters(codec="utf-8")


def unanchored(core: st.SearchStrategy[str], min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Text holding a match of the pattern (`core`) with arbitrary text around it, min..max code points."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        middle = draw(core)
        room = max_size - len(middle)
        if room <= 0 or draw(st.booleans()):
            padding = max(0, min_size - len(middle))
            return middle + "1" * padding if padding else middle
        before = draw(st.text(ANY_TEXT_CHAR, max_size=min(room, 8)))
        after_room = room - len(before)
        after = draw(
            st.text(ANY_TEXT_CHAR, min_size=max(0, min_size - len(middle) - len(before)), max_size=after_room)
        )
        return before + middle + after

    return build().filter(lambda value: min_size <= len(value) <= max_size)


def class_text(alphabet: str, min_size: int, max_size: int, *, core_max: int = 12) -> st.SearchStrategy[str]:
    """A value of `[<alphabet>]+` as Smithy reads it."""
    core = st.text(alphabet, min_size=1, max_size=min(core_max, max_size))
    return unanchored(core, min_size, max_size)


def matter_id(max_size: int) -> st.SearchStrategy[str]:
    # 0[xX][0-9a-fA-F]+$|^[0-9]+ : a hexadecimal id at the end, or digits at the start.
    hex_id = st.builds(
        lambda prefix, x, digits: prefix + "0" + x + digits,
        st.text(ANY_TEXT_CHAR, max_size=2),
        st.sampled_from("xX"),
        st.text(HEX, min_size=1, max_size=6),
    )
    decimal = st.builds(
        lambda digits, rest: digits + rest,
        st.text(string.digits, min_size=1, max_size=4),
        st.text(ANY_TEXT_CHAR, max_size=2),
    )
    return st.one_of(hex_id, decimal).filter(lambda value: len(value) <= max_size)


def schema_versioned_id() -> st.SearchStrategy[str]:
    # [a-zA-Z0-9.]+@(\d+\.\d+(\.\d+)?|\$latest), 7..128
    version = st.one_of(
        st.just("$latest"),
        st.builds(
            lambda a, b, c: f"{a}.{b}" + (f".{c}" if c is not None else ""),
            st.integers(0, 99),
            st.integers(0, 99),
            st.none() | st.integers(0, 99),
        ),
    )
    core = st.builds(lambda name, v: f"{name}@{v}", st.text(ALNUM + ".", min_size=1, max_size=20), version)
    return unanchored(core, 7, 128)


def documents() -> st.SearchStrategy[Any]:
    """A Smithy document: any JSON value (finite numbers, Unicode text)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(ANY_TEXT_CHAR, max_size=20),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.text(ANY_TEXT_CHAR, max_size=8), inner, max_size=4),
        ),
        max_leaves=6,
    )


def members(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """An object with every required member and any subset of the optional ones (left out, never null)."""
    return st.fixed_dictionaries(required, optional=optional)


user_ids = class_text(ALNUM + "_.,@-", 1, 64)
device_ids = class_text(ALNUM + "_.,@-", 1, 256)
device_names = unanchored(
    st.text(st.characters(categories=("L", "N")) | st.sampled_from(" ._-"), min_size=1, max_size=12), 1, 256
)
messages = class_text(ALNUM + "_.,@-" + ECMA_SPACE, 1, 256)
trace_ids = class_text(ALNUM + ":=_-", 1, 128)
discovery_ids = class_text(ALNUM, 1, 200)
operation_versions = class_text(string.digits + ".", 1, 6, core_max=3)
endpoint_ids = class_text(ALNUM, 1, 64)
node_ids = class_text(ALNUM + "=_.,@+-/", 1, 64)
device_types = class_text(ALNUM + "=_. ,@+-/", 0, 256)
names = class_text(ALNUM + "/._ -", 1, 128)
semantic_tags = class_text(ALNUM + "._-", 1, 128)
spec_versions = unanchored(
    st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 999), st.integers(0, 999)), 1, 64
)
report_versions = unanchored(st.just("1.0.0"), 1, 10)


def present_documents() -> st.SearchStrategy[Any]:
    """A document where AWS requires a value: a required member or a map's value, never null itself."""
    return documents().filter(lambda value: value is not None)


report_attributes = members({}, {"id": matter_id(24), "name": names, "value": documents()})
report_clusters = members(
    {"id": matter_id(24), "revision": st.integers(1, 10)},
    {
        "publicId": schema_versioned_id(),
        "name": names,
        "specVersion": spec_versions,
        "attributes": st.lists(report_attributes, max_size=2),
        "commands": st.lists(matter_id(24), max_size=2),
        "events": st.lists(matter_id(24), max_size=2),
        "featureMap": st.integers(0, 4_294_967_295),
        "generatedCommands": st.lists(matter_id(24), max_size=2),
        "fabricIndex": st.integers(0, 4096),
    },
)
report_endpoints = members(
    {
        "id": endpoint_ids,
        "deviceTypes": st.lists(device_types, max_size=2),
        "clusters": st.lists(report_clusters, max_size=2),
    },
    {
        "parts": st.lists(endpoint_ids, max_size=2),
        "semanticTags": st.lists(semantic_tags, max_size=2),
        "clientClusters": st.lists(matter_id(24), max_size=2),
    },
)
capability_reports = members(
    {"version": report_versions, "endpoints": st.lists(report_endpoints, max_size=2)}, {"nodeId": node_ids}
)
capability_schemas = members(
    {
        "Format": st.sampled_from(("AWS", "ZCL", "CONNECTOR")),
        "CapabilityId": schema_versioned_id(),
        "ExtrinsicId": matter_id(10),
        "ExtrinsicVersion": st.integers(1, 10),
        "Schema": present_documents(),
    },
    {},
)
devices = members(
    {"ConnectorDeviceId": device_ids, "CapabilityReport": capability_reports},
    {
        "ConnectorDeviceName": device_names,
        "CapabilitySchemas": st.lists(capability_schemas, max_size=2),
        "DeviceMetadata": documents(),
    },
)
cluster_states = members(
    {},
    {
        "id": matter_id(24),
        "attributes": documents(),
        "commands": st.dictionaries(matter_id(24), present_documents(), min_size=1, max_size=5),
        "events": st.dictionaries(matter_id(24), present_documents(), min_size=1, max_size=5),
    },
)
matter_endpoints = members(
    {}, {"id": endpoint_ids, "clusters": st.lists(cluster_states, min_size=1, max_size=5)}
)

_OPTIONAL_MEMBERS: dict[str, st.SearchStrategy[Any]] = {
    "UserId": user_ids,
    "OperationVersion": operation_versions,
    "StatusCode": st.integers(100, 550),
    "Message": messages,
    "DeviceDiscoveryId": discovery_ids,
    "ConnectorDeviceId": device_ids,
    "TraceId": trace_ids,
    "Devices": st.lists(devices, max_size=2),
    "MatterEndpoint": matter_endpoints,
}
# What each operation's documented flow cannot do without (the receiver's contract on top of AWS's model).
OPERATION_MEMBERS: dict[str, tuple[str, ...]] = {
    "DEVICE_DISCOVERY": ("DeviceDiscoveryId", "Devices"),
    "DEVICE_EVENT": ("ConnectorDeviceId", "MatterEndpoint"),
    "DEVICE_COMMAND_RESPONSE": ("TraceId",),
    "DEVICE_COMMAND_REQUEST": (),
}


def connector_events(operation: str | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """A SendConnectorEvent body without ConnectorId that the model and the receiver's contract accept."""

    def for_operation(op: str) -> st.SearchStrategy[dict[str, Any]]:
        needed = OPERATION_MEMBERS[op]
        required = {"Operation": st.just(op), **{name: _OPTIONAL_MEMBERS[name] for name in needed}}
        optional = {name: s for name, s in _OPTIONAL_MEMBERS.items() if name not in needed}
        return members(required, optional)

    if operation is not None:
        return for_operation(operation)
    return st.sampled_from(OPERATIONS).flatmap(for_operation)


def webhook_bodies() -> st.SearchStrategy[dict[str, Any] | list[dict[str, Any]]]:
    """One event, or an array of 1..50 (kept short here: the array bound is tested on its own)."""
    return st.one_of(connector_events(), st.lists(connector_events(), min_size=1, max_size=3))


_TEXT_ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252")


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bytes a sender might send: noise, truncated or re-encoded JSON, deeply nested arrays."""
    valid = encode(draw(connector_events()))
    return draw(
        st.one_of(
            st.binary(max_size=512),
            st.just(valid[: draw(st.integers(0, max(0, len(valid) - 1)))]),
            st.sampled_from(_TEXT_ENCODINGS).map(
                lambda codec: valid.decode("utf-8").encode(codec, errors="replace")
            ),
            st.integers(1, 100_000).map(lambda depth: b"[" * depth + b"]" * depth),
            st.integers(1, 100_000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
            st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b'{"StatusCode": NaN}', b"\xef\xbb\xbf{}"]),
            st.just(b'{"Operation":"DEVICE_EVENT","StatusCode":1' + b"0" * 5000 + b"}"),
        )
    )
