"""Finding a test's processes again in /proc: every descendant carries a marker in its
environment, so whatever a task started (and whatever those started) can be counted after it."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

MARK = "AKOPS_TEST_MARKER"


def new_marker() -> str:
    return f"akops-test-{uuid.uuid4().hex}"


def pids_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment carries ``marker``."""
    needle = f"{MARK}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for(marker: str, count: int, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(pids_with(marker)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids_with(marker)


def wait_gone(marker: str, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pids_with(marker):
            return []
        time.sleep(0.05)
    return pids_with(marker)


def kill_all(marker: str) -> None:
    """Cleanup after a failed assertion: no test leaves processes behind either."""
    import signal

    for pid in pids_with(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
