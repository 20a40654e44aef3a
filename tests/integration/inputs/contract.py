"""The bad-input contract, asserted the same way by every hostile-input and fault test.

A run that could not run: its exit code, exactly one line on stderr, no traceback, the parts
that locate the problem (file, line, field or flag), no raw control character, no flag the
task does not have, and no process of the run left in /proc. Bounded time is the caller's
subprocess timeout (a guard: a hang fails the test, never a timed assertion).
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.integration.leftovers import MARK, kill_all, new_marker, pids_with, wait_gone

ROOT = Path(__file__).resolve().parents[3]
INVOKE = [sys.executable, "-m", "invoke"]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
#: "`invoke other-task --flag`" names another task's flag: not this task's to have.
OTHER_COMMAND = re.compile(r"`(?:invoke|kubectl|helm|apt-get|git)\b[^`]*`")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@functools.cache
def task_flags(task: str) -> frozenset[str]:
    """Every flag ``invoke --help TASK`` lists (long form)."""
    done = subprocess.run(
        [*INVOKE, "--help", task], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return frozenset(FLAG.findall(done.stdout))


def tasks() -> list[str]:
    done = subprocess.run(
        [*INVOKE, "--list", "--list-format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    listing = json.loads(done.stdout)
    names = [t["name"] for t in listing["tasks"]]
    for collection in listing["collections"]:
        names += [f"{collection['name']}.{t['name']}" for t in collection["tasks"]]
    return names


#: A flag the line tells the operator to use ("pass --yes", "or --answer", "with --values");
#: a flag it only names (the bad one, another command's list) is no advice.
ADVICE = re.compile(r"\b(?:pass|give|use|try|see|or|with|unless|add|set)\s+(--[a-z][a-z0-9-]*)")


def advised_flags(line: str) -> set[str]:
    """The flags an error line advises for the task that printed it."""
    return set(ADVICE.findall(OTHER_COMMAND.sub("", line)))


def held(
    result: subprocess.CompletedProcess[str],
    task: str,
    parts: Sequence[str],
    *,
    code: int = 2,
) -> str:
    """Assert the contract on a finished run of ``task``; the one stderr line."""
    out = result.stdout + result.stderr
    assert result.returncode == code, (result.returncode, result.stdout[-2000:], result.stderr)
    assert "Traceback" not in out, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    line = lines[0]
    for part in parts:
        assert part in line, (part, line)
    assert not CONTROL.search(line), repr(line)
    foreign = advised_flags(line) - task_flags(task)
    assert not foreign, f"{line!r} advises {sorted(foreign)}, which `invoke {task}` does not have"
    return line


@dataclass(frozen=True)
class Runner:
    """`invoke` in a scratch repository; every process it starts carries a marker."""

    root: Path

    def __call__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        guard: float = 120,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        marker = new_marker()
        full = {**os.environ, **(env or {}), MARK: marker}
        try:
            return subprocess.run(
                [*INVOKE, *args],
                cwd=self.root,
                env=full,
                capture_output=True,
                text=True,
                timeout=guard,
                input=stdin if stdin is not None else "",
            )
        finally:
            left = wait_gone(marker, timeout=10)
            kill_all(marker)
            assert not left, f"processes left by `invoke {' '.join(args)}`: {left}"


@dataclass
class Started:
    """A task running in its own session (process group), to be signalled as a terminal would."""

    proc: subprocess.Popen[str]
    marker: str

    def signal_group(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def finish(self, guard: float = 60) -> subprocess.CompletedProcess[str]:
        try:
            out, err = self.proc.communicate(timeout=guard)
        finally:
            left = wait_gone(self.marker, timeout=10)
            kill_all(self.marker)
            if self.proc.poll() is None:
                self.proc.kill()
        assert not left, f"processes left after the run: {left}"
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)

    def processes(self) -> list[int]:
        return pids_with(self.marker)

    def forks(self) -> list[int]:
        """Its forked children (worker processes): the same command line, another pid."""
        own = _cmdline(self.proc.pid)
        return [p for p in pids_with(self.marker) if p != self.proc.pid and _cmdline(p) == own]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def start(root: Path, *args: str, env: dict[str, str] | None = None) -> Started:
    marker = new_marker()
    proc = subprocess.Popen(
        [*INVOKE, *args],
        cwd=root,
        env={**os.environ, **(env or {}), MARK: marker},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return Started(proc, marker)


def wait_until(condition: object, what: str, guard: float = 60) -> None:
    """Poll ``condition()`` until true; a guard (not an assertion on time) against hangs."""
    deadline = time.monotonic() + guard
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened within the {guard:g}s guard: {what}")


SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
