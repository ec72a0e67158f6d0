"""Sections of results, the machine they ran on, and their rendering as a console table and as Markdown."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.stats import Figure, format_number


@dataclass
class Section:
    """One benchmark's figures, with Markdown paragraphs and tables that explain them."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # Markdown blocks, in order
    error: str | None = None  # the benchmark code failed: what happened, in a line or two


def machine() -> dict[str, str]:
    """CPU model, cores, memory, Python and OS of this machine."""
    return {
        "CPU": _cpu_model(),
        "Cores": str(os.cpu_count() or "?"),
        "Memory": _memory_total(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": _os_name(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def _os_name() -> str:
    pretty = ""
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    kernel = f"{platform.system()} {platform.release()} {platform.machine()}"
    return f"{pretty} ({kernel})" if pretty else kernel


def figure_row(figure: Figure) -> list[str]:
    return [
        figure.name,
        f"{format_number(figure.measured)} {figure.unit}",
        f"{format_number(figure.baseline)} {figure.unit}"
        + (f" ({figure.baseline_name})" if figure.baseline_name else ""),
        f"{format_number(figure.ratio)}x",
        str(figure.goal) if figure.goal else "-",
        figure.verdict(),
    ]


FIGURE_HEADER = ["Benchmark", "Measured", "Baseline", "Ratio", "Goal", "Result"]


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A fixed-width table for the console."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in [header, ["-" * w for w in widths], *rows]
    ]
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(value: str) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def console_summary(sections: Sequence[Section]) -> str:
    rows = [figure_row(f) for s in sections for f in s.figures]
    out = [text_table(FIGURE_HEADER, rows)] if rows else []
    out += [f"ERROR in {s.title}: {s.error}" for s in sections if s.error]
    return "\n".join(out)


def document(
    sections: Sequence[Section],
    *,
    command: str,
    started: str,
    duration_seconds: float,
    machine_info: dict[str, str],
    preface: str = "",
) -> str:
    """docs/benchmarks.md: how it was run, on what, the summary table, then every section in detail."""
    parts = [
        "# Benchmarks",
        "",
        "Written by the benchmark command from a real run; do not edit by hand, run it again.",
        "",
        f"- Command: `{command}`",
        f"- Run at: {started} (took {duration_seconds:.0f} s)",
        *[f"- {name}: {value}" for name, value in machine_info.items()],
        "",
    ]
    if preface:
        parts += [preface, ""]
    parts += [
        "## Summary",
        "",
        markdown_table(FIGURE_HEADER, [figure_row(f) for s in sections for f in s.figures]),
        "",
    ]
    failed = [s for s in sections if s.error]
    if failed:
        parts += ["**Benchmarks that could not run:**", ""]
        parts += [f"- {s.title}: {s.error}" for s in failed]
        parts.append("")
    for section in sections:
        parts += [f"## {section.title}", ""]
        if section.error:
            parts += [f"Could not run: {section.error}", ""]
        if section.figures:
            parts += [markdown_table(FIGURE_HEADER, [figure_row(f) for f in section.figures]), ""]
            notes = [f"- {f.name}: {f.note}" for f in section.figures if f.note]
            if notes:
                parts += [*notes, ""]
        for block in section.details:
            parts += [block.rstrip(), ""]
    return "\n".join(parts).rstrip() + "\n"


def command_line(argv: Sequence[str]) -> str:
    """How this run was started, as one could type it again from the repository root."""
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(Path.cwd()))
    except ValueError:
        shown = exe.name
    return " ".join([shown, "-m", "bench", *argv])
