"""`python -m iotbridge catalogue [NAME]`: what a connector team reads to name Matter things in a profile."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iotbridge.__main__ import EXIT_OK, EXIT_USAGE, main
from iotbridge.matter import CLUSTERS, DEVICE_TYPES

ROOT = Path(__file__).resolve().parents[3]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_without_a_name_every_cluster_and_device_type_is_listed() -> None:
    code, out, err = run("catalogue")
    assert (code, err) == (EXIT_OK, "")
    for hex_id, name in [
        *((c.hex_id, c.name) for c in CLUSTERS.values()),
        *((d.hex_id, d.name) for d in DEVICE_TYPES.values()),
    ]:
        assert f"{hex_id}  {name}" in out, name
    assert "ExtendedColorLight          OnOff, LevelControl, ColorControl" in out


def test_a_cluster_lists_its_attributes_commands_and_event_fields() -> None:
    code, out, _ = run("catalogue", "ColorControl")
    assert code == EXIT_OK
    assert out.startswith("Cluster ColorControl 0x0300, revision 7\n")
    lines = [line.split() for line in out.splitlines()]
    assert ["0x0003", "CurrentX", "uint16", "0..65279", "1/65536"] in lines
    assert ["0x0000", "CurrentHue", "uint8", "0..254"] in lines
    assert ["0x00", "MoveToHue"] in lines


def test_a_name_both_a_cluster_and_a_device_type_lists_both() -> None:
    code, out, _ = run("catalogue", "DoorLock")
    assert code == EXIT_OK
    assert "Cluster DoorLock 0x0101" in out and "Device type DoorLock 0x000A" in out
    assert "0x0001  OperationSource    enum8   mandatory            0 Unspecified, 1 Manual" in out


def test_a_device_type_lists_its_required_clusters() -> None:
    code, out, _ = run("catalogue", "DimmableLight")
    assert code == EXIT_OK
    assert out.splitlines() == [
        "Device type DimmableLight 0x0101, revision 3",
        "Requires the clusters",
        "  0x0006  OnOff",
        "  0x0008  LevelControl",
    ]


@pytest.mark.parametrize(
    ("name", "suggested"),
    [("Doorlock", "DoorLock"), ("ColourControl", "ColorControl"), ("DimableLight", "DimmableLight")],
)
def test_an_unknown_name_is_a_usage_error_suggesting_close_names(name: str, suggested: str) -> None:
    code, out, err = run("catalogue", name)
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith(f'no cluster or device type is called "{name}" (did you mean {suggested}')


def test_a_name_with_nothing_close_says_how_to_see_every_name() -> None:
    code, _, err = run("catalogue", "Toaster")
    assert code == EXIT_USAGE
    assert err.strip() == 'no cluster or device type is called "Toaster"; without a name, every one is listed'


def test_the_command_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "iotbridge", "catalogue", "Switch"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers" / "shared")},
    )
    assert result.returncode == EXIT_OK
    assert "0x06  MultiPressComplete" in result.stdout
