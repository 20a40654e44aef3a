"""Fixtures shared by every test: the repository, and a scratch copy of it for CLI runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from akops.layout import Layout

ROOT = Path(__file__).resolve().parent.parent
REPO_PARTS = (
    ".yamllint.yaml",
    "tasks.py",
    "templates",
    "environments",
    "manifests",
    "runbooks",
    "rehearsals",
    "checks",
)


@dataclass(frozen=True)
class Cli:
    """Runs `invoke` as a real subprocess in a repository copy."""

    root: Path

    def __call__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=self.root,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
        )


@pytest.fixture(scope="session")
def layout() -> Layout:
    """The repository itself (read-only use)."""
    return Layout(ROOT)


@pytest.fixture
def repo(tmp_path: Path) -> Layout:
    """A scratch copy of the repository's inputs and outputs, safe to edit."""
    root = tmp_path / "repo"
    root.mkdir()
    for part in REPO_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, root / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, root / part)
    return Layout(root)


@pytest.fixture
def cli(repo: Layout) -> Cli:
    """`invoke` in the scratch copy."""
    return Cli(repo.root)


def _one_line_error(
    result: subprocess.CompletedProcess[str], contains: Sequence[str], code: int = 2
) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for part in contains:
        assert part in lines[0], (part, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def one_line_error() -> Callable[..., str]:
    """Asserts a CLI run failed with exit 2 (or ``code``), no traceback, one stderr line with every part."""
    return _one_line_error
