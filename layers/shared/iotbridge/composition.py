"""A function's composition root, built once per execution environment, at init.

Lambda runs module import (the init phase) with burst CPU, and each invocation with CPU in proportion to
the function's memory, so clients, models and adapters are built at import. A setting the function cannot
run with does not fail the import: every invocation raises its SettingsError, so the function's log says
which variable to fix, and a receiver can still answer with a retryable status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Self, cast

from .settings import FunctionSettings, SettingsError


class FunctionWiring[S: FunctionSettings]:
    """Base of a function's composition root (a frozen dataclass): `build` makes it from its settings, and
    `from_environment` from the settings this environment holds, read by `settings_type`."""

    __slots__ = ()

    settings_type: ClassVar[type[FunctionSettings]]

    @classmethod
    def build(cls, settings: S) -> Self:
        raise NotImplementedError

    @classmethod
    def from_environment(cls) -> Self:
        return cls.build(cast(S, cls.settings_type.from_environment()))


class BuiltAtInit[W]:
    def __init__(self, build: Callable[[], W]) -> None:
        self._build = build
        self._wiring: W | None = None
        self._error: SettingsError | None = None
        self.rebuild()

    def rebuild(self) -> None:
        """Build again from the environment as it is now (tests that change it call this)."""
        try:
            self._wiring, self._error = self._build(), None
        except SettingsError as exc:
            self._wiring, self._error = None, exc

    @classmethod
    def fixed(cls, wiring: W) -> BuiltAtInit[W]:
        """A root holding `wiring` as built elsewhere (tests and benchmarks bringing their own adapters)."""
        return cls(lambda: wiring)

    def get(self) -> W:
        if self._error is not None:
            raise self._error
        return cast(W, self._wiring)  # built: no error means the build returned it
