"""Shell commands the checks run inside pods (or locally), and batching them into one exec.

Rule: pure. Commands are built from templates whose arguments are always quoted
(``sh("df -P %s", path)``, the same quoting as testinfra's ``host.run``). A batch joins
several commands into one script with markers, so a pod costs one ``kubectl exec``
however many checks look at it; ``split`` recovers each command's output and exit code.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

MARK = "@@akops"


@dataclass(frozen=True)
class ExecResult:
    """What a command left behind. In a batch, stderr is folded into stdout."""

    rc: int
    stdout: str
    stderr: str = ""

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" + self.stderr if self.stderr else "")).strip()


def sh(template: str, *args: object) -> str:
    """``template`` with each ``%s`` replaced by a shell-quoted argument."""
    return template % tuple(shlex.quote(str(a)) for a in args)


def batch(commands: Sequence[str]) -> str:
    """One script running every command in turn, each framed by markers with its exit code."""
    parts = []
    for i, command in enumerate(commands):
        begin = sh("printf '%%s\\n' %s", f"{MARK} {i} begin")
        end = sh("printf '\\n%%s %%s\\n' %s \"$?\"", f"{MARK} {i} rc")
        parts.append(f"{begin}; ({command}) 2>&1; {end}")
    return "\n".join(parts)


_FRAME = re.compile(
    rf"^{MARK} (?P<i>\d+) begin\n(?P<out>.*?)\n{MARK} (?P=i) rc (?P<rc>\d+)$", re.S | re.M
)


def split(output: str, count: int) -> list[ExecResult | None]:
    """Per-command results of a batch's output; ``None`` where a command left no frame."""
    found: list[ExecResult | None] = [None] * count
    for m in _FRAME.finditer(output):
        i = int(m.group("i"))
        if i < count:
            found[i] = ExecResult(int(m.group("rc")), m.group("out"))
    return found
