"""`sam build` (local, no container) yields an arm64 layer holding the shared package and its models."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EM_AARCH64 = 183  # ELF e_machine for AArch64
EM_X86_64 = 62


def sam_cli() -> str:
    candidates = [
        os.environ.get("SAM_CLI_BIN", ""),
        str(ROOT / ".venv-sam" / "bin" / "sam"),
        shutil.which("sam") or "",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    if os.environ.get("CI"):
        pytest.fail("SAM CLI not found: `make setup` installs it into .venv-sam")
    pytest.skip("SAM CLI not installed (run `make setup`)")


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sam-build")
    result = subprocess.run(
        [sam_cli(), "build", "--build-dir", str(out), "--template-file", str(ROOT / "template.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        # python3.13 first on PATH, as `make` puts the venv's: the layer is built and compiled with it.
        env={
            **os.environ,
            "SAM_CLI_TELEMETRY": "0",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        },
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


@pytest.mark.slow
def test_layer_native_extensions_are_all_arm64(build_dir: Path) -> None:
    python = build_dir / "SharedLayer" / "python"
    extensions = sorted(python.rglob("*.so"))
    names = {p.name.split(".")[0] for p in extensions}

    assert {"_pydantic_core", "_regex", "_rust"} <= names, f"expected native extensions missing: {names}"
    wrong = {str(p.relative_to(python)): elf_machine(p) for p in extensions if elf_machine(p) != EM_AARCH64}
    assert wrong == {}, "non-arm64 binaries in the layer"


@pytest.mark.slow
def test_layer_carries_the_shared_package_and_the_iotevents_data_model(build_dir: Path) -> None:
    python = build_dir / "SharedLayer" / "python"
    assert (python / "iotbridge" / "settings.py").is_file()
    assert (
        python / "iotbridge" / "service_models" / "iotevents-data" / "2018-10-23" / "service-2.json"
    ).is_file()
    assert (python / "boto3").is_dir(), "the layer pins its own boto3"
    assert (python / "iotbridge" / "matter" / "catalogue.json").is_file(), "the Matter catalogue's rows"


@pytest.mark.slow
def test_layer_ships_no_developer_tool(build_dir: Path) -> None:
    # The contract and botocore-model generators write files the project commits; Lambda never runs them.
    python = build_dir / "SharedLayer" / "python"
    shipped = {p.relative_to(python).as_posix() for p in (python / "iotbridge").rglob("*.py")}
    assert not (python / "tools").exists()
    assert [p for p in shipped if p.rsplit("/", 1)[-1] in {"contract.py", "botocore_models.py"}] == []


@pytest.mark.slow
def test_each_function_is_built_from_its_own_folder(build_dir: Path) -> None:
    for function, module in [
        ("WebhookReceiverFunction", "webhook_receiver.py"),
        ("ForwarderFunction", "forwarder.py"),
        ("DetectorResetFunction", "detector_reset.py"),
    ]:
        built = build_dir / function
        assert (built / module).is_file(), f"{function} lacks {module}"
        assert not (built / "pydantic").exists(), f"{function} bundles dependencies the layer already has"


@pytest.mark.slow
def test_every_module_of_the_layer_is_shipped_compiled_for_python_3_13(build_dir: Path) -> None:
    # Lambda mounts the layer read-only: a module without bytecode here is compiled at every cold start.
    python = build_dir / "SharedLayer" / "python"
    modules = sorted(python.rglob("*.py"))
    assert len(modules) > 100, "the layer looks empty"
    missing, checked_against_source = [], []
    for module in modules:
        compiled = Path(importlib.util.cache_from_source(str(module)))
        if not compiled.is_file():
            missing.append(str(module.relative_to(python)))
            continue
        header = compiled.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER, f"{compiled} is not Python 3.13 bytecode"
        # PEP 552: flags 0b01 is hash-based and unchecked, valid whatever the file times in the package.
        if int.from_bytes(header[4:8], "little") != 0b01:
            checked_against_source.append(str(module.relative_to(python)))
    assert missing == []
    assert checked_against_source == []
