"""Derived copies of the SAM template and of the layer's Makefile, written to the cache folder.

The template is edited as text, line by line, so that everything else in it (comments, CloudFormation tags,
order) stays exactly as written; every edit must find what it expects, or the derivation fails loudly
instead of running an unexpected template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ARCHITECTURES = ("x86_64", "arm64")
# The wheel platform of each architecture, as layers/shared/Makefile names it for pip.
WHEEL_PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}


class DerivationError(ValueError):
    """The template (or Makefile) does not have the shape the derivation expects."""


@dataclass(frozen=True)
class Derivation:
    architecture: str
    # Every function's Timeout raised to at least this many seconds (None: the template's timeouts).
    min_timeout: int | None = None
    # Where the layer's content is (replaces the layer's ContentUri and drops its build metadata); None
    # keeps the layer as the template has it.
    layer_dir: Path | None = None
    # The folder the template's relative CodeUri/ContentUri paths are relative to (made absolute).
    base_dir: Path | None = None


_ARCH_LINE = re.compile(r"^(?P<indent>\s+)Architectures: \[(?P<value>[a-z0-9_]+)\]\s*$")
_COMPATIBLE_LINE = re.compile(r"^(?P<indent>\s+)CompatibleArchitectures: \[(?P<value>[a-z0-9_]+)\]\s*$")
_BUILD_ARCH_LINE = re.compile(r"^(?P<indent>\s+)BuildArchitecture: (?P<value>[a-z0-9_]+)\s*$")
_TIMEOUT_LINE = re.compile(r"^(?P<indent>\s+)Timeout: (?P<value>\d+)\s*$")
_URI_LINE = re.compile(r"^(?P<indent>\s+)(?P<key>CodeUri|ContentUri): (?P<value>\S+)\s*$")
_BUILD_METHOD_LINE = re.compile(r"^\s+BuildMethod: \S+\s*$")
_METADATA_LINE = re.compile(r"^(?P<indent>\s+)Metadata:\s*$")


_BLOCK_LIST_KEY = re.compile(r"^(?P<indent>\s+)(?P<key>Architectures|CompatibleArchitectures):\s*$")
_BLOCK_LIST_ITEM = re.compile(r"^\s+- (?P<value>[a-z0-9_]+)\s*$")


def _flow_lists(lines: list[str]) -> list[str]:
    """`Architectures:` followed by one `- arm64` item (how `sam build` writes its output template) as the
    one-line `Architectures: [arm64]` the source template uses, so that one set of edits serves both."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        key = _BLOCK_LIST_KEY.match(line)
        item = _BLOCK_LIST_ITEM.match(lines[index + 1]) if key and index + 1 < len(lines) else None
        following = lines[index + 2] if index + 2 < len(lines) else ""
        if key and item and not _BLOCK_LIST_ITEM.match(following):
            out.append(f"{key['indent']}{key['key']}: [{item['value']}]")
            index += 2
            continue
        out.append(line)
        index += 1
    return out


def derive_template(text: str, derivation: Derivation) -> str:  # noqa: C901 - one branch per edited line
    """The template with the architecture, timeouts, layer and paths of `derivation`."""
    if derivation.architecture not in ARCHITECTURES:
        raise DerivationError(f"unknown architecture {derivation.architecture!r}")
    lines = _flow_lists(text.splitlines())
    out: list[str] = []
    found = {"Architectures": 0, "ContentUri": 0}
    skip_metadata_indent: int | None = None
    for line in lines:
        if skip_metadata_indent is not None:
            stripped = line.strip()
            indent = len(line) - len(line.lstrip())
            if stripped and indent > skip_metadata_indent:
                continue  # the layer's build metadata: the layer is built already
            skip_metadata_indent = None
        if match := _ARCH_LINE.match(line):
            found["Architectures"] += 1
            out.append(f"{match['indent']}Architectures: [{derivation.architecture}]")
        elif match := _COMPATIBLE_LINE.match(line):
            out.append(f"{match['indent']}CompatibleArchitectures: [{derivation.architecture}]")
        elif match := _BUILD_ARCH_LINE.match(line):
            out.append(f"{match['indent']}BuildArchitecture: {derivation.architecture}")
        elif (match := _TIMEOUT_LINE.match(line)) and derivation.min_timeout is not None:
            seconds = max(int(match["value"]), derivation.min_timeout)
            out.append(f"{match['indent']}Timeout: {seconds}")
        elif match := _URI_LINE.match(line):
            value = match["value"]
            if match["key"] == "ContentUri":
                found["ContentUri"] += 1
                if derivation.layer_dir is not None:
                    value = str(derivation.layer_dir)
            if derivation.base_dir is not None and not Path(value).is_absolute():
                value = str((derivation.base_dir / value).resolve())
            out.append(f"{match['indent']}{match['key']}: {value}")
        elif (match := _METADATA_LINE.match(line)) and derivation.layer_dir is not None and _in_layer(out):
            skip_metadata_indent = len(match["indent"])
        elif _BUILD_METHOD_LINE.match(line) and derivation.layer_dir is not None:
            raise DerivationError("a BuildMethod outside the layer's Metadata block")
        else:
            out.append(line)
    if found["Architectures"] == 0:
        raise DerivationError("no `Architectures: [...]` line in the template")
    if derivation.layer_dir is not None and found["ContentUri"] != 1:
        raise DerivationError(f"expected one layer (ContentUri), found {found['ContentUri']}")
    return "\n".join(out) + "\n"


def _in_layer(previous: list[str]) -> bool:
    """Whether the Metadata block being read belongs to the layer (a LayerVersion resource)."""
    for line in reversed(previous):
        if re.match(r"^  [A-Za-z0-9]+:\s*$", line):  # the resource's logical id: the layer was not seen
            return False
        if "Type: AWS::Serverless::LayerVersion" in line:
            return True
    return False


def derive_layer_makefile(text: str, architecture: str) -> str:
    """layers/shared/Makefile, installing the wheels of `architecture` instead of arm64's."""
    target = WHEEL_PLATFORMS[architecture]
    platforms = set(re.findall(r"manylinux\w+", text))
    if len(platforms) != 1:
        raise DerivationError(
            f"expected one wheel platform in the layer's Makefile, found {sorted(platforms)}"
        )
    return text.replace(platforms.pop(), target)


def architectures_of(text: str) -> list[str]:
    """The architectures the template's Architectures lines name (for the output and the tests)."""
    return [m["value"] for line in text.splitlines() if (m := _ARCH_LINE.match(line))]


def timeouts_of(text: str) -> list[int]:
    return [int(m["value"]) for line in text.splitlines() if (m := _TIMEOUT_LINE.match(line))]
