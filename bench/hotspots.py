"""Where a phase's CPU goes: a cProfile run summed by function and by package, machine paths left out."""

from __future__ import annotations

import cProfile
import pstats
from collections import Counter
from pathlib import Path
from typing import Any

TOP = 12
_SITE = "site-packages/"
_PROJECT_FOLDERS = ("layers/shared/", "functions/", "bench/", "local/")


def short_location(where: str) -> str:
    """A source file without the machine's folders: from the package (site-packages) or the project's
    top folder onwards; the standard library by its last two parts."""
    if _SITE in where:
        return where.split(_SITE, 1)[1]
    for folder in _PROJECT_FOLDERS:
        marker = "/" + folder
        if marker in where:
            return folder + where.split(marker, 1)[1]
    if where.startswith(("<", "~")):
        return where
    return "/".join(Path(where).parts[-2:])


def package_of(location: str) -> str:
    """What a short location belongs to: its distribution's top folder (`botocore`, `pydantic`), the
    project's part (`layers/shared/iotbridge`, `functions/forwarder`), the standard library, or C code."""
    if location.startswith(("~", "<")):
        return "(built-in)"
    parts = location.split("/")
    if parts[0] == "layers" and len(parts) > 3:
        return "/".join(parts[:3])
    if parts[0] in ("functions", "bench", "local") and len(parts) > 2:
        return "/".join(parts[:2])
    if len(parts) == 2 and parts[0].startswith("python3"):
        return "(standard library)"
    return parts[0] if len(parts) > 1 else "(standard library)"


def _stats(profiler: cProfile.Profile) -> dict[Any, Any]:
    """pstats' table: (file, line, function) -> (calls, primitive calls, own s, cumulative s, callers)."""
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]  # not in typeshed
    return stats


def summary(profiler: cProfile.Profile, count: int = TOP) -> dict[str, Any]:
    """Own time by function (the `count` largest, with their cumulative time) and by package, in ms."""
    functions = []
    packages: Counter[str] = Counter()
    for (file, line, name), (_, _, own, cumulative, _) in _stats(profiler).items():
        where = short_location(file)
        label = name if where.startswith("~") else f"{where}:{line}({name})"
        functions.append({"function": label, "self_ms": own * 1000, "cumulative_ms": cumulative * 1000})
        packages[package_of(where)] += own * 1000
    functions.sort(key=lambda row: row["self_ms"], reverse=True)
    return {
        "total_ms": sum(packages.values()),
        "functions": functions[:count],
        "packages": [{"package": name, "self_ms": ms} for name, ms in packages.most_common()],
    }


def cumulative_ms(profiler: cProfile.Profile, file_suffix: str, name: str) -> float:
    """The cumulative time, in ms, of the functions called `name` in files ending with `file_suffix`."""
    return sum(
        cumulative * 1000
        for (file, _, function), (_, _, _, cumulative, _) in _stats(profiler).items()
        if function == name and file.endswith(file_suffix)
    )
