"""What the reset job needs from the outside world, as Protocols, and the plain values that cross them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class DetectorRef:
    """A detector as listed: its key value and, when the listing told us, its state."""

    key_value: str
    state_name: str | None = None


@dataclass(frozen=True, slots=True)
class DetectorPage:
    detectors: list[DetectorRef]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class DetectorSnapshot:
    key_value: str
    state_name: str
    variables: dict[str, str] = field(default_factory=dict)
    timers: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DetectorUpdate:
    key_value: str
    state_name: str
    variables: tuple[tuple[str, str], ...] = ()
    timers: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class InputMessage:
    input_name: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class ItemError:
    """One entry of a batch that the service did not apply."""

    message_id: str
    code: str
    message: str = ""


class DetectorService(Protocol):
    """The AWS IoT Events Data operations the job uses. Each raises iotbridge.errors.ServiceCallError
    (transient or permanent, with the service's code) when a whole call fails; failed entries of a batch
    come back as ItemErrors."""

    def list_detectors(
        self, detector_model_name: str, *, state_name: str | None, next_token: str | None, max_results: int
    ) -> DetectorPage: ...

    def describe_detector(self, detector_model_name: str, key_value: str) -> DetectorSnapshot: ...

    def update_detectors(
        self, detector_model_name: str, updates: list[tuple[str, DetectorUpdate]]
    ) -> list[ItemError]: ...

    def put_messages(self, messages: list[tuple[str, InputMessage]]) -> list[ItemError]: ...


class ContinuationSink(Protocol):
    """Starts the rest of a run elsewhere (a new asynchronous invocation of the same function)."""

    def continue_later(self, payload: dict[str, Any]) -> None: ...
