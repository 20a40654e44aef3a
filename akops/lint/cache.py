"""Lint's caches: yamllint results, and whole per-file results, by file content.

Rule: I/O (the file system). Lives under ``$AKOPS_CACHE_DIR``, else
``$XDG_CACHE_HOME/akops``, else ``~/.cache/akops``. An unchanged file costs a hash and
one small read on the next run. Entries are written atomically (temp file + rename),
so concurrent runs and worker processes never see half an entry; any error reading or
writing the cache is a miss, never a failure of the lint. Two layers: the yamllint
cache survives a change of akops' code (it depends only on yamllint, its config and
the text); the result cache does not (its key includes the code).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from akops.layout import user_cache
from akops.lint.style import Problem


def cache_root() -> Path:
    return user_cache()


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
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(problems, f)
            os.replace(tmp, path)
            tmp = None
        except OSError:
            self._writable = False  # a read-only or full cache: lint on without it
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def _code_fingerprint() -> str:
    """Hash of this package's code and data and of the libraries that decide results."""
    import akops

    h = hashlib.sha256()
    for name in ("yamllint", "jsonschema", "kubernetes_validate", "yaml", "referencing"):
        try:
            h.update(f"{name} {importlib.metadata.version(name)}\n".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{name} ?\n".encode())
    root = Path(akops.__file__).parent
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


class ResultCache:
    """Whole per-file lint results (findings and kept documents) by content, in ``root/results/``.

    The key covers the file's label and text, the run's settings, the yamllint config,
    and the code of akops and of the libraries whose results it reports, so any change
    to rules or versions misses. Entries are pickles written by this user into a
    directory only this user can read and write.
    """

    def __init__(self, fingerprint: str, root: Path | None = None) -> None:
        self.dir = (root or cache_root()) / "results"
        self.fingerprint = hashlib.sha256(
            f"{fingerprint}\n{_code_fingerprint()}".encode()
        ).hexdigest()
        self.hits = 0
        self.misses = 0
        self._writable = True

    def key(self, label: str, text: str) -> str:
        h = hashlib.sha256(self.fingerprint.encode())
        h.update(label.encode("utf-8", "surrogatepass") + b"\0")
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.pickle"

    def get(self, label: str, text: str) -> Any | None:
        try:
            with self._path(self.key(label, text)).open("rb") as f:
                found = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            self.misses += 1
            return None
        self.hits += 1
        return found

    def put(self, label: str, text: str, result: Any) -> None:
        if not self._writable:
            return
        path = self._path(self.key(label, text))
        tmp = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.parent.mkdir(exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
            tmp = None
        except OSError:
            self._writable = False
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
