"""The forwarder benchmark's check that each message group kept its order.

No timing is asserted here: benchmarks never fail on a slow machine.
"""

from __future__ import annotations

from bench.forwarder_batch import groups_in_order


def test_group_order_holds_when_each_device_sees_its_events_in_batch_order() -> None:
    devices = ["a", "b", "a", "b"]
    recorded = ["uri: auc://b/seq-1", "uri: auc://a/seq-0", "uri: auc://a/seq-2", "uri: auc://b/seq-3"]
    assert groups_in_order(recorded, devices)


def test_group_order_fails_when_a_device_sees_a_later_event_first_or_misses_one() -> None:
    devices = ["a", "b", "a", "b"]
    swapped = ["uri: auc://a/seq-2", "uri: auc://a/seq-0", "uri: auc://b/seq-1", "uri: auc://b/seq-3"]
    missing = ["uri: auc://a/seq-0", "uri: auc://b/seq-1", "uri: auc://b/seq-3"]
    assert not groups_in_order(swapped, devices)
    assert not groups_in_order(missing, devices)
