"""
Fenced code blocks of the Markdown docs, with their test markers.

A block's test treatment is set by an HTML comment on the line just before its fence (it
does not show when the Markdown is rendered)::

    <!-- docs-test: settings -->
    ```python

``settings``
    A piece of a settings module: run before Django is set up, as ``settings.py`` is (so
    it may not import models or Wagtail). docs/installation.md's are pasted into the
    settings of a fresh ``wagtail start`` project.
``urls``
    A piece of a URLconf, pasted at the end of ``urls.py``.
``compile (reason)``
    Only compiled: it needs something that is not in this repository (the reader's own
    models or modules). The reason says what.
``skip (reason)``
    Neither run nor compiled (a command for later, or not Python at all).

A Python block without a marker is run as it stands, with Django set up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!--\s*docs-test:\s*(?P<kind>[a-z]+)\s*(?:\((?P<reason>.+)\))?\s*-->$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
KINDS = {"run", "settings", "urls", "compile", "skip"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    kind: str  # one of KINDS
    reason: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def read_blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        end = index + 1
        while not re.match(r"^\s*```\s*$", lines[end]):
            end += 1
        indent = len(fence["indent"])
        code = "\n".join(line[indent:] for line in lines[index + 1 : end]) + "\n"
        marker = MARKER.match(lines[index - 1].strip()) if index else None
        kind, reason = ("run", "") if marker is None else (marker["kind"], marker["reason"] or "")
        if kind not in KINDS:
            raise ValueError(f"{path}:{index}: unknown docs-test marker {kind!r}")
        if kind in ("compile", "skip") and not reason:
            raise ValueError(f"{path}:{index}: a {kind} marker needs a (reason)")
        blocks.append(Block(path, index + 1, fence["lang"], code, kind, reason))
        index = end + 1
    return blocks


def documentation_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
