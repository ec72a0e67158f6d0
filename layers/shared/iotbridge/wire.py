"""The base of the project's camelCase wire models (reset plans, continuations, connector envelopes), and
how a pydantic validation error becomes the project's problems."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from .errors import Problem, render_path


class CamelModel(BaseModel):
    """Members named in camelCase on the wire (snake_case in Python, either accepted); unknown members are
    a sender's mistake; values are immutable once validated."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )


Location = tuple[int | str, ...]


def problems_of(
    exc: ValidationError,
    *,
    location: Callable[[Location], Location] | None = None,
    rules: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Each error as a Problem; input values are left out (they may be long or not meant for logs).

    `location` may rewrite an error's location first (e.g. drop a discriminated union's tag); `rules` gives
    the rule for errors of a type whose own message would quote the input (a union's unknown tag).
    """
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])
        if location is not None:
            loc = location(loc)
        rule = (rules or {}).get(error["type"]) or error["msg"].removeprefix("Value error, ")
        problems.append(Problem(render_path(loc), rule))
    return problems
