"""The detector fleet the IoT stand-in starts with: the model that the sample plans in events/plans/ reset.

Rooms of HVAC units, `building-<b>:room-<floor><nn>`, spread over the states the plans select, with the
variables and timers they set or preserve, and the input the message-mode plan sends to.
"""

from __future__ import annotations

from typing import Any

DEMO_MODEL = "hvacTemperature"
DEMO_STATES = ("Normal", "Alarm", "Fault")
DEMO_RESET_INPUT = "hvacResetInput"
ROOMS_PER_FLOOR = 25
FLOORS = 2
# A fixed time keeps the seed the same from run to run: 2026-01-01T00:00:00Z.
SEEDED_AT = 1_767_225_600


def key_value(index: int) -> str:
    building, rest = divmod(index, FLOORS * ROOMS_PER_FLOOR)
    floor, room = divmod(rest, ROOMS_PER_FLOOR)
    return f"building-{building + 1}:room-{floor + 1}{room + 1:02d}"


def demo_fleet(size: int = 200, models: dict[str, str] | None = None) -> dict[str, Any]:
    """`size` detectors of each model (model name -> its reset input), taking the states in turn.

    Detectors not in Normal carry alarms and a cooldown timer.
    """
    models = models or {DEMO_MODEL: DEMO_RESET_INPUT}
    detectors = []
    for model, index in ((m, i) for m in models for i in range(size)):
        state = DEMO_STATES[index % len(DEMO_STATES)]
        alarms = 0 if state == "Normal" else 1 + index % 4
        detectors.append(
            {
                "detectorModelName": model,
                "keyValue": key_value(index),
                "detectorModelVersion": "1",
                "state": {
                    "stateName": state,
                    "variables": [
                        {"name": "alarmCount", "value": str(alarms)},
                        {"name": "lifetimeAlarms", "value": str(alarms + index % 7)},
                        {"name": "installedAt", "value": "2025-06-01"},
                        {"name": "temperature", "value": str(19 + index % 9)},
                    ],
                    "timers": []
                    if state == "Normal"
                    else [{"name": "cooldown", "timestamp": SEEDED_AT + 900}],
                },
                "creationTime": SEEDED_AT,
                "lastUpdateTime": SEEDED_AT + index,
            }
        )
    return {
        "detectorModels": {DEMO_MODEL: {"version": "1", "states": list(DEMO_STATES)}},
        "detectors": detectors,
        "inputs": {
            DEMO_RESET_INPUT: {
                "reset": {
                    "detectorModelName": DEMO_MODEL,
                    "keyFrom": "sensorId",
                    "setState": "Normal",
                    "clear": True,
                }
            }
        },
    }
