"""Detector models, detectors and inputs held in memory, as IoT Events keeps them. Thread-safe.

Seed document (the same shape as DescribeDetector's `detector`, so a listing can be fed back in):

    {
      "detectorModels": {"PumpMonitor": {"version": "1", "states": ["Normal", "Alarm"]}},
      "detectors": [{"detectorModelName": "PumpMonitor", "keyValue": "pump-1", "detectorModelVersion": "1",
                     "state": {"stateName": "Alarm", "variables": [{"name": "pressure", "value": "9"}],
                               "timers": [{"name": "cooldown", "timestamp": 1767225900}]},
                     "creationTime": 1767225600, "lastUpdateTime": 1767225600}],
      "inputs": {"ResetInput": {"reset": {"detectorModelName": "PumpMonitor", "keyFrom": "pumpId",
                                          "setState": "Normal", "clear": true}}}
    }
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Documented IoT Events quota: a detector has at most five timers.
MAX_TIMERS = 5


class SeedError(ValueError):
    """A seed document the stand-in cannot load; the message says where."""


@dataclass(slots=True)
class Detector:
    model: str
    key: str | None
    version: str
    state: str
    variables: dict[str, str] = field(default_factory=dict)
    timers: dict[str, float] = field(default_factory=dict)
    created: float = 0.0
    updated: float = 0.0

    def summary(self) -> dict[str, Any]:
        found: dict[str, Any] = {"detectorModelName": self.model}
        if self.key is not None:
            found["keyValue"] = self.key
        found.update(
            detectorModelVersion=self.version,
            state={"stateName": self.state},
            creationTime=self.created,
            lastUpdateTime=self.updated,
        )
        return found

    def description(self) -> dict[str, Any]:
        found = self.summary()
        found["state"] = {
            "stateName": self.state,
            "variables": [{"name": n, "value": v} for n, v in self.variables.items()],
            "timers": [{"name": n, "timestamp": t} for n, t in self.timers.items()],
        }
        return found


@dataclass(frozen=True, slots=True)
class DetectorModel:
    name: str
    version: str = "1"
    # When given, BatchUpdateDetector refuses any other state name.
    states: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ResetRule:
    """What a message on an input does: put the detector the payload names into a state."""

    set_state: str
    key_from: str | None = None
    detector_model: str | None = None
    clear: bool = True
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Seed:
    models: dict[str, DetectorModel] = field(default_factory=dict)
    detectors: list[Detector] = field(default_factory=list)
    inputs: dict[str, ResetRule | None] = field(default_factory=dict)


def parse_seed(doc: object, *, now: float | None = None) -> Seed:
    """Read a seed document; raise SeedError naming the first entry that is wrong."""
    if not isinstance(doc, dict):
        raise SeedError("a seed must be a JSON object with 'detectorModels', 'detectors' and/or 'inputs'")
    unknown = sorted(set(doc) - {"detectorModels", "detectors", "inputs"})
    if unknown:
        raise SeedError(f"unknown seed section(s): {', '.join(unknown)}")
    stamp = time.time() if now is None else now
    seed = Seed()
    models = doc.get("detectorModels", {})
    if not isinstance(models, dict):
        raise SeedError("detectorModels must be a JSON object keyed by model name")
    for name, spec in models.items():
        seed.models[name] = _parse_model(name, spec)
    detectors = doc.get("detectors", [])
    if not isinstance(detectors, list):
        raise SeedError("detectors must be a JSON list")
    for index, entry in enumerate(detectors):
        detector = _parse_detector(index, entry, seed.models, stamp)
        seed.detectors.append(detector)
        seed.models.setdefault(detector.model, DetectorModel(detector.model, detector.version))
    inputs = doc.get("inputs", {})
    if not isinstance(inputs, dict):
        raise SeedError("inputs must be a JSON object keyed by input name")
    for name, spec in inputs.items():
        seed.inputs[name] = _parse_input(name, spec)
    return seed


def _parse_model(name: str, spec: object) -> DetectorModel:
    if not isinstance(spec, dict):
        raise SeedError(f"detectorModels.{name} must be a JSON object")
    states = spec.get("states")
    if states is not None and not (
        isinstance(states, list) and all(isinstance(s, str) and s for s in states)
    ):
        raise SeedError(f"detectorModels.{name}.states must be a list of state names")
    return DetectorModel(name, str(spec.get("version", "1")), tuple(states) if states is not None else None)


def _parse_detector(index: int, entry: object, models: Mapping[str, DetectorModel], now: float) -> Detector:
    where = f"detectors[{index}]"
    if not isinstance(entry, dict):
        raise SeedError(f"{where} must be a JSON object")
    model = entry.get("detectorModelName")
    if not isinstance(model, str) or not model:
        raise SeedError(f"{where}.detectorModelName is required")
    key = entry.get("keyValue")
    if key is not None and (not isinstance(key, str) or not key):
        raise SeedError(f"{where}.keyValue must be a non-empty string when given")
    state = entry.get("state")
    if not isinstance(state, dict) or not isinstance(state.get("stateName"), str) or not state["stateName"]:
        raise SeedError(f"{where}.state.stateName is required")
    declared = models.get(model)
    if declared is not None and declared.states is not None and state["stateName"] not in declared.states:
        raise SeedError(f"{where}.state.stateName is not one of the states of {model}")
    variables: dict[str, str] = {}
    for item in state.get("variables", []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "value" not in item:
            raise SeedError(f"{where}.state.variables entries need a name and a value")
        variables[item["name"]] = str(item["value"])
    timers: dict[str, float] = {}
    for item in state.get("timers", []):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not _is_number(item.get("timestamp"))
        ):
            raise SeedError(f"{where}.state.timers entries need a name and a timestamp (epoch seconds)")
        timers[item["name"]] = float(item["timestamp"])
    created: float = entry.get("creationTime", now)
    updated: float = entry.get("lastUpdateTime", created)
    if not _is_number(created) or not _is_number(updated):
        raise SeedError(f"{where}.creationTime and lastUpdateTime must be epoch seconds")
    version = entry.get("detectorModelVersion", declared.version if declared else "1")
    return Detector(
        model, key, str(version), state["stateName"], variables, timers, float(created), float(updated)
    )


def _parse_input(name: str, spec: object) -> ResetRule | None:
    if spec is None or spec == {}:
        return None
    if not isinstance(spec, dict) or set(spec) - {"reset"}:
        raise SeedError(f"inputs.{name} must be an object with an optional 'reset' rule")
    rule = spec["reset"]
    if rule is None:
        return None
    if not isinstance(rule, dict) or not isinstance(rule.get("setState"), str):
        raise SeedError(f"inputs.{name}.reset needs setState")
    unknown = sorted(set(rule) - {"setState", "keyFrom", "detectorModelName", "clear", "variables"})
    if unknown:
        raise SeedError(f"inputs.{name}.reset: unknown setting(s) {', '.join(unknown)}")
    variables = rule.get("variables", {})
    if not isinstance(variables, dict):
        raise SeedError(f"inputs.{name}.reset.variables must be an object of name -> value")
    return ResetRule(
        set_state=rule["setState"],
        key_from=rule.get("keyFrom"),
        detector_model=rule.get("detectorModelName"),
        clear=bool(rule.get("clear", True)),
        variables={str(k): str(v) for k, v in variables.items()},
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _order_key(key: str | None) -> str:
    # Key values are at least one character long, so '' can stand for a detector model without a key.
    return key or ""


@dataclass(slots=True)
class _ModelDetectors:
    model: DetectorModel
    by_key: dict[str, Detector] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)  # sorted: the stable listing order

    def put(self, detector: Detector) -> None:
        order = _order_key(detector.key)
        if order not in self.by_key:
            bisect.insort(self.keys, order)
        self.by_key[order] = detector


@dataclass(frozen=True, slots=True)
class Page:
    detectors: list[dict[str, Any]]
    last_key: str | None  # where the next page starts after, or None at the end


class DetectorStore:
    def __init__(self, seed: Seed | None = None) -> None:
        self._lock = threading.RLock()
        self._models: dict[str, _ModelDetectors] = {}
        self._inputs: dict[str, ResetRule | None] = {}
        if seed is not None:
            self.load(seed, replace=True)

    def load(self, seed: Seed, *, replace: bool) -> None:
        with self._lock:
            if replace:
                self._models.clear()
                self._inputs.clear()
            for model in seed.models.values():
                held = self._models.get(model.name)
                if held is None:
                    self._models[model.name] = _ModelDetectors(model)
                else:
                    held.model = model
            for detector in seed.detectors:
                self._models[detector.model].put(detector)
            self._inputs.update(seed.inputs)

    def has_model(self, name: str) -> bool:
        with self._lock:
            return name in self._models

    def has_input(self, name: str) -> bool:
        with self._lock:
            return name in self._inputs

    def page(self, model: str, state: str | None, after: str | None, limit: int) -> Page:
        """Up to `limit` summaries in key order, after key `after`; stable while detectors change state."""
        with self._lock:
            held = self._models[model]
            start = 0 if after is None else bisect.bisect_right(held.keys, after)
            found: list[dict[str, Any]] = []
            last: str | None = None
            for order in held.keys[start:]:
                detector = held.by_key[order]
                if state is not None and detector.state != state:
                    continue
                if len(found) == limit:
                    return Page(found, last)  # at least one more match exists
                found.append(detector.summary())
                last = order
            return Page(found, None)

    def describe(self, model: str, key: str | None) -> dict[str, Any] | None:
        with self._lock:
            held = self._models.get(model)
            detector = held.by_key.get(_order_key(key)) if held else None
            return detector.description() if detector else None

    def states_of(self, model: str) -> tuple[str, ...] | None:
        with self._lock:
            held = self._models.get(model)
            return held.model.states if held else None

    def exists(self, model: str, key: str | None) -> bool:
        with self._lock:
            held = self._models.get(model)
            return held is not None and _order_key(key) in held.by_key

    def update(
        self,
        *,
        model: str,
        key: str | None,
        state: str,
        variables: Iterable[tuple[str, str]],
        timers: Iterable[tuple[str, float]],
        now: float,
    ) -> bool:
        """Replace a detector's state, variables and timers (anything left out is cleared)."""
        with self._lock:
            held = self._models.get(model)
            detector = held.by_key.get(_order_key(key)) if held else None
            if detector is None:
                return False
            detector.state = state
            detector.variables = dict(variables)
            detector.timers = dict(timers)
            detector.updated = now
            return True

    def payload_key(self, input_name: str, payload: object) -> str | None:
        """The detector key value a message payload names, by the input's reset rule."""
        with self._lock:
            rule = self._inputs.get(input_name)
        if rule is None or rule.key_from is None or not isinstance(payload, dict):
            return None
        key = payload.get(rule.key_from)
        return None if key is None else str(key)

    def apply_input(self, input_name: str, payload: object, now: float) -> list[dict[str, Any]]:
        """Run the input's reset rule for a message payload; return the detectors it changed."""
        with self._lock:
            rule = self._inputs.get(input_name)
            if rule is None or not isinstance(payload, dict):
                return []
            key = self.payload_key(input_name, payload)
            models = [rule.detector_model] if rule.detector_model else sorted(self._models)
            changed: list[dict[str, Any]] = []
            for name in models:
                held = self._models.get(name)
                detector = held.by_key.get(_order_key(key)) if held else None
                if detector is None:
                    continue
                detector.state = rule.set_state
                if rule.clear:
                    detector.variables = {}
                    detector.timers = {}
                detector.variables.update(rule.variables)
                detector.updated = now
                changed.append({"detectorModelName": name, "keyValue": key})
            return changed

    def snapshot(self, model: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            names = [model] if model is not None else sorted(self._models)
            found: list[dict[str, Any]] = []
            for name in names:
                held = self._models.get(name)
                if held is None:
                    continue
                for order in held.keys:
                    detector = held.by_key[order]
                    if state is None or detector.state == state:
                        found.append(detector.description())
            return found

    def count(self) -> int:
        with self._lock:
            return sum(len(held.by_key) for held in self._models.values())
