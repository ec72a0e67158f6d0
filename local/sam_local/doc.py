"""The commands of docs/sam-local.md, which `make sam-local` runs as they are written.

A shell block the run uses is marked by an HTML comment on the line before its fence,
`<!-- sam-local: NAME -->`; the run reads the block and hands it to bash with the variables the doc
names ($FUNCTION, $EVENT, $TEMPLATE, ...), so the doc and the run cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "sam-local.md"
# The blocks the run needs, and the variables each may use.
BLOCKS = {
    "fresh-samples": frozenset({"FRESH_DIR"}),
    "invoke": frozenset({"FUNCTION", "EVENT", "TEMPLATE"}),
    "start-lambda": frozenset({"TEMPLATE", "PORT"}),
}
_MARKER = re.compile(r"^<!-- sam-local: (?P<name>[a-z-]+) -->\s*$")
_VARIABLE = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)\}?")


class DocError(ValueError):
    """docs/sam-local.md lacks a block the run needs, or a block uses a variable the run does not set."""


def shell_blocks(text: str) -> dict[str, str]:
    """Marked shell blocks by name: the lines between the fences, as written."""
    blocks: dict[str, str] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = _MARKER.match(line)
        if match is None:
            continue
        if index + 1 >= len(lines) or not lines[index + 1].startswith("```"):
            raise DocError(f"the marker `{line.strip()}` is not followed by a fenced block")
        end = next((i for i in range(index + 2, len(lines)) if lines[i].startswith("```")), None)
        if end is None:
            raise DocError(f"the block after `{line.strip()}` is not closed")
        if match["name"] in blocks:
            raise DocError(f"two blocks are marked {match['name']!r}")
        blocks[match["name"]] = "\n".join(lines[index + 2 : end]) + "\n"
    return blocks


def required_blocks(text: str) -> dict[str, str]:
    """The blocks the run needs, checked: each present, and using only the variables the run sets."""
    blocks = shell_blocks(text)
    for name, allowed in BLOCKS.items():
        if name not in blocks:
            raise DocError(f"docs/sam-local.md has no block marked `<!-- sam-local: {name} -->`")
        used = set(_VARIABLE.findall(blocks[name])) - {"PWD"}
        if used - allowed:
            raise DocError(
                f"the {name} block uses {', '.join(sorted(used - allowed))}, which the run does not set"
            )
    return blocks


def read_blocks(path: Path = DOC) -> dict[str, str]:
    try:
        return required_blocks(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DocError(f"{path.name} not found") from None
