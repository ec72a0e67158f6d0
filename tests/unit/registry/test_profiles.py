"""Connectors' profiles from SSM: a profile that cannot be used is remembered as such for the cache period,
whatever makes it unusable, so that requests for its connector cost no lookup each."""

from __future__ import annotations

import json

import pytest

from fakes.aws import InMemorySsm
from iotbridge.registry.cache import LookupBudget
from iotbridge.registry.profiles import SsmConnectorProfiles
from iotbridge.signatures.standard_webhooks import SignatureError
from samples.device_clouds import LUMEN

PREFIX = "/iot-bridge/profiles/"


def test_a_profile_nested_too_deep_to_parse_is_remembered_as_unusable() -> None:
    # GIVEN a stored profile whose condition nests 1,000 parentheses, and a lookup budget of 5
    document = json.loads(LUMEN.profile_file.read_text())
    document["rules"][0]["when"] = "(" * 1000 + "event.x" + ")" * 1000
    ssm = InMemorySsm({PREFIX + "deep": json.dumps(document)})
    profiles = SsmConnectorProfiles(
        ssm, prefix=PREFIX, max_age_seconds=300, lookups=LookupBudget(burst=5, rate=0.0)
    )
    # WHEN 200 requests ask for that connector's profile
    for _ in range(200):
        with pytest.raises(SignatureError) as refused:
            profiles.profile_for("deep")
        # THEN each is refused as an unusable profile (the one 401)...
        assert refused.value.reason == "unusable_profile"
    # ...after one lookup, so the budget is left for other connectors
    assert ssm.calls == 1
    assert profiles.profile_for("absent") is None
