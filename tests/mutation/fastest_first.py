"""A pytest plugin for mutation runs only (``[tool.mutmut]`` loads it): each mutant runs
the tests that judge its module (``scripts/mutants.py``'s ``MODULES``), fastest first.

mutmut picks the tests that called the mutated function and stops at the first one that
fails. Of those, a mutant runs only the ones its module names as its judges (a lint rule
is called by every lint test, but judged by its own), and so does the clean run mutmut
makes first (every judge must pass unmutated), and the quickest go first, by the
durations mutmut recorded in ``mutmut-stats.json`` (in ``mutants/``, where it runs). The
traced run that maps tests to functions, and any run outside ``scripts/mutants.py``, are
left as they are.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

STATS = Path("mutmut-stats.json")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    judges = json.loads(os.environ.get("AKOPS_MUTANTS_TESTS") or "{}")
    if mutant:
        prefixes = tuple(judges.get(mutant.rpartition(".")[0], ()))
    else:  # the clean run before the mutants: the judges of the modules asked must pass
        asked = json.loads(os.environ.get("AKOPS_MUTANTS_ONLY") or "[]")
        modules = [f.removesuffix(".py").replace("/", ".") for f in asked]
        prefixes = tuple(p for m in modules for p in judges.get(m, ()))
    if prefixes:
        kept = [i for i in items if i.nodeid.startswith(prefixes)]
        dropped = [i for i in items if not i.nodeid.startswith(prefixes)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    try:
        durations = json.loads(STATS.read_text(encoding="utf-8"))["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
