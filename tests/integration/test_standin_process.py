"""The stand-in as a process: its command line, start-up line, shutdown, seeding and inspection API."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from iot_standin.fleet import fleet_seed
from iot_standin.testing import Standin, StandinAdminError, running_standin

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# The stand-in reads the model's patterns with the layer's own translation.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "local"), str(ROOT / "layers" / "shared")])}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iot_standin", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=False,
    )


@pytest.fixture
def process() -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [sys.executable, "-m", "iot_standin", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


def test_it_announces_one_line_with_its_url_and_stops_cleanly_on_sigterm(
    process: subprocess.Popen[str],
) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.fullmatch(r"iot-standin listening on (http://127\.0\.0\.1:(\d+))\n", line)
    assert found is not None, line
    with urllib.request.urlopen(found.group(1) + "/_standin/health", timeout=10) as answer:
        assert json.loads(answer.read())["status"] == "ok"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert process.stdout.read() == ""  # nothing after the one line


def test_requests_are_logged_to_stderr_without_their_bodies(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None and process.stderr is not None
    url = process.stdout.readline().split()[-1]
    body = json.dumps({"Operation": "DEVICE_EVENT", "ConnectorDeviceId": "secret-device"}).encode()
    request = urllib.request.Request(url + "/connector-event/conn-1", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
    log = process.stderr.read()
    assert "POST /connector-event/conn-1 -> 202 SendConnectorEvent ok" in log
    assert "secret-device" not in log


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "/nonexistent/seed.json"], "cannot read the seed file"),
        (["--faults", "{}"], "cannot read the fault plan file"),
        (["--port", "70000"], "--port must be from 0 to 65535"),
    ],
)
def test_bad_arguments_end_with_a_clear_message_and_no_traceback(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_seed_file_with_an_error_is_named_and_refused(tmp_path: Path) -> None:
    (tmp_path / "seed.json").write_text(json.dumps({"detectors": [{"detectorModelName": "M"}]}))
    result = run_cli("--seed", str(tmp_path / "seed.json"))
    assert result.returncode == 2
    assert "detectors[0].state.stateName is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_fault_plan_file_with_an_error_is_refused(tmp_path: Path) -> None:
    (tmp_path / "faults.json").write_text(json.dumps({"*": {"throttleRate": 3}}))
    result = run_cli("--faults", str(tmp_path / "faults.json"))
    assert result.returncode == 2
    assert "throttleRate must be a number from 0 to 1" in result.stderr


def test_fleet_command_prints_the_same_seed_every_time_and_the_stand_in_serves_it(tmp_path: Path) -> None:
    args = ["fleet", "--model", "Pump", "--count", "12", "--states", "Normal,Alarm", "--variables", "a=1"]
    first, second = run_cli(*args), run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    seed = json.loads(first.stdout)
    assert seed == fleet_seed("Pump", 12, ["Normal", "Alarm"], variables={"a": "1"})
    with running_standin(seed=seed) as standin:
        assert len(standin.detectors(model="Pump", state="Alarm")) == 6


def test_fleet_command_refuses_bad_pairs() -> None:
    result = run_cli("fleet", "--model", "Pump", "--count", "2", "--states", "A", "--timers", "t=soon")
    assert result.returncode == 2
    assert "--timers seconds must be whole numbers" in result.stderr


# ---- inspection API ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_standin() -> Iterator[Standin]:
    with running_standin(seed=fleet_seed("Pump", 3, ["Alarm"])) as standin:
        yield standin


@pytest.fixture
def standin(module_standin: Standin) -> Standin:
    module_standin.reset()
    return module_standin


def test_seeding_adds_detectors_and_replace_swaps_the_whole_set(standin: Standin) -> None:
    standin.seed(fleet_seed("Valve", 2, ["Open"]))
    assert {d["detectorModelName"] for d in standin.detectors()} == {"Pump", "Valve"}
    standin.seed(fleet_seed("Valve", 1, ["Open"]), replace=True)
    assert [d["keyValue"] for d in standin.detectors()] == ["device-00000"]


def test_reset_restores_the_start_up_seed_or_loads_another(standin: Standin) -> None:
    standin.seed(fleet_seed("Valve", 2, ["Open"]), replace=True)
    standin.reset()
    assert [d["detectorModelName"] for d in standin.detectors()] == ["Pump"] * 3
    standin.reset(seed=fleet_seed("Valve", 5, ["Open"]))
    assert len(standin.detectors(model="Valve")) == 5
    assert standin.detectors(model="Pump") == []


def test_a_bad_seed_sent_while_running_is_refused(standin: Standin) -> None:
    with pytest.raises(StandinAdminError, match="detectors must be a JSON list"):
        standin.seed({"detectors": {}})


def test_unknown_inspection_paths_are_not_found(standin: Standin) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(standin.url + "/_standin/nothing", timeout=10)
    assert raised.value.code == 404


def test_many_concurrent_calls_with_latency_are_all_served(standin: Standin) -> None:
    standin.set_faults({"*": {"latencyMs": 20, "latencyJitterMs": 10}})
    mi = standin.boto_client("iot-managed-integrations", max_pool_connections=25)

    def send(index: int) -> int:
        answer: dict[str, Any] = mi.send_connector_event(
            ConnectorId="conn-1", Operation="DEVICE_EVENT", ConnectorDeviceId=f"dev-{index}"
        )
        return int(answer["ResponseMetadata"]["HTTPStatusCode"])

    with ThreadPoolExecutor(max_workers=25) as pool:
        statuses = list(pool.map(send, range(200)))
    assert statuses == [202] * 200
    assert len(standin.connector_events()) == 200
    assert standin.stats()["operations"]["SendConnectorEvent"]["calls"] == {"ok": 200}
