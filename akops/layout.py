"""Where things live in the repository.

Rule: a value object of paths, built from the repository root, and the user's cache
directory; nothing else (no I/O).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def templates(self) -> Path:
        return self.root / "templates"

    @property
    def environments(self) -> Path:
        return self.root / "environments"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def runbooks(self) -> Path:
        return self.root / "runbooks"

    @property
    def rehearsals(self) -> Path:
        return self.root / "rehearsals"

    @property
    def checks(self) -> Path:
        return self.root / "checks"

    def manifests_for(self, env: str) -> Path:
        return self.manifests / env

    def rel(self, path: Path) -> str:
        """``path`` relative to the root when inside it (for stable messages and headers)."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
            return str(path)


def user_cache(*parts: str) -> Path:
    """The user's cache directory for akops (``$XDG_CACHE_HOME/akops``, else ``~/.cache/akops``).

    ``$AKOPS_CACHE_DIR`` overrides it (CI and tests point it at a directory of their own).
    """
    base = os.environ.get("AKOPS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "akops",
    )
    return Path(base).joinpath(*parts)


#: The setting that names the folder of third-party test inputs.
TEST_DATA_VAR = "AKOPS_TEST_DATA"


def third_party_data(*parts: str) -> Path:
    """Third-party inputs the tests and tool builds read: ``$AKOPS_TEST_DATA``, else ``../shared``.

    That folder holds what this project must not copy: the real Authentik chart
    (``charts/``), the source of prod's PgBouncer (``pgbouncer/``) and the seed's original
    files (``seed/reference/``). Whether a path exists is the caller's question.
    """
    base = os.environ.get(TEST_DATA_VAR) or str(
        Path(__file__).resolve().parents[1].parent / "shared"
    )
    return Path(base).joinpath(*parts)


def missing_test_data(path: Path, holds: str) -> str:
    """The one line for a third-party test input that is not there: the setting, and what it holds."""
    return (
        f"{path} not found: set {TEST_DATA_VAR} (default ../shared) to the folder of "
        f"third-party test inputs, which holds {holds}"
    )
