"""``promtool check rules`` on rendered rule files.

Rule: I/O (a temp file and a child process, through ``akops.process`` with a timeout).
Returns the problems promtool reports, each pointing at the rendered manifest's line when
promtool names one; an absent promtool is the caller's decision (``invoke lint`` skips the
check and says so, ``nox -s lint`` installs it).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from akops import process
from akops.alerts.rules import RuleFile

PROMTOOL = "promtool"
TIMEOUT = 60.0
_AT = re.compile(r"^([0-9]+):([0-9]+): (.*)$")


@dataclass(frozen=True)
class Problem:
    """One thing promtool refused in a rule file."""

    file: RuleFile
    line: int | None  # in the rendered manifest (None: promtool named no line)
    message: str


def available() -> bool:
    return shutil.which(PROMTOOL) is not None


def check_rules(files: Sequence[RuleFile], *, timeout: float = TIMEOUT) -> list[Problem]:
    """What promtool refuses in ``files`` (empty when it accepts them all)."""
    if not files:
        return []
    problems: list[Problem] = []
    with tempfile.TemporaryDirectory(prefix="akops-rules-") as tmp:
        paths = [Path(tmp) / f"{i}.rules.yml" for i in range(len(files))]
        for rf, path in zip(files, paths, strict=True):
            path.write_text(rf.text, encoding="utf-8")
        done = process.run([PROMTOOL, "check", "rules", *map(str, paths)], timeout=timeout)
        if done.ok:
            return []
        lines = [ln.strip() for ln in (done.stdout + "\n" + done.stderr).splitlines()]
        for rf, path in zip(files, paths, strict=True):
            prefix = f"{path}:"
            for ln in lines:
                if not ln.startswith(prefix):
                    continue
                message = ln.removeprefix(prefix).strip()
                m = _AT.match(message)
                line = None
                if m:
                    at, message = int(m.group(1)), m.group(3)
                    line = rf.first_line + at - 1 if rf.first_line else None
                problems.append(Problem(rf, line, message.replace(str(path), rf.path)))
        if not problems:
            # promtool failed without naming a file (a crash, a usage error): say what it said.
            first = next((ln for ln in lines if ln), "no output")
            problems.append(
                Problem(files[0], None, f"promtool check rules failed ({done.returncode}): {first}")
            )
    return problems
