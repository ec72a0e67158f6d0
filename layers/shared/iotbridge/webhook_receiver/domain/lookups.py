"""A profile's `lookup` members: ids the connector function recorded when it handed a request to the device
cloud, found again by what a webhook carries, for clouds whose webhooks do not echo the request's id.

`{"lookup": "command", "by": "event.requestId"}` is the TraceId of the command the device cloud knows by that
request id of its own; `{"lookup": "discovery", "by": "event.userId"}` the DeviceDiscoveryId of the user's
latest open discovery (without `by`, the connector's). Each distinct (kind, key) is read once per webhook,
through the `Lookups` port; every lookup an event makes is counted, a hit or a miss. A miss does what the
member's `otherwise` says: skip the event, make it a problem, or use a literal instead. The port's
DependencyUnavailableError goes up: the webhook is answered 503, to be tried again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from iotbridge.profile.expressions import Expression
from iotbridge.profile.values import LiteralValue, LookupValue

if TYPE_CHECKING:
    from ..ports import Lookups

# Longer keys are no id a device cloud gives (and are not worth a digest and a read).
MAX_KEY_CHARS = 1024


class WebhookLookups:
    """One webhook's lookups for one connector: each distinct (kind, key) read once through `port` (None:
    nothing is recorded anywhere, every lookup misses), and every lookup counted."""

    def __init__(self, port: Lookups | None, connector_id: str) -> None:
        self._port = port
        self._connector_id = connector_id
        self._found: dict[tuple[str, str | None], str | None] = {}
        self.hits = 0
        self.misses = 0

    def find(self, kind: str, key: str | None) -> str | None:
        """The id recorded for `key` (for a discovery, None is the connector's latest), or None."""
        if (kind, key) not in self._found:
            port = self._port
            self._found[(kind, key)] = (
                port.lookup(kind, self._connector_id, key) if port is not None else None
            )
        found = self._found[(kind, key)]
        self.count(hit=found is not None)
        return found

    def count(self, *, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1


class _Scope(Protocol):
    """What a lookup needs of the native event being mapped (the mapping's scope)."""

    @property
    def work(self) -> Any: ...

    def search(self, expression: Expression) -> Any: ...

    def add(self, expression: str, what: str) -> None: ...

    def skip(self, expression: str, what: str) -> None: ...


def looked_up(spec: LookupValue, scope: _Scope, target: str) -> Any:
    """The member's value: what the lookup finds, or, on a miss, what `otherwise` says (None when the event
    is skipped or has a problem, which the scope then holds)."""
    lookups: WebhookLookups | None = scope.work.lookups
    where = str(spec.by) if spec.by is not None else "event"
    key: str | None = None
    if spec.by is not None:
        found = scope.search(spec.by)
        if isinstance(found, int | float) and not isinstance(found, bool):
            found = str(int(found)) if float(found).is_integer() else str(found)
        if isinstance(found, dict | list):
            scope.add(where, f"{target} is looked up by a text or a number, not a {type(found).__name__}")
            return None
        key = found if isinstance(found, str) and 0 < len(found) <= MAX_KEY_CHARS else None
    value: str | None = None
    if spec.by is not None and key is None:
        if lookups is not None:
            lookups.count(hit=False)  # nothing to look up by: a miss, without a read
    elif lookups is not None:
        value = lookups.find(spec.lookup, key)
    if value is not None:
        return value
    if isinstance(spec.otherwise, LiteralValue):
        return spec.otherwise.value
    what = f"{target}: the {spec.lookup} lookup found nothing recorded"
    if spec.otherwise == "skip":
        scope.skip(where, what)
    else:
        scope.add(where, what)
    return None
