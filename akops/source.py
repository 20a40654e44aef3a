"""Where the running stack definition came from: the git commit of the repository, and
whether its tracked files have uncommitted changes.

Rule: I/O edge (git through ``akops.process``, bounded). Operators see it in the banner
before every change, transcripts and the deploy lock record it, so that "what was deployed"
can always be answered with a commit, and a dirty tree is said out loud.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from akops import process
from akops.errors import AkopsError

GIT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Revision:
    """The repository's commit (None outside a git checkout) and its dirty state."""

    commit: str | None
    dirty: bool = False
    why: str = ""  # why there is no commit

    @property
    def short(self) -> str:
        if self.commit is None:
            return f"unknown ({self.why})"
        return self.commit[:12] + (" (dirty)" if self.dirty else "")

    def describe(self) -> str:
        """``git describe``-like: the full commit, ``-dirty`` when the tree has changes."""
        if self.commit is None:
            return f"unknown ({self.why})"
        return self.commit + ("-dirty" if self.dirty else "")


def revision(root: Path) -> Revision:
    """The commit at ``root`` and whether tracked files differ from it (untracked ignored)."""
    try:
        head = process.run(["git", "-C", str(root), "rev-parse", "HEAD"], timeout=GIT_TIMEOUT)
        status = process.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            timeout=GIT_TIMEOUT,
        )
    except AkopsError:
        return Revision(None, why="git did not answer")
    if not head.ok or not status.ok:
        return Revision(None, why="not a git checkout")
    return Revision(head.stdout.strip(), bool(status.stdout.strip()))
