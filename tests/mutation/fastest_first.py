"""A pytest plugin for mutation runs only (``[tool.mutmut]`` loads it): fastest tests first.

mutmut stops a mutant's run at the first failing test; it records each test's duration
in ``mutmut-stats.json`` (in the working directory of its runs, ``mutants/``). Running the
quickest tests first finds that failure sooner; a survivor still runs them all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

STATS = Path("mutmut-stats.json")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    try:
        durations = json.loads(STATS.read_text(encoding="utf-8"))["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
