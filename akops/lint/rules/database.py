"""Database connections across Authentik, PgBouncer and PostgreSQL.

Rule: pure. Stack rules: the values, the pgbouncer.ini and the PgBouncer Deployment
usually sit in different files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from akops.lint.findings import INCIDENT_BOOT, Finding
from akops.lint.index import Index, located
from akops.lint.registry import finding, rule
from akops.lint.rules.authentik import settings_of
from akops.lint.settings import AuthentikSettings
from akops.lint.workloads import SERVER, WORKER, Workload
from akops.quantities import scaled

SUPERUSER_RESERVED = 3  # PostgreSQL's superuser_reserved_connections default


@rule(
    "db.persistent-connections",
    "error",
    "persistent connections without session pooling",
    hint="with conn_max_age > 0 use pool_mode=session (or set conn_max_age 0)",
    why=INCIDENT_BOOT + ": persistent connections saturated the pool",
    scope="stack",
)
def db_persistent_connections(ix: Index) -> Iterator[Finding]:
    """Only the pool mode. No PgBouncer timeout bounds a persistent connection in session mode:
    ``server_idle_timeout``, ``server_lifetime`` and ``client_idle_timeout`` all skip a client
    linked to a server, and a session-mode client is linked from its first query on
    (tests/integration/verify/test_session_mode_idle_clients.py, PgBouncer 1.24.1). So this rule
    no longer compares conn_max_age with server_idle_timeout: every thread holds a server
    connection while it lives, which ``db.capacity`` counts."""
    ini = ix.ini()
    if ini is None:
        return
    mode = ini.get("pool_mode")
    if mode == "session":
        return
    for s in settings_of(ix):
        age = s.conn_max_age
        if age.value == 0:
            continue
        age_text = "unlimited (null)" if age.value is None else f"{age.value} s"
        yield located(
            s.values,
            "db.persistent-connections",
            age.path,
            f"conn_max_age {age_text} (from {age.source}): PgBouncer pool_mode is {mode}, "
            "persistent connections need session",
        )


def _surge(w: Workload | None) -> int:
    if w is None or w.replicas is None or not w.strategy or w.strategy.get("type") == "Recreate":
        return 0
    rolling = w.strategy.get("rollingUpdate")
    raw = rolling.get("maxSurge", "25%") if isinstance(rolling, dict) else "25%"
    return scaled(raw, w.replicas, round_up=True) or 0


@dataclass(frozen=True)
class Demand:
    """Database connections the Authentik pods of one values file can hold at once."""

    steady: int
    peak: int  # during a rollout, surge pods included
    calc: str  # the arithmetic, for messages


def authentik_demand(s: AuthentikSettings, workloads: tuple[Workload, ...]) -> Demand:
    """``workloads``: the Deployments the chart renders from ``s.values``."""
    mine = {w.role: w for w in workloads}
    server, worker = mine.get(SERVER), mine.get(WORKER)
    workers, threads = s.web_workers.value or 0, s.web_threads.value or 0
    worker_threads = s.worker_threads.value or 0
    sr = (server.replicas or 0) if server else 0
    wr = (worker.replicas or 0) if worker else 0
    steady = sr * workers * threads + wr * worker_threads
    ss, ws = _surge(server), _surge(worker)
    peak = steady + ss * workers * threads + ws * worker_threads
    calc = (
        f"{sr} server x {workers} web workers x {threads} threads + "
        f"{wr} worker x {worker_threads} threads = {steady}"
    )
    if peak != steady:
        calc += f", {peak} during a rollout (+{ss} server, +{ws} worker surge pods)"
    return Demand(steady, peak, calc)


@rule(
    "db.capacity",
    "error",
    "Authentik can hold more connections than PgBouncer or PostgreSQL accept",
    hint="move the side the message names: it says whether the pool may grow (PostgreSQL "
    "has room) or the demand must shrink",
    why=INCIDENT_BOOT + ": Authentik held 75 of 108 connections and the primary failed over",
    scope="stack",
)
def db_capacity(ix: Index) -> Iterator[Finding]:
    ini, pgb = ix.ini(), ix.pgbouncer()
    max_connections = ix.settings.max_connections
    limit = None if max_connections is None else max_connections - SUPERUSER_RESERVED
    for s in settings_of(ix):
        need = authentik_demand(s, ix.workloads_of(s.values))
        if ini is None or pgb is None or not pgb.replicas:
            if limit is not None and need.peak > limit:
                yield located(
                    s.values,
                    "db.capacity",
                    ("server", "replicas"),
                    f"Authentik can hold {need.peak} database connections ({need.calc}) but "
                    f"PostgreSQL max_connections is {max_connections}: lower web workers, "
                    "threads or replicas, or raise max_connections",
                )
            continue
        default, reserve = ini.integer("default_pool_size"), ini.integer("reserve_pool_size")
        max_clients = ini.integer("max_client_conn")
        if default is None or reserve is None or max_clients is None:
            continue  # pgbouncer.invalid reports it
        pool = pgb.replicas * (default + reserve)
        pool_calc = f"{pgb.replicas} x ({default} + {reserve}) = {pool}"
        problems = []
        over_postgres = limit is not None and pool > limit
        if need.peak > pool:
            # Raising the pool is only a fix while PostgreSQL has room for it.
            room = None if limit is None else limit // pgb.replicas - reserve
            if over_postgres or (room is not None and room <= default):
                fix = "lower web workers, threads or Authentik replicas (PostgreSQL has no room for a bigger pool)"
            elif room is not None:
                fix = (
                    "lower web workers, threads or replicas, or raise default_pool_size "
                    f"(PostgreSQL has room for up to {room} a PgBouncer replica)"
                )
            else:
                fix = "lower web workers, threads or replicas, or raise default_pool_size"
            problems.append(
                f"Authentik can hold {need.peak} database connections ({need.calc}) "
                f"but PgBouncer's pool is {pool_calc}: {fix}"
            )
        if need.peak > pgb.replicas * max_clients:
            problems.append(
                f"Authentik can open {need.peak} client connections ({need.calc}) but PgBouncer "
                f"accepts {pgb.replicas} x max_client_conn {max_clients} = "
                f"{pgb.replicas * max_clients}: raise max_client_conn"
            )
        if over_postgres:
            problems.append(
                f"PgBouncer can open {pool_calc} server connections but PostgreSQL "
                f"max_connections is {max_connections} ({SUPERUSER_RESERVED} reserved for "
                "superusers): lower default_pool_size, reserve_pool_size or PgBouncer replicas, "
                "or raise max_connections"
            )
        file, line = ini.where("pgbouncer", "default_pool_size")
        for message in problems:
            yield finding(
                "db.capacity", message, file=file, line=line, object=ini.object, path=ini.path
            )
