"""Fixtures for the runbook tests: the drill runbook in a scratch directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from akops.environment import load_environment
from akops.layout import Layout

from .drill import Drill, drill_env, drill_yaml


@pytest.fixture
def drill(tmp_path: Path, layout: Layout) -> Drill:
    d = Drill(tmp_path, drill_env(load_environment("lab", layout.environments)))
    d.write("drill", drill_yaml())
    return d


@pytest.fixture
def runs_text() -> Callable[[Path], str]:
    """Every byte under a runs directory, as text (to look for leaks)."""

    def read(runs: Path) -> str:
        return "".join(p.read_text() for p in sorted(runs.rglob("*")) if p.is_file())

    return read
