"""A module whose docstring says it is pure is held to it by import-linter's no-I/O contract.

Before, 30 modules said "pure" and were outside the contract (8 of them reached psycopg,
sockets or the Kubernetes client through the verify registry's check families). Now a
check family declares its observation and judges it; ``akops.verify.observe`` reads.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def says_pure(path: Path) -> bool:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    rule = re.search(r"^Rule: *(.*)", doc, re.M)
    return rule is not None and re.match(r"pure\b", rule.group(1)) is not None


def module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def contract() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        contracts = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    [pure] = [c for c in contracts if c["type"] == "forbidden"]
    return list(pure["source_modules"])


def test_every_module_that_says_pure_is_in_the_no_io_contract() -> None:
    held = contract()
    claimed = {module(p) for p in (ROOT / "akops").rglob("*.py") if says_pure(p)}
    outside = {m for m in claimed if not any(m == s or m.startswith(s + ".") for s in held)}
    assert outside == set()
