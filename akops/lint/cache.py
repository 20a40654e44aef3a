"""The yamllint result cache: one small JSON file per (file content, yamllint config).

Rule: I/O (the file system). Lives under ``$AKOPS_CACHE_DIR``, else
``$XDG_CACHE_HOME/akops``, else ``~/.cache/akops``. An unchanged file costs a hash and
one small read on the next run. Entries are written atomically (temp file + rename),
so concurrent runs and worker processes never see half an entry; any error reading or
writing the cache is a miss, never a failure of the lint.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from akops.lint.style import Problem


def cache_root() -> Path:
    explicit = os.environ.get("AKOPS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "akops"


class StyleCache:
    """yamllint problems by content key, in ``root/yamllint/``."""

    def __init__(self, root: Path | None = None) -> None:
        self.dir = (root or cache_root()) / "yamllint"
        self.hits = 0
        self.misses = 0
        self._writable = True

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> list[Problem] | None:
        try:
            raw = json.loads(self._path(key).read_text(encoding="utf-8"))
            found = [(int(a), int(b), str(c), str(d)) for a, b, c, d in raw]
        except (OSError, ValueError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return found

    def put(self, key: str, problems: list[Problem]) -> None:
        if not self._writable:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(problems, f)
            os.replace(tmp, path)
        except OSError:
            self._writable = False  # a read-only or full cache: lint on without it
