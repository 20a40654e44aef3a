"""Which processes are alive: a rehearsal must leave none of its own behind."""

from __future__ import annotations

import os
from pathlib import Path


def processes_mentioning(*needles: str) -> list[str]:
    """Command lines of live processes whose command line or working directory contains any
    of ``needles`` (a rehearsal starts its children in its scratch directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if any(n in cmd or n in cwd for n in needles):
            found.append(cmd)
    return found
