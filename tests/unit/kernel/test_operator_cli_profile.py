"""`python -m iotbridge profile validate|test`: what a connector team runs before storing a profile."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from iotbridge.__main__ import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from samples.device_clouds import AERIE, DEMO_CLOUDS, LUMEN, DemoCloud

ROOT = Path(__file__).resolve().parents[3]
NOW = 1_790_000_000


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("cloud", DEMO_CLOUDS, ids=lambda c: c.connector_id)
def test_the_example_profiles_are_valid(cloud: DemoCloud) -> None:
    code, out, _ = run("profile", "validate", str(cloud.profile_file))
    assert code == EXIT_OK
    assert "valid" in out and cloud.profile().verification.scheme in out


def test_validate_warns_of_a_delivery_id_outside_the_signed_content(tmp_path: Path) -> None:
    # GIVEN Lumen's profile (GitHub-style: the body is signed, its X-Lumen-Delivery header is not), and the
    # same profile signing the id
    signed = json.loads(LUMEN.profile_file.read_text())
    signed["verification"] |= {"signedContent": "{id}.{body}", "messageIdHeader": "X-Lumen-Delivery"}
    del signed["deduplication"]
    path = tmp_path / "signed.json"
    path.write_text(json.dumps(signed))
    # WHEN each is validated
    code, out, err = run("profile", "validate", str(LUMEN.profile_file))
    signed_code, _, signed_err = run("profile", "validate", str(path))
    # THEN both are valid; only the first is warned of its delivery id, on stderr
    assert (code, signed_code) == (EXIT_OK, EXIT_OK)
    assert "valid" in out
    unsigned_id = "warning: verification: the delivery id is not covered by the signature"
    assert err.startswith(unsigned_id)
    assert unsigned_id not in signed_err


def test_validate_lists_every_problem_with_its_path(tmp_path: Path) -> None:
    document = json.loads(LUMEN.profile_file.read_text())
    document["verification"]["algorithm"] = "md5"
    document["rules"][0]["matterEndpoint"]["set"][1]["attribute"] = "LevelControl.Brightness"
    document["rules"][2]["when"] = "event.type == "
    document["colour"] = "blue"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document))

    code, out, err = run("profile", "validate", str(path))

    assert (code, out) == (EXIT_USAGE, "")
    for where in (
        "verification.algorithm",
        "rules[0].matterEndpoint.set[1].attribute",
        "rules[2].when",
        "colour",
    ):
        assert where in err, where
    assert "CurrentLevel" in err  # the catalogue suggests the attribute meant


@pytest.mark.parametrize(
    ("content", "what"), [(b"{not json", "not valid JSON"), (b"[1, 2]", "expected a JSON object")]
)
def test_a_file_that_is_no_profile_is_a_usage_error(tmp_path: Path, content: bytes, what: str) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(content)
    code, _, err = run("profile", "validate", str(path))
    assert code == EXIT_USAGE and what in err


def test_a_missing_file_is_a_usage_error_that_names_it(tmp_path: Path) -> None:
    code, _, err = run("profile", "test", str(tmp_path / "nope.json"), "--payload", str(tmp_path / "x.json"))
    assert code == EXIT_USAGE and "nope.json" in err


def test_test_prints_the_sendconnectorevent_bodies_the_relay_would_queue() -> None:
    code, out, err = run(
        "profile", "test", str(LUMEN.profile_file), "--payload", str(LUMEN.payloads_dir / "state.json")
    )
    assert code == EXIT_OK
    events = json.loads(out)
    assert [e["ConnectorDeviceId"] for e in events] == ["lmn-bulb-0042", "lmn-plug-0007"]
    assert all(e["ConnectorId"] == "profile-test" and e["Operation"] == "DEVICE_EVENT" for e in events)
    assert "matched no rule" in err  # the heartbeat the profile ignores
    assert "signed here" in err  # no headers given: the signature was the tool's own


def test_test_with_the_senders_headers_checks_their_signature(tmp_path: Path) -> None:
    body = AERIE.payload("readings")
    secret = tmp_path / "secret.txt"
    secret.write_text(AERIE.secret + "\n")
    headers = tmp_path / "headers.json"
    headers.write_text(json.dumps(AERIE.signed(body, now=NOW)))
    payload = AERIE.payloads_dir / "readings.json"
    args = ["profile", "test", str(AERIE.profile_file), "--payload", str(payload), "--headers", str(headers)]

    code, out, err = run(*args, "--secret-file", str(secret), "--now", str(NOW + 5))
    assert code == EXIT_OK and len(json.loads(out)) == 3 and "signed here" not in err

    # The same request an hour later: stale, and the reason says so (the sender only ever sees the 401).
    code, out, err = run(*args, "--secret-file", str(secret), "--now", str(NOW + 3600))
    assert code == EXIT_FAILED
    assert json.loads(out) == {"message": "The request could not be authenticated."}
    assert "401" in err and "timestamp_too_old" in err

    secret.write_text("some other secret")
    code, _, err = run(*args, "--secret-file", str(secret), "--now", str(NOW + 5))
    assert code == EXIT_FAILED and "signature_mismatch" in err


def test_test_answers_a_mapping_failure_with_the_422_naming_rule_and_path() -> None:
    code, out, err = run(
        "profile", "test", str(LUMEN.profile_file), "--payload", str(LUMEN.payloads_dir / "out-of-range.json")
    )
    assert code == EXIT_FAILED
    answer = json.loads(out)
    assert answer["errors"] == [
        {
            "path": "events[0].state.brightness",
            "rule": "rule light-state: LevelControl.CurrentLevel must be 0..254",
        }
    ]
    assert "422" in err and "invalid_event" in err


def test_headers_that_are_not_an_object_of_text_are_a_usage_error(tmp_path: Path) -> None:
    headers = tmp_path / "h.json"
    headers.write_text('{"x-lumen-delivery": 5}')
    code, _, err = run(
        "profile",
        "test",
        str(LUMEN.profile_file),
        "--payload",
        str(LUMEN.payloads_dir / "state.json"),
        "--headers",
        str(headers),
    )
    assert code == EXIT_USAGE and "JSON object of text values" in err


def test_the_tool_runs_as_a_module_with_the_layer_on_the_path() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "iotbridge", "profile", "validate", str(AERIE.profile_file)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "layers" / "shared"), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=60,
    )
    assert completed.returncode == EXIT_OK, completed.stderr
    assert "valid" in completed.stdout


def test_validate_refuses_a_profile_nested_too_deep_without_a_traceback(tmp_path: Path) -> None:
    # GIVEN a profile whose condition nests 1,000 parentheses
    document = json.loads(LUMEN.profile_file.read_text())
    document["rules"][0]["when"] = "(" * 1000 + "event.x" + ")" * 1000
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(document))
    # WHEN it is validated
    code, _, err = run("profile", "validate", str(path))
    # THEN it is an invalid profile (exit 2), its problem named by path, in a few lines
    assert code == EXIT_USAGE
    assert "rules[0].when" in err and "Traceback" not in err
    assert len(err) < 500


def test_profile_test_lists_at_most_a_hundred_problems(tmp_path: Path) -> None:
    # GIVEN a discovery of 5,000 devices without ids
    payload = tmp_path / "many.json"
    devices = [{"model": "LB-20T"}] * 5000
    events = [{"type": "discovery.result", "discoveryId": "d", "devices": devices}]
    payload.write_text(json.dumps({"accountId": "a", "events": events}))
    # WHEN the tool tries it against Lumen's profile
    code, out, _ = run("profile", "test", str(LUMEN.profile_file), "--payload", str(payload))
    # THEN the answer it prints lists the first 100 problems and counts the rest
    answer = json.loads(out)
    assert code == EXIT_FAILED
    assert (len(answer["errors"]), answer["moreErrors"]) == (100, 4900)
