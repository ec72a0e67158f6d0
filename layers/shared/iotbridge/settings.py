"""Reading settings from the environment: the only place that does.

Each function has its own settings class (`iotbridge.<function>.settings`), built by its wiring through an
`Environment`, which collects every problem before it fails, so one message lists them all. The AWS client
settings every function shares are here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Self

from .errors import InvalidInputError, Problem

ENDPOINT_PREFIX = "AWS_ENDPOINT_URL_"


class SettingsError(InvalidInputError):
    """Environment variables a function cannot run with; each problem names the variable."""

    subject = "settings"
    whole = "(environment)"


class Environment:
    """Typed reads of environment variables, with defaults and bounds. `check()` raises SettingsError
    listing every problem found by the reads before it."""

    def __init__(self, variables: Mapping[str, str] | None = None) -> None:
        self._variables = os.environ if variables is None else variables
        self._problems: list[Problem] = []

    def text(self, name: str, default: str = "", *, required: bool = False) -> str:
        value = self._variables.get(name, default)
        if required and not value:
            self._problems.append(Problem(name, "required: the function cannot run without it"))
        return value

    def path_prefix(self, name: str, default: str) -> str:
        """A hierarchy of names such as SSM parameters': empty (none), or starting and ending with '/'."""
        value = self._variables.get(name, default)
        if value and not (value.startswith("/") and value.endswith("/")):
            self._problems.append(Problem(name, "must be empty or start and end with '/'"))
        return value

    def key(self, name: str, *, minimum_chars: int) -> bytes:
        """A key given as text (required); its value never appears in a problem."""
        value = self._variables.get(name, "")
        if len(value) < minimum_chars:
            self._problems.append(Problem(name, f"required: a key of at least {minimum_chars} characters"))
        return value.encode("utf-8")

    def whole_number(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        return int(self._number(name, default, int, minimum=minimum, maximum=maximum))

    def number(
        self, name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None
    ) -> float:
        return float(self._number(name, default, float, minimum=minimum, maximum=maximum))

    def flag(self, name: str, *, default: bool) -> bool:
        """A yes-or-no setting: true or false (also 1 or 0, yes or no, any case)."""
        raw = self._variables.get(name)
        if raw is None or raw == "":
            return default
        value = raw.strip().lower()
        if value in ("true", "1", "yes"):
            return True
        if value in ("false", "0", "no"):
            return False
        self._problems.append(Problem(name, f"must be true or false, got {raw[:40]!r}"))
        return default

    def prefixed(self, prefix: str) -> dict[str, str]:
        """Every non-empty variable whose name starts with `prefix`, by the rest of its name."""
        return {
            name[len(prefix) :]: value
            for name, value in self._variables.items()
            if name.startswith(prefix) and value
        }

    def check(self) -> None:
        if self._problems:
            raise SettingsError(self._problems)

    def _number(
        self, name: str, default: float, kind: type[float], *, minimum: float, maximum: float | None
    ) -> float:
        noun = "a whole number" if kind is int else "a number"
        raw = self._variables.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = kind(raw)
        except ValueError:
            self._problems.append(Problem(name, f"must be {noun}, got {raw[:40]!r}"))
            return default
        if value < minimum:
            self._problems.append(Problem(name, f"must be at least {minimum}, got {value}"))
        elif maximum is not None and value > maximum:
            self._problems.append(Problem(name, f"must be at most {maximum}, got {value}"))
        return value


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How every AWS client of a function connects: timeouts, and endpoints set by environment."""

    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 5.0
    # AWS_ENDPOINT_URL_<NAME> variables by <NAME>, e.g. {"SQS": "http://127.0.0.1:5100"}.
    endpoints: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, env: Environment) -> ClientSettings:
        return cls(
            connect_timeout_seconds=env.number("AWS_CONNECT_TIMEOUT_SECONDS", 2.0, minimum=0.1),
            read_timeout_seconds=env.number("AWS_READ_TIMEOUT_SECONDS", 5.0, minimum=0.1),
            endpoints=env.prefixed(ENDPOINT_PREFIX),
        )

    def endpoint_for(self, service: str) -> str | None:
        """An endpoint set for this service, e.g. AWS_ENDPOINT_URL_IOTEVENTS_DATA for `iotevents-data`.

        The name is the client name upper-cased with '-' as '_'. botocore's own per-service variables
        (named from the service id, e.g. AWS_ENDPOINT_URL_IOT_EVENTS_DATA) and AWS_ENDPOINT_URL are still
        honoured by botocore itself when this one is unset.
        """
        return self.endpoints.get(service.upper().replace("-", "_")) or None

    @property
    def one_try_seconds(self) -> float:
        """The longest one try of a call can take before botocore gives up on it."""
        return self.connect_timeout_seconds + self.read_timeout_seconds


@dataclass(frozen=True, slots=True)
class FunctionSettings:
    """Base of a function's settings class (a frozen dataclass): `read` takes the function's own values from
    an Environment, and `from_environment` adds the client settings every function shares, then fails with
    every problem those reads found, or returns them."""

    # Keyword-only, so a function's own fields without defaults may follow it.
    clients: ClientSettings = field(default_factory=ClientSettings, kw_only=True)

    @classmethod
    def read(cls, env: Environment) -> Self:
        raise NotImplementedError

    @classmethod
    def from_environment(cls, env: Environment | None = None) -> Self:
        env = env or Environment()
        settings = replace(cls.read(env), clients=ClientSettings.read(env))
        env.check()
        return settings
