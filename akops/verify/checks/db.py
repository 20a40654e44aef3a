"""``db.*``: through PgBouncer, ghost transactions holding locks and clients waiting in pools.

Rule: pure (probes and verdicts); the observation is declared: a query through PgBouncer,
run by ``akops.verify.observe`` (``verify.query``, bounded by the check timeout). The
cluster target has no route to PgBouncer: these checks need ``--pgbouncer`` (e.g. after
``kubectl port-forward``) and the database password from the environment's secrets, and
are skipped, saying why, without them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from akops.verify.check import Check, Observation, Probe, Subject, skip
from akops.verify.results import Outcome, failed, passed

if TYPE_CHECKING:
    from akops.verify.query import IdleTransaction

#: PgBouncer's admin console: the database SHOW POOLS is asked of (and left out of the verdict)
ADMIN_DB = "pgbouncer"
#: seconds a client may be counted waiting before ``db.pool-waiting`` fails
SETTLE = 1.0


def idle_in_transaction(rows: Sequence[IdleTransaction], max_seconds: int) -> Outcome:
    """Idle-in-transaction backends past ``max_seconds`` holding locks (the 2026-06-10 storm)."""
    if not rows:
        return passed(f"no idle-in-transaction backend older than {max_seconds}s holds locks")
    shown = "; ".join(
        f"pid {r.pid} ({r.user}{'/' + r.application if r.application else ''}, "
        f"{r.age_seconds:.0f}s, {r.locks} locks)"
        for r in rows[:5]
    )
    return failed(
        f"{len(rows)} idle-in-transaction backend(s) older than {max_seconds}s hold locks: {shown}"
    )


def pool_waiting(pools: Sequence[Mapping[str, object]]) -> Outcome:
    """``SHOW POOLS`` rows: clients waiting for a server connection must be 0."""
    waiting = [
        (str(p.get("database")), str(p.get("user")), int(str(p.get("cl_waiting") or 0)))
        for p in pools
        if p.get("database") != ADMIN_DB
    ]
    total = sum(w for _, _, w in waiting)
    if total:
        shown = ", ".join(f"{db}/{user}: {w}" for db, user, w in waiting if w)
        return failed(f"{total} client(s) waiting for a server connection ({shown})")
    return passed(f"0 clients waiting in {len(waiting)} pool(s)")


def _probes(cid: str, s: Subject) -> list[Probe]:
    where = s.pgbouncer or "PgBouncer"
    if not s.pgbouncer:
        why = (
            "no PgBouncer address from this machine (--pgbouncer, e.g. after kubectl port-forward)"
        )
        return [skip(cid, where, why)]
    if s.no_credentials:
        return [skip(cid, where, s.no_credentials)]
    args: dict[str, object] = {"address": s.pgbouncer}
    if cid.endswith("idle-in-transaction"):
        args["max_seconds"] = s.env.verify.idle_in_transaction_max_seconds
    return [Probe(cid, where, "db", args=args)]


def _judge_idle(rows: Sequence[IdleTransaction], probe: Probe) -> Outcome:
    return idle_in_transaction(rows, probe.args["max_seconds"])


def _judge_pools(pools: Sequence[Mapping[str, object]], probe: Probe) -> Outcome:
    return pool_waiting(pools)


CHECKS = (
    Check(
        "db.idle-in-transaction",
        "through PgBouncer: no idle-in-transaction backend older than the threshold holds locks",
        "any",
        probes=_probes,
        observe=Observation("idle-transactions", _judge_idle),
        needs=("--pgbouncer",),
    ),
    Check(
        "db.pool-waiting",
        "no client connection waits in PgBouncer's pools",
        "any",
        probes=_probes,
        # A client is briefly counted as waiting while PgBouncer logs in to the server for
        # it (this check's own neighbours included): only waiting that persists fails.
        observe=Observation("pools", _judge_pools, settle=SETTLE),
        needs=("--pgbouncer",),
    ),
)
