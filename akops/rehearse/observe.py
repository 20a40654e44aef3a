"""Watching a rehearsal: sampled series and the verify checks, on the rehearsal's clock.

Rule: I/O (psycopg, statvfs, ``df`` through the process helper). A sampler thread reads
PgBouncer's ``SHOW POOLS`` on each instance, PostgreSQL's own views (as the superuser, over
the Unix socket) and the tmpfs; one thread per check runs the same verdicts ``invoke verify``
uses. ``db.idle-in-transaction`` asks PostgreSQL directly, as the runbook's psql steps do, so
a saturated pool cannot hide the ghost behind a timeout; ``db.pool-waiting`` asks every
PgBouncer's console, since a Service spreads the clients over all of them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from akops import process
from akops.environment import Environment
from akops.rehearse.drive import Credentials, Endpoints, Stats, percentile
from akops.rehearse.start import Postgres
from akops.rehearse.timeline import CheckSample, Sample, Timeline
from akops.verify import observe, probes, registry
from akops.verify.check import Options, Sources
from akops.verify.commands import ExecResult
from akops.verify.query import Credentials as QueryCredentials
from akops.verify.results import Outcome, failed

PG_SQL = """
SELECT
  count(*) FILTER (WHERE a.usename = %(user)s AND a.backend_type = 'client backend'),
  (SELECT count(*) FROM pg_locks l WHERE NOT l.granted AND l.locktype = 'advisory'),
  (SELECT count(DISTINCT a2.pid) FROM pg_stat_activity a2 JOIN pg_locks l2 ON l2.pid = a2.pid
     WHERE a2.state IN ('idle in transaction', 'idle in transaction (aborted)')
       AND l2.granted AND l2.locktype = 'advisory'),
  current_setting('max_connections')::int
    - current_setting('superuser_reserved_connections')::int
    - count(*) FILTER (WHERE a.backend_type = 'client backend')
FROM pg_stat_activity a
"""


@dataclass(frozen=True)
class Targets:
    """What the observer looks at."""

    #: the environment the checks read their settings from (thresholds already scaled)
    env: Environment
    postgres: Postgres | None
    bouncers: Sequence[str]  # addresses, in replica order
    creds: Credentials | None
    stats: Stats | None
    #: clients of the load still connected to a PgBouncer that is gone (set by a fault)
    lost: Callable[[], int] | None
    shm: Path | None
    checks: Sequence[str]


class Observer:
    """Samples and checks until stopped; everything lands in ``timeline``."""

    def __init__(
        self,
        targets: Targets,
        timeline: Timeline,
        clock: Callable[[], float],
        *,
        interval: float = 0.25,
        check_interval: float = 0.5,
        endpoints: Endpoints | None = None,
    ) -> None:
        self.t = targets
        self.env = targets.env
        self.timeline = timeline
        self.clock = clock
        self.interval = interval
        self.check_interval = check_interval
        self.endpoints = endpoints
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        self._admin: dict[str, Any] = {}
        self._pg: Any = None

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> Observer:
        self.threads.append(threading.Thread(target=self._sample_loop, name="sampler", daemon=True))
        for check in self.t.checks:
            self.threads.append(
                threading.Thread(target=self._check_loop, args=(check,), name=check, daemon=True)
            )
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        for th in self.threads:
            th.join(10)
        for conn in [*self._admin.values(), self._pg]:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    # -- samples ------------------------------------------------------------------------

    def _sample_loop(self) -> None:
        while not self.stop_event.is_set():
            values: dict[str, float] = {}
            with contextlib.suppress(Exception):
                values.update(self._pools())
            with contextlib.suppress(Exception):
                values.update(self._postgres())
            if self.t.shm is not None and os.path.ismount(self.t.shm):
                with contextlib.suppress(OSError):
                    st = os.statvfs(self.t.shm)
                    total = st.f_blocks * st.f_frsize
                    used = (st.f_blocks - st.f_bfree) * st.f_frsize
                    values["shm_used_pct"] = round(100 * used / total, 2) if total else 0.0
            if self.t.stats is not None:
                acquired, errors = self.t.stats.drain()
                values["errors"] = float(errors)
                values["requests"] = float(len(acquired))
                if acquired:
                    values["acquire_p50_ms"] = round(percentile(acquired, 50), 2)
                    values["acquire_p99_ms"] = round(percentile(acquired, 99), 2)
                    values["acquire_max_ms"] = round(max(acquired), 2)
            if self.t.lost is not None:
                values["lost_clients"] = float(self.t.lost())
            with self.lock:
                self.timeline.samples.append(Sample(self.clock(), values))
            self.stop_event.wait(self.interval)

    def _admin_conn(self, address: str) -> Any:
        import psycopg

        conn = self._admin.get(address)
        if conn is None or conn.closed:
            assert self.t.creds is not None
            host, _, port = address.rpartition(":")
            conn = psycopg.connect(
                host=host,
                port=int(port),
                dbname="pgbouncer",
                user=self.t.creds.user,
                password=self.t.creds.password,
                connect_timeout=2,
                autocommit=True,
            )
            self._admin[address] = conn
        return conn

    def _pools(self) -> dict[str, float]:
        import psycopg

        if not self.t.bouncers or self.t.creds is None:
            return {}
        totals = {"cl_active": 0.0, "cl_waiting": 0.0, "server_connections": 0.0}
        for i, address in enumerate(self.t.bouncers):
            try:
                cur = psycopg.ClientCursor(self._admin_conn(address))
                cur.execute("SHOW POOLS")
                names = [c.name for c in cur.description or ()]
                rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            except Exception:
                old = self._admin.pop(address, None)
                if old is not None:
                    with contextlib.suppress(Exception):
                        old.close()
                continue
            servers = 0.0
            for r in rows:
                if r.get("database") == "pgbouncer":
                    continue
                totals["cl_active"] += float(r.get("cl_active") or 0)
                totals["cl_waiting"] += float(r.get("cl_waiting") or 0)
                servers += sum(
                    float(r.get(k) or 0)
                    for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login")
                )
            totals["server_connections"] += servers
            totals[f"server_connections_{i}"] = servers
        return totals

    def _postgres(self) -> dict[str, float]:
        if self.t.postgres is None:
            return {}
        if self._pg is None or self._pg.closed:
            self._pg = self.t.postgres.superuser(autocommit=True)
        row = self._pg.execute(PG_SQL, {"user": self.t.postgres.user}).fetchone()
        return {
            "pg_connections": float(row[0]),
            "lock_waiters": float(row[1]),
            "ghosts": float(row[2]),
            "pg_free": float(row[3]),
        }

    # -- checks -------------------------------------------------------------------------

    def _check_loop(self, check: str) -> None:
        while not self.stop_event.is_set():
            try:
                outcome = self.run_check(check)
            except Exception as e:  # a broken check must not end the rehearsal's watch
                outcome = failed(f"{type(e).__name__}: {' '.join(str(e).split())[:200]}")
            if outcome is None:
                self.stop_event.wait(self.check_interval / 5)
                continue
            with self.lock:
                self.timeline.checks.append(
                    CheckSample(self.clock(), check, outcome.ok, outcome.detail)
                )
            self.stop_event.wait(self.check_interval)

    def run_check(self, check: str, timeout: float = 3.0) -> Outcome | None:
        """One check against the rehearsal's services, through the verify registry: its probes
        for the local target, observed or run as ``invoke verify --target local`` would (None:
        there was nothing to measure, e.g. /dev/shm between two pods)."""
        t = self.t
        spec = registry.BY_ID[check]
        family = check.split(".", 1)[0]
        if family == "db":
            assert t.creds is not None
            if check.endswith("idle-in-transaction"):
                assert t.postgres is not None
                addresses = [f"{t.postgres.host}:{t.postgres.port}"]
            else:
                addresses = self.endpoints.ready if self.endpoints is not None else list(t.bouncers)
        elif family == "shm":
            if t.shm is None or not os.path.ismount(t.shm):
                return None
            addresses = [""]
        else:
            addresses = list(t.bouncers[:1]) if t.bouncers else [""]
        if not addresses:
            return failed("no PgBouncer is ready")
        creds = (
            QueryCredentials(t.creds.user, t.creds.database, t.creds.password) if t.creds else None
        )
        sources = Sources(timeout=timeout, credentials=creds)
        outcomes: list[tuple[str, Outcome]] = []
        for address in addresses:
            options = Options(pgbouncer=address or None, shm=str(t.shm) if t.shm else None)
            subject = probes.subject(self.env, "local", options)
            for probe in spec.plan(subject):
                if probe.kind == "skip":
                    continue
                if probe.kind == "exec":
                    assert spec.shell is not None
                    done = process.shell(
                        spec.shell.command(probe.args, timeout / 2), timeout=timeout
                    )
                    if family == "shm" and not os.path.ismount(str(t.shm)):
                        return None  # the pod's tmpfs went away under the command
                    result = ExecResult(done.returncode, done.stdout, done.stderr)
                    outcomes.append((probe.target, spec.shell.judge(result, probe.args)))
                else:
                    assert spec.observe is not None
                    seen = observe.outcome(spec.observe, probe, sources)
                    outcomes.append((probe.target, seen))
        if not outcomes:
            return None
        bad = [(target, o) for target, o in outcomes if not o.ok]
        if len(outcomes) == 1 or not bad:
            return bad[0][1] if bad else outcomes[0][1]
        return failed("; ".join(f"{target}: {o.detail}" for target, o in bad))
