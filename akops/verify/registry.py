"""The registry of checks: every check of ``invoke verify``, ``nox -s checks`` and runbooks.

Rule: pure data. The families (``akops.verify.checks.<family>``) define the checks; this
module gathers them in the order of the report and selects by ID. IDs are a contract
shared with the runbooks, the JSON/JUnit outputs and ``--only``/``--skip``: never rename
one. Adding a check: a ``Check`` in its family's ``CHECKS`` (a new family is one more
module, listed in ``FAMILIES``), and its tests.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from types import ModuleType

from akops.errors import InputError
from akops.verify.check import Check
from akops.verify.checks import alerts, db, http, images, pdb, pgbouncer, rollout, shm, spread

FAMILIES: tuple[ModuleType, ...] = (
    rollout,
    images,
    spread,
    pdb,
    http,
    pgbouncer,
    shm,
    db,
    alerts,
)

REGISTRY: tuple[Check, ...] = tuple(c for family in FAMILIES for c in family.CHECKS)
BY_ID: dict[str, Check] = {c.id: c for c in REGISTRY}
IDS: tuple[str, ...] = tuple(BY_ID)
ORDER: dict[str, int] = {cid: i for i, cid in enumerate(IDS)}


def _expand(patterns: Iterable[str], flag: str) -> set[str]:
    chosen: set[str] = set()
    for raw in patterns:
        for pattern in (p.strip() for p in raw.split(",")):
            if not pattern:
                continue
            hits = fnmatch.filter(IDS, pattern)
            if not hits:
                raise InputError(f"{flag} {pattern}: no such check (known: {', '.join(IDS)})")
            chosen.update(hits)
    return chosen


def select(only: Iterable[str] = (), skip: Iterable[str] = ()) -> tuple[Check, ...]:
    """The checks to run, in registry order. Unknown IDs are an input error (exit 2)."""
    only_ids = _expand(only, "--only")
    skip_ids = _expand(skip, "--skip")
    return tuple(c for c in REGISTRY if (not only_ids or c.id in only_ids) and c.id not in skip_ids)
