"""The image SAM CLI builds its function images on: AWS's own when it can be pulled, else a stand-in.

SAM CLI asks for `public.ecr.aws/lambda/python:3.13-<arch>` and puts its Runtime Interface Emulator and the
layer on top. The stand-in carries that name but is built here, offline from any container registry: a
minimal Debian root file system with Debian's CPython 3.13, AWS's runtime interface client (`awslambdaric`,
from PyPI) in /var/runtime, and a /var/runtime/bootstrap that starts it with Lambda's module search order.
It is not Amazon Linux 2023; see docs/sam-local.md for what that does and does not prove.

The image is built once per cache key: a digest of everything that goes into it (the Dockerfile, the
bootstrap, the Debian suite and packages, the client's pinned version, the architecture). The key is the
image's label, so a later run finds it in the engine's data root and builds nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .template import WHEEL_PLATFORMS

RUNTIME = "python3.13"
DEBIAN_SUITE = "trixie"  # its python3 is CPython 3.13, the runtime's version
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_PACKAGES = ("python3", "ca-certificates")
RUNTIME_CLIENT = "awslambdaric==4.2.2"
KEY_LABEL = "org.iot-bridge.sam-local.key"
DOCKER_PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
DEBIAN_ARCHES = {"x86_64": "amd64", "arm64": "arm64"}

# What Lambda's bootstrap does for Python: the function's code, then the layer, then the runtime's modules.
BOOTSTRAP = """#!/bin/sh
# Lambda's module search order: the function (/var/task), the layer (/opt/python), the runtime client.
export PYTHONPATH=/var/task:/opt/python:/var/runtime
exec /usr/bin/python3 -m awslambdaric "$_HANDLER"
"""

DOCKERFILE = """FROM scratch
ADD rootfs.tar /
ENV LANG=C.UTF-8 \\
    TZ=:/etc/localtime \\
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    LAMBDA_TASK_ROOT=/var/task \\
    LAMBDA_RUNTIME_DIR=/var/runtime
WORKDIR /var/task
LABEL {label}="{key}"
ENTRYPOINT ["/var/runtime/bootstrap"]
"""


def image_name(architecture: str) -> str:
    """The name SAM CLI asks for (python3.13, one architecture)."""
    return f"public.ecr.aws/lambda/python:3.13-{architecture}"


def cache_key(architecture: str) -> str:
    """A digest of everything the stand-in is made of: a change to any of it builds a new image."""
    material = {
        "architecture": architecture,
        "suite": DEBIAN_SUITE,
        "packages": list(DEBIAN_PACKAGES),
        "client": RUNTIME_CLIENT,
        "wheels": WHEEL_PLATFORMS[architecture],
        "bootstrap": BOOTSTRAP,
        "dockerfile": DOCKERFILE,
    }
    encoded = json.dumps(material, sort_keys=True).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:16]


def dockerfile(architecture: str) -> str:
    return DOCKERFILE.format(label=KEY_LABEL, key=cache_key(architecture))


class BaseImageError(RuntimeError):
    """The stand-in could not be built; the message says which step failed."""


@dataclass
class StandInBuild:
    """Builds the stand-in under `work` (a scratch folder, removed afterwards) with the engine's `docker`."""

    architecture: str
    work: Path
    docker: list[str]
    env: dict[str, str]
    python: str = sys.executable

    def run(self, say: object = print) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        rootfs = self.work / "rootfs"
        rootfs.mkdir(parents=True)
        try:
            self._debootstrap(rootfs)
            self._runtime_client(rootfs)
            self._bootstrap(rootfs)
            context = self.work / "context"
            context.mkdir()
            with tarfile.open(context / "rootfs.tar", "w") as archive:
                archive.add(rootfs, arcname=".")
            (context / "Dockerfile").write_text(dockerfile(self.architecture), encoding="utf-8")
            _run(
                [
                    *self.docker,
                    "build",
                    "--quiet",
                    "--platform",
                    DOCKER_PLATFORMS[self.architecture],
                    "--tag",
                    image_name(self.architecture),
                    str(context),
                ],
                "docker build of the stand-in base image",
                env=self.env,
            )
        finally:
            shutil.rmtree(self.work, ignore_errors=True)

    def _debootstrap(self, rootfs: Path) -> None:
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--arch={DEBIAN_ARCHES[self.architecture]}",
                f"--include={','.join(DEBIAN_PACKAGES)}",
                DEBIAN_SUITE,
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            f"debootstrap of Debian {DEBIAN_SUITE} ({DEBIAN_ARCHES[self.architecture]})",
        )
        # What a running container does not need: package lists, documentation, caches.
        for folder in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
            shutil.rmtree(rootfs / folder, ignore_errors=True)

    def _runtime_client(self, rootfs: Path) -> None:
        _run(
            [
                self.python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--target",
                str(rootfs / "var" / "runtime"),
                "--platform",
                WHEEL_PLATFORMS[self.architecture],
                "--implementation",
                "cp",
                "--python-version",
                "3.13",
                "--only-binary=:all:",
                RUNTIME_CLIENT,
            ],
            f"pip install of {RUNTIME_CLIENT}",
        )

    def _bootstrap(self, rootfs: Path) -> None:
        bootstrap = rootfs / "var" / "runtime" / "bootstrap"
        bootstrap.write_text(BOOTSTRAP, encoding="utf-8")
        bootstrap.chmod(0o755)
        for folder in ("var/task", "opt"):
            (rootfs / folder).mkdir(parents=True, exist_ok=True)


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise BaseImageError(f"{what} failed (exit {done.returncode}):\n{tail}")
