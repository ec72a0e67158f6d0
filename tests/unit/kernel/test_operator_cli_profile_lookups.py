"""`python -m iotbridge profile test --lookups FILE`: the ids the connector function would have recorded for
a profile's lookups, given from a file, and every lookup that finds nothing named."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from iotbridge.__main__ import EXIT_OK, EXIT_USAGE, main
from samples import lookups as cloud

TRACE_ID = "9b75f3839b6140f=_1"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(cloud.profile_document()))
    payload = tmp_path / "payload.json"
    payload.write_bytes(cloud.encode([cloud.action_result("68c4"), cloud.masterdata()]))
    return {"profile": profile, "payload": payload, "dir": tmp_path}


def profile_test(files: dict[str, Path], *extra: str) -> tuple[int, str, str]:
    return run("profile", "test", str(files["profile"]), "--payload", str(files["payload"]), *extra)


def lookups_file(files: dict[str, Path], content: Any) -> str:
    path = files["dir"] / "lookups.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_the_recorded_ids_fill_the_lookups_and_nothing_is_said_missing(files: dict[str, Path]) -> None:
    given = {"command": {"68c4": TRACE_ID}, "discovery": {str(cloud.ACCOUNT_ID): "disc1"}}

    code, out, err = profile_test(files, "--lookups", lookups_file(files, given))

    assert code == EXIT_OK
    events = json.loads(out)
    assert [(e["Operation"], e.get("TraceId"), e.get("DeviceDiscoveryId")) for e in events] == [
        ("DEVICE_COMMAND_RESPONSE", TRACE_ID, None),
        ("DEVICE_DISCOVERY", None, "disc1"),
    ]
    assert "lookup miss" not in err


def test_each_miss_is_named_by_its_kind_and_key(files: dict[str, Path]) -> None:
    given = {"command": {"another": TRACE_ID}}

    code, out, err = profile_test(files, "--lookups", lookups_file(files, given))

    # The profile skips an event whose lookup misses: both are left out, and both misses named
    assert code == EXIT_OK
    assert json.loads(out) == []
    assert 'lookup miss: no command recorded for "68c4"' in err
    assert f'lookup miss: no discovery recorded for "{cloud.ACCOUNT_ID}"' in err


def test_without_a_lookups_file_every_lookup_misses(files: dict[str, Path]) -> None:
    code, _, err = profile_test(files)

    assert code == EXIT_OK
    assert err.count("lookup miss:") == 2


def test_the_connector_s_latest_discovery_is_the_star_key(files: dict[str, Path]) -> None:
    document = cloud.profile_document()
    del document["rules"][1]["members"]["DeviceDiscoveryId"]["by"]
    files["profile"].write_text(json.dumps(document))
    files["payload"].write_bytes(cloud.encode(cloud.masterdata()))

    code, out, _ = profile_test(files, "--lookups", lookups_file(files, {"discovery": {"*": "disc-latest"}}))

    assert code == EXIT_OK
    assert json.loads(out)[0]["DeviceDiscoveryId"] == "disc-latest"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("{not json", "the lookups file is not JSON"),
        ({"commands": {}}, 'must be a JSON object with "command" and "discovery"'),
        ({"command": {"68c4": 7}}, "command must be a JSON object of text values"),
        ([], 'must be a JSON object with "command" and "discovery"'),
    ],
)
def test_a_lookups_file_that_cannot_be_used_is_a_usage_error(
    files: dict[str, Path], content: Any, said: str
) -> None:
    code, out, err = profile_test(files, "--lookups", lookups_file(files, content))

    assert (code, out) == (EXIT_USAGE, "")
    assert said in err


def test_a_lookups_file_that_cannot_be_read_is_a_usage_error(files: dict[str, Path]) -> None:
    code, _, err = profile_test(files, "--lookups", str(files["dir"] / "missing.json"))

    assert code == EXIT_USAGE
    assert "cannot read the lookups" in err
