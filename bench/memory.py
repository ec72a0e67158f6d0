"""This process's resident memory, as Lambda's memory limit counts it."""

from __future__ import annotations

import resource


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """This process's resident set size now (VmRSS), in MiB."""
    found = _status_mb("VmRSS")
    return found if found is not None else peak_rss_mb()


def peak_rss_mb() -> float:
    """This program's peak resident set size so far (VmHWM), in MiB.

    Not ru_maxrss: Linux carries it over from the process that forked this one, so a child started by a
    parent holding a large fleet in memory would report the parent's size.
    """
    found = _status_mb("VmHWM")
    if found is not None:
        return found
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
