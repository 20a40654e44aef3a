"""The index: every task module is registered once, and the index stays an index."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import akops.tasks
from akops.layout import Layout
from akops.tasks.common import index

ROOT = Path(__file__).resolve().parents[3]
HELPERS = {"common"}


def registered() -> list[str]:
    text = (ROOT / "tasks.py").read_text(encoding="utf-8")
    return re.findall(r'^\s+"([a-z_]+)",', text, re.M)


def test_every_task_module_is_registered_once() -> None:
    modules = {m.name for m in pkgutil.iter_modules(akops.tasks.__path__)} - HELPERS
    parts = registered()
    assert sorted(parts) == sorted(modules)
    assert len(parts) == len(set(parts))


def test_the_index_is_short() -> None:
    assert len((ROOT / "tasks.py").read_text(encoding="utf-8").splitlines()) < 150


def test_the_index_binds_its_own_repository() -> None:
    ns = index(Layout(ROOT))
    assert ns.configuration()["akops"]["root"] == str(ROOT)
    assert {"deploy", "verify", "runbook.run", "images.pin", "chart.pull"} <= set(ns.task_names)
