"""A container engine of its own: dockerd with its data, socket, state and pidfile under the cache folder.

It never talks to an engine the user runs: its socket is its own (DOCKER_HOST points there for every command
run against it), and it is stopped by the process id it was started with. When another engine already owns
the default bridge (docker0), this one gets a bridge of its own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

# Unix socket paths are limited to 107 bytes: containerd's sockets live under the exec root.
MAX_SOCKET_PATH = 100
OWN_BRIDGE = "samlocal0"
OWN_BRIDGE_CIDR = "172.29.250.1/24"


class EngineError(RuntimeError):
    """The engine could not be installed, started or used; the message says what to do."""


def missing_commands(commands: dict[str, str]) -> list[str]:
    """The Debian packages to install for the commands (command -> package) not on PATH."""
    return sorted({package for command, package in commands.items() if shutil.which(command) is None})


def install_packages(packages: list[str], say: object = print) -> None:
    """apt-get install, as root; a clear error where that is not possible."""
    if not packages:
        return
    if shutil.which("apt-get") is None:
        raise EngineError(f"{', '.join(packages)} missing and no apt-get to install them: install them first")
    if os.geteuid() != 0:
        raise EngineError(
            f"{', '.join(packages)} missing: install them as root (apt-get install {' '.join(packages)})"
        )
    print(f"installing {', '.join(packages)} (apt-get)...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-10:])
            raise EngineError(f"`{' '.join(argv)}` failed (exit {done.returncode}):\n{tail}")


def docker_client_binary(dockerd: str) -> str:
    """The docker CLI installed beside dockerd (the same release), else the first on PATH."""
    for candidate in (Path(dockerd).parent.parent / "bin" / "docker", Path(dockerd).parent / "docker"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("docker")
    if found is None:
        raise EngineError("no docker command found beside dockerd")
    return found


def _socket_answers(path: str) -> bool:
    with contextlib.closing(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


@dataclass
class Engine:
    root: Path  # .cache/sam-local/engine
    dockerd: str = ""
    docker: str = ""
    process: subprocess.Popen[bytes] | None = None
    bridge: str | None = None
    created_bridge: bool = False
    log_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.log_file = self.root / "dockerd.log"

    @property
    def socket_path(self) -> Path:
        return self.root / "docker.sock"

    @property
    def pidfile(self) -> Path:
        return self.root / "dockerd.pid"

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of every command run against this engine (docker, sam)."""
        return {**os.environ, "DOCKER_HOST": self.host}

    def start(self, timeout: float = 60.0) -> Engine:
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise EngineError("dockerd not found (Debian package docker.io)")
        self.dockerd, self.docker = dockerd, docker_client_binary(dockerd)
        exec_root = self.root / "exec"
        if len(str(exec_root / "containerd" / "containerd-debug.sock")) > MAX_SOCKET_PATH:
            raise EngineError(f"the cache folder's path is too long for the engine's sockets: {self.root}")
        self.root.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        argv = [
            dockerd,
            "--data-root", str(self.root / "data"),
            "--exec-root", str(exec_root),
            "--host", self.host,
            "--pidfile", str(self.pidfile),
            "--userland-proxy=false",
        ]  # fmt: skip
        if self._default_bridge_taken():
            argv += ["--bridge", self._own_bridge()]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineError(
                    f"dockerd exited at start (exit {self.process.returncode}); see {self.log_file}"
                )
            if _socket_answers(str(self.socket_path)) and self.docker_ok():
                return self
            time.sleep(0.3)
        raise EngineError(f"dockerd did not answer within {timeout:.0f}s; see {self.log_file}")

    def docker_ok(self) -> bool:
        return self._docker_cli("version", "--format", "{{.Server.Version}}").returncode == 0

    def _docker_cli(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """The docker client against this engine, its output captured; a failure is its exit code."""
        return subprocess.run(  # noqa: S603 - the engine's own client, arguments from this module
            [self.docker, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the engine by its process id (SIGTERM, then SIGKILL), and remove its bridge if it made one."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self.created_bridge and self.bridge:
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False)  # noqa: S603,S607
            self.created_bridge = False

    def _stop_leftover(self) -> None:
        """An engine of this cache folder that a killed run left behind: the pidfile names it."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return
        if "dockerd" in cmdline and str(self.socket_path) in cmdline:
            print(f"stopping the engine a previous run left running (pid {pid})", flush=True)
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    return
                time.sleep(0.2)
            raise EngineError(f"the engine left by a previous run (pid {pid}) did not stop")

    @staticmethod
    def _default_bridge_taken() -> bool:
        """Another engine runs (its socket answers): it owns docker0, which this engine must not touch."""
        return _socket_answers("/var/run/docker.sock")

    def _own_bridge(self) -> str:
        if not Path(f"/sys/class/net/{OWN_BRIDGE}").exists():
            for argv in (
                ["ip", "link", "add", OWN_BRIDGE, "type", "bridge"],
                ["ip", "addr", "add", OWN_BRIDGE_CIDR, "dev", OWN_BRIDGE],
                ["ip", "link", "set", OWN_BRIDGE, "up"],
            ):
                done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
                if done.returncode != 0:
                    raise EngineError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")
            self.created_bridge = True
        self.bridge = OWN_BRIDGE
        return OWN_BRIDGE

    def gateway(self) -> str:
        """The address containers reach the host at (the bridge network's gateway)."""
        done = self._docker_cli("network", "inspect", "bridge")
        if done.returncode == 0:
            for config in json.loads(done.stdout)[0].get("IPAM", {}).get("Config") or []:
                if config.get("Gateway"):
                    return str(ipaddress.ip_address(config["Gateway"]))
                if config.get("Subnet"):
                    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
        raise EngineError("could not find the bridge network's gateway address")

    def image_label(self, image: str, label: str) -> str | None:
        done = self._docker_cli("image", "inspect", image, "--format", "{{json .Config.Labels}}")
        if done.returncode != 0:
            return None
        labels = json.loads(done.stdout or "null") or {}
        value = labels.get(label)
        return str(value) if value is not None else None

    def image_size(self, image: str) -> int:
        done = self._docker_cli("image", "inspect", image, "--format", "{{.Size}}")
        return int(done.stdout.strip() or 0) if done.returncode == 0 else 0

    def try_pull(self, image: str, timeout: float) -> bool:
        """Whether `image` could be pulled within `timeout` seconds (a registry is reachable)."""
        try:
            done = self._docker_cli("pull", "--quiet", image, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0
