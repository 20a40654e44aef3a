"""A real terminal for CLI tests: `invoke` on a pseudo-terminal that is its controlling terminal,
so prompts, typed lines and a hangup (closing the terminal) behave as for an operator."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def _controlling_terminal() -> None:
    # Runs in the child after setsid(): stdin (the pty) becomes its controlling terminal, so
    # closing the other end sends it SIGHUP, as an SSH drop does.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    def __init__(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**env, "TERM": "dumb"},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_controlling_terminal,
        )
        os.close(slave)
        self.seen = b""
        self.cursor = 0
        self.open = True

    @property
    def text(self) -> str:
        return self.seen.decode(errors="replace").replace("\r\n", "\n")

    def read_until(self, marker: str, timeout: float = 30) -> str:
        """Everything shown so far, once ``marker`` appeared past the previous marker found."""
        want = marker.encode()
        deadline = time.monotonic() + timeout
        while want not in self.seen[self.cursor :]:
            assert time.monotonic() < deadline, f"{marker!r} not shown:\n{self.text}"
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"the terminal closed before {marker!r}:\n{self.text}"
                self.seen += chunk
        self.cursor = self.seen.index(want, self.cursor) + len(want)
        return self.text

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def hangup(self) -> None:
        """Close the terminal: the session gets SIGHUP and its writes fail from now on."""
        if self.open:
            os.close(self.master)
            self.open = False

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"still running:\n{self.text}"
            if self.open:
                ready, _, _ = select.select([self.master], [], [], 0.2)
                if ready:
                    with contextlib.suppress(OSError):
                        self.seen += os.read(self.master, 4096)
            else:
                time.sleep(0.05)
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.hangup()
