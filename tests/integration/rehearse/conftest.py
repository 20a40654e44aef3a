"""Fixtures of the rehearsal tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temp dir the rehearsal's services (run as ``nobody``) can enter, where its scratch
    directories go (``tmp_path`` first, so pytest's own temp tree is settled before)."""
    root = Path(tempfile.mkdtemp(prefix="akops-rehearse-test-"))
    root.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    yield root
    shutil.rmtree(root, ignore_errors=True)
