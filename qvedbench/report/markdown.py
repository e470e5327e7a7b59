"""Small markdown pieces shared by the summary sections of every question."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable


def relative_link(path: str | os.PathLike, relative_to: str | os.PathLike) -> str:
    """``[name](path relative to relative_to)``, with forward slashes."""
    return f"[{Path(path).name}]({Path(os.path.relpath(path, relative_to)).as_posix()})"


def files_lines(links: Iterable[str | os.PathLike], relative_to: str | os.PathLike) -> list[str]:
    """``["", "Files: [a.pdf](...), ..."]`` for a section's output files, or ``[]`` when there are none."""
    links = list(links)
    if not links:
        return []
    return ["", "Files: " + ", ".join(relative_link(p, relative_to) for p in links)]
