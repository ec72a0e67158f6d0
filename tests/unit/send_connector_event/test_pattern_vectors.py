"""One reading of the service models' ECMAScript patterns: the relay's and the stand-in's agree with each
other and with ECMAScript's definitions, on every vector below.

ECMAScript (ECMA-262, "CharacterClassEscape" and "WhiteSpace"/"LineTerminator"): `\\s` is WhiteSpace (TAB,
VT, FF, ZWNBSP U+FEFF, and every Space_Separator) plus LineTerminator (LF, CR, U+2028, U+2029); `\\d` is
[0-9]; `\\w` is [A-Za-z0-9_]; `.` is any code point but a LineTerminator; `$` is the end of input only.
Python's own readings differ: its `\\s` takes U+0085 and U+001C..U+001F and not U+FEFF, its `\\d` and `\\w`
take every script's digits and letters, its `.` takes U+2028, and its `$` matches before a final newline.
"""

from __future__ import annotations

import pytest

from iot_standin.service_models import MANAGED_INTEGRATIONS, service_model
from iot_standin.shapes import ShapeChecker, pattern_allows
from iotbridge.send_connector_event.body import EventValidationError, wire_events
from iotbridge.send_connector_event.smithy import SmithyPattern

VECTORS = [
    # \s
    (r"^\s$", "\t", True),
    (r"^\s$", "\x0b", True),
    (r"^\s$", "\ufeff", True),
    (r"^\s$", "\u00a0", True),
    (r"^\s$", "\u3000", True),
    (r"^\s$", "\u2028", True),
    (r"^\s$", "\u0085", False),
    (r"^\s$", "\x1c", False),
    (r"^\s$", "\u180e", False),
    (r"^\S$", "\ufeff", False),
    (r"^\S$", "\u0085", True),
    (r"^[\s]$", "\u0085", False),
    # \d
    (r"^\d+$", "0123456789", True),
    (r"^\d$", "\u0663", False),  # ARABIC-INDIC DIGIT THREE
    (r"^\d$", "\uff11", False),  # FULLWIDTH DIGIT ONE
    (r"^\D$", "\u0663", True),
    # \w
    (r"^\w+$", "Az_09", True),
    (r"^\w$", "\u00e9", False),
    (r"^\w$", "\u0436", False),
    (r"^\W$", "\u00e9", True),
    # .
    (r"^.$", "a", True),
    (r"^.$", "\u0085", True),
    (r"^.$", "\n", False),
    (r"^.$", "\r", False),
    (r"^.$", "\u2028", False),
    (r"^.$", "\u2029", False),
    (r"^[.]$", "x", False),
    # anchors, and their absence (Smithy patterns are not implicitly anchored)
    (r"^[a-z]+$", "abc\n", False),
    (r"^[a-z]+$", "abc", True),
    (r"^a", "ba", False),
    (r"[a-z]+", "!abc!", True),
    (r"[a-z]+", "!!!", False),
    (r"0[xX][0-9a-fA-F]+$|^[0-9]+", "12x", True),
    (r"0[xX][0-9a-fA-F]+$|^[0-9]+", "x12", False),
]


@pytest.mark.parametrize(("pattern", "value", "ecmascript"), VECTORS)
def test_relay_and_stand_in_read_each_pattern_as_ecmascript_does(
    pattern: str, value: str, ecmascript: bool
) -> None:
    assert SmithyPattern(pattern).matches(value) is ecmascript
    assert pattern_allows(pattern, value) is ecmascript


def _relay_accepts(message: str) -> bool:
    try:
        wire_events({"Operation": "DEVICE_COMMAND_REQUEST", "Message": message}, "conn-1")
    except EventValidationError:
        return False
    return True


def _stand_in_accepts(message: str) -> bool:
    checker = ShapeChecker(service_model(MANAGED_INTEGRATIONS)["shapes"])
    params = {"ConnectorId": "conn-1", "Operation": "DEVICE_COMMAND_REQUEST", "Message": message}
    return checker.check("SendConnectorEventRequest", params).ok


@pytest.mark.parametrize(
    ("message", "verdict"), [("\ufeff", True), ("\u0085", False), ("uri: auc://lamp-1/switch", True)]
)
def test_a_message_gets_the_same_verdict_from_the_relay_and_the_stand_in(message: str, verdict: bool) -> None:
    # Before, "\ufeff" was accepted by the relay and refused by the stand-in, "\u0085" the reverse: an event
    # acknowledged with 202 could be dead-lettered.
    assert _relay_accepts(message) is verdict
    assert _stand_in_accepts(message) is verdict
