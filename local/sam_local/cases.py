"""Which sample event of events/ goes to which function, and in which order they run.

Every JSON file directly in events/ is a sample for exactly one function, by its name's prefix (env.json
is the env-vars file); a sample no function takes fails the run rather than being skipped. The order
matters where samples change what later ones see: the connector's deactivation of the lights cloud's user
comes last, after that cloud's webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# File name prefix -> the module the function's handler is in (as the template names it).
PREFIXES = {
    "webhook-": "webhook_receiver",
    "forwarder-": "forwarder",
    "reset-": "detector_reset",
    "connector-": "connector",
}
NOT_SAMPLES = frozenset({"env.json"})
# Samples signed with a timestamp their profile checks (five minutes): they are signed again just before.
FRESH_PREFIXES = ("webhook-aerie-sensors-", "webhook-smartthings-", "webhook-google-nest-")
# Run order of the groups, and samples that must come last within theirs.
GROUP_ORDER = ("webhook-", "forwarder-", "reset-", "connector-")
LAST = ("connector-deactivate-user.json",)


class CasesError(ValueError):
    """A sample event no function takes, or a function the template lacks."""


@dataclass(frozen=True)
class Case:
    function: str  # the template's logical id
    event: Path  # the file sam local invoke reads
    sample: str  # its name in events/
    fresh: bool = False  # signed again at run time (a copy under the cache folder)

    @property
    def kind(self) -> str:
        return next(prefix for prefix in PREFIXES if self.sample.startswith(prefix)).rstrip("-")


def plan_cases(
    sample_names: list[str], handlers: dict[str, str], *, events_dir: Path, fresh_dir: Path
) -> list[Case]:
    """Every sample, matched to its function (handlers: logical id -> handler), in run order."""
    by_module = {handler.split(".", 1)[0]: name for name, handler in handlers.items()}
    cases: list[Case] = []
    unknown = []
    for sample in sorted(sample_names):
        if sample in NOT_SAMPLES:
            continue
        prefix = next((p for p in PREFIXES if sample.startswith(p)), None)
        if prefix is None:
            unknown.append(sample)
            continue
        function = by_module.get(PREFIXES[prefix])
        if function is None:
            raise CasesError(f"no function in the template has a {PREFIXES[prefix]}.* handler (for {sample})")
        fresh = sample.startswith(FRESH_PREFIXES)
        event = (fresh_dir if fresh else events_dir) / sample
        cases.append(Case(function=function, event=event, sample=sample, fresh=fresh))
    if unknown:
        raise CasesError(
            f"sample events no function takes: {', '.join(unknown)} (name them {'/'.join(PREFIXES)}*)"
        )
    return sorted(cases, key=_order)


def _order(case: Case) -> tuple[int, int, str]:
    group = next(i for i, prefix in enumerate(GROUP_ORDER) if case.sample.startswith(prefix))
    return (group, 1 if case.sample in LAST else 0, case.sample)


# Samples that share state run one after the other in one lane; lanes run side by side. The lights
# cloud's webhooks come before the connector's samples, whose last one deactivates that cloud's user.
LANES = (
    ("connector", ("webhook-lumen-home-", "connector-")),
    ("reset", ("reset-", "forwarder-")),
    ("webhook", ("webhook-",)),
)


def lanes(cases: list[Case]) -> dict[str, list[Case]]:
    """The cases by lane, each lane in run order."""
    found: dict[str, list[Case]] = {name: [] for name, _ in LANES}
    for case in cases:
        name = next(name for name, prefixes in LANES if case.sample.startswith(prefixes))
        found[name].append(case)
    return {name: sorted(group, key=_order) for name, group in found.items() if group}
