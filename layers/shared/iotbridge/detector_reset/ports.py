"""What the reset job needs from the outside world, as Protocols, and the plain values that cross them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from iotbridge.errors import code_is_transient


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
    """A message-mode reset of one detector: where it goes (an IoT Events input, or an AWS IoT Core topic)
    and the filled payload."""

    destination: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class ItemError:
    """One entry of a batch that the service did not apply. `transient` says whether sending it again may
    help, when the adapter knows better than the code alone (an HTTP status); None: judged by the code."""

    message_id: str
    code: str
    message: str = ""
    transient: bool | None = None

    @property
    def retryable(self) -> bool:
        return code_is_transient(self.code) if self.transient is None else self.transient


class DetectorService(Protocol):
    """What the job does with detectors, as the AWS IoT Events Data API defines it (the other backend keeps
    its semantics). Each raises iotbridge.errors.ServiceCallError (transient or permanent, with the
    service's code) when a whole call fails; failed entries of a batch come back as ItemErrors, a
    detector that does not exist as `ResourceNotFoundException`."""

    def list_detectors(
        self, detector_model_name: str, *, state_name: str | None, next_token: str | None, max_results: int
    ) -> DetectorPage: ...

    def describe_detector(self, detector_model_name: str, key_value: str) -> DetectorSnapshot: ...

    def update_detectors(
        self, detector_model_name: str, updates: list[tuple[str, DetectorUpdate]]
    ) -> list[ItemError]: ...

    def put_messages(self, messages: list[tuple[str, InputMessage]]) -> list[ItemError]: ...


class MessageSink(Protocol):
    """Where message-mode resets go when the detectors' store is not what receives their input."""

    def put_messages(self, messages: list[tuple[str, InputMessage]]) -> list[ItemError]: ...


class ContinuationSink(Protocol):
    """Starts the rest of a run elsewhere (a new asynchronous invocation of the same function)."""

    def continue_later(self, payload: dict[str, Any]) -> None: ...
