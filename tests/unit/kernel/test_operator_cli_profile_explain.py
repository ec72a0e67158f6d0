"""`python -m iotbridge profile test --explain` and the warnings of `profile validate`: what a connector team
reads when a native event does not map as they expected, and what a valid profile may still do wrong."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from iotbridge.__main__ import EXIT_FAILED, EXIT_OK, main
from samples.device_clouds import LUMEN

SECRET_LOOKING = "SentinelToken-4hx9w"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def lumen_document(**changes: Any) -> dict[str, Any]:
    document = json.loads(LUMEN.profile_file.read_text())
    document.update(changes)
    return document


def write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def light(device: str, **state: Any) -> dict[str, Any]:
    return {"type": "device.state", "kind": "light", "deviceId": device, "state": {"power": "on", **state}}


def test_explain_says_why_each_rule_did_not_match_without_printing_a_value(tmp_path: Path) -> None:
    # GIVEN a delivery whose only event is a kind of state no rule takes, full of secret-looking values
    payload = {
        "accountId": "acct-1",
        "events": [
            {"type": "device.state", "kind": SECRET_LOOKING, "deviceId": "x", "note": SECRET_LOOKING},
        ],
    }
    # WHEN it is tested with --explain
    code, out, err = run(
        "profile",
        "test",
        str(LUMEN.profile_file),
        "--payload",
        write(tmp_path, "p.json", payload),
        "--explain",
    )
    # THEN each rule's failing part of its condition is named with the type it found, and no value is printed
    assert code == EXIT_OK
    assert "native event body.events[0]: ignored" in err
    assert (
        "rule light-state: when did not hold: event.kind == 'light' was false: event.kind is a string" in err
    )
    assert "rule command-result: when did not hold: event.type == 'command.result' was false" in err
    assert SECRET_LOOKING not in out + err


def test_explain_gives_each_members_and_attributes_source_and_transform(tmp_path: Path) -> None:
    payload = {"accountId": "acct-1", "events": [light("bulb-1", brightness=40)]}
    code, _, err = run(
        "profile",
        "test",
        str(LUMEN.profile_file),
        "--payload",
        write(tmp_path, "p.json", payload),
        "--explain",
    )
    assert code == EXIT_OK
    assert "rule light-state: matched" in err
    assert "member ConnectorDeviceId <- event.deviceId: set (a string)" in err
    assert (
        "attribute LevelControl.CurrentLevel <- event.state.brightness, transform percentToLevel: set" in err
    )
    assert "attribute ColorControl.ColorTemperatureMireds <- event.state.colorTemperature" in err


def test_without_explain_nothing_of_the_mapping_is_told(tmp_path: Path) -> None:
    payload = {"accountId": "acct-1", "events": [light("bulb-1")]}
    _, _, err = run(
        "profile", "test", str(LUMEN.profile_file), "--payload", write(tmp_path, "p.json", payload)
    )
    assert "native event" not in err and "rule light-state" not in err


def test_a_skipping_profile_tells_what_it_skipped_and_queues_the_rest(tmp_path: Path) -> None:
    # GIVEN Lumen's profile skipping on error, and a delivery with one light out of range among two good ones
    profile = write(tmp_path, "profile.json", lumen_document(onError="skip"))
    payload = {"accountId": "acct-1", "events": [light("b1"), light("b2", brightness=987), light("b3")]}
    # WHEN it is tested
    code, out, err = run("profile", "test", profile, "--payload", write(tmp_path, "p.json", payload))
    # THEN the two good ones are printed, and the skipped one named on stderr without its value
    assert code == EXIT_OK
    assert [event["ConnectorDeviceId"] for event in json.loads(out)] == ["b1", "b3"]
    assert "skipped: events[1].state.brightness (rule light-state): LevelControl.CurrentLevel" in err
    assert "2 SendConnectorEvent bodies would be queued, 1 skipped" in err
    assert "987" not in err


def test_the_same_delivery_under_reject_is_refused(tmp_path: Path) -> None:
    payload = {"accountId": "acct-1", "events": [light("b1"), light("b2", brightness=987)]}
    code, out, err = run(
        "profile", "test", str(LUMEN.profile_file), "--payload", write(tmp_path, "p.json", payload)
    )
    assert code == EXIT_FAILED
    assert json.loads(out)["errors"][0]["path"] == "events[1].state.brightness"
    assert "422" in err


def test_validate_warns_of_a_condition_that_does_not_say_what_it_reads_as(tmp_path: Path) -> None:
    # GIVEN Lumen's profile with a condition that negates `event` rather than `event.muted`
    document = lumen_document()
    document["rules"][1]["when"] = "event.type == 'device.state' && !event.muted"
    # WHEN it is validated
    code, out, err = run("profile", "validate", write(tmp_path, "profile.json", document))
    # THEN it is valid, with a warning that names where the condition is
    assert code == EXIT_OK and "valid" in out
    [trap] = [line for line in err.splitlines() if "rules[1].when" in line]
    assert trap.startswith("warning: rules[1].when: ") and "!event.muted" in trap


def test_validate_warns_of_what_a_static_token_does_not_protect_against(tmp_path: Path) -> None:
    document = lumen_document(verification={"scheme": "token", "header": "X-Lumen-Token"})
    code, _, err = run("profile", "validate", write(tmp_path, "profile.json", document))
    assert code == EXIT_OK
    assert "warning: verification: a static token signs nothing" in err
