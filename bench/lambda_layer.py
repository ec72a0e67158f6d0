"""A folder that holds exactly what the shared layer installs, so measured imports match Lambda's.

The development environment has more packages than the layer (moto, requests, pytest, ...), and some
libraries import optional packages when they find them: the X-Ray SDK, for one, patches `requests` if it
can import it. Cold-start programs therefore run without site-packages (`python -S`) and import the
layer's dependencies from this folder: symbolic links to the installed distributions of the layer's
requirements and of everything they require in turn (extras left out), as `pip install -r` would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker

from bench.layout import LAYER

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_names(lines: Iterable[str]) -> list[str]:
    """Distribution names of a requirements file (comments, options and blank lines skipped)."""
    names = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        match = _NAME.match(text)
        if match:
            names.append(match.group(1))
    return names


def _applies(requirement: str) -> bool:
    """False for a requirement that only holds with an extra, or under a marker this machine fails."""
    _, _, marker = requirement.partition(";")
    if not marker.strip():
        return True
    if "extra" in marker:
        return False
    return bool(Marker(marker.strip()).evaluate())


def closure(names: Iterable[str]) -> list[metadata.Distribution]:
    """The named distributions and everything they require, without extras."""
    seen: dict[str, metadata.Distribution] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise LookupError(f"{name} (required by the layer) is not installed") from None
        seen[key] = dist
        for requirement in dist.requires or []:
            if _applies(requirement):
                match = _NAME.match(requirement)
                if match:
                    pending.append(match.group(1))
    return list(seen.values())


def top_level_entries(dist: metadata.Distribution) -> set[str]:
    """Top-level files and folders a distribution installed into site-packages."""
    entries = set()
    for file in dist.files or []:
        parts = Path(str(file)).parts
        if parts and parts[0] not in ("..", "__pycache__") and not parts[0].endswith(".pth"):
            entries.add(parts[0])
    return entries


def build(target: Path, requirements: Path = LAYER / "requirements.txt") -> list[str]:
    """Link the layer's dependency closure into `target`; returns the distribution names linked."""
    return link(target, requirement_names(requirements.read_text(encoding="utf-8").splitlines()))


def link(target: Path, names: Iterable[str]) -> list[str]:
    """Link the named distributions and their closure into `target`; returns the names linked."""
    target.mkdir(parents=True, exist_ok=True)
    dists = closure(names)
    for dist in dists:
        site = Path(str(dist.locate_file("")))
        for entry in top_level_entries(dist):
            source = site / entry
            link = target / entry
            if source.exists() and not link.exists():
                link.symlink_to(source, target_is_directory=source.is_dir())
    return sorted(str(d.metadata["Name"]) for d in dists)
