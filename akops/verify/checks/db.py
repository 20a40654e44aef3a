"""``db.*``: through PgBouncer, ghost transactions holding locks and clients waiting in pools.

Rule: probes and verdicts pure; observation queries through PgBouncer (``verify.query``,
bounded by the check timeout). The cluster target has no route to PgBouncer: these
checks need ``--pgbouncer`` (e.g. after ``kubectl port-forward``) and the database
password from the environment's secrets, and are skipped, saying why, without them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from akops.errors import CallTimeout, QueryError
from akops.verify.check import Check, Probe, Sources, Subject, skip
from akops.verify.results import Outcome, errored, failed, passed

if TYPE_CHECKING:
    from akops.verify.query import IdleTransaction

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


# I/O (the integration tests prove it), not mutated: no unit test can reach it.
def _observe_idle(probe: Probe, src: Sources) -> Outcome:  # pragma: no mutate block
    from akops.verify import query

    assert src.credentials is not None
    max_seconds = probe.args["max_seconds"]
    try:
        rows = query.idle_transactions(
            probe.args["address"], src.credentials, max_seconds, src.timeout
        )
    except QueryError as e:
        return failed(f"query through PgBouncer failed: {e}")
    return idle_in_transaction(rows, max_seconds)


# I/O (the integration tests prove it), not mutated: no unit test can reach it.
def _observe_pools(probe: Probe, src: Sources) -> Outcome:  # pragma: no mutate block
    """``cl_waiting`` summed over the pools, sampled again while it is not 0: a client is
    briefly counted as waiting while PgBouncer logs in to the server for it (this check's
    own neighbours included); only waiting that persists for ``SETTLE`` seconds fails."""
    from akops.verify import query

    creds = src.credentials
    assert creds is not None
    timeout = src.timeout
    start = time.monotonic()
    while True:
        try:
            left = max(0.5, timeout - (time.monotonic() - start))
            pools = query.pools(probe.args["address"], creds, left)
        except CallTimeout:
            return failed(f"no answer within {timeout:g}s (PgBouncer console)")
        except QueryError as e:
            if "not allowed" in str(e):
                return errored(
                    f"PgBouncer refused SHOW POOLS to {creds.user}: "
                    "add it to stats_users in pgbouncer.ini"
                )
            return failed(f"PgBouncer console failed: {e}")
        outcome = pool_waiting(pools)
        waited = time.monotonic() - start
        if outcome.ok or waited + SETTLE / 4 > min(SETTLE, timeout / 2):
            return outcome
        time.sleep(SETTLE / 4)


CHECKS = (
    Check(
        "db.idle-in-transaction",
        "through PgBouncer: no idle-in-transaction backend older than the threshold holds locks",
        "any",
        probes=_probes,
        observe=_observe_idle,
        needs=("--pgbouncer",),
    ),
    Check(
        "db.pool-waiting",
        "no client connection waits in PgBouncer's pools",
        "any",
        probes=_probes,
        observe=_observe_pools,
        needs=("--pgbouncer",),
    ),
)
