"""The check catalogue: every check's stable ID, what it asserts, where it runs, its timing.

Rule: pure data. IDs are a contract shared with the runbooks, the JSON/JUnit outputs and
``--only``/``--skip``; never rename one. Selection by ID (with ``*`` globs) lives here too.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from akops.errors import InputError

Scope = Literal["cluster", "any"]


@dataclass(frozen=True)
class CheckSpec:
    """One check: ``scope`` "cluster" checks need the Kubernetes API and never run locally."""

    id: str
    description: str
    scope: Scope
    #: Convergence checks are retried until the environment's deadline while they fail:
    #: right after a deploy the cluster is still moving.
    converges: bool = False
    #: ``invoke verify`` flags without which the cluster target skips this check (it cannot
    #: reach the service from here); a runbook step of this check must pass them.
    needs: tuple[str, ...] = ()


CATALOGUE: tuple[CheckSpec, ...] = (
    CheckSpec(
        "rollout.converged",
        "each Deployment of the stack converged (generation observed; updated = ready = available)",
        "cluster",
        converges=True,
    ),
    CheckSpec(
        "rollout.pods",
        "no pod of the stack in CrashLoopBackOff, ImagePullBackOff or CreateContainerConfigError",
        "cluster",
        converges=True,
    ),
    CheckSpec(
        "spread.replicas",
        "server, worker and PgBouncer: expected ready replicas on >= min(replicas, 3) nodes",
        "cluster",
        converges=True,
    ),
    CheckSpec(
        "pdb.budget",
        "PDBs exist with the expected budget and allow at least one disruption",
        "cluster",
        converges=True,
    ),
    CheckSpec("http.ready", "/-/health/ready/ answers 2xx (Authentik reaches its database)", "any"),
    CheckSpec("http.live", "/-/health/live/ answers 2xx", "any"),
    CheckSpec("http.config", '/api/v3/root/config/ answers JSON with "capabilities"', "any"),
    CheckSpec("http.flow", "the default authentication flow answers 200 or 302", "any"),
    CheckSpec("http.outpost-ping", "the outpost ping answers 204", "any"),
    CheckSpec(
        "http.forward-auth",
        "each protected service redirects an anonymous request to the Authentik host",
        "any",
    ),
    CheckSpec(
        "pgbouncer.reachable",
        "TCP connect to PgBouncer succeeds from each Authentik server pod",
        "any",
    ),
    CheckSpec(
        "pgbouncer.listening", "PgBouncer listens on its port inside each PgBouncer pod", "any"
    ),
    CheckSpec(
        "shm.usage", "/dev/shm used % is under the threshold in outpost and server pods", "any"
    ),
    CheckSpec(
        "db.idle-in-transaction",
        "through PgBouncer: no idle-in-transaction backend older than the threshold holds locks",
        "any",
        needs=("--pgbouncer",),
    ),
    CheckSpec(
        "db.pool-waiting",
        "no client connection waits in PgBouncer's pools",
        "any",
        needs=("--pgbouncer",),
    ),
)

BY_ID: dict[str, CheckSpec] = {c.id: c for c in CATALOGUE}
IDS: tuple[str, ...] = tuple(BY_ID)


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


def select(only: Iterable[str] = (), skip: Iterable[str] = ()) -> tuple[CheckSpec, ...]:
    """The checks to run, in catalogue order. Unknown IDs are an input error (exit 2)."""
    only_ids = _expand(only, "--only")
    skip_ids = _expand(skip, "--skip")
    return tuple(
        c for c in CATALOGUE if (not only_ids or c.id in only_ids) and c.id not in skip_ids
    )
