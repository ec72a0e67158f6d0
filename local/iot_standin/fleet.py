"""Generate a seed document for a fleet of detectors: the same arguments always give the same fleet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# 2026-01-01T00:00:00Z: a fixed creation time keeps generated seeds byte-for-byte repeatable.
FLEET_EPOCH = 1767225600


def fleet_seed(
    model: str,
    count: int,
    states: Sequence[str],
    *,
    variables: Mapping[str, str] | None = None,
    timers: Mapping[str, int] | None = None,
    key_prefix: str = "device-",
    version: str = "1",
    reset_input: str | None = None,
    reset_state: str | None = None,
    key_field: str = "keyValue",
) -> dict[str, Any]:
    """`count` detectors of `model`, keyed `<prefix>00000`.., taking the `states` in turn.

    With `reset_input`, the seed also declares that input with a rule that puts the detector a message
    names (payload field `key_field`) into `reset_state` (default: the first state) and clears it.
    """
    if count < 0:
        raise ValueError("count must be zero or more")
    if not states:
        raise ValueError("at least one state is needed")
    width = max(5, len(str(max(count - 1, 0))))
    detectors = [
        {
            "detectorModelName": model,
            "keyValue": f"{key_prefix}{index:0{width}d}",
            "detectorModelVersion": version,
            "state": {
                "stateName": states[index % len(states)],
                "variables": [{"name": n, "value": v} for n, v in (variables or {}).items()],
                "timers": [{"name": n, "timestamp": FLEET_EPOCH + s} for n, s in (timers or {}).items()],
            },
            "creationTime": FLEET_EPOCH + index,
            "lastUpdateTime": FLEET_EPOCH + index,
        }
        for index in range(count)
    ]
    seed: dict[str, Any] = {
        "detectorModels": {model: {"version": version, "states": list(dict.fromkeys(states))}},
        "detectors": detectors,
    }
    if reset_input is not None:
        target = reset_state or states[0]
        seed["detectorModels"][model]["states"] = list(dict.fromkeys([*states, target]))
        seed["inputs"] = {
            reset_input: {
                "reset": {"detectorModelName": model, "keyFrom": key_field, "setState": target, "clear": True}
            }
        }
    return seed
