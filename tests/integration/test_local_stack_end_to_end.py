"""The local stack with the real handlers: signed webhooks reach SendConnectorEvent; nothing outlives it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge_local.sam_template import TemplateError, read
from bridge_local.signing import send_signed
from bridge_local.stack import LAST_RUN_FILE, ROOT, STATE_FILE, LocalStack, StackConfig, pid_alive
from samples import webhooks

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLI_ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT / "local"), str(ROOT / "layers" / "shared")]),
}


def recorded_events(iot_url: str) -> list[dict[str, Any]]:
    import urllib.request

    with urllib.request.urlopen(f"{iot_url}/_standin/connector-events", timeout=5) as response:
        return list(json.loads(response.read())["events"])


def wait_for_events(iot_url: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = recorded_events(iot_url)
        if len(events) >= count:
            return events
        time.sleep(0.2)
    return recorded_events(iot_url)


def listening(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = StackConfig(api_port=0, state_dir=tmp_path_factory.mktemp("state"), fleet_size=10)
    with LocalStack(config) as running:
        yield running


def test_a_signed_webhook_reaches_send_connector_event(stack: LocalStack) -> None:
    # The demo connector's secret and a DEVICE_EVENT body
    assert stack.api is not None
    body = webhooks.encode(webhooks.BODIES["device-event"])
    already = len(recorded_events(stack.iot_url))

    # It is posted, signed, to the local webhook endpoint
    reply = send_signed(stack.api.url, webhooks.DEMO_CONNECTOR_ID, body, webhooks.DEMO_SECRET)

    # It is accepted and the forwarder relays it to the stand-in's SendConnectorEvent
    assert reply.status == 202
    events = wait_for_events(stack.iot_url, already + 1)
    assert len(events) == already + 1
    assert events[-1]["connectorId"] == webhooks.DEMO_CONNECTOR_ID
    assert events[-1]["body"] == webhooks.BODIES["device-event"]


def test_the_send_command_signs_with_the_demo_secret_and_posts_to_the_running_stack(
    stack: LocalStack,
) -> None:
    already = len(recorded_events(stack.iot_url))

    result = subprocess.run(
        [sys.executable, "-m", "bridge_local", "--state-dir", str(stack.config.state_dir), "send",
         str(ROOT / "events" / "webhook-command-response.json")],
        env=CLI_ENV, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "HTTP 202" in result.stdout
    events = wait_for_events(stack.iot_url, already + 1)
    assert events[-1]["body"]["Operation"] == "DEVICE_COMMAND_RESPONSE"


def test_stopping_the_stack_ends_every_process_and_port(tmp_path: Path) -> None:
    # A running stack
    stack = LocalStack(StackConfig(api_port=0, state_dir=tmp_path, fleet_size=5)).start()
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert all(pid_alive(pid) for pid in state["pids"].values())

    # It is stopped
    stack.stop()

    # No process it started is alive, nothing listens, and the state file is gone
    assert not any(pid_alive(pid) for pid in state["pids"].values())
    for url in (state["apiUrl"], state["lambdaUrl"], state["motoUrl"], state["iotUrl"]):
        assert not listening(url)
    assert not (tmp_path / STATE_FILE).exists()


def _template_has_reset_function() -> bool:
    try:
        functions = read(ROOT / "template.yaml").functions.values()
    except TemplateError:
        return False
    return any(f.handler.startswith("detector_reset.") for f in functions)


@pytest.mark.skipif(
    not _template_has_reset_function(), reason="template.yaml has no detector reset function yet"
)
def test_the_demo_exits_0_and_leaves_no_process_behind(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge_local", "--state-dir", str(tmp_path), "demo"],
        env=CLI_ENV, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    last_run = json.loads((tmp_path / LAST_RUN_FILE).read_text())
    assert last_run["pids"]
    assert not any(pid_alive(pid) for pid in last_run["pids"].values())
    assert not listening(last_run["apiUrl"])


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_up_stops_every_process_it_started_on_ctrl_c_or_sigterm(tmp_path: Path, stop_signal: int) -> None:
    # `up` running, with its state written
    up = subprocess.Popen(
        [sys.executable, "-m", "bridge_local", "--state-dir", str(tmp_path), "up", "--port", "0",
         "--fleet-size", "5"],
        env=CLI_ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / STATE_FILE).exists() and up.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        state = json.loads((tmp_path / STATE_FILE).read_text())

        # It gets the signal
        up.send_signal(stop_signal)
        output, _ = up.communicate(timeout=30)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()

    # It exits cleanly and nothing it started is left
    assert up.returncode == 0, output
    assert "Demo secret" in output and "stopped" in output
    assert not any(pid_alive(pid) for pid in state["pids"].values())
    assert not listening(state["apiUrl"])
