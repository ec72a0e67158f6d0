"""Where profiled CPU goes: locations without the machine's folders, grouped by package.

No timing is asserted here: benchmarks never fail on a slow machine.
"""

from __future__ import annotations

from bench.hotspots import package_of, short_location


def test_locations_lose_the_machines_folders() -> None:
    assert (
        short_location("/x/.venv/lib/python3.13/site-packages/jmespath/visitor.py") == "jmespath/visitor.py"
    )
    assert short_location("/usr/lib/python3.13/json/decoder.py") == "json/decoder.py"
    assert (
        short_location("/home/u/repo/layers/shared/iotbridge/clients.py")
        == "layers/shared/iotbridge/clients.py"
    )


def test_profiled_time_is_grouped_by_distribution_or_project_part() -> None:
    assert package_of("botocore/hooks.py") == "botocore"
    assert package_of("layers/shared/iotbridge/webhook_receiver/adapters.py") == "layers/shared/iotbridge"
    assert package_of("~") == "(built-in)"
