"""`python -m sam_local [--arch x86_64|arm64]`: every sample event through `sam local invoke` in containers.

Installs what it needs (docker.io, debootstrap; qemu-user-static for arm64), starts a container engine of
its own, builds (once) the base image SAM CLI asks for unless AWS's can be pulled, starts the local stack,
invokes every function with every sample event meant for it as docs/sam-local.md writes the command, and
compares each answer and its effect with the local stack's. Exit 0 when all agree, 1 otherwise.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from bridge_local.stack import StackError

from .base_image import BaseImageError
from .cases import CasesError
from .compare import AnswerError
from .doc import DocError
from .engine import EngineError, install_packages, missing_commands
from .run import ROOT, RunError, SamLocalRun, Settings, disk_usage
from .template import DerivationError

NEEDED = {"dockerd": "docker.io", "debootstrap": "debootstrap"}
NEEDED_ARM64 = {"qemu-aarch64-static": "qemu-user-static", "update-binfmts": "binfmt-support"}


class _Stop(Exception):
    """SIGTERM, turned into an exception so that everything started is stopped."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _arm64_emulation() -> None:
    """arm64 binaries run under qemu-user: binfmt_misc must know qemu-aarch64."""
    if Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        return
    if not Path("/proc/sys/fs/binfmt_misc/register").exists():
        subprocess.run(
            ["mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"],  # noqa: S607
            capture_output=True,
            check=False,
        )
    subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True, check=False)  # noqa: S607
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        raise EngineError("arm64 emulation is not available (binfmt_misc has no qemu-aarch64 entry)")


def _shown(path: Path) -> str:
    return str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sam_local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=["x86_64", "arm64"], default="x86_64")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "sam-local")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_stop)
    started = time.monotonic()
    run: SamLocalRun | None = None
    try:
        install_packages(missing_commands({**NEEDED, **(NEEDED_ARM64 if args.arch == "arm64" else {})}))
        if args.arch == "arm64":
            _arm64_emulation()
        run = SamLocalRun(Settings(architecture=args.arch, cache=args.cache))
        print(
            f"sam local, {args.arch}: starting a container engine of its own ({run.engine.host})", flush=True
        )
        run.engine.start()
        run.base_image()
        run.derived_template()
        run.start_stacks()
        run.invoke_all()
        run.start_lambda()
    except (_Stop, KeyboardInterrupt):
        print("interrupted: stopping everything it started.", file=sys.stderr)
        return 1
    except (
        EngineError,
        RunError,
        BaseImageError,
        DocError,
        CasesError,
        DerivationError,
        AnswerError,
        StackError,
        OSError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if run is not None:
            run.stop()
    bad = [o for o in run.outcomes if o.problems]
    size = disk_usage(args.cache) / 1e9
    print(
        f"\n{len(run.outcomes) - len(bad)} of {len(run.outcomes)} answers agree with the local stack; "
        f"{time.monotonic() - started:.0f} s in all; base image: {run.base}; "
        f"cache {_shown(args.cache)}: {size:.1f} GB",
        flush=True,
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
